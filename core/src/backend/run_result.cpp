#include <enlight/core/backend/run_result.hpp>
#include <enlight/core/guest/protocol.h>
#include <enlight/machine/layout.hpp>
#include <enlight/machine/pm_timer.hpp>

#include <cstdio>
#include <cstring>

namespace enlight {

// The flat guests' harness (protocol.h) and the PC machine read one PM
// timer at one port, which the emu and kvm backends serve with
// machine::pm_timer_count.
static_assert(ENLIGHT_MACHINE_PORT_PM_TIMER == machine::kAcpiPmTimer, "one PM timer port for every guest");
static_assert(ENLIGHT_PM_TIMER_HZ == machine::kPmTimerHz && ENLIGHT_PM_TIMER_MASK == machine::kPmTimerMask);

const char* to_string(Outcome o) noexcept {
  switch (o) {
    case Outcome::Exited: return "exited";
    case Outcome::Stopped: return "stopped";
    case Outcome::GuestFault: return "guest-fault";
    case Outcome::TripleFault: return "triple-fault";
    case Outcome::Timeout: return "timeout";
    case Outcome::HostError: return "host-error";
    case Outcome::PoweredOff: return "powered-off";
    case Outcome::Reset: return "reset";
  }
  return "?";
}

bool RunRecorder::decide(Outcome outcome, std::string message, uint32_t status) {
  std::lock_guard lock(mutex_);
  if (decided_) return false;
  decided_ = true;
  result_.outcome = outcome;
  result_.exit_status = status;
  result_.message = std::move(message);
  return true;
}

void RunRecorder::console(char c) {
  std::lock_guard lock(mutex_);
  if (result_.console.size() < (1u << 20)) result_.console.push_back(c);
}

void RunRecorder::report(const GuestMemory& memory, uint32_t vcpu, uint64_t gpa) {
  enlight_guest_record rec;
  if ((gpa & 7) != 0 || !memory.read(gpa, &rec, sizeof rec)) {
    bad_record();
    return;
  }
  CheckRecord r{vcpu, rec.kind, rec.line, rec.expected, rec.actual, std::string(rec.name, strnlen(rec.name, sizeof rec.name))};
  std::lock_guard lock(mutex_);
  if (result_.records.size() < 100000) result_.records.push_back(std::move(r));
}

RunResult RunRecorder::snapshot() {
  std::lock_guard lock(mutex_);
  RunResult r = result_;
  r.stats.bad_records = bad_records_.load();
  return r;
}

std::optional<MonitorVerdict> monitor_verdict(const Vm& vm, std::chrono::steady_clock::time_point deadline,
                                              std::chrono::milliseconds timeout) {
  if (std::chrono::steady_clock::now() >= deadline)
    return MonitorVerdict{Outcome::Timeout, "still running after " + std::to_string(timeout.count()) + " ms"};
  if (vm.stopped()) return MonitorVerdict{Outcome::Stopped, vm.stop_message()};
  return std::nullopt;
}

RunResult final_result(RunRecorder& recorder, const Vm& vm, const std::vector<uint64_t>& rips) {
  RunResult r = recorder.snapshot();
  if (r.outcome == Outcome::Timeout) {
    for (size_t i = 0; i < rips.size(); ++i) {
      char where[64];
      std::snprintf(where, sizeof where, "%s vCPU %zu at RIP 0x%llx", i == 0 ? ";" : ",", i,
                    static_cast<unsigned long long>(rips[i]));
      r.message += where;
    }
  }
  r.stop_reason = vm.stop_reason();
  if (r.outcome == Outcome::Stopped && r.message.empty()) r.message = vm.stop_message();
  return r;
}

}  // namespace enlight
