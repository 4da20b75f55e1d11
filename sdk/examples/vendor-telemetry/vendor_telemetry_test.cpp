// Unit tests of the vendor plugin on the installed harness (enlight::core's
// direct backend): the calls a guest would make, answered as the guest
// would see them, without a VM. The plugin is loaded from this build's
// plugin directory beside the installed prefix's own plugins (identity).
#include "vendor_telemetry.h"

#include <enlight/core/backend/direct.hpp>
#include <enlight/tlfs.h>

#include <gtest/gtest.h>

namespace {

using enlight::Access;
using enlight::direct::DirectVm;

constexpr uint64_t kHypercallPage = 0x10000;
// A Linux-like guest OS id: the hypercall page needs one first (TLFS 3.13).
constexpr uint64_t kGuestOsId = HV_GUEST_OS_ID_OPEN_SOURCE;

std::unique_ptr<DirectVm> make_vm() {
  return DirectVm::from_flags("hv-vendor-telemetry", 1, {VENDOR_PLUGIN_DIR, ENLIGHT_INSTALLED_PLUGIN_DIR});
}

TEST(VendorTelemetry, TheSignatureLeafNamesTheInterface) {
  auto d = make_vm();
  const auto leaf = d->cpuid(0, VENDOR_TELEMETRY_CPUID_LEAF);
  EXPECT_EQ(leaf.eax, VENDOR_TELEMETRY_INTERFACE);
  EXPECT_EQ(leaf.ebx, VENDOR_TELEMETRY_SIGNATURE_EBX);
  EXPECT_EQ(leaf.ecx, VENDOR_TELEMETRY_SIGNATURE_ECX);
  EXPECT_EQ(leaf.edx, VENDOR_TELEMETRY_SIGNATURE_EDX);
}

TEST(VendorTelemetry, RecordsAreCountedAndTheMsrResetsOnlyToZero) {
  auto d = make_vm();
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_GUEST_OS_ID, kGuestOsId), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_HYPERCALL, kHypercallPage | HV_X64_MSR_HYPERCALL_ENABLE), Access::Ok);
  const uint64_t control = enlight::direct::control(VENDOR_TELEMETRY_CALL_RECORD, true);
  EXPECT_EQ(d->fast_hypercall(0, control, 42, 0).status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(d->fast_hypercall(0, control, 7, 0).status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(d->fast_hypercall(0, control, 0, 0).status(), HV_STATUS_INVALID_PARAMETER) << "a record is non-zero";
  ASSERT_TRUE(d->rdmsr(0, VENDOR_TELEMETRY_MSR_RECORDS).ok());
  EXPECT_EQ(d->rdmsr(0, VENDOR_TELEMETRY_MSR_RECORDS).value, 2u);
  EXPECT_EQ(d->wrmsr(0, VENDOR_TELEMETRY_MSR_RECORDS, 5), Access::GP);
  EXPECT_EQ(d->wrmsr(0, VENDOR_TELEMETRY_MSR_RECORDS, 0), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, VENDOR_TELEMETRY_MSR_RECORDS).value, 0u);
}

}  // namespace
