// hv-frequencies: HV_X64_MSR_TSC_FREQUENCY and HV_X64_MSR_APIC_FREQUENCY,
// the TSC and local-APIC timer frequencies in Hz (TLFS "Feature Discovery":
// privilege AccessFrequencyRegs, feature "timer frequency MSRs"). A guest
// reads them instead of calibrating against a platform timer.
#include <enlight/plugin.hpp>

namespace {

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p) : VmBase(p) {
    // QEMU sets both bits for hv-frequencies: the privilege (EAX) gates the
    // MSRs, the feature bit (EDX) is what older guests look for.
    cpuid_bits({HV_CPUID_FEATURES, ENLIGHT_EAX, HV_ACCESS_FREQUENCY_REGS});
    cpuid_bits({HV_CPUID_FEATURES, ENLIGHT_EDX, HV_FEATURE_FREQUENCY_REGS_AVAILABLE});
  }
};

struct Vcpu : enlight::VcpuBase<Vm> {
  using VcpuBase::VcpuBase;
};

enlight_access_result read_frequency(Vcpu& v, uint32_t index, uint64_t& value, enlight_origin) {
  value = index == HV_X64_MSR_TSC_FREQUENCY ? v.vm().tsc_frequency_hz() : v.vm().apic_frequency_hz();
  return ENLIGHT_ACCESS_OK;
}

// Read-only to the guest (TLFS; KVM #GPs). A host write is accepted and
// ignored, as in KVM: the frequencies are the host's, a restore cannot set
// them.
enlight_access_result write_frequency(Vcpu&, uint32_t, uint64_t, enlight_origin origin) {
  return origin == ENLIGHT_ORIGIN_HOST ? ENLIGHT_ACCESS_OK : ENLIGHT_ACCESS_GP;
}

constexpr std::array kMsrs{
    enlight::msr<read_frequency, write_frequency>(HV_X64_MSR_TSC_FREQUENCY, HV_X64_MSR_APIC_FREQUENCY)};

}  // namespace

ENLIGHT_PLUGIN(enlight::Plugin<Vm, Vcpu>{.msrs = kMsrs})
