// hv-no-nonarch-coresharing=on|off|auto: the NoNonArchitecturalCoreSharing
// recommendation (TLFS Feature Discovery, 0x40000004.EAX bit 18): "a
// virtual processor will never share a physical core with another virtual
// processor, except for virtual processors that are reported as sibling
// SMT threads". Linux then skips its core-scheduling mitigations.
//
// As QEMU's hyperv_fill_cpuids: mode on sets the bit, auto copies bit 18 of
// KVM's KVM_GET_SUPPORTED_HV_CPUID (KVM sets it when SMT is impossible on the
// host, !cpu_smt_possible()), off sets nothing (hv-no-nonarch-coresharing=off
// turns the plugin off altogether, in the flag parser, so that it does not
// turn Hyper-V on by itself; a profile's mode: off leaves the plugin on
// without the bit). What KVM reports arrives in the option host-reports,
// which the kvm backend fills in (core/src/backend/kvm/kvm_vm.cpp).
//
// The TLFS and QEMU say nothing of a host that has no KVM to ask (the emu
// and direct backends, or a KVM without KVM_GET_SUPPORTED_HV_CPUID, as PVM's):
// there auto is off, with a warning. Choice: the bit is a promise about the
// host, and without an answer the safe promise is none; QEMU's own fallback
// without KVM_CAP_HYPERV_CPUID (get_supported_hv_cpuid_legacy) reports no
// bit 18 either, so its auto is off there too.
#include <enlight/plugin.hpp>

#include <string>
#include <string_view>

namespace {

namespace options = enlight::this_plugin::options;

struct Vm : enlight::VmBase {
  explicit Vm(const enlight_vm_params& p) : VmBase(p) {
    const std::string_view mode = option(options::mode);
    const std::string_view host = option(options::host_reports);
    if (host != "on" && host != "off" && host != "unknown") {
      fail("no-nonarch-coresharing: option host-reports is '" + std::string(host) +
           "', which is none of on, off, unknown\n  fix: leave host-reports unset (the kvm backend sets it)");
      return;
    }
    if (mode == "on") {
      set();
    } else if (mode == "auto") {
      if (host == "on") set();
      else if (host == "unknown")
        log(1, "hv-no-nonarch-coresharing=auto: no KVM reports the host's SMT state here (KVM_GET_SUPPORTED_HV_CPUID), "
               "so 0x40000004.EAX bit 18 stays clear; write hv-no-nonarch-coresharing=on to promise it yourself");
    } else if (mode != "off") {
      fail("no-nonarch-coresharing: mode '" + std::string(mode) +
           "' is none of on, off, auto\n  fix: write hv-no-nonarch-coresharing=on, =off or =auto (in a profile: "
           "- no-nonarch-coresharing: { mode: auto })");
    }
  }
  void set() { cpuid_bits({HV_CPUID_ENLIGHTENMENT_INFO, ENLIGHT_EAX, HV_RECOMMEND_NO_NON_ARCHITECTURAL_CORE_SHARING}); }
};
struct Vcpu : enlight::VcpuBase<Vm> {
  using VcpuBase::VcpuBase;
};

}  // namespace

ENLIGHT_PLUGIN(enlight::Plugin<Vm, Vcpu>{})
