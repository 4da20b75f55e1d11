// The `options:` section: typed settings a profile may give a plugin, with
// defaults, bounds and the QEMU-style flag that sets each one.
#include "manifest/manifest_parts.hpp"
#include "manifest/scalars.hpp"
#include "manifest/suggest.hpp"

#include <limits>

namespace enlight::detail {
namespace {

const std::vector<std::string> kOptionKeys = {"name", "type", "default", "min", "max", "max-length",
                                              "flag", "flag-enables", "description"};

void parse_default(const MapReader& r, OptionSpec& o) {
  r.require("default");
  const YAML::Node v = r.value("default");
  switch (o.type) {
    case OptionSpec::Type::Bool:
      o.default_bool = r.boolean("default", false);
      break;
    case OptionSpec::Type::U64:
      o.default_u64 = r.number("default", 0, std::numeric_limits<uint64_t>::max());
      break;
    case OptionSpec::Type::String:
      if (!v.IsScalar()) r.fail("default", "default of string option '" + o.name + "' must be a string, got " + describe(v));
      o.default_string = v.Scalar();
      break;
  }
}

void parse_bounds(const MapReader& r, OptionSpec& o) {
  for (const char* key : {"min", "max"})
    if (r.has(key) && o.type != OptionSpec::Type::U64)
      r.fail(key, std::string("key '") + key + "' applies only to u64 options, and '" + o.name + "' is not one");
  if (r.has("max-length") && o.type != OptionSpec::Type::String)
    r.fail("max-length", "key 'max-length' applies only to string options, and '" + o.name + "' is not one");
  const uint64_t all = std::numeric_limits<uint64_t>::max();
  if (r.has("min")) o.min = r.number("min", 0, all);
  if (r.has("max")) o.max = r.number("max", 0, all);
  if (r.has("max-length")) o.max_length = static_cast<uint32_t>(r.number("max-length", 0, 0xffffffffu));
  if (o.min && o.max && *o.min > *o.max)
    r.fail("min", "option '" + o.name + "': min " + hex(*o.min) + " is above max " + hex(*o.max));
  // The default obeys the option's own rules, or the plugin would start
  // with a value no profile could give it.
  if (o.type == OptionSpec::Type::U64 && ((o.min && o.default_u64 < *o.min) || (o.max && o.default_u64 > *o.max)))
    r.fail("default", "default " + hex(o.default_u64) + " of option '" + o.name + "' is outside [" +
                          hex(o.min.value_or(0)) + ", " + hex(o.max.value_or(all)) + "]");
  if (o.max_length && o.default_string.size() > *o.max_length)
    r.fail("default", "default of option '" + o.name + "' is longer than max-length " + std::to_string(*o.max_length));
}

}  // namespace

void parse_options(const MapReader& top, Manifest& m) {
  for (const YAML::Node& item : top.list("options")) {
    const MapReader r(item, top.file(), "an option", kOptionKeys, top.key_location("options"));
    r.require("name");
    r.require("type");
    OptionSpec o;
    o.where = r.location();
    o.name = r.string("name");
    if (!valid_name(o.name)) r.fail("name", "option name '" + o.name + "' may use only a-z, 0-9 and '-'");
    if (o.name == "offload")
      r.fail("name", "'offload' is the core's key in a profile entry (which backend does the plugin's work), not an option name",
             "rename the option");
    if (m.find_option(o.name))
      r.fail("name", "option '" + o.name + "' is declared twice (first at line " +
                         std::to_string(m.find_option(o.name)->where.line) + ")");
    const std::string type = r.string("type");
    if (type == "bool") o.type = OptionSpec::Type::Bool;
    else if (type == "u64") o.type = OptionSpec::Type::U64;
    else if (type == "string") o.type = OptionSpec::Type::String;
    else r.fail("type", "key 'type' must be one of 'bool', 'u64', 'string', got '" + type + "'" +
                            did_you_mean(type, {"bool", "u64", "string"}));
    o.description = r.string("description");
    parse_default(r, o);
    parse_bounds(r, o);
    o.flag = r.string("flag");
    if (r.has("flag")) check_flag_name(o.flag, r.value_location("flag"));
    for (const auto& other : m.options)
      if (!o.flag.empty() && other.flag == o.flag)
        r.fail("flag", "flag '" + o.flag + "' already sets option '" + other.name + "' (line " +
                           std::to_string(other.where.line) + ")", "give each option its own flag");
    o.flag_enables = r.boolean("flag-enables", false);
    if (o.flag_enables && o.flag.empty())
      r.fail("flag-enables", "option '" + o.name + "' has 'flag-enables' but no 'flag'", "add 'flag: hv-...'");
    m.options.push_back(std::move(o));
  }
}

}  // namespace enlight::detail
