#include "protocol/bus.hpp"

#include <algorithm>

namespace enlight::vmbus {
namespace {

// A channel's connection id for the guest's HvCallSignalEvent: QEMU's
// choice (hw/hyperv/vmbus.c, VMBUS_CHAN_CONNID_OFFSET 16 + relid), clear of
// the well-known ids 1-4.
constexpr uint32_t kChannelConnectionIdBase = 16;


}  // namespace

const char* to_string(Outcome o) {
  switch (o) {
    case Outcome::Answered: return "answered";
    case Outcome::Malformed: return "malformed";
    case Outcome::NotConnected: return "not_connected";
    case Outcome::Refused: return "refused";
    case Outcome::Unsupported: return "unsupported";
    case Outcome::QueueFull: return "queue_full";
  }
  return "unknown";
}

const std::vector<uint32_t>& Bus::supported_versions() {
  static const std::vector<uint32_t> v = {VMBUS_VERSION_WIN10, VMBUS_VERSION_WIN8_1, VMBUS_VERSION_WIN8};
  return v;
}

Bus::Bus(std::vector<ChannelOffer> offers, GpadlTable::PfnCheck pfn_is_ram, const BusLimits& limits)
    : limits_(limits), gpadls_(std::move(pfn_is_ram), limits.gpadl) {
  for (const ChannelOffer& o : offers)
    if (add_offer(o) == 0) break;
}

uint32_t Bus::add_offer(const ChannelOffer& offer) {
  // Relids from 1 in offer order (QEMU VMBUS_FIRST_CHANID); 0 is never a
  // channel (Linux skips event flag 0).
  const uint32_t relid = VMBUS_CHILD_RELID_MIN + static_cast<uint32_t>(channels_.size());
  if (relid > VMBUS_CHILD_RELID_MAX) return 0;
  ChannelState c;
  c.offer = offer;
  c.relid = relid;
  c.connection_id = kChannelConnectionIdBase + relid;
  channels_.push_back(c);
  return relid;
}

void Bus::close_channel(ChannelState& c) {
  if (!c.open) return;
  c.open = false;
  if (events_.close) events_.close(c);
}

void Bus::reset() {
  gpadls_.reset();
  queue_.clear();
  version_ = 0;
  target_vp_ = 0;
  for (ChannelState& c : channels_) {
    close_channel(c);
    c.ring_gpadl = 0;
    c.downstream_page_offset = 0;
    c.target_vp = 0;
  }
}

ChannelState* Bus::channel(uint32_t relid) {
  for (ChannelState& c : channels_)
    if (c.relid == relid) return &c;
  return nullptr;
}

uint16_t Bus::on_message(const uint8_t* payload, uint32_t size) {
  parsed_ = parse_guest_message(payload, size);
  if (!parsed_.ok()) {
    last_ = Outcome::Malformed;
    return HV_STATUS_SUCCESS;  // the post itself was fine; the host drops the message (QEMU does the same)
  }
  // Every request makes at most one reply, except REQUESTOFFERS (one per
  // channel, then ALLOFFERS_DELIVERED): refuse before handling so nothing
  // is half done, the way a full Hyper-V message port refuses
  // (HV_STATUS_INSUFFICIENT_BUFFERS; Linux vmbus_post_msg retries).
  // INITIATE_CONTACT and UNLOAD empty the queue before they reply, so they
  // always pass: a guest whose replies cannot be delivered (a target VP it
  // does not have) must still be able to start over.
  const bool resets = std::holds_alternative<InitiateContact>(parsed_.message) ||
                      std::holds_alternative<Unload>(parsed_.message);
  if (!resets && queue_.size() + channels_.size() + 1 > limits_.max_queued) {
    last_ = Outcome::QueueFull;
    return HV_STATUS_INSUFFICIENT_BUFFERS;
  }
  if (!connected() && !std::holds_alternative<InitiateContact>(parsed_.message)) {
    last_ = Outcome::NotConnected;
    return HV_STATUS_SUCCESS;
  }
  last_ = std::visit([this](const auto& m) { return handle(m); }, parsed_.message);
  return HV_STATUS_SUCCESS;
}

Outcome Bus::handle(const InitiateContact& m) {
  // QEMU handle_initiate_contact: every INITIATE_CONTACT starts the bus
  // afresh, whatever state it was in (a kexec'd kernel, a reloaded module).
  reset();
  const auto& v = supported_versions();
  const bool supported = std::find(v.begin(), v.end(), m.version) != v.end();
  if (supported) {
    version_ = m.version;
    // Linux: target_vcpu is CPU0's VP index; channel messages go there.
    target_vp_ = m.target_vcpu;
  }
  // msg_conn_id matters from 5.0 on only (the guest then posts there).
  queue(encode(VersionResponse{supported, 0, 0}));
  return Outcome::Answered;
}

Outcome Bus::handle(const RequestOffers&) {
  for (const ChannelState& c : channels_) {
    OfferChannel o;
    o.if_type = c.offer.if_type;
    o.if_instance = c.offer.if_instance;
    o.chn_flags = c.offer.chn_flags;
    o.user_def = c.offer.user_def;
    o.child_relid = c.relid;
    o.is_dedicated_interrupt = true;
    o.connection_id = c.connection_id;
    queue(encode(o));
  }
  queue(encode(AllOffersDelivered{}));
  return Outcome::Answered;
}

Outcome Bus::gpadl_update(const GpadlUpdate& u) {
  switch (u.status) {
    case GpadlStatus::InProgress: return Outcome::Answered;
    case GpadlStatus::Completed:
      queue(encode(GpadlCreated{u.child_relid, u.handle, VMBUS_CHANNEL_STATUS_SUCCESS}));
      return Outcome::Answered;
    case GpadlStatus::Refused:
      // Linux waits for GPADL_CREATED with no timeout and matches relid and
      // handle: a refusal must still answer, with a failure status, or the
      // guest's driver probe hangs. A body for an unknown handle has no
      // header to answer: it is only counted.
      if (u.refusal != GpadlRefusal::UnknownHandle)
        queue(encode(GpadlCreated{u.child_relid, u.handle, VMBUS_CHANNEL_STATUS_FAILURE}));
      return Outcome::Refused;
  }
  return Outcome::Refused;
}

Outcome Bus::handle(const GpadlHeader& m) { return gpadl_update(gpadls_.add_header(m)); }
Outcome Bus::handle(const GpadlBody& m) { return gpadl_update(gpadls_.add_body(m)); }

Outcome Bus::handle(const GpadlTeardown& m) {
  // Answered at once even for an open channel's ring (QEMU
  // handle_gpadl_teardown; Linux vmbus_teardown_gpadl waits for the answer
  // without a time-out): the channel keeps its own mapping of the ring's
  // pages until it closes, as QEMU's reference does, so forgetting the
  // handle here cannot pull the ring from under it.
  if (gpadls_.teardown(m.gpadl) != TeardownResult::Ok) return Outcome::Refused;
  queue(encode(GpadlTorndown{m.gpadl}));
  return Outcome::Answered;
}

Outcome Bus::handle(const OpenChannel& m) {
  ChannelState* c = channel(m.child_relid);
  const Gpadl* ring = gpadls_.lookup(m.ring_gpadl);
  // The ring GPADL holds [guest-to-host ring][host-to-guest ring], each a
  // header page and at least one data page: the offset of the second ring
  // must leave both that much room (Linux vmbus_open, QEMU
  // vmbus_channel_map_rings).
  const bool ring_ok = ring != nullptr && m.downstream_page_offset >= 2 && ring->pfns.size() >= 4 &&
                       m.downstream_page_offset <= ring->pfns.size() - 2;
  if (c == nullptr || c->open || !ring_ok) {
    queue(encode(OpenChannelResult{m.child_relid, m.openid, VMBUS_CHANNEL_STATUS_FAILURE}));
    return Outcome::Refused;
  }
  c->ring_gpadl = m.ring_gpadl;
  c->downstream_page_offset = m.downstream_page_offset;
  c->target_vp = m.target_vp;
  if (events_.open && !events_.open(*c, *ring)) {
    queue(encode(OpenChannelResult{m.child_relid, m.openid, VMBUS_CHANNEL_STATUS_FAILURE}));
    return Outcome::Refused;
  }
  c->open = true;
  queue(encode(OpenChannelResult{m.child_relid, m.openid, VMBUS_CHANNEL_STATUS_SUCCESS}));
  return Outcome::Answered;
}

Outcome Bus::handle(const CloseChannel& m) {
  ChannelState* c = channel(m.child_relid);
  if (c == nullptr || !c->open) return Outcome::Refused;
  close_channel(*c);  // no reply: Linux does not wait for one
  return Outcome::Answered;
}

Outcome Bus::handle(const RelidReleased& m) {
  // Only meaningful after a RESCIND, which this host never sends.
  return channel(m.child_relid) ? Outcome::Answered : Outcome::Refused;
}

Outcome Bus::handle(const Unload&) {
  reset();
  queue(encode(UnloadResponse{}));
  return Outcome::Answered;
}

// 4.1+ and hv_sock: not offered (the versions above stop at 4.0).
Outcome Bus::handle(const ModifyChannel&) { return Outcome::Unsupported; }
Outcome Bus::handle(const TlConnectRequest&) { return Outcome::Unsupported; }

}  // namespace enlight::vmbus
