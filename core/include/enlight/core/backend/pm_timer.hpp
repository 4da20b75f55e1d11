// The machine's ACPI PM timer (ENLIGHT_MACHINE_PORT_PM_TIMER), shared by the
// backends that run guest code. A device of the machine, not an
// enlightenment: the clock a guest without hv-time falls back to, where
// every read is an exit (docs/guests.md, "The legacy clock").
#pragma once

#include <enlight/core/guest/protocol.h>

#include <cstdint>

namespace enlight {

// The PM_TMR value `ns` nanoseconds after the VM started: 3.579545 MHz,
// 24 bits, wrapping every 4.69 s. Cost: one 128-bit multiply and divide.
constexpr uint32_t pm_timer_count(uint64_t ns) noexcept {
  const unsigned __int128 ticks = static_cast<unsigned __int128>(ns) * ENLIGHT_PM_TIMER_HZ / 1'000'000'000u;
  return static_cast<uint32_t>(ticks) & ENLIGHT_PM_TIMER_MASK;
}

}  // namespace enlight
