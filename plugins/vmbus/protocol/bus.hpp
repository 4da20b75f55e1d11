// The VMBus host's channel management: what the host answers to each
// message Linux's hv_vmbus sends on the message connection (vmbus-facts.md
// §1, Linux drivers/hv/connection.c and channel_mgmt.c, QEMU
// hw/hyperv/vmbus.c). Plain code: the plugin (plugins/vmbus/vmbus.cpp)
// feeds it the guest's messages and posts what it queues, in order, to the
// target VP's SINT2; tests and the fuzz target drive it directly.
//
// Version policy: the protocol versions 2.4 (WIN8), 3.0 (WIN8_1) and 4.0
// (WIN10), the ones a guest offers on connection 1, as QEMU does. Linux 6.1
// tries 5.3..5.0 first on connection 4; the plugin does not listen there,
// so the guest's HvCallPostMessage fails with INVALID_CONNECTION_ID and it
// falls back to 4.0 (Linux vmbus_negotiate_version). Versions below 2.4
// (per-channel event bits, target_vp) are refused: Linux 6.1 no longer
// offers them either.
#pragma once

#include "protocol/channel_messages.hpp"
#include "protocol/gpadl.hpp"

#include <cstdint>
#include <deque>
#include <functional>
#include <utility>
#include <vector>

namespace enlight::vmbus {

// A channel the host offers (one per device instance).
struct ChannelOffer {
  Guid if_type{};
  Guid if_instance{};
  uint16_t chn_flags = 0;
  std::array<uint8_t, VMBUS_MAX_USER_DEFINED_BYTES> user_def{};
};

// What happened to a guest message, for the plugin's counters.
enum class Outcome : uint8_t {
  Answered,       // handled, with or without a reply
  Malformed,      // the parser refused it (see Parsed::error)
  NotConnected,   // a message other than INITIATE_CONTACT before contact
  Refused,        // well formed but refused (unknown relid or GPADL, a GPADL rule)
  Unsupported,    // a message this host does not implement (TL_CONNECT, MODIFYCHANNEL)
  QueueFull,      // the outgoing queue is full: HV_STATUS_INSUFFICIENT_BUFFERS
};
inline constexpr size_t kOutcomeCount = 6;
const char* to_string(Outcome o);

struct ChannelState {
  ChannelOffer offer;
  uint32_t relid = 0;          // 1.., the event flag number and connection id offset
  uint32_t connection_id = 0;  // the guest's HvCallSignalEvent target
  bool open = false;
  uint32_t ring_gpadl = 0;
  uint32_t downstream_page_offset = 0;
  uint32_t target_vp = 0;
};

// Bounds what a guest can make the host hold: messages queued for it
// (QEMU refuses a 17th incoming message; our queue holds replies, at most
// one per request plus the offers) and the GPADL table's limits.
struct BusLimits {
  size_t max_queued = 64;
  GpadlTable::Limits gpadl;
};

// What the bus tells its owner about channels (the plugin maps rings and
// calls the device). Either may be empty.
struct BusEvents {
  // OPENCHANNEL passed the protocol's checks: map `ring` and start the
  // device. false answers the guest with a failed OPEN_RESULT (the ring's
  // pages cannot be mapped, or the device refused).
  std::function<bool(const ChannelState& channel, const Gpadl& ring)> open;
  // The channel closed: CLOSECHANNEL, or a reset (INITIATE_CONTACT,
  // UNLOAD) while it was open.
  std::function<void(const ChannelState& channel)> close;
};

class Bus {
 public:
  // pfn_is_ram: whether a guest page frame is RAM the host may map; a
  // GPADL naming any other page is refused.
  Bus(std::vector<ChannelOffer> offers, GpadlTable::PfnCheck pfn_is_ram, const BusLimits& limits);
  // Guest RAM as ram_pages 4 KiB pages from 0.
  Bus(std::vector<ChannelOffer> offers, uint64_t ram_pages, const BusLimits& limits = BusLimits{})
      : Bus(std::move(offers), [ram_pages](uint64_t pfn) { return pfn < ram_pages; }, limits) {}

  // Before the guest connects: offers one more channel. Its relid, or 0
  // when the relid range is used up.
  uint32_t add_offer(const ChannelOffer& offer);
  void set_events(BusEvents events) { events_ = std::move(events); }

  // A complete GPADL the guest created for channel `relid` (its header's
  // child_relid), or nullptr: what a device may reach beside its rings.
  const Gpadl* gpadl_of(uint32_t relid, uint32_t handle) const {
    const Gpadl* g = gpadls_.lookup(handle);
    return g != nullptr && g->child_relid == relid ? g : nullptr;
  }

  // A message the guest posted to VMBUS_MESSAGE_CONNECTION_ID. Returns the
  // HV_STATUS for its HvCallPostMessage (success unless the queue is full).
  uint16_t on_message(const uint8_t* payload, uint32_t size);
  Outcome last_outcome() const { return last_; }
  const Parsed& last_parsed() const { return parsed_; }

  // The replies and offers to post, oldest first, to target_vp()'s SINT2.
  bool has_outgoing() const { return !queue_.empty(); }
  const Encoded& front() const { return queue_.front(); }
  void pop() { queue_.pop_front(); }

  bool connected() const { return version_ != 0; }
  uint32_t version() const { return version_; }
  uint32_t target_vp() const { return target_vp_; }
  const std::vector<ChannelState>& channels() const { return channels_; }
  const GpadlTable& gpadls() const { return gpadls_; }

  // A new INITIATE_CONTACT, UNLOAD or a guest reset: no GPADL, no open
  // channel, nothing queued, not connected.
  void reset();

  // Versions answered "supported", newest first.
  static const std::vector<uint32_t>& supported_versions();

 private:
  Outcome handle(const InitiateContact& m);
  Outcome handle(const RequestOffers& m);
  Outcome handle(const GpadlHeader& m);
  Outcome handle(const GpadlBody& m);
  Outcome handle(const GpadlTeardown& m);
  Outcome handle(const OpenChannel& m);
  Outcome handle(const CloseChannel& m);
  Outcome handle(const RelidReleased& m);
  Outcome handle(const Unload& m);
  Outcome handle(const ModifyChannel& m);
  Outcome handle(const TlConnectRequest& m);
  Outcome gpadl_update(const GpadlUpdate& u);
  ChannelState* channel(uint32_t relid);
  void queue(const Encoded& e) { queue_.push_back(e); }

  void close_channel(ChannelState& c);

  BusLimits limits_;
  BusEvents events_;
  GpadlTable gpadls_;
  std::vector<ChannelState> channels_;
  std::deque<Encoded> queue_;
  uint32_t version_ = 0;
  uint32_t target_vp_ = 0;
  Outcome last_ = Outcome::Answered;
  Parsed parsed_;
};

}  // namespace enlight::vmbus
