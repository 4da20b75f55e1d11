// The Ethernet/IPv4/UDP frames of the debug hypercalls. With
// HvCallPostDebugData and HvCallRetrieveDebugData the guest's debugger
// transport (KDNET) hands over whole frames ("raw" in QEMU's
// hw/hyperv/syndbg.c), while the socket to the debugger host carries only
// the UDP payload: a posted frame is unwrapped, a received datagram is
// wrapped. The MSR protocol moves payloads as they are.
//
// Plain code, no plugin ABI: every length comes from the guest, so each
// header is checked against what is really there before it is read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace enlight_syndbg {

// Ethernet (14) + IPv4 without options (20) + UDP (8): what wrapping adds.
inline constexpr uint32_t kFrameHeaders = 14 + 20 + 8;

struct UdpFrame {
  std::span<const uint8_t> payload;
  uint32_t source_ip;  // as on the wire (network byte order)
};

// The UDP payload of an Ethernet II / IPv4 / UDP frame, or nothing when
// `frame` is anything else or is cut short. QEMU's get_udb_pkt_data()
// checks the EtherType, the IP protocol and that the headers fit; here the
// IP version and header length and the UDP length are checked too, and
// the payload is the UDP length's, not the rest of the frame (which may
// hold Ethernet padding).
std::optional<UdpFrame> parse_udp_frame(std::span<const uint8_t> frame) noexcept;

// Writes the frame QEMU's create_udp_pkt() builds around `payload` into
// `out`: zero MACs, IPv4 (TTL 64, no options) from `source_ip` to
// `dest_ip`, UDP from `port` to `port` (both in network byte order), both
// checksums filled. Returns its length, or 0 when it does not fit.
size_t build_udp_frame(std::span<uint8_t> out, uint32_t source_ip, uint32_t dest_ip, uint16_t port,
                       std::span<const uint8_t> payload) noexcept;

}  // namespace enlight_syndbg
