// State shared by every vCPU thread of one emu run: the outcome (first
// decision wins), the harness's console and records, cross-vCPU routing.
#pragma once

#include "vcpu.hpp"

#include <enlight/core/backend/emu.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

namespace enlight::emu {

struct EmuVm::Impl {
  Vm* vm = nullptr;
  std::vector<std::unique_ptr<EmuVcpu>> vcpus;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  uint64_t msr_sites = 0;
  uint32_t run_ms = 0;  // EmuOptions::run_ms, given to every vCPU in RDX

  std::atomic<bool> over{false};  // the run has an outcome: every vCPU leaves
  RunRecorder recorder;           // outcome, console, check records

  std::atomic<uint64_t> msr_exits{0}, hypercalls{0}, interrupts{0}, pm_timer_reads{0};

  uint64_t now_ns() const {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
  }
  // Records the outcome unless one was already decided, then stops every vCPU.
  void finish(Outcome outcome, std::string message, uint32_t status = 0);
  void kick_all();
  int inject(uint32_t vcpu, uint8_t vector, bool auto_eoi = false);
  void route_ipi(uint32_t from, const IpiRequest& ipi);
};

}  // namespace enlight::emu
