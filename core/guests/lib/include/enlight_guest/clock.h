/*
 * Guest-side time keeping for workloads: the TSC frequency and the local
 * APIC timer frequency, found the way Windows finds them, and a 64x64/64
 * scaling helper (no libgcc: the 128-bit division is one DIV instruction).
 *
 * TSC frequency, in order:
 *   1. HV_X64_MSR_TSC_FREQUENCY, when 0x40000003 advertises both the
 *      AccessFrequencyRegs privilege and the frequency-MSRs feature;
 *   2. calibrated: RDTSC across a stretch of the x2APIC timer's count
 *      (masked, divide by 1), whose frequency is (3) below;
 *   3. unknown (no x2APIC): 0; callers fall back to a fixed iteration budget.
 * APIC timer frequency: HV_X64_MSR_APIC_FREQUENCY when advertised, else
 * 1 GHz, the fixed APIC bus of KVM (and of the emu backend's model). A real
 * machine would calibrate against the PIT or the ACPI PM timer; enlight's
 * machines have neither, and every backend enlight targets runs the APIC at
 * 1 GHz, so the assumption is the one that holds there.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <enlight_guest/hv.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GUEST_TSC_HZ_UNKNOWN    0u
#define GUEST_TSC_HZ_FROM_MSR   1u
#define GUEST_TSC_HZ_CALIBRATED 2u

#define GUEST_APIC_HZ_ASSUMED UINT64_C(1000000000)

/* x2APIC timer divide configuration: divide by 1. */
#define APIC_TIMER_DIVIDE_BY_1 0xBu
#define APIC_LVT_TIMER_PERIODIC (1u << 17)

/* Are the frequency MSRs advertised (privilege and feature)? */
bool guest_frequency_msrs_available(const hv_info* hv);
/* The APIC timer's input frequency in Hz (see above). */
uint64_t guest_apic_timer_hz(const hv_info* hv);
/* The TSC frequency in Hz, and how it was found (GUEST_TSC_HZ_*); 0 when
 * unknown. Calibration takes ~20 ms of APIC time and needs apic_init()
 * done on this vCPU; it leaves the APIC timer stopped and masked. */
uint64_t guest_tsc_hz(const hv_info* hv, uint32_t* how);
/* a * b / c with a 128-bit intermediate; UINT64_MAX when c is 0 or the
 * quotient does not fit in 64 bits. */
uint64_t guest_muldiv64(uint64_t a, uint64_t b, uint64_t c);

#ifdef __cplusplus
}
#endif
