// From runs to results: per figure, each variant's distribution, and each
// variant against the baseline (the difference of medians with a bootstrap
// confidence interval, Cliff's delta and the Hodges-Lehmann shift as effect
// sizes, and the Mann-Whitney U rank test). Why these: run-to-run figures
// of a VM are skewed and have outliers (a host interrupt, a page-cache
// miss), so medians and rank statistics, not means and t-tests.
#pragma once

#include "ab/experiment.hpp"
#include "ab/figures.hpp"
#include "ab/schedule.hpp"
#include "ab/stats.hpp"

#include <string>
#include <vector>

namespace enlight::ab {

struct RunRecord {
  ScheduledRun run;
  RunFigures figures;
  std::string log;  // the run's output file, relative to the output directory
};

// What was run where and when: printed with the results, so a figure never
// travels without its machine, date and command.
struct RunContext {
  uint64_t seed = 0;
  std::string date;       // UTC, ISO 8601
  std::string host;       // hostname, CPU model, cores, kernel
  std::string command;    // the `enlight ab` command line
  std::string enlight;    // version
  double wall_seconds = 0;
  std::vector<std::string> failed_attempts;  // runs that failed and ran again (--retries)
};

struct VariantStats {
  std::string variant;
  std::vector<double> samples;  // measured runs, schedule order
  Summary summary{};
};

struct Comparison {
  std::string variant;          // compared with the baseline
  double median_difference = 0; // median(variant) - median(baseline)
  double relative = 0;          // median_difference / |median(baseline)|; NaN if the baseline's is 0
  Interval ci{};                // bootstrap interval of median_difference
  double cliffs_delta = 0;      // > 0: the variant's values tend to be larger
  double hodges_lehmann = 0;
  RankTest test{};
  double p_holm = 0;            // test.p_two_sided adjusted over the figure's comparisons (Holm)
};

struct FigureResult {
  Figure figure;
  std::vector<VariantStats> variants;  // in the experiment's order
  std::vector<Comparison> comparisons; // every variant but the baseline
};

// Throws std::runtime_error when a measured run lacks a figure's value.
std::vector<FigureResult> analyse(const Experiment& e, const std::vector<RunRecord>& runs, uint64_t seed);

std::string results_markdown(const Experiment& e, const RunContext& c, const std::vector<FigureResult>& results);
std::string results_json(const Experiment& e, const RunContext& c, const std::vector<RunRecord>& runs,
                         const std::vector<FigureResult>& results);

// Reads results_json's output back (enlight ab --from): the experiment's
// variants and figures, the context and every run, so the statistics,
// tables and plots can be made again without running anything.
struct RecordedExperiment {
  Experiment experiment;
  RunContext context;
  std::vector<RunRecord> runs;
};
RecordedExperiment read_results_json(const std::string& path);

}  // namespace enlight::ab
