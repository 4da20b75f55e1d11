// VMBus channel messages: the SynIC-message protocol that negotiates the
// version, offers channels, builds GPADLs and opens and closes channels
// (Linux include/linux/hyperv.h, drivers/hv/channel_mgmt.c, connection.c,
// channel.c). Wire layouts are the VMBus section of <enlight/tlfs.h>.
//
// Guest-to-host messages arrive as HvPostMessage payloads the guest fully
// controls, so parse_guest_message() is the one place that turns untrusted
// bytes into typed values, and it never reads past `size`. It checks
// structure only: sizes, the message type, and that the GPADL header's own
// length fields agree with the bytes present. Everything that needs state or
// policy lives elsewhere, and each rule below says where:
//   - GPADL policy (rangecount 1, byte_offset 0, byte_count against the PFN
//     count, PFNs inside guest RAM, duplicate handles, limits):
//     GpadlTable (gpadl.hpp);
//   - whether a relid, an openid, a ring GPADL, a target VP or a version is
//     acceptable: the bus, which knows the offered channels, the VPs and the
//     negotiated version.
//
// Host-to-guest messages are built with the encode() overloads into a
// 240-byte buffer plus its size, the size Linux's min_payload_len table
// requires (the sizeof of Linux's struct).
#pragma once

#include <enlight/tlfs.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <variant>

namespace enlight::vmbus {

inline constexpr size_t kMaxMessageSize = VMBUS_MAX_SIZE_CHANNEL_MESSAGE;

// A GUID in wire order (the 16 bytes as they sit in the message), e.g.
// Guid g = HV_HEART_BEAT_GUID_BYTES;
using Guid = std::array<uint8_t, VMBUS_GUID_SIZE>;

// Why a guest message was refused. Values double as counter labels.
enum class ParseError : uint8_t {
  // Shorter than the header, or than its type's fixed part.
  TooShort,
  // Longer than one SynIC payload (240 bytes).
  TooLong,
  // 0, 18..20, or 25 and up: no VMBus message has that number.
  UnknownType,
  // A number the host sends (OFFERCHANNEL, VERSION_RESPONSE, ...): a guest
  // sending one is confused or probing.
  HostToGuestType,
  // A GPADL header or body whose size is not its fixed part plus whole u64
  // PFNs. Linux posts exactly fixed part + 8 * n.
  BadLength,
  // A GPADL header whose rangecount or range_buflen contradict each other
  // or the bytes present: no range, a buffer that is not whole 8-byte
  // units or too small for its range headers, more range bytes present
  // than announced, or fewer announced than present while the header is
  // not full (Linux fills the header's 26 PFN slots before it sends a
  // GPADL_BODY).
  BadField,
};
inline constexpr size_t kParseErrorCount = 6;

// Label-safe name: lower case, [a-z_].
const char* to_string(ParseError e);

// ---- Guest-to-host messages --------------------------------------------

// CHANNELMSG_INITIATE_CONTACT. The u64 at offset 16 is the interrupt page
// GPA before 5.0 and {msg_sint, msg_vtl, 6 reserved} from 5.0 on; which one
// depends on `version`, so it is kept raw and decoded by the accessors.
struct InitiateContact {
  uint32_t version = 0;
  uint32_t target_vcpu = 0;
  uint64_t interrupt_page_or_sint = 0;
  uint64_t monitor_page1 = 0;
  uint64_t monitor_page2 = 0;

  uint8_t msg_sint() const { return static_cast<uint8_t>(interrupt_page_or_sint); }
  uint8_t msg_vtl() const { return static_cast<uint8_t>(interrupt_page_or_sint >> 8); }
  friend bool operator==(const InitiateContact&, const InitiateContact&) = default;
};

// CHANNELMSG_REQUESTOFFERS: no body.
struct RequestOffers {
  friend bool operator==(const RequestOffers&, const RequestOffers&) = default;
};

// CHANNELMSG_OPENCHANNEL. Linux 6.1 sends openid = child_relid and the
// second ring's page index in downstream_page_offset; checking either is
// the bus's job.
struct OpenChannel {
  uint32_t child_relid = 0;
  uint32_t openid = 0;
  uint32_t ring_gpadl = 0;
  uint32_t target_vp = 0;
  uint32_t downstream_page_offset = 0;
  std::array<uint8_t, VMBUS_MAX_USER_DEFINED_BYTES> user_data{};
  friend bool operator==(const OpenChannel&, const OpenChannel&) = default;
};

// CHANNELMSG_CLOSECHANNEL.
struct CloseChannel {
  uint32_t child_relid = 0;
  friend bool operator==(const CloseChannel&, const CloseChannel&) = default;
};

// CHANNELMSG_GPADL_HEADER. What Linux 6.1 sends (create_gpadl_header):
// rangecount 1, byte_offset 0, byte_count = n * 4096, range_buflen =
// 8 + 8 * n, and the first min(n, 26) PFNs in a message of exactly
// 28 + 8 * min(n, 26) bytes. What the parser accepts is wider (any
// rangecount, offset and byte_count that are structurally possible);
// GpadlTable narrows it to what Linux sends.
//
// byte_count and byte_offset are the first
// range's; pfns are the u64s after the first range header that this message
// carries (for rangecount 1, the first pfn_count PFNs of the GPADL). The
// parser guarantees rangecount >= 1, range_buflen a multiple of 8 and at
// least 8 * rangecount, that the range bytes present fit in range_buflen,
// and that a header which does not carry all of them carries 26 PFNs; so
// total_pfns() cannot underflow and, with one range, pfn_count <=
// total_pfns(). With several ranges `pfns` also holds the later ranges'
// headers; GpadlTable refuses those GPADLs before looking at it.
struct GpadlHeader {
  uint32_t child_relid = 0;
  uint32_t gpadl = 0;
  uint16_t range_buflen = 0;
  uint16_t rangecount = 0;
  uint32_t byte_count = 0;
  uint32_t byte_offset = 0;
  std::array<uint64_t, VMBUS_GPADL_HEADER_MAX_PFNS> pfns{};
  uint32_t pfn_count = 0;

  std::span<const uint64_t> pfn_span() const { return {pfns.data(), pfn_count}; }
  // PFNs announced for the whole GPADL, summed over all ranges: range_buflen
  // less one 8-byte header per range, in u64s (QEMU's formula).
  uint32_t total_pfns() const {
    return (uint32_t{range_buflen} - VMBUS_GPA_RANGE_HEADER_SIZE * rangecount) / VMBUS_GPADL_PFN_SIZE;
  }
  friend bool operator==(const GpadlHeader&, const GpadlHeader&) = default;
};

// CHANNELMSG_GPADL_BODY. msgnumber is kept for logging only: Linux 6.1
// leaves it 0 in every body.
struct GpadlBody {
  uint32_t msgnumber = 0;
  uint32_t gpadl = 0;
  std::array<uint64_t, VMBUS_GPADL_BODY_MAX_PFNS> pfns{};
  uint32_t pfn_count = 0;

  std::span<const uint64_t> pfn_span() const { return {pfns.data(), pfn_count}; }
  friend bool operator==(const GpadlBody&, const GpadlBody&) = default;
};

// CHANNELMSG_GPADL_TEARDOWN.
struct GpadlTeardown {
  uint32_t child_relid = 0;
  uint32_t gpadl = 0;
  friend bool operator==(const GpadlTeardown&, const GpadlTeardown&) = default;
};

// CHANNELMSG_RELID_RELEASED (the guest's answer to a rescind).
struct RelidReleased {
  uint32_t child_relid = 0;
  friend bool operator==(const RelidReleased&, const RelidReleased&) = default;
};

// CHANNELMSG_UNLOAD: no body.
struct Unload {
  friend bool operator==(const Unload&, const Unload&) = default;
};

// CHANNELMSG_MODIFYCHANNEL (protocol 4.1 and up). A host answering 4.0
// never sees it from Linux, but the parser accepts it so a confused guest
// is counted as such by the bus, not as malformed.
struct ModifyChannel {
  uint32_t child_relid = 0;
  uint32_t target_vp = 0;
  friend bool operator==(const ModifyChannel&, const ModifyChannel&) = default;
};

// CHANNELMSG_TL_CONNECT_REQUEST (hv_sock connect()). Parsed so the bus can
// refuse it knowingly; enlight offers no hv_sock service.
struct TlConnectRequest {
  Guid guest_endpoint_id{};
  Guid host_service_id{};
  friend bool operator==(const TlConnectRequest&, const TlConnectRequest&) = default;
};

using GuestMessage = std::variant<InitiateContact, RequestOffers, OpenChannel, CloseChannel, GpadlHeader,
                                  GpadlBody, GpadlTeardown, RelidReleased, Unload, ModifyChannel,
                                  TlConnectRequest>;

struct Parsed {
  // The message type from the header; 0 when the payload is too short to
  // hold one. Kept for errors too, so the caller can log what was refused.
  uint32_t msgtype = 0;
  std::optional<ParseError> error;
  // Meaningful only when ok().
  GuestMessage message;

  bool ok() const { return !error.has_value(); }
};

// Parses one HvPostMessage payload of `size` bytes. Trailing bytes after a
// fixed-size message are ignored, as QEMU does and as Linux does with the
// messages it receives (its min_payload_len is a minimum), so a newer
// guest's longer form of a message still parses; the GPADL messages, whose
// tail is PFNs, must have no partial PFN. `payload` may be null only when
// `size` is 0.
Parsed parse_guest_message(const uint8_t* payload, size_t size);

// ---- Host-to-guest messages --------------------------------------------

// One encoded payload: bytes[0, size) go into the SynIC message; the rest
// is zero.
struct Encoded {
  std::array<uint8_t, kMaxMessageSize> bytes{};
  uint32_t size = 0;

  std::span<const uint8_t> span() const { return {bytes.data(), size}; }
};

// CHANNELMSG_OFFERCHANNEL. monitor_allocated is always sent as 0 and is not
// a field: with it set, Linux signals the host through the monitor page
// (scanned every ~100 us on Hyper-V) instead of a hypercall, which enlight
// does not implement. Linux still derives monitor_grp/bit from monitorid, so
// it is kept and should stay 0.
struct OfferChannel {
  Guid if_type{};
  Guid if_instance{};
  uint16_t chn_flags = 0;
  uint16_t mmio_megabytes = 0;
  std::array<uint8_t, VMBUS_MAX_USER_DEFINED_BYTES> user_def{};
  uint16_t sub_channel_index = 0;
  uint32_t child_relid = 0;
  uint8_t monitorid = 0;
  // Linux then signals with HvSignalEvent(connection_id) only, without also
  // setting the relid's bit in the shared interrupt page.
  bool is_dedicated_interrupt = true;
  uint32_t connection_id = 0;
};

struct RescindChannelOffer {
  uint32_t child_relid = 0;
};

struct AllOffersDelivered {};

// status 0 = success. Echo the guest's child_relid and openid: Linux
// matches the reply on both.
struct OpenChannelResult {
  uint32_t child_relid = 0;
  uint32_t openid = 0;
  uint32_t status = 0;
};

// creation_status 0 = success. Echo both child_relid and gpadl
// (vmbus_ongpadl_created matches on both).
struct GpadlCreated {
  uint32_t child_relid = 0;
  uint32_t gpadl = 0;
  uint32_t creation_status = 0;
};

struct GpadlTorndown {
  uint32_t gpadl = 0;
};

// version_supported: 1 = accepted, 0 = "try an older version".
// msg_conn_id matters only from 5.0 on.
struct VersionResponse {
  bool version_supported = false;
  uint8_t connection_state = 0;
  uint32_t msg_conn_id = 0;
};

struct UnloadResponse {};

// Only for protocol 5.3 and up, where Linux waits for it.
struct ModifyChannelResponse {
  uint32_t child_relid = 0;
  uint32_t status = 0;
};

Encoded encode(const OfferChannel& m);
Encoded encode(const RescindChannelOffer& m);
Encoded encode(const AllOffersDelivered& m);
Encoded encode(const OpenChannelResult& m);
Encoded encode(const GpadlCreated& m);
Encoded encode(const GpadlTorndown& m);
Encoded encode(const VersionResponse& m);
Encoded encode(const UnloadResponse& m);
Encoded encode(const ModifyChannelResponse& m);

}  // namespace enlight::vmbus
