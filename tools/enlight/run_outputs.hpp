// What `enlight run` leaves behind for tools: a JSON report of the run (the
// input of `enlight ab`), the metric lines a booted kernel's guest prints
// on its console, and the scrape target file of Prometheus's file-based
// service discovery. docs/metrics.md describes each format.
#pragma once

#include "ab/guest_lines.hpp"

#include <enlight/core/backend/run_result.hpp>
#include <enlight/core/metrics.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace enlight {
class Vm;
}

namespace enlight::cli {

struct RunReportInput {
  const RunResult* result = nullptr;
  const Vm* vm = nullptr;
  std::string backend, profile, guest;
  MetricLabels labels;
  double seconds = 0;  // from the vCPUs' start to the end of the run
  bool clean = false;  // what the exit status says: 0 or not
  const ab::GuestLineMetrics* lines = nullptr;  // a booted kernel's, else null
};

// Writes the report as JSON (format "enlight-run-report", version 1) to
// path, through a temporary file renamed into place so a reader never sees
// half of it. Throws std::runtime_error naming the path and the fix.
void write_run_report(const std::string& path, const RunReportInput& in);

// Writes path atomically; throws std::runtime_error naming it and the fix.
void write_file_atomically(const std::string& path, const std::string& text, const char* what);

// The run's target in Prometheus's file_sd format, for as long as this
// object lives: written when the metrics endpoint is up, removed when the
// run ends, so Prometheus scrapes the VM while it exists and drops it after.
class ScrapeTargetFile {
 public:
  ScrapeTargetFile(std::string path, const std::string& host_port, const MetricLabels& labels);
  ~ScrapeTargetFile();
  ScrapeTargetFile(const ScrapeTargetFile&) = delete;
  ScrapeTargetFile& operator=(const ScrapeTargetFile&) = delete;

 private:
  std::string path_;
};

}  // namespace enlight::cli
