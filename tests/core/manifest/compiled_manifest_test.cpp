// A YAML-free build (ENLIGHT_YAML=OFF) gets its manifests and profiles as
// C++ generated from the YAML at build time (tools/manifest-header). Here
// every shipped manifest and profile goes both ways, and the two must be
// the same in every field, down to the source lines errors quote.
#include <enlight/core/loader.hpp>
#include <enlight/core/manifest.hpp>
#include <enlight/core/profile.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace enlight {
const std::map<std::string, Profile (*)()>& compiled_profiles();
}

namespace enlight::test {
namespace {

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every field, one per line, so a difference shows as a line of the diff.
std::string text(const SourceLocation& w) { return w.file + ":" + std::to_string(w.line) + ":" + std::to_string(w.column); }
std::string text(const std::optional<CpuidGate>& g) { return g ? g->str() : "-"; }
std::string text(const std::optional<uint64_t>& v) { return v ? std::to_string(*v) : "-"; }
std::string text(const std::vector<Dependency>& deps) {
  std::string s;
  for (const auto& d : deps) {
    s += d.name + " [" + d.range.text + "]";
    for (const auto& b : d.range.bounds) s += " " + std::to_string(static_cast<int>(b.op)) + b.version.str();
    s += " @" + text(d.where) + "; ";
  }
  return s;
}

std::string describe(const Manifest& m) {
  std::ostringstream o;
  o << "name " << m.name << "\nversion " << m.version.str() << "\nabi " << m.abi << "\ndescription " << m.description
    << "\nflag " << m.flag << "\nlibrary " << m.library << "\nstatus " << m.status << "\nsecurity " << m.security
    << "\nimplicit " << m.implicit << "\npassthrough " << m.passthrough << "\n";
  for (const auto& h : m.host_features) o << "host-feature " << h << "\n";
  for (const auto& h : m.offload) o << "offload " << h << "\n";
  o << "requires " << text(m.requires_) << "\nrecommends " << text(m.recommends) << "\nconflicts " << text(m.conflicts)
    << "\n";
  for (const auto& c : m.msrs)
    o << "msr " << c.first << "-" << c.last << " gate " << text(c.gate) << " fallback " << c.fallback << " @" << text(c.where) << "\n";
  for (const auto& c : m.hypercalls) o << "hypercall " << c.code << " gate " << text(c.gate) << " @" << text(c.where) << "\n";
  for (const auto& c : m.io_ports) o << "io " << c.first << "-" << c.last << " @" << text(c.where) << "\n";
  for (const auto& c : m.cpuid)
    o << "cpuid " << c.leaf << "." << c.subleaf << " reg " << int(c.reg) << " kind " << int(c.kind) << " mask " << c.mask
      << " @" << text(c.where) << "\n";
  for (const auto& p : m.options)
    o << "option " << p.name << " type " << static_cast<int>(p.type) << " [" << p.description << "] defaults "
      << p.default_bool << "/" << p.default_u64 << "/" << p.default_string << " min " << text(p.min) << " max "
      << text(p.max) << " max-length " << (p.max_length ? std::to_string(*p.max_length) : "-") << " flag " << p.flag
      << " enables " << p.flag_enables << " @" << text(p.where) << "\n";
  for (const auto& a : m.acpi_devices)
    o << "acpi " << a.name << " " << a.hid << " " << a.uid << " " << a.ddn << " " << a.irq << " @" << text(a.where) << "\n";
  o << "path " << m.path << "\ndirectory " << m.directory << "\nwhere " << text(m.where) << "\n";
  for (const auto& [key, where] : m.key_where) o << "key " << key << " @" << text(where) << "\n";
  return o.str();
}

std::string describe(const std::vector<PluginRequest>& reqs) {
  std::string s;
  for (const auto& r : reqs) {
    s += r.name + " @" + text(r.where) + " offload " + r.offload + " @" + text(r.offload_where);
    for (const auto& [k, v] : r.options) s += " " + k + "=" + v.text + "@" + text(v.where);
    s += "\n";
  }
  return s;
}

std::string describe(const Profile& p) {
  std::ostringstream o;
  o << "name " << p.name << "\nsource " << p.source << "\nplugins\n" << describe(p.plugins) << "option-only\n"
    << describe(p.option_only) << "passthrough " << p.passthrough << " @" << text(p.passthrough_where)
    << "\nenforce " << p.enforce_cpuid << "\nvcpus " << p.vcpus << "\nkernel " << p.machine.kernel << "\ninitrd "
    << p.machine.initrd << "\nappend " << p.machine.has_append << " " << p.machine.append << "\nserial "
    << p.machine.serial << "\nmemory " << p.machine.memory << "\nmachine @" << text(p.machine.where) << "\n";
  return o.str();
}

const std::filesystem::path kManifests = std::filesystem::path(ENLIGHT_TEST_SOURCE_DIR) / "manifests";

TEST(CompiledManifests, EveryShippedManifestIsCompiledAsTheParserReadsIt) {
  size_t compared = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kManifests)) {
    if (entry.path().extension() != ".yaml") continue;
    const std::string name = entry.path().stem().string();
    const ManifestBuilder make = find_static_manifest_builder(name);
    ASSERT_NE(make, nullptr) << name << " has no compiled form";
    const Manifest parsed = parse_manifest(slurp(entry.path()), "<built-in>/" + name + ".yaml");
    EXPECT_EQ(describe(make()), describe(parsed)) << name;
    ++compared;
  }
  EXPECT_GE(compared, 15u);
}

TEST(CompiledManifests, EveryShippedProfileIsCompiledAsTheParserReadsIt) {
  size_t compared = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kManifests / "profiles")) {
    if (entry.path().extension() != ".yaml") continue;
    const std::string name = entry.path().stem().string();
    const auto it = compiled_profiles().find(name);
    ASSERT_NE(it, compiled_profiles().end()) << name << " has no compiled form";
    const Profile parsed = parse_profile(slurp(entry.path()), "<embedded>/" + name + ".yaml");
    EXPECT_EQ(describe(it->second()), describe(parsed)) << name;
    ++compared;
  }
  EXPECT_GE(compared, 3u);
}

// The comparison can fail: a compiled manifest differs from a changed one.
TEST(CompiledManifests, TheComparisonSeesADifference) {
  const ManifestBuilder make = find_static_manifest_builder("synic");
  ASSERT_NE(make, nullptr);
  Manifest parsed = parse_manifest(slurp(kManifests / "synic.yaml"), "<built-in>/synic.yaml");
  parsed.options.back().max = 14;
  EXPECT_NE(describe(make()), describe(parsed));
}

}  // namespace
}  // namespace enlight::test
