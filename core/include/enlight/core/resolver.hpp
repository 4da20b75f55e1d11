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
struct BackendCaps {
  std::string name;                           // "direct", "emu", "kvm"
  std::vector<std::string> features;          // e.g. "intel-vmx", "in-kernel-lapic"
  // Plugins the backend can run. Empty means every plugin (direct backend).
  bool supports_all = true;
};

struct TypedOption {
  std::string name;
  int type = 0;          // enlight_option_type
  uint64_t u64 = 0;      // bool and u64
  std::string str;
};

struct ResolvedPlugin {
  const Manifest* manifest = nullptr;
  std::vector<TypedOption> options;  // every option of the manifest, defaults filled
  std::string why;                   // "profile", "required by stimer", "hv-passthrough"
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
