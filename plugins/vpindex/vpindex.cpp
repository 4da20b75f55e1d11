// hv-vpindex: HV_X64_MSR_VP_INDEX (TLFS "Virtual Processor Index").
//
// Each vCPU reads its own VP index; the guest cannot write it (#GP), the
// host can, to restore a snapshot or to give a vCPU the index another VMM
// assigned (KVM_CAP_HYPERV_VP_INDEX does the same for KVM). The core keeps
// the same table (ABI 1.2 vp_index_set), so the VP index a hypercall's
// handler sees and the one other plugins map back to a vCPU are the one
// the guest reads here.
//
// Option `base`: vCPU n starts with VP index base + n instead of n. A guest
// must take its VP indexes from this MSR (Linux fills hv_vp_index[] so),
// and this is how a test with two vCPUs reaches VP indexes above 63: bank
// 1 of an HV_VP_SET, which no 64-bit ProcessorMask can name.
#include <enlight/plugin.hpp>

#include <string>
#include <vector>

namespace {

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p)
      : VmBase(p), base(option(enlight::this_plugin::options::base)), vp_index(p.vcpu_count) {
    // The highest index, base + vcpus - 1, must stay below HV_VP_INDEX_SELF
    // (0xFFFFFFFE, "the caller" in hypercalls; 0xFFFFFFFF is HV_ANY_VP).
    if (base > uint64_t{HV_VP_INDEX_SELF} - p.vcpu_count)
      throw enlight::PluginError("option base " + std::to_string(base) + " with " + std::to_string(p.vcpu_count) +
                                 " vCPUs gives VP indexes up to " + std::to_string(base + p.vcpu_count - 1) +
                                 ", which reach HV_VP_INDEX_SELF (4294967294); fix: base <= " +
                                 std::to_string(uint64_t{HV_VP_INDEX_SELF} - p.vcpu_count));
    // Without the core's table (ABI < 1.2) hypercalls would name VPs by
    // vCPU number while the guest reads base + n: refuse, do not diverge.
    if (base != 0 && !host_has_1_2())
      throw enlight::PluginError("option base needs plugin ABI 1.2 (vp_index_set); this enlight core is older");
    for (uint32_t i = 0; i < p.vcpu_count; ++i) vp_index[i] = static_cast<uint32_t>(base + i);
    cpuid_bits({HV_CPUID_FEATURES, ENLIGHT_EAX, HV_ACCESS_VP_INDEX});
  }
  const uint64_t base;
  std::vector<uint32_t> vp_index;  // by vCPU
};

struct Vcpu : enlight::VcpuBase<Vm> {
  // The core's table learns the index as the vCPU is created, before any
  // hypercall can name it (the core's default is the vCPU number).
  Vcpu(Vm& vm, uint32_t index) : VcpuBase(vm, index) {
    if (vm.base != 0 && !vm.set_vp_index(index, vm.vp_index[index]))
      throw enlight::PluginError("the core refused VP index " + std::to_string(vm.vp_index[index]) + " for vCPU " +
                                 std::to_string(index));
  }
};

enlight_access_result read_vp_index(Vcpu& v, uint32_t, uint64_t& value, enlight_origin) {
  value = v.vm().vp_index[v.index()];
  return ENLIGHT_ACCESS_OK;
}

enlight_access_result write_vp_index(Vcpu& v, uint32_t, uint64_t value, enlight_origin origin) {
  // TLFS: read-only to the guest. The host may set any index below
  // HV_VP_INDEX_SELF (0xFFFFFFFE), which is reserved as "the caller".
  if (origin != ENLIGHT_ORIGIN_HOST || value >= HV_VP_INDEX_SELF) return ENLIGHT_ACCESS_GP;
  // An older core (ABI < 1.2) keeps no table: its hypercalls then carry
  // the vCPU number, which stays right only while no index is moved.
  if (v.vm().host_has_1_2() && !v.vm().set_vp_index(v.index(), static_cast<uint32_t>(value))) return ENLIGHT_ACCESS_GP;
  v.vm().vp_index[v.index()] = static_cast<uint32_t>(value);
  return ENLIGHT_ACCESS_OK;
}

constexpr std::array kMsrs{enlight::msr<read_vp_index, write_vp_index>(HV_X64_MSR_VP_INDEX)};

}  // namespace

ENLIGHT_PLUGIN(enlight::Plugin<Vm, Vcpu>{.msrs = kMsrs})
