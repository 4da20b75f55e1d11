// Typing the profile's option values against the manifest's declarations.
// Profiles keep values as text because only the manifest knows the type.
#include "resolve/resolve_parts.hpp"

#include "manifest/scalars.hpp"
#include "manifest/suggest.hpp"

#include <enlight/abi.h>

#include <limits>

namespace enlight::detail {
namespace {

const char* type_name(OptionSpec::Type t) {
  switch (t) {
    case OptionSpec::Type::Bool: return "bool (on/off, true/false, yes/no, 1/0)";
    case OptionSpec::Type::U64: return "u64 (decimal or 0x hex)";
    case OptionSpec::Type::String: return "string";
  }
  return "?";
}

TypedOption typed(const Manifest& m, const OptionSpec& o, const OptionValue& v) {
  TypedOption t;
  t.name = o.name;
  t.type = static_cast<int>(o.type);
  const std::string subject = "option '" + o.name + "' of '" + m.name + "'";
  switch (o.type) {
    case OptionSpec::Type::Bool: {
      const auto b = parse_bool(v.text);
      if (!b) throw ConfigError(v.where, subject + " must be a " + type_name(o.type) + ", got '" + v.text + "'", "write " + o.name + ": on");
      t.u64 = *b ? 1 : 0;
      break;
    }
    case OptionSpec::Type::U64: {
      const auto n = parse_u64(v.text);
      if (!n)
        throw ConfigError(v.where, subject + " must be a " + type_name(o.type) + ", got '" + v.text + "'",
                          "write a number such as " + hex(o.default_u64));
      const uint64_t lo = o.min.value_or(0), hi = o.max.value_or(std::numeric_limits<uint64_t>::max());
      if (*n < lo || *n > hi)
        throw ConfigError(v.where, subject + " is " + v.text + ", outside [" + hex(lo) + ", " + hex(hi) + "] (" + m.path + ")",
                          "use a value in that range");
      t.u64 = *n;
      break;
    }
    case OptionSpec::Type::String:
      if (o.max_length && v.text.size() > *o.max_length)
        throw ConfigError(v.where, subject + " is " + std::to_string(v.text.size()) + " characters long, more than its max-length " +
                                       std::to_string(*o.max_length) + " (" + m.path + ")",
                          "shorten it");
      t.str = v.text;
      break;
  }
  return t;
}

TypedOption default_of(const OptionSpec& o) {
  TypedOption t;
  t.name = o.name;
  t.type = static_cast<int>(o.type);
  t.u64 = o.type == OptionSpec::Type::Bool ? uint64_t(o.default_bool) : o.default_u64;
  t.str = o.default_string;
  return t;
}

}  // namespace

static_assert(static_cast<int>(OptionSpec::Type::Bool) == ENLIGHT_OPT_BOOL &&
              static_cast<int>(OptionSpec::Type::U64) == ENLIGHT_OPT_U64 &&
              static_cast<int>(OptionSpec::Type::String) == ENLIGHT_OPT_STRING,
              "TypedOption::type is handed to plugins as enlight_option_type");

void check_request_options(const Manifest& m, const PluginRequest& request) {
  for (const auto& [name, value] : request.options) {
    const OptionSpec* o = m.find_option(name);
    if (!o) {
      std::vector<std::string> names;
      for (const auto& spec : m.options) names.push_back(spec.name);
      throw ConfigError(value.where, "'" + m.name + "' has no option '" + name + "'" + did_you_mean(name, names),
                        names.empty() ? m.name + " takes no options (" + m.path + ")"
                                      : "the options of " + m.name + " are " + quoted_list(names) + " (" + m.path + ")");
    }
    typed(m, *o, value);
  }
}

std::vector<TypedOption> typed_options(const Manifest& m, const std::vector<const PluginRequest*>& requests) {
  std::vector<TypedOption> out;
  for (const auto& o : m.options) {
    TypedOption t = default_of(o);
    for (const PluginRequest* r : requests) {
      if (!r) continue;
      if (auto it = r->options.find(o.name); it != r->options.end()) t = typed(m, o, it->second);
    }
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace enlight::detail
