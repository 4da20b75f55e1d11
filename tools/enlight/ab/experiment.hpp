// An A/B experiment file (docs/ab.md): the variants to compare, the
// workload each runs, how often, and the figures to compare them by.
#pragma once

#include <enlight/core/config_error.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace enlight::ab {

struct Variant {
  std::string name;
  // The `enlight run` arguments that make this variant: its profile or
  // --cpu flags, --offload, --backend, and any extra args it lists.
  std::vector<std::string> run_args;
  SourceLocation where;
};

// Where a figure's value comes from in one run's report.
enum class Source { Guest, Mark, Stat, Counter, RunSeconds };

struct Figure {
  std::string name;
  Source source = Source::Guest;
  std::string key;     // the guest metric, mark, stat or counter name
  std::string plugin;  // Counter: only this plugin's (empty: summed over plugins)
  // Divided by the run's measured seconds: the guest's own `elapsed_us`
  // metric when it reports one (a workload guest's measured loop), else
  // the run's wall time.
  bool per_second = false;
  std::string unit;               // for tables and plots
  std::string better = "";        // "higher", "lower" or "" (no direction)
  SourceLocation where;
};

struct Experiment {
  std::string name, description, file;
  std::vector<Variant> variants;
  std::string baseline;           // a variant's name; default the first
  std::vector<std::string> workload_args;  // the `enlight run` args every variant shares
  uint32_t repetitions = 10;
  uint32_t warmup = 1;            // runs per variant before the measured ones, discarded
  std::optional<uint64_t> seed;   // unset: chosen at start and recorded
  double confidence = 0.95;
  uint32_t resamples = 10000;     // bootstrap resamples
  std::vector<Figure> figures;
};

// Reads and checks an experiment file. Paths in it (a kernel, an initrd,
// a guest image, a profile) are relative to the file's directory. Throws
// ConfigError naming the file, the line and the fix.
Experiment load_experiment(const std::string& path);
Experiment parse_experiment(const std::string& text, const std::string& file, const std::string& base_dir);

const char* to_string(Source s) noexcept;

}  // namespace enlight::ab
