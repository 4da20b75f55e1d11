#pragma once
// Figures of `enlight ab`: one plot per figure, the distribution of each
// variant's samples side by side. Rendering goes through gnuplot and leaves
// its data and script next to the images, so a figure can be restyled or
// re-rendered later (e.g. on a machine that has gnuplot) without re-running
// the experiment.

#include <string>
#include <vector>

namespace enlight::ab {

struct PlotSeries {
  std::string variant;
  std::vector<double> samples;  // one per run, finite
};

struct PlotRequest {
  std::string figure;  // e.g. "guest reads/s"
  std::string unit;    // may be empty
  std::string title;   // empty: the figure
  std::vector<PlotSeries> series;
  // Path without extension, e.g. dir/time-read.reads_per_second; missing
  // parent directories are created.
  std::string out_stem;
};

struct PlotResult {
  // OUT_STEM.dat, .gp, .svg, .png, in that order.
  std::vector<std::string> files;
};

// Writes OUT_STEM.dat and OUT_STEM.gp, then runs `gnuplot` (a program name
// looked up in PATH, or a path) on the script in OUT_STEM's directory to make
// OUT_STEM.svg and OUT_STEM.png: per variant a box plot (whiskers at 1.5 IQR)
// and every sample as a deterministically jittered point.
// Throws std::invalid_argument for no series, a variant without samples, a
// non-finite sample or an empty out_stem; std::runtime_error when gnuplot
// cannot be run or fails (the .dat and .gp are written by then).
PlotResult render_plot(const PlotRequest& request, const std::string& gnuplot = "gnuplot");

// Whether `gnuplot --version` runs and succeeds.
bool gnuplot_available(const std::string& gnuplot = "gnuplot");

}  // namespace enlight::ab
