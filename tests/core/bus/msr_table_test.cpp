// The MSR table: a direct array for 0x40000000-0x400001FF, a sorted range
// vector for everything else, #GP for what nobody claims, and CPUID gates
// under hv-enforce-cpuid (closed to the guest, open to the host).
#include "hc_shapes_test_util.hpp"

namespace enlight::test {
namespace {

class MsrTable : public HcShapes {};

TEST_F(MsrTable, UnclaimedSyntheticMsrsAreGP) {
  for (uint32_t index : {0x40000000u, 0x40000001u, 0x4000008Fu, 0x40000096u, 0x400000EFu, 0x400000F1u, 0x400001FDu}) {
    EXPECT_TRUE(d().rdmsr(0, index).gp()) << std::hex << index;
    EXPECT_EQ(d().wrmsr(0, index, 1), Access::GP) << std::hex << index;
  }
}

TEST_F(MsrTable, UnclaimedOtherMsrsAreGP) {
  for (uint32_t index : {0x00000000u, 0x00000010u, 0x3FFFFFFFu, 0x40000202u, 0x4B564CFFu, 0x4B564D08u, 0x4B564D0Fu,
                         0x4B564D11u, 0x4B564D1Fu, 0x4B564D22u, 0xC0000080u, 0xFFFFFFFFu}) {
    EXPECT_TRUE(d().rdmsr(0, index).gp()) << std::hex << index;
    EXPECT_EQ(d().wrmsr(0, index, 0), Access::GP) << std::hex << index;
  }
}

TEST_F(MsrTable, SyntheticRangeIsServedPerVcpu) {
  start(false, {}, 2);
  for (uint32_t index = HCS_MSR_SYN_FIRST; index <= HCS_MSR_SYN_LAST; ++index) EXPECT_EQ(msr(index), index);
  EXPECT_EQ(d().wrmsr(1, HCS_MSR_SYN_FIRST + 2, 0x77), Access::Ok);
  EXPECT_EQ(msr(HCS_MSR_SYN_FIRST + 2, 1), 0x77u);
  EXPECT_EQ(msr(HCS_MSR_SYN_FIRST + 2, 0), HCS_MSR_SYN_FIRST + 2) << "vCPU 0 has its own copy";
}

// Ranges outside the synthetic array are found by binary search: first,
// middle and last of each, and the MSR just past the array.
TEST_F(MsrTable, RangesOutsideTheSyntheticArray) {
  EXPECT_EQ(msr(HCS_MSR_PAST_ARRAY), 0x200u);
  for (uint32_t i = 0; i < 6; ++i) {
    EXPECT_EQ(d().wrmsr(0, HCS_MSR_KVM_FIRST + i, 0x100 + i), Access::Ok);
  }
  for (uint32_t i = 0; i < 6; ++i) EXPECT_EQ(msr(HCS_MSR_KVM_FIRST + i), 0x100u + i);
  EXPECT_EQ(msr(HCS_MSR_LAST_SIZE), 0u);
  EXPECT_TRUE(d().rdmsr(0, HCS_MSR_LAST_DIGEST).ok());
  EXPECT_EQ(msr(HCS_MSR_READ_ONLY), 0u);
}

// One claim across the end of the direct array: the part inside is found
// in the array, the part past it in the sorted ranges.
TEST_F(MsrTable, RangeStraddlingTheEndOfTheSyntheticArray) {
  for (uint32_t index = HCS_MSR_STRADDLE_FIRST; index <= HCS_MSR_STRADDLE_LAST; ++index) {
    const auto r = d().rdmsr(0, index);
    ASSERT_TRUE(r.ok()) << std::hex << index;
    EXPECT_EQ(r.value, index & 0xFFF);
    EXPECT_EQ(d().wrmsr(0, index, 0), Access::GP) << std::hex << index;
  }
  EXPECT_TRUE(d().rdmsr(0, HCS_MSR_STRADDLE_FIRST - 1).gp());
  EXPECT_TRUE(d().rdmsr(0, HCS_MSR_STRADDLE_LAST + 1).gp());
}

TEST_F(MsrTable, MissingHandlerDirectionIsGP) {
  EXPECT_EQ(d().wrmsr(0, HCS_MSR_READ_ONLY, 1), Access::GP);
  EXPECT_EQ(d().wrmsr(0, HCS_MSR_PAST_ARRAY, 1), Access::GP);
  EXPECT_EQ(d().wrmsr(0, HCS_MSR_LAST_DIGEST, 1), Access::GP);
}

TEST_F(MsrTable, HandlerMayAnswerGP) {
  EXPECT_EQ(d().wrmsr(0, HCS_MSR_KVM_FIRST, 5), Access::Ok);
  EXPECT_EQ(d().wrmsr(0, HCS_MSR_KVM_FIRST, uint64_t{1} << 63), Access::GP);
  EXPECT_EQ(msr(HCS_MSR_KVM_FIRST), 5u) << "a refused write changes nothing";
  EXPECT_FALSE(d().vm().stopped());
}

// The direct backend reports 0 for a refused read, never stale data.
TEST_F(MsrTable, GPReadsReturnZero) {
  EXPECT_EQ(d().rdmsr(0, 0x40000050).value, 0u);
}

TEST_F(MsrTable, GatedMsrIsOpenWithoutEnforce) {
  EXPECT_EQ(msr(HCS_MSR_GATED), HCS_GATED_VALUE);
  EXPECT_EQ(d().wrmsr(0, HCS_MSR_GATED, 9), Access::Ok);
  EXPECT_EQ(msr(HCS_MSR_GATED), 9u);
}

TEST_F(MsrTable, GatedMsrIsGPUnderEnforce) {
  start(true);
  EXPECT_TRUE(d().rdmsr(0, HCS_MSR_GATED).gp());
  EXPECT_EQ(d().wrmsr(0, HCS_MSR_GATED, 9), Access::GP);
  // Ungated neighbours are unaffected.
  EXPECT_EQ(msr(HCS_MSR_SYN_FIRST), HCS_MSR_SYN_FIRST);
  EXPECT_EQ(msr(HCS_MSR_PAST_ARRAY), 0x200u);
}

// Save/restore runs as the host: the gate does not apply to it.
TEST_F(MsrTable, HostOriginBypassesTheGate) {
  start(true);
  EXPECT_EQ(d().host_wrmsr(0, HCS_MSR_GATED, 0x1234), Access::Ok);
  const auto r = d().host_rdmsr(0, HCS_MSR_GATED);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value, 0x1234u);
  EXPECT_TRUE(d().rdmsr(0, HCS_MSR_GATED).gp()) << "still closed to the guest";
}

// The host origin does not make unclaimed MSRs or missing directions exist.
TEST_F(MsrTable, HostOriginDoesNotInventHandlers) {
  EXPECT_TRUE(d().host_rdmsr(0, 0x40000050).gp());
  EXPECT_EQ(d().host_wrmsr(0, HCS_MSR_READ_ONLY, 1), Access::GP);
}

// The binary claims each SPLIT pair as one range; the manifest gives each
// half its own gate. Each half is gated by its own manifest claim - not by
// whichever claim the binary's range happens to start in.
TEST_F(MsrTable, GatesFollowTheManifestsSplitOfABinaryRange) {
  const uint32_t open[] = {HCS_MSR_SPLIT_SYN_OPEN, HCS_MSR_SPLIT_KVM_OPEN};
  const uint32_t closed[] = {HCS_MSR_SPLIT_SYN_CLOSED, HCS_MSR_SPLIT_KVM_CLOSED};

  start(true, {{"xmm-input", "on"}});
  ASSERT_TRUE((d().cpuid(0, HCS_GATE_LEAF).edx >> HCS_XMM_GATE_BIT) & 1);
  for (uint32_t index : open) EXPECT_EQ(msr(index), index) << std::hex << index;
  for (uint32_t index : closed) EXPECT_TRUE(d().rdmsr(0, index).gp()) << std::hex << index;

  start(true);
  for (uint32_t index : open) EXPECT_TRUE(d().rdmsr(0, index).gp()) << std::hex << index;
  for (uint32_t index : closed) EXPECT_TRUE(d().rdmsr(0, index).gp()) << std::hex << index;

  start(false);
  for (uint32_t index : open) EXPECT_EQ(msr(index), index) << std::hex << index;
  for (uint32_t index : closed) EXPECT_EQ(msr(index), index) << std::hex << index;
}

TEST_F(MsrTable, IntrospectionMatchesDispatch) {
  const Bus& bus = d().vm().bus();
  EXPECT_NE(bus.find_msr(HCS_MSR_SYN_FIRST), nullptr);
  EXPECT_NE(bus.find_msr(HCS_MSR_KVM_FIRST + 7), nullptr);
  EXPECT_EQ(bus.find_msr(HCS_MSR_KVM_FIRST + 8), nullptr);
  EXPECT_EQ(bus.find_msr(0x40000050), nullptr);
  EXPECT_FALSE(bus.find_msr(HCS_MSR_GATED)->denied);
  start(true);
  EXPECT_TRUE(d().vm().bus().find_msr(HCS_MSR_GATED)->denied);
  EXPECT_FALSE(d().vm().bus().find_msr(HCS_MSR_SYN_FIRST)->denied);
}

}  // namespace
}  // namespace enlight::test
