// One run's figures, taken from its `enlight run --report` JSON.
#pragma once

#include "ab/experiment.hpp"

#include <optional>
#include <string>
#include <vector>

namespace enlight::ab {

struct RunFigures {
  bool clean = false;           // the run's own verdict (exit status 0)
  std::string outcome;
  double seconds = 0;           // the run's wall time
  // One per experiment figure, in its order; nullopt where the run did not
  // report it (a guest metric it never printed), which fails the experiment.
  std::vector<std::optional<double>> values;
};

// Reads a report file. Throws std::runtime_error naming the file when it is
// not a run report (version 1).
RunFigures read_run_figures(const std::string& report_path, const std::vector<Figure>& figures);
RunFigures run_figures_from_text(const std::string& report_json, const std::string& name,
                                 const std::vector<Figure>& figures);

}  // namespace enlight::ab
