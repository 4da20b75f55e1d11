#include "manifest/yaml_reader.hpp"

#include "manifest/scalars.hpp"
#include "manifest/suggest.hpp"

#include <algorithm>

namespace enlight::detail {

YAML::Node load_yaml(const std::string& text, const std::string& file, const std::string& what) {
  try {
    return YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    // The classic trap: inside { } or [ ], '[' and ']' end a plain value,
    // so an unquoted gate like 0x40000003.eax[6] breaks the flow mapping.
    const bool flow = e.msg.find("flow") != std::string::npos;
    throw ConfigError({file, e.mark.line + 1, e.mark.column + 1}, "malformed YAML in " + what + ": " + e.msg,
                      flow ? "inside { } or [ ], quote values that contain brackets or commas, e.g. gate: \"0x40000003.eax[6]\""
                           : "fix the YAML syntax at this line (indentation, a missing ':' or an unclosed bracket)");
  } catch (const YAML::Exception& e) {
    throw ConfigError({file, e.mark.is_null() ? 0 : e.mark.line + 1, e.mark.is_null() ? 0 : e.mark.column + 1},
                      "cannot read " + what + ": " + e.msg);
  }
}

SourceLocation location_of(const std::string& file, const YAML::Node& node, const SourceLocation& fallback) {
  if (!node.IsDefined()) return fallback.file.empty() ? SourceLocation{file} : fallback;
  const YAML::Mark m = node.Mark();
  if (m.is_null() || m.line < 0) return fallback.file.empty() ? SourceLocation{file} : fallback;
  return {file, m.line + 1, m.column + 1};
}

std::string describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  return "'" + node.Scalar() + "'";
}

MapReader::MapReader(const YAML::Node& node, std::string file, std::string context, std::vector<std::string> known,
                     const SourceLocation& fallback)
    : file_(std::move(file)), context_(std::move(context)) {
  where_ = location_of(file_, node, fallback);
  if (!node.IsMap())
    throw ConfigError(where_, context_ + " must be a mapping of keys to values, got " + describe(node));
  for (auto it = node.begin(); it != node.end(); ++it) {
    const SourceLocation at = location_of(file_, it->first, where_);
    if (!it->first.IsScalar()) throw ConfigError(at, "a key in " + context_ + " must be a plain name, got " + describe(it->first));
    const std::string key = it->first.Scalar();
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      throw ConfigError(at, "unknown key '" + key + "' in " + context_ + did_you_mean(key, known),
                        "the keys allowed here are " + quoted_list(known) + " (docs/manifest-format.md)");
    }
    if (entries_.count(key)) {
      throw ConfigError(at, "duplicate key '" + key + "' in " + context_ + " (first at line " +
                                std::to_string(key_location(key).line) + ")",
                        "keep one of them");
    }
    entries_[key] = {it->first, it->second};
    order_.push_back(key);
  }
}

YAML::Node MapReader::value(const std::string& key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? YAML::Node(YAML::NodeType::Undefined) : it->second.value;
}

SourceLocation MapReader::key_location(const std::string& key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? where_ : location_of(file_, it->second.key, where_);
}

SourceLocation MapReader::value_location(const std::string& key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? where_ : location_of(file_, it->second.value, key_location(key));
}

void MapReader::fail(const std::string& key, const std::string& what, const std::string& fix) const {
  throw ConfigError(value_location(key), what, fix);
}

void MapReader::require(const std::string& key) const {
  if (!has(key)) throw ConfigError(where_, "missing key '" + key + "' in " + context_, "add '" + key + ": ...'");
}

std::string MapReader::string(const std::string& key, const std::string& fallback) const {
  if (!has(key)) return fallback;
  const YAML::Node v = value(key);
  if (!v.IsScalar()) fail(key, "key '" + key + "' must be a string, got " + describe(v));
  return v.Scalar();
}

bool MapReader::boolean(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const YAML::Node v = value(key);
  // Digits are refused in documents: YAML has words for booleans, and
  // "passthrough: 1" reads like a count.
  std::optional<bool> b = v.IsScalar() ? parse_bool(v.Scalar(), false) : std::nullopt;
  if (!b) fail(key, "key '" + key + "' must be a boolean (true or false), got " + describe(v));
  return *b;
}

uint64_t MapReader::number(const std::string& key, uint64_t fallback, uint64_t max) const {
  if (!has(key)) return fallback;
  return scalar_u64(value(key), file_, "key '" + key + "'", max, key_location(key));
}

std::vector<YAML::Node> MapReader::list(const std::string& key) const {
  if (!has(key)) return {};
  const YAML::Node v = value(key);
  if (v.IsNull()) return {};  // "requires:" with nothing under it
  if (!v.IsSequence()) fail(key, "key '" + key + "' must be a list, got " + describe(v), "write it as '" + key + ": [a, b]' or one '- item' per line");
  std::vector<YAML::Node> out;
  for (const auto& item : v) out.push_back(item);
  return out;
}

std::vector<std::string> MapReader::string_list(const std::string& key) const {
  std::vector<std::string> out;
  for (const auto& item : list(key))
    out.push_back(scalar_text(item, file_, "an entry of '" + key + "'", value_location(key)));
  return out;
}

std::string scalar_text(const YAML::Node& node, const std::string& file, const std::string& what,
                        const SourceLocation& fallback) {
  if (!node.IsScalar()) throw ConfigError(location_of(file, node, fallback), what + " must be a string, got " + describe(node));
  return node.Scalar();
}

uint64_t scalar_u64(const YAML::Node& node, const std::string& file, const std::string& what, uint64_t max,
                    const SourceLocation& fallback) {
  const SourceLocation at = location_of(file, node, fallback);
  std::optional<uint64_t> v = node.IsScalar() ? parse_u64(node.Scalar()) : std::nullopt;
  if (!v) throw ConfigError(at, what + " must be a number (decimal or 0x hex), got " + describe(node));
  if (*v > max) throw ConfigError(at, what + " is " + node.Scalar() + ", more than the maximum " + hex(max));
  return *v;
}

}  // namespace enlight::detail
