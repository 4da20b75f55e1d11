// hv-emsr-bitmap: "enlightened MSR bitmap" (TLFS Feature Discovery, nested
// optimizations leaf 0x4000000A.EAX bit 19). A hypervisor in the guest may
// then mark its L2's MSR bitmap unchanged (an eVMCS clean field on Intel,
// the VMCB enlightenments on AMD), and L0 skips re-merging it.
//
// L0 is KVM's nested virtualization, which reads the bit from the CPUID it
// was given; enlight has no nested virtualization of its own, so this plugin
// only advertises the bit. The composer raises 0x40000000.EAX to
// 0x4000000A because this leaf is claimed (core/src/bus/cpuid_table.cpp),
// as QEMU's hyperv_fill_cpuids does for any non-zero 0x4000000A.EAX.
#include <enlight/plugin.hpp>

namespace {

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p) : VmBase(p) {
    cpuid_bits({HV_CPUID_NESTED_OPTIMIZATIONS, ENLIGHT_EAX, HV_NESTED_MSR_BITMAP});
  }
};
struct Vcpu : enlight::VcpuBase<Vm> {
  using VcpuBase::VcpuBase;
};

}  // namespace

ENLIGHT_PLUGIN(enlight::Plugin<Vm, Vcpu>{})
