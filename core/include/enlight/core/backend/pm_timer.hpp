// The machine's ACPI PM timer (ENLIGHT_MACHINE_PORT_PM_TIMER), shared by the
// backends that run guest code. A device of the machine, not an
// enlightenment: the clock a guest without hv-time falls back to, where
// every read is an exit (docs/guests.md, "The legacy clock"). The flat
// guests' harness and the PC machine (core/machine, acpi_pm.hpp) read the
// same counter at the same port.
#pragma once

#include <enlight/core/guest/protocol.h>
#include <enlight/machine/acpi_pm.hpp>
#include <enlight/machine/layout.hpp>

namespace enlight {

using machine::pm_timer_count;
static_assert(ENLIGHT_MACHINE_PORT_PM_TIMER == machine::kAcpiPmTimer, "one PM timer port for every guest");
static_assert(ENLIGHT_PM_TIMER_HZ == machine::kPmTimerHz && ENLIGHT_PM_TIMER_MASK == machine::kPmTimerMask);

}  // namespace enlight
