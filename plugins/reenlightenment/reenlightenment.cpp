// hv-reenlightenment: HV_X64_MSR_REENLIGHTENMENT_CONTROL (0x40000106),
// HV_X64_MSR_TSC_EMULATION_CONTROL (0x40000107) and
// HV_X64_MSR_TSC_EMULATION_STATUS (0x40000108), privilege
// AccessReenlightenmentControls (0x40000003.EAX bit 13).
//
// The TLFS snapshot names only the privilege; the layouts are Linux's
// (arch/x86/include/asm/hyperv-tlfs.h: control = vector 7:0, enabled 16,
// target VP 63:32; emulation control = enabled 0; status = in progress 0).
// Register semantics are KVM's (arch/x86/kvm/hyperv.c kvm_hv_set_msr_pw /
// kvm_hv_get_msr_pw), which is what a guest meets under QEMU+KVM:
//   - all three are partition-wide (struct kvm_hv), reset 0;
//   - CONTROL and EMULATION_CONTROL store any 64-bit value (KVM checks no
//     reserved bit);
//   - the guest may write only 0 to EMULATION_STATUS (anything else #GP):
//     it ends the emulation; the host may write any value (a restore);
//   - under hv-enforce-cpuid all three need bit 13 (the manifest's gate).
//
// The notification. KVM never sends one: it keeps the TSC frequency
// constant across migration instead (QEMU needs tsc-frequency= for it).
// Hyper-V sends it (what Linux's hv_reenlightenment handler expects): when
// the partition resumes at another TSC frequency, it sets EMULATION_STATUS
// in progress if the guest enabled TSC emulation, and raises CONTROL's
// vector on CONTROL's target VP if CONTROL is enabled. The frequency a
// guest last ran at is the plugin's saved state (vm_save/vm_load); a load at
// another frequency arms a timer on vCPU 0 that does the above when the VM
// next runs, after every register of the restore is in place, in whatever
// order a core restores MSRs and plugin state. The state is the SDK's
// save/load members (enlight/state.hpp), so its blob carries the SDK's
// header and version. Choices where the TLFS is
// silent are in README.md.
#include <enlight/plugin.hpp>

#include <atomic>
#include <cstdio>

namespace {

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p)
      : VmBase(p),
        notifications(counter("enlight_reenlightenment_notifications_total",
                              "reenlightenment interrupts raised after a restore at another TSC frequency")) {
    cpuid_bits({HV_CPUID_FEATURES, ENLIGHT_EAX, HV_ACCESS_REENLIGHTENMENT_CONTROLS});
    notify_timer = timer(0, &on_frequency_change, this);
  }

  static void on_frequency_change(void* arg, uint64_t now) noexcept;

  std::atomic<uint64_t> control{0};
  std::atomic<uint64_t> emulation_control{0};
  std::atomic<uint64_t> emulation_status{0};
  // Set by a load at another frequency, read by the timer: only while no
  // vCPU runs, then on vCPU 0's thread.
  uint64_t saved_tsc_hz = 0;
  enlight::Timer notify_timer;
  const enlight::Counter notifications;

  // Saved state (the SDK's header, then): the TSC frequency the guest ran
  // at and the three registers, which hold any 64-bit value (KVM checks no
  // bit, and the host may write EMULATION_STATUS freely).
  void save(enlight::StateWriter& w) const {
    w.put(tsc_frequency_hz());
    w.put(control);
    w.put(emulation_control);
    w.put(emulation_status);
  }
  void load(enlight::StateReader& r);
};

struct Vcpu : enlight::VcpuBase<Vm> {
  using VcpuBase::VcpuBase;
};

std::atomic<uint64_t>& reg(Vm& vm, uint32_t index) {
  switch (index) {
    case HV_X64_MSR_REENLIGHTENMENT_CONTROL: return vm.control;
    case HV_X64_MSR_TSC_EMULATION_CONTROL: return vm.emulation_control;
    default: return vm.emulation_status;
  }
}

enlight_access_result read_reg(Vcpu& v, uint32_t index, uint64_t& value, enlight_origin) {
  value = reg(v.vm(), index).load(std::memory_order_relaxed);
  return ENLIGHT_ACCESS_OK;
}

enlight_access_result write_reg(Vcpu& v, uint32_t index, uint64_t value, enlight_origin origin) {
  // KVM: "Guest can use the same MSR to stop TSC access emulation by
  // writing zero. Writing anything else is forbidden."
  if (index == HV_X64_MSR_TSC_EMULATION_STATUS && origin == ENLIGHT_ORIGIN_GUEST && value != 0) return ENLIGHT_ACCESS_GP;
  reg(v.vm(), index).store(value, std::memory_order_relaxed);
  return ENLIGHT_ACCESS_OK;
}

constexpr std::array kMsrs{
    enlight::msr<read_reg, write_reg>(HV_X64_MSR_REENLIGHTENMENT_CONTROL, HV_X64_MSR_TSC_EMULATION_STATUS)};

// Runs on vCPU 0's thread at the first timer check after the load.
void Vm::on_frequency_change(void* arg, uint64_t) noexcept {
  Vm& vm = *static_cast<Vm*>(arg);
  const uint64_t now_hz = vm.tsc_frequency_hz();
  const uint64_t ctl = vm.control.load(std::memory_order_relaxed);
  // Emulation first, so that a guest handling the interrupt already reads
  // "in progress" (Linux's handler returns early otherwise).
  if (vm.emulation_control.load(std::memory_order_relaxed) & HV_TSC_EMULATION_CONTROL_ENABLE)
    vm.emulation_status.fetch_or(HV_TSC_EMULATION_STATUS_IN_PROGRESS, std::memory_order_relaxed);
  char line[256];
  if (!(ctl & HV_REENLIGHTENMENT_CONTROL_ENABLE)) {
    std::snprintf(line, sizeof line, "TSC frequency changed from %llu to %llu Hz; the guest did not enable reenlightenment",
                  static_cast<unsigned long long>(vm.saved_tsc_hz), static_cast<unsigned long long>(now_hz));
  } else {
    const auto vector = static_cast<uint8_t>((ctl & HV_REENLIGHTENMENT_CONTROL_VECTOR_MASK) >>
                                             HV_REENLIGHTENMENT_CONTROL_VECTOR_SHIFT);
    const auto vp = static_cast<uint32_t>((ctl & HV_REENLIGHTENMENT_CONTROL_TARGET_VP_MASK) >>
                                          HV_REENLIGHTENMENT_CONTROL_TARGET_VP_SHIFT);
    const uint32_t vcpu = vm.vcpu_of_vp_index(vp);
    // The TLFS gives no error path for a bad vector or VP (the registers
    // were written long before): the notification is dropped and logged.
    if (vcpu == UINT32_MAX) {
      std::snprintf(line, sizeof line, "TSC frequency changed from %llu to %llu Hz; target VP %u names no vCPU, no notification",
                    static_cast<unsigned long long>(vm.saved_tsc_hz), static_cast<unsigned long long>(now_hz), vp);
    } else if (!vm.inject_interrupt(vcpu, vector)) {
      std::snprintf(line, sizeof line,
                    "TSC frequency changed from %llu to %llu Hz; vector 0x%02x cannot be delivered to VP %u, no notification",
                    static_cast<unsigned long long>(vm.saved_tsc_hz), static_cast<unsigned long long>(now_hz), vector, vp);
    } else {
      vm.notifications.add(0);
      std::snprintf(line, sizeof line, "TSC frequency changed from %llu to %llu Hz; vector 0x%02x raised on VP %u",
                    static_cast<unsigned long long>(vm.saved_tsc_hz), static_cast<unsigned long long>(now_hz), vector, vp);
    }
  }
  try {
    vm.log(2, line);
  } catch (...) {  // a log line is not worth a fault
  }
}

// Nothing changes unless the whole state is accepted. A load at another
// frequency arms the notification (on_frequency_change).
void Vm::load(enlight::StateReader& r) {
  const uint64_t saved_hz = r.get<uint64_t>();
  const uint64_t ctl = r.get<uint64_t>();
  const uint64_t emulation = r.get<uint64_t>();
  const uint64_t status = r.get<uint64_t>();
  if (!r.complete()) return;
  if (saved_hz == 0) return r.fail("the saved state has a TSC frequency of 0 Hz");
  control.store(ctl, std::memory_order_relaxed);
  emulation_control.store(emulation, std::memory_order_relaxed);
  emulation_status.store(status, std::memory_order_relaxed);
  saved_tsc_hz = saved_hz;
  if (saved_hz == tsc_frequency_hz()) {
    notify_timer.cancel();
    return;
  }
  // Due at once: it fires at vCPU 0's next timer check, i.e. when the VM
  // runs again. 0 means "not armed", hence at least 1.
  const uint64_t now = reference_time();
  notify_timer.arm(now == 0 ? 1 : now);
}

}  // namespace

ENLIGHT_PLUGIN(enlight::Plugin<Vm, Vcpu>{.msrs = kMsrs})
