// `enlight ab` end to end on the emu backend: a small experiment file runs
// every variant the asked number of times in a seeded order, writes its
// Markdown, JSON and plots, and `--from` makes the same tables again.
#include <gtest/gtest.h>

#include <yaml-cpp/yaml.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cli_runner.hpp"
#include "enlight_test.hpp"

namespace {

namespace fs = std::filesystem;
using enlight_cli_test::Invocation;
using enlight_cli_test::run;
using enlight::test::read_file;

class CliAb : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("enlight-cli-ab-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }

  fs::path dir_;
};

constexpr const char* kExperiment = R"(experiment: t
repetitions: 3
warmup: 1
seed: 5
backend: emu
workload:
  guest: workload-timeread
  duration: 0.05
variants:
  - name: pm
    cpu: hv-frequencies
  - name: page
    cpu: hv-frequencies,hv-time
figures:
  - name: reads
    guest: reads_per_second
  - name: pm_exits
    stat: pm_timer_reads
    per_second: true
)";

TEST_F(CliAb, RunsEveryVariantInASeededOrderAndWritesTablesJsonAndPlots) {
  const std::string file = write("t.yaml", kExperiment);
  const std::string out = (dir_ / "out").string();
  Invocation r = run("ab " + file + " --out " + out);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("[8/8]"), std::string::npos) << "progress line\n" << r.out;
  EXPECT_NE(r.out.find("| pm | 3 |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| page | 3 |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Mann-Whitney p"), std::string::npos) << r.out;

  const YAML::Node j = YAML::LoadFile(out + "/results.json");
  EXPECT_EQ(j["context"]["seed"].as<uint64_t>(), 5u);
  ASSERT_EQ(j["runs"].size(), 8u);
  std::map<std::string, int> measured, warmups;
  std::vector<std::string> order;
  for (const auto& run : j["runs"]) {
    const std::string v = run["variant"].as<std::string>();
    (run["warmup"].as<bool>() ? warmups : measured)[v]++;
    order.push_back(v);
    // Each run's own report and log are kept.
    EXPECT_TRUE(fs::exists(fs::path(out) / run["log"].as<std::string>())) << run["log"].as<std::string>();
  }
  EXPECT_EQ(measured["pm"], 3);
  EXPECT_EQ(measured["page"], 3);
  EXPECT_EQ(warmups["pm"], 1);
  EXPECT_EQ(warmups["page"], 1);
  // The legacy clock exits once per read; the page never.
  for (const auto& res : j["results"]) {
    if (res["figure"].as<std::string>() != "pm_exits") continue;
    for (const auto& v : res["variants"]) {
      if (v["variant"].as<std::string>() == "page") {
        EXPECT_EQ(v["median"].as<double>(), 0);
      }
      if (v["variant"].as<std::string>() == "pm") {
        EXPECT_GT(v["median"].as<double>(), 1000);
      }
    }
  }
  for (const char* f : {"results.md", "t.reads.svg", "t.reads.png", "t.pm_exits.svg", "t.pm_exits.png", "t.reads.gp"})
    EXPECT_TRUE(fs::exists(fs::path(out) / f)) << f;

  // The same seed gives the same order.
  Invocation again = run("ab " + file + " --out " + out + "2 --no-plots");
  ASSERT_EQ(again.status, 0) << again.out;
  const YAML::Node j2 = YAML::LoadFile(out + "2/results.json");
  std::vector<std::string> order2;
  for (const auto& run : j2["runs"]) order2.push_back(run["variant"].as<std::string>());
  EXPECT_EQ(order, order2);
  EXPECT_FALSE(fs::exists(fs::path(out + "2") / "t.reads.svg")) << "--no-plots";

  // --from: the same tables from the recorded runs, nothing run again.
  const std::string table = read_file(fs::path(out) / "results.md");
  Invocation from = run("ab --from " + out + "/results.json --out " + out + "3 --no-plots");
  ASSERT_EQ(from.status, 0) << from.out;
  const std::string table3 = read_file(fs::path(out + "3") / "results.md");
  const auto tables = [](const std::string& md) {
    const size_t start = md.find("### "), end = md.find("\nPlots");
    return md.substr(start, end == std::string::npos ? std::string::npos : end - start);
  };
  EXPECT_EQ(tables(table), tables(table3));
  EXPECT_FALSE(fs::exists(fs::path(out + "3") / "runs")) << "--from ran something";
}

// kExperiment with its `page` variant timing out at once: every run of it fails.
std::string with_failing_page() {
  std::string text = kExperiment;
  text.replace(text.find("cpu: hv-frequencies,hv-time"), 27, "cpu: hv-frequencies,hv-time\n    args: [--timeout, '0.001']");
  return text;
}

TEST_F(CliAb, AFailedRunStopsTheExperimentNamingItsLog) {
  const std::string file = write("bad.yaml", with_failing_page());
  Invocation r = run("ab " + file + " --out " + (dir_ / "out").string() + " --no-plots");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("of variant 'page' failed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("its output: "), std::string::npos) << r.out;
}

TEST_F(CliAb, WithRetriesAFailedRunRunsAgainAndIsListed) {
  // A variant that always fails uses up --retries, each failure listed.
  const std::string file = write("retry.yaml", with_failing_page());
  Invocation r = run("ab " + file + " --out " + (dir_ / "out").string() + " --no-plots --retries 2");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("attempt 2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("all 2 retries used"), std::string::npos) << r.out;
}

TEST_F(CliAb, ABadExperimentFileNamesTheLineAndTheFix) {
  std::string text = kExperiment;
  text.replace(text.find("    guest: reads_per_second"), 27, "    guest: reads_per_second\n    stat: exits");
  const std::string file = write("two.yaml", text);
  Invocation r = run("ab " + file);
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find(file + ":15"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("exactly one source"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fix:"), std::string::npos) << r.out;
}

}  // namespace
