#pragma once

#include <enlight/abi.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace enlight::cli {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Globals {
  std::string plugin_path;  // from --plugin-path, searched first
};

// The value after option args[i], advancing i; a UsageError when it is missing.
std::string option_value(const std::vector<std::string>& args, size_t& i);
// 0x1A2B: a claim's number as `enlight plugins` and `enlight check` print it.
std::string hex_number(uint64_t v);

// `text` as a whole number (decimal or 0x hex) in [min, max]; a UsageError
// naming the option and the range otherwise ("-1" too, which stoull wraps).
uint64_t parse_number(const std::string& option, const std::string& text, uint64_t min, uint64_t max);

// --plugin-path first, then $ENLIGHT_PLUGIN_PATH and the built-in defaults.
std::vector<std::string> search_path(const Globals& g);

int check(const Globals& g, const std::vector<std::string>& args);
int cpuid(const Globals& g, const std::vector<std::string>& args);
int plugins(const Globals& g, const std::vector<std::string>& args);
int profiles(const Globals& g, const std::vector<std::string>& args);
int run(const Globals& g, const std::vector<std::string>& args);
int guests(const Globals& g, const std::vector<std::string>& args);
int ab(const Globals& g, const std::vector<std::string>& args);
int new_plugin(const Globals& g, const std::vector<std::string>& args);

}  // namespace enlight::cli
