// The util ICs' wire format: the pipe header, the IC header and the
// negotiate, heartbeat, shutdown and time sync bodies (numbers in
// <enlight/tlfs.h>, "VMBus integration components"; Linux
// include/linux/hyperv.h and drivers/hv/hv_util.c, OpenVMM
// vm/devices/hyperv_ic_protocol).
//
// The host writes requests with the encode_*() functions into a Packet; the
// guest's answers are untrusted bytes, and the parse_*() functions are the
// only code that reads them: each one checks a length before every read and
// returns a typed error instead of a value. What needs state (which request
// an answer belongs to, the versions offered, the heartbeat sequence) is
// IcChannel's (channel.hpp).
#pragma once

#include <enlight/tlfs.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace enlight::vmbus_util {

inline constexpr uint32_t align8(uint32_t n) { return (n + VMBUS_PACKET_ALIGNMENT - 1) & ~(VMBUS_PACKET_ALIGNMENT - 1); }

// The longest request: a shutdown, 2088 bytes. Linux 6.1 reads each packet
// into a 4 KiB buffer (hv_util.c, HV_HYP_PAGE_SIZE), so every request must
// stay below that.
inline constexpr uint32_t kMaxRequestSize = ICMSG_HDR + SHUTDOWN_MSG_DATA_SIZE;
static_assert(kMaxRequestSize + VMBUS_PACKET_DESCRIPTOR_SIZE < HV_PAGE_SIZE);
// The longest answer read: Linux echoes the request's payload with the ring
// padding it read, so at most the longest request rounded up to 8.
inline constexpr uint32_t kMaxResponseSize = align8(kMaxRequestSize);

struct IcVersion {
  uint16_t major = 0;
  uint16_t minor = 0;

  // From Linux's major << 16 | minor (IC_*_VERSION in tlfs.h).
  static constexpr IcVersion from_packed(uint32_t v) {
    return {static_cast<uint16_t>(v >> IC_VERSION_MAJOR_SHIFT), static_cast<uint16_t>(v & IC_VERSION_MINOR_MASK)};
  }
  friend bool operator==(const IcVersion&, const IcVersion&) = default;
};

// Why a guest answer was dropped. Values double as log words.
enum class IcError : uint8_t {
  // The channel is not open.
  NotOpen,
  // Not VM_PKT_DATA_INBAND: Linux answers with an inband packet, never a
  // completion.
  WrongPacketType,
  // Shorter than the two headers, than its body, or than the request it
  // answers (Linux sends back the whole packet it read).
  TooShort,
  // Longer than any answer to a request this host sends.
  TooLong,
  // Pipe header type is not data, or its size runs past the packet or
  // cannot hold the IC header.
  BadPipeHeader,
  // icflags other than TRANSACTION | RESPONSE.
  BadFlags,
  // icmsgsize runs past the packet.
  BadSize,
  // No request with this transaction id is waiting (never sent, already
  // answered, given up, or sent before the channel was last opened), or
  // the IC header's transaction byte is not the one sent.
  UnknownTransaction,
  // icmsgtype is not the request's.
  WrongType,
  // Negotiate: counts other than 1/1 (or 0/0), or above the counts offered.
  BadCount,
  // Negotiate: a version the host did not offer.
  VersionNotOffered,
  // Negotiate: counts 0/0, the guest knows none of the versions offered.
  NoCommonVersion,
  // A status the guest has no business answering with.
  BadStatus,
  // Heartbeat: not the sequence number sent plus one.
  WrongSequence,
};
inline constexpr size_t kIcErrorCount = 14;

// Lower case, [a-z_].
const char* to_string(IcError e);

// A value or the reason there is none (std::expected is C++23).
template <typename T>
struct Result {
  std::optional<T> value;
  std::optional<IcError> error;

  static Result ok(T v) { return {std::move(v), std::nullopt}; }
  static Result fail(IcError e) { return {std::nullopt, e}; }
  bool has_value() const { return value.has_value(); }
};

// One host-to-guest packet's payload (what the bus wraps in a
// VM_PKT_DATA_INBAND descriptor).
struct Packet {
  std::array<uint8_t, kMaxRequestSize> bytes{};
  uint32_t size = 0;
  uint64_t transaction_id = 0;

  std::span<const uint8_t> payload() const { return {bytes.data(), size}; }
};

// The IC header fields of a guest answer, after parse_response_header.
struct ResponseHeader {
  IcVersion framework;
  IcVersion message;
  uint16_t type = 0;
  uint16_t body_size = 0;
  uint32_t status = 0;
  uint8_t transaction = 0;
};

// The versions a negotiation settled on.
struct Negotiated {
  IcVersion framework;
  IcVersion message;
  friend bool operator==(const Negotiated&, const Negotiated&) = default;
};

// ---- Host-to-guest requests --------------------------------------------
// Each returns the payload size written; `out` must hold kMaxRequestSize.

// Framework versions and message versions in the order offered.
uint32_t encode_negotiate(std::span<uint8_t, kMaxRequestSize> out, std::span<const IcVersion> frameworks,
                          std::span<const IcVersion> messages);
uint32_t encode_heartbeat(std::span<uint8_t, kMaxRequestSize> out, const Negotiated& v, uint64_t seq_num);
// `display_message` is written as UTF-16LE (a Windows string; see the .cpp)
// and cut to fit with its terminator.
uint32_t encode_shutdown(std::span<uint8_t, kMaxRequestSize> out, const Negotiated& v, uint32_t flags,
                         uint32_t reason_code, uint32_t timeout_seconds, std::string_view display_message);
// ictimesync_ref_data from message version 4.0 on, ictimesync_data before.
uint32_t encode_timesync(std::span<uint8_t, kMaxRequestSize> out, const Negotiated& v, uint64_t parent_time,
                         uint64_t reference_time, uint8_t flags);
// The body size a request carries, for the time sync layout of `message`.
uint32_t timesync_body_size(IcVersion message);

// A Windows FILETIME (100 ns since 1601-01-01 UTC) for a host clock
// reading; 0 for a clock set before 1601.
uint64_t filetime(std::chrono::system_clock::time_point t);

// ---- Guest-to-host answers ---------------------------------------------

// The pipe and IC headers: length, pipe type and size, icflags, icmsgsize.
Result<ResponseHeader> parse_response_header(std::span<const uint8_t> data);
// A negotiate answer, against the lists that were offered.
Result<Negotiated> parse_negotiate_response(std::span<const uint8_t> data, std::span<const IcVersion> frameworks,
                                            std::span<const IcVersion> messages);
// A heartbeat answer's sequence number.
Result<uint64_t> parse_heartbeat_response(std::span<const uint8_t> data);

}  // namespace enlight::vmbus_util
