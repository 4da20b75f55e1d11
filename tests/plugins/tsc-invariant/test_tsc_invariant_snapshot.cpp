// tsc-invariant: the control MSR through save/load, and hostile blobs.
#include "../snapshot_test.hpp"

#include <gmock/gmock.h>

namespace enlight::test {
namespace {

using ::testing::HasSubstr;
namespace snap = snapshot;

TEST(TscInvariantSnapshot, ControlSurvivesAndStaysSticky) {
  auto src = make_vm_from_profile("name: t\nvcpus: 2\nenlightenments:\n  - tsc-invariant\n");
  ASSERT_EQ(src->wrmsr(1, HV_X64_MSR_TSC_INVARIANT_CONTROL, HV_EXPOSE_INVARIANT_TSC), Access::Ok);
  const snap::Blobs blobs = snap::save(*src, "tsc-invariant");
  auto b = make_vm_from_profile("name: t\nvcpus: 2\nenlightenments:\n  - tsc-invariant\n");
  ASSERT_EQ(snap::load(*b, "tsc-invariant", blobs), "");
  EXPECT_EQ(b->rdmsr(0, HV_X64_MSR_TSC_INVARIANT_CONTROL).value, HV_EXPOSE_INVARIANT_TSC);
  EXPECT_EQ(b->wrmsr(0, HV_X64_MSR_TSC_INVARIANT_CONTROL, 0), Access::GP) << "still set: the guest cannot clear it";
}

TEST(TscInvariantSnapshot, HostileBlobs) {
  const std::string profile = "name: t\nvcpus: 1\nenlightenments:\n  - tsc-invariant\n";
  auto a = make_vm_from_profile(profile);
  ASSERT_EQ(a->wrmsr(0, HV_X64_MSR_TSC_INVARIANT_CONTROL, HV_EXPOSE_INVARIANT_TSC), Access::Ok);
  const snap::Blobs blobs = snap::save(*a, "tsc-invariant");
  auto b = make_vm_from_profile(profile);
  snap::sweep(blobs.vm, [&](const std::vector<uint8_t>& blob) { return snap::load_vm(*b, "tsc-invariant", blob); });
  EXPECT_THAT(snap::load_vm(*b, "tsc-invariant", snap::blob_of({3})),
              HasSubstr("HV_X64_MSR_TSC_INVARIANT_CONTROL = 0x0000000000000003"));
  EXPECT_THAT(snap::load_vm(*b, "tsc-invariant", snap::blob_of({uint64_t{1} << 63})), HasSubstr("reserved"));
}

}  // namespace
}  // namespace enlight::test
