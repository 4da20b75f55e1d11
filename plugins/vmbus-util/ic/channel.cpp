#include "ic/channel.hpp"

#include <algorithm>

namespace enlight::vmbus_util {

namespace {

// What the host asks of the guest on shutdown (OpenVMM shutdown IC): power
// off, a planned shutdown, no time limit given (Linux ignores the limit;
// the VMM bounds its own wait).
constexpr uint32_t kShutdownFlags = SHUTDOWN_FLAG_POWER_OFF;
constexpr uint32_t kShutdownReason = SHTDN_REASON_FLAG_PLANNED;
constexpr uint32_t kShutdownTimeoutSeconds = 0;

}  // namespace

Packet IcChannel::open() {
  close();
  state_ = State::Negotiating;
  Packet p = make();
  p.size = encode_negotiate(p.bytes, kFrameworkVersions, message_versions(device_));
  wait_for(p, ICMSGTYPE_NEGOTIATE);
  return p;
}

void IcChannel::close() {
  state_ = State::Closed;
  versions_ = {};
  pending_ = {};
  synced_ = false;
  shutdown_status_.reset();
}

void IcChannel::cancel(uint64_t transaction_id) {
  Pending* p = find(transaction_id);
  if (p == nullptr) return;
  if (p->sync) synced_ = false;
  *p = {};
}

size_t IcChannel::pending() const {
  return static_cast<size_t>(std::count_if(pending_.begin(), pending_.end(), [](const Pending& p) { return p.used; }));
}

Packet IcChannel::make() {
  Packet p;
  p.transaction_id = next_transaction_++;
  return p;
}

void IcChannel::wait_for(const Packet& p, uint16_t type, uint64_t answer, bool sync) {
  auto slot = std::find_if(pending_.begin(), pending_.end(), [](const Pending& e) { return !e.used; });
  if (slot == pending_.end()) {
    // Transaction ids only grow, so the smallest is the oldest.
    slot = std::min_element(pending_.begin(), pending_.end(), [](const Pending& a, const Pending& b) {
      return a.transaction_id < b.transaction_id;
    });
    ++abandoned_;
  }
  *slot = {true, p.transaction_id, type, p.size, answer, sync};
}

IcChannel::Pending* IcChannel::find(uint64_t transaction_id) {
  for (Pending& p : pending_)
    if (p.used && p.transaction_id == transaction_id) return &p;
  return nullptr;
}

std::optional<Packet> IcChannel::heartbeat() {
  if (!ready() || device_ != Device::Heartbeat) return std::nullopt;
  Packet p = make();
  const uint64_t seq = next_sequence_++;
  p.size = encode_heartbeat(p.bytes, versions_, seq);
  wait_for(p, ICMSGTYPE_HEARTBEAT, seq + 1);
  return p;
}

std::optional<Packet> IcChannel::shutdown(std::string_view display_message) {
  if (!ready() || device_ != Device::Shutdown) return std::nullopt;
  Packet p = make();
  p.size = encode_shutdown(p.bytes, versions_, kShutdownFlags, kShutdownReason, kShutdownTimeoutSeconds,
                           display_message);
  wait_for(p, ICMSGTYPE_SHUTDOWN);
  return p;
}

std::optional<Packet> IcChannel::timesync(uint64_t parent_time, uint64_t reference_time) {
  if (!ready() || device_ != Device::Timesync) return std::nullopt;
  Packet p = make();
  const bool sync = !synced_;
  const auto flags = static_cast<uint8_t>(sync ? ICTIMESYNCFLAG_SYNC : ICTIMESYNCFLAG_SAMPLE);
  p.size = encode_timesync(p.bytes, versions_, parent_time, reference_time, flags);
  synced_ = true;
  wait_for(p, ICMSGTYPE_TIMESYNC, 0, sync);
  return p;
}

Outcome IcChannel::on_packet(uint16_t packet_type, uint64_t transaction_id, std::span<const uint8_t> data) {
  auto fail = [](IcError e) { return Outcome{Event::None, e}; };
  if (state_ == State::Closed) return fail(IcError::NotOpen);
  if (packet_type != VM_PKT_DATA_INBAND) return fail(IcError::WrongPacketType);

  const Result<ResponseHeader> header = parse_response_header(data);
  if (!header.has_value()) return fail(*header.error);
  const ResponseHeader& h = *header.value;

  Pending* waiting = find(transaction_id);
  if (waiting == nullptr || h.transaction != 0) return fail(IcError::UnknownTransaction);
  // Whatever the answer says, it is the only one this request will get.
  const Pending request = *waiting;
  *waiting = {};

  if (h.type != request.type) return fail(IcError::WrongType);
  if (data.size() < request.size) return fail(IcError::TooShort);
  if (request.type == ICMSGTYPE_NEGOTIATE) return on_negotiate(data);
  return on_answer(request, h.status, data);
}

Outcome IcChannel::on_negotiate(std::span<const uint8_t> data) {
  const Result<Negotiated> n = parse_negotiate_response(data, kFrameworkVersions, message_versions(device_));
  if (!n.has_value()) {
    // A guest that cannot or will not agree gets nothing more until it
    // reopens the channel (OpenVMM's ICs stop the same way).
    state_ = State::Failed;
    return {Event::None, n.error};
  }
  versions_ = *n.value;
  state_ = State::Ready;
  return {Event::Negotiated, std::nullopt};
}

Outcome IcChannel::on_answer(const Pending& request, uint32_t status, std::span<const uint8_t> data) {
  switch (request.type) {
    case ICMSGTYPE_HEARTBEAT: {
      const Result<uint64_t> seq = parse_heartbeat_response(data);
      if (!seq.has_value()) return {Event::None, seq.error};
      if (*seq.value != request.answer) return {Event::None, IcError::WrongSequence};
      return {Event::HeartbeatAnswered, std::nullopt};
    }
    case ICMSGTYPE_SHUTDOWN:
      // The two answers Linux gives: it is shutting down, or it cannot.
      if (status != HV_S_OK && status != HV_E_FAIL) return {Event::None, IcError::BadStatus};
      shutdown_status_ = status;
      return {Event::ShutdownAnswered, std::nullopt};
    case ICMSGTYPE_TIMESYNC:
      // Linux leaves the host's HV_S_OK in a time sync it used.
      if (status != HV_S_OK) return {Event::None, IcError::BadStatus};
      return {Event::TimesyncAnswered, std::nullopt};
    default:
      // Only the types above are ever waited for.
      return {Event::None, IcError::WrongType};
  }
}

}  // namespace enlight::vmbus_util
