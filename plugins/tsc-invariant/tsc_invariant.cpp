// HV_X64_MSR_TSC_INVARIANT_CONTROL (0x40000118), privilege
// AccessTscInvariantControls (0x40000003.EAX bit 15). Neither is in the
// TLFS snapshot: the numbers and the semantics are Linux's and KVM's
// (arch/x86/kvm/hyperv.c kvm_hv_set_msr_pw / kvm_hv_get_msr_pw), which is
// what a guest under QEMU+KVM meets:
//   - partition-wide (struct kvm_hv.hv_invtsc_control), reset 0;
//   - only bit 0 (HV_EXPOSE_INVARIANT_TSC) exists: any other bit is #GP,
//     for the host too;
//   - once set, the guest cannot clear it (#GP); the host can (a restore).
// Linux writes bit 0 at boot when the privilege is advertised
// (hyperv_init) and then trusts the TSC as reliable.
//
// What KVM also does and enlight does not: while the privilege is
// advertised and bit 0 is clear, KVM hides the invariant-TSC bit
// 0x80000007.EDX[8] from the guest's CPUID (kvm_hv_invtsc_suppressed). The
// leaf is outside the hypervisor range the bus composes and CPUID is
// frozen when the VM is created, so the guest sees the backend's
// 0x80000007 throughout (README.md).
#include <enlight/plugin.hpp>

#include <atomic>

namespace {

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p) : VmBase(p) {
    cpuid_bits({HV_CPUID_FEATURES, ENLIGHT_EAX, HV_ACCESS_TSC_INVARIANT_CONTROLS});
  }
  std::atomic<uint64_t> control{0};

  // Saved state: the control MSR. The load takes the host write's check
  // (only bit 0 exists; a host may set or clear it).
  void save(enlight::StateWriter& w) const { w.put(control); }
  void load(enlight::StateReader& r) {
    const uint64_t value = r.get<uint64_t>();
    if (!r.complete()) return;
    if ((value & ~HV_EXPOSE_INVARIANT_TSC) != 0)
      return r.refuse("HV_X64_MSR_TSC_INVARIANT_CONTROL", value, "reserved bits set (only bit 0 exists)");
    control.store(value, std::memory_order_relaxed);
  }
};
struct Vcpu : enlight::VcpuBase<Vm> {
  using VcpuBase::VcpuBase;
};

enlight_access_result read_control(Vcpu& v, uint32_t, uint64_t& value, enlight_origin) {
  value = v.vm().control.load(std::memory_order_relaxed);
  return ENLIGHT_ACCESS_OK;
}

enlight_access_result write_control(Vcpu& v, uint32_t, uint64_t value, enlight_origin origin) {
  if (value & ~HV_EXPOSE_INVARIANT_TSC) return ENLIGHT_ACCESS_GP;
  std::atomic<uint64_t>& control = v.vm().control;
  if (origin == ENLIGHT_ORIGIN_HOST) {
    control.store(value, std::memory_order_relaxed);
    return ENLIGHT_ACCESS_OK;
  }
  // Two vCPUs may race here; KVM's check-then-store has the same outcome
  // for the only transition that can fail (1 -> 0), which a CAS keeps exact.
  uint64_t old = control.load(std::memory_order_relaxed);
  do {
    if (old != 0 && value == 0) return ENLIGHT_ACCESS_GP;
  } while (!control.compare_exchange_weak(old, value, std::memory_order_relaxed));
  return ENLIGHT_ACCESS_OK;
}

constexpr std::array kMsrs{enlight::msr<read_control, write_control>(HV_X64_MSR_TSC_INVARIANT_CONTROL)};

}  // namespace

ENLIGHT_PLUGIN(enlight::Plugin<Vm, Vcpu>{.msrs = kMsrs})
