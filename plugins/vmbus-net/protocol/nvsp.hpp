// NVSP, the synthetic NIC's control protocol on its VMBus channel (numbers
// in enlight/tlfs.h, "VMBus synthetic NIC"): the guest's messages parsed and
// checked, the host's encoded at the size Linux copies (NVSP_MESSAGE_SIZE).
// Plain code: no plugin ABI, no allocation.
#pragma once

#include <enlight/tlfs.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <variant>

namespace enlight::vmbus_net {

struct NvspInit {
  uint32_t min_version = 0, max_version = 0;
};
struct NvspNdisConfig {
  uint32_t mtu = 0;
  uint64_t capabilities = 0;
};
struct NvspNdisVersion {
  uint32_t major = 0, minor = 0;
};
// SEND_RECV_BUF and SEND_SEND_BUF.
struct NvspBuffer {
  bool receive = false;  // SEND_RECV_BUF, else SEND_SEND_BUF
  uint32_t gpadl = 0;
  uint16_t id = 0;
};
// REVOKE_RECV_BUF and REVOKE_SEND_BUF.
struct NvspRevoke {
  bool receive = false;
  uint16_t id = 0;
};
struct NvspRndisPacket {
  uint32_t channel_type = 0, section_index = 0, section_size = 0;
};
// RNDIS_PKT_COMPLETE: the guest returning receive sections.
struct NvspRndisPacketComplete {
  uint32_t status = 0;
};
// Types a host may ignore without an answer (VF association, data path
// switch, subchannel requests without RSS, OID_QUERY_EX): Linux waits for
// none of them unless the host offered the feature.
struct NvspIgnored {
  uint32_t type = 0;
};

using NvspMessage = std::variant<NvspInit, NvspNdisConfig, NvspNdisVersion, NvspBuffer, NvspRevoke, NvspRndisPacket,
                                 NvspRndisPacketComplete, NvspIgnored>;

enum class NvspError { TooShort, UnknownType };

// A guest message from the data of an INBAND or GPA_DIRECT packet (or a
// COMP the guest sent): the type and, for each type, its body must be there.
struct NvspParse {
  std::optional<NvspMessage> message;
  NvspError error = NvspError::TooShort;
};
NvspParse parse_nvsp(std::span<const uint8_t> data) noexcept;

// The version to answer INIT with: max_version when this host knows it
// and min <= max; none otherwise, and the guest gets FAIL. Linux asks with
// min == max, one version at a time from the newest, so it finds the
// newest common one itself (netvsc.c negotiate_nvsp_ver); OpenVMM answers
// the same way.
std::optional<uint32_t> negotiate_nvsp(uint32_t min_version, uint32_t max_version) noexcept;

using NvspBytes = std::array<uint8_t, NVSP_MESSAGE_SIZE>;
NvspBytes nvsp_init_complete(uint32_t version, uint32_t status) noexcept;
// One section at offset 0 of `count` sub-allocations of `size` bytes
// (Linux 6.1 netvsc_init_buf refuses anything else).
NvspBytes nvsp_recv_buf_complete(uint32_t status, uint32_t size, uint32_t count) noexcept;
NvspBytes nvsp_send_buf_complete(uint32_t status, uint32_t section_size) noexcept;
NvspBytes nvsp_rndis_packet_complete(uint32_t status) noexcept;
// The NVSP part of a host-to-guest XFER_PAGES packet: the RNDIS messages
// are in the receive buffer ranges, not in a send section.
NvspBytes nvsp_send_rndis_packet(uint32_t channel_type) noexcept;

}  // namespace enlight::vmbus_net
