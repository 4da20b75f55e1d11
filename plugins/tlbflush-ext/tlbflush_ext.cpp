// hv-tlbflush-ext: "extended GVA ranges for HvCallFlushVirtualAddressList"
// (TLFS Feature Discovery, 0x40000003.EDX bit 14): the guest may set
// HV_FLUSH_USE_EXTENDED_RANGE_FORMAT in the List calls' flags.
//
// The flush calls are the tlbflush plugin's (hence `requires: tlbflush`, as
// QEMU's hv-tlbflush-ext requires hv-tlbflush). The extended entry layout is
// not in the TLFS snapshot; KVM accepts the flag and reads every entry in
// the simple format (kvm_hv_flush_tlb), and the tlbflush plugin accepts it
// and flushes the whole TLB, which covers any range in either format. This
// plugin only advertises the bit.
#include <enlight/plugin.hpp>

namespace {

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p) : VmBase(p) {
    cpuid_bits({HV_CPUID_FEATURES, ENLIGHT_EDX, HV_FEATURE_EXTENDED_GVA_RANGES_FLUSH_AVAILABLE});
  }
};
struct Vcpu : enlight::VcpuBase<Vm> {
  using VcpuBase::VcpuBase;
};

}  // namespace

ENLIGHT_PLUGIN(enlight::Plugin<Vm, Vcpu>{})
