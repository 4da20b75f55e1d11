// hv-tlbflush-direct: "direct virtual flush hypercalls" (TLFS Feature
// Discovery, nested optimizations leaf 0x4000000A.EAX bit 17). A hypervisor
// in the guest may let its own guest (L2) send HvCallFlushVirtualAddress*
// straight to L0, enabling it in its VP assist page and eVMCS/VMCB.
//
// L0 is KVM's nested virtualization (kvm_hv_is_tlb_flush_hcall and
// guest_hv_cpuid_has_l2_tlb_flush read this bit from the CPUID it was
// given); enlight only advertises it. QEMU requires hv-vapic for it, since
// the L1 turns it on in the VP assist page: so does the manifest.
#include <enlight/plugin.hpp>

namespace {

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p) : VmBase(p) {
    cpuid_bits({HV_CPUID_NESTED_OPTIMIZATIONS, ENLIGHT_EAX, HV_NESTED_DIRECT_FLUSH});
  }
};
struct Vcpu : enlight::VcpuBase<Vm> {
  using VcpuBase::VcpuBase;
};

}  // namespace

ENLIGHT_PLUGIN(enlight::Plugin<Vm, Vcpu>{})
