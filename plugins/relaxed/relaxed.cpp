// hv-relaxed: the "relaxed timing" recommendation (0x40000004.EAX bit 5).
// No MSR and no hypercall: it tells the guest not to treat long delays
// (watchdog timeouts) as fatal, since its vCPUs may be descheduled.
#include <enlight/plugin.hpp>

namespace {

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p) : VmBase(p) {
    cpuid_bits({HV_CPUID_ENLIGHTENMENT_INFO, ENLIGHT_EAX, HV_RECOMMEND_RELAXED_TIMING});
  }
};
struct Vcpu : enlight::VcpuBase<Vm> {
  using VcpuBase::VcpuBase;
};

}  // namespace

ENLIGHT_PLUGIN(enlight::Plugin<Vm, Vcpu>{})
