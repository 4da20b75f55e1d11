#include "run_outputs.hpp"

#include "ab/json.hpp"

#include <enlight/core/guest/protocol.h>
#include <enlight/core/vm.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace enlight::cli {
namespace {

// {"name": "value", ...}: the run's labels, as the report and the file_sd
// target both carry them.
std::string labels_json(const MetricLabels& labels) {
  std::string o = "{";
  for (size_t i = 0; i < labels.size(); ++i)
    o += (i ? ", " : "") + json::string(labels[i].name) + ": " + json::string(labels[i].value);
  return o + "}";
}

}  // namespace

void write_file_atomically(const std::string& path, const std::string& text, const char* what) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  const auto fail = [&](const char* step) {
    const std::string why = std::strerror(errno);
    if (f) std::fclose(f);
    std::remove(tmp.c_str());
    throw std::runtime_error(std::string("cannot ") + step + " the " + what + " '" + path + "': " + why +
                             "\n  fix: give a path in a directory that exists and is writable");
  };
  if (!f) fail("create");
  if (std::fwrite(text.data(), 1, text.size(), f) != text.size()) fail("write");
  if (std::fclose(f) != 0) {
    f = nullptr;
    fail("write");
  }
  f = nullptr;
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail("rename into place");
}

void write_run_report(const std::string& path, const RunReportInput& in) {
  using json::number;
  using json::string;
  const RunResult& r = *in.result;
  std::string o = "{\n  \"format\": \"enlight-run-report\",\n  \"version\": 1,\n";
  o += "  \"labels\": " + labels_json(in.labels) + ",\n";
  o += "  \"backend\": " + string(in.backend) + ",\n  \"profile\": " + string(in.profile) +
       ",\n  \"guest\": " + string(in.guest) + ",\n";
  o += "  \"vcpus\": " + std::to_string(in.vm->vcpu_count()) + ",\n  \"plugins\": [";
  for (size_t i = 0; i < in.vm->plugins().size(); ++i)
    o += (i ? ", " : "") + string(in.vm->plugins()[i].manifest->name);
  o += "],\n";
  o += "  \"outcome\": " + string(to_string(r.outcome)) + ",\n  \"exit_status\": " + std::to_string(r.exit_status) +
       ",\n  \"clean\": " + (in.clean ? "true" : "false") + ",\n  \"seconds\": " + number(in.seconds) + ",\n";
  o += "  \"guest_metrics\": [";
  bool first = true;
  for (const CheckRecord& c : r.records) {
    if (c.kind != ENLIGHT_GUEST_METRIC) continue;
    o += std::string(first ? "" : ",") + "\n    {\"vcpu\": " + std::to_string(c.vcpu) + ", \"name\": " + string(c.name) +
         ", \"value\": " + std::to_string(c.actual) + "}";
    first = false;
  }
  if (in.lines)
    for (const ab::GuestLineMetrics::Figure& f : in.lines->metrics()) {
      o += std::string(first ? "" : ",") + "\n    {\"vcpu\": null, \"name\": " + string(f.name) +
           ", \"value\": " + number(f.value) + "}";
      first = false;
    }
  o += first ? "],\n" : "\n  ],\n";
  o += "  \"marks\": [";
  first = true;
  if (in.lines)
    for (const ab::GuestLineMetrics::Figure& f : in.lines->marks()) {
      o += std::string(first ? "" : ",") + "\n    {\"name\": " + string(f.name) + ", \"seconds\": " + number(f.value) + "}";
      first = false;
    }
  o += first ? "],\n" : "\n  ],\n";
  const RunStats& s = r.stats;
  const std::pair<const char*, uint64_t> stats[] = {
      {"msr_exits", s.msr_exits},           {"hypercalls", s.hypercalls},
      {"interrupts_delivered", s.interrupts_delivered}, {"pm_timer_reads", s.pm_timer_reads},
      {"msr_exits_synthetic", s.msr_exits_synthetic},   {"msr_exits_other", s.msr_exits_other},
      {"io_exits", s.io_exits},             {"exits", s.exits},
      {"mmio_unbacked", s.mmio_unbacked},   {"bad_records", s.bad_records},
      {"malformed_metric_lines", in.lines ? in.lines->malformed() : 0}};
  o += "  \"stats\": {";
  for (size_t i = 0; i < std::size(stats); ++i)
    o += std::string(i ? ", " : "") + string(stats[i].first) + ": " + std::to_string(stats[i].second);
  o += "},\n  \"counters\": [";
  first = true;
  for (const CounterTotal& c : counter_totals(*in.vm)) {
    o += std::string(first ? "" : ",") + "\n    {\"plugin\": " + string(c.plugin) + ", \"name\": " + string(c.name) +
         ", \"value\": " + std::to_string(c.value) + "}";
    first = false;
  }
  o += first ? "]\n}\n" : "\n  ]\n}\n";
  write_file_atomically(path, o, "run report");
}

ScrapeTargetFile::ScrapeTargetFile(std::string path, const std::string& host_port, const MetricLabels& labels)
    : path_(std::move(path)) {
  const std::string o = "[{\"targets\": [" + json::string(host_port) + "], \"labels\": " + labels_json(labels) + "}]\n";
  write_file_atomically(path_, o, "Prometheus target file");
}

ScrapeTargetFile::~ScrapeTargetFile() { std::remove(path_.c_str()); }

}  // namespace enlight::cli
