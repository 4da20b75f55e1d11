// vapic: the VP assist page and the last ICR through save/load. The load
// re-enables PV EOI on the restored page, takes back a stale "No EOI
// required" bit, and refuses values no guest write leaves.
#include "../snapshot_test.hpp"

#include <gmock/gmock.h>

#include <atomic>
#include <cstring>

namespace enlight::test {
namespace {

using ::testing::HasSubstr;
namespace snap = snapshot;

constexpr uint64_t kPage = 0x20000;
constexpr uint64_t kRamBytes = 64ull << 20;
constexpr uint64_t kIcrSelf = uint64_t{1} << 18;

uint32_t* assist(DirectVm& d) {
  return reinterpret_cast<uint32_t*>(d.memory().base() + kPage + HV_VP_ASSIST_PAGE_APIC_ASSIST_OFFSET);
}

TEST(VapicSnapshot, AssistPageAndIcrSurviveAndPvEoiWorks) {
  auto a = make_vm("hv-vapic", 2);
  ASSERT_EQ(a->wrmsr(1, HV_X64_MSR_VP_ASSIST_PAGE, kPage | 0x10 | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE), Access::Ok);
  ASSERT_EQ(a->host_wrmsr(0, HV_X64_MSR_ICR, 0x0000000300000041ull), Access::Ok);
  const snap::Blobs blobs = snap::save(*a, "vapic");
  ASSERT_EQ(blobs.vcpus.size(), 2u);

  auto b = make_vm("hv-vapic", 2);
  *assist(*b) = HV_APIC_ASSIST_NO_EOI_REQUIRED;  // RAM as saved: a grant bit nobody holds any more
  ASSERT_EQ(snap::load(*b, "vapic", blobs), "");
  EXPECT_EQ(b->rdmsr(1, HV_X64_MSR_VP_ASSIST_PAGE).value, kPage | 0x10 | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE);
  EXPECT_EQ(b->rdmsr(0, HV_X64_MSR_VP_ASSIST_PAGE).value, 0u);
  EXPECT_EQ(b->rdmsr(0, HV_X64_MSR_ICR).value, 0x0000000300000041ull);
  EXPECT_EQ(*assist(*b), 0u) << "the stale bit would make the guest skip an EOI nobody retires";
  EXPECT_TRUE(b->take_interrupt(1) == std::nullopt) << "the load sent no IPI";

  // PV EOI is live on the restored page: the grant, the guest's btr, the retire.
  ASSERT_EQ(b->wrmsr(1, HV_X64_MSR_ICR, kIcrSelf | 0x80), Access::Ok);
  ASSERT_EQ(b->take_interrupt(1), std::optional<uint8_t>(0x80));
  EXPECT_EQ(*assist(*b) & HV_APIC_ASSIST_NO_EOI_REQUIRED, HV_APIC_ASSIST_NO_EOI_REQUIRED);
  std::atomic_ref<uint32_t>(*assist(*b)).fetch_and(~HV_APIC_ASSIST_NO_EOI_REQUIRED);
  EXPECT_EQ(b->take_interrupt(1), std::nullopt);
  EXPECT_FALSE(b->in_service(1, 0x80));
}

TEST(VapicSnapshot, DisabledPageMeansNoPvEoi) {
  auto b = make_vm("hv-vapic");
  ASSERT_EQ(b->wrmsr(0, HV_X64_MSR_VP_ASSIST_PAGE, kPage | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE), Access::Ok);
  ASSERT_EQ(snap::load_vcpu(*b, "vapic", 0, snap::blob_of({kPage, 0})), "");
  ASSERT_EQ(b->wrmsr(0, HV_X64_MSR_ICR, kIcrSelf | 0x81), Access::Ok);
  ASSERT_EQ(b->take_interrupt(0), std::optional<uint8_t>(0x81));
  EXPECT_EQ(*assist(*b), 0u) << "no grant without an enabled page";
  EXPECT_TRUE(b->in_service(0, 0x81));
}

TEST(VapicSnapshot, HostileBlobs) {
  auto a = make_vm("hv-vapic");
  ASSERT_EQ(a->wrmsr(0, HV_X64_MSR_VP_ASSIST_PAGE, kPage | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE), Access::Ok);
  ASSERT_EQ(a->host_wrmsr(0, HV_X64_MSR_ICR, 0x42), Access::Ok);
  const snap::Blobs blobs = snap::save(*a, "vapic");
  EXPECT_EQ(snap::record(*a, "vapic").descriptor->vm_save, nullptr);
  auto b = make_vm("hv-vapic");
  snap::sweep(blobs.vcpus.at(0), [&](const std::vector<uint8_t>& blob) { return snap::load_vcpu(*b, "vapic", 0, blob); },
              [&] {
                ASSERT_EQ(b->wrmsr(0, HV_X64_MSR_ICR, kIcrSelf | 0x90), Access::Ok);
                while (b->take_interrupt(0)) ASSERT_EQ(b->wrmsr(0, HV_X64_MSR_EOI, 0), Access::Ok);
              });
  EXPECT_THAT(snap::load_vcpu(*b, "vapic", 0, snap::blob_of({kRamBytes | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE, 0})),
              HasSubstr("HV_X64_MSR_VP_ASSIST_PAGE = 0x0000000004000001: the enabled page is outside guest RAM"));
  EXPECT_THAT(snap::load_vcpu(*b, "vapic", 0, snap::blob_of({0, 0x1042})), HasSubstr("HV_X64_MSR_ICR = 0x0000000000001042"));
  EXPECT_EQ(b->rdmsr(0, HV_X64_MSR_ICR).value, 0x42u) << "a refused load changes nothing";
}

}  // namespace
}  // namespace enlight::test
