// One IC device's side of its channel: version negotiation, then the
// device's requests, each matched to the guest's answer by the VMBus
// packet's transaction id.
//
//   Closed --open()--> Negotiating --valid answer--> Ready
//                           |  any bad answer
//                           v
//                        Failed   (until the guest reopens the channel)
//   any state --close()--> Closed
//
// Plain code: no plugin ABI, no clock, no lock. The caller (the plugin)
// sends what open() and the request functions return, feeds every guest
// packet to on_packet(), and serialises the calls (one IcChannel is not
// thread-safe).
//
// Hostile guests: an answer is accepted only for a request still waiting,
// of the request's type, at least as long as the request, with every field
// checked; anything else is dropped with an IcError and changes nothing but
// that request (it is no longer waited for). At most kMaxPending requests
// wait at once; a new one past that gives up on the oldest, so a guest that
// never answers costs a fixed amount of memory and the host keeps sending.
#pragma once

#include "ic/devices.hpp"
#include "ic/wire.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace enlight::vmbus_util {

// What an accepted answer was.
enum class Event : uint8_t {
  None,
  Negotiated,         // versions() is now valid
  HeartbeatAnswered,  // with the expected sequence number
  ShutdownAnswered,   // shutdown_status() holds the guest's answer
  TimesyncAnswered,
};

struct Outcome {
  Event event = Event::None;
  std::optional<IcError> error;
  bool ok() const { return !error.has_value(); }
};

class IcChannel {
 public:
  enum class State : uint8_t { Closed, Negotiating, Ready, Failed };

  // Requests waiting for an answer at once. Each device has one request in
  // flight in normal operation (Linux answers at once); the room beyond it
  // absorbs a guest that is slow for a few periods.
  static constexpr size_t kMaxPending = 4;

  explicit IcChannel(Device device) : device_(device) {}

  Device device() const { return device_; }
  State state() const { return state_; }
  bool ready() const { return state_ == State::Ready; }
  // The negotiated versions; meaningful once ready().
  const Negotiated& versions() const { return versions_; }

  // The guest opened the channel: forget everything about the previous
  // session and return the NEGOTIATE to send.
  Packet open();
  // The channel closed (guest CLOSECHANNEL, bus reset): nothing is waited for.
  void close();
  // The caller could not send `transaction_id`'s packet: stop waiting for it
  // (and, for a time sync, send the next as SYNC again).
  void cancel(uint64_t transaction_id);

  // The next request of this device, or nullopt when the channel is not
  // ready or is another device's.
  // Heartbeat: sequence numbers count up from 1; the guest answers + 1.
  std::optional<Packet> heartbeat();
  // Shutdown: power off (flags 0), planned, with `display_message`.
  std::optional<Packet> shutdown(std::string_view display_message);
  // Time sync: the first after each negotiation is SYNC (the guest steps
  // its clock), the rest SAMPLE. parent_time: filetime() of the host clock;
  // reference_time: the partition reference time read with it.
  std::optional<Packet> timesync(uint64_t parent_time, uint64_t reference_time);

  // A guest packet: its VM_PKT_* type, transaction id and data (from the
  // data offset on, padding included).
  Outcome on_packet(uint16_t packet_type, uint64_t transaction_id, std::span<const uint8_t> data);

  // The status of the last shutdown the guest answered (HV_S_OK or
  // HV_E_FAIL), if any since the channel opened.
  std::optional<uint32_t> shutdown_status() const { return shutdown_status_; }
  // Requests given up on (kMaxPending) since construction.
  uint64_t abandoned() const { return abandoned_; }
  // Requests waiting for an answer now.
  size_t pending() const;

 private:
  struct Pending {
    bool used = false;
    uint64_t transaction_id = 0;
    uint16_t type = 0;
    uint32_t size = 0;     // the request's payload size; the answer is at least as long
    uint64_t answer = 0;   // heartbeat: the sequence number expected back
    bool sync = false;     // time sync: sent as SYNC
  };

  Packet make();
  void wait_for(const Packet& p, uint16_t type, uint64_t answer = 0, bool sync = false);
  Pending* find(uint64_t transaction_id);
  Outcome on_negotiate(std::span<const uint8_t> data);
  Outcome on_answer(const Pending& request, uint32_t status, std::span<const uint8_t> data);

  Device device_;
  State state_ = State::Closed;
  Negotiated versions_{};
  std::array<Pending, kMaxPending> pending_{};
  // Never reset, so an answer from an earlier session cannot match.
  uint64_t next_transaction_ = 1;
  uint64_t next_sequence_ = 1;
  bool synced_ = false;
  std::optional<uint32_t> shutdown_status_;
  uint64_t abandoned_ = 0;
};

}  // namespace enlight::vmbus_util
