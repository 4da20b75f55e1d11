#include "ab/figures.hpp"

#include "ab/text_file.hpp"

#include <yaml-cpp/yaml.h>

#include <stdexcept>

namespace enlight::ab {
namespace {

// The measured seconds a per-second figure divides by: the guest's own
// measured loop when it reports `elapsed_us` (set-up and report are not the
// workload), else the run's wall time.
double measured_seconds(const YAML::Node& report, double wall) {
  for (const auto& m : report["guest_metrics"])
    if (m["name"].as<std::string>() == "elapsed_us" && !m["vcpu"].IsNull() && m["vcpu"].as<uint32_t>() == 0) {
      const double us = m["value"].as<double>();
      if (us > 0) return us / 1e6;
    }
  return wall;
}

std::optional<double> raw_value(const YAML::Node& report, const Figure& f, double wall) {
  switch (f.source) {
    case Source::RunSeconds: return wall;
    case Source::Guest: {
      // A figure every vCPU reports is the VM's: the vCPUs' values summed.
      std::optional<double> sum;
      for (const auto& m : report["guest_metrics"])
        if (m["name"].as<std::string>() == f.key) sum = sum.value_or(0) + m["value"].as<double>();
      return sum;
    }
    case Source::Mark:
      for (const auto& m : report["marks"])
        if (m["name"].as<std::string>() == f.key) return m["seconds"].as<double>();
      return std::nullopt;
    case Source::Stat:
      if (report["stats"][f.key]) return report["stats"][f.key].as<double>();
      return std::nullopt;
    case Source::Counter: {
      std::optional<double> sum;
      for (const auto& c : report["counters"])
        if (c["name"].as<std::string>() == f.key && (f.plugin.empty() || c["plugin"].as<std::string>() == f.plugin))
          sum = sum.value_or(0) + c["value"].as<double>();
      return sum;
    }
  }
  return std::nullopt;
}

}  // namespace

RunFigures run_figures_from_text(const std::string& report_json, const std::string& name,
                                 const std::vector<Figure>& figures) {
  RunFigures out;
  try {
    const YAML::Node r = YAML::Load(report_json);
    if (!r.IsMap() || !r["format"] || r["format"].as<std::string>() != "enlight-run-report" ||
        r["version"].as<int>() != 1)
      throw std::runtime_error("not an enlight run report (format enlight-run-report, version 1)");
    out.clean = r["clean"].as<bool>();
    out.outcome = r["outcome"].as<std::string>();
    out.seconds = r["seconds"].as<double>();
    const double per = measured_seconds(r, out.seconds);
    for (const Figure& f : figures) {
      std::optional<double> v = raw_value(r, f, out.seconds);
      if (v && f.per_second) v = per > 0 ? std::optional<double>(*v / per) : std::nullopt;
      out.values.push_back(v);
    }
  } catch (const YAML::Exception& e) {
    throw std::runtime_error("run report '" + name + "' is not readable: " + e.what());
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("run report '" + name + "': " + e.what());
  }
  return out;
}

RunFigures read_run_figures(const std::string& report_path, const std::vector<Figure>& figures) {
  const std::optional<std::string> text = read_text_file(report_path);
  if (!text) throw std::runtime_error("run report '" + report_path + "' is missing (the run wrote none)");
  return run_figures_from_text(*text, report_path, figures);
}

}  // namespace enlight::ab
