// `enlight ab`: an A/B experiment on enlightenment sets. Each run is a
// child `enlight run` with its own report, so every run starts from a fresh
// process (plugins loaded, VM created, nothing left from the run before),
// as a user's VM would; the runs of all variants go in a seeded random
// order; the figures are compared with rank statistics (ab/analysis.hpp).
#include "commands.hpp"

#include "ab/analysis.hpp"
#include "ab/experiment.hpp"
#include "ab/figures.hpp"
#include "ab/plot.hpp"
#include "ab/schedule.hpp"
#include "run_outputs.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>

extern char** environ;

namespace enlight::cli {
namespace {

struct AbArgs {
  std::string experiment, from, out;
  std::optional<uint64_t> seed;
  uint32_t repetitions = 0;  // 0: the file's
  std::optional<uint32_t> warmup;
  uint32_t retries = 0;  // failed runs run again, this many in the whole experiment
  std::string push;
  bool plots = true;
};

AbArgs parse_ab(const std::vector<std::string>& args) {
  AbArgs a;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a0 = args[i];
    if (a0 == "--out") a.out = option_value(args, i);
    else if (a0 == "--from") a.from = option_value(args, i);
    else if (a0 == "--seed") a.seed = parse_number(a0, option_value(args, i), 0, UINT64_MAX);
    else if (a0 == "--repetitions") a.repetitions = static_cast<uint32_t>(parse_number(a0, option_value(args, i), 2, 10000));
    else if (a0 == "--warmup") a.warmup = static_cast<uint32_t>(parse_number(a0, option_value(args, i), 0, 1000));
    else if (a0 == "--retries") a.retries = static_cast<uint32_t>(parse_number(a0, option_value(args, i), 0, 1000));
    else if (a0 == "--push") a.push = option_value(args, i);
    else if (a0 == "--no-plots") a.plots = false;
    else if (!a0.empty() && a0[0] == '-') throw UsageError("unknown option '" + a0 + "'");
    else if (a.experiment.empty()) a.experiment = a0;
    else throw UsageError("more than one experiment file given");
  }
  if (a.experiment.empty() == a.from.empty())
    throw UsageError("give an experiment file (enlight ab tools/ab/NAME.yaml) or --from RESULTS.json, one of them");
  if (!a.from.empty() && (a.seed || a.repetitions || a.warmup || a.retries || !a.push.empty()))
    throw UsageError("--from makes the tables and plots of recorded runs again; --seed, --repetitions, --warmup, --retries and --push "
                     "belong to a new experiment");
  return a;
}

std::string self_exe() {
  std::error_code ec;
  const auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot find this enlight binary (/proc/self/exe): " + ec.message());
  return p.string();
}

std::string first_line_of(const char* path, const char* key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) {
      const auto colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(colon + 2);
    }
  return "";
}

std::string describe_host() {
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  utsname u{};
  uname(&u);
  std::string cpu = first_line_of("/proc/cpuinfo", "model name");
  return std::string(name) + " (" + (cpu.empty() ? "unknown CPU" : cpu) + ", " +
         std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) + " CPU(s), Linux " + u.release + ")";
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char b[32];
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return b;
}

// Runs argv with stdout and stderr into log and stdin from /dev/null (a
// booted kernel's console would otherwise read the terminal). Returns the
// exit status, or -signal.
int run_child(const std::vector<std::string>& argv, const std::string& log) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<char*> cargv;
  for (const std::string& s : argv) cargv.push_back(const_cast<char*>(s.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = 0;
  const int err = posix_spawn(&pid, cargv[0], &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (err != 0) throw std::runtime_error("cannot start '" + argv[0] + "': " + std::strerror(err));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw std::runtime_error(std::string("waitpid: ") + std::strerror(errno));
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& a : v) s += (s.empty() ? "" : " ") + a;
  return s;
}

// One line, rewritten in place on a terminal and one line per run in a log.
class Progress {
 public:
  explicit Progress(size_t total) : total_(total), tty_(isatty(2) != 0), start_(std::chrono::steady_clock::now()) {}
  void update(size_t done, const std::string& what) {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double left = done == 0 ? 0 : elapsed / static_cast<double>(done) * static_cast<double>(total_ - done);
    char b[256];
    std::snprintf(b, sizeof b, "[%zu/%zu] %s  %.0f s, about %.0f s left", done + 1 > total_ ? total_ : done + 1, total_,
                  what.c_str(), elapsed, left);
    if (tty_) std::fprintf(stderr, "\r\033[K%s", b);
    else std::fprintf(stderr, "%s\n", b);
    std::fflush(stderr);
  }
  void finish() {
    if (tty_) std::fprintf(stderr, "\r\033[K");
  }

 private:
  size_t total_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
};

void make_outputs(const ab::Experiment& e, const ab::RunContext& context, const std::vector<ab::RunRecord>& runs,
                  const std::string& out, bool plots) {
  const std::vector<ab::FigureResult> results = ab::analyse(e, runs, context.seed);
  std::string markdown = ab::results_markdown(e, context, results);
  std::vector<std::string> files = {out + "/results.json", out + "/results.md"};
  std::string plot_note;
  if (plots && !ab::gnuplot_available()) {
    plot_note = "no plots: gnuplot is not installed (apt install gnuplot-nox), then: enlight ab --from " + out +
                "/results.json --out " + out;
    plots = false;
  }
  if (plots) {
    markdown += "\nPlots (the distribution of each variant, every run a point):\n\n";
    for (const ab::FigureResult& fr : results) {
      ab::PlotRequest req;
      req.figure = fr.figure.name;
      req.unit = fr.figure.unit;
      req.title = e.name + ": " + fr.figure.name;
      req.out_stem = out + "/" + e.name + "." + fr.figure.name;
      for (const ab::VariantStats& v : fr.variants) req.series.push_back({v.variant, v.samples});
      const ab::PlotResult pr = ab::render_plot(req);
      files.insert(files.end(), pr.files.begin(), pr.files.end());
      markdown += "![" + e.name + ": " + fr.figure.name + "](" + e.name + "." + fr.figure.name + ".svg)\n";
    }
  }
  write_file_atomically(out + "/results.json", ab::results_json(e, context, runs, results), "results file");
  write_file_atomically(out + "/results.md", markdown, "results table");
  std::fputs(markdown.c_str(), stdout);
  std::printf("\nwritten:");
  for (const std::string& f : files)
    if (f.size() > 3 && (f.ends_with(".json") || f.ends_with(".md") || f.ends_with(".svg") || f.ends_with(".png")))
      std::printf(" %s", f.c_str());
  std::printf("\n");
  if (!plot_note.empty()) std::fprintf(stderr, "enlight ab: %s\n", plot_note.c_str());
}

}  // namespace

int ab(const Globals& g, const std::vector<std::string>& args) {
  const AbArgs a = parse_ab(args);
  std::error_code ec;
  if (!a.from.empty()) {
    ab::RecordedExperiment rec = ab::read_results_json(a.from);
    const std::string out = a.out.empty() ? std::filesystem::path(a.from).parent_path().string() : a.out;
    std::filesystem::create_directories(out.empty() ? "." : out, ec);
    make_outputs(rec.experiment, rec.context, rec.runs, out.empty() ? "." : out, a.plots);
    return 0;
  }
  ab::Experiment e = ab::load_experiment(a.experiment);
  if (a.repetitions) e.repetitions = a.repetitions;
  if (a.warmup) e.warmup = *a.warmup;
  ab::RunContext context;
  context.seed = a.seed ? *a.seed : e.seed ? *e.seed : std::random_device{}();
  context.date = utc_now();
  context.host = describe_host();
  context.enlight = ENLIGHT_CLI_VERSION;
  context.command = "enlight ab " + join(args);
  const std::string out = a.out.empty() ? "ab-results/" + e.name : a.out;
  std::filesystem::create_directories(out + "/runs", ec);
  if (ec)
    throw std::runtime_error("cannot create the output directory '" + out + "': " + ec.message() +
                             "\n  fix: give --out a writable directory");

  const std::string exe = self_exe();
  const std::vector<ab::ScheduledRun> schedule =
      ab::make_schedule(static_cast<uint32_t>(e.variants.size()), e.repetitions, e.warmup, context.seed);
  std::fprintf(stderr, "enlight ab: %s: %zu variants x %u runs (+%u warm-up), %zu runs in random order (seed %llu)\n",
               e.name.c_str(), e.variants.size(), e.repetitions, e.warmup, schedule.size(),
               static_cast<unsigned long long>(context.seed));
  Progress progress(schedule.size());
  std::vector<ab::RunRecord> runs;
  const auto start = std::chrono::steady_clock::now();
  uint32_t retries_left = a.retries;
  for (const ab::ScheduledRun& s : schedule) {
    const ab::Variant& v = e.variants[s.variant];
    for (uint32_t attempt = 1;; ++attempt) {
      char stem[128];
      std::snprintf(stem, sizeof stem, "runs/%03u-%s%s%s", s.index, v.name.c_str(), s.warmup ? "-warmup" : "",
                    attempt > 1 ? ("-attempt" + std::to_string(attempt)).c_str() : "");
      const std::string log = std::string(stem) + ".log", report = out + "/" + stem + ".json";
      progress.update(s.index, v.name + (s.warmup ? " (warm-up)" : " #" + std::to_string(s.repetition + 1)) +
                                   (attempt > 1 ? " attempt " + std::to_string(attempt) : ""));
      std::vector<std::string> argv = {exe};
      if (!g.plugin_path.empty()) argv.insert(argv.end(), {"--plugin-path", g.plugin_path});
      argv.push_back("run");
      argv.insert(argv.end(), e.workload_args.begin(), e.workload_args.end());
      argv.insert(argv.end(), v.run_args.begin(), v.run_args.end());
      argv.insert(argv.end(), {"--label", "variant=" + v.name, "--label", "experiment=" + e.name, "--report", report,
                               "--metrics", "off"});
      if (!a.push.empty()) argv.insert(argv.end(), {"--push", a.push});
      const int status = run_child(argv, out + "/" + log);
      ab::RunRecord rec{s, {}, log};
      std::string why;
      try {
        rec.figures = ab::read_run_figures(report, e.figures);
        if (status != 0 || !rec.figures.clean)
          why = rec.figures.outcome + ", exit status " + std::to_string(status);
      } catch (const std::exception& ex) {
        why = "exit status " + std::to_string(status) + ", no usable report: " + ex.what();
      }
      if (why.empty()) {
        runs.push_back(std::move(rec));
        break;
      }
      // A failed run is not a sample. With --retries it runs again, and
      // the failure stays in the results for the reader to judge.
      context.failed_attempts.push_back("run " + std::to_string(s.index) + " (" + v.name + ") attempt " +
                                        std::to_string(attempt) + ": " + why + "; output " + log);
      if (retries_left == 0) {
        progress.finish();
        throw std::runtime_error("run " + std::to_string(s.index) + " of variant '" + v.name + "' failed (" + why +
                                 "): a failed run is not a sample\n  its output: " + out + "/" + log +
                                 "\n  its command: " + join(argv) +
                                 (a.retries ? "\n  (all " + std::to_string(a.retries) + " retries used)" : ""));
      }
      --retries_left;
      std::fprintf(stderr, "\nenlight ab: %s; running it again\n", context.failed_attempts.back().c_str());
    }
  }
  progress.finish();
  context.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  make_outputs(e, context, runs, out, a.plots);
  return 0;
}

}  // namespace enlight::cli
