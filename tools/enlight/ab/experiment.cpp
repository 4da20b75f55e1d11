#include "ab/experiment.hpp"

#include "ab/text_file.hpp"

#include <enlight/core/backend/backend.hpp>

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>

namespace enlight::ab {
namespace {

// What `enlight run --backend` takes from an experiment: a backend's name
// (backend.hpp), or auto.
bool backend_name(const std::string& name) { return name == "auto" || backend_kind(name).has_value(); }

struct Reader {
  std::string file;

  SourceLocation at(const YAML::Node& n) const {
    const YAML::Mark m = n.Mark();
    if (m.is_null()) return {file};
    return {file, m.line + 1, m.column + 1};
  }
  [[noreturn]] void fail(const YAML::Node& n, const std::string& what, const std::string& fix) const {
    throw ConfigError(at(n), what, fix);
  }
  // Also refuses a key given twice (yaml-cpp would keep the first one
  // silently) and a key that is not a plain word.
  void only_keys(const YAML::Node& map, const char* what, std::initializer_list<const char*> known) const {
    std::vector<std::string> seen;
    for (const auto& kv : map) {
      if (!kv.first.IsScalar()) fail(kv.first, std::string("a key in ") + what + " is not a plain word", "write key: value");
      const std::string key = kv.first.as<std::string>();
      if (std::find(seen.begin(), seen.end(), key) != seen.end())
        fail(kv.first, "'" + key + "' is given twice in " + what, "keep one of them");
      seen.push_back(key);
      if (std::none_of(known.begin(), known.end(), [&](const char* k) { return key == k; })) {
        std::string list;
        for (const char* k : known) list += std::string(list.empty() ? "" : ", ") + k;
        fail(kv.first, "unknown key '" + key + "' in " + what, "use one of: " + list);
      }
    }
  }
  std::string text(const YAML::Node& n, const char* key) const {
    if (!n.IsScalar()) fail(n, std::string("'") + key + "' must be a single value", "write it as key: value");
    return n.as<std::string>();
  }
  uint64_t number(const YAML::Node& n, const char* key, uint64_t min, uint64_t max) const {
    const std::string t = text(n, key);
    try {
      size_t used = 0;
      const unsigned long long v = std::stoull(t, &used, 10);
      if (used == t.size() && v >= min && v <= max && t[0] != '-') return v;
    } catch (const std::exception&) {
    }
    fail(n, std::string("'") + key + "' is '" + t + "'",
         "give a whole number from " + std::to_string(min) + " to " + std::to_string(max));
  }
  double real(const YAML::Node& n, const char* key, double min, double max) const {
    const std::string t = text(n, key);
    try {
      size_t used = 0;
      const double v = std::stod(t, &used);
      if (used == t.size() && v >= min && v <= max) return v;
    } catch (const std::exception&) {
    }
    char range[64];
    std::snprintf(range, sizeof range, "give a number from %g to %g", min, max);
    fail(n, std::string("'") + key + "' is '" + t + "'", range);
  }
  bool flag(const YAML::Node& n, const char* key) const {
    const std::string t = text(n, key);
    if (t == "true" || t == "yes") return true;
    if (t == "false" || t == "no") return false;
    fail(n, std::string("'") + key + "' is '" + t + "'", "write true or false");
  }
  // Names end up in file names, labels and table headers.
  std::string name(const YAML::Node& n, const char* what) const {
    const std::string t = text(n, what);
    const bool ok = !t.empty() && t.size() <= 64 && std::all_of(t.begin(), t.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
    });
    if (!ok) fail(n, std::string("the ") + what + " '" + t + "' is not a name", "use 1-64 of A-Z a-z 0-9 _ . -");
    return t;
  }
};

// A path written in the experiment file, as the child run will see it.
std::string resolve_path(const std::string& base_dir, const std::string& p) {
  if (p.empty() || p[0] == '/' || base_dir.empty()) return p;
  return (std::filesystem::path(base_dir) / p).lexically_normal().string();
}

// A built-in guest's name stays a name; anything with a '/' is a path.
std::string guest_arg(const std::string& base_dir, const std::string& g) {
  return g.find('/') == std::string::npos ? g : resolve_path(base_dir, g);
}

// The workload's own kernel command line travels with each variant (a
// variant may add to it), so workload_args leaves --append out.
std::vector<std::string> workload_args(const Reader& r, const YAML::Node& w, const std::string& base_dir) {
  if (!w.IsMap()) r.fail(w, "'workload' must be a map", "write e.g. workload: { guest: workload-timeread, duration: 1 }");
  r.only_keys(w, "workload",
              {"guest", "duration", "vcpus", "kernel", "initrd", "append", "memory", "timeout", "machine"});
  const bool guest = static_cast<bool>(w["guest"]), kernel = static_cast<bool>(w["kernel"]);
  if (guest == kernel)
    r.fail(w, "the workload needs one of 'guest' (a guest program) or 'kernel' (a booted Linux)",
           "give exactly one of them");
  std::vector<std::string> a;
  if (guest) a.insert(a.end(), {"--guest", guest_arg(base_dir, r.text(w["guest"], "guest"))});
  if (kernel) a.insert(a.end(), {"--kernel", resolve_path(base_dir, r.text(w["kernel"], "kernel"))});
  if (w["initrd"]) a.insert(a.end(), {"--initrd", resolve_path(base_dir, r.text(w["initrd"], "initrd"))});
  if (w["append"] && !kernel) r.fail(w["append"], "'append' is a booted kernel's command line", "use it with kernel: PATH");
  if (w["memory"]) a.insert(a.end(), {"--memory", r.text(w["memory"], "memory")});
  if (w["machine"]) a.insert(a.end(), {"--machine", r.text(w["machine"], "machine")});
  if (w["duration"]) {
    if (kernel) r.fail(w["duration"], "'duration' is a guest program's run length", "bound a kernel with 'timeout'");
    a.insert(a.end(), {"--duration", r.text(w["duration"], "duration")});
    (void)r.real(w["duration"], "duration", 0.001, 86400);
  }
  if (w["timeout"]) {
    (void)r.real(w["timeout"], "timeout", 0, 86400);
    a.insert(a.end(), {"--timeout", r.text(w["timeout"], "timeout")});
  }
  if (w["vcpus"]) a.insert(a.end(), {"--vcpus", std::to_string(r.number(w["vcpus"], "vcpus", 1, 32))});
  return a;
}

Variant variant(const Reader& r, const YAML::Node& v, const std::string& base_dir, const std::string& default_backend,
                const YAML::Node& workload) {
  if (!v.IsMap()) r.fail(v, "a variant must be a map", "write e.g. - { name: tsc-page, cpu: hv-time }");
  r.only_keys(v, "a variant", {"name", "cpu", "profile", "offload", "backend", "vcpus", "append", "args"});
  Variant out;
  out.where = r.at(v);
  if (!v["name"]) r.fail(v, "a variant has no 'name'", "give each variant a name: it labels its runs");
  out.name = r.name(v["name"], "variant name");
  if (v["cpu"] && v["profile"]) r.fail(v, "variant '" + out.name + "' gives both 'cpu' and 'profile'", "give one");
  if (v["cpu"]) out.run_args.insert(out.run_args.end(), {"--cpu", r.text(v["cpu"], "cpu")});
  if (v["profile"]) {
    const std::string p = r.text(v["profile"], "profile");
    // A built-in profile's name, or a file next to the experiment.
    const bool is_path = p.find('/') != std::string::npos || p.find(".yaml") != std::string::npos;
    out.run_args.push_back(is_path ? resolve_path(base_dir, p) : p);
  }
  if (v["offload"]) out.run_args.insert(out.run_args.end(), {"--offload", r.text(v["offload"], "offload")});
  const std::string backend = v["backend"] ? r.text(v["backend"], "backend") : default_backend;
  if (!backend.empty()) {
    if (!backend_name(backend))
      r.fail(v["backend"] ? v["backend"] : v, "backend '" + backend + "'", "use emu, kvm or auto");
    out.run_args.insert(out.run_args.end(), {"--backend", backend});
  }
  if (v["vcpus"]) out.run_args.insert(out.run_args.end(), {"--vcpus", std::to_string(r.number(v["vcpus"], "vcpus", 1, 32))});
  // A variant's `append` adds to the workload's kernel command line (e.g.
  // clocksource=acpi_pm), so the two cannot drift apart.
  const bool kernel = static_cast<bool>(workload["kernel"]);
  if (v["append"] && !kernel) r.fail(v["append"], "'append' adds to a booted kernel's command line", "give the workload a kernel");
  if (kernel && (workload["append"] || v["append"])) {
    std::string line = workload["append"] ? r.text(workload["append"], "append") : "";
    if (v["append"]) line += (line.empty() ? "" : " ") + r.text(v["append"], "append");
    out.run_args.insert(out.run_args.end(), {"--append", line});
  }
  if (v["args"]) {
    if (!v["args"].IsSequence()) r.fail(v["args"], "'args' must be a list", "write args: [--machine, pc]");
    for (const auto& a : v["args"]) out.run_args.push_back(r.text(a, "args"));
  }
  return out;
}

Figure figure(const Reader& r, const YAML::Node& f) {
  if (!f.IsMap()) r.fail(f, "a figure must be a map", "write e.g. - { name: reads, guest: reads_per_second }");
  r.only_keys(f, "a figure", {"name", "guest", "mark", "stat", "counter", "plugin", "run", "per_second", "unit", "better"});
  Figure out;
  out.where = r.at(f);
  if (!f["name"]) r.fail(f, "a figure has no 'name'", "give each figure a name");
  out.name = r.name(f["name"], "figure name");
  int sources = 0;
  const std::pair<const char*, Source> kinds[] = {{"guest", Source::Guest}, {"mark", Source::Mark},
                                                  {"stat", Source::Stat},   {"counter", Source::Counter},
                                                  {"run", Source::RunSeconds}};
  for (const auto& [key, kind] : kinds)
    if (f[key]) {
      ++sources;
      out.source = kind;
      out.key = r.text(f[key], key);
    }
  if (sources != 1)
    r.fail(f, "figure '" + out.name + "' needs exactly one source",
           "give one of guest: METRIC, mark: NAME, stat: NAME, counter: NAME, run: seconds");
  if (out.source == Source::RunSeconds && out.key != "seconds")
    r.fail(f["run"], "'run: " + out.key + "' is not a figure of the run", "write run: seconds");
  if (f["plugin"]) {
    if (out.source != Source::Counter) r.fail(f["plugin"], "'plugin' narrows a counter", "use it with counter: NAME");
    out.plugin = r.text(f["plugin"], "plugin");
  }
  if (f["per_second"]) {
    out.per_second = r.flag(f["per_second"], "per_second");
    if (out.per_second && (out.source == Source::Mark || out.source == Source::RunSeconds))
      r.fail(f["per_second"], "a time is not a count: per_second does not apply to a mark or run: seconds",
             "leave per_second out");
  }
  if (f["unit"]) out.unit = r.text(f["unit"], "unit");
  else if (out.source == Source::Mark || out.source == Source::RunSeconds) out.unit = "s";
  else if (out.per_second) out.unit = "1/s";
  if (f["better"]) {
    out.better = r.text(f["better"], "better");
    if (out.better != "higher" && out.better != "lower") r.fail(f["better"], "better: " + out.better, "write higher or lower");
  }
  return out;
}

}  // namespace

const char* to_string(Source s) noexcept {
  switch (s) {
    case Source::Guest: return "guest";
    case Source::Mark: return "mark";
    case Source::Stat: return "stat";
    case Source::Counter: return "counter";
    case Source::RunSeconds: return "run";
  }
  return "?";
}

Experiment parse_experiment(const std::string& text, const std::string& file, const std::string& base_dir) {
  const Reader r{file};
  YAML::Node top;
  try {
    top = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError({file, e.mark.line + 1, e.mark.column + 1}, "not valid YAML: " + e.msg, "fix the syntax there");
  }
  if (!top.IsMap()) throw ConfigError({file}, "an experiment file is a map", "start with 'experiment: NAME' (docs/ab.md)");
  r.only_keys(top, "an experiment",
              {"experiment", "description", "repetitions", "warmup", "seed", "confidence", "resamples", "baseline",
               "backend", "workload", "variants", "figures"});
  Experiment e;
  e.file = file;
  if (!top["experiment"]) throw ConfigError({file, 1}, "no 'experiment' name", "add 'experiment: NAME' at the top");
  e.name = r.name(top["experiment"], "experiment name");
  if (top["description"]) e.description = r.text(top["description"], "description");
  if (top["repetitions"]) e.repetitions = static_cast<uint32_t>(r.number(top["repetitions"], "repetitions", 2, 10000));
  if (top["warmup"]) e.warmup = static_cast<uint32_t>(r.number(top["warmup"], "warmup", 0, 1000));
  if (top["seed"]) e.seed = r.number(top["seed"], "seed", 0, UINT64_MAX);
  if (top["confidence"]) e.confidence = r.real(top["confidence"], "confidence", 0.5, 0.999);
  if (top["resamples"]) e.resamples = static_cast<uint32_t>(r.number(top["resamples"], "resamples", 100, 1000000));
  std::string backend;
  if (top["backend"]) {
    backend = r.text(top["backend"], "backend");
    if (!backend_name(backend))
      r.fail(top["backend"], "backend '" + backend + "'", "use emu, kvm or auto");
  }
  if (!top["workload"]) throw ConfigError({file}, "no 'workload'", "add workload: { guest: NAME } or { kernel: PATH }");
  e.workload_args = workload_args(r, top["workload"], base_dir);
  if (!top["variants"] || !top["variants"].IsSequence() || top["variants"].size() < 2)
    r.fail(top["variants"] ? top["variants"] : top, "an experiment needs a list of at least two 'variants'",
           "add variants: [ {name: a, cpu: ...}, {name: b, cpu: ...} ]");
  std::set<std::string> names;
  for (const auto& v : top["variants"]) {
    e.variants.push_back(variant(r, v, base_dir, backend, top["workload"]));
    if (!names.insert(e.variants.back().name).second)
      r.fail(v, "two variants are named '" + e.variants.back().name + "'", "give each variant its own name");
  }
  e.baseline = e.variants.front().name;
  if (top["baseline"]) {
    e.baseline = r.text(top["baseline"], "baseline");
    if (!names.count(e.baseline)) r.fail(top["baseline"], "baseline '" + e.baseline + "' is not a variant", "name one of the variants");
  }
  if (!top["figures"] || !top["figures"].IsSequence() || top["figures"].size() == 0)
    r.fail(top["figures"] ? top["figures"] : top, "an experiment needs a list of 'figures' to compare",
           "add figures: [ {name: reads, guest: reads_per_second} ]");
  std::set<std::string> figure_names;
  for (const auto& f : top["figures"]) {
    e.figures.push_back(figure(r, f));
    if (!figure_names.insert(e.figures.back().name).second)
      r.fail(f, "two figures are named '" + e.figures.back().name + "'", "give each figure its own name");
  }
  return e;
}

Experiment load_experiment(const std::string& path) {
  const std::optional<std::string> text = read_text_file(path);
  if (!text)
    throw ConfigError({path}, std::string("cannot read the experiment file: ") + std::strerror(errno),
                      "give the path of an experiment YAML file (tools/ab/*.yaml)");
  return parse_experiment(*text, path, std::filesystem::path(path).parent_path().string());
}

}  // namespace enlight::ab
