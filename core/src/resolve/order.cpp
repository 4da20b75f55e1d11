// Dependency order: Kahn's algorithm with a sorted ready set, so the order
// depends only on the set and its requires edges, never on how the profile
// listed the plugins. Providers come first because they register the
// services their consumers look up while being created.
#include "resolve/resolve_parts.hpp"

#include <algorithm>
#include <set>

namespace enlight::detail {
namespace {

// Called only when some nodes never became ready: every one of them still
// requires another of them, so walking "requires" from any of them (taking
// the smallest name at each step, for a stable message) must revisit a node.
[[noreturn]] void report_cycle(const EnabledSet& enabled, const std::set<std::string>& stuck) {
  std::vector<std::string> path{*stuck.begin()};
  std::vector<const Dependency*> edges;
  while (true) {
    const Manifest* m = enabled.at(path.back());
    const Dependency* next = nullptr;
    for (const auto& d : m->requires_)
      if (stuck.count(d.name) && (!next || d.name < next->name)) next = &d;
    edges.push_back(next);
    auto seen = std::find(path.begin(), path.end(), next->name);
    if (seen != path.end()) {
      const size_t start = static_cast<size_t>(seen - path.begin());
      std::string chain, where;
      for (size_t i = start; i < path.size(); ++i) {
        chain += path[i] + " -> ";
        where += (where.empty() ? "" : ", ") + edges[i]->where.str();
      }
      chain += next->name;
      throw ConfigError(edges[start]->where, "requires cycle: " + chain + " (" + where + ")",
                        "remove one of these requires entries; a provider cannot depend on its consumer");
    }
    path.push_back(next->name);
  }
}

}  // namespace

std::vector<const Manifest*> dependency_order(const EnabledSet& enabled) {
  std::map<std::string, int> waiting;                       // unmet providers per plugin
  std::map<std::string, std::vector<std::string>> consumers;  // provider -> its consumers
  for (const auto& [name, m] : enabled) {
    waiting[name];
    // Two requires entries naming one provider (two version bounds written
    // separately) are one edge.
    std::set<std::string> providers;
    for (const auto& d : m->requires_)
      if (enabled.count(d.name)) providers.insert(d.name);
    for (const auto& p : providers) {
      ++waiting[name];
      consumers[p].push_back(name);
    }
  }
  std::set<std::string> ready;
  for (const auto& [name, n] : waiting)
    if (n == 0) ready.insert(name);
  std::vector<const Manifest*> order;
  while (!ready.empty()) {
    const std::string name = *ready.begin();
    ready.erase(ready.begin());
    order.push_back(enabled.at(name));
    for (const auto& c : consumers[name])
      if (--waiting[c] == 0) ready.insert(c);
  }
  if (order.size() != enabled.size()) {
    std::set<std::string> stuck;
    for (const auto& [name, n] : waiting)
      if (n > 0) stuck.insert(name);
    report_cycle(enabled, stuck);
  }
  return order;
}

}  // namespace enlight::detail
