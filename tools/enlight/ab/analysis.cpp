#include "ab/analysis.hpp"

#include "ab/json.hpp"
#include "ab/text_file.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <stdexcept>

namespace enlight::ab {
namespace {

// Four significant digits, with k/M/G from 10^4 up: 25.93 M and 8.821 M
// read at a glance where 2.593e+07 and 8821220 do not.
std::string fmt(double v) {
  if (!std::isfinite(v)) return "n/a";
  char b[32];
  const double a = std::fabs(v);
  if (a >= 1e9) std::snprintf(b, sizeof b, "%.4g G", v / 1e9);
  else if (a >= 1e6) std::snprintf(b, sizeof b, "%.4g M", v / 1e6);
  else if (a >= 1e4) std::snprintf(b, sizeof b, "%.4g k", v / 1e3);
  else if (a != 0 && a < 1e-3) std::snprintf(b, sizeof b, "%.3e", v);
  else std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}

std::string percent(double v) {
  if (!std::isfinite(v)) return "n/a";
  char b[32];
  std::snprintf(b, sizeof b, "%+.1f %%", v * 100);
  return b;
}

std::string p_plain(double p) {
  char b[48];
  if (p < 1e-4) std::snprintf(b, sizeof b, "%.1e", p);
  else std::snprintf(b, sizeof b, "%.4f", p);
  return b;
}

std::string p_value(const RankTest& t) { return p_plain(t.p_two_sided) + (t.exact ? "" : " (approx.)"); }

// An argument as a shell would need it, so a printed command can be pasted.
std::string shell_word(const std::string& a) {
  const bool plain = !a.empty() && a.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                                                       "_-+=.,:/@%") == std::string::npos;
  if (plain) return a;
  std::string q = "'";
  for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Each comparison its own bootstrap stream, the same on every re-analysis.
uint64_t stream_seed(uint64_t seed, size_t figure, size_t variant) {
  return seed ^ (0x9E3779B97F4A7C15ull * (figure * 1024 + variant + 1));
}

}  // namespace

std::vector<FigureResult> analyse(const Experiment& e, const std::vector<RunRecord>& runs, uint64_t seed) {
  std::vector<FigureResult> out;
  const auto base_it = std::find_if(e.variants.begin(), e.variants.end(), [&](const Variant& v) { return v.name == e.baseline; });
  const size_t base = static_cast<size_t>(base_it - e.variants.begin());
  for (size_t fi = 0; fi < e.figures.size(); ++fi) {
    FigureResult fr;
    fr.figure = e.figures[fi];
    for (const Variant& v : e.variants) fr.variants.push_back({v.name, {}, {}});
    for (const RunRecord& r : runs) {
      if (r.run.warmup) continue;
      const std::optional<double>& v = r.figures.values.at(fi);
      if (!v)
        throw std::runtime_error("run " + std::to_string(r.run.index) + " (" + e.variants.at(r.run.variant).name +
                                 ") has no value for figure '" + fr.figure.name + "' (" + to_string(fr.figure.source) +
                                 " " + fr.figure.key + "); its output: " + r.log +
                                 "\n  fix: check the figure's source name against what the run reports");
      fr.variants.at(r.run.variant).samples.push_back(*v);
    }
    for (VariantStats& vs : fr.variants) {
      if (vs.samples.empty()) throw std::runtime_error("variant '" + vs.variant + "' has no measured run");
      vs.summary = summarize(vs.samples);
    }
    const VariantStats& b = fr.variants[base];
    for (size_t vi = 0; vi < fr.variants.size(); ++vi) {
      if (vi == base) continue;
      const VariantStats& v = fr.variants[vi];
      Comparison c;
      c.variant = v.variant;
      c.median_difference = v.summary.median - b.summary.median;
      c.relative = b.summary.median != 0 ? c.median_difference / std::fabs(b.summary.median) : NAN;
      c.ci = bootstrap_median_difference(b.samples, v.samples, e.confidence, e.resamples, stream_seed(seed, fi, vi));
      c.cliffs_delta = cliffs_delta(b.samples, v.samples);
      c.hodges_lehmann = hodges_lehmann_shift(b.samples, v.samples);
      c.test = mann_whitney(b.samples, v.samples);
      fr.comparisons.push_back(c);
    }
    // Several variants against one baseline are several tests: Holm keeps
    // the chance of any false "significant" among them at the level read.
    std::vector<double> p;
    for (const Comparison& c : fr.comparisons) p.push_back(c.test.p_two_sided);
    const std::vector<double> adjusted = holm_adjust(p);
    for (size_t i = 0; i < adjusted.size(); ++i) fr.comparisons[i].p_holm = adjusted[i];
    out.push_back(std::move(fr));
  }
  return out;
}

std::string results_markdown(const Experiment& e, const RunContext& c, const std::vector<FigureResult>& results) {
  std::ostringstream o;
  o << "## Experiment " << e.name << "\n\n";
  if (!e.description.empty()) o << e.description << "\n\n";
  size_t measured = e.repetitions;
  o << "Variants (baseline **" << e.baseline << "**), each run " << measured << " times after " << e.warmup
    << " warm-up run(s), in a random order (seed " << c.seed << "):\n\n";
  for (const Variant& v : e.variants) {
    o << "- `" << v.name << "`: `enlight run";
    for (const std::string& a : e.workload_args) o << " " << shell_word(a);
    for (const std::string& a : v.run_args) o << " " << shell_word(a);
    o << "`\n";
  }
  o << "\nMachine: " << c.host << "; date " << c.date << "; enlight " << c.enlight << "; command `" << c.command
    << "` (" << fmt(c.wall_seconds) << " s).\n";
  if (!c.failed_attempts.empty()) {
    o << "\nFailed runs, not samples, each run again (--retries):\n\n";
    for (const std::string& f : c.failed_attempts) o << "- " << f << "\n";
  }
  const int conf = static_cast<int>(std::lround(e.confidence * 100));
  for (const FigureResult& fr : results) {
    const Figure& f = fr.figure;
    o << "\n### " << f.name;
    std::string detail = std::string(to_string(f.source)) + " " + f.key;
    if (!f.plugin.empty()) detail += " of " + f.plugin;
    if (f.per_second) detail += ", per second";
    if (!f.unit.empty()) detail += "; " + f.unit;
    if (!f.better.empty()) detail += "; " + f.better + " is better";
    o << " (" << detail << ")\n\n";
    o << "| variant | n | median | IQR | min - max | median vs " << e.baseline << " | " << conf
      << " % CI of the difference | Cliff's delta | Mann-Whitney p | p, Holm |\n";
    o << "|---|---|---|---|---|---|---|---|---|---|\n";
    for (const VariantStats& v : fr.variants) {
      const Summary& s = v.summary;
      o << "| " << v.variant << " | " << s.n << " | " << fmt(s.median) << " | " << fmt(s.iqr) << " | " << fmt(s.min)
        << " - " << fmt(s.max) << " | ";
      const auto it = std::find_if(fr.comparisons.begin(), fr.comparisons.end(),
                                   [&](const Comparison& cmp) { return cmp.variant == v.variant; });
      if (it == fr.comparisons.end()) {
        o << "(baseline) | | | | |\n";
        continue;
      }
      o << fmt(it->median_difference) << " (" << percent(it->relative) << ") | [" << fmt(it->ci.low) << ", "
        << fmt(it->ci.high) << "] | " << fmt(it->cliffs_delta) << " | " << p_value(it->test) << " | "
        << p_plain(it->p_holm) << " |\n";
    }
  }
  return o.str();
}

namespace {

void figure_json(std::ostringstream& o, const Figure& f) {
  o << "{\"name\": " << json::string(f.name) << ", \"source\": " << json::string(to_string(f.source))
    << ", \"key\": " << json::string(f.key) << ", \"plugin\": " << json::string(f.plugin)
    << ", \"per_second\": " << (f.per_second ? "true" : "false") << ", \"unit\": " << json::string(f.unit)
    << ", \"better\": " << json::string(f.better) << "}";
}

Source source_named(const std::string& s) {
  for (Source k : {Source::Guest, Source::Mark, Source::Stat, Source::Counter, Source::RunSeconds})
    if (s == to_string(k)) return k;
  throw std::runtime_error("unknown figure source '" + s + "'");
}

}  // namespace

std::string results_json(const Experiment& e, const RunContext& c, const std::vector<RunRecord>& runs,
                         const std::vector<FigureResult>& results) {
  using json::number;
  using json::string;
  std::ostringstream o;
  o << "{\n  \"format\": \"enlight-ab-results\",\n  \"version\": 1,\n";
  o << "  \"experiment\": " << string(e.name) << ",\n  \"description\": " << string(e.description)
    << ",\n  \"file\": " << string(e.file) << ",\n";
  o << "  \"context\": {\"seed\": " << c.seed << ", \"date\": " << string(c.date) << ", \"host\": " << string(c.host)
    << ", \"command\": " << string(c.command) << ", \"enlight\": " << string(c.enlight)
    << ", \"wall_seconds\": " << number(c.wall_seconds) << ", \"failed_attempts\": [";
  for (size_t i = 0; i < c.failed_attempts.size(); ++i) o << (i ? ", " : "") << string(c.failed_attempts[i]);
  o << "]},\n";
  o << "  \"repetitions\": " << e.repetitions << ", \"warmup\": " << e.warmup << ", \"confidence\": "
    << number(e.confidence) << ", \"resamples\": " << e.resamples << ",\n";
  o << "  \"baseline\": " << string(e.baseline) << ",\n  \"workload_args\": [";
  for (size_t i = 0; i < e.workload_args.size(); ++i) o << (i ? ", " : "") << string(e.workload_args[i]);
  o << "],\n  \"variants\": [";
  for (size_t i = 0; i < e.variants.size(); ++i) {
    o << (i ? "," : "") << "\n    {\"name\": " << string(e.variants[i].name) << ", \"run_args\": [";
    for (size_t j = 0; j < e.variants[i].run_args.size(); ++j) o << (j ? ", " : "") << string(e.variants[i].run_args[j]);
    o << "]}";
  }
  o << "\n  ],\n  \"figures\": [";
  for (size_t i = 0; i < e.figures.size(); ++i) {
    o << (i ? "," : "") << "\n    ";
    figure_json(o, e.figures[i]);
  }
  o << "\n  ],\n  \"runs\": [";
  for (size_t i = 0; i < runs.size(); ++i) {
    const RunRecord& r = runs[i];
    o << (i ? "," : "") << "\n    {\"index\": " << r.run.index << ", \"variant\": " << string(e.variants.at(r.run.variant).name)
      << ", \"repetition\": " << r.run.repetition << ", \"warmup\": " << (r.run.warmup ? "true" : "false")
      << ", \"outcome\": " << string(r.figures.outcome) << ", \"seconds\": " << number(r.figures.seconds)
      << ", \"log\": " << string(r.log) << ", \"values\": [";
    for (size_t j = 0; j < r.figures.values.size(); ++j)
      o << (j ? ", " : "") << (r.figures.values[j] ? number(*r.figures.values[j]) : "null");
    o << "]}";
  }
  o << "\n  ],\n  \"results\": [";
  for (size_t i = 0; i < results.size(); ++i) {
    const FigureResult& fr = results[i];
    o << (i ? "," : "") << "\n    {\"figure\": " << string(fr.figure.name) << ", \"variants\": [";
    for (size_t j = 0; j < fr.variants.size(); ++j) {
      const Summary& s = fr.variants[j].summary;
      o << (j ? ", " : "") << "\n      {\"variant\": " << string(fr.variants[j].variant) << ", \"n\": " << s.n
        << ", \"median\": " << number(s.median) << ", \"q1\": " << number(s.q1) << ", \"q3\": " << number(s.q3)
        << ", \"iqr\": " << number(s.iqr) << ", \"min\": " << number(s.min) << ", \"max\": " << number(s.max)
        << ", \"mean\": " << number(s.mean) << "}";
    }
    o << "],\n     \"comparisons\": [";
    for (size_t j = 0; j < fr.comparisons.size(); ++j) {
      const Comparison& cmp = fr.comparisons[j];
      o << (j ? ", " : "") << "\n      {\"variant\": " << string(cmp.variant) << ", \"baseline\": " << string(e.baseline)
        << ", \"median_difference\": " << number(cmp.median_difference) << ", \"relative_difference\": "
        << number(cmp.relative) << ", \"ci_low\": " << number(cmp.ci.low) << ", \"ci_high\": " << number(cmp.ci.high)
        << ", \"cliffs_delta\": " << number(cmp.cliffs_delta) << ", \"hodges_lehmann\": " << number(cmp.hodges_lehmann)
        << ", \"mann_whitney_u\": " << number(cmp.test.u) << ", \"p_value\": " << number(cmp.test.p_two_sided)
        << ", \"exact\": " << (cmp.test.exact ? "true" : "false") << ", \"p_holm\": " << number(cmp.p_holm) << "}";
    }
    o << "]}";
  }
  o << "\n  ]\n}\n";
  return o.str();
}

RecordedExperiment read_results_json(const std::string& path) {
  const std::optional<std::string> text = read_text_file(path);
  if (!text) throw std::runtime_error("cannot read '" + path + "'\n  fix: give the results.json an earlier `enlight ab` wrote");
  RecordedExperiment out;
  try {
    const YAML::Node r = YAML::Load(*text);
    if (!r.IsMap() || !r["format"] || r["format"].as<std::string>() != "enlight-ab-results" || r["version"].as<int>() != 1)
      throw std::runtime_error("not enlight ab results (format enlight-ab-results, version 1)");
    Experiment& e = out.experiment;
    e.name = r["experiment"].as<std::string>();
    e.description = r["description"].as<std::string>();
    e.file = r["file"].as<std::string>();
    e.repetitions = r["repetitions"].as<uint32_t>();
    e.warmup = r["warmup"].as<uint32_t>();
    e.confidence = r["confidence"].as<double>();
    e.resamples = r["resamples"].as<uint32_t>();
    e.baseline = r["baseline"].as<std::string>();
    for (const auto& a : r["workload_args"]) e.workload_args.push_back(a.as<std::string>());
    for (const auto& v : r["variants"]) {
      Variant var;
      var.name = v["name"].as<std::string>();
      for (const auto& a : v["run_args"]) var.run_args.push_back(a.as<std::string>());
      e.variants.push_back(std::move(var));
    }
    if (std::none_of(e.variants.begin(), e.variants.end(), [&](const Variant& v) { return v.name == e.baseline; }))
      throw std::runtime_error("the baseline '" + e.baseline + "' is none of the variants");
    for (const auto& f : r["figures"]) {
      Figure fig;
      fig.name = f["name"].as<std::string>();
      fig.source = source_named(f["source"].as<std::string>());
      fig.key = f["key"].as<std::string>();
      fig.plugin = f["plugin"].as<std::string>();
      fig.per_second = f["per_second"].as<bool>();
      fig.unit = f["unit"].as<std::string>();
      fig.better = f["better"].as<std::string>();
      e.figures.push_back(std::move(fig));
    }
    const YAML::Node c = r["context"];
    out.context = {c["seed"].as<uint64_t>(), c["date"].as<std::string>(), c["host"].as<std::string>(),
                   c["command"].as<std::string>(), c["enlight"].as<std::string>(), c["wall_seconds"].as<double>(), {}};
    for (const auto& f : c["failed_attempts"]) out.context.failed_attempts.push_back(f.as<std::string>());
    for (const auto& run : r["runs"]) {
      RunRecord rec;
      const std::string variant = run["variant"].as<std::string>();
      const auto it = std::find_if(e.variants.begin(), e.variants.end(), [&](const Variant& v) { return v.name == variant; });
      if (it == e.variants.end()) throw std::runtime_error("a run of unknown variant '" + variant + "'");
      rec.run = {run["index"].as<uint32_t>(), static_cast<uint32_t>(it - e.variants.begin()),
                 run["repetition"].as<uint32_t>(), run["warmup"].as<bool>()};
      rec.figures.clean = true;
      rec.figures.outcome = run["outcome"].as<std::string>();
      rec.figures.seconds = run["seconds"].as<double>();
      rec.log = run["log"].as<std::string>();
      for (const auto& v : run["values"])
        rec.figures.values.push_back(v.IsNull() ? std::nullopt : std::optional<double>(v.as<double>()));
      if (rec.figures.values.size() != e.figures.size())
        throw std::runtime_error("run " + std::to_string(rec.run.index) + " has " + std::to_string(rec.figures.values.size()) +
                                 " values for " + std::to_string(e.figures.size()) + " figures");
      out.runs.push_back(std::move(rec));
    }
  } catch (const YAML::Exception& ex) {
    throw std::runtime_error("'" + path + "' is not readable as enlight ab results: " + ex.what());
  } catch (const std::runtime_error& ex) {
    throw std::runtime_error("'" + path + "': " + ex.what());
  }
  return out;
}

}  // namespace enlight::ab
