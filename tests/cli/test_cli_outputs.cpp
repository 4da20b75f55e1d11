// What `enlight run` leaves for tools (docs/metrics.md): run labels on every
// series, the JSON run report, the final exposition file, the Pushgateway
// push's failure handling and the file_sd target's life. The real
// Prometheus and Pushgateway are in tests/prometheus.
#include <gtest/gtest.h>

#include <yaml-cpp/yaml.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "cli_runner.hpp"
#include "enlight_test.hpp"

namespace {

using enlight_cli_test::Invocation;
using enlight_cli_test::run;
using enlight::test::read_file;

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("enlight-cli-outputs-" + std::to_string(getpid()) + "-" + name))
      .string();
}

TEST(CliLabels, BadLabelsAreRefusedWithTheirFix) {
  const struct {
    const char* label;
    const char* says;
  } cases[] = {{"variant", "is not NAME=VALUE"},       {"9x=a", "not a Prometheus label name"},
               {"__x=a", "not a Prometheus label name"}, {"plugin=a", "sets itself"},
               {"job=a", "sets itself"},                 {"variant=a b", "character outside"},
               {"variant=", "is empty"}};
  for (const auto& c : cases) {
    Invocation r = run(std::string("run --backend emu --metrics off --label '") + c.label + "'");
    EXPECT_EQ(r.status, 2) << c.label << ": " << r.out;
    EXPECT_NE(r.out.find(c.says), std::string::npos) << c.label << ": " << r.out;
    EXPECT_NE(r.out.find("fix:"), std::string::npos) << c.label << ": " << r.out;
  }
  Invocation twice = run("run --backend emu --metrics off --label variant=a --label variant=b");
  EXPECT_EQ(twice.status, 2) << twice.out;
  EXPECT_NE(twice.out.find("given twice"), std::string::npos) << twice.out;
}

TEST(CliReport, TheReportHoldsTheRunsLabelsOutcomeAndCounts) {
  const std::string report = temp_path("report.json");
  Invocation r = run("run --backend emu --metrics off --label variant=a --label experiment=t --report " + report);
  ASSERT_EQ(r.status, 0) << r.out;
  const YAML::Node j = YAML::LoadFile(report);
  EXPECT_EQ(j["format"].as<std::string>(), "enlight-run-report");
  EXPECT_EQ(j["version"].as<int>(), 1);
  EXPECT_EQ(j["labels"]["variant"].as<std::string>(), "a");
  EXPECT_EQ(j["labels"]["experiment"].as<std::string>(), "t");
  EXPECT_EQ(j["backend"].as<std::string>(), "emu");
  EXPECT_EQ(j["outcome"].as<std::string>(), "exited");
  EXPECT_TRUE(j["clean"].as<bool>());
  EXPECT_GT(j["seconds"].as<double>(), 0);
  // The same MSR exit count the console report printed.
  const auto at = r.out.find("exits: ");
  ASSERT_NE(at, std::string::npos) << r.out;
  EXPECT_EQ(std::stoull(r.out.substr(at + 7)), j["stats"]["msr_exits"].as<uint64_t>()) << r.out;
  // Bus exits by plugin and kind sum to what the bus dispatched.
  uint64_t bus = 0;
  for (const auto& c : j["counters"])
    if (c["name"].as<std::string>().rfind("exits.", 0) == 0) bus += c["value"].as<uint64_t>();
  EXPECT_GT(bus, 0u);
  EXPECT_GE(j["plugins"].size(), 10u);
  std::remove(report.c_str());
}

TEST(CliReport, AFailedRunStillWritesItsReport) {
  const std::string report = temp_path("failed.json");
  const std::string guest = std::string(ENLIGHT_TEST_GUEST_IMAGE_DIR) + "/test-fail-check.bin";
  Invocation r = run("run --backend emu --cpu hv-relaxed --metrics off --guest " + guest + " --report " + report);
  EXPECT_EQ(r.status, 1) << r.out;
  const YAML::Node j = YAML::LoadFile(report);
  EXPECT_FALSE(j["clean"].as<bool>());
  std::remove(report.c_str());
}

TEST(CliReport, AnUnwritableReportFailsTheRunNamingThePath) {
  Invocation r = run("run --backend emu --metrics off --report /nonexistent-dir/r.json");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("/nonexistent-dir/r.json"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fix:"), std::string::npos) << r.out;
}

#ifdef ENLIGHT_WITH_METRICS
TEST(CliMetricsFile, TheFinalExpositionCarriesTheLabelsOnEverySeries) {
  const std::string file = temp_path("final.prom");
  Invocation r = run("run --backend emu --metrics off --label variant=b --metrics-file " + file);
  ASSERT_EQ(r.status, 0) << r.out;
  std::istringstream text(read_file(file));
  std::string line;
  int series = 0;
  while (std::getline(text, line)) {
    if (line.empty() || line[0] == '#') continue;
    ++series;
    EXPECT_NE(line.find("variant=\"b\""), std::string::npos) << line;
  }
  EXPECT_GT(series, 10);
  std::remove(file.c_str());
}

TEST(CliPush, APushThatReachesNoGatewayFailsTheRun) {
  // Port 9 (discard): nothing listens on it here.
  Invocation r = run("run --backend emu --metrics off --push http://127.0.0.1:9");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("http://127.0.0.1:9"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fix:"), std::string::npos) << r.out;
  Invocation bad = run("run --backend emu --metrics off --push 127.0.0.1");
  EXPECT_EQ(bad.status, 1) << bad.out;
  EXPECT_NE(bad.out.find("not a URL with a port"), std::string::npos) << bad.out;
}

TEST(CliScrapeTarget, TheTargetExistsWhileTheVmRunsAndIsGoneAfter) {
  const std::string target = temp_path("target.json");
  std::remove(target.c_str());
  FILE* p = popen((enlight_cli_test::enlight_command(
                       "run --backend emu --cpu hv-frequencies --guest workload-timeread --duration 1.5 "
                       "--label variant=c --prometheus-sd " + target) + " 2>&1").c_str(), "r");
  ASSERT_NE(p, nullptr);
  bool seen = false;
  std::string content;
  for (int i = 0; i < 100 && !seen; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    content = read_file(target);
    seen = !content.empty();
  }
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  EXPECT_EQ(WEXITSTATUS(pclose(p)), 0) << out;
  ASSERT_TRUE(seen) << "no target file while the VM ran\n" << out;
  const YAML::Node j = YAML::Load(content);
  ASSERT_TRUE(j.IsSequence());
  const std::string host_port = j[0]["targets"][0].as<std::string>();
  EXPECT_NE(out.find("http://" + host_port + "/metrics"), std::string::npos) << content << out;
  EXPECT_EQ(j[0]["labels"]["variant"].as<std::string>(), "c");
  EXPECT_FALSE(std::filesystem::exists(target)) << "the target outlived the run";
}

TEST(CliScrapeTarget, NeedsTheMetricsEndpoint) {
  Invocation r = run("run --backend emu --metrics off --prometheus-sd /tmp/x.json");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("--metrics off"), std::string::npos) << r.out;
}
#endif

}  // namespace
