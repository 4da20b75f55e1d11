// hv-reset: HV_X64_MSR_RESET, through which the guest asks for a system
// reset (TLFS privilege AccessResetReg; the register layout is Linux's and
// KVM's, the TLFS pages describe only the privilege).
#include <enlight/plugin.hpp>

namespace {

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p) : VmBase(p) {
    cpuid_bits({HV_CPUID_FEATURES, ENLIGHT_EAX, HV_ACCESS_RESET_REG});
  }
};

struct Vcpu : enlight::VcpuBase<Vm> {
  using VcpuBase::VcpuBase;
};

// Reads 0, as in KVM: the register is a trigger, it holds no state.
enlight_access_result read_reset(Vcpu&, uint32_t, uint64_t& value, enlight_origin) {
  value = 0;
  return ENLIGHT_ACCESS_OK;
}

// Bit 0 requests the reset; every other bit is ignored (choice: KVM resets
// only on the exact value 1; we key on the documented bit, so a guest that
// sets it alongside bits with no defined meaning still gets its reset).
// Writing 0 is an accepted no-op. A host write is a restore of a register
// that holds nothing, so it never resets (choice: KVM resets on a host
// write of 1 too, which a snapshot restore would never want).
enlight_access_result write_reset(Vcpu& v, uint32_t, uint64_t value, enlight_origin origin) {
  if (origin == ENLIGHT_ORIGIN_GUEST && (value & HV_X64_MSR_RESET_SYSTEM))
    v.vm().request_stop(ENLIGHT_STOP_GUEST_RESET, "guest requested a system reset through HV_X64_MSR_RESET");
  return ENLIGHT_ACCESS_OK;
}

constexpr std::array kMsrs{enlight::msr<read_reset, write_reset>(HV_X64_MSR_RESET)};

}  // namespace

ENLIGHT_PLUGIN(enlight::Plugin<Vm, Vcpu>{.msrs = kMsrs})
