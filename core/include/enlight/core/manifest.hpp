// A plugin manifest (manifests/<name>.yaml): what a plugin is, what it needs,
// what part of the bus it claims, its options. docs/manifest-format.md is the
// reference; every field keeps the line it came from for error messages.
#pragma once

#include <enlight/core/config_error.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace enlight {

struct Version {
  uint32_t major = 0, minor = 0, patch = 0;
  auto operator<=>(const Version&) const = default;
  std::string str() const;
  // "1", "1.2", "1.2.3"; throws std::invalid_argument.
  static Version parse(const std::string& text);
};

// A conjunction of comparisons: ">=1.0 <2", "=1.2.0", "" (anything).
struct VersionRange {
  struct Bound {
    enum class Op { Eq, Ge, Gt, Le, Lt } op;
    Version version;
  };
  std::vector<Bound> bounds;
  std::string text;
  bool contains(const Version& v) const;
  static VersionRange parse(const std::string& text);  // throws std::invalid_argument
};

// "synic >=1.0 <2"
struct Dependency {
  std::string name;
  VersionRange range;
  SourceLocation where;
};

// A CPUID gate: the privilege or feature bit that must be advertised for an
// access to be allowed under hv-enforce-cpuid. Written "0x40000003.eax[6]".
struct CpuidGate {
  uint32_t leaf = 0;
  uint8_t reg = 0;  // enlight_cpuid_reg
  uint8_t bit = 0;
  std::string str() const;
};

struct MsrClaim {
  uint32_t first = 0, last = 0;
  std::optional<CpuidGate> gate;
  // `default: true`: the plugin answers these MSRs only while no enabled
  // plugin claims them (as a CPUID default is used only while no plugin
  // owns the field). Synthetic range only. identity's VP assist page: a
  // Linux guest writes it whatever CPUID says (docs/manifest-format.md).
  bool fallback = false;
  SourceLocation where;
};

struct HypercallClaim {
  uint16_t code = 0;
  std::optional<CpuidGate> gate;
  SourceLocation where;
};

struct IoClaim {
  uint16_t first = 0, last = 0;
  SourceLocation where;
};

struct CpuidClaim {
  uint32_t leaf = 0;
  uint32_t subleaf = 0;
  uint8_t reg = 0;   // enlight_cpuid_reg
  uint8_t kind = 0;  // enlight_cpuid_kind
  uint32_t mask = 0;
  SourceLocation where;
};

struct OptionSpec {
  enum class Type { Bool, U64, String } type = Type::Bool;
  std::string name;
  std::string description;
  // Default, as the typed value.
  bool default_bool = false;
  uint64_t default_u64 = 0;
  std::string default_string;
  std::optional<uint64_t> min, max;  // U64 bounds, inclusive
  std::optional<uint32_t> max_length;  // String
  // A QEMU-style flag that sets this option without enabling the plugin
  // (hv-vendor-id=...), or enabling it when `enables` is true (hv-spinlocks=N).
  std::string flag;
  bool flag_enables = false;
  SourceLocation where;
};

// A device the plugin adds to the PC machine's ACPI namespace, in \_SB
// (manifest key `acpi-devices`), for guests that find a device through
// ACPI, as Linux's hv_vmbus finds VMBus (docs/manifest-format.md). The
// core writes Device(NAME) { _HID, _UID, [_DDN], _STA, _CRS } from it.
struct AcpiDeviceDecl {
  std::string name;  // ACPI name segment, 1-4 of A-Z 0-9 _, not starting with a digit
  std::string hid;   // _HID: an EISA id ("PNP0501") is encoded as one, anything else as a string
  uint32_t uid = 0;  // _UID
  std::string ddn;   // _DDN, empty: none
  int irq = -1;      // _CRS IRQNoFlags (0-15); -1: an empty resource template
  SourceLocation where;
};

struct Manifest {
  std::string name;
  Version version;
  uint32_t abi = 0;
  std::string description;
  std::string flag;      // QEMU flag that enables it ("hv-vpindex"), may be empty
  std::string library;   // file name of the shared object, relative to the manifest
  std::string status;    // stable | experimental | example
  std::string security;  // robust-to-untrusted-guest | trusted-guest-only | unknown
  // What a snapshot does with the plugin's state (docs/snapshots.md):
  // saved (its descriptor's vm_save/vcpu_save), stateless (nothing beyond
  // its options), unsupported (state it cannot save: a snapshot of a VM
  // with it is refused), unknown (the manifest does not say: refused too).
  std::string snapshot;
  bool implicit = false;     // enabled automatically when another enabled plugin requires it
  bool passthrough = false;  // enabled by hv-passthrough when the backend supports it
  std::vector<std::string> host_features;  // backend capabilities needed ("intel-vmx")
  // Backends that can do this plugin's work themselves ("kvm": KVM's
  // in-kernel Hyper-V code), for a profile's `offload:` (docs/kvm-backend.md).
  std::vector<std::string> offload;
  std::vector<Dependency> requires_;
  std::vector<Dependency> recommends;
  std::vector<Dependency> conflicts;
  std::vector<MsrClaim> msrs;
  std::vector<HypercallClaim> hypercalls;
  std::vector<IoClaim> io_ports;
  std::vector<CpuidClaim> cpuid;
  std::vector<OptionSpec> options;
  std::vector<AcpiDeviceDecl> acpi_devices;

  std::string path;        // where it was read from
  std::string directory;   // for resolving `library`
  SourceLocation where;    // the document itself (line 1)
  bool embedded = false;   // compiled into the binary (static build)
  // Where each top-level key was written ("abi", "host-features", ...), so
  // resolution can point at the exact line it refuses.
  std::map<std::string, SourceLocation> key_where;

  const OptionSpec* find_option(const std::string& option) const;
  // key_where[key], or `where` when the key was not written.
  SourceLocation where_of(const std::string& key) const;
};

// Parses one manifest. `path` is used for messages and to resolve `library`.
// Throws ConfigError naming the file, line and fix for malformed YAML,
// unknown keys, wrong types, bad numbers and bad version ranges.
Manifest parse_manifest(const std::string& text, const std::string& path);
Manifest load_manifest_file(const std::string& path);

}  // namespace enlight
