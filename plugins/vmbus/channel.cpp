#include "channel.hpp"

#include <enlight/tlfs.h>

#include <stdexcept>

using enlight::vmbus::RingReader;
using enlight::vmbus::RingStatus;
using enlight::vmbus::RingView;
using enlight::vmbus::RingWriter;

enlight_vmbus_channel::enlight_vmbus_channel(const enlight_vmbus_device& device, uint32_t relid_,
                                             const enlight::VmBase& vm)
    : name(device.name),
      ops(device.ops),
      arg(device.arg),
      relid(relid_),
      vm(&vm),
      packets_received(vm.counter("enlight_vmbus_channel_packets_received_total",
                                  "packets the device read from the channel's guest-to-host ring", "channel",
                                  name.c_str())),
      bytes_received(vm.counter("enlight_vmbus_channel_bytes_received_total",
                                "data bytes of the packets the device read (padding included)", "channel", name.c_str())),
      packets_sent(vm.counter("enlight_vmbus_channel_packets_sent_total",
                              "packets the device wrote to the channel's host-to-guest ring", "channel", name.c_str())),
      bytes_sent(vm.counter("enlight_vmbus_channel_bytes_sent_total", "payload bytes of the packets the device wrote",
                            "channel", name.c_str())),
      guest_signals(vm.counter("enlight_vmbus_channel_guest_signals_total",
                               "HvSignalEvent calls of the guest on the channel's connection id", "channel",
                               name.c_str())),
      host_signals(vm.counter("enlight_vmbus_channel_host_signals_total",
                              "event flags set for the guest (a ring became non-empty, or room it waited for)",
                              "channel", name.c_str())),
      ring_full(vm.counter("enlight_vmbus_channel_ring_full_total",
                           "sends refused because the host-to-guest ring had no room", "channel", name.c_str())),
      ring_corrupt(vm.counter("enlight_vmbus_channel_ring_corrupt_total",
                              "times the guest corrupted a ring (indices, packet framing); the channel stops until "
                              "reopened",
                              "channel", name.c_str())) {}

bool enlight_vmbus_channel::attach(std::span<uint8_t* const> pages, uint32_t downstream, uint32_t vcpu) {
  std::lock_guard<std::mutex> guard(lock);
  RingStatus rs = RingStatus::Ok, ws = RingStatus::Ok;
  // The bus checked 2 <= downstream <= pages - 2; RingView checks the rest
  // (alignment, size) and refuses instead of throwing via check().
  const auto in = pages.subspan(0, downstream);
  const auto out = pages.subspan(downstream);
  if (RingView::check(in) != RingStatus::Ok || RingView::check(out) != RingStatus::Ok) return false;
  reader = RingReader::open(RingView(in), &rs);
  writer = RingWriter::open(RingView(out), &ws);
  if (!reader || !writer) {
    // QEMU ringbufs_init: an index out of range fails the open.
    reader.reset();
    writer.reset();
    ring_corrupt.add(0);
    return false;
  }
  broken = false;
  target_vcpu = vcpu;
  open.store(true, std::memory_order_release);
  return true;
}

void enlight_vmbus_channel::detach() {
  std::lock_guard<std::mutex> guard(lock);
  open.store(false, std::memory_order_release);
  reader.reset();
  writer.reset();
}

void enlight_vmbus_channel::signal_guest() {
  // VMBus 2.4+: the channel's relid as an event flag in the target VP's
  // SIEF slot of SINT2, the SINT raised only when the flag was clear
  // (vmbus-facts.md §2; Linux vmbus_chan_sched scans that slot). BUSY and
  // UNAVAILABLE leave nothing to retry: the flag is level state.
  synic->signal_event(synic->ctx, target_vcpu, VMBUS_MESSAGE_SINT, relid);
  host_signals.add(0);
}

enlight_vmbus_result enlight_vmbus_channel::corrupt(RingStatus) {
  // A device would stop on a ring it cannot trust; the guest recovers by
  // closing and reopening the channel (which maps the rings afresh).
  broken = true;
  ring_corrupt.add(0);
  return ENLIGHT_VMBUS_CORRUPT;
}

enlight_vmbus_result enlight_vmbus_channel::peek(enlight::vmbus::PacketInfo& p) {
  if (!reader) return ENLIGHT_VMBUS_CLOSED;
  if (broken) return ENLIGHT_VMBUS_CORRUPT;
  // No buffer: the framing is validated and nothing is copied yet.
  const RingStatus s = reader->next({}, p);
  if (s == RingStatus::Empty) return ENLIGHT_VMBUS_EMPTY;
  if (s != RingStatus::TooLarge && s != RingStatus::Ok) return corrupt(s);
  return ENLIGHT_VMBUS_OK;
}

enlight_vmbus_result enlight_vmbus_channel::take(void* buffer, uint32_t capacity, enlight_vmbus_packet* info,
                                                 bool whole_packet) {
  if (info == nullptr || (buffer == nullptr && capacity != 0)) return ENLIGHT_VMBUS_INVALID;
  std::lock_guard<std::mutex> guard(lock);
  enlight::vmbus::PacketInfo p;
  if (const enlight_vmbus_result r = peek(p); r != ENLIGHT_VMBUS_OK) return r;
  info->type = p.type;
  info->flags = p.flags;
  info->transaction_id = p.trans_id;
  info->length = whole_packet ? p.length : p.length - p.data_offset;
  if (info->length > capacity) return ENLIGHT_VMBUS_TOO_LARGE;
  // Straight into the device's buffer: the data part alone, or (next()
  // with room) descriptor and data in one bounds-checked pass.
  const std::span<uint8_t> dst(static_cast<uint8_t*>(buffer), capacity);
  const bool copied = whole_packet ? reader->next(dst, p) == RingStatus::Ok : reader->read_data(dst) >= 0;
  if (!copied) return corrupt(RingStatus::Truncated);
  packets_received.add(0);
  bytes_received.add(0, p.length - p.data_offset);
  // Consumed at once: the guest may be waiting for room (pending_send_sz).
  if (reader->consume()) signal_guest();
  return ENLIGHT_VMBUS_OK;
}

enlight_vmbus_result enlight_vmbus_channel::recv_drop() {
  std::lock_guard<std::mutex> guard(lock);
  enlight::vmbus::PacketInfo p;
  if (const enlight_vmbus_result r = peek(p); r != ENLIGHT_VMBUS_OK) return r;
  if (reader->consume()) signal_guest();
  return ENLIGHT_VMBUS_OK;
}

enlight_vmbus_result enlight_vmbus_channel::send(uint16_t type, uint16_t flags, uint64_t trans_id,
                                                 std::span<const uint8_t> payload,
                                                 std::span<const uint8_t> extension) {
  std::lock_guard<std::mutex> guard(lock);
  if (!writer) return ENLIGHT_VMBUS_CLOSED;
  if (broken) return ENLIGHT_VMBUS_CORRUPT;
  enlight::vmbus::WriteResult r;
  r.status = writer->append({type, flags, trans_id, payload, extension});
  if (r.status == RingStatus::Ok) r.signal_guest = writer->commit();
  switch (r.status) {
    case RingStatus::Ok: break;
    case RingStatus::Full: ring_full.add(0); return ENLIGHT_VMBUS_FULL;
    case RingStatus::TooLarge: return ENLIGHT_VMBUS_TOO_LARGE;
    default: return corrupt(r.status);
  }
  packets_sent.add(0);
  bytes_sent.add(0, payload.size());
  if (r.signal_guest) signal_guest();
  return ENLIGHT_VMBUS_OK;
}

void enlight_vmbus_channel::on_guest_signal(uint32_t vcpu) {
  guest_signals.add(vcpu);
  if (!is_open()) return;
  // The mask tells the guest not to signal again while we drain (Linux
  // hv_signal_on_write skips the signal when interrupt_mask is set);
  // end_drain clears it and says whether data came in behind our back.
  // Bounded: a guest that keeps the ring busy gets one more pass per
  // packet burst, and at most kPasses before the next signal.
  constexpr int kPasses = 16;
  for (int pass = 0; pass < kPasses; ++pass) {
    {
      std::lock_guard<std::mutex> guard(lock);
      if (!reader || broken) return;
      reader->begin_drain();
    }
    ops.notify(arg, this, vcpu);
    bool more = false;
    {
      std::lock_guard<std::mutex> guard(lock);
      if (!reader || broken) return;
      const enlight::vmbus::DrainEnd end = reader->end_drain();
      if (end.signal_guest) signal_guest();
      more = end.more;
    }
    if (!more) return;
  }
}
