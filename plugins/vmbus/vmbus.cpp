// vmbus: the VMBus host. Channel management on SINT2 through the synic
// service: the guest's HvCallPostMessage to VMBUS_MESSAGE_CONNECTION_ID
// comes to on_message, and the replies are posted to the target VP's SINT2
// message slot. That slot is shared with the synthetic timers' messages
// (Linux's legacy stimer path uses SINT2 too): the synic service
// serialises every post to a slot and calls each producer back when the
// guest frees it, so stimer and VMBus take turns. The protocol itself is
// protocol/bus.cpp; the devices are other plugins, reached through the
// "vmbus" service (service.cpp, services/vmbus.h), one channel each
// (channel.cpp).
//
// Locking: channel messages are the control plane (a few dozen per boot),
// never the per-exit path of a running device, so one mutex guards the
// bus. It is recursive because a device's open or close callback, which
// the bus calls under it, may read one of its GPADLs. Ring traffic takes
// only its channel's lock.
#include "vmbus.hpp"

#include <enlight/tlfs.h>

#include <cstring>
#include <vector>

namespace enlight_vmbus {
namespace {

using enlight::vmbus::ChannelState;
using enlight::vmbus::Gpadl;
using enlight::vmbus::Outcome;

// Label values of enlight_vmbus_messages_by_type_total, in the order of
// the GuestMessage variant's alternatives.
constexpr std::array<const char*, std::variant_size_v<enlight::vmbus::GuestMessage>> kMessageTypeNames = {
    "initiate_contact", "request_offers", "open_channel", "close_channel",  "gpadl_header",       "gpadl_body",
    "gpadl_teardown",   "relid_released", "unload",       "modify_channel", "tl_connect_request"};

uint16_t on_message(void* arg, uint32_t calling_vp, uint32_t message_type, const void* payload, uint32_t size) noexcept;
void on_slot_free(void* arg, uint32_t vcpu, uint32_t sint) noexcept;

}  // namespace

Vm::Vm(const enlight_vm_params& p)
    : VmBase(p),
      synic(service<enlight_synic_service>(ENLIGHT_SYNIC_SERVICE, ENLIGHT_SYNIC_SERVICE_MAJOR, 0)),
      // A PFN is RAM when its page is; one so large that pfn * 4096 wraps
      // would name another page (found by the hostile guest program).
      bus({},
          [this](uint64_t pfn) {
            return pfn <= (UINT64_MAX >> HV_PAGE_SHIFT) && map_guest(pfn * HV_PAGE_SIZE, HV_PAGE_SIZE) != nullptr;
          },
          enlight::vmbus::BusLimits{}),
      received(counter("enlight_vmbus_messages_received_total", "VMBus channel messages the guest posted")),
      sent(counter("enlight_vmbus_messages_sent_total", "VMBus channel messages posted to the guest's SINT2")),
      malformed(counter("enlight_vmbus_messages_malformed_total",
                        "guest channel messages dropped as malformed (short, long, unknown or host-to-guest type)")),
      refused(counter("enlight_vmbus_messages_refused_total",
                      "well-formed guest channel messages refused (unknown channel or GPADL, a GPADL rule, before "
                      "INITIATE_CONTACT, unsupported)")),
      queue_full(counter("enlight_vmbus_queue_full_total",
                         "guest channel messages answered HV_STATUS_INSUFFICIENT_BUFFERS (replies not yet taken)")),
      slot_busy(counter("enlight_vmbus_slot_busy_total", "posts to SINT2 that found the slot occupied and waited")),
      open_failed(counter("enlight_vmbus_open_failed_total",
                          "OPENCHANNELs answered with a failure (bad ring GPADL or indices, unknown target VP, the "
                          "device refused)")) {
  if (synic == nullptr) throw enlight::PluginError("the synic service is missing (vmbus requires synic)");
  for (size_t i = 0; i < kMessageTypeNames.size(); ++i)
    by_type[i] = counter("enlight_vmbus_messages_by_type_total", "well-formed VMBus channel messages the guest posted, by type",
                         "type", kMessageTypeNames[i]);
  if (synic->register_message_port(synic->ctx, VMBUS_MESSAGE_CONNECTION_ID, &on_message, this) != 0)
    throw enlight::PluginError("VMBus's message connection id is taken by another plugin");
  if (synic->on_slot_free(synic->ctx, &on_slot_free, this) != 0)
    throw enlight::PluginError("cannot register for SynIC slot-free notifications");
  bus.set_events({[this](const ChannelState& c, const Gpadl& ring) { return open_channel(c, ring); },
                  [this](const ChannelState& c) { close_channel(c); }});
  fill_service(*this);
  provide_service(ENLIGHT_VMBUS_SERVICE, ENLIGHT_VMBUS_SERVICE_MAJOR, ENLIGHT_VMBUS_SERVICE_MINOR, &iface);
}

bool Vm::open_channel(const ChannelState& c, const Gpadl& ring) {
  enlight_vmbus_channel& ch = channels.at(c.relid - VMBUS_CHILD_RELID_MIN);
  // Linux names the target by VP index; a VP the guest does not have gets
  // no channel (there would be nobody to signal).
  const uint32_t vcpu = vcpu_of_vp_index(c.target_vp);
  if (vcpu >= vcpu_count()) return fail_open();
  std::vector<uint8_t*> pages;
  pages.reserve(ring.pfns.size());
  for (uint64_t pfn : ring.pfns) {
    auto* page = static_cast<uint8_t*>(map_guest(pfn * HV_PAGE_SIZE, HV_PAGE_SIZE));
    if (page == nullptr) return fail_open();  // the GPADL table checked RAM; a hole is still refused
    pages.push_back(page);
  }
  if (!ch.attach(pages, c.downstream_page_offset, vcpu)) return fail_open();
  if (ch.ops.open(ch.arg, &ch) != 0) {
    ch.detach();
    return fail_open();
  }
  return true;
}

bool Vm::fail_open() {
  open_failed.add(0);
  return false;
}

void Vm::close_channel(const ChannelState& c) {
  enlight_vmbus_channel& ch = channels.at(c.relid - VMBUS_CHILD_RELID_MIN);
  ch.detach();
  ch.ops.close(ch.arg, &ch);
}

// Posts queued replies in order until the bus is empty or the slot is
// busy (the guest then writes EOM and on_slot_free calls again).
void Vm::pump(uint32_t vcpu_hint) {
  while (bus.has_outgoing()) {
    const uint32_t vcpu = vcpu_of_vp_index(bus.target_vp());
    if (vcpu >= vcpu_count()) return;  // a target VP the guest never had: nothing to post to
    const auto& e = bus.front();
    alignas(8) uint8_t message[HV_MESSAGE_SIZE] = {};
    const uint32_t type = VMBUS_MESSAGE_TYPE;
    std::memcpy(message + HV_MESSAGE_TYPE_OFFSET, &type, sizeof type);
    message[HV_MESSAGE_PAYLOAD_SIZE_OFFSET] = static_cast<uint8_t>(e.size);
    std::memcpy(message + HV_MESSAGE_PAYLOAD_OFFSET, e.bytes.data(), e.size);
    const enlight_synic_result r =
        synic->post_message(synic->ctx, vcpu, VMBUS_MESSAGE_SINT, message, HV_MESSAGE_HEADER_SIZE + e.size);
    if (r == ENLIGHT_SYNIC_BUSY) {
      slot_busy.add(vcpu_hint);
      return;
    }
    // Delivered, or the guest's SynIC is off (it will send INITIATE_CONTACT
    // again once it is on, which resets the bus): either way this one is done.
    if (r == ENLIGHT_SYNIC_DELIVERED) sent.add(vcpu_hint);
    bus.pop();
  }
}

namespace {

uint16_t on_message(void* arg, uint32_t calling_vp, uint32_t message_type, const void* payload, uint32_t size) noexcept {
  Vm& vm = *static_cast<Vm*>(arg);
  uint32_t vcpu = vm.vcpu_of_vp_index(calling_vp);
  if (vcpu >= vm.vcpu_count()) vcpu = 0;  // counters only
  vm.received.add(vcpu);
  // Linux posts every channel message with type 1 (vmbus_post_msg).
  if (message_type != VMBUS_MESSAGE_TYPE) {
    vm.malformed.add(vcpu);
    return HV_STATUS_SUCCESS;
  }
  std::lock_guard<std::recursive_mutex> guard(vm.lock);
  const uint16_t status = vm.bus.on_message(static_cast<const uint8_t*>(payload), size);
  switch (vm.bus.last_outcome()) {
    case Outcome::Answered: break;
    case Outcome::Malformed: vm.malformed.add(vcpu); break;
    case Outcome::QueueFull: vm.queue_full.add(vcpu); break;
    case Outcome::NotConnected:
    case Outcome::Refused:
    case Outcome::Unsupported: vm.refused.add(vcpu); break;
  }
  if (vm.bus.last_outcome() != Outcome::Malformed && vm.bus.last_outcome() != Outcome::QueueFull)
    vm.by_type[vm.bus.last_parsed().message.index()].add(vcpu);
  vm.pump(vcpu);
  return status;
}

void on_slot_free(void* arg, uint32_t vcpu, uint32_t sint) noexcept {
  if (sint != VMBUS_MESSAGE_SINT) return;
  Vm& vm = *static_cast<Vm*>(arg);
  std::lock_guard<std::recursive_mutex> guard(vm.lock);
  vm.pump(vcpu);
}

}  // namespace
}  // namespace enlight_vmbus

namespace {
using VmbusVm = enlight_vmbus::Vm;
using VmbusVcpu = enlight_vmbus::Vcpu;
}  // namespace

ENLIGHT_PLUGIN(enlight::Plugin<VmbusVm, VmbusVcpu>{})
