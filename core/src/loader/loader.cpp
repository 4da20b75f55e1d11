// Plugin loading through Boost.DLL, and the checks that a binary is the
// plugin its manifest describes. Every failure is its own LoadError kind.
#include <enlight/core/loader.hpp>

#include <boost/dll/shared_library.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <tuple>

namespace enlight {

struct LoadedLibrary {
  boost::dll::shared_library library;
};

namespace {

std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llX", static_cast<unsigned long long>(v));
  return b;
}

// Merged, sorted [first, last] ranges: claims compare as sets of indices,
// however either side splits them.
template <class T>
std::vector<std::pair<T, T>> normalise(std::vector<std::pair<T, T>> ranges) {
  std::sort(ranges.begin(), ranges.end());
  std::vector<std::pair<T, T>> out;
  for (const auto& r : ranges) {
    if (!out.empty() && static_cast<uint64_t>(r.first) <= static_cast<uint64_t>(out.back().second) + 1)
      out.back().second = std::max(out.back().second, r.second);
    else
      out.push_back(r);
  }
  return out;
}

template <class T>
std::string describe(const std::vector<std::pair<T, T>>& ranges) {
  std::string s;
  for (const auto& r : ranges) {
    if (!s.empty()) s += ", ";
    s += r.first == r.second ? hex(r.first) : hex(r.first) + "-" + hex(r.second);
  }
  return s.empty() ? "none" : s;
}

[[noreturn]] void mismatch(const Manifest& m, const std::string& origin, const std::string& what,
                           const std::string& binary, const std::string& manifest) {
  throw LoadError(LoadError::Kind::ClaimMismatch, {m.path, m.where.line},
                  "plugin '" + m.name + "': the " + what + " claimed by the binary (" + origin + ") differ from its manifest:\n" +
                      "  binary:   " + binary + "\n  manifest: " + manifest,
                  "rebuild the plugin, or make the manifest's claims list exactly what the binary handles");
}

std::string read_error(const Manifest& m, const std::string& origin, const char* what) {
  return "plugin '" + m.name + "' (" + origin + "): " + what;
}

}  // namespace

void check_descriptor(const Manifest& m, const enlight_plugin_descriptor* d, const std::string& origin) {
  const SourceLocation where{m.path, m.where.line};
  if (d == nullptr)
    throw LoadError(LoadError::Kind::EntryReturnedNull, where, read_error(m, origin, "the entry point returned no descriptor"),
                    "return the address of a static descriptor (ENLIGHT_PLUGIN does this)");
  if (d->abi_major != ENLIGHT_ABI_MAJOR)
    throw LoadError(LoadError::Kind::AbiMismatch, where,
                    read_error(m, origin, ("was built for plugin ABI " + std::to_string(d->abi_major) + "." +
                                           std::to_string(d->abi_minor) + "; this enlight speaks ABI " +
                                           std::to_string(ENLIGHT_ABI_MAJOR) + ".x")
                                              .c_str()),
                    "rebuild the plugin against this enlight's SDK");
  if (d->size < sizeof(enlight_plugin_descriptor))
    throw LoadError(LoadError::Kind::DescriptorTooSmall, where,
                    read_error(m, origin, "descriptor is smaller than ABI 1.0 requires"),
                    "rebuild the plugin against this enlight's SDK");
  if (d->name == nullptr || m.name != d->name)
    throw LoadError(LoadError::Kind::NameMismatch, where,
                    read_error(m, origin, ("calls itself '" + std::string(d->name ? d->name : "(null)") +
                                           "' but its manifest names '" + m.name + "'")
                                              .c_str()),
                    "point 'library:' in the manifest at the right binary");
  if (d->version == nullptr || m.version.str() != d->version)
    throw LoadError(LoadError::Kind::VersionMismatch, where,
                    read_error(m, origin, ("is version " + std::string(d->version ? d->version : "(null)") +
                                           " but its manifest says " + m.version.str())
                                              .c_str()),
                    "install the manifest that came with this binary");
  if ((d->msr_count && !d->msrs) || (d->hypercall_count && !d->hypercalls) || (d->io_port_count && !d->io_ports) ||
      (d->cpuid_count && !d->cpuid))
    throw LoadError(LoadError::Kind::Malformed, where, read_error(m, origin, "descriptor has a claim count without its array"),
                    "fix the plugin's descriptor");

  // The manifest's `snapshot:` and the binary agree: a plugin that says it
  // saves has a save call, one that says it has nothing to save has none.
  const bool saves = d->vm_save != nullptr || d->vcpu_save != nullptr;
  if ((d->vm_save != nullptr) != (d->vm_load != nullptr) || (d->vcpu_save != nullptr) != (d->vcpu_load != nullptr))
    throw LoadError(LoadError::Kind::Malformed, where, read_error(m, origin, "the descriptor has a save call without its load call"),
                    "give every save its load (the SDK's save/load members do both)");
  if (m.snapshot == "saved" && !saves)
    throw LoadError(LoadError::Kind::ClaimMismatch, where,
                    read_error(m, origin, "the manifest says 'snapshot: saved' but the binary has no vm_save or vcpu_save"),
                    "give the plugin's Vm or Vcpu save/load members, or say 'snapshot: stateless' (docs/snapshots.md)");
  if ((m.snapshot == "stateless" || m.snapshot == "unsupported") && saves)
    throw LoadError(LoadError::Kind::ClaimMismatch, where,
                    read_error(m, origin, ("the manifest says 'snapshot: " + m.snapshot + "' but the binary saves state").c_str()),
                    "say 'snapshot: saved' in the manifest");

  using R32 = std::pair<uint32_t, uint32_t>;
  std::vector<R32> bin, man;
  for (uint32_t i = 0; i < d->msr_count; ++i) {
    if (d->msrs[i].first > d->msrs[i].last || (!d->msrs[i].read && !d->msrs[i].write))
      throw LoadError(LoadError::Kind::Malformed, where, read_error(m, origin, "an MSR claim is empty or has no handler"),
                      "fix the plugin's MSR claims");
    bin.push_back({d->msrs[i].first, d->msrs[i].last});
  }
  for (const MsrClaim& c : m.msrs) man.push_back({c.first, c.last});
  if (normalise(bin) != normalise(man)) mismatch(m, origin, "MSRs", describe(normalise(bin)), describe(normalise(man)));

  bin.clear(), man.clear();
  for (uint32_t i = 0; i < d->hypercall_count; ++i) {
    if (d->hypercalls[i].handler == nullptr)
      throw LoadError(LoadError::Kind::Malformed, where, read_error(m, origin, "a hypercall claim has no handler"),
                      "fix the plugin's hypercall claims");
    bin.push_back({d->hypercalls[i].code, d->hypercalls[i].code});
  }
  for (const HypercallClaim& c : m.hypercalls) man.push_back({c.code, c.code});
  if (normalise(bin) != normalise(man)) mismatch(m, origin, "hypercall codes", describe(normalise(bin)), describe(normalise(man)));

  bin.clear(), man.clear();
  for (uint32_t i = 0; i < d->io_port_count; ++i) bin.push_back({d->io_ports[i].first, d->io_ports[i].last});
  for (const IoClaim& c : m.io_ports) man.push_back({c.first, c.last});
  if (normalise(bin) != normalise(man)) mismatch(m, origin, "I/O ports", describe(normalise(bin)), describe(normalise(man)));

  using Key = std::tuple<uint32_t, uint32_t, uint8_t, uint8_t>;
  std::map<Key, uint32_t> cb, cm;
  for (uint32_t i = 0; i < d->cpuid_count; ++i) cb[{d->cpuid[i].leaf, d->cpuid[i].subleaf, d->cpuid[i].reg, d->cpuid[i].kind}] |= d->cpuid[i].mask;
  for (const CpuidClaim& c : m.cpuid) cm[{c.leaf, c.subleaf, c.reg, c.kind}] |= c.mask;
  if (cb != cm) {
    auto text = [](const std::map<Key, uint32_t>& claims) {
      std::string s;
      static const char* regs[] = {"eax", "ebx", "ecx", "edx"};
      static const char* kinds[] = {"bits", "field", "default"};
      for (const auto& [k, mask] : claims) {
        if (!s.empty()) s += ", ";
        s += hex(std::get<0>(k)) + "." + regs[std::get<2>(k) & 3] + " " + kinds[std::min<uint8_t>(std::get<3>(k), 2)] + " " + hex(mask);
      }
      return s.empty() ? std::string("none") : s;
    };
    mismatch(m, origin, "CPUID contributions", text(cb), text(cm));
  }
}

LoadedPlugin load_plugin(const Manifest& m) {
  LoadedPlugin out;
  out.manifest = &m;
  if (const enlight_plugin_descriptor* d = find_static_plugin(m.name)) {
    out.origin = "built-in";
    check_descriptor(m, d, out.origin);
    out.descriptor = d;
    return out;
  }
  const SourceLocation where{m.path, m.where.line};
  if (m.library.empty())
    throw LoadError(LoadError::Kind::NotFound, where,
                    "plugin '" + m.name + "' has no 'library:' and is not built into this binary",
                    "add 'library: " + m.name + ".so' to " + m.path);
  const std::filesystem::path path = std::filesystem::path(m.directory) / m.library;
  out.origin = path.string();
  if (!std::filesystem::exists(path))
    throw LoadError(LoadError::Kind::NotFound, where, "plugin '" + m.name + "': library " + path.string() + " does not exist",
                    "build the plugin, or correct 'library:' in " + m.path);

  // One mapping per file for the whole process: VMs share it, and it stays
  // until the last VM that used it is gone.
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<LoadedLibrary>> cache;
  std::lock_guard lock(mutex);
  const std::string key = std::filesystem::weakly_canonical(path).string();
  std::shared_ptr<LoadedLibrary> lib = cache[key].lock();
  if (!lib) {
    lib = std::make_shared<LoadedLibrary>();
    try {
      // rtld_now: an unresolved symbol fails here, not at the first exit
      // that happens to need it.
      lib->library.load(path.string(), boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
    } catch (const std::exception& e) {
      throw LoadError(LoadError::Kind::NotALibrary, where,
                      "plugin '" + m.name + "': cannot load " + path.string() + ": " + e.what(),
                      "check that the file is a shared library built for this machine and that its dependencies are installed");
    }
    cache[key] = lib;
  }
  if (!lib->library.has(ENLIGHT_PLUGIN_ENTRY_SYMBOL))
    throw LoadError(LoadError::Kind::NoEntryPoint, where,
                    "plugin '" + m.name + "': " + path.string() + " does not export " + ENLIGHT_PLUGIN_ENTRY_SYMBOL,
                    "define the plugin with ENLIGHT_PLUGIN(...) from <enlight/plugin.hpp>, which exports it");
  auto& entry = lib->library.get<const enlight_plugin_descriptor*()>(ENLIGHT_PLUGIN_ENTRY_SYMBOL);
  const enlight_plugin_descriptor* d = entry();
  check_descriptor(m, d, out.origin);
  out.descriptor = d;
  out.library = std::move(lib);
  return out;
}

}  // namespace enlight
