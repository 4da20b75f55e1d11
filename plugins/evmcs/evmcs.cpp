// hv-evmcs: the enlightened VMCS (TLFS Feature Discovery: 0x40000004.EAX
// bit 14 "recommend enlightened VMCS"; nested optimizations leaf 0x4000000A
// EAX 7:0 and 15:8 the lowest and highest eVMCS version supported). A
// hypervisor in the guest (Hyper-V, or KVM on Hyper-V) then keeps its
// VMCS in guest memory in the eVMCS layout, names it in its VP assist page
// and skips VMREAD/VMWRITE.
//
// The L0 side is KVM's nested VMX (arch/x86/kvm/vmx/hyperv_evmcs.c,
// nested_vmx_handle_enlightened_vmptrld). The kvm backend enables it on
// every vCPU with KVM_CAP_HYPERV_ENLIGHTENED_VMCS and checks that the range
// KVM returns covers version 1, as QEMU's hyperv_init_vcpu does; the
// manifest's host-features keep every other backend and AMD hosts out.
// This plugin is the CPUID QEMU gives for hv-evmcs: version range 1..1
// (0x0101) whatever KVM offers, so that the guest sees the same on every
// host (QEMU hardcodes it "so 'hv-evmcs' feature is migratable").
#include <enlight/plugin.hpp>

namespace {

constexpr uint32_t kVersionRange = (KVM_EVMCS_VERSION << HV_NESTED_EVMCS_VERSION_HIGH_SHIFT) |
                                   (KVM_EVMCS_VERSION << HV_NESTED_EVMCS_VERSION_LOW_SHIFT);
static_assert(kVersionRange == 0x0101, "QEMU's DEFAULT_EVMCS_VERSION");

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p) : VmBase(p) {
    cpuid_bits({HV_CPUID_ENLIGHTENMENT_INFO, ENLIGHT_EAX, HV_RECOMMEND_ENLIGHTENED_VMCS});
    cpuid_field({HV_CPUID_NESTED_OPTIMIZATIONS, ENLIGHT_EAX,
                 HV_NESTED_EVMCS_VERSION_LOW_MASK | HV_NESTED_EVMCS_VERSION_HIGH_MASK},
                kVersionRange);
  }
};
struct Vcpu : enlight::VcpuBase<Vm> {
  using VcpuBase::VcpuBase;
};

}  // namespace

ENLIGHT_PLUGIN(enlight::Plugin<Vm, Vcpu>{})
