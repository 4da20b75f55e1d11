// The in-process exposition (metrics_text): exact exit counts by plugin,
// kind and result, summed over vCPUs; plugin counters with their plugin
// label; families that exist only when switched on.
#include "drive_exits.hpp"

#include <enlight/core/metrics.hpp>

#include <gtest/gtest.h>

namespace enlight::test {
namespace {

TEST(MetricsText, ExactExitCounts) {
  auto vm = make_metrics_vm();
  drive_exits(*vm);
  // Exactly these series: nothing counted twice, nothing counted elsewhere.
  EXPECT_EQ(samples(metrics_text(vm->vm()), "enlight_bus_exits_total"), expected_exits());
}

TEST(MetricsText, CountsAreReadAtScrapeTime) {
  auto vm = make_metrics_vm();
  EXPECT_TRUE(samples(metrics_text(vm->vm()), "enlight_bus_exits_total").empty()) << "absent means zero";
  vm->rdmsr(0, HCS_MSR_SYN_FIRST);
  EXPECT_EQ(samples(metrics_text(vm->vm()), exits("hc-shapes", "msr_read", "ok"))[exits("hc-shapes", "msr_read", "ok")], 1);
  vm->rdmsr(1, HCS_MSR_SYN_FIRST);
  EXPECT_EQ(samples(metrics_text(vm->vm()), exits("hc-shapes", "msr_read", "ok"))[exits("hc-shapes", "msr_read", "ok")], 2);
}

TEST(MetricsText, PluginCounterCarriesThePluginLabel) {
  auto vm = make_metrics_vm();
  drive_exits(*vm);
  const auto s = samples(metrics_text(vm->vm()), "enlight_fixture_echo_calls_total");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s.at(echo_counter()), 4);
}

TEST(MetricsText, VariantLabelOnEverySeries) {
  auto vm = make_metrics_vm();
  drive_exits(*vm);
  const std::string text = metrics_text(vm->vm(), "B");
  EXPECT_EQ(samples(text, "enlight_bus_exits_total"), expected_exits("B"));
  EXPECT_EQ(samples(text, "enlight_fixture_echo_calls_total").at(echo_counter("B")), 4);
  EXPECT_EQ(samples(text, "enlight_vm_vcpus").at("enlight_vm_vcpus{variant=\"B\"}"), 2);
}

TEST(MetricsText, VmAndPluginInfo) {
  auto vm = make_metrics_vm();
  const std::string text = metrics_text(vm->vm());
  EXPECT_EQ(samples(text, "enlight_vm_vcpus").at("enlight_vm_vcpus"), 2);
  EXPECT_EQ(samples(text, "enlight_plugin_info").at("enlight_plugin_info{plugin=\"hc-shapes\",version=\"1.0.0\"}"), 1);
  EXPECT_NE(text.find("# TYPE enlight_bus_exits_total counter"), std::string::npos) << text;
}

TEST(MetricsText, FaultsAreCounted) {
  auto vm = fixtures::make_vm({"throwing"}, {{"throwing"}});
  vm->vm().bus().set_hypercalls_enabled(true);
  vm->rdmsr(0, 0x40000010);
  vm->rdmsr(0, 0x40000011);
  vm->hypercall(0, direct::control(0x0051), 0, 0);
  const auto s = samples(metrics_text(vm->vm()), "enlight_bus_exits_total");
  EXPECT_EQ(s.at(exits("throwing", "msr_read", "fault")), 2);
  EXPECT_EQ(s.at(exits("throwing", "hypercall", "fault")), 1);
  EXPECT_EQ(s.size(), 2u);
}

TEST(MetricsText, MetricsOffHasNoExitFamily) {
  VmOptions o;
  o.metrics = false;
  auto vm = make_metrics_vm(o);
  drive_exits(*vm);
  const std::string text = metrics_text(vm->vm());
  EXPECT_EQ(text.find("enlight_bus_exits_total"), std::string::npos) << text;
  EXPECT_EQ(text.find("enlight_bus_handler_latency_seconds"), std::string::npos) << text;
  // The VM still describes itself.
  EXPECT_EQ(samples(text, "enlight_vm_vcpus").at("enlight_vm_vcpus"), 2);
  // With metrics off, a plugin's counter still works as memory (abi.h).
  EXPECT_EQ(vm->rdmsr(0, HCS_MSR_SYN_FIRST).value, HCS_MSR_SYN_FIRST);
}

TEST(MetricsText, NoLatencyHistogramUnlessAskedFor) {
  auto vm = make_metrics_vm();
  drive_exits(*vm);
  EXPECT_EQ(metrics_text(vm->vm()).find("enlight_bus_handler_latency_seconds"), std::string::npos);
}

TEST(MetricsText, LatencyHistogramWhenAskedFor) {
  VmOptions o;
  o.latency_histograms = true;
  auto vm = make_metrics_vm(o);
  for (int i = 0; i < 5; ++i) vm->rdmsr(0, HCS_MSR_SYN_FIRST);
  for (int i = 0; i < 2; ++i) vm->rdmsr(1, HCS_MSR_SYN_FIRST);
  for (int i = 0; i < 3; ++i) vm->rdmsr(0, 0x40000050);  // no handler ran: no latency
  vm->wrmsr(0, HCS_MSR_KVM_FIRST, 1);
  const std::string text = metrics_text(vm->vm());
  EXPECT_NE(text.find("# TYPE enlight_bus_handler_latency_seconds histogram"), std::string::npos) << text;
  const auto s = samples(text, "enlight_bus_handler_latency_seconds");
  const std::string read = "{plugin=\"hc-shapes\",kind=\"msr_read\"";
  EXPECT_EQ(s.at("enlight_bus_handler_latency_seconds_count" + read + "}"), 7);
  EXPECT_EQ(s.at("enlight_bus_handler_latency_seconds_bucket" + read + ",le=\"+Inf\"}"), 7);
  EXPECT_GE(s.at("enlight_bus_handler_latency_seconds_sum" + read + "}"), 0.0);
  EXPECT_EQ(s.at("enlight_bus_handler_latency_seconds_count{plugin=\"hc-shapes\",kind=\"msr_write\"}"), 1);
  // Buckets are cumulative and end at the count.
  double previous = 0;
  int buckets = 0;
  for (const auto& [series, value] : s) {
    if (series.rfind("enlight_bus_handler_latency_seconds_bucket" + read, 0) != 0) continue;
    ++buckets;
    EXPECT_LE(value, 7);
    previous = std::max(previous, value);
  }
  EXPECT_EQ(buckets, kLatencyBuckets + 1);
  EXPECT_EQ(previous, 7);
  EXPECT_EQ(s.count("enlight_bus_handler_latency_seconds_count{plugin=\"none\",kind=\"msr_read\"}"), 0u);
}

// Histograms are part of metrics: metrics off switches them off too.
TEST(MetricsText, LatencyHistogramNeedsMetrics) {
  VmOptions o;
  o.metrics = false;
  o.latency_histograms = true;
  auto vm = make_metrics_vm(o);
  vm->rdmsr(0, HCS_MSR_SYN_FIRST);
  EXPECT_EQ(metrics_text(vm->vm()).find("enlight_bus_handler_latency_seconds"), std::string::npos);
}

// Only bounded labels: plugin, kind, result (and variant) - never an MSR
// index, a GPA or a vCPU number.
TEST(MetricsText, ExitLabelsAreBounded) {
  auto vm = make_metrics_vm();
  drive_exits(*vm);
  for (const auto& [series, value] : samples(metrics_text(vm->vm(), "v"), "enlight_bus_exits_total")) {
    const size_t open = series.find('{');
    ASSERT_NE(open, std::string::npos);
    std::string names;
    for (size_t i = open + 1; i < series.size();) {
      const size_t eq = series.find('=', i);
      names += series.substr(i, eq - i) + " ";
      i = series.find('"', series.find('"', eq) + 1) + 2;
    }
    EXPECT_EQ(names, "plugin kind result variant ") << series;
  }
}

}  // namespace
}  // namespace enlight::test
