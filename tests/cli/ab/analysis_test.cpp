// analyse, results_markdown, results_json and read_results_json
// (tools/enlight/ab/analysis.cpp) on synthetic runs with known samples.
#include "ab/analysis.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace enlight::ab;
using Samples = std::vector<double>;

Figure make_figure(std::string name, Source s, std::string key, std::string unit = "", std::string better = "",
                   bool per_second = false, std::string plugin = "") {
  Figure f;
  f.name = std::move(name);
  f.source = s;
  f.key = std::move(key);
  f.unit = std::move(unit);
  f.better = std::move(better);
  f.per_second = per_second;
  f.plugin = std::move(plugin);
  return f;
}

Experiment make_experiment(std::vector<std::string> variants, uint32_t reps, uint32_t warmup) {
  Experiment e;
  e.name = "synthetic";
  e.description = "a made-up \"experiment\" with\nstrange text: µs, tabs\t, back\\slashes";
  e.file = "/tmp/exp dir/synthetic.yaml";
  e.repetitions = reps;
  e.warmup = warmup;
  e.confidence = 0.9;
  e.resamples = 2000;
  e.workload_args = {"--guest", "workload-timeread", "--duration", "0.5"};
  for (size_t i = 0; i < variants.size(); ++i) {
    Variant v;
    v.name = variants[i];
    v.run_args = {"--cpu", "hv-frequencies" + std::string(i ? ",hv-time" : ""), "--backend", "emu"};
    if (i == 2) v.run_args.push_back("");  // an empty argument (cpu: "")
    e.variants.push_back(v);
  }
  e.baseline = e.variants.front().name;
  e.figures = {make_figure("time", Source::RunSeconds, "seconds", "s", "lower"),
               make_figure("reads", Source::Guest, "reads", "1/s", "higher", true),
               make_figure("eois", Source::Counter, "pv_eois", "", "", false, "apic")};
  return e;
}

// Runs in schedule order; measured run r of variant v gets values[f][v][r],
// warm-ups absurd values (and none for the second figure) that must not count.
std::vector<RunRecord> make_runs(const Experiment& e, const std::vector<std::vector<Samples>>& values, uint64_t seed) {
  std::vector<RunRecord> runs;
  for (const ScheduledRun& s :
       make_schedule(static_cast<uint32_t>(e.variants.size()), e.repetitions, e.warmup, seed)) {
    RunRecord r;
    r.run = s;
    r.log = "runs/" + std::to_string(s.index) + ".log";
    r.figures.clean = true;
    r.figures.outcome = "passed";
    r.figures.seconds = 1.0 + s.index / 8.0;
    for (size_t f = 0; f < e.figures.size(); ++f) {
      if (s.warmup) r.figures.values.push_back(f == 1 ? std::nullopt : std::optional<double>(1e12));
      else r.figures.values.push_back(values[f][s.variant][s.repetition]);
    }
    runs.push_back(std::move(r));
  }
  return runs;
}

const std::vector<std::vector<Samples>> kValues = {
    // time: b fully above a, c fully below a
    {{12, 10, 14, 11, 13}, {22, 24, 20, 23, 21}, {9, 5, 7, 6, 8}},
    // reads: overlapping, awkward doubles
    {{0.1 + 0.2, 1.0 / 3, 2.5e-7, 1e300, 7}, {0.3, 0.5, 1.0 / 7, 2.0, 9.75}, {-1, 0, 1, 2, 3}},
    // eois: a tie-laden one
    {{1, 1, 2, 2, 3}, {1, 2, 2, 3, 3}, {4, 4, 4, 4, 4}},
};

// The measured samples of variant v for figure f, in schedule order.
Samples schedule_order(const std::vector<RunRecord>& runs, size_t f, uint32_t v) {
  Samples out;
  for (const RunRecord& r : runs)
    if (!r.run.warmup && r.run.variant == v) out.push_back(*r.figures.values[f]);
  return out;
}

void expect_same_summary(const Summary& a, const Summary& b) {
  EXPECT_EQ(a.n, b.n);
  EXPECT_EQ(a.median, b.median);
  EXPECT_EQ(a.q1, b.q1);
  EXPECT_EQ(a.q3, b.q3);
  EXPECT_EQ(a.iqr, b.iqr);
  EXPECT_EQ(a.min, b.min);
  EXPECT_EQ(a.max, b.max);
  EXPECT_EQ(a.mean, b.mean);
}

TEST(Analyse, SummariesAreStatsSummarize) {
  const Experiment e = make_experiment({"a", "b", "c"}, 5, 1);
  const auto runs = make_runs(e, kValues, 3);
  const auto results = analyse(e, runs, 77);
  ASSERT_EQ(results.size(), 3u);
  for (size_t f = 0; f < 3; ++f) {
    SCOPED_TRACE(e.figures[f].name);
    EXPECT_EQ(results[f].figure.name, e.figures[f].name);
    ASSERT_EQ(results[f].variants.size(), 3u);
    for (uint32_t v = 0; v < 3; ++v) {
      const VariantStats& vs = results[f].variants[v];
      EXPECT_EQ(vs.variant, e.variants[v].name);
      // The measured runs only, in schedule order.
      EXPECT_EQ(vs.samples, schedule_order(runs, f, v));
      EXPECT_EQ(vs.samples.size(), 5u);
      expect_same_summary(vs.summary, summarize(kValues[f][v]));
    }
  }
  EXPECT_EQ(results[0].variants[0].summary.median, 12);
  EXPECT_EQ(results[0].variants[0].summary.iqr, 2);
}

TEST(Analyse, ComparisonsAgainstTheBaseline) {
  const Experiment e = make_experiment({"a", "b", "c"}, 5, 1);
  const auto results = analyse(e, make_runs(e, kValues, 3), 77);
  const FigureResult& time = results.at(0);
  ASSERT_EQ(time.comparisons.size(), 2u);
  const Comparison& b = time.comparisons[0];
  const Comparison& c = time.comparisons[1];
  EXPECT_EQ(b.variant, "b");
  EXPECT_EQ(c.variant, "c");
  // Two comparisons, both at p = 2/252: Holm multiplies the first by 2 and
  // the second by 1, then keeps the order monotone, so both are 4/252.
  EXPECT_DOUBLE_EQ(b.p_holm, 2 * 2.0 / 252);
  EXPECT_DOUBLE_EQ(c.p_holm, 2 * 2.0 / 252);
  EXPECT_DOUBLE_EQ(b.median_difference, 10);   // 22 - 12
  EXPECT_DOUBLE_EQ(b.relative, 10.0 / 12);
  EXPECT_DOUBLE_EQ(c.median_difference, -5);   // 7 - 12
  EXPECT_DOUBLE_EQ(c.relative, -5.0 / 12);
  // Fully separated 5 vs 5: U = 0, exact p = 2 / C(10, 5).
  EXPECT_TRUE(b.test.exact);
  EXPECT_DOUBLE_EQ(b.test.p_two_sided, 2.0 / 252);
  EXPECT_DOUBLE_EQ(b.test.u, 0);
  EXPECT_TRUE(c.test.exact);
  EXPECT_DOUBLE_EQ(c.test.p_two_sided, 2.0 / 252);
  EXPECT_DOUBLE_EQ(c.test.u, 25);
  EXPECT_DOUBLE_EQ(b.cliffs_delta, 1);   // b's values are larger
  EXPECT_DOUBLE_EQ(c.cliffs_delta, -1);
  EXPECT_DOUBLE_EQ(b.hodges_lehmann, 10);
  EXPECT_DOUBLE_EQ(c.hodges_lehmann, -5);
  // The interval holds the difference and, fully separated, excludes 0.
  EXPECT_LE(b.ci.low, 10);
  EXPECT_GE(b.ci.high, 10);
  EXPECT_GT(b.ci.low, 0);
  EXPECT_LE(c.ci.low, -5);
  EXPECT_GE(c.ci.high, -5);
  EXPECT_LT(c.ci.high, 0);

  // The tie-laden figure: an approximate test, values from stats.
  const Comparison& ties = results.at(2).comparisons.at(0);
  EXPECT_FALSE(ties.test.exact);
  const RankTest expected = mann_whitney(kValues[2][0], kValues[2][1]);
  EXPECT_DOUBLE_EQ(ties.test.p_two_sided, expected.p_two_sided);
  EXPECT_DOUBLE_EQ(ties.cliffs_delta, cliffs_delta(kValues[2][0], kValues[2][1]));
  EXPECT_DOUBLE_EQ(ties.hodges_lehmann, hodges_lehmann_shift(kValues[2][0], kValues[2][1]));
  EXPECT_DOUBLE_EQ(ties.median_difference, 0);
  EXPECT_DOUBLE_EQ(ties.relative, 0);
}

TEST(Analyse, BaselineNeedNotBeFirst) {
  Experiment e = make_experiment({"a", "b", "c"}, 5, 1);
  e.baseline = "b";
  const auto results = analyse(e, make_runs(e, kValues, 5), 1);
  const FigureResult& time = results.at(0);
  ASSERT_EQ(time.comparisons.size(), 2u);
  EXPECT_EQ(time.comparisons[0].variant, "a");
  EXPECT_EQ(time.comparisons[1].variant, "c");
  EXPECT_DOUBLE_EQ(time.comparisons[0].median_difference, -10);  // 12 - 22
  EXPECT_DOUBLE_EQ(time.comparisons[0].relative, -10.0 / 22);
  EXPECT_DOUBLE_EQ(time.comparisons[1].median_difference, -15);
  EXPECT_DOUBLE_EQ(time.comparisons[0].cliffs_delta, -1);
}

TEST(Analyse, RelativeToANegativeOrZeroBaseline) {
  Experiment e = make_experiment({"a", "b"}, 3, 0);
  e.figures = {make_figure("delta", Source::Guest, "delta")};
  const std::vector<std::vector<Samples>> neg = {{{-10, -10, -10}, {-5, -5, -5}}};
  const Comparison c = analyse(e, make_runs(e, neg, 1), 1).at(0).comparisons.at(0);
  EXPECT_DOUBLE_EQ(c.median_difference, 5);
  EXPECT_DOUBLE_EQ(c.relative, 0.5);  // by |median(baseline)|: larger is positive
  const std::vector<std::vector<Samples>> zero = {{{0, 0, 0}, {1, 2, 3}}};
  const Comparison z = analyse(e, make_runs(e, zero, 1), 1).at(0).comparisons.at(0);
  EXPECT_DOUBLE_EQ(z.median_difference, 2);
  EXPECT_TRUE(std::isnan(z.relative));
}

TEST(Analyse, DeterministicForASeed) {
  const Experiment e = make_experiment({"a", "b", "c"}, 5, 1);
  const auto runs = make_runs(e, kValues, 3);
  const auto x = analyse(e, runs, 99), y = analyse(e, runs, 99);
  for (size_t f = 0; f < x.size(); ++f)
    for (size_t c = 0; c < x[f].comparisons.size(); ++c) {
      EXPECT_EQ(x[f].comparisons[c].ci.low, y[f].comparisons[c].ci.low);
      EXPECT_EQ(x[f].comparisons[c].ci.high, y[f].comparisons[c].ci.high);
    }
}

TEST(Analyse, WarmupRunsExcluded) {
  const Experiment e = make_experiment({"a", "b"}, 5, 3);
  const std::vector<std::vector<Samples>> values = {{kValues[0][0], kValues[0][1]},
                                                    {kValues[1][0], kValues[1][1]},
                                                    {kValues[2][0], kValues[2][1]}};
  const auto runs = make_runs(e, values, 8);
  ASSERT_EQ(runs.size(), 16u);
  const auto results = analyse(e, runs, 1);  // warm-ups lack "reads": no throw
  for (size_t f = 0; f < 3; ++f)
    for (size_t v = 0; v < 2; ++v) {
      SCOPED_TRACE(testing::Message() << "figure " << f << " variant " << v);
      EXPECT_EQ(results[f].variants[v].summary.n, 5u);
      // Warm-ups' 1e12 would show in the summary.
      expect_same_summary(results[f].variants[v].summary, summarize(values[f][v]));
    }
}

TEST(Analyse, MissingValueThrowsNamingTheFigure) {
  const Experiment e = make_experiment({"a", "b"}, 3, 1);
  const std::vector<std::vector<Samples>> values = {{{1, 2, 3}, {4, 5, 6}}, {{1, 2, 3}, {4, 5, 6}}, {{1, 2, 3}, {4, 5, 6}}};
  auto runs = make_runs(e, values, 2);
  for (RunRecord& r : runs)
    if (!r.run.warmup && r.run.variant == 1 && r.run.repetition == 2) r.figures.values[2] = std::nullopt;
  try {
    (void)analyse(e, runs, 1);
    FAIL() << "no error for a missing value";
  } catch (const std::runtime_error& ex) {
    const std::string what = ex.what();
    EXPECT_NE(what.find("'eois'"), std::string::npos) << what;
    EXPECT_NE(what.find("pv_eois"), std::string::npos) << what;
    EXPECT_NE(what.find("(b)"), std::string::npos) << what;
    EXPECT_NE(what.find("fix:"), std::string::npos) << what;
  }
}

TEST(Analyse, VariantWithoutMeasuredRunsThrows) {
  const Experiment e = make_experiment({"a", "b"}, 3, 1);
  const std::vector<std::vector<Samples>> values = {{{1, 2, 3}, {4, 5, 6}}, {{1, 2, 3}, {4, 5, 6}}, {{1, 2, 3}, {4, 5, 6}}};
  auto runs = make_runs(e, values, 2);
  std::erase_if(runs, [](const RunRecord& r) { return !r.run.warmup && r.run.variant == 1; });
  EXPECT_THROW((void)analyse(e, runs, 1), std::runtime_error);
}

// --- results files -------------------------------------------------------

RunContext make_context() {
  RunContext c;
  c.seed = 18446744073709551557ull;  // above INT64_MAX
  c.date = "2026-01-02T03:04:05Z";
  c.host = "lab-1 \"quoted\"; Intel(R) Xeon(R) CPU @ 2.10GHz, 8 cores, Linux 6.1.0-18-amd64";
  c.command = "enlight ab tools/ab/time-read.yaml --out 'res dir' --retries 2";
  c.enlight = "0.9.1-dev";
  c.wall_seconds = 123.456789;
  c.failed_attempts = {"run 3 (b) attempt 1: failed, exit status 1; output runs/003-b.log",
                       "run 9 (a) attempt 1: exit status 2, no usable report: x\ny"};
  return c;
}

struct TempFile {
  std::string path;
  explicit TempFile(const std::string& stem)
      : path((std::filesystem::temp_directory_path() / (stem + "-" + std::to_string(::getpid()) + ".json")).string()) {}
  ~TempFile() { std::remove(path.c_str()); }
  void write(const std::string& text) const {
    std::ofstream out(path, std::ios::binary);
    out << text;
  }
};

void expect_same_results(const std::vector<FigureResult>& x, const std::vector<FigureResult>& y) {
  ASSERT_EQ(x.size(), y.size());
  for (size_t f = 0; f < x.size(); ++f) {
    SCOPED_TRACE(x[f].figure.name);
    ASSERT_EQ(x[f].variants.size(), y[f].variants.size());
    for (size_t v = 0; v < x[f].variants.size(); ++v) {
      EXPECT_EQ(x[f].variants[v].variant, y[f].variants[v].variant);
      EXPECT_EQ(x[f].variants[v].samples, y[f].variants[v].samples);
      expect_same_summary(x[f].variants[v].summary, y[f].variants[v].summary);
    }
    ASSERT_EQ(x[f].comparisons.size(), y[f].comparisons.size());
    for (size_t c = 0; c < x[f].comparisons.size(); ++c) {
      const Comparison &p = x[f].comparisons[c], &q = y[f].comparisons[c];
      EXPECT_EQ(p.variant, q.variant);
      EXPECT_EQ(p.median_difference, q.median_difference);
      if (std::isnan(p.relative)) {
        EXPECT_TRUE(std::isnan(q.relative));
      } else {
        EXPECT_EQ(p.relative, q.relative);
      }
      EXPECT_EQ(p.ci.low, q.ci.low);
      EXPECT_EQ(p.ci.high, q.ci.high);
      EXPECT_EQ(p.cliffs_delta, q.cliffs_delta);
      EXPECT_EQ(p.hodges_lehmann, q.hodges_lehmann);
      EXPECT_EQ(p.test.u, q.test.u);
      EXPECT_EQ(p.test.p_two_sided, q.test.p_two_sided);
      EXPECT_EQ(p.test.exact, q.test.exact);
    }
  }
}

TEST(ResultsJson, RoundTrip) {
  const Experiment e = make_experiment({"a", "b", "c"}, 5, 1);
  const RunContext ctx = make_context();
  const auto runs = make_runs(e, kValues, 3);
  const auto results = analyse(e, runs, ctx.seed);
  const TempFile file("ab_analysis_test_roundtrip");
  file.write(results_json(e, ctx, runs, results));

  const RecordedExperiment back = read_results_json(file.path);
  const Experiment& r = back.experiment;
  EXPECT_EQ(r.name, e.name);
  EXPECT_EQ(r.description, e.description);
  EXPECT_EQ(r.file, e.file);
  EXPECT_EQ(r.repetitions, e.repetitions);
  EXPECT_EQ(r.warmup, e.warmup);
  EXPECT_EQ(r.confidence, e.confidence);
  EXPECT_EQ(r.resamples, e.resamples);
  EXPECT_EQ(r.baseline, e.baseline);
  EXPECT_EQ(r.workload_args, e.workload_args);
  ASSERT_EQ(r.variants.size(), e.variants.size());
  for (size_t i = 0; i < e.variants.size(); ++i) {
    EXPECT_EQ(r.variants[i].name, e.variants[i].name);
    EXPECT_EQ(r.variants[i].run_args, e.variants[i].run_args);
  }
  ASSERT_EQ(r.figures.size(), e.figures.size());
  for (size_t i = 0; i < e.figures.size(); ++i) {
    SCOPED_TRACE(e.figures[i].name);
    EXPECT_EQ(r.figures[i].name, e.figures[i].name);
    EXPECT_EQ(r.figures[i].source, e.figures[i].source);
    EXPECT_EQ(r.figures[i].key, e.figures[i].key);
    EXPECT_EQ(r.figures[i].plugin, e.figures[i].plugin);
    EXPECT_EQ(r.figures[i].per_second, e.figures[i].per_second);
    EXPECT_EQ(r.figures[i].unit, e.figures[i].unit);
    EXPECT_EQ(r.figures[i].better, e.figures[i].better);
  }

  const RunContext& c = back.context;
  EXPECT_EQ(c.seed, ctx.seed);
  EXPECT_EQ(c.date, ctx.date);
  EXPECT_EQ(c.host, ctx.host);
  EXPECT_EQ(c.command, ctx.command);
  EXPECT_EQ(c.enlight, ctx.enlight);
  EXPECT_EQ(c.wall_seconds, ctx.wall_seconds);
  EXPECT_EQ(c.failed_attempts, ctx.failed_attempts);

  ASSERT_EQ(back.runs.size(), runs.size());
  for (size_t i = 0; i < runs.size(); ++i) {
    SCOPED_TRACE(i);
    const RunRecord &p = runs[i], &q = back.runs[i];
    EXPECT_EQ(q.run.index, p.run.index);
    EXPECT_EQ(q.run.variant, p.run.variant);
    EXPECT_EQ(q.run.repetition, p.run.repetition);
    EXPECT_EQ(q.run.warmup, p.run.warmup);
    EXPECT_EQ(q.figures.outcome, p.figures.outcome);
    EXPECT_EQ(q.figures.seconds, p.figures.seconds);
    EXPECT_EQ(q.log, p.log);
    ASSERT_EQ(q.figures.values.size(), p.figures.values.size());
    for (size_t f = 0; f < p.figures.values.size(); ++f) {
      ASSERT_EQ(q.figures.values[f].has_value(), p.figures.values[f].has_value()) << "figure " << f;
      if (p.figures.values[f]) {
        EXPECT_EQ(*q.figures.values[f], *p.figures.values[f]) << "figure " << f;
      }
    }
  }
  // Warm-ups' missing values came back as missing.
  EXPECT_TRUE(std::any_of(back.runs.begin(), back.runs.end(),
                          [](const RunRecord& x) { return x.run.warmup && !x.figures.values[1]; }));

  // The statistics made again from the file are the same numbers.
  expect_same_results(results, analyse(r, back.runs, c.seed));
}

TEST(ResultsJson, RoundTripWithNaNRelativeAndEmptyStrings) {
  Experiment e = make_experiment({"a", "b"}, 3, 0);
  e.description = "";
  e.figures = {make_figure("delta", Source::Stat, "exits")};
  RunContext ctx;  // all defaults: empty strings, no failed attempts
  const std::vector<std::vector<Samples>> zero = {{{0, 0, 0}, {1, 2, 3}}};
  const auto runs = make_runs(e, zero, 1);
  const auto results = analyse(e, runs, ctx.seed);
  const std::string text = results_json(e, ctx, runs, results);
  EXPECT_NE(text.find("\"relative_difference\": null"), std::string::npos) << text;
  const TempFile file("ab_analysis_test_nan");
  file.write(text);
  const RecordedExperiment back = read_results_json(file.path);
  EXPECT_EQ(back.experiment.description, "");
  EXPECT_EQ(back.context.host, "");
  EXPECT_TRUE(back.context.failed_attempts.empty());
  expect_same_results(results, analyse(back.experiment, back.runs, back.context.seed));
}

TEST(ResultsJson, ReadingSomethingElseThrowsNamingThePath) {
  const TempFile file("ab_analysis_test_other");
  for (const std::string& text :
       {std::string("{\n  \"format\": \"enlight-run-report\",\n  \"version\": 1,\n  \"seconds\": 1\n}\n"),
        std::string("{\"format\": \"enlight-ab-results\", \"version\": 2}\n"), std::string("[1, 2]\n"),
        std::string("{\"format\": \"enlight-ab-results\", \"version\": 1, \"experiment\": \"x\"}\n"),
        std::string("{\"format\": \"enlight-ab-results\", ")}) {
    SCOPED_TRACE(text);
    file.write(text);
    try {
      (void)read_results_json(file.path);
      ADD_FAILURE() << "read it";
    } catch (const std::runtime_error& ex) {
      EXPECT_NE(std::string(ex.what()).find(file.path), std::string::npos) << ex.what();
    }
  }
  const std::string missing = file.path + ".missing";
  try {
    (void)read_results_json(missing);
    FAIL() << "read a missing file";
  } catch (const std::runtime_error& ex) {
    EXPECT_NE(std::string(ex.what()).find(missing), std::string::npos) << ex.what();
  }
}

// A results file whose baseline is none of its variants is refused when
// read, naming the path (analyse would index past the variants).
TEST(ResultsJson, BaselineNamingNoVariantIsRefused) {
  const Experiment e = make_experiment({"a", "b"}, 3, 0);
  const std::vector<std::vector<Samples>> v = {{{1, 2, 3}, {4, 5, 6}}, {{1, 2, 3}, {4, 5, 6}}, {{1, 2, 3}, {4, 5, 6}}};
  const auto runs = make_runs(e, v, 1);
  std::string text = results_json(e, make_context(), runs, analyse(e, runs, 1));
  const std::string from = "\"baseline\": \"a\",\n";
  ASSERT_NE(text.find(from), std::string::npos) << text;
  text.replace(text.find(from), from.size(), "\"baseline\": \"zz\",\n");
  const TempFile file("ab_analysis_test_baseline");
  file.write(text);
  try {
    (void)read_results_json(file.path);
    ADD_FAILURE() << "read results whose baseline 'zz' is no variant";
  } catch (const std::runtime_error& ex) {
    EXPECT_NE(std::string(ex.what()).find(file.path), std::string::npos) << ex.what();
    EXPECT_NE(std::string(ex.what()).find("zz"), std::string::npos) << ex.what();
  }
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The line of `text` that starts with `prefix`.
std::string line_starting(const std::string& text, const std::string& prefix) {
  size_t at = text.rfind("\n" + prefix);
  if (at == std::string::npos) return {};
  ++at;
  return text.substr(at, text.find('\n', at) - at);
}

TEST(ResultsMarkdown, TablesBaselineAndContext) {
  Experiment e = make_experiment({"a", "b", "c"}, 5, 1);
  e.baseline = "b";
  const RunContext ctx = make_context();
  const auto results = analyse(e, make_runs(e, kValues, 3), ctx.seed);
  const std::string md = results_markdown(e, ctx, results);

  EXPECT_NE(md.find("synthetic"), std::string::npos);
  EXPECT_EQ(count(md, "| variant | n | median | IQR |"), e.figures.size()) << md;
  EXPECT_EQ(count(md, "\n|---|"), e.figures.size()) << md;
  for (const Figure& f : e.figures) EXPECT_NE(md.find("### " + f.name), std::string::npos) << md;
  EXPECT_NE(md.find("median vs b"), std::string::npos) << md;
  EXPECT_NE(md.find("90 % CI"), std::string::npos) << md;
  EXPECT_EQ(count(md, "(baseline)"), e.figures.size()) << md;
  // The baseline's own row says so; the others have differences.
  const std::string b_row = line_starting(md, "| b |");
  EXPECT_NE(b_row.find("(baseline)"), std::string::npos) << md;
  const std::string a_row = line_starting(md, "| a |");
  EXPECT_EQ(a_row.find("(baseline)"), std::string::npos) << md;
  EXPECT_NE(a_row.find("| 5 |"), std::string::npos) << a_row;
  // Machine, date, version and the command line travel with the figures.
  EXPECT_NE(md.find(ctx.host), std::string::npos) << md;
  EXPECT_NE(md.find(ctx.date), std::string::npos) << md;
  EXPECT_NE(md.find(ctx.command), std::string::npos) << md;
  EXPECT_NE(md.find(ctx.enlight), std::string::npos) << md;
  EXPECT_NE(md.find(std::to_string(ctx.seed)), std::string::npos) << md;
  // Each variant's full command.
  EXPECT_NE(md.find("`enlight run --guest workload-timeread --duration 0.5 --cpu hv-frequencies,hv-time --backend emu`"),
            std::string::npos)
      << md;
  for (const std::string& f : ctx.failed_attempts) EXPECT_NE(md.find(f), std::string::npos) << md;
}

TEST(ResultsMarkdown, NoFailedRunsNoSection) {
  const Experiment e = make_experiment({"a", "b"}, 3, 0);
  const std::vector<std::vector<Samples>> v = {{{1, 2, 3}, {4, 5, 6}}, {{1, 2, 3}, {4, 5, 6}}, {{1, 2, 3}, {4, 5, 6}}};
  RunContext ctx = make_context();
  ctx.failed_attempts.clear();
  const std::string md = results_markdown(e, ctx, analyse(e, make_runs(e, v, 1), 1));
  EXPECT_EQ(md.find("Failed runs"), std::string::npos) << md;
  EXPECT_NE(md.find("| a |"), std::string::npos) << md;
}

}  // namespace
