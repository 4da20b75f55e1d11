// hv-xmm-input: "hypercall input via XMM registers" (TLFS Feature Discovery,
// 0x40000003.EDX bit 4; TLFS Hypercall Interface, "XMM Fast Hypercalls").
//
// Nothing to handle here: the core's decoder copies RDX, R8 and XMM0-XMM5
// for every call whose shape is ENLIGHT_HC_XMM_FAST, and under
// hv-enforce-cpuid raises #UD for such a call unless this bit is advertised
// (core/src/bus/hypercall_decoder.cpp, as KVM's kvm_hv_hypercall does). The
// plugin is the bit, so that the flag means what it means under QEMU+KVM.
#include <enlight/plugin.hpp>

namespace {

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p) : VmBase(p) {
    cpuid_bits({HV_CPUID_FEATURES, ENLIGHT_EDX, HV_FEATURE_XMM_HYPERCALL_INPUT_AVAILABLE});
  }
};
struct Vcpu : enlight::VcpuBase<Vm> {
  using VcpuBase::VcpuBase;
};

}  // namespace

ENLIGHT_PLUGIN(enlight::Plugin<Vm, Vcpu>{})
