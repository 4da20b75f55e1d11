// run_figures_from_text / read_run_figures (tools/enlight/ab/figures.cpp): one
// run's figures out of its report, written here by hand in the exact shape
// write_run_report (tools/enlight/run_outputs.cpp) gives it.
#include "ab/figures.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace enlight::ab;

// As write_run_report lays it out: a guest program's METRIC records with
// their vCPU (integers, std::to_string), console lines with vcpu null,
// marks, stats, counters.
std::string report(const std::string& guest_metrics, const std::string& marks = "[]", const std::string& seconds = "2.5",
                   const std::string& counters = "[]") {
  return "{\n  \"format\": \"enlight-run-report\",\n  \"version\": 1,\n"
         "  \"labels\": {\"variant\": \"a\", \"experiment\": \"x\"},\n"
         "  \"backend\": \"emu\",\n  \"profile\": \"<flags>\",\n  \"guest\": \"workload-timeread\",\n"
         "  \"vcpus\": 2,\n  \"plugins\": [\"time\", \"apic\"],\n"
         "  \"outcome\": \"passed\",\n  \"exit_status\": 0,\n  \"clean\": true,\n  \"seconds\": " +
         seconds + ",\n  \"guest_metrics\": " + guest_metrics + ",\n  \"marks\": " + marks +
         ",\n  \"stats\": {\"msr_exits\": 1000, \"hypercalls\": 0, \"interrupts_delivered\": 7, \"pm_timer_reads\": 250, "
         "\"msr_exits_synthetic\": 900, \"msr_exits_other\": 100, \"io_exits\": 300, \"exits\": 5000, \"mmio_unbacked\": 0, "
         "\"bad_records\": 0, \"malformed_metric_lines\": 0},\n  \"counters\": " +
         counters + "\n}\n";
}

const std::string kTwoVcpuMetrics =
    "[\n"
    "    {\"vcpu\": 0, \"name\": \"reads\", \"value\": 1000},\n"
    "    {\"vcpu\": 1, \"name\": \"reads\", \"value\": 3000},\n"
    "    {\"vcpu\": 0, \"name\": \"elapsed_us\", \"value\": 500000},\n"
    "    {\"vcpu\": 1, \"name\": \"elapsed_us\", \"value\": 400000}\n"
    "  ]";

const std::string kCounters =
    "[\n"
    "    {\"plugin\": \"none\", \"name\": \"exits\", \"value\": 10},\n"
    "    {\"plugin\": \"time\", \"name\": \"exits\", \"value\": 32},\n"
    "    {\"plugin\": \"apic\", \"name\": \"exits\", \"value\": 100},\n"
    "    {\"plugin\": \"apic\", \"name\": \"pv_eois\", \"value\": 0}\n"
    "  ]";

Figure fig(Source s, std::string key, bool per_second = false, std::string plugin = "") {
  Figure f;
  f.name = "f_" + key;
  f.source = s;
  f.key = std::move(key);
  f.per_second = per_second;
  f.plugin = std::move(plugin);
  return f;
}

RunFigures read(const std::string& text, const std::vector<Figure>& figures) {
  return run_figures_from_text(text, "runs/000-a.json", figures);
}

TEST(RunFigures, RunVerdictAndSeconds) {
  const RunFigures r = read(report("[]"), {fig(Source::RunSeconds, "seconds")});
  EXPECT_TRUE(r.clean);
  EXPECT_EQ(r.outcome, "passed");
  EXPECT_DOUBLE_EQ(r.seconds, 2.5);
  ASSERT_EQ(r.values.size(), 1u);
  ASSERT_TRUE(r.values[0].has_value());
  EXPECT_DOUBLE_EQ(*r.values[0], 2.5);
}

TEST(RunFigures, UncleanRunIsReported) {
  std::string t = report("[]");
  t.replace(t.find("\"clean\": true"), 13, "\"clean\": false");
  t.replace(t.find("\"passed\""), 8, "\"failed\"");
  const RunFigures r = read(t, {});
  EXPECT_FALSE(r.clean);
  EXPECT_EQ(r.outcome, "failed");
  EXPECT_TRUE(r.values.empty());
}

TEST(RunFigures, GuestMetricSummedOverVcpus) {
  const RunFigures r = read(report(kTwoVcpuMetrics), {fig(Source::Guest, "reads")});
  ASSERT_TRUE(r.values.at(0).has_value());
  EXPECT_DOUBLE_EQ(*r.values[0], 4000);
}

TEST(RunFigures, PerSecondUsesVcpuZerosElapsedUs) {
  // 4000 reads over vCPU 0's 0.5 s (not vCPU 1's 0.4 s, not the 2.5 s wall).
  const RunFigures r = read(report(kTwoVcpuMetrics), {fig(Source::Guest, "reads", true)});
  ASSERT_TRUE(r.values.at(0).has_value());
  EXPECT_DOUBLE_EQ(*r.values[0], 8000);
  // A stat divides by it too.
  const RunFigures s = read(report(kTwoVcpuMetrics), {fig(Source::Stat, "pm_timer_reads", true)});
  ASSERT_TRUE(s.values.at(0).has_value());
  EXPECT_DOUBLE_EQ(*s.values[0], 500);
}

TEST(RunFigures, PerSecondUsesWallTimeWithoutElapsedUs) {
  const std::string metrics = "[\n    {\"vcpu\": 0, \"name\": \"reads\", \"value\": 1000}\n  ]";
  const RunFigures r = read(report(metrics), {fig(Source::Guest, "reads", true), fig(Source::Stat, "exits", true)});
  ASSERT_TRUE(r.values.at(0).has_value());
  EXPECT_DOUBLE_EQ(*r.values[0], 400);   // 1000 / 2.5 s
  ASSERT_TRUE(r.values.at(1).has_value());
  EXPECT_DOUBLE_EQ(*r.values[1], 2000);  // 5000 / 2.5 s
}

TEST(RunFigures, PerSecondIgnoresOtherVcpusElapsedUs) {
  // Only vCPU 1 reports elapsed_us: the wall time is the divisor.
  const std::string metrics =
      "[\n    {\"vcpu\": 0, \"name\": \"reads\", \"value\": 1000},\n"
      "    {\"vcpu\": 1, \"name\": \"elapsed_us\", \"value\": 100000}\n  ]";
  const RunFigures r = read(report(metrics), {fig(Source::Guest, "reads", true)});
  ASSERT_TRUE(r.values.at(0).has_value());
  EXPECT_DOUBLE_EQ(*r.values[0], 400);
}

TEST(RunFigures, PerSecondWithZeroElapsedUsFallsBackToWall) {
  const std::string metrics =
      "[\n    {\"vcpu\": 0, \"name\": \"reads\", \"value\": 1000},\n"
      "    {\"vcpu\": 0, \"name\": \"elapsed_us\", \"value\": 0}\n  ]";
  const RunFigures r = read(report(metrics), {fig(Source::Guest, "reads", true)});
  ASSERT_TRUE(r.values.at(0).has_value());
  EXPECT_DOUBLE_EQ(*r.values[0], 400);
}

TEST(RunFigures, Mark) {
  const std::string marks =
      "[\n    {\"name\": \"init\", \"seconds\": 1.25},\n    {\"name\": \"login\", \"seconds\": 3.5}\n  ]";
  const RunFigures r = read(report("[]", marks), {fig(Source::Mark, "login"), fig(Source::Mark, "init"),
                                                   fig(Source::Mark, "shutdown")});
  ASSERT_EQ(r.values.size(), 3u);
  ASSERT_TRUE(r.values[0].has_value());
  EXPECT_DOUBLE_EQ(*r.values[0], 3.5);
  ASSERT_TRUE(r.values[1].has_value());
  EXPECT_DOUBLE_EQ(*r.values[1], 1.25);
  EXPECT_FALSE(r.values[2].has_value());
}

TEST(RunFigures, Stat) {
  const RunFigures r = read(report("[]"), {fig(Source::Stat, "msr_exits"), fig(Source::Stat, "interrupts_delivered"),
                                           fig(Source::Stat, "hypercalls"), fig(Source::Stat, "no_such_stat")});
  ASSERT_EQ(r.values.size(), 4u);
  ASSERT_TRUE(r.values[0].has_value());
  EXPECT_DOUBLE_EQ(*r.values[0], 1000);
  ASSERT_TRUE(r.values[1].has_value());
  EXPECT_DOUBLE_EQ(*r.values[1], 7);
  // A zero stat is a value, not a missing one.
  ASSERT_TRUE(r.values[2].has_value());
  EXPECT_DOUBLE_EQ(*r.values[2], 0);
  EXPECT_FALSE(r.values[3].has_value());
}

TEST(RunFigures, CounterSummedOverPluginsOrNarrowed) {
  const RunFigures r = read(report("[]", "[]", "2.5", kCounters),
                            {fig(Source::Counter, "exits"), fig(Source::Counter, "exits", false, "apic"),
                             fig(Source::Counter, "exits", false, "time"), fig(Source::Counter, "pv_eois"),
                             fig(Source::Counter, "exits", false, "stimer"), fig(Source::Counter, "nothing")});
  ASSERT_EQ(r.values.size(), 6u);
  ASSERT_TRUE(r.values[0].has_value());
  EXPECT_DOUBLE_EQ(*r.values[0], 142);
  ASSERT_TRUE(r.values[1].has_value());
  EXPECT_DOUBLE_EQ(*r.values[1], 100);
  ASSERT_TRUE(r.values[2].has_value());
  EXPECT_DOUBLE_EQ(*r.values[2], 32);
  ASSERT_TRUE(r.values[3].has_value());
  EXPECT_DOUBLE_EQ(*r.values[3], 0);
  EXPECT_FALSE(r.values[4].has_value());  // a plugin that did not count it
  EXPECT_FALSE(r.values[5].has_value());
}

TEST(RunFigures, CounterPerSecond) {
  const RunFigures r = read(report("[]", "[]", "2", kCounters), {fig(Source::Counter, "exits", true, "apic")});
  ASSERT_TRUE(r.values.at(0).has_value());
  EXPECT_DOUBLE_EQ(*r.values[0], 50);
}

TEST(RunFigures, MissingGuestMetricIsNullopt) {
  const RunFigures r = read(report(kTwoVcpuMetrics), {fig(Source::Guest, "writes"), fig(Source::Guest, "writes", true),
                                                      fig(Source::Guest, "reads")});
  ASSERT_EQ(r.values.size(), 3u);
  EXPECT_FALSE(r.values[0].has_value());
  EXPECT_FALSE(r.values[1].has_value());
  EXPECT_TRUE(r.values[2].has_value());
  // The empty list write_run_report gives when nothing was reported.
  EXPECT_FALSE(read(report("[]"), {fig(Source::Guest, "reads")}).values.at(0).has_value());
}

TEST(RunFigures, ConsoleMetricWithNullVcpuIsRead) {
  // A booted kernel's ENLIGHT-METRIC lines: vcpu null, value as json::number.
  const std::string metrics =
      "[\n    {\"vcpu\": null, \"name\": \"clock_reads_per_second\", \"value\": 12345678.5},\n"
      "    {\"vcpu\": null, \"name\": \"elapsed_us\", \"value\": 250000}\n  ]";
  const RunFigures r = read(report(metrics, "[]", "4"), {fig(Source::Guest, "clock_reads_per_second"),
                                                         fig(Source::Guest, "clock_reads_per_second", true)});
  ASSERT_EQ(r.values.size(), 2u);
  ASSERT_TRUE(r.values[0].has_value());
  EXPECT_DOUBLE_EQ(*r.values[0], 12345678.5);
  // A console elapsed_us is no vCPU 0's: per second divides by the wall time.
  ASSERT_TRUE(r.values[1].has_value());
  EXPECT_DOUBLE_EQ(*r.values[1], 12345678.5 / 4);
}

TEST(RunFigures, ConsoleAndRecordMetricsMixed) {
  const std::string metrics =
      "[\n    {\"vcpu\": 0, \"name\": \"elapsed_us\", \"value\": 2000000},\n"
      "    {\"vcpu\": null, \"name\": \"boots\", \"value\": 3}\n  ]";
  const RunFigures r = read(report(metrics), {fig(Source::Guest, "boots", true)});
  ASSERT_TRUE(r.values.at(0).has_value());
  EXPECT_DOUBLE_EQ(*r.values[0], 1.5);
}

TEST(RunFigures, FiguresInTheirOrder) {
  const RunFigures r = read(report(kTwoVcpuMetrics, "[{\"name\": \"init\", \"seconds\": 0.75}]"),
                            {fig(Source::Mark, "init"), fig(Source::RunSeconds, "seconds"), fig(Source::Guest, "reads")});
  ASSERT_EQ(r.values.size(), 3u);
  EXPECT_DOUBLE_EQ(r.values[0].value_or(-1), 0.75);
  EXPECT_DOUBLE_EQ(r.values[1].value_or(-1), 2.5);
  EXPECT_DOUBLE_EQ(r.values[2].value_or(-1), 4000);
}

void expect_rejected(const std::string& text) {
  try {
    (void)run_figures_from_text(text, "runs/007-b.json", {fig(Source::RunSeconds, "seconds")});
    ADD_FAILURE() << "accepted:\n" << text;
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("runs/007-b.json"), std::string::npos) << e.what();
  }
}

TEST(RunFigures, WrongFormatOrVersionThrowsNamingTheReport) {
  std::string other = report("[]");
  other.replace(other.find("enlight-run-report"), 18, "enlight-ab-results");
  expect_rejected(other);
  std::string v2 = report("[]");
  v2.replace(v2.find("\"version\": 1"), 12, "\"version\": 2");
  expect_rejected(v2);
  std::string no_version = report("[]");
  no_version.replace(no_version.find("\"version\": 1,"), 13, "");
  expect_rejected(no_version);
  expect_rejected("[1, 2, 3]\n");
  expect_rejected("{\"seconds\": 1}\n");
  expect_rejected("{\"format\": \"enlight-run-report\", \"version\": 1,");  // cut short
  expect_rejected("");
}

TEST(RunFigures, ReadFromAFile) {
  const std::string path = std::string(ENLIGHT_TEST_BINARY_DIR) + "/ab_figures_test_report.json";
  {
    std::ofstream out(path);
    out << report(kTwoVcpuMetrics);
  }
  const RunFigures r = read_run_figures(path, {fig(Source::Guest, "reads")});
  EXPECT_DOUBLE_EQ(r.values.at(0).value_or(-1), 4000);
  std::remove(path.c_str());
  try {
    (void)read_run_figures(path, {});
    FAIL() << "read a missing report";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

}  // namespace
