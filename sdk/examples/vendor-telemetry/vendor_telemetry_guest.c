/*
 * The vendor plugin's guest program, built with the installed guest
 * library: finds the interface by its signature, sends records with the
 * fast hypercall, reads their count from the MSR. Run with
 *   enlight run --plugin-path PLUGINS --cpu hv-vendor-telemetry --guest vendor-telemetry.bin
 */
#include "vendor_telemetry.h"

#include <enlight_guest/guest.h>
#include <enlight_guest/hv.h>

int main(void) {
  const guest_cpuid leaf = cpuid(VENDOR_TELEMETRY_CPUID_LEAF, 0);
  CHECK_EQ("vendor.cpuid.interface", VENDOR_TELEMETRY_INTERFACE, leaf.eax);
  CHECK_EQ("vendor.cpuid.signature.ebx", VENDOR_TELEMETRY_SIGNATURE_EBX, leaf.ebx);
  CHECK_EQ("vendor.cpuid.signature.ecx", VENDOR_TELEMETRY_SIGNATURE_ECX, leaf.ecx);
  CHECK_EQ("vendor.cpuid.signature.edx", VENDOR_TELEMETRY_SIGNATURE_EDX, leaf.edx);

  hv_set_guest_os_id(HV_GUEST_OS_ID_OPEN_SOURCE);
  CHECK_TRUE("vendor.hypercall_page", hv_enable_hypercall_page((uint64_t)(uintptr_t)hv_default_hypercall_page()));
  const uint64_t control = hv_control(VENDOR_TELEMETRY_CALL_RECORD, 0);
  for (uint64_t i = 1; i <= 3; ++i)
    CHECK_EQ("vendor.record", HV_STATUS_SUCCESS, hv_result_status(hv_hypercall_fast(control, i, 0)));
  CHECK_EQ("vendor.record.zero", HV_STATUS_INVALID_PARAMETER, hv_result_status(hv_hypercall_fast(control, 0, 0)));
  CHECK_EQ("vendor.msr.records", 3, rdmsr(VENDOR_TELEMETRY_MSR_RECORDS));
  wrmsr(VENDOR_TELEMETRY_MSR_RECORDS, 0);
  CHECK_EQ("vendor.msr.reset", 0, rdmsr(VENDOR_TELEMETRY_MSR_RECORDS));
  METRIC("records_sent", 3);
  return guest_checks_failed() == 0 ? 0 : 1;
}
