// What the user asks for: a VM profile (YAML) or QEMU-style flags. Both turn
// into one Profile; resolution then checks it against the catalog.
#pragma once

#include <enlight/core/config_error.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace enlight {

class Catalog;

struct OptionValue {
  std::string text;      // as written; typed against the manifest at resolve time
  SourceLocation where;
};

struct PluginRequest {
  std::string name;
  std::map<std::string, OptionValue> options;
  SourceLocation where;
  // `offload: kvm` in the entry (or `enlight run --offload`): the backend
  // does this plugin's work itself. Empty: enlight's plugin does it.
  std::string offload;
  SourceLocation offload_where;
};

// The machine a profile boots instead of a built-in guest program: an
// operating system kernel on the PC machine (docs/machine.md). Relative
// paths in a profile file are relative to the file's directory.
struct MachineRequest {
  std::string kernel;        // a bzImage; empty: run a guest program instead
  std::string initrd;
  std::string append;        // the kernel command line
  bool has_append = false;   // `append:` given (an empty command line is a choice)
  std::string serial;        // COM1's output file; empty: stdout
  uint64_t memory = 0;       // bytes; 0: the default
  SourceLocation where;      // the first machine key, for errors about the set as a whole
};

// "256M", "1G", "512MiB", "268435456": bytes. K/M/G (or KiB/MiB/GiB) are
// powers of 1024. Throws std::invalid_argument with a message naming
// `text`, or std::out_of_range above 1 TiB.
uint64_t parse_memory_size(const std::string& text);

struct Profile {
  std::string name;
  std::string source;                    // file path, "<flags>" or "<embedded>/recommended.yaml"
  std::vector<PluginRequest> plugins;    // in the order written
  // Options set for plugins that the profile does not enable itself (QEMU's
  // hv-vendor-id alone does not turn Hyper-V on); applied if they end up
  // enabled.
  std::vector<PluginRequest> option_only;
  bool passthrough = false;              // hv-passthrough
  SourceLocation passthrough_where;      // where it was asked for
  bool enforce_cpuid = false;            // hv-enforce-cpuid
  uint32_t vcpus = 1;
  MachineRequest machine;
};

// Parses a profile document:
//   name: recommended
//   vcpus: 2
//   enforce-cpuid: false
//   passthrough: false
//   kernel: vmlinuz            # optional: boot this kernel (with initrd,
//   initrd: initrd.img         # append, memory, serial) on the PC machine
//   append: console=ttyS0
//   memory: 256M
//   enlightenments:
//     - relaxed
//     - spinlocks: { retries: 0x1fff }
Profile parse_profile(const std::string& text, const std::string& path);
Profile load_profile_file(const std::string& path);

// Parses "hv-relaxed,hv_vpindex,hv-spinlocks=0xfff,hv-vendor-id=KVMKVMKVM,
// hv-passthrough,hv-enforce-cpuid". Flags are looked up in the catalog's
// manifests (`flag:` and option `flag:` keys); '-' and '_' are the same.
// Unknown flags throw ConfigError naming the flag and the closest known one.
Profile parse_cpu_flags(const std::string& flags, const Catalog& catalog);

// The profiles compiled into the binary (manifests/profiles/*.yaml).
// "default" is an alias for the one `enlight run` boots.
const std::map<std::string, std::string>& embedded_profiles();
std::string default_profile_name();

// A profile argument: a path to a file, or the name of an embedded profile.
Profile load_profile(const std::string& name_or_path);

}  // namespace enlight
