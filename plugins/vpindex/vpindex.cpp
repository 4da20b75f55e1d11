// hv-vpindex: HV_X64_MSR_VP_INDEX (TLFS "Virtual Processor Index").
//
// Each vCPU reads its own VP index; the guest cannot write it (#GP), the
// host can, to restore a snapshot or to give a vCPU the index another VMM
// assigned (KVM_CAP_HYPERV_VP_INDEX does the same for KVM). The core keeps
// the same table (ABI 1.2 vp_index_set), so the VP index a hypercall's
// handler sees and the one other plugins map back to a vCPU are the one
// the guest reads here.
#include <enlight/plugin.hpp>

#include <vector>

namespace {


struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p) : VmBase(p), vp_index(p.vcpu_count) {
    for (uint32_t i = 0; i < p.vcpu_count; ++i) vp_index[i] = i;
    cpuid_bits({HV_CPUID_FEATURES, ENLIGHT_EAX, HV_ACCESS_VP_INDEX});
  }
  std::vector<uint32_t> vp_index;  // by vCPU
};

struct Vcpu : enlight::VcpuBase<Vm> {
  using VcpuBase::VcpuBase;
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
