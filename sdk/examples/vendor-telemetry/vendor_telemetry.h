/*
 * The example vendor enlightenment's wire numbers, shared by the plugin and
 * its guest program, in the ranges enlight leaves to vendors (docs/sdk.md,
 * "Numbers for vendors"): CPUID leaves 0x40001000-0x400010FF, MSRs
 * 0x40001000-0x400010FF, hypercall codes 0x01C0-0x7FFF.
 */
#pragma once

#include <enlight/vendor.h>

/* CPUID: EBX, ECX, EDX spell the vendor's signature, EAX the interface version. */
#define VENDOR_TELEMETRY_CPUID_LEAF      (ENLIGHT_VENDOR_CPUID_FIRST + 0x0)
#define VENDOR_TELEMETRY_INTERFACE       0x00010000u /* 1.0 */
#define VENDOR_TELEMETRY_SIGNATURE_EBX   0x646e6556u /* "Vend" */
#define VENDOR_TELEMETRY_SIGNATURE_ECX   0x65546f72u /* "orTe" */
#define VENDOR_TELEMETRY_SIGNATURE_EDX   0x00006d6cu /* "lm" */

/* MSR: the number of telemetry records the host has taken; writing 0
 * clears it, any other value is #GP. */
#define VENDOR_TELEMETRY_MSR_RECORDS     (ENLIGHT_VENDOR_MSR_FIRST + 0x0)

/* Hypercall (fast, 8 bytes of input in RDX): one telemetry record, a
 * non-zero value. 0 is HV_STATUS_INVALID_PARAMETER. */
#define VENDOR_TELEMETRY_CALL_RECORD     (ENLIGHT_VENDOR_HYPERCALL_FIRST + 0x0)
#define VENDOR_TELEMETRY_RECORD_SIZE     8u
