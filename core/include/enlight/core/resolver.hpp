// Resolution: from a Profile and a Catalog to the ordered, checked set of
// plugins a VM will load. Pure: it reads manifests only, loads nothing.
#pragma once

#include <enlight/core/catalog.hpp>
#include <enlight/core/manifest.hpp>
#include <enlight/core/profile.hpp>

#include <string>
#include <vector>

namespace enlight {

// What a backend can do; resolution refuses plugins that need more.
// One Hyper-V CPUID leaf as a host reports it supported.
struct HvCpuidLeaf {
  uint32_t leaf = 0;
  uint32_t regs[4] = {};  // eax, ebx, ecx, edx (enlight_cpuid_reg order)
};

struct BackendCaps {
  std::string name;                           // "direct", "emu", "kvm"
  std::vector<std::string> features;          // e.g. "intel-vmx", "in-kernel-lapic"
  // Plugins the backend can run. Empty means every plugin (direct backend).
  bool supports_all = true;
  // What hv-passthrough may turn on, as QEMU's hv-passthrough takes it:
  // the host's Hyper-V CPUID bits (kvm: KVM_GET_SUPPORTED_HV_CPUID). A
  // plugin is passed through when each of its CPUID claims lies within
  // them. Unused unless narrows_passthrough; then, if the host cannot say
  // (hv_supported_missing says why), hv-passthrough is refused.
  bool narrows_passthrough = false;
  std::vector<HvCpuidLeaf> hv_supported;
  std::string hv_supported_missing;
};

struct TypedOption {
  std::string name;
  int type = 0;          // enlight_option_type
  uint64_t u64 = 0;      // bool and u64
  std::string str;
};

struct ResolvedPlugin {
  const Manifest* manifest = nullptr;  // in the Catalog given to resolve(): keep it alive
  std::vector<TypedOption> options;  // every option of the manifest, defaults filled
  std::string why;                   // "profile", "required by stimer", "hv-passthrough"
  std::string offload;               // the backend doing this plugin's work ("kvm"), or empty
};

struct Resolution {
  std::vector<ResolvedPlugin> plugins;  // dependency order: providers first, ties by name
  std::vector<std::string> warnings;    // unmet recommends, shadowed manifests
  bool enforce_cpuid = false;
  bool passthrough = false;
  uint32_t vcpus = 1;
};

// Throws ConfigError, naming the file and line, the plugins involved and the
// fix, for: unknown plugin, unknown or ill-typed option, unmet requires
// (missing or wrong version), conflicts, cycles, overlapping claims (MSR,
// hypercall code, I/O port, CPUID field), ABI mismatch in a manifest, and a
// host feature the backend lacks.
Resolution resolve(const Profile& profile, const Catalog& catalog, const BackendCaps& caps);

}  // namespace enlight
