#include "commands.hpp"

#include "check_traps.hpp"

#include <enlight/core/backend/direct.hpp>
#include <enlight/core/catalog.hpp>
#include <enlight/core/guest/images.hpp>
#include <enlight/core/profile.hpp>
#include <enlight/core/resolver.hpp>

#include <cstdio>
#include <sstream>

namespace enlight::cli {

std::string option_value(const std::vector<std::string>& args, size_t& i) {
  if (i + 1 >= args.size()) throw UsageError(args[i] + " needs a value");
  return args[++i];
}

uint64_t parse_number(const std::string& option, const std::string& text, uint64_t min, uint64_t max) {
  try {
    size_t used = 0;
    const unsigned long long v = std::stoull(text, &used, 0);
    if (used == text.size() && v >= min && v <= max && text[0] != '-') return v;
  } catch (const std::exception&) {
  }
  const std::string range = min == 0 ? "up to " + std::to_string(max)
                                     : "from " + std::to_string(min) + " to " + std::to_string(max);
  throw UsageError(option + " needs a number " + range + ", not '" + text + "'");
}

std::vector<std::string> search_path(const Globals& g) {
  std::vector<std::string> path;
  std::stringstream ss(g.plugin_path);
  for (std::string dir; std::getline(ss, dir, ':');)
    if (!dir.empty()) path.push_back(dir);
  for (const std::string& d : default_search_path()) path.push_back(d);
  return path;
}

namespace {

struct Selection {
  Profile profile;
  bool json = false;
};

// [PROFILE | --cpu FLAGS] [--json]
Selection select(const Catalog& catalog, const std::vector<std::string>& args, bool allow_json) {
  Selection s;
  std::string profile_arg, flags;
  bool have_flags = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--cpu") {
      if (i + 1 >= args.size()) throw UsageError("--cpu needs a flag list");
      flags = args[++i];
      have_flags = true;
    } else if (a.rfind("--cpu=", 0) == 0) {
      flags = a.substr(6);
      have_flags = true;
    } else if (a == "--json" && allow_json) {
      s.json = true;
    } else if (!a.empty() && a[0] == '-') {
      throw UsageError("unknown option '" + a + "'");
    } else if (profile_arg.empty()) {
      profile_arg = a;
    } else {
      throw UsageError("more than one profile given ('" + profile_arg + "' and '" + a + "')");
    }
  }
  if (have_flags && !profile_arg.empty()) throw UsageError("give a profile or --cpu, not both");
  s.profile = have_flags ? parse_cpu_flags(flags, catalog) : load_profile(profile_arg.empty() ? default_profile_name() : profile_arg);
  return s;
}

// Creates the VM on the direct backend: proves every binary loads, matches
// its manifest and creates its state, and composes CPUID.
std::unique_ptr<direct::DirectVm> build(const Resolution& r) {
  VmOptions options;
  options.memory_bytes = 1 << 20;
  options.metrics = false;
  return direct::DirectVm::create(r, options);
}

std::string hex(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%08X", v);
  return b;
}

}  // namespace

std::string hex_number(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llX", static_cast<unsigned long long>(v));
  return b;
}

int check(const Globals& g, const std::vector<std::string>& args) {
  const Catalog catalog = Catalog::discover(search_path(g));
  const Selection s = select(catalog, args, false);
  const Resolution r = resolve(s.profile, catalog, direct::capabilities());
  auto vm = build(r);
  std::printf("ok: %s resolves to %zu plugin(s), %u vCPU(s)%s%s\n", s.profile.source.c_str(), r.plugins.size(), r.vcpus,
              r.enforce_cpuid ? ", hv-enforce-cpuid" : "", r.passthrough ? ", hv-passthrough" : "");
  size_t n = 0;
  for (const LoadedPlugin& p : vm->vm().plugins()) {
    const ResolvedPlugin& rp = r.plugins[n];
    std::printf("  %2zu. %-12s %-8s %s\n      (%s)\n", ++n, p.manifest->name.c_str(), p.manifest->version.str().c_str(),
                p.origin.c_str(), rp.why.c_str());
  }
  for (const std::string& w : r.warnings) std::printf("warning: %s\n", w.c_str());
  for (const std::string& t : configuration_traps(r, vm->vm())) std::printf("warning: %s\n", t.c_str());
  return 0;
}

int cpuid(const Globals& g, const std::vector<std::string>& args) {
  const Catalog catalog = Catalog::discover(search_path(g));
  const Selection s = select(catalog, args, true);
  const Resolution r = resolve(s.profile, catalog, direct::capabilities());
  auto vm = build(r);
  const auto& leaves = vm->vm().bus().cpuid_table().leaves();
  if (s.json) {
    std::printf("[");
    for (size_t i = 0; i < leaves.size(); ++i) {
      const CpuidLeaf& l = leaves[i];
      std::printf("%s\n  {\"leaf\": %u, \"subleaf\": %u, \"eax\": %u, \"ebx\": %u, \"ecx\": %u, \"edx\": %u}",
                  i ? "," : "", l.leaf, l.subleaf, l.value.eax, l.value.ebx, l.value.ecx, l.value.edx);
    }
    std::printf("%s]\n", leaves.empty() ? "" : "\n");
    return 0;
  }
  std::printf("%-12s %-8s %-10s %-10s %-10s %-10s\n", "leaf", "subleaf", "eax", "ebx", "ecx", "edx");
  for (const CpuidLeaf& l : leaves)
    std::printf("%-12s %-8u %-10s %-10s %-10s %-10s\n", hex(l.leaf).c_str(), l.subleaf, hex(l.value.eax).c_str(),
                hex(l.value.ebx).c_str(), hex(l.value.ecx).c_str(), hex(l.value.edx).c_str());
  if (leaves.empty()) std::printf("(no hypervisor leaves: no enlightenment is enabled)\n");
  return 0;
}

int guests(const Globals&, const std::vector<std::string>& args) {
  if (!args.empty()) throw UsageError("guests takes no arguments");
  for (const guests::GuestImage& g : guests::all())
    std::printf("%-24s %6zu bytes  %s%s\n", g.name, g.size, g.description,
                std::string_view(g.name) == guests::kDefaultGuest ? "  (default)" : "");
  if (guests::all().empty()) std::printf("(no guest programs: this build could not compile them)\n");
  return 0;
}

int profiles(const Globals&, const std::vector<std::string>& args) {
  if (!args.empty()) throw UsageError("profiles takes no arguments");
  for (const auto& [name, text] : embedded_profiles()) {
    const Profile p = load_profile(name);
    std::printf("%-14s %zu enlightenment(s)%s\n", name.c_str(), p.plugins.size(),
                name == default_profile_name() ? "  (default)" : "");
  }
  return 0;
}

}  // namespace enlight::cli
