// hv-runtime: HV_X64_MSR_VP_RUNTIME, the time a virtual processor has run,
// in 100 ns units (TLFS "Virtual Processor Run Time"; index from Linux, as
// the TLFS names the register without giving its number). The guest uses it
// to tell how much time was stolen from it while it was descheduled.
#include <enlight/plugin.hpp>

namespace {

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p) : VmBase(p) {
    cpuid_bits({HV_CPUID_FEATURES, ENLIGHT_EAX, HV_ACCESS_VP_RUNTIME_REG});
  }
};

struct Vcpu : enlight::VcpuBase<Vm> {
  using VcpuBase::VcpuBase;
  // Added to the host's run time so that a restored VP keeps counting from
  // its saved value (KVM's runtime_offset). Unsigned wrap-around is the
  // intended arithmetic: the offset may be "negative".
  uint64_t offset = 0;

  // Saved state: the VP's run time as the guest reads it. The backend's run
  // time restarts at 0 in the restored VM, so the load sets the offset as a
  // host write does: the next read returns the saved value and counts on.
  // Every 64-bit value is one a host write accepts.
  void save(enlight::StateWriter& w) const { w.put(vm().vcpu_runtime(index()) + offset); }
  void load(enlight::StateReader& r) {
    const uint64_t value = r.get<uint64_t>();
    if (r.complete()) offset = value - vm().vcpu_runtime(index());
  }
};

enlight_access_result read_runtime(Vcpu& v, uint32_t, uint64_t& value, enlight_origin) {
  value = v.vm().vcpu_runtime(v.index()) + v.offset;
  return ENLIGHT_ACCESS_OK;
}

// Read-only to the guest (TLFS; KVM #GPs). A host write sets the offset so
// that the next read returns the written value, as KVM does for restore.
enlight_access_result write_runtime(Vcpu& v, uint32_t, uint64_t value, enlight_origin origin) {
  if (origin != ENLIGHT_ORIGIN_HOST) return ENLIGHT_ACCESS_GP;
  v.offset = value - v.vm().vcpu_runtime(v.index());
  return ENLIGHT_ACCESS_OK;
}

constexpr std::array kMsrs{enlight::msr<read_runtime, write_runtime>(HV_X64_MSR_VP_RUNTIME)};

}  // namespace

ENLIGHT_PLUGIN(enlight::Plugin<Vm, Vcpu>{.msrs = kMsrs})
