// time: HV_X64_MSR_REFERENCE_TSC through save/load. The restore goes as the
// core's does: guest RAM first (the page as it was), reference time set to
// the saved one on a host whose TSC runs at another rate, then the load,
// which republishes the page with this host's scale and moved offset.
#include "../snapshot_test.hpp"

#include <gmock/gmock.h>

#include <cstring>

namespace enlight::test {
namespace {

namespace snap = snapshot;

constexpr uint64_t kPageGpa = 0x200000;

struct Page {
  uint32_t sequence = 0;
  uint64_t scale = 0;
  int64_t offset = 0;
};
Page read_page(DirectVm& d) {
  Page p;
  const uint8_t* base = d.memory().base() + kPageGpa;
  std::memcpy(&p.sequence, base + HV_REFERENCE_TSC_PAGE_SEQUENCE_OFFSET, sizeof p.sequence);
  std::memcpy(&p.scale, base + HV_REFERENCE_TSC_PAGE_SCALE_OFFSET, sizeof p.scale);
  std::memcpy(&p.offset, base + HV_REFERENCE_TSC_PAGE_OFFSET_OFFSET, sizeof p.offset);
  return p;
}
uint64_t page_time(const Page& p, uint64_t tsc) {
  return static_cast<uint64_t>(static_cast<int64_t>((static_cast<unsigned __int128>(tsc) * p.scale) >> 64) + p.offset);
}
std::unique_ptr<DirectVm> vm_at(uint64_t hz) {
  VmOptions o;
  o.tsc_frequency_hz = hz;
  return make_vm("hv-time", 1, o);
}

TEST(TimeSnapshot, PageIsRepublishedForTheNewHost) {
  auto a = vm_at(2'500'000'000);
  a->advance_ns(5'000'000);
  const uint64_t msr = kPageGpa | 0x0A0 | HV_X64_MSR_REFERENCE_TSC_ENABLE;  // RsvdP bits kept
  ASSERT_EQ(a->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, msr), Access::Ok);
  a->advance_ns(7'000'000);
  const Page before = read_page(*a);
  ASSERT_NE(before.sequence, 0u);
  const uint64_t saved_time = a->vm().reference_time();
  const snap::Blobs blobs = snap::save(*a, "time");

  auto b = vm_at(3'000'000'000);
  std::memcpy(b->memory().base() + kPageGpa, a->memory().base() + kPageGpa, HV_PAGE_SIZE);  // RAM restored
  b->vm().set_reference_time(saved_time);
  ASSERT_EQ(snap::load(*b, "time", blobs), "");
  EXPECT_EQ(b->rdmsr(0, HV_X64_MSR_REFERENCE_TSC).value, msr);
  const Page after = read_page(*b);
  uint64_t scale = 0;
  int64_t offset = 0;
  ASSERT_TRUE(b->vm().reference_tsc(scale, offset));
  EXPECT_EQ(after.scale, scale);
  EXPECT_EQ(after.offset, offset);
  EXPECT_NE(after.scale, before.scale) << "another TSC rate";
  EXPECT_EQ(after.sequence, before.sequence + 1) << "a reader across the restore retries";
  // The page and the MSR agree, and time continued from the saved value.
  const uint64_t now = b->rdmsr(0, HV_X64_MSR_TIME_REF_COUNT).value;
  EXPECT_EQ(page_time(after, b->vm().guest_tsc(0)), now);
  EXPECT_GE(now, saved_time);
  EXPECT_LT(now, saved_time + 10);
}

TEST(TimeSnapshot, DisabledOrOutsideRamWritesNothing) {
  auto b = vm_at(3'000'000'000);
  std::memset(b->memory().base() + kPageGpa, 0x5A, HV_PAGE_SIZE);
  ASSERT_EQ(snap::load_vm(*b, "time", snap::blob_of({kPageGpa})), "");  // enable clear
  EXPECT_EQ(b->memory().base()[kPageGpa], 0x5A);
  EXPECT_EQ(b->rdmsr(0, HV_X64_MSR_REFERENCE_TSC).value, kPageGpa);
  const uint64_t outside = (64ull << 20) | HV_X64_MSR_REFERENCE_TSC_ENABLE;  // past the default 64 MiB
  ASSERT_EQ(snap::load_vm(*b, "time", snap::blob_of({outside})), "") << "a guest may write it (TLFS)";
  EXPECT_EQ(b->rdmsr(0, HV_X64_MSR_REFERENCE_TSC).value, outside);
}

TEST(TimeSnapshot, HostileBlobs) {
  auto a = vm_at(2'500'000'000);
  ASSERT_EQ(a->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, kPageGpa | HV_X64_MSR_REFERENCE_TSC_ENABLE), Access::Ok);
  const snap::Blobs blobs = snap::save(*a, "time");
  EXPECT_TRUE(blobs.vcpus.empty());
  auto b = vm_at(2'500'000'000);
  snap::sweep(blobs.vm, [&](const std::vector<uint8_t>& blob) { return snap::load_vm(*b, "time", blob); },
              [&] { (void)b->rdmsr(0, HV_X64_MSR_TIME_REF_COUNT); });
}

}  // namespace
}  // namespace enlight::test
