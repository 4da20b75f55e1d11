// VM profiles written as YAML (not in a YAML-free build: ENLIGHT_YAML=OFF).
#include <enlight/core/profile.hpp>

#include "manifest/manifest_parts.hpp"
#include "manifest/suggest.hpp"
#include "manifest/yaml_reader.hpp"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace enlight {

namespace {

using detail::MapReader;

constexpr uint32_t kMaxVcpus = 1024;

// One `enlightenments:` item: "relaxed" or "spinlocks: { retries: 0x1fff }".
PluginRequest parse_request(const YAML::Node& item, const MapReader& top) {
  PluginRequest req;
  req.where = detail::location_of(top.file(), item, top.key_location("enlightenments"));
  YAML::Node options;
  if (item.IsScalar()) {
    req.name = item.Scalar();
  } else if (item.IsMap() && item.size() == 1) {
    const auto entry = *item.begin();
    req.name = detail::scalar_text(entry.first, top.file(), "a plugin name", req.where);
    options = entry.second;
  } else {
    throw ConfigError(req.where, "an enlightenment must be a plugin name or 'name: { option: value }', got " +
                                     detail::describe(item) + (item.IsMap() ? " with " + std::to_string(item.size()) + " keys" : ""),
                      "write one plugin per '- ' line");
  }
  if (!detail::valid_name(req.name))
    throw ConfigError(req.where, "'" + req.name + "' is not a plugin name (a-z, 0-9 and '-')");
  if (!options.IsDefined() || options.IsNull()) return req;  // "- relaxed:" with no options
  if (!options.IsMap())
    throw ConfigError(detail::location_of(top.file(), options, req.where),
                      "options of '" + req.name + "' must be a mapping of option names to values, got " + detail::describe(options),
                      "write '- " + req.name + ": { option: value }'");
  for (auto it = options.begin(); it != options.end(); ++it) {
    const SourceLocation at = detail::location_of(top.file(), it->first, req.where);
    const std::string key = detail::scalar_text(it->first, top.file(), "an option name", at);
    if (req.options.count(key))
      throw ConfigError(at, "option '" + key + "' of '" + req.name + "' is set twice", "keep one of them");
    // Values stay text until resolution types them against the manifest:
    // only the manifest knows whether "0x1fff" is a number or a string.
    const std::string value = detail::scalar_text(it->second, top.file(), "the value of option '" + key + "'", at);
    if (key == "offload") {  // the core's key, not the plugin's (no manifest may declare an option so named)
      req.offload = value;
      req.offload_where = detail::location_of(top.file(), it->second, at);
      continue;
    }
    req.options[key] = {value, detail::location_of(top.file(), it->second, at)};
  }
  return req;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError({path}, std::string("cannot read profile: ") + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A path in a profile file: relative to the file's directory, so a
// profile and the kernel beside it move together. Embedded profiles have
// no directory: their paths stay as written.
std::string profile_relative(const std::string& value, const std::string& profile_path) {
  if (value.empty() || value[0] == '/' || profile_path.rfind("<embedded>", 0) == 0) return value;
  const std::filesystem::path dir = std::filesystem::path(profile_path).parent_path();
  return dir.empty() ? value : (dir / value).string();
}

void parse_machine(const MapReader& r, const std::string& path, MachineRequest& m) {
  for (const char* key : {"kernel", "initrd", "append", "memory", "serial"})
    if (r.has(key) && m.where.file.empty()) m.where = r.key_location(key);
  m.kernel = profile_relative(r.string("kernel"), path);
  m.initrd = profile_relative(r.string("initrd"), path);
  m.serial = profile_relative(r.string("serial"), path);
  m.has_append = r.has("append");
  m.append = r.string("append");
  if (r.has("memory")) {
    const std::string text = detail::scalar_text(r.value("memory"), path, "a memory size", r.value_location("memory"));
    try {
      m.memory = parse_memory_size(text);
    } catch (const std::exception& e) {
      r.fail("memory", e.what(), "write a size such as 256M or 1G");
    }
  }
  if (m.kernel.empty()) {
    for (const char* key : {"initrd", "append", "memory", "serial"})
      if (r.has(key))
        r.fail(key, std::string("'") + key + "' describes a booted kernel, but the profile has no 'kernel'",
               std::string("add 'kernel: PATH' (a bzImage), or remove '") + key + "'");
  }
}

}  // namespace

Profile parse_profile(const std::string& text, const std::string& path) {
  Profile p;
  p.source = path;
  p.name = std::filesystem::path(path).stem().string();
  const YAML::Node doc = detail::load_yaml(text, path, "profile");
  if (!doc.IsDefined() || doc.IsNull()) return p;  // an empty profile enables nothing, like an empty flag string
  const MapReader r(doc, path, "profile",
                    {"name", "description", "vcpus", "enforce-cpuid", "passthrough", "enlightenments", "kernel",
                     "initrd", "append", "memory", "serial"},
                    {path, 1, 0});
  p.name = r.string("name", p.name);
  p.vcpus = static_cast<uint32_t>(r.number("vcpus", 1, 0xffffffffu));
  if (p.vcpus < 1 || p.vcpus > kMaxVcpus)
    r.fail("vcpus", "vcpus is " + std::to_string(p.vcpus) + ", outside 1.." + std::to_string(kMaxVcpus));
  p.enforce_cpuid = r.boolean("enforce-cpuid", false);
  p.passthrough = r.boolean("passthrough", false);
  p.passthrough_where = r.has("passthrough") ? r.value_location("passthrough") : SourceLocation{path, 1, 0};
  parse_machine(r, path, p.machine);
  for (const YAML::Node& item : r.list("enlightenments")) {
    PluginRequest req = parse_request(item, r);
    for (const auto& other : p.plugins)
      if (other.name == req.name)
        throw ConfigError(req.where, "'" + req.name + "' is listed twice (first at line " + std::to_string(other.where.line) + ")",
                          "keep one entry, with all its options");
    p.plugins.push_back(std::move(req));
  }
  return p;
}

Profile load_profile_file(const std::string& path) { return parse_profile(read_file(path), path); }

}  // namespace enlight
