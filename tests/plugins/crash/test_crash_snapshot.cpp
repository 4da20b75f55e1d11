// crash: saved state (P0-P4, CRASH_CTL) through the descriptor's vm_save /
// vm_load, and hostile blobs.
#include "../snapshot_test.hpp"

#include <gmock/gmock.h>

namespace enlight::test {
namespace {

using ::testing::HasSubstr;
namespace snap = snapshot;

constexpr uint64_t kSupported = HV_CRASH_CTL_CRASH_NOTIFY | HV_CRASH_CTL_CRASH_NOTIFY_MSG;

TEST(CrashSnapshot, ParametersSurviveAndNoCrashIsReported) {
  auto a = make_vm("hv-crash", 2);
  for (uint32_t i = 0; i < HV_X64_MSR_CRASH_PARAMS; ++i)
    ASSERT_EQ(a->wrmsr(i % 2, HV_X64_MSR_CRASH_P0 + i, 0x1111111111111111ull * (i + 1)), Access::Ok);
  const snap::Blobs blobs = snap::save(*a, "crash");
  EXPECT_TRUE(blobs.vcpus.empty()) << "partition-wide state only";
  auto b = make_vm("hv-crash", 2);
  ASSERT_EQ(snap::load(*b, "crash", blobs), "");
  for (uint32_t v = 0; v < 2; ++v) {
    for (uint32_t i = 0; i < HV_X64_MSR_CRASH_PARAMS; ++i)
      EXPECT_EQ(b->rdmsr(v, HV_X64_MSR_CRASH_P0 + i).value, 0x1111111111111111ull * (i + 1));
    EXPECT_EQ(b->rdmsr(v, HV_X64_MSR_CRASH_CTL).value, kSupported);
  }
  EXPECT_EQ(b->vm().stop_reason(), StopReason::None);
}

TEST(CrashSnapshot, HostileBlobs) {
  auto a = make_vm("hv-crash");
  ASSERT_EQ(a->wrmsr(0, HV_X64_MSR_CRASH_P2, 0xDEAD), Access::Ok);
  const snap::Blobs blobs = snap::save(*a, "crash");
  auto b = make_vm("hv-crash");
  snap::sweep(blobs.vm, [&](const std::vector<uint8_t>& blob) { return snap::load_vm(*b, "crash", blob); });
  // CTL: only the bits the plugin offers.
  EXPECT_THAT(snap::load_vm(*b, "crash", snap::blob_of({1, 2, 3, 4, 5, kSupported | 1})),
              HasSubstr("HV_X64_MSR_CRASH_CTL = 0x"));
  EXPECT_EQ(b->rdmsr(0, HV_X64_MSR_CRASH_P0).value, 0u) << "a refused load changes nothing";
  EXPECT_EQ(snap::load_vm(*b, "crash", snap::blob_of({1, 2, 3, 4, 5, 0})), "");
  EXPECT_EQ(b->vm().stop_reason(), StopReason::None);
}

}  // namespace
}  // namespace enlight::test
