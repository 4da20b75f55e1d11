// A VM's counters summed over its vCPUs, without Prometheus: what `enlight
// run` prints at the end of a run, so a short run's figures are there even
// when nobody scraped them.
#include <enlight/core/metrics.hpp>
#include <enlight/core/vm.hpp>

#include <atomic>

namespace enlight {
namespace {
uint64_t load(const uint64_t& v) { return std::atomic_ref<const uint64_t>(v).load(std::memory_order_relaxed); }
}  // namespace

std::vector<CounterTotal> counter_totals(const Vm& vm) {
  std::vector<CounterTotal> out;
  const MetricsStorage& s = vm.metrics_storage();
  const uint32_t vcpus = vm.vcpu_count();
  const uint16_t plugins = vm.plugin_count();
  if (s.exits) {
    constexpr size_t kinds = static_cast<size_t>(ExitKind::Count), results = static_cast<size_t>(Result::Count);
    for (uint16_t slot = 0; slot <= plugins; ++slot)
      for (size_t k = 0; k < kinds; ++k) {
        uint64_t sum = 0;
        for (size_t r = 0; r < results; ++r)
          for (uint32_t v = 0; v < vcpus; ++v)
            sum += load(s.exits[s.exit_block * v + (static_cast<size_t>(slot) * kinds + k) * results + r]);
        if (sum != 0)
          out.push_back({vm.plugin_name(slot), std::string("exits.") + to_string(static_cast<ExitKind>(k)), sum});
      }
  }
  for (const MetricsStorage::CounterInfo& c : s.counters) {
    uint64_t sum = 0;
    for (uint32_t v = 0; v < vcpus; ++v)
      sum += load(s.plugin_counters[static_cast<size_t>(v) * MetricsStorage::kMaxPluginCounters + c.id]);
    out.push_back({vm.plugin_name(c.slot),
                   c.label_name.empty() ? c.name : c.name + "{" + c.label_name + "=\"" + c.label_value + "\"}", sum});
  }
  for (const MetricsStorage::CoreCounterInfo& c : MetricsStorage::kCoreCounterInfo)
    out.push_back({"core", c.name, s.core_sum(vcpus, c.id)});
  return out;
}

}  // namespace enlight
