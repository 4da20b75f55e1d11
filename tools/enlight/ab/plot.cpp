#include "ab/plot.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace enlight::ab {
namespace {

namespace fs = std::filesystem;

// Single-quoted gnuplot strings: the only escape is '' and gnuplot does no
// backquote or macro (@) substitution inside them, so a variant name cannot
// run anything. A newline cannot appear inside one, so it is spliced in as
// a double-quoted "\n".
std::string gp_string(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "''";
    else if (c == '\n') out += "'.\"\\n\".'";
    else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) out += ' ';
    else out += c;
  }
  return out + "'";
}

// For '#' comment lines, which end at a newline, unless the line ends in a
// backslash: gnuplot continues comments too.
std::string one_line(std::string s) {
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  if (!s.empty() && s.back() == '\\') s += ' ';
  return s;
}

// For the re-render command line the error message suggests.
std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string number(double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form
  return std::string(buf, r.ptr);
}

// A low-discrepancy sequence instead of random offsets: the same request
// renders the same figure, and consecutive samples never land on top of
// each other. Within +-0.15 so points stay inside the 0.5-wide box.
double jitter(size_t k) {
  double f = static_cast<double>(k + 1) * 0.6180339887498949;
  return (f - std::floor(f) - 0.5) * 0.3;
}

void validate(const PlotRequest& r) {
  if (r.out_stem.empty()) throw std::invalid_argument("render_plot: out_stem is empty");
  if (r.series.empty()) throw std::invalid_argument("render_plot: '" + r.figure + "' has no variants to plot");
  for (const PlotSeries& s : r.series) {
    if (s.samples.empty())
      throw std::invalid_argument("render_plot: variant '" + s.variant + "' has no samples for '" + r.figure + "'");
    for (double v : s.samples)
      if (!std::isfinite(v))
        throw std::invalid_argument("render_plot: variant '" + s.variant + "' has a non-finite sample for '" +
                                    r.figure + "'");
  }
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  if (!f) throw std::runtime_error("render_plot: cannot write " + path.string() + ": " + std::strerror(errno));
}

std::string data_text(const PlotRequest& r) {
  std::ostringstream o;
  o << "# enlight ab: " << one_line(r.figure) << "\n"
    << "# One block per variant, in x order (gnuplot: index 0, 1, ...).\n"
    << "# Columns: sample, x offset of its point (jitter).\n";
  for (size_t i = 0; i < r.series.size(); ++i) {
    if (i) o << "\n\n";
    o << "# variant " << i + 1 << ": " << one_line(r.series[i].variant) << "\n";
    for (size_t k = 0; k < r.series[i].samples.size(); ++k)
      o << number(r.series[i].samples[k]) << ' ' << number(std::round(jitter(k) * 1e4) / 1e4) << "\n";
  }
  return o.str();
}

// Whether the variants lie more than two orders of magnitude apart (all
// positive): on a linear axis the small ones would be a line at zero.
bool log_scale(const PlotRequest& r) {
  double lo = INFINITY, hi = 0;
  for (const PlotSeries& s : r.series)
    for (double v : s.samples) {
      if (v <= 0) return false;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  return hi / lo > 100;
}

std::string script_text(const PlotRequest& r, const std::string& name) {
  const size_t n = r.series.size();
  const std::string ylabel = r.unit.empty() ? r.figure : r.figure + " (" + r.unit + ")";
  bool long_names = n > 6;
  for (const PlotSeries& s : r.series) long_names = long_names || s.variant.size() > 14;

  std::ostringstream o;
  o << "# enlight ab: " << one_line(r.figure) << ", per variant a box plot (whiskers at 1.5 IQR)\n"
    << "# and every sample as a point. Paths are relative to this file: re-render with\n"
    << "#   cd <this directory> && gnuplot ./" << one_line(name) << ".gp\n"
    << "# gnuplot draws no box for a variant with fewer than 4 samples; its points still show.\n"
    << "datafile = " << gp_string(name + ".dat") << "\n"
    << "n = " << n << "\n\n"
    << "set title " << gp_string(r.title.empty() ? r.figure : r.title) << "\n"
    << "set ylabel " << gp_string(ylabel) << "\n"
    << "set xtics (";
  for (size_t i = 0; i < n; ++i) o << (i ? ", " : "") << gp_string(r.series[i].variant) << ' ' << i + 1;
  o << ") nomirror" << (long_names ? " rotate by 30 right" : "") << "\n"
    << "set xrange [0.4:n+0.6]\n"
    << "set ytics nomirror\n"
    << "set border 3\n"
    // Extreme samples would otherwise sit on the axes, half hidden.
    << "set offsets 0, 0, graph 0.05, graph 0.05\n"
    << "set grid ytics\n"
    << (log_scale(r) ? "# Variants orders of magnitude apart: a log scale shows each one's spread.\nset logscale y\n" : "")
    << "set key off\n"
    << "set boxwidth 0.5\n"
    << "set style fill transparent solid 0.2 border\n"
    // `nooutliers` would be the natural way not to draw outliers twice, but
    // gnuplot 5.4 then fails on data without any ('all points y value
    // undefined'); a zero point size hides them instead.
    << "set style boxplot range 1.5 outliers pointtype 7\n\n"
    // Variant names and titles are shown as written: '_' and '@' are not markup.
    << "set terminal svg size 800,500 noenhanced font 'sans,12' background '#ffffff'\n"
    << "set output " << gp_string(name + ".svg") << "\n"
    << "plot for [i=0:n-1] datafile index i using (i+1):1 with boxplot lt i+1 ps 0, \\\n"
    << "     for [i=0:n-1] datafile index i using (i+1+$2):1 with points lt i+1 pt 7 ps 0.6\n\n"
    << "set terminal pngcairo size 800,500 noenhanced font 'sans,10' background '#ffffff'\n"
    << "set output " << gp_string(name + ".png") << "\n"
    << "replot\n"
    << "unset output\n";
  return o.str();
}

struct SpawnResult {
  int spawn_error = 0;  // errno from posix_spawnp (e.g. ENOENT), 0 if it ran
  int status = 0;       // waitpid status
  std::string err;      // its stderr
};

// No shell: the program name and the script path are passed as argv.
SpawnResult spawn(const std::string& program, const std::vector<std::string>& args, const std::string& cwd) {
  SpawnResult res;
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) throw std::runtime_error(std::string("render_plot: pipe: ") + std::strerror(errno));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());

  // A relative path would otherwise be looked up from cwd, after the chdir.
  const std::string exe = program.find('/') != std::string::npos ? fs::absolute(program).string() : program;
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  res.spawn_error = posix_spawnp(&pid, exe.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(pipefd[1]);
  if (res.spawn_error == 0) {
    char buf[4096];
    for (;;) {
      ssize_t got = read(pipefd[0], buf, sizeof buf);
      if (got > 0) {
        // Enough to explain a failure; a runaway script should not fill memory.
        if (res.err.size() < 16384) res.err.append(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        break;
      }
    }
    while (waitpid(pid, &res.status, 0) < 0 && errno == EINTR) {
    }
  }
  close(pipefd[0]);
  return res;
}

std::string describe(const SpawnResult& r) {
  if (WIFEXITED(r.status)) return "exit status " + std::to_string(WEXITSTATUS(r.status));
  if (WIFSIGNALED(r.status)) return std::string("killed by ") + strsignal(WTERMSIG(r.status));
  return "status " + std::to_string(r.status);
}

}  // namespace

PlotResult render_plot(const PlotRequest& request, const std::string& gnuplot) {
  validate(request);
  const fs::path stem(request.out_stem);
  const fs::path dir = stem.parent_path();
  const std::string name = stem.filename().string();
  if (name.empty()) throw std::invalid_argument("render_plot: out_stem '" + request.out_stem + "' names a directory");
  if (!dir.empty()) fs::create_directories(dir);

  auto with_ext = [&](const char* ext) { return request.out_stem + ext; };
  const std::string dat = with_ext(".dat"), gp = with_ext(".gp"), svg = with_ext(".svg"), png = with_ext(".png");
  write_file(dat, data_text(request));
  write_file(gp, script_text(request, name));
  // Stale images must not pass for this run's.
  fs::remove(svg);
  fs::remove(png);

  const std::string later = "; the data and the script are written, so install gnuplot (apt-get install gnuplot-nox) "
                            "or fix the script and re-render later with: cd " +
                            sh_quote(dir.empty() ? std::string(".") : dir.string()) + " && gnuplot " +
                            sh_quote("./" + name + ".gp");
  // "./": a stem starting with '-' must not read as an option.
  SpawnResult r = spawn(gnuplot, {"./" + name + ".gp"}, dir.string());
  if (r.spawn_error != 0)
    throw std::runtime_error("render_plot: cannot run gnuplot ('" + gnuplot + "': " + std::strerror(r.spawn_error) +
                             ") on " + gp + later);
  if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0)
    throw std::runtime_error("render_plot: gnuplot ('" + gnuplot + "') failed on " + gp + " (" + describe(r) +
                             "): " + r.err + later);
  for (const std::string& img : {svg, png}) {
    std::error_code ec;
    if (fs::file_size(img, ec) == 0 || ec)
      throw std::runtime_error("render_plot: gnuplot ('" + gnuplot + "') ran " + gp + " but did not write " + img +
                               (r.err.empty() ? "" : ": " + r.err) + later);
  }
  return PlotResult{{dat, gp, svg, png}};
}

bool gnuplot_available(const std::string& gnuplot) {
  SpawnResult r = spawn(gnuplot, {"--version"}, "");
  return r.spawn_error == 0 && WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0;
}

}  // namespace enlight::ab
