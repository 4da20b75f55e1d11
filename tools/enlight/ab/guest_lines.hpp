// The figures a booted kernel's guest reports on its console, for `enlight
// run --report` and so for `enlight ab` (docs/metrics.md, "The run report").
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace enlight::ab {

// Lines a booted kernel's guest prints to report figures, picked out of
// COM1's output as it passes (the console still shows them):
//   ENLIGHT-METRIC <name> <number>   a figure the guest measured
//   ENLIGHT-MARK <name>              the host's seconds since the run began,
//                                    taken when the line's last byte arrived
// Names are [A-Za-z0-9_.-], at most 64 characters; anything else on such
// a line is ignored and counted, as is a line longer than 256 bytes.
class GuestLineMetrics {
 public:
  struct Figure {
    std::string name;
    double value;
  };
  // put() runs on the vCPU thread that wrote COM1, under the UART's lock;
  // the figures are read after the vCPUs stopped.
  void put(uint8_t byte);
  void start_clock() { start_ = std::chrono::steady_clock::now(); }
  const std::vector<Figure>& metrics() const { return metrics_; }
  const std::vector<Figure>& marks() const { return marks_; }
  uint64_t malformed() const { return malformed_; }

 private:
  void finish_line();
  std::string line_;
  bool overlong_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::vector<Figure> metrics_, marks_;
  uint64_t malformed_ = 0;
};

}  // namespace enlight::ab
