// time: HV_X64_MSR_TIME_REF_COUNT and HV_X64_MSR_REFERENCE_TSC (the
// reference TSC page), TLFS "Timers".
#include "enlight_test.hpp"

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

namespace enlight::test {
namespace {

const char* const kCounter = "enlight_time_tsc_page_updates_total";
constexpr uint64_t kPageGpa = 0x200000;
constexpr uint64_t kOtherPageGpa = 0x345000;
constexpr uint64_t kNsPerTick = 1'000'000'000 / HV_REFERENCE_TIME_UNITS_PER_SECOND;  // 100

// The guest's view of HV_REFERENCE_TSC_PAGE.
struct Page {
  uint32_t sequence = 0;
  uint64_t scale = 0;
  int64_t offset = 0;
};

Page read_page(DirectVm& d, uint64_t gpa) {
  Page p;
  const uint8_t* base = d.memory().base() + gpa;
  std::memcpy(&p.sequence, base + HV_REFERENCE_TSC_PAGE_SEQUENCE_OFFSET, sizeof p.sequence);
  std::memcpy(&p.scale, base + HV_REFERENCE_TSC_PAGE_SCALE_OFFSET, sizeof p.scale);
  std::memcpy(&p.offset, base + HV_REFERENCE_TSC_PAGE_OFFSET_OFFSET, sizeof p.offset);
  return p;
}

void write_sequence(DirectVm& d, uint64_t gpa, uint32_t sequence) {
  std::memcpy(d.memory().base() + gpa + HV_REFERENCE_TSC_PAGE_SEQUENCE_OFFSET, &sequence, sizeof sequence);
}

std::vector<uint8_t> page_bytes(DirectVm& d, uint64_t gpa) {
  const uint8_t* base = d.memory().base() + gpa;
  return std::vector<uint8_t>(base, base + HV_PAGE_SIZE);
}

// ceil(10^7 * 2^64 / hz): what the page's TscScale must be for a TSC of hz
// (the core rounds up; see Vm::create).
uint64_t expected_scale(uint64_t hz) {
  const unsigned __int128 one = static_cast<unsigned __int128>(HV_REFERENCE_TIME_UNITS_PER_SECOND) << 64;
  return static_cast<uint64_t>((one + hz - 1) / hz);
}

// TLFS: ReferenceTime = ((VirtualTsc * TscScale) >> 64) + TscOffset.
uint64_t page_time(const Page& p, uint64_t tsc) {
  return static_cast<uint64_t>(static_cast<int64_t>((static_cast<unsigned __int128>(tsc) * p.scale) >> 64) + p.offset);
}

uint64_t ref_count(DirectVm& d, uint32_t vcpu) {
  const MsrRead r = d.rdmsr(vcpu, HV_X64_MSR_TIME_REF_COUNT);
  EXPECT_TRUE(r.ok());
  return r.value;
}

uint64_t distance(uint64_t a, uint64_t b) { return a > b ? a - b : b - a; }

VmOptions with_tsc(uint64_t hz, uint64_t memory = VmOptions{}.memory_bytes) {
  VmOptions o;
  o.tsc_frequency_hz = hz;
  o.memory_bytes = memory;
  return o;
}

// ---- CPUID ---------------------------------------------------------------

TEST(TimeCpuid, AdvertisesBothPrivilegesAndNoFeatureBit) {
  auto d = make_vm("hv-time", 2);
  for (uint32_t v = 0; v < 2; ++v) {
    // QEMU: 0x40000003 = {0x222, 0, 0, 0x8}; nothing in 0x40000004.
    EXPECT_EQ(d->cpuid(v, HV_CPUID_FEATURES),
              (CpuidValue{HV_ACCESS_PARTITION_REFERENCE_COUNTER | HV_ACCESS_PARTITION_REFERENCE_TSC | HV_ACCESS_HYPERCALL_MSRS,
                          0, 0, HV_FEATURE_CPU_DYNAMIC_PARTITIONING_AVAILABLE}));
    EXPECT_EQ(d->cpuid(v, HV_CPUID_FEATURES), (CpuidValue{0x222, 0, 0, 0x8}));
    EXPECT_EQ(d->cpuid(v, HV_CPUID_ENLIGHTENMENT_INFO), (CpuidValue{0, HV_SPINLOCK_NEVER_NOTIFY, 0, 0}));
  }
}

TEST(TimeCpuid, ComposesWithFrequencies) {
  auto d = make_vm("hv-time,hv-frequencies");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_FEATURES), (CpuidValue{0xA22, 0, 0, 0x108}));
}

TEST(TimeCpuid, AbsentWithoutThePlugin) {
  auto d = make_vm("hv-relaxed");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_FEATURES).eax &
                (HV_ACCESS_PARTITION_REFERENCE_COUNTER | HV_ACCESS_PARTITION_REFERENCE_TSC),
            0u);
  for (uint32_t msr : {HV_X64_MSR_TIME_REF_COUNT, HV_X64_MSR_REFERENCE_TSC}) {
    EXPECT_TRUE(d->rdmsr(0, msr).gp()) << std::hex << msr;
    EXPECT_EQ(d->wrmsr(0, msr, 0), Access::GP) << std::hex << msr;
  }
}

TEST(TimeMsr, NeighboursAreNotClaimed) {
  auto d = make_vm("hv-time");
  EXPECT_TRUE(d->rdmsr(0, HV_X64_MSR_TIME_REF_COUNT - 1).gp());
  EXPECT_TRUE(d->rdmsr(0, HV_X64_MSR_TSC_FREQUENCY).gp());
}

// ---- HV_X64_MSR_TIME_REF_COUNT ------------------------------------------

TEST(TimeRefCount, IsZeroWhenThePartitionStarts) {
  auto d = make_vm("hv-time", 3);
  for (uint32_t v = 0; v < 3; ++v) EXPECT_EQ(ref_count(*d, v), 0u) << "vCPU " << v;
  EXPECT_EQ(d->host_rdmsr(0, HV_X64_MSR_TIME_REF_COUNT).value, 0u);
}

TEST(TimeRefCount, Counts100nsUnits) {
  // 2.5 GHz: 250 TSC cycles per tick exactly, so the count is ns / 100.
  auto d = make_vm("hv-time");
  for (uint64_t ns : {uint64_t{99}, uint64_t{100}, uint64_t{12'345}, uint64_t{1'000'000'000},
                      uint64_t{86'400} * 1'000'000'000 * 30}) {
    d->set_time_ns(ns);
    EXPECT_EQ(ref_count(*d, 0), ns / kNsPerTick) << ns << " ns";
  }
}

TEST(TimeRefCount, SameOnEveryVcpuAndMonotonic) {
  auto d = make_vm("hv-time", 4, with_tsc(3'123'456'789));
  uint64_t previous = 0;
  for (uint64_t ns = 0; ns < 50'000'000; ns = ns * 3 + 1'234) {
    d->set_time_ns(ns);
    const uint64_t v0 = ref_count(*d, 0);
    for (uint32_t v = 1; v < 4; ++v) EXPECT_EQ(ref_count(*d, v), v0) << "vCPU " << v << " at " << ns << " ns";
    EXPECT_EQ(d->host_rdmsr(2, HV_X64_MSR_TIME_REF_COUNT).value, v0);
    EXPECT_GE(v0, previous) << ns << " ns";
    EXPECT_LE(distance(v0, ns / kNsPerTick), 1u) << ns << " ns";
    previous = v0;
  }
  // Two ticks later it has moved.
  d->advance_ns(2 * kNsPerTick);
  EXPECT_GT(ref_count(*d, 3), previous);
}

TEST(TimeRefCount, ConcurrentReadersSeeMonotonicTime) {
  constexpr uint32_t kVcpus = 4;
  auto d = make_vm("hv-time", kVcpus);
  std::atomic<bool> stop{false};
  std::atomic<uint32_t> regressions{0}, failures{0};
  std::atomic<uint64_t> reads{0};
  std::vector<std::thread> readers;
  for (uint32_t v = 0; v < kVcpus; ++v)
    readers.emplace_back([&, v] {
      uint64_t last = 0;
      while (!stop.load()) {
        const MsrRead r = d->rdmsr(v, HV_X64_MSR_TIME_REF_COUNT);
        if (!r.ok()) failures.fetch_add(1);
        if (r.value < last) regressions.fetch_add(1);
        last = r.value;
        reads.fetch_add(1);
      }
    });
  // Move the clock until the readers have read a fair number of times while
  // it moved (bounded, so a starved reader cannot hang the test).
  constexpr uint64_t kMinReads = 20'000;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (uint64_t ns = 0; ns < 20'000'000 || (reads.load() < kMinReads && std::chrono::steady_clock::now() < deadline);
       ns += 997)
    d->set_time_ns(ns);
  stop.store(true);
  for (auto& t : readers) t.join();
  EXPECT_EQ(regressions.load(), 0u);
  EXPECT_EQ(failures.load(), 0u);
  EXPECT_GE(reads.load(), kMinReads);
}

TEST(TimeRefCount, GuestWriteIsGp) {
  auto d = make_vm("hv-time");
  d->set_time_ns(5'000'000);
  const uint64_t now = ref_count(*d, 0);
  for (uint64_t value : {uint64_t{0}, now, now + 1, ~uint64_t{0}})
    EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_TIME_REF_COUNT, value), Access::GP) << value;
  EXPECT_EQ(ref_count(*d, 0), now);
  EXPECT_EQ(d->vm().stop_reason(), StopReason::None);
}

TEST(TimeRefCount, HostWriteIsAcceptedAndIgnored) {
  // KVM: "read-only, but still ignore it if host-initiated".
  auto d = make_vm("hv-time", 2);
  d->set_time_ns(1'000'000);
  EXPECT_EQ(d->host_wrmsr(1, HV_X64_MSR_TIME_REF_COUNT, 123'456'789), Access::Ok);
  EXPECT_EQ(d->host_wrmsr(0, HV_X64_MSR_TIME_REF_COUNT, 0), Access::Ok);
  EXPECT_EQ(ref_count(*d, 0), 10'000u);
  EXPECT_EQ(ref_count(*d, 1), 10'000u);
}

TEST(TimeRefCount, CountsWithoutAReferenceTsc) {
  // A TSC of 10 MHz or less cannot be the reference (the scale would not be
  // below 1): the core counts from its clock and the MSR still works.
  auto d = make_vm("hv-time", 1, with_tsc(HV_REFERENCE_TIME_UNITS_PER_SECOND));
  uint64_t scale = 0;
  int64_t offset = 0;
  ASSERT_FALSE(d->vm().reference_tsc(scale, offset));
  d->set_time_ns(7'000'050);
  EXPECT_EQ(ref_count(*d, 0), 70'000u);
}

// A backend whose guest TSC is no steady clock (kvm on a host with an
// unstable TSC) says so: no reference TSC, the MSR counts from the core's
// clock, and an enabled page stays invalid (sequence 0) so the guest reads
// the MSR, as the TLFS tells it to.
TEST(TimeRefCount, UnreliableTscLeavesThePageInvalidAndTheMsrCounting) {
  VmOptions o = with_tsc(2'500'000'000ull);
  o.tsc_reliable = false;
  auto d = make_vm("hv-time", 1, o);
  uint64_t scale = 0;
  int64_t offset = 0;
  ASSERT_FALSE(d->vm().reference_tsc(scale, offset));
  d->set_time_ns(3'000'000);
  EXPECT_EQ(ref_count(*d, 0), 30'000u);
  write_sequence(*d, kPageGpa, 0xA5A5A5A5u);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, kPageGpa | HV_X64_MSR_REFERENCE_TSC_ENABLE), Access::Ok);
  EXPECT_EQ(read_page(*d, kPageGpa).sequence, HV_REFERENCE_TSC_SEQUENCE_INVALID);
}

// ---- HV_X64_MSR_REFERENCE_TSC -------------------------------------------

TEST(ReferenceTscMsr, IsZeroAtResetOnEveryVcpu) {
  auto d = make_vm("hv-time", 3);
  for (uint32_t v = 0; v < 3; ++v) {
    const MsrRead r = d->rdmsr(v, HV_X64_MSR_REFERENCE_TSC);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.value, 0u);
  }
  EXPECT_EQ(d->host_rdmsr(0, HV_X64_MSR_REFERENCE_TSC).value, 0u);
  EXPECT_EQ(counter(*d, kCounter), 0);
}

TEST(ReferenceTscMsr, IsPartitionWide) {
  auto d = make_vm("hv-time", 4);
  ASSERT_EQ(d->wrmsr(2, HV_X64_MSR_REFERENCE_TSC, kPageGpa | HV_X64_MSR_REFERENCE_TSC_ENABLE), Access::Ok);
  for (uint32_t v = 0; v < 4; ++v) EXPECT_EQ(d->rdmsr(v, HV_X64_MSR_REFERENCE_TSC).value, kPageGpa | 1u) << "vCPU " << v;
  EXPECT_EQ(d->host_rdmsr(3, HV_X64_MSR_REFERENCE_TSC).value, kPageGpa | 1u);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, kPageGpa), Access::Ok);
  for (uint32_t v = 0; v < 4; ++v) EXPECT_EQ(d->rdmsr(v, HV_X64_MSR_REFERENCE_TSC).value, kPageGpa) << "vCPU " << v;
}

TEST(ReferenceTscMsr, ReservedBitsArePreserved) {
  // TLFS: bits 11:1 are RsvdP, read/write; KVM stores the whole value.
  auto d = make_vm("hv-time");
  const uint64_t enabled = kPageGpa | HV_X64_MSR_REFERENCE_TSC_RSVDP_MASK | HV_X64_MSR_REFERENCE_TSC_ENABLE;
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, enabled), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_REFERENCE_TSC).value, enabled);
  EXPECT_EQ(read_page(*d, kPageGpa).sequence, 1u);  // the reserved bits do not move the page

  const uint64_t disabled = kOtherPageGpa | (HV_X64_MSR_REFERENCE_TSC_RSVDP_MASK & 0xAAA);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, disabled), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_REFERENCE_TSC).value, disabled);
  EXPECT_EQ(read_page(*d, kOtherPageGpa).sequence, 0u);  // not enabled: not written
}

TEST(ReferenceTscMsr, NoValueIsGp) {
  auto d = make_vm("hv-time", 1, with_tsc(VmOptions{}.tsc_frequency_hz, 1 << 20));
  for (uint64_t value : {uint64_t{0}, uint64_t{1}, HV_X64_MSR_REFERENCE_TSC_RSVDP_MASK, ~uint64_t{0},
                         uint64_t{0x8000000000000001}, HV_X64_MSR_REFERENCE_TSC_PAGE_MASK, uint64_t{0x1000} | 1}) {
    EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, value), Access::Ok) << hex(value);
    EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_REFERENCE_TSC).value, value) << hex(value);
  }
  EXPECT_EQ(d->vm().stop_reason(), StopReason::None);
}

TEST(ReferenceTscPage, EnableFillsTheThreeFieldsOnly) {
  auto d = make_vm("hv-time");
  // A page with a pattern: every byte outside TscSequence, TscScale and
  // TscOffset must keep it (Reserved1 and Reserved2 are not written).
  std::memset(d->memory().base() + kPageGpa, 0xA5, HV_PAGE_SIZE);
  const std::vector<uint8_t> before = page_bytes(*d, kPageGpa);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, kPageGpa | HV_X64_MSR_REFERENCE_TSC_ENABLE), Access::Ok);

  uint64_t scale = 0;
  int64_t offset = 0;
  ASSERT_TRUE(d->vm().reference_tsc(scale, offset));
  const Page p = read_page(*d, kPageGpa);
  EXPECT_EQ(p.scale, scale);
  EXPECT_EQ(p.scale, expected_scale(VmOptions{}.tsc_frequency_hz));
  EXPECT_EQ(p.offset, offset);
  EXPECT_EQ(p.sequence, 0xA5A5A5A5u + 1);  // continues from what the page held

  const std::vector<uint8_t> after = page_bytes(*d, kPageGpa);
  for (uint32_t i = 0; i < HV_PAGE_SIZE; ++i) {
    const bool field = i < HV_REFERENCE_TSC_PAGE_SEQUENCE_OFFSET + sizeof(uint32_t) ||
                       (i >= HV_REFERENCE_TSC_PAGE_SCALE_OFFSET && i < HV_REFERENCE_TSC_PAGE_OFFSET_OFFSET + sizeof(int64_t));
    if (!field) {
      ASSERT_EQ(after[i], before[i]) << "byte " << i;
    }
  }
  // Nothing outside the page either.
  EXPECT_EQ(d->memory().base()[kPageGpa - 1], 0);
  EXPECT_EQ(d->memory().base()[kPageGpa + HV_PAGE_SIZE], 0);
  EXPECT_EQ(counter(*d, kCounter), 1);
}

TEST(ReferenceTscPage, FreshPageStartsAtSequenceOne) {
  auto d = make_vm("hv-time");
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, kPageGpa | HV_X64_MSR_REFERENCE_TSC_ENABLE), Access::Ok);
  EXPECT_EQ(read_page(*d, kPageGpa).sequence, 1u);
}

// Requirement: with hv-frequencies the page encodes the frequency the guest
// reads from HV_X64_MSR_TSC_FREQUENCY, and the page's time equals
// HV_X64_MSR_TIME_REF_COUNT (within one tick) on every vCPU, at any time,
// also after a re-enable and a re-map.
class PageMatchesMsr : public ::testing::TestWithParam<uint64_t> {};

TEST_P(PageMatchesMsr, AtEveryClockValue) {
  constexpr uint32_t kVcpus = 2;
  auto d = make_vm("hv-time,hv-frequencies", kVcpus, with_tsc(GetParam()));
  const uint64_t hz = d->rdmsr(0, HV_X64_MSR_TSC_FREQUENCY).value;
  ASSERT_EQ(hz, GetParam());

  uint64_t gpa = kPageGpa;
  auto check = [&](const char* when) {
    SCOPED_TRACE(when);
    const Page p = read_page(*d, gpa);
    ASSERT_NE(p.sequence, HV_REFERENCE_TSC_SEQUENCE_INVALID);
    ASSERT_NE(p.sequence, HV_REFERENCE_TSC_SEQUENCE_INVALID_LEGACY);
    EXPECT_EQ(p.scale, expected_scale(hz));
    for (uint64_t ns : {uint64_t{0}, uint64_t{1}, uint64_t{99}, uint64_t{100}, uint64_t{12'345}, uint64_t{1'000'000'007},
                        uint64_t{3'600} * 1'000'000'000 + 17, uint64_t{86'400} * 1'000'000'000 * 7 + 123'456'789}) {
      d->set_time_ns(ns);
      for (uint32_t v = 0; v < kVcpus; ++v) {
        const uint64_t msr = ref_count(*d, v);
        const uint64_t page = page_time(p, d->vm().guest_tsc(v));
        EXPECT_LE(distance(page, msr), 1u) << ns << " ns, vCPU " << v << ": page " << page << ", MSR " << msr;
      }
    }
  };

  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, gpa | HV_X64_MSR_REFERENCE_TSC_ENABLE), Access::Ok);
  check("enabled");
  ASSERT_EQ(d->wrmsr(1, HV_X64_MSR_REFERENCE_TSC, gpa), Access::Ok);
  ASSERT_EQ(d->wrmsr(1, HV_X64_MSR_REFERENCE_TSC, gpa | HV_X64_MSR_REFERENCE_TSC_ENABLE), Access::Ok);
  check("re-enabled");
  gpa = kOtherPageGpa;
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, gpa | HV_X64_MSR_REFERENCE_TSC_ENABLE), Access::Ok);
  check("re-mapped");
  ASSERT_EQ(d->host_wrmsr(0, HV_X64_MSR_REFERENCE_TSC, gpa | HV_X64_MSR_REFERENCE_TSC_ENABLE), Access::Ok);
  check("restored by the host");
}

INSTANTIATE_TEST_SUITE_P(Frequencies, PageMatchesMsr,
                         ::testing::Values(uint64_t{2'500'000'000}, uint64_t{3'123'456'789}, uint64_t{1'000'000'000},
                                           uint64_t{5'000'000'000}, uint64_t{10'000'001}, uint64_t{19'200'000}),
                         [](const ::testing::TestParamInfo<uint64_t>& info) { return std::to_string(info.param) + "Hz"; });

// Save on one host, restore on another with a different TSC rate (what a
// migration does): the destination's reference time continues from the
// saved value (Vm::set_reference_time; TLFS: it "appears to stop" between
// save and restore), and replaying HV_X64_MSR_REFERENCE_TSC republishes the
// page in the restored RAM with the destination's scale, a moved offset and
// the next sequence, so page and MSR agree there from the first read.
TEST(ReferenceTscPage, SaveOnOneHostRestoreOnAnotherContinuesTheTime) {
  auto src = make_vm("hv-time", 2, with_tsc(2'500'000'000ull));
  ASSERT_EQ(src->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, kPageGpa | HV_X64_MSR_REFERENCE_TSC_ENABLE), Access::Ok);
  src->set_time_ns(7'654'321'000);
  // Save: the clock, the MSRs (host reads), guest RAM (here, the page).
  const uint64_t saved_time = ref_count(*src, 1);
  const uint64_t saved_msr = src->host_rdmsr(0, HV_X64_MSR_REFERENCE_TSC).value;
  const std::vector<uint8_t> saved_page = page_bytes(*src, kPageGpa);
  const uint32_t saved_sequence = read_page(*src, kPageGpa).sequence;
  ASSERT_EQ(saved_time, 76'543'210u);

  auto dst = make_vm("hv-time", 2, with_tsc(3'123'456'789ull));
  dst->set_time_ns(42'000'000);  // the destination has been up for a while
  std::memcpy(dst->memory().base() + kPageGpa, saved_page.data(), saved_page.size());
  dst->vm().set_reference_time(saved_time);
  ASSERT_EQ(dst->host_wrmsr(0, HV_X64_MSR_REFERENCE_TSC, saved_msr), Access::Ok);

  EXPECT_EQ(dst->host_rdmsr(1, HV_X64_MSR_REFERENCE_TSC).value, saved_msr);
  const Page p = read_page(*dst, kPageGpa);
  EXPECT_EQ(p.sequence, saved_sequence + 1);
  EXPECT_EQ(p.scale, expected_scale(3'123'456'789ull));
  for (uint64_t later_ns : {uint64_t{0}, uint64_t{1'000'000}, uint64_t{2'000'000'000}}) {
    dst->set_time_ns(42'000'000 + later_ns);
    const uint64_t expected = saved_time + later_ns / kNsPerTick;
    for (uint32_t v = 0; v < 2; ++v) {
      EXPECT_LE(distance(ref_count(*dst, v), expected), 1u) << later_ns << " ns after restore, vCPU " << v;
      EXPECT_LE(distance(page_time(p, dst->vm().guest_tsc(v)), expected), 1u) << later_ns << " ns, page, vCPU " << v;
    }
  }
}

// Without a reference TSC the restored clock continues all the same.
TEST(TimeRefCount, RestoredClockContinuesWithoutAReferenceTsc) {
  VmOptions o = with_tsc(2'500'000'000ull);
  o.tsc_reliable = false;
  auto d = make_vm("hv-time", 1, o);
  d->set_time_ns(5'000'000);
  d->vm().set_reference_time(1'000'000'000);
  EXPECT_EQ(ref_count(*d, 0), 1'000'000'000u);
  d->set_time_ns(6'000'000);
  EXPECT_EQ(ref_count(*d, 0), 1'000'010'000u);
}

TEST(ReferenceTscPage, SequenceIncrementsOnEveryEnable) {
  auto d = make_vm("hv-time", 2);
  uint32_t previous = 0;
  for (uint32_t i = 0; i < 5'000; ++i) {
    const uint64_t value = kPageGpa | HV_X64_MSR_REFERENCE_TSC_ENABLE;
    // From either vCPU, as the guest or as the host: all the same.
    const Access a = i % 3 == 2 ? d->host_wrmsr(i % 2, HV_X64_MSR_REFERENCE_TSC, value)
                                : d->wrmsr(i % 2, HV_X64_MSR_REFERENCE_TSC, value);
    ASSERT_EQ(a, Access::Ok);
    const uint32_t sequence = read_page(*d, kPageGpa).sequence;
    ASSERT_EQ(sequence, previous + 1) << "enable " << i;
    previous = sequence;
  }
  EXPECT_EQ(counter(*d, kCounter), 5'000);
}

TEST(ReferenceTscPage, SequenceWrapsPastBothInvalidValues) {
  auto d = make_vm("hv-time");
  const uint64_t enable = kPageGpa | HV_X64_MSR_REFERENCE_TSC_ENABLE;
  // State as a restore of guest RAM would leave it, close to the wrap.
  write_sequence(*d, kPageGpa, 0xFFFFFFFD);
  ASSERT_EQ(d->host_wrmsr(0, HV_X64_MSR_REFERENCE_TSC, enable), Access::Ok);
  EXPECT_EQ(read_page(*d, kPageGpa).sequence, 0xFFFFFFFEu);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, enable), Access::Ok);
  EXPECT_EQ(read_page(*d, kPageGpa).sequence, 1u);  // neither 0xFFFFFFFF nor 0
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, enable), Access::Ok);
  EXPECT_EQ(read_page(*d, kPageGpa).sequence, 2u);

  // A page holding either invalid marker restarts at 1 too.
  for (uint32_t marker : {HV_REFERENCE_TSC_SEQUENCE_INVALID_LEGACY, HV_REFERENCE_TSC_SEQUENCE_INVALID}) {
    write_sequence(*d, kPageGpa, marker);
    ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, enable), Access::Ok);
    EXPECT_EQ(read_page(*d, kPageGpa).sequence, 1u) << hex(marker);
  }
}

TEST(ReferenceTscPage, SequenceNeverInvalidAcrossAFullWrap) {
  // Every starting value the page can hold: the next one is valid and
  // different from the old one (so a reader in flight retries).
  auto d = make_vm("hv-time");
  const uint64_t enable = kPageGpa | HV_X64_MSR_REFERENCE_TSC_ENABLE;
  for (uint64_t start = 0; start <= 0xFFFFFFFF; start += 0x00FFFFFF) {
    for (uint32_t delta = 0; delta < 4; ++delta) {
      const uint32_t old = static_cast<uint32_t>(start + delta);
      write_sequence(*d, kPageGpa, old);
      ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, enable), Access::Ok);
      const uint32_t now = read_page(*d, kPageGpa).sequence;
      ASSERT_NE(now, HV_REFERENCE_TSC_SEQUENCE_INVALID) << hex(old);
      ASSERT_NE(now, HV_REFERENCE_TSC_SEQUENCE_INVALID_LEGACY) << hex(old);
      ASSERT_NE(now, old) << hex(old);
    }
  }
}

TEST(ReferenceTscPage, DisableLeavesThePageAsItIs) {
  auto d = make_vm("hv-time");
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, kPageGpa | HV_X64_MSR_REFERENCE_TSC_ENABLE), Access::Ok);
  const std::vector<uint8_t> enabled = page_bytes(*d, kPageGpa);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, kPageGpa), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_REFERENCE_TSC).value, kPageGpa);
  EXPECT_EQ(page_bytes(*d, kPageGpa), enabled);
  EXPECT_EQ(counter(*d, kCounter), 1);
  // Disabling twice, or with another GPA, writes nothing either.
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, 0), Access::Ok);
  EXPECT_EQ(page_bytes(*d, kPageGpa), enabled);
  // Enabling again publishes again.
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, kPageGpa | HV_X64_MSR_REFERENCE_TSC_ENABLE), Access::Ok);
  EXPECT_EQ(read_page(*d, kPageGpa).sequence, 2u);
  EXPECT_EQ(counter(*d, kCounter), 2);
}

TEST(ReferenceTscPage, RemapFillsTheNewPageAndLeavesTheOld) {
  auto d = make_vm("hv-time");
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, kPageGpa | HV_X64_MSR_REFERENCE_TSC_ENABLE), Access::Ok);
  const std::vector<uint8_t> old_page = page_bytes(*d, kPageGpa);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, kOtherPageGpa | HV_X64_MSR_REFERENCE_TSC_ENABLE), Access::Ok);
  EXPECT_EQ(page_bytes(*d, kPageGpa), old_page);
  const Page p = read_page(*d, kOtherPageGpa);
  EXPECT_EQ(p.sequence, 1u);
  EXPECT_EQ(p.scale, expected_scale(VmOptions{}.tsc_frequency_hz));
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_REFERENCE_TSC).value, kOtherPageGpa | HV_X64_MSR_REFERENCE_TSC_ENABLE);
}

TEST(ReferenceTscPage, GpaOutsideRamIsAcceptedAndWritesNothing) {
  // TLFS: "If the specified base address is beyond the end of the
  // partition's GPA space, the reference TSC page will not be accessible to
  // the guest." The write succeeds and reads back; no byte is written.
  constexpr uint64_t kRam = 1 << 20;
  auto d = make_vm("hv-time", 2, with_tsc(VmOptions{}.tsc_frequency_hz, kRam));
  const uint64_t outside[] = {kRam,
                              kRam + HV_PAGE_SIZE,
                              uint64_t{1} << 40,
                              uint64_t{1} << 52,
                              HV_X64_MSR_REFERENCE_TSC_PAGE_MASK /* gpa + page size wraps to 0 */};
  for (uint64_t gpa : outside) {
    for (uint64_t value : {(gpa & HV_X64_MSR_REFERENCE_TSC_PAGE_MASK) | HV_X64_MSR_REFERENCE_TSC_ENABLE,
                           gpa | HV_X64_MSR_REFERENCE_TSC_RSVDP_MASK | HV_X64_MSR_REFERENCE_TSC_ENABLE}) {
      EXPECT_EQ(d->wrmsr(1, HV_X64_MSR_REFERENCE_TSC, value), Access::Ok) << hex(value);
      EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_REFERENCE_TSC).value, value) << hex(value);
      EXPECT_EQ(d->host_wrmsr(0, HV_X64_MSR_REFERENCE_TSC, value), Access::Ok) << hex(value);
    }
  }
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, ~uint64_t{0}), Access::Ok);
  const uint8_t* ram = d->memory().base();
  for (uint64_t i = 0; i < kRam; ++i) ASSERT_EQ(ram[i], 0) << "byte " << hex(i) << " was written";
  EXPECT_EQ(counter(*d, kCounter), 0);
  EXPECT_EQ(d->vm().stop_reason(), StopReason::None);
  // Time still reads from the MSR, and the last page of RAM is a valid place.
  EXPECT_TRUE(d->rdmsr(0, HV_X64_MSR_TIME_REF_COUNT).ok());
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, (kRam - HV_PAGE_SIZE) | HV_X64_MSR_REFERENCE_TSC_ENABLE), Access::Ok);
  EXPECT_EQ(read_page(*d, kRam - HV_PAGE_SIZE).sequence, 1u);
}

TEST(ReferenceTscPage, PagePartlyOutsideRamIsNotWritten) {
  // RAM that ends half way through a page: that page is not in the GPA space.
  constexpr uint64_t kRam = (1 << 20) + HV_PAGE_SIZE / 2;
  auto d = make_vm("hv-time", 1, with_tsc(VmOptions{}.tsc_frequency_hz, kRam));
  const uint64_t last = kRam & HV_X64_MSR_REFERENCE_TSC_PAGE_MASK;
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, last | HV_X64_MSR_REFERENCE_TSC_ENABLE), Access::Ok);
  for (uint64_t i = last; i < kRam; ++i) ASSERT_EQ(d->memory().base()[i], 0) << "byte " << hex(i);
  EXPECT_EQ(counter(*d, kCounter), 0);
}

TEST(ReferenceTscPage, InvalidWhenTheTscCannotBeTheReference) {
  // TLFS: sequence 0 means "not a reliable source; read the MSR".
  auto d = make_vm("hv-time", 1, with_tsc(HV_REFERENCE_TIME_UNITS_PER_SECOND));
  write_sequence(*d, kPageGpa, 7);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, kPageGpa | HV_X64_MSR_REFERENCE_TSC_ENABLE), Access::Ok);
  const Page p = read_page(*d, kPageGpa);
  EXPECT_EQ(p.sequence, HV_REFERENCE_TSC_SEQUENCE_INVALID);
  EXPECT_EQ(p.scale, 0u);  // left as it was
  EXPECT_EQ(p.offset, 0);
  EXPECT_EQ(counter(*d, kCounter), 1);
  // The fallback the guest takes still counts.
  d->set_time_ns(1'000'000);
  EXPECT_EQ(ref_count(*d, 0), 10'000u);
  // And re-enabling keeps it invalid.
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, kPageGpa | HV_X64_MSR_REFERENCE_TSC_ENABLE), Access::Ok);
  EXPECT_EQ(read_page(*d, kPageGpa).sequence, HV_REFERENCE_TSC_SEQUENCE_INVALID);
}

TEST(ReferenceTscPage, HostWriteBehavesLikeAGuestWrite) {
  auto d = make_vm("hv-time", 2);
  ASSERT_EQ(d->host_wrmsr(1, HV_X64_MSR_REFERENCE_TSC, kPageGpa | HV_X64_MSR_REFERENCE_TSC_ENABLE), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_REFERENCE_TSC).value, kPageGpa | HV_X64_MSR_REFERENCE_TSC_ENABLE);
  const Page p = read_page(*d, kPageGpa);
  EXPECT_EQ(p.sequence, 1u);
  EXPECT_EQ(p.scale, expected_scale(VmOptions{}.tsc_frequency_hz));
  EXPECT_EQ(counter(*d, kCounter), 1);
}

TEST(ReferenceTscPage, CounterSumsEveryVcpusPageWrites) {
  auto d = make_vm("hv-time", 3);
  for (uint32_t v = 0; v < 3; ++v)
    ASSERT_EQ(d->wrmsr(v, HV_X64_MSR_REFERENCE_TSC, kPageGpa | HV_X64_MSR_REFERENCE_TSC_ENABLE), Access::Ok);
  ASSERT_EQ(d->wrmsr(1, HV_X64_MSR_REFERENCE_TSC, kPageGpa), Access::Ok);  // disable: no page write
  EXPECT_EQ(counter(*d, kCounter), 3);
}

TEST(ReferenceTscPage, ConcurrentReadersNeverSeeAnInconsistentPage) {
  // vCPU 0 re-enables the page again and again while the others read it the
  // TLFS way (sequence, TSC, scale, offset, sequence again; the MSR when the
  // sequence is 0). Every value they accept must be the reference time.
  constexpr uint32_t kVcpus = 4;
  auto d = make_vm("hv-time", kVcpus, with_tsc(3'000'000'017));
  d->set_time_ns(123'456'789'000);
  const uint64_t expected = ref_count(*d, 0);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, kPageGpa | HV_X64_MSR_REFERENCE_TSC_ENABLE), Access::Ok);

  uint8_t* page = d->memory().base() + kPageGpa;
  std::atomic_ref<uint32_t> sequence(*reinterpret_cast<uint32_t*>(page + HV_REFERENCE_TSC_PAGE_SEQUENCE_OFFSET));
  std::atomic_ref<uint64_t> scale(*reinterpret_cast<uint64_t*>(page + HV_REFERENCE_TSC_PAGE_SCALE_OFFSET));
  std::atomic_ref<uint64_t> offset(*reinterpret_cast<uint64_t*>(page + HV_REFERENCE_TSC_PAGE_OFFSET_OFFSET));

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> wrong{0}, legacy{0}, via_page{0}, via_msr{0};
  std::vector<std::thread> readers;
  for (uint32_t v = 1; v < kVcpus; ++v)
    readers.emplace_back([&, v] {
      while (!stop.load(std::memory_order_relaxed)) {
        uint64_t time = 0;
        uint32_t start = 0, end = 0;
        bool from_msr = false;
        do {
          start = sequence.load(std::memory_order_acquire);
          if (start == HV_REFERENCE_TSC_SEQUENCE_INVALID_LEGACY) legacy.fetch_add(1);
          if (start == HV_REFERENCE_TSC_SEQUENCE_INVALID) {
            time = d->rdmsr(v, HV_X64_MSR_TIME_REF_COUNT).value;
            from_msr = true;
            break;
          }
          Page p;
          p.scale = scale.load(std::memory_order_acquire);
          p.offset = static_cast<int64_t>(offset.load(std::memory_order_acquire));
          time = page_time(p, d->vm().guest_tsc(v));
          end = sequence.load(std::memory_order_acquire);
        } while (end != start);
        (from_msr ? via_msr : via_page).fetch_add(1);
        if (time != expected) wrong.fetch_add(1);
      }
    });
  // Keep writing until the readers, however the machine schedules them,
  // have done a fair number of reads while the writer ran (bounded, so a
  // starved reader cannot hang the test).
  constexpr uint64_t kMinWrites = 20'000, kMinReads = 20'000;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (uint64_t i = 0; i < kMinWrites || (via_page.load() + via_msr.load() < kMinReads &&
                                          std::chrono::steady_clock::now() < deadline);
       ++i)
    ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, kPageGpa | HV_X64_MSR_REFERENCE_TSC_ENABLE), Access::Ok);
  stop.store(true);
  for (auto& t : readers) t.join();
  EXPECT_EQ(wrong.load(), 0u);
  EXPECT_EQ(legacy.load(), 0u);
  EXPECT_GE(via_page.load() + via_msr.load(), kMinReads);
}

// ---- hv-enforce-cpuid ----------------------------------------------------

TEST(TimeEnforceCpuid, AdvertisedMsrsWork) {
  auto d = make_vm("hv-time,hv-enforce-cpuid");
  ASSERT_TRUE(d->vm().resolution().enforce_cpuid);
  d->set_time_ns(1'000);
  EXPECT_EQ(ref_count(*d, 0), 10u);
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_TIME_REF_COUNT, 0), Access::GP);
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, kPageGpa | HV_X64_MSR_REFERENCE_TSC_ENABLE), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_REFERENCE_TSC).value, kPageGpa | HV_X64_MSR_REFERENCE_TSC_ENABLE);
  EXPECT_EQ(read_page(*d, kPageGpa).sequence, 1u);
}

// A VM whose time manifest gates the listed MSRs on a bit nobody advertises
// (0x40000003.EAX[12], reserved), so hv-enforce-cpuid closes them. The
// resolution is edited in memory rather than shadowed on disk, so this runs
// in the static build too (the loader compares claims, not gates).
std::unique_ptr<DirectVm> make_vm_with_closed_gates(std::initializer_list<uint32_t> closed, bool enforce) {
  const Catalog catalog = Catalog::discover(plugin_dir());
  Profile profile = parse_cpu_flags(enforce ? "hv-time,hv-enforce-cpuid" : "hv-time", catalog);
  Resolution resolution = resolve(profile, catalog, direct::capabilities());
  Manifest edited;  // DirectVm::create -> Vm::create copies it before returning
  bool found = false;
  for (ResolvedPlugin& rp : resolution.plugins) {
    if (rp.manifest->name != "time") continue;
    edited = *rp.manifest;
    for (MsrClaim& c : edited.msrs)
      for (uint32_t msr : closed)
        if (c.first <= msr && msr <= c.last) {
          EXPECT_TRUE(c.gate.has_value());
          c.gate->leaf = HV_CPUID_FEATURES;
          c.gate->reg = ENLIGHT_EAX;
          c.gate->bit = HV_ACCESS_DEBUG_REGS_BIT;  // reserved in 0x40000003.EAX; nobody sets it
        }
    rp.manifest = &edited;
    found = true;
  }
  EXPECT_TRUE(found);
  return DirectVm::create(resolution);
}

TEST(TimeEnforceCpuid, ClosedGatesDenyTheGuestOnly) {
  auto d = make_vm_with_closed_gates({HV_X64_MSR_TIME_REF_COUNT, HV_X64_MSR_REFERENCE_TSC}, true);
  ASSERT_EQ(d->cpuid(0, HV_CPUID_FEATURES).eax & HV_ACCESS_DEBUG_REGS, 0u);
  for (uint32_t msr : {HV_X64_MSR_TIME_REF_COUNT, HV_X64_MSR_REFERENCE_TSC}) {
    EXPECT_TRUE(d->rdmsr(0, msr).gp()) << std::hex << msr;
    EXPECT_EQ(d->wrmsr(0, msr, kPageGpa | HV_X64_MSR_REFERENCE_TSC_ENABLE), Access::GP) << std::hex << msr;
    EXPECT_TRUE(d->host_rdmsr(0, msr).ok()) << std::hex << msr;
  }
  // The guest's denied write did nothing; the host can still restore.
  EXPECT_EQ(d->host_rdmsr(0, HV_X64_MSR_REFERENCE_TSC).value, 0u);
  EXPECT_EQ(read_page(*d, kPageGpa).sequence, 0u);
  EXPECT_EQ(d->host_wrmsr(0, HV_X64_MSR_REFERENCE_TSC, kPageGpa | HV_X64_MSR_REFERENCE_TSC_ENABLE), Access::Ok);
  EXPECT_EQ(read_page(*d, kPageGpa).sequence, 1u);
  EXPECT_EQ(d->vm().stop_reason(), StopReason::None);
}

TEST(TimeEnforceCpuid, EachMsrHasItsOwnGate) {
  auto d = make_vm_with_closed_gates({HV_X64_MSR_REFERENCE_TSC}, true);
  EXPECT_TRUE(d->rdmsr(0, HV_X64_MSR_TIME_REF_COUNT).ok());
  EXPECT_TRUE(d->rdmsr(0, HV_X64_MSR_REFERENCE_TSC).gp());
  auto e = make_vm_with_closed_gates({HV_X64_MSR_TIME_REF_COUNT}, true);
  EXPECT_TRUE(e->rdmsr(0, HV_X64_MSR_TIME_REF_COUNT).gp());
  EXPECT_TRUE(e->rdmsr(0, HV_X64_MSR_REFERENCE_TSC).ok());
}

TEST(TimeEnforceCpuid, ClosedGatesDoNotMatterWithoutEnforce) {
  auto d = make_vm_with_closed_gates({HV_X64_MSR_TIME_REF_COUNT, HV_X64_MSR_REFERENCE_TSC}, false);
  EXPECT_TRUE(d->rdmsr(0, HV_X64_MSR_TIME_REF_COUNT).ok());
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_REFERENCE_TSC, kPageGpa | HV_X64_MSR_REFERENCE_TSC_ENABLE), Access::Ok);
}

}  // namespace
}  // namespace enlight::test
