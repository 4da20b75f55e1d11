/*
 * Numbers enlight leaves to vendors' own enlightenments (docs/sdk.md,
 * "Numbers for vendors"). No enlight plugin and no published hypervisor
 * interface enlight implements uses them:
 *   - Hyper-V's leaves and synthetic MSRs are 0x40000000-0x400000FF (and
 *     KVM's signature moves to 0x40000100 beside Hyper-V's), so vendor
 *     leaves and MSRs start 4 Ki above, in the hypervisor range
 *     0x40000000-0x4FFFFFFF that CPUs leave to software;
 *   - the TLFS hypercall codes stay below 0x0100 (and the extended ones at
 *     0x8001-0x80FF); the bus decodes 0x0000-0x01FF and 0x8000-0x80FF
 *     with direct tables (no lookup on the exit path), so vendor codes are
 *     the top 64 of the first table.
 * Two vendors can still collide with each other: the loader refuses two
 * plugins claiming one number, naming both.
 */
#pragma once

#define ENLIGHT_VENDOR_CPUID_FIRST     0x40001000u
#define ENLIGHT_VENDOR_CPUID_LAST      0x400010FFu
#define ENLIGHT_VENDOR_MSR_FIRST       0x40001000u
#define ENLIGHT_VENDOR_MSR_LAST        0x400010FFu
#define ENLIGHT_VENDOR_HYPERCALL_FIRST 0x01C0u
#define ENLIGHT_VENDOR_HYPERCALL_LAST  0x01FFu
