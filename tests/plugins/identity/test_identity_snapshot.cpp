// identity: GUEST_OS_ID, HYPERCALL and (without vapic) the VP assist page
// through save/load. The hypercall page is guest RAM, so the load does not
// rewrite it; it turns hypercalls on as the enabling write did.
#include "../snapshot_test.hpp"

#include <gmock/gmock.h>

namespace enlight::test {
namespace {

using ::testing::HasSubstr;
namespace snap = snapshot;

constexpr uint64_t kHypercallPage = 0x5000;
constexpr uint64_t kAssistPage = 0x7000;
constexpr uint64_t kRamBytes = 64ull << 20;

// Any call code: #UD while hypercalls are off, a status once they are on.
bool hypercalls_on(DirectVm& d) { return !d.fast_hypercall(0, direct::control(0x7FFF, true), 0, 0).ud(); }

TEST(IdentitySnapshot, RegistersSurviveAndHypercallsComeBackOn) {
  auto a = make_vm("hv-crash", 2);  // identity comes with any enlightenment
  ASSERT_EQ(enable_hypercalls(*a, kHypercallPage), Access::Ok);
  ASSERT_EQ(a->wrmsr(1, HV_X64_MSR_VP_ASSIST_PAGE, kAssistPage | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE), Access::Ok);
  ASSERT_TRUE(hypercalls_on(*a));
  const snap::Blobs blobs = snap::save(*a, "identity");
  ASSERT_EQ(blobs.vcpus.size(), 2u);

  auto b = make_vm("hv-crash", 2);
  ASSERT_FALSE(hypercalls_on(*b));
  ASSERT_EQ(snap::load(*b, "identity", blobs), "");
  EXPECT_EQ(b->rdmsr(0, HV_X64_MSR_GUEST_OS_ID).value, kLinuxGuestOsId);
  EXPECT_EQ(b->rdmsr(1, HV_X64_MSR_HYPERCALL).value, kHypercallPage | HV_X64_MSR_HYPERCALL_ENABLE);
  EXPECT_EQ(b->rdmsr(0, HV_X64_MSR_VP_ASSIST_PAGE).value, 0u);
  EXPECT_EQ(b->rdmsr(1, HV_X64_MSR_VP_ASSIST_PAGE).value, kAssistPage | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE);
  EXPECT_TRUE(hypercalls_on(*b));
  // RAM is restored by the core, not by the plugin: B's page is untouched.
  EXPECT_EQ(b->memory().base()[kHypercallPage], 0);
  // A GUEST_OS_ID of 0 still turns them off in the restored VM.
  ASSERT_EQ(b->wrmsr(0, HV_X64_MSR_GUEST_OS_ID, 0), Access::Ok);
  EXPECT_FALSE(hypercalls_on(*b));
}

TEST(IdentitySnapshot, DisabledPageKeepsHypercallsOff) {
  auto a = make_vm("hv-crash");
  ASSERT_EQ(enable_hypercalls(*a, kHypercallPage), Access::Ok);
  ASSERT_EQ(a->wrmsr(0, HV_X64_MSR_HYPERCALL, kHypercallPage), Access::Ok);  // disabled again
  auto b = make_vm("hv-crash");
  ASSERT_EQ(snap::load(*b, "identity", snap::save(*a, "identity")), "");
  EXPECT_EQ(b->rdmsr(0, HV_X64_MSR_HYPERCALL).value, kHypercallPage);
  EXPECT_FALSE(hypercalls_on(*b));
}

TEST(IdentitySnapshot, HostileBlobs) {
  auto a = make_vm("hv-crash");
  ASSERT_EQ(enable_hypercalls(*a, kHypercallPage), Access::Ok);
  ASSERT_EQ(a->wrmsr(0, HV_X64_MSR_VP_ASSIST_PAGE, kAssistPage | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE), Access::Ok);
  const snap::Blobs blobs = snap::save(*a, "identity");
  auto b = make_vm("hv-crash");
  snap::sweep(blobs.vm, [&](const std::vector<uint8_t>& blob) { return snap::load_vm(*b, "identity", blob); },
              [&] { (void)hypercalls_on(*b); });
  snap::sweep(blobs.vcpus.at(0), [&](const std::vector<uint8_t>& blob) { return snap::load_vcpu(*b, "identity", 0, blob); });

  EXPECT_THAT(snap::load_vm(*b, "identity", snap::blob_of({0, kHypercallPage | HV_X64_MSR_HYPERCALL_ENABLE})),
              HasSubstr("HV_X64_MSR_HYPERCALL = 0x0000000000005001: enabled while HV_X64_MSR_GUEST_OS_ID is 0"));
  EXPECT_THAT(snap::load_vm(*b, "identity", snap::blob_of({kLinuxGuestOsId, kRamBytes | HV_X64_MSR_HYPERCALL_ENABLE})),
              HasSubstr("outside guest RAM"));
  EXPECT_THAT(snap::load_vcpu(*b, "identity", 0, snap::blob_of({kRamBytes | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE})),
              HasSubstr("HV_X64_MSR_VP_ASSIST_PAGE"));
  // A refused load left the last accepted state.
  EXPECT_EQ(b->rdmsr(0, HV_X64_MSR_HYPERCALL).value, kHypercallPage | HV_X64_MSR_HYPERCALL_ENABLE);
  EXPECT_TRUE(hypercalls_on(*b));
}

}  // namespace
}  // namespace enlight::test
