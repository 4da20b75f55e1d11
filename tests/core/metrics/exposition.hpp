// Reading a Prometheus text exposition: the samples of one family, by their
// exact series text (name and labels as exposed), and their values.
#pragma once

#include <map>
#include <sstream>
#include <string>

namespace enlight::test {

// series -> value, for every sample line whose name starts with `prefix`.
inline std::map<std::string, double> samples(const std::string& text, const std::string& prefix) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#' || line.compare(0, prefix.size(), prefix) != 0) continue;
    // Label values here never contain a blank, so the value follows the last one.
    const size_t blank = line.rfind(' ');
    if (blank == std::string::npos) continue;
    out[line.substr(0, blank)] = std::stod(line.substr(blank + 1));
  }
  return out;
}

// enlight_bus_exits_total{plugin="...",kind="...",result="..."[,variant="..."]}
inline std::string exits(const std::string& plugin, const std::string& kind, const std::string& result,
                         const std::string& variant = "") {
  std::string s = "enlight_bus_exits_total{plugin=\"" + plugin + "\",kind=\"" + kind + "\",result=\"" + result + "\"";
  if (!variant.empty()) s += ",variant=\"" + variant + "\"";
  return s + "}";
}

}  // namespace enlight::test
