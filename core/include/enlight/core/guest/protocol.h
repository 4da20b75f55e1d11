/*
 * The guest <-> host harness protocol: how a guest program prints, reports
 * each conformance check, and finishes. Shared by the guest library
 * (freestanding C) and the host (backends, `enlight run`, ctest), so it is
 * plain C with fixed-width types.
 *
 * These ports are the machine's own devices, handled by the backend before
 * the bus (they are not enlightenments). Every value the guest passes is
 * validated by the host: a record GPA outside RAM or misaligned is ignored
 * and counted, a string is bounded by its array.
 */
#pragma once

#include <stdint.h>

/* Console: one byte per OUT (the Bochs/QEMU 0xE9 convention). */
#define ENLIGHT_GUEST_PORT_CONSOLE 0x00E9u
/* Report: a 32-bit OUT of the GPA of an enlight_guest_record (8-aligned). */
#define ENLIGHT_GUEST_PORT_REPORT 0x00ECu
/* Exit: a 32-bit OUT of the guest's exit status; the run ends. 0 = every
 * check passed. */
#define ENLIGHT_GUEST_PORT_EXIT 0x00F4u

/* The machine's legacy clock: an ACPI PM timer (ACPI 6.5, 4.8.3.3 "Power
 * Management Timer (PM_TMR)"): a free-running 24-bit count at 3.579545 MHz
 * from power-on, read with a 32-bit IN, bits 31:24 read as zero. At QEMU
 * q35's address (ICH9 PMBASE 0x600 + 8), because a Windows guest without
 * hv-time reads its clock there (or from the HPET) and every read is an
 * exit: the "without hv-time" side of the A/B comparison (docs/guests.md).
 * Writes are ignored, as the register is read-only. */
#define ENLIGHT_MACHINE_PORT_PM_TIMER 0x0608u
#define ENLIGHT_PM_TIMER_HZ 3579545u
#define ENLIGHT_PM_TIMER_MASK 0x00FFFFFFu

/* Guest memory layout (identity mapped, flat, from GPA 0). */
#define ENLIGHT_GUEST_LOAD_ADDRESS 0x00100000u   /* image loaded and entered here */
#define ENLIGHT_GUEST_STACK_TOP 0x00080000u      /* initial RSP of vCPU 0; vCPU n: top - n * 0x4000 */
#define ENLIGHT_GUEST_STACK_SIZE 0x00004000u
#define ENLIGHT_GUEST_DEFAULT_RAM (64u << 20)

/* Record kinds. */
#define ENLIGHT_GUEST_CHECK_PASS 1u
#define ENLIGHT_GUEST_CHECK_FAIL 2u
#define ENLIGHT_GUEST_METRIC 3u  /* a guest-side figure: name = value (e.g. reads per second) */

typedef struct enlight_guest_record {
  uint32_t kind;      /* ENLIGHT_GUEST_CHECK_* or ENLIGHT_GUEST_METRIC */
  uint32_t line;      /* source line of the check in the guest program */
  uint64_t expected;
  uint64_t actual;
  char name[96];      /* NUL-terminated within the array; the host bounds it */
} enlight_guest_record;

/* Entry state on every vCPU (the backend's promise to the guest):
 *   64-bit long mode, CPL0, paging as the backend needs it but identity
 *   mapped, interrupts disabled, RDI = vCPU index, RSI = vCPU count,
 *   RDX = the run-length hint: how long the host asked the run to last, in
 *   milliseconds (0 = no request). Workload guests run for that long and
 *   exit 0; conformance guests ignore it. The host's time-out is longer
 *   than the hint, so a workload that honours it ends cleanly.
 *   RSP = ENLIGHT_GUEST_STACK_TOP - index * ENLIGHT_GUEST_STACK_SIZE,
 *   RIP = ENLIGHT_GUEST_LOAD_ADDRESS. The guest installs its own GDT/IDT. */
