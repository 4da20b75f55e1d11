#include "ic/wire.hpp"

#include <enlight/wire.hpp>

#include <algorithm>

namespace enlight::vmbus_util {

namespace {

using enlight::wire::load16;
using enlight::wire::load32;
using enlight::wire::load64;
using enlight::wire::store16;
using enlight::wire::store32;
using enlight::wire::store64;

IcVersion load_version(const uint8_t* p) {
  return {load16(p + IC_VERSION_MAJOR_OFFSET), load16(p + IC_VERSION_MINOR_OFFSET)};
}
void store_version(uint8_t* p, IcVersion v) {
  store16(p + IC_VERSION_MAJOR_OFFSET, v.major);
  store16(p + IC_VERSION_MINOR_OFFSET, v.minor);
}

bool offered(std::span<const IcVersion> list, IcVersion v) { return std::find(list.begin(), list.end(), v) != list.end(); }

// Both headers of a request whose body is `body_size` bytes. The IC
// transaction byte stays 0, as OpenVMM sends it: requests are matched by
// the VMBus packet's transaction id, which is 64 bits wide.
uint32_t write_headers(uint8_t* p, uint16_t type, const Negotiated& v, uint32_t body_size) {
  std::fill_n(p, ICMSG_HDR + body_size, uint8_t{0});
  store32(p + VMBUSPIPE_HDR_FLAGS_OFFSET, VMBUSPIPE_PACKET_TYPE_DATA);
  store32(p + VMBUSPIPE_HDR_MSGSIZE_OFFSET, ICMSG_HDR_STRUCT_SIZE + body_size);
  store16(p + ICMSG_HDR_ICVERFRAME_MAJOR_OFFSET, v.framework.major);
  store16(p + ICMSG_HDR_ICVERFRAME_MINOR_OFFSET, v.framework.minor);
  store16(p + ICMSG_HDR_ICMSGTYPE_OFFSET, type);
  store16(p + ICMSG_HDR_ICVERMSG_MAJOR_OFFSET, v.message.major);
  store16(p + ICMSG_HDR_ICVERMSG_MINOR_OFFSET, v.message.minor);
  store16(p + ICMSG_HDR_ICMSGSIZE_OFFSET, static_cast<uint16_t>(body_size));
  store32(p + ICMSG_HDR_STATUS_OFFSET, HV_S_OK);
  p[ICMSG_HDR_ICFLAGS_OFFSET] = static_cast<uint8_t>(ICMSGHDRFLAG_TRANSACTION | ICMSGHDRFLAG_REQUEST);
  return ICMSG_HDR + body_size;
}

constexpr uint32_t kAnswerFlags = ICMSGHDRFLAG_TRANSACTION | ICMSGHDRFLAG_RESPONSE;
// The time sync message version from which the body is ictimesync_ref_data
// (Linux: ts_srv_version > TS_VERSION_3).
constexpr IcVersion kTimesyncRefDataVersion = IcVersion::from_packed(IC_TS_VERSION);
// UTF-16 code units are two bytes.
constexpr uint32_t kUtf16UnitSize = 2;

}  // namespace

const char* to_string(IcError e) {
  switch (e) {
    case IcError::NotOpen: return "not_open";
    case IcError::WrongPacketType: return "wrong_packet_type";
    case IcError::TooShort: return "too_short";
    case IcError::TooLong: return "too_long";
    case IcError::BadPipeHeader: return "bad_pipe_header";
    case IcError::BadFlags: return "bad_flags";
    case IcError::BadSize: return "bad_size";
    case IcError::UnknownTransaction: return "unknown_transaction";
    case IcError::WrongType: return "wrong_type";
    case IcError::BadCount: return "bad_count";
    case IcError::VersionNotOffered: return "version_not_offered";
    case IcError::NoCommonVersion: return "no_common_version";
    case IcError::BadStatus: return "bad_status";
    case IcError::WrongSequence: return "wrong_sequence";
  }
  return "unknown";
}

// ---- Requests ------------------------------------------------------------

uint32_t encode_negotiate(std::span<uint8_t, kMaxRequestSize> out, std::span<const IcVersion> frameworks,
                          std::span<const IcVersion> messages) {
  // The lists are the device tables' (a handful), far below the guest's
  // limit and the buffer.
  const auto count = static_cast<uint32_t>(frameworks.size() + messages.size());
  const uint32_t body = ICMSG_NEGOTIATE_SIZE + count * IC_VERSION_SIZE;
  // The header's versions mean nothing before there are any; OpenVMM sends
  // zeros.
  const uint32_t size = write_headers(out.data(), ICMSGTYPE_NEGOTIATE, Negotiated{}, body);
  store16(out.data() + ICMSG_NEGOTIATE_ICFRAME_VERCNT_OFFSET, static_cast<uint16_t>(frameworks.size()));
  store16(out.data() + ICMSG_NEGOTIATE_ICMSG_VERCNT_OFFSET, static_cast<uint16_t>(messages.size()));
  uint8_t* slot = out.data() + ICMSG_NEGOTIATE_ICVERSION_DATA_OFFSET;
  for (auto list : {frameworks, messages}) {
    for (IcVersion v : list) {
      store_version(slot, v);
      slot += IC_VERSION_SIZE;
    }
  }
  return size;
}

uint32_t encode_heartbeat(std::span<uint8_t, kMaxRequestSize> out, const Negotiated& v, uint64_t seq_num) {
  const uint32_t size = write_headers(out.data(), ICMSGTYPE_HEARTBEAT, v, HEARTBEAT_MSG_DATA_SIZE);
  store64(out.data() + HEARTBEAT_MSG_SEQ_NUM_OFFSET, seq_num);
  return size;
}

uint32_t encode_shutdown(std::span<uint8_t, kMaxRequestSize> out, const Negotiated& v, uint32_t flags,
                         uint32_t reason_code, uint32_t timeout_seconds, std::string_view display_message) {
  const uint32_t size = write_headers(out.data(), ICMSGTYPE_SHUTDOWN, v, SHUTDOWN_MSG_DATA_SIZE);
  store32(out.data() + SHUTDOWN_MSG_REASON_CODE_OFFSET, reason_code);
  store32(out.data() + SHUTDOWN_MSG_TIMEOUT_SECONDS_OFFSET, timeout_seconds);
  store32(out.data() + SHUTDOWN_MSG_FLAGS_OFFSET, flags);
  // UNVERIFIED encoding: Linux and OpenVMM never read the message (OpenVMM
  // sends zeros); a Windows guest's strings are UTF-16, so each byte of the
  // (ASCII) text becomes one code unit, and one unit is left for the NUL.
  const size_t units = std::min<size_t>(display_message.size(), SHUTDOWN_MSG_DISPLAY_MESSAGE_SIZE / kUtf16UnitSize - 1);
  uint8_t* text = out.data() + SHUTDOWN_MSG_DISPLAY_MESSAGE_OFFSET;
  for (size_t i = 0; i < units; ++i) text[i * kUtf16UnitSize] = static_cast<uint8_t>(display_message[i]);
  return size;
}

uint32_t timesync_body_size(IcVersion message) {
  return message.major >= kTimesyncRefDataVersion.major ? ICTIMESYNC_REF_DATA_SIZE : ICTIMESYNC_DATA_SIZE;
}

uint32_t encode_timesync(std::span<uint8_t, kMaxRequestSize> out, const Negotiated& v, uint64_t parent_time,
                         uint64_t reference_time, uint8_t flags) {
  const uint32_t body = timesync_body_size(v.message);
  const uint32_t size = write_headers(out.data(), ICMSGTYPE_TIMESYNC, v, body);
  if (body == ICTIMESYNC_REF_DATA_SIZE) {
    store64(out.data() + ICTIMESYNC_REF_DATA_PARENTTIME_OFFSET, parent_time);
    store64(out.data() + ICTIMESYNC_REF_DATA_VMREFERENCETIME_OFFSET, reference_time);
    out[ICTIMESYNC_REF_DATA_FLAGS_OFFSET] = flags;
    // leapflags and stratum stay 0, as OpenVMM sends them: no leap second
    // announced, stratum unspecified.
  } else {
    // childtime and roundtriptime stay 0: Linux ignores them.
    store64(out.data() + ICTIMESYNC_DATA_PARENTTIME_OFFSET, parent_time);
    out[ICTIMESYNC_DATA_FLAGS_OFFSET] = flags;
  }
  return size;
}

uint64_t filetime(std::chrono::system_clock::time_point t) {
  using Ticks = std::chrono::duration<int64_t, std::ratio<1, 10'000'000>>;  // FILETIME's 100 ns
  const int64_t since_1970 = std::chrono::duration_cast<Ticks>(t.time_since_epoch()).count();
  if (since_1970 < -static_cast<int64_t>(WLTIMEDELTA)) return 0;
  return static_cast<uint64_t>(since_1970) + WLTIMEDELTA;
}

// ---- Answers -------------------------------------------------------------

Result<ResponseHeader> parse_response_header(std::span<const uint8_t> data) {
  using R = Result<ResponseHeader>;
  if (data.size() < ICMSG_HDR) return R::fail(IcError::TooShort);
  if (data.size() > kMaxResponseSize) return R::fail(IcError::TooLong);
  const uint8_t* p = data.data();
  const auto size = static_cast<uint32_t>(data.size());

  if (load32(p + VMBUSPIPE_HDR_FLAGS_OFFSET) != VMBUSPIPE_PACKET_TYPE_DATA) return R::fail(IcError::BadPipeHeader);
  const uint32_t pipe_size = load32(p + VMBUSPIPE_HDR_MSGSIZE_OFFSET);
  if (pipe_size < ICMSG_HDR_STRUCT_SIZE || pipe_size > size - VMBUSPIPE_HDR_SIZE)
    return R::fail(IcError::BadPipeHeader);

  // Exactly what Linux writes: a response bit alone, or a request bit left
  // set, is a guest that did not answer.
  if (p[ICMSG_HDR_ICFLAGS_OFFSET] != kAnswerFlags) return R::fail(IcError::BadFlags);

  ResponseHeader h;
  h.framework = {load16(p + ICMSG_HDR_ICVERFRAME_MAJOR_OFFSET), load16(p + ICMSG_HDR_ICVERFRAME_MINOR_OFFSET)};
  h.type = load16(p + ICMSG_HDR_ICMSGTYPE_OFFSET);
  h.message = {load16(p + ICMSG_HDR_ICVERMSG_MAJOR_OFFSET), load16(p + ICMSG_HDR_ICVERMSG_MINOR_OFFSET)};
  h.body_size = load16(p + ICMSG_HDR_ICMSGSIZE_OFFSET);
  h.status = load32(p + ICMSG_HDR_STATUS_OFFSET);
  h.transaction = p[ICMSG_HDR_ICTRANSACTION_ID_OFFSET];
  if (h.body_size > size - ICMSG_HDR) return R::fail(IcError::BadSize);
  return R::ok(h);
}

Result<Negotiated> parse_negotiate_response(std::span<const uint8_t> data, std::span<const IcVersion> frameworks,
                                            std::span<const IcVersion> messages) {
  using R = Result<Negotiated>;
  // Linux writes its two picks in the first two slots whatever the counts
  // say, so the answer always holds both.
  if (data.size() < ICMSG_NEGOTIATE_ICVERSION_DATA_OFFSET + 2 * IC_VERSION_SIZE) return R::fail(IcError::TooShort);
  const uint8_t* p = data.data();
  const uint16_t framework_count = load16(p + ICMSG_NEGOTIATE_ICFRAME_VERCNT_OFFSET);
  const uint16_t message_count = load16(p + ICMSG_NEGOTIATE_ICMSG_VERCNT_OFFSET);
  if (framework_count == 0 && message_count == 0) return R::fail(IcError::NoCommonVersion);
  if (framework_count > frameworks.size() || message_count > messages.size()) return R::fail(IcError::BadCount);
  if (framework_count != 1 || message_count != 1) return R::fail(IcError::BadCount);
  // Linux leaves the host's HV_S_OK in place.
  if (load32(p + ICMSG_HDR_STATUS_OFFSET) != HV_S_OK) return R::fail(IcError::BadStatus);

  Negotiated n;
  n.framework = load_version(p + ICMSG_NEGOTIATE_ICVERSION_DATA_OFFSET);
  n.message = load_version(p + ICMSG_NEGOTIATE_ICVERSION_DATA_OFFSET + IC_VERSION_SIZE);
  if (!offered(frameworks, n.framework) || !offered(messages, n.message)) return R::fail(IcError::VersionNotOffered);
  return R::ok(n);
}

Result<uint64_t> parse_heartbeat_response(std::span<const uint8_t> data) {
  using R = Result<uint64_t>;
  // Linux 6.1 itself needs only the sequence number of a heartbeat.
  if (data.size() < HEARTBEAT_MSG_SEQ_NUM_OFFSET + sizeof(uint64_t)) return R::fail(IcError::TooShort);
  if (load32(data.data() + ICMSG_HDR_STATUS_OFFSET) != HV_S_OK) return R::fail(IcError::BadStatus);
  return R::ok(load64(data.data() + HEARTBEAT_MSG_SEQ_NUM_OFFSET));
}

}  // namespace enlight::vmbus_util
