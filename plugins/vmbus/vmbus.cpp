// vmbus: the VMBus host's channel management on SINT2 (issue 12, first
// part). It answers Linux's hv_vmbus through the synic service: the guest's
// HvCallPostMessage to VMBUS_MESSAGE_CONNECTION_ID comes to on_message, and
// the replies are posted to the target VP's SINT2 message slot. That slot
// is shared with the synthetic timers' messages (Linux's legacy stimer
// path uses SINT2 too): the synic service serialises every post to a slot
// and calls each producer back when the guest frees it, so stimer and
// VMBus take turns. The protocol itself is protocol/bus.cpp.
//
// Locking: channel messages are the control plane (a few dozen per boot),
// never the per-exit path of a running device, so one mutex guards the bus.
#include "protocol/bus.hpp"

#include <enlight/plugin.hpp>
#include <enlight/services/synic.h>
#include <enlight/tlfs.h>

#include <cstring>
#include <mutex>

namespace enlight_vmbus {
namespace {

using enlight::vmbus::Bus;
using enlight::vmbus::Outcome;

struct Vm;
uint16_t on_message(void* arg, uint32_t calling_vp, uint32_t message_type, const void* payload, uint32_t size) noexcept;
void on_slot_free(void* arg, uint32_t vcpu, uint32_t sint) noexcept;

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p)
      : VmBase(p),
        synic(service<enlight_synic_service>(ENLIGHT_SYNIC_SERVICE, ENLIGHT_SYNIC_SERVICE_MAJOR, 0)),
        bus({}, [this](uint64_t pfn) { return map_guest(pfn * HV_PAGE_SIZE, HV_PAGE_SIZE) != nullptr; },
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
        slot_busy(counter("enlight_vmbus_slot_busy_total", "posts to SINT2 that found the slot occupied and waited")) {
    if (synic == nullptr) throw enlight::PluginError("the synic service is missing (vmbus requires synic)");
    if (synic->register_message_port(synic->ctx, VMBUS_MESSAGE_CONNECTION_ID, &on_message, this) != 0)
      throw enlight::PluginError("VMBus's message connection id is taken by another plugin");
    if (synic->on_slot_free(synic->ctx, &on_slot_free, this) != 0)
      throw enlight::PluginError("cannot register for SynIC slot-free notifications");
  }

  // Posts queued replies in order until the bus is empty or the slot is
  // busy (the guest then writes EOM and on_slot_free calls again).
  void pump(uint32_t vcpu_hint) {
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

  const enlight_synic_service* const synic;
  std::mutex lock;
  Bus bus;
  enlight::Counter received, sent, malformed, refused, queue_full, slot_busy;
};

struct Vcpu : enlight::VcpuBase<Vm> {
  Vcpu(Vm& vm, uint32_t index) : VcpuBase(vm, index) {}
};

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
  std::lock_guard<std::mutex> guard(vm.lock);
  const uint16_t status = vm.bus.on_message(static_cast<const uint8_t*>(payload), size);
  switch (vm.bus.last_outcome()) {
    case Outcome::Answered: break;
    case Outcome::Malformed: vm.malformed.add(vcpu); break;
    case Outcome::QueueFull: vm.queue_full.add(vcpu); break;
    case Outcome::NotConnected:
    case Outcome::Refused:
    case Outcome::Unsupported: vm.refused.add(vcpu); break;
  }
  vm.pump(vcpu);
  return status;
}

void on_slot_free(void* arg, uint32_t vcpu, uint32_t sint) noexcept {
  if (sint != VMBUS_MESSAGE_SINT) return;
  Vm& vm = *static_cast<Vm*>(arg);
  std::lock_guard<std::mutex> guard(vm.lock);
  vm.pump(vcpu);
}

}  // namespace
}  // namespace enlight_vmbus

namespace {
using VmbusVm = enlight_vmbus::Vm;
using VmbusVcpu = enlight_vmbus::Vcpu;
}  // namespace

ENLIGHT_PLUGIN(vmbus, "vmbus", "0.1.0", VmbusVm, VmbusVcpu, enlight::none<enlight_msr_claim>,
               enlight::none<enlight_hypercall_claim>, enlight::none<enlight_io_claim>, enlight::none<enlight_cpuid_claim>)
