// The machine's ACPI PM timer counter (ACPI 6.5 section 4.8.3.3): a free
// running 3.579545 MHz, 24-bit count of the time since the VM started, at
// port kAcpiPmTimer (layout.hpp). A device of the machine, not an
// enlightenment: the clock a guest without hv-time falls back to, where
// every read is an exit (docs/guests.md, "The legacy clock"). The PC
// machine's PM registers (acpi_pm.hpp) serve it, and the backends that run
// the flat guest programs serve the same counter at the same port beside
// their harness ports (ENLIGHT_MACHINE_PORT_PM_TIMER in the guest protocol;
// core/src/backend/run_result.cpp checks the two agree).
#pragma once

#include <cstdint>

namespace enlight::machine {

constexpr uint32_t kPmTimerHz = 3579545;
constexpr uint32_t kPmTimerMask = 0x00FFFFFF;

// The PM_TMR value `ns` nanoseconds after the VM started: 3.579545 MHz,
// 24 bits, wrapping every 4.69 s. Exactly floor(ns * Hz / 1e9), split at
// whole seconds so every division is 64-bit by a constant (a multiply):
// a 128-bit division is a libgcc call, and this runs on every PM timer
// exit, which is every clock read of a guest on acpi_pm.
constexpr uint32_t pm_timer_count(uint64_t ns) noexcept {
  constexpr uint64_t kNsPerSecond = 1'000'000'000u;
  const uint64_t ticks = (ns / kNsPerSecond) * kPmTimerHz + (ns % kNsPerSecond) * kPmTimerHz / kNsPerSecond;
  return static_cast<uint32_t>(ticks) & kPmTimerMask;
}

}  // namespace enlight::machine
