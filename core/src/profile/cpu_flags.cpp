// QEMU-style -cpu flags ("hv-relaxed,hv_vpindex,hv-spinlocks=0xfff") turned
// into a Profile. Flag names come from the manifests, so a vendor's plugin
// gets its flag without touching the core.
#include <enlight/core/catalog.hpp>
#include <enlight/core/profile.hpp>

#include "manifest/scalars.hpp"
#include "manifest/suggest.hpp"

#include <map>

namespace enlight {
namespace {

const std::string kSource = "<flags>";
const std::string kPassthrough = "hv-passthrough";
const std::string kEnforceCpuid = "hv-enforce-cpuid";

// QEMU accepts hv_vpindex for hv-vpindex; so do we, everywhere.
std::string normalize(std::string flag) {
  for (char& c : flag)
    if (c == '_') c = '-';
  return flag;
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\n");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\n") - b + 1);
}

struct Target {
  const Manifest* manifest = nullptr;
  const OptionSpec* option = nullptr;  // null: the plugin's own flag
  SourceLocation where() const { return option ? option->where : manifest->where_of("flag"); }
};

std::map<std::string, std::vector<Target>> flag_table(const Catalog& catalog) {
  std::map<std::string, std::vector<Target>> table;
  for (const auto& [name, m] : catalog.all()) {
    if (!m.flag.empty()) table[normalize(m.flag)].push_back({&m, nullptr});
    for (const auto& o : m.options)
      if (!o.flag.empty()) table[normalize(o.flag)].push_back({&m, &o});
  }
  return table;
}

// One flag may be both a plugin's flag and one of its options' flags (like
// hv-spinlocks could be); two plugins sharing a flag is a catalog error,
// reported only when the flag is used so that it never blocks other flags.
// (Two options of one manifest sharing a flag are refused when it is parsed.)
void check_unambiguous(const std::string& flag, const std::vector<Target>& targets, const SourceLocation& at) {
  const Target& a = targets.front();
  for (const Target& t : targets) {
    if (t.manifest == a.manifest) continue;
    throw ConfigError(at, "flag '" + flag + "' is declared by both '" + a.manifest->name + "' (" + a.where().str() +
                              ") and '" + t.manifest->name + "' (" + t.where().str() + ")",
                      "rename the flag in one of the two manifests");
  }
}

class FlagParser {
 public:
  explicit FlagParser(const Catalog& catalog) : catalog_(catalog), table_(flag_table(catalog)) {
    profile_.name = "flags";
    profile_.source = kSource;
  }

  void flag(const std::string& token, int column) {
    const SourceLocation at{kSource, 1, column};
    const size_t eq = token.find('=');
    const std::string written = trim(token.substr(0, eq));
    const std::string name = normalize(written);
    const bool has_value = eq != std::string::npos;
    const std::string value = has_value ? trim(token.substr(eq + 1)) : std::string{};
    if (name == kPassthrough || name == kEnforceCpuid) {
      (name == kPassthrough ? profile_.passthrough : profile_.enforce_cpuid) = on_off(written, has_value, value, at);
      if (name == kPassthrough) profile_.passthrough_where = at;
      return;
    }
    auto it = table_.find(name);
    if (it == table_.end()) unknown(written, at);
    check_unambiguous(written, it->second, at);
    const Target* plugin = nullptr;
    const Target* option = nullptr;
    for (const Target& t : it->second) (t.option ? option : plugin) = &t;
    // One name for a plugin and its string option is QEMU's on|off|auto
    // property (hv-no-nonarch-coresharing): "off" turns the plugin off, so
    // that it cannot turn Hyper-V on by itself, instead of becoming the
    // option's value; "on", "auto" and the rest go to the option below.
    if (plugin && option && has_value && option->option->type == OptionSpec::Type::String) {
      const auto b = detail::parse_bool(value);
      if (b && !*b) {
        enable(plugin->manifest->name, false, at);
        options_[plugin->manifest->name].erase(option->option->name);  // "auto,off" is off, with no leftover
        return;
      }
    }
    // A value goes to the option when there is one: "hv-spinlocks=0x1fff"
    // is a retry count even if hv-spinlocks alone also enabled the plugin.
    if (option && (has_value || option->option->type == OptionSpec::Type::Bool)) {
      set_option(*option, has_value ? value : "on", at);
      if (option->option->flag_enables) enable(option->manifest->name, true, at);
      return;
    }
    if (plugin) {
      enable(plugin->manifest->name, on_off(written, has_value, value, at), at);
      return;
    }
    throw ConfigError(at, "flag '" + written + "' needs a value", "write " + written + "=VALUE");
  }

  Profile finish() {
    for (const auto& name : order_) {
      auto opts = options_.find(name);
      PluginRequest req{name, opts == options_.end() ? decltype(PluginRequest::options){} : opts->second, first_at_[name], {}, {}};
      if (enabled_[name]) profile_.plugins.push_back(std::move(req));
      else if (!req.options.empty()) profile_.option_only.push_back(std::move(req));
    }
    return std::move(profile_);
  }

 private:
  bool on_off(const std::string& flag, bool has_value, const std::string& value, const SourceLocation& at) {
    if (!has_value) return true;
    if (auto b = detail::parse_bool(value)) return *b;
    throw ConfigError(at, "flag '" + flag + "' takes on or off, got '" + value + "'", "write " + flag + " or " + flag + "=off");
  }

  void note(const std::string& plugin, const SourceLocation& at) {
    if (first_at_.emplace(plugin, at).second) order_.push_back(plugin);
  }

  // Later flags win, as with QEMU's -cpu properties: "hv-x,hv-x=off" is off.
  void enable(const std::string& plugin, bool on, const SourceLocation& at) {
    note(plugin, at);
    enabled_[plugin] = on;
  }

  void set_option(const Target& t, const std::string& value, const SourceLocation& at) {
    note(t.manifest->name, at);
    options_[t.manifest->name][t.option->name] = {value, at};
  }

  [[noreturn]] void unknown(const std::string& flag, const SourceLocation& at) const {
    std::vector<std::string> known = {kPassthrough, kEnforceCpuid};
    for (const auto& [name, targets] : table_) known.push_back(name);
    std::string path;
    for (const auto& d : catalog_.search_path()) path += (path.empty() ? "" : ":") + d;
    throw ConfigError(at, "unknown flag '" + flag + "'" + detail::did_you_mean(normalize(flag), known),
                      "use a flag declared by a plugin manifest (search path: " + (path.empty() ? "empty" : path) +
                          "), or hv-passthrough / hv-enforce-cpuid");
  }

  const Catalog& catalog_;
  std::map<std::string, std::vector<Target>> table_;
  Profile profile_;
  std::vector<std::string> order_;
  std::map<std::string, SourceLocation> first_at_;
  std::map<std::string, bool> enabled_;
  std::map<std::string, std::map<std::string, OptionValue>> options_;
};

}  // namespace

Profile parse_cpu_flags(const std::string& flags, const Catalog& catalog) {
  FlagParser parser(catalog);
  size_t start = 0;
  while (start <= flags.size()) {
    const size_t comma = flags.find(',', start);
    const std::string token = flags.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    // Empty items ("a,,b", a trailing comma) are skipped: they carry no
    // intent worth an error.
    if (!trim(token).empty()) {
      const size_t lead = token.find_first_not_of(" \t\n");
      parser.flag(token, static_cast<int>(start + lead + 1));
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return parser.finish();
}

}  // namespace enlight
