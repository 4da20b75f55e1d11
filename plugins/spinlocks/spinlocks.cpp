// hv-spinlocks=N: the spinlock retry recommendation (0x40000004.EBX) and
// HvCallNotifyLongSpinWait (TLFS "Feature Discovery",
// hypercalls/HvCallNotifyLongSpinWait). A guest that has spun N times on a
// lock tells the hypervisor, which can run another vCPU (perhaps the lock
// holder) instead of letting this one burn its time slice.
#include <enlight/plugin.hpp>

namespace {

// The input is one u64, SpinCount (TLFS). It is informational only: like
// KVM, we neither validate nor use it.
constexpr uint16_t kNotifyInputSize = 8;

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p)
      : VmBase(p),
        retries(static_cast<uint32_t>(option(enlight::this_plugin::options::retries))),
        long_spin_waits(counter("enlight_spinlocks_long_spin_waits_total",
                                "HvCallNotifyLongSpinWait calls, each of which yielded the calling vCPU")) {
    cpuid_field({HV_CPUID_ENLIGHTENMENT_INFO, ENLIGHT_EBX}, retries);
  }
  const uint32_t retries;
  const enlight::Counter long_spin_waits;
};

struct Vcpu : enlight::VcpuBase<Vm> {
  using VcpuBase::VcpuBase;
};

enlight_hypercall_result notify_long_spin_wait(Vcpu& v, const enlight_hypercall&) {
  Vm& vm = v.vm();
  // Under hv-enforce-cpuid KVM refuses the call when the guest was told
  // never to notify: 0x40000004.EBX of 0xFFFFFFFF (TLFS Feature Discovery)
  // or 0 (TLFS VP Properties' reading of the same field). There is no
  // privilege bit for this call, so the manifest cannot express it as a
  // gate; the check lives here, after the core's control-word checks
  // (KVM checks access first; only a call that is both denied and malformed
  // answers differently).
  if (vm.enforce_cpuid() && (vm.retries == 0 || vm.retries == HV_SPINLOCK_NEVER_NOTIFY))
    return {HV_STATUS_ACCESS_DENIED, 0};
  vm.long_spin_waits.add(v.index());
  vm.yield_vcpu(v.index());
  return {HV_STATUS_SUCCESS, 0};
}

// A simple call, fast or memory form (TLFS: "fast call" is allowed for
// calls whose input fits in two registers).
constexpr std::array kHypercalls{
    enlight::hypercall<notify_long_spin_wait>(HvCallNotifyLongSpinWait, ENLIGHT_HC_FAST, kNotifyInputSize)};

}  // namespace

ENLIGHT_PLUGIN(enlight::Plugin<Vm, Vcpu>{.hypercalls = kHypercalls})
