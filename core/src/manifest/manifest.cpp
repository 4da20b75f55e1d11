// The top level of a manifest: identity, policy keys and dependencies.
// Claims and options are in claims.cpp and options.cpp.
#include <enlight/core/manifest.hpp>

#include "manifest/manifest_parts.hpp"
#include "manifest/suggest.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace enlight {
namespace detail {

bool valid_name(const std::string& name) {
  return !name.empty() && name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") == std::string::npos;
}

void check_flag_name(const std::string& flag, const SourceLocation& where) {
  if (flag.empty() || flag.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") !=
                          std::string::npos)
    throw ConfigError(where, "flag '" + flag + "' is not a flag name (letters, digits, '-' and '_')",
                      "write it as QEMU spells it, e.g. 'hv-vpindex'");
  std::string norm = flag;
  for (char& c : norm)
    if (c == '_') c = '-';
  if (norm == "hv-passthrough" || norm == "hv-enforce-cpuid")
    throw ConfigError(where, "flag '" + flag + "' belongs to the core and cannot name a plugin or option",
                      "choose another flag name");
}

}  // namespace detail

namespace {

using detail::MapReader;

const std::vector<std::string> kTopKeys = {
    "name",     "version",   "abi",           "description", "flag",     "library",
    "status",   "security",  "implicit",      "passthrough", "host-features", "offload", "requires",
    "recommends", "conflicts", "claims",      "options", "acpi-devices", "snapshot"};

std::string one_of(const MapReader& r, const std::string& key, const std::vector<std::string>& allowed,
                   const std::string& fallback) {
  const std::string v = r.string(key, fallback);
  for (const auto& a : allowed)
    if (v == a) return v;
  r.fail(key, "key '" + key + "' must be one of " + detail::quoted_list(allowed) + ", got '" + v + "'" +
                  detail::did_you_mean(v, allowed));
}

// "synic >=1.0 <2": a name, then a version range.
std::vector<Dependency> parse_dependencies(const MapReader& r, const std::string& key, const std::string& self) {
  std::vector<Dependency> out;
  for (const YAML::Node& item : r.list(key)) {
    Dependency d;
    d.where = detail::location_of(r.file(), item, r.key_location(key));
    const std::string text = detail::scalar_text(item, r.file(), "an entry of '" + key + "'", d.where);
    const size_t space = text.find_first_of(" \t<>=");
    d.name = text.substr(0, space);
    if (!detail::valid_name(d.name))
      throw ConfigError(d.where, "'" + text + "' in '" + key + "' does not start with a plugin name",
                        "write 'name' or 'name >=1.0 <2'");
    if (d.name == self) throw ConfigError(d.where, "plugin '" + self + "' names itself in '" + key + "'", "remove this entry");
    try {
      d.range = VersionRange::parse(space == std::string::npos ? std::string{} : text.substr(space));
    } catch (const std::invalid_argument& e) {
      throw ConfigError(d.where, "bad version range in '" + key + "' entry '" + text + "': " + e.what(),
                        "write comparisons like '>=1.0 <2' (operators >=, >, <=, <, =)");
    }
    // Keep the range's text without the leading blank, for messages.
    const size_t first = d.range.text.find_first_not_of(" \t");
    d.range.text = first == std::string::npos ? std::string{} : d.range.text.substr(first);
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace

Manifest parse_manifest(const std::string& text, const std::string& path) {
  Manifest m;
  m.path = path;
  m.where = {path, 1, 0};
  const YAML::Node doc = detail::load_yaml(text, path, "manifest");
  if (!doc.IsDefined() || doc.IsNull())
    throw ConfigError(m.where, "manifest is empty", "start from manifests/vpindex.yaml (docs/manifest-format.md)");
  const MapReader r(doc, path, "manifest", kTopKeys, m.where);
  for (const auto& key : r.keys()) m.key_where[key] = r.key_location(key);

  r.require("name");
  r.require("version");
  r.require("abi");
  m.name = r.string("name");
  if (!detail::valid_name(m.name))
    r.fail("name", "plugin name '" + m.name + "' may use only a-z, 0-9 and '-'",
           "use a lower-case name such as 'my-plugin'");
  const std::string version = r.string("version");
  try {
    m.version = Version::parse(version);
  } catch (const std::invalid_argument& e) {
    r.fail("version", e.what(), "write MAJOR.MINOR.PATCH, e.g. 1.0.0");
  }
  // Full three parts here, unlike in ranges: this is what the binary's
  // descriptor must repeat exactly, so there is one spelling.
  if (std::count(version.begin(), version.end(), '.') != 2)
    r.fail("version", "version '" + version + "' must have three parts", "write it as " + m.version.str());
  m.abi = static_cast<uint32_t>(r.number("abi", 0, 0xffffffffu));
  m.description = r.string("description");
  m.flag = r.string("flag");
  if (r.has("flag")) detail::check_flag_name(m.flag, r.value_location("flag"));
  m.library = r.string("library");
  if (r.has("library") && m.library.empty()) r.fail("library", "key 'library' is empty", "name the shared object, e.g. 'library: " + m.name + ".so'");
  m.status = one_of(r, "status", {"stable", "experimental", "example"}, "experimental");
  m.security = one_of(r, "security", {"robust-to-untrusted-guest", "trusted-guest-only", "unknown"}, "unknown");
  m.snapshot = one_of(r, "snapshot", {"saved", "stateless", "unsupported", "unknown"}, "unknown");
  m.implicit = r.boolean("implicit", false);
  m.passthrough = r.boolean("passthrough", false);
  m.host_features = r.string_list("host-features");
  m.offload = r.string_list("offload");
  for (const std::string& o : m.offload)
    if (o != "kvm")
      r.fail("offload", "offload '" + o + "' is not a backend that can take a plugin's work", "write 'offload: [kvm]' or leave it out");
  m.requires_ = parse_dependencies(r, "requires", m.name);
  m.recommends = parse_dependencies(r, "recommends", m.name);
  m.conflicts = parse_dependencies(r, "conflicts", m.name);
  detail::parse_claims(r, m);
  detail::parse_options(r, m);
  detail::parse_acpi_devices(r, m);
  return m;
}

Manifest load_manifest_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError({path}, std::string("cannot read manifest: ") + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  Manifest m = parse_manifest(text.str(), path);
  const std::string dir = std::filesystem::path(path).parent_path().string();
  m.directory = dir.empty() ? "." : dir;
  // A manifest on disk describes a .so next to it; only plugins compiled
  // into the binary have nothing to load.
  if (m.library.empty())
    throw ConfigError(m.where, "manifest of '" + m.name + "' has no 'library' key",
                      "add 'library: " + m.name + ".so' (only built-in plugins may omit it)");
  return m;
}

}  // namespace enlight
