// Reading YAML documents strictly, with locations: every manifest and profile
// error must say file:line:column, every unknown key is refused with a "did
// you mean", every wrong type names the key and the type it wanted. yaml-cpp
// gives 0-based marks; everything here is 1-based.
#pragma once

#include <enlight/core/config_error.hpp>

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace enlight::detail {

// Parses one document; malformed YAML becomes a ConfigError carrying
// yaml-cpp's line. `what` names the document ("manifest", "profile").
YAML::Node load_yaml(const std::string& text, const std::string& file, const std::string& what);

// Where a node is; `fallback` when the node has no mark (absent or null
// values have none).
SourceLocation location_of(const std::string& file, const YAML::Node& node, const SourceLocation& fallback = {});

// "a list", "a mapping", "'text'", "nothing": what an operator wrote, for
// "must be X, got Y" messages.
std::string describe(const YAML::Node& node);

// One mapping, keys checked against a fixed set. Unknown keys, duplicate
// keys and non-scalar keys are errors at construction.
class MapReader {
 public:
  // `context` completes "unknown key 'x' in <context>".
  MapReader(const YAML::Node& node, std::string file, std::string context, std::vector<std::string> known,
            const SourceLocation& fallback = {});

  bool has(const std::string& key) const { return entries_.count(key) != 0; }
  // The value (an undefined node when absent).
  YAML::Node value(const std::string& key) const;
  SourceLocation key_location(const std::string& key) const;
  SourceLocation value_location(const std::string& key) const;
  const SourceLocation& location() const { return where_; }
  const std::string& file() const { return file_; }
  // Keys in document order, with their locations.
  const std::vector<std::string>& keys() const { return order_; }

  [[noreturn]] void fail(const std::string& key, const std::string& what, const std::string& fix = {}) const;
  // Throws "missing key 'x' in <context>" at the mapping itself.
  void require(const std::string& key) const;

  std::string string(const std::string& key, const std::string& fallback = {}) const;
  bool boolean(const std::string& key, bool fallback) const;
  // Decimal or 0x hex, at most `max`.
  uint64_t number(const std::string& key, uint64_t fallback, uint64_t max) const;
  // A list, or an empty vector when absent; anything else is an error.
  std::vector<YAML::Node> list(const std::string& key) const;
  std::vector<std::string> string_list(const std::string& key) const;

 private:
  struct Entry {
    YAML::Node key, value;
  };
  std::string file_, context_;
  SourceLocation where_;
  std::map<std::string, Entry> entries_;
  std::vector<std::string> order_;
};

// The scalar text of a node, or an error naming `what` ("an MSR index").
std::string scalar_text(const YAML::Node& node, const std::string& file, const std::string& what,
                        const SourceLocation& fallback = {});
uint64_t scalar_u64(const YAML::Node& node, const std::string& file, const std::string& what, uint64_t max,
                    const SourceLocation& fallback = {});

}  // namespace enlight::detail
