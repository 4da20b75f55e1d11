// Fast (register) hypercalls, XMM fast input, and CPUID-gated hypercalls
// under hv-enforce-cpuid (TLFS hypercall interface; KVM kvm_hv_hypercall).
#include "hc_shapes_test_util.hpp"

namespace enlight::test {
namespace {

using direct::control;

class HypercallFast : public HcShapes {
 protected:
  std::array<uint8_t, 96> xmm_pattern() {
    std::array<uint8_t, 96> x{};
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<uint8_t>(0x40 + i * 7);
    return x;
  }
  // RDX, R8, then XMM0..XMM5: the 112-byte XMM fast input block.
  static std::array<uint8_t, 112> block(uint64_t rdx, uint64_t r8, const std::array<uint8_t, 96>& xmm) {
    std::array<uint8_t, 112> b{};
    std::memcpy(b.data(), &rdx, 8);
    std::memcpy(b.data() + 8, &r8, 8);
    std::memcpy(b.data() + 16, xmm.data(), xmm.size());
    return b;
  }
};

TEST_F(HypercallFast, RegistersReachTheHandler) {
  const uint64_t rdx = 0x0123456789ABCDEFull, r8 = 0xFEDCBA9876543210ull;
  const auto r = d().fast_hypercall(0, control(HCS_CODE_FAST), rdx, r8);
  EXPECT_EQ(r.status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(msr(HCS_MSR_LAST_SIZE), 16u);
  const uint64_t regs[2] = {rdx, r8};
  EXPECT_EQ(msr(HCS_MSR_LAST_DIGEST), digest_of(regs, 16));
}

// A call with a fast form may still be called with memory parameters.
TEST_F(HypercallFast, FastCapableCallInMemoryForm) {
  put(kIn, 0x1111);
  put(kIn + 8, 0x2222);
  EXPECT_EQ(d().hypercall(0, control(HCS_CODE_FAST), kIn, 0).status(), HV_STATUS_SUCCESS);
  const uint64_t in[2] = {0x1111, 0x2222};
  EXPECT_EQ(msr(HCS_MSR_LAST_DIGEST), digest_of(in, 16));
}

// Fast input is registers: RDX and R8 are not addresses and are not checked
// as such.
TEST_F(HypercallFast, FastInputIsNotAnAddress) {
  EXPECT_EQ(d().fast_hypercall(0, control(HCS_CODE_FAST), 0xFFFFFFFFFFFFFFF1ull, 0x3).status(), HV_STATUS_SUCCESS);
}

TEST_F(HypercallFast, XmmInputReachesTheHandler) {
  const auto xmm = xmm_pattern();
  const auto r = d().fast_hypercall(0, control(HCS_CODE_XMM), 0xAAAA, 0xBBBB, &xmm);
  EXPECT_EQ(r.status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(msr(HCS_MSR_LAST_SIZE), HCS_XMM_INPUT_SIZE);
  const auto b = block(0xAAAA, 0xBBBB, xmm);
  EXPECT_EQ(msr(HCS_MSR_LAST_DIGEST), digest_of(b.data(), b.size()));
}

// A fast call without the XMM shape gets RDX and R8 only.
TEST_F(HypercallFast, XmmRegistersAreNotReadForAPlainFastCall) {
  const auto xmm = xmm_pattern();
  d().fast_hypercall(0, control(HCS_CODE_FAST), 1, 2, &xmm);
  EXPECT_EQ(msr(HCS_MSR_LAST_SIZE), 16u);
  const uint64_t regs[2] = {1, 2};
  EXPECT_EQ(msr(HCS_MSR_LAST_DIGEST), digest_of(regs, 16));
}

TEST_F(HypercallFast, XmmCallInMemoryForm) {
  std::array<uint8_t, HCS_XMM_INPUT_SIZE> in{};
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<uint8_t>(i ^ 0x5A);
  ASSERT_TRUE(d().memory().write(kIn, in.data(), in.size()));
  EXPECT_EQ(d().hypercall(0, control(HCS_CODE_XMM), kIn, 0).status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(msr(HCS_MSR_LAST_DIGEST), digest_of(in.data(), in.size()));
}

// KVM reads XMM input whether or not it was advertised unless
// hv-enforce-cpuid is on.
TEST_F(HypercallFast, XmmWithoutAdvertisingIsAcceptedWithoutEnforce) {
  ASSERT_FALSE(d().cpuid(0, HV_CPUID_FEATURES).edx & HV_FEATURE_XMM_HYPERCALL_INPUT_AVAILABLE);
  const auto xmm = xmm_pattern();
  EXPECT_EQ(d().fast_hypercall(0, control(HCS_CODE_XMM), 1, 2, &xmm).status(), HV_STATUS_SUCCESS);
}

TEST_F(HypercallFast, XmmWithoutAdvertisingIsUDUnderEnforce) {
  start(true);
  const auto xmm = xmm_pattern();
  EXPECT_TRUE(d().fast_hypercall(0, control(HCS_CODE_XMM), 1, 2, &xmm).ud());
  EXPECT_EQ(msr(HCS_MSR_LAST_SIZE), 0u) << "the handler never ran";
  // Only the XMM form is refused: plain fast and memory forms still work.
  EXPECT_EQ(d().fast_hypercall(0, control(HCS_CODE_FAST), 1, 2).status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(d().hypercall(0, control(HCS_CODE_XMM), kIn, 0).status(), HV_STATUS_SUCCESS);
}

TEST_F(HypercallFast, XmmAdvertisedWorksUnderEnforce) {
  start(true, {{"xmm-input", "on"}});
  ASSERT_TRUE(d().cpuid(0, HV_CPUID_FEATURES).edx & HV_FEATURE_XMM_HYPERCALL_INPUT_AVAILABLE);
  const auto xmm = xmm_pattern();
  const auto r = d().fast_hypercall(0, control(HCS_CODE_XMM), 3, 4, &xmm);
  EXPECT_EQ(r.status(), HV_STATUS_SUCCESS);
  const auto b = block(3, 4, xmm);
  EXPECT_EQ(msr(HCS_MSR_LAST_DIGEST), digest_of(b.data(), b.size()));
}

// ---- gated hypercall ---------------------------------------------------------

TEST_F(HypercallFast, GatedCallIsAllowedWithoutEnforce) {
  ASSERT_FALSE((d().cpuid(0, HCS_GATE_LEAF).ebx >> HCS_GATE_BIT) & 1);
  EXPECT_EQ(d().hypercall(0, control(HCS_CODE_GATED), 0, 0).status(), HV_STATUS_SUCCESS);
}

TEST_F(HypercallFast, GatedCallIsAccessDeniedUnderEnforce) {
  start(true);
  const auto r = d().hypercall(0, control(HCS_CODE_GATED), 0, 0);
  EXPECT_FALSE(r.ud());
  EXPECT_EQ(r.status(), HV_STATUS_ACCESS_DENIED);
  // Ungated calls of the same plugin are unaffected.
  EXPECT_EQ(echo().status(), HV_STATUS_SUCCESS);
}

// KVM's order: the access check comes before the reserved-bit check.
TEST_F(HypercallFast, AccessDeniedComesBeforeReservedBits) {
  start(true);
  EXPECT_EQ(d().hypercall(0, control(HCS_CODE_GATED) | (uint64_t{1} << 63), 0, 0).status(), HV_STATUS_ACCESS_DENIED);
}

}  // namespace
}  // namespace enlight::test
