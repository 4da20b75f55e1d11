// The host side of a booted kernel's serial console: COM1's output to
// stdout or a file, and the terminal's (or a pipe's) input into COM1.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

namespace enlight::cli {

// COM1's output. put() runs on the vCPU thread that wrote THR, under the
// UART's lock, so it only appends; a line or 4 KiB goes out in one write,
// and flush() pushes the rest (at the end of the run). A pipe that stops
// draining stalls that vCPU, as a real UART at full FIFO would.
class SerialOut {
 public:
  // path empty: stdout. Throws std::runtime_error naming the path when it
  // cannot be created.
  explicit SerialOut(const std::string& path);
  ~SerialOut();
  SerialOut(const SerialOut&) = delete;
  SerialOut& operator=(const SerialOut&) = delete;
  void put(uint8_t byte);
  void flush();
  // Whether the last byte written ended a line (so a report printed after
  // the run starts on a line of its own).
  bool at_line_start() const { return at_line_start_; }

 private:
  int fd_ = 1;
  bool owned_ = false;
  bool at_line_start_ = true;
  std::string buffer_;
};

// Standard input into COM1 while the guest runs. On a terminal the line
// discipline's canonical mode and echo are turned off (keys go to the guest
// as typed, the guest echoes), signals stay on (Ctrl-C still stops
// enlight), and the terminal is restored when the pump is destroyed.
// From a pipe or file, bytes go as they come until end of file. `send`
// returns how many bytes COM1 took; the pump waits for room rather than
// drop input.
class SerialInputPump {
 public:
  explicit SerialInputPump(std::function<size_t(const uint8_t*, size_t)> send);
  ~SerialInputPump();
  SerialInputPump(const SerialInputPump&) = delete;
  SerialInputPump& operator=(const SerialInputPump&) = delete;

 private:
  void pump();
  std::function<size_t(const uint8_t*, size_t)> send_;
  std::atomic<bool> stop_{false};
  bool restore_terminal_ = false;
  struct TermiosBox;
  TermiosBox* saved_ = nullptr;
  std::thread thread_;
};

}  // namespace enlight::cli
