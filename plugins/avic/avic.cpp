// hv-avic (QEMU also accepts hv-apicv, the same property): recommendations
// for a guest whose local APIC is hardware-accelerated (Intel APICv, AMD
// AVIC). No MSR, no hypercall: only 0x40000004.EAX (TLFS Feature Discovery,
// "Implementation Recommendations").
//
// What QEMU does (target/i386/kvm/kvm.c): kvm_hyperv_properties[] gives
// HYPERV_FEAT_AVIC the bit "deprecating AutoEOI recommended" (bit 9), and
// hyperv_fill_cpuids() sets "use the APIC MSRs" (bit 3) only for hv-vapic
// without hv-avic. Why: AutoEOI SINTs and the synthetic EOI/ICR/TPR MSRs
// both force exits that hardware APIC virtualization would otherwise avoid
// (KVM inhibits APICv while any SINT uses AutoEOI), so the guest is told to
// use neither.
#include <enlight/plugin.hpp>

namespace {

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p) : VmBase(p) {
    cpuid_bits({HV_CPUID_ENLIGHTENMENT_INFO, ENLIGHT_EAX, HV_RECOMMEND_DEPRECATE_AUTO_EOI});
    // Bit 3 as a field of 0: the vapic plugin contributes it as a default
    // (set while nobody owns the field), so with both plugins the guest sees
    // 0, QEMU's "hv-vapic && !hv-avic", without either plugin naming the
    // other. A field, not an absent bit: bits are ORed and could not clear
    // what another plugin sets.
    cpuid_field({HV_CPUID_ENLIGHTENMENT_INFO, ENLIGHT_EAX, HV_RECOMMEND_MSR_APIC_ACCESS}, 0);
  }
};

struct Vcpu : enlight::VcpuBase<Vm> {
  using VcpuBase::VcpuBase;
};


}  // namespace

ENLIGHT_PLUGIN(enlight::Plugin<Vm, Vcpu>{})
