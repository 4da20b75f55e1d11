// tlbflush-ext: the extended-GVA-ranges bit (0x40000003.EDX[14]) and its
// dependency on tlbflush, QEMU's rule for hv-tlbflush-ext.
#include "enlight_test.hpp"

#include <gmock/gmock.h>

namespace enlight::test {
namespace {

using ::testing::HasSubstr;

TEST(TlbflushExtCpuid, SetsTheExtendedRangeBitBesideTlbflush) {
  auto d = make_vm("hv-vpindex,hv-tlbflush,hv-tlbflush-ext");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_FEATURES).edx,
            HV_FEATURE_EXTENDED_GVA_RANGES_FLUSH_AVAILABLE | HV_FEATURE_CPU_DYNAMIC_PARTITIONING_AVAILABLE);
  // tlbflush's own recommendations are unchanged by it.
  EXPECT_EQ(d->cpuid(0, HV_CPUID_ENLIGHTENMENT_INFO).eax,
            HV_RECOMMEND_REMOTE_TLB_FLUSH_HYPERCALL | HV_RECOMMEND_EX_PROCESSOR_MASKS);
}

TEST(TlbflushExtCpuid, OffMeansNoBit) {
  auto d = make_vm("hv-vpindex,hv-tlbflush,hv-tlbflush-ext,hv-tlbflush-ext=off");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_FEATURES).edx & HV_FEATURE_EXTENDED_GVA_RANGES_FLUSH_AVAILABLE, 0u);
}

TEST(TlbflushExtResolve, NeedsTlbflush) {
  try {
    make_vm("hv-vpindex,hv-tlbflush-ext");
    FAIL() << "hv-tlbflush-ext without hv-tlbflush resolved";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("tlbflush-ext requires tlbflush, which is not enabled"));
    EXPECT_THAT(e.where().file, HasSubstr("tlbflush-ext.yaml"));
    EXPECT_THAT(e.fix(), HasSubstr("enable tlbflush"));
  }
}

// The flush calls stay tlbflush's: the plugin adds no handler of its own,
// and a List call with HV_FLUSH_USE_EXTENDED_RANGE_FORMAT is accepted (the
// tlbflush plugin flushes the whole TLB, which covers any range format).
TEST(TlbflushExtHypercalls, ExtendedRangeFlagIsAcceptedByTheListCall) {
  auto d = make_vm("hv-vpindex,hv-tlbflush,hv-tlbflush-ext", 2);
  ASSERT_EQ(enable_hypercalls(*d, 0x10000), Access::Ok);
  constexpr uint64_t kIn = 0x20000;
  const uint64_t header[3] = {0 /* address space */, HV_FLUSH_USE_EXTENDED_RANGE_FORMAT, 0x3 /* VPs 0, 1 */};
  ASSERT_TRUE(d->memory().write(kIn, header, sizeof header));
  const uint64_t gva = 0x7f0000000000ull;
  ASSERT_TRUE(d->memory().write(kIn + sizeof header, &gva, 8));
  const auto r = d->hypercall(0, direct::control(HvCallFlushVirtualAddressList, false, 1), kIn, 0);
  EXPECT_EQ(r.status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(r.reps_completed(), 1u);
}

TEST(TlbflushExtMsrs, ClaimsNoMsr) {
  auto with = make_vm("hv-vpindex,hv-tlbflush,hv-tlbflush-ext");
  auto without = make_vm("hv-vpindex,hv-tlbflush");
  for (uint32_t i = HV_X64_MSR_SYNTHETIC_FIRST; i <= HV_X64_MSR_SYNTHETIC_LAST; ++i)
    EXPECT_EQ(with->rdmsr(0, i).ok(), without->rdmsr(0, i).ok()) << std::hex << i;
}

}  // namespace
}  // namespace enlight::test
