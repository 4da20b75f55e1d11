// hv-synic: partition state, CPUID, service registration and the claims.
// See synic.hpp for the layout of the plugin and README.md for every choice.
#include "synic.hpp"

namespace enlight_synic {

namespace {

void on_eoi(void* arg, uint32_t vcpu, uint8_t vector) noexcept {
  // TLFS Messages: an EOI of the SINT's vector is one of the three events
  // after which queued messages are retried. KVM (kvm_hv_synic_send_eoi)
  // notifies every unmasked SINT using that vector; so do we.
  Vm& vm = *static_cast<Vm*>(arg);
  if (vcpu >= vm.vcpu_count()) return;
  VpState& s = vm.vp(vcpu);
  for (uint32_t i = 0; i < HV_SYNIC_SINT_COUNT; ++i) {
    const uint64_t value = s.sint[i].load(std::memory_order_relaxed);
    if (!sint_masked(value) && sint_vector(value) == vector) vm.slot_freed(vcpu, i);
  }
}

}  // namespace

Vm::Vm(const enlight_vm_params& p)
    : VmBase(p),
      vps(new VpState[p.vcpu_count]),
      messages_posted(counter("enlight_synic_messages_posted_total",
                              "SynIC messages written into a message slot (HvCallPostMessage echoes and other plugins' "
                              "messages such as synthetic timer expiries)")),
      slots_busy(counter("enlight_synic_slots_busy_total",
                         "SynIC messages refused because their slot was occupied (MessagePending set)")),
      events_signalled(counter("enlight_synic_events_signalled_total", "SynIC event flags set in an SIEF page")),
      eoms(counter("enlight_synic_eom_total", "guest writes to HV_X64_MSR_EOM")) {
  // CPUID as QEMU's hv-synic sets it (hyperv_fill_cpuids): AccessSynicRegs,
  // and PostMessages + SignalEvents since the hypercalls are served.
  cpuid_bits({HV_CPUID_FEATURES, ENLIGHT_EAX, HV_ACCESS_SYNIC_REGS});
  cpuid_bits({HV_CPUID_FEATURES, ENLIGHT_EBX, HV_POST_MESSAGES | HV_SIGNAL_EVENTS});
  // A guest that sets AutoEOI on a SINT never EOIs it (Linux 6.1
  // hv_synic_enable_regs sets auto_eoi unless this hint is there, and its
  // vmbus_isr then skips the EOI). Where the backend cannot retire such a
  // vector itself (the kvm backend: an MSI into KVM's APIC stays in
  // service until EOI), recommend against AutoEOI (TLFS 0x40000004.EAX[9],
  // "deprecating AutoEOI"), as hv-avic does; QEMU gets AutoEOI from KVM's
  // in-kernel SynIC instead (docs/kvm-backend.md).
  if ((backend_features() & ENLIGHT_BACKEND_AUTO_EOI) == 0)
    cpuid_bits({HV_CPUID_ENLIGHTENMENT_INFO, ENLIGHT_EAX, HV_RECOMMEND_DEPRECATE_AUTO_EOI});

  // The manifest bounds both options (24-bit connection id, SINT < 16).
  echo_connection_id = static_cast<uint32_t>(option(enlight::this_plugin::options::echo_connection_id));
  echo_sint = static_cast<uint32_t>(option(enlight::this_plugin::options::echo_sint));

  // The EOI path: one listener; watches follow the SINT registers.
  eoi_listen(&on_eoi, this);

  fill_service(*this);
  if (echo_connection_id != 0) {
    // Registered through the service itself, so a plugin that asks for the
    // same connection id is refused exactly as with any other owner. Ports
    // hear the caller's VP index; the echo answers on that VP's vCPU.
    const auto on_message = [](void* arg, uint32_t vp, uint32_t type, const void* payload, uint32_t size) noexcept {
      Vm& vm = *static_cast<Vm*>(arg);
      return vm.echo_message(vm.vcpu_of_vp_index(vp), type, payload, size);
    };
    const auto on_event = [](void* arg, uint32_t vp, uint16_t flag) noexcept {
      Vm& vm = *static_cast<Vm*>(arg);
      return vm.echo_event(vm.vcpu_of_vp_index(vp), flag);
    };
    if (iface.register_message_port(iface.ctx, echo_connection_id, on_message, this) != 0 ||
        iface.register_event_port(iface.ctx, echo_connection_id, on_event, this) != 0)
      throw enlight::PluginError("cannot register the echo connection");
  }
  provide_service(ENLIGHT_SYNIC_SERVICE, ENLIGHT_SYNIC_SERVICE_MAJOR, ENLIGHT_SYNIC_SERVICE_MINOR, &iface);
}

const MessagePort* Vm::message_port(uint32_t connection_id) const noexcept {
  for (const MessagePort& p : message_ports)
    if (p.connection_id == connection_id) return &p;
  return nullptr;
}

const EventPort* Vm::event_port(uint32_t connection_id) const noexcept {
  for (const EventPort& p : event_ports)
    if (p.connection_id == connection_id) return &p;
  return nullptr;
}

namespace {

// SCONTROL..EOM share one pair of handlers, the SINTs another (TLFS SynIC
// MSRs). EOM is "write-only" but reads as zero (TLFS EOM Register), so it
// has a read handler.
constexpr std::array kMsrs{
    enlight::msr<read_msr, write_msr>(HV_X64_MSR_SCONTROL, HV_X64_MSR_EOM),
    enlight::msr<read_sint, write_sint>(HV_X64_MSR_SINT0, HV_X64_MSR_SINT15),
};

// HvCallPostMessage: simple, memory form only (TLFS: 256-byte input; it
// cannot fit two registers). HvCallSignalEvent: simple, 8-byte input, fast
// or memory form (TLFS "fast" convention; KVM and QEMU take both).
constexpr std::array kHypercalls{
    enlight::hypercall<post_message_call>(HvCallPostMessage, 0, HV_POST_MESSAGE_INPUT_SIZE),
    enlight::hypercall<signal_event_call>(HvCallSignalEvent, ENLIGHT_HC_FAST, HV_SIGNAL_EVENT_INPUT_SIZE),
};

}  // namespace
}  // namespace enlight_synic

namespace {
using enlight_synic::kHypercalls;
using enlight_synic::kMsrs;
using SynicVm = enlight_synic::Vm;
using SynicVcpu = enlight_synic::Vcpu;
}  // namespace

ENLIGHT_PLUGIN(enlight::Plugin<SynicVm, SynicVcpu>{.msrs = kMsrs, .hypercalls = kHypercalls})
