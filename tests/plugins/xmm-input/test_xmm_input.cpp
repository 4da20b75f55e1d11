// xmm-input: the 0x40000003.EDX[4] bit, and what it changes in the core's
// hypercall decoder under hv-enforce-cpuid: an XMM fast call is #UD without
// it and served with it (TLFS "XMM Fast Hypercalls"; KVM kvm_hv_hypercall).
// The XMM-fast call is the hc-shapes fixture's (tests/fixtures/hc-shapes),
// which records the input it was given; the identity plugin enables the
// hypercall interface as a guest would.
#include "enlight_test.hpp"

#include <fixture_vm.hpp>
#include <hc_shapes_abi.h>

#include <array>
#include <cstring>

namespace enlight::test {
namespace {

using direct::control;

TEST(XmmInputCpuid, SetsTheXmmInputBitOnly) {
  auto d = make_vm("hv-xmm-input");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_FEATURES),
            (CpuidValue{HV_ACCESS_HYPERCALL_MSRS, 0, 0,
                        HV_FEATURE_XMM_HYPERCALL_INPUT_AVAILABLE | HV_FEATURE_CPU_DYNAMIC_PARTITIONING_AVAILABLE}));
  EXPECT_EQ(d->cpuid(0, HV_CPUID_ENLIGHTENMENT_INFO).eax, 0u);
  // XMM output is another bit (15), which nothing here offers.
  EXPECT_EQ(d->cpuid(0, HV_CPUID_FEATURES).edx & HV_FEATURE_XMM_HYPERCALL_OUTPUT_AVAILABLE, 0u);
}

TEST(XmmInputCpuid, OffMeansNoBit) {
  EXPECT_EQ(make_vm("hv-relaxed")->cpuid(0, HV_CPUID_FEATURES).edx & HV_FEATURE_XMM_HYPERCALL_INPUT_AVAILABLE, 0u);
  EXPECT_EQ(make_vm("hv-xmm-input,hv-relaxed,hv-xmm-input=off")->cpuid(0, HV_CPUID_FEATURES).edx &
                HV_FEATURE_XMM_HYPERCALL_INPUT_AVAILABLE,
            0u);
}

TEST(XmmInputCpuid, ClaimsNoMsrAndNoHypercall) {
  auto d = make_vm("hv-xmm-input");
  for (uint32_t i = HV_X64_MSR_SYNTHETIC_FIRST; i <= HV_X64_MSR_SYNTHETIC_LAST; ++i) {
    const bool identity = i == HV_X64_MSR_GUEST_OS_ID || i == HV_X64_MSR_HYPERCALL || i == HV_X64_MSR_VP_ASSIST_PAGE;
    EXPECT_EQ(d->rdmsr(0, i).ok(), identity) << std::hex << i;
  }
  ASSERT_EQ(enable_hypercalls(*d, 0x10000), Access::Ok);
  for (uint16_t code = 0; code < 0x200; ++code)
    ASSERT_EQ(d->fast_hypercall(0, control(code, true), 0, 0).status(), HV_STATUS_INVALID_HYPERCALL_CODE) << code;
}

// identity + the hc-shapes fixture (+ xmm-input), resolved from the fixture's
// directory and the build's plugins together.
class XmmInputDecoder : public ::testing::Test {
 protected:
  static constexpr uint64_t kHypercallPage = 0x10000;

  void start(bool xmm_input, bool enforce) {
    vm_.reset();
    resolved_ = std::make_unique<fixtures::Resolved>();
    resolved_->catalog = Catalog::discover({fixtures::case_dir("hc-shapes"), ENLIGHT_TEST_PLUGIN_DIR});
    std::string yaml = "enforce-cpuid: " + std::string(enforce ? "true" : "false") +
                       "\nenlightenments:\n  - identity\n  - hc-shapes\n";
    if (xmm_input) yaml += "  - xmm-input\n";
    resolved_->resolution = resolve(parse_profile(yaml, "<test>"), resolved_->catalog, direct::capabilities());
    vm_ = direct::DirectVm::create(resolved_->resolution);
    // As a guest: GUEST_OS_ID, then the hypercall page (both gated on
    // identity's own bit, so enforcement lets them through).
    ASSERT_EQ(enable_hypercalls(*vm_, kHypercallPage), Access::Ok);
  }
  void TearDown() override { vm_.reset(); }

  static std::array<uint8_t, 96> xmm_pattern() {
    std::array<uint8_t, 96> x{};
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<uint8_t>(0x91 ^ (i * 13));
    return x;
  }
  uint64_t fixture_msr(uint32_t index) {
    const auto r = vm_->rdmsr(0, index);
    EXPECT_TRUE(r.ok()) << std::hex << index;
    return r.value;
  }
  bool advertised() { return (vm_->cpuid(0, HV_CPUID_FEATURES).edx & HV_FEATURE_XMM_HYPERCALL_INPUT_AVAILABLE) != 0; }

  std::unique_ptr<fixtures::Resolved> resolved_;
  std::unique_ptr<direct::DirectVm> vm_;
};

TEST_F(XmmInputDecoder, EnforcedXmmFastCallIsUDWithoutThePlugin) {
  start(false, true);
  ASSERT_FALSE(advertised());
  const auto xmm = xmm_pattern();
  EXPECT_TRUE(vm_->fast_hypercall(0, control(HCS_CODE_XMM, true), 0x1111, 0x2222, &xmm).ud());
  EXPECT_EQ(fixture_msr(HCS_MSR_LAST_SIZE), 0u) << "the handler must not have run";
  // Only the XMM form is refused: plain fast input and memory input stay.
  EXPECT_EQ(vm_->fast_hypercall(0, control(HCS_CODE_FAST, true), 1, 2).status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(fixture_msr(HCS_MSR_LAST_SIZE), 16u);
}

TEST_F(XmmInputDecoder, EnforcedXmmFastCallIsServedWithThePlugin) {
  start(true, true);
  ASSERT_TRUE(advertised());
  const auto xmm = xmm_pattern();
  const uint64_t rdx = 0x0123456789ABCDEFull, r8 = 0x0FEDCBA987654321ull;
  const auto r = vm_->fast_hypercall(0, control(HCS_CODE_XMM, true), rdx, r8, &xmm);
  ASSERT_FALSE(r.ud());
  EXPECT_EQ(r.status(), HV_STATUS_SUCCESS);
  // The handler saw the whole 112-byte block: RDX, R8, XMM0..XMM5.
  EXPECT_EQ(fixture_msr(HCS_MSR_LAST_SIZE), HCS_XMM_INPUT_SIZE);
  std::array<uint8_t, HCS_XMM_INPUT_SIZE> block{};
  std::memcpy(block.data(), &rdx, 8);
  std::memcpy(block.data() + 8, &r8, 8);
  std::memcpy(block.data() + 16, xmm.data(), xmm.size());
  EXPECT_EQ(fixture_msr(HCS_MSR_LAST_DIGEST), hcs_digest(block.data(), block.size()));
}

// Without hv-enforce-cpuid KVM reads the XMM registers whether or not the
// bit is advertised; so does enlight, with or without the plugin.
TEST_F(XmmInputDecoder, UnenforcedXmmFastCallIsServedEitherWay) {
  for (bool with : {false, true}) {
    SCOPED_TRACE(with ? "with xmm-input" : "without xmm-input");
    start(with, false);
    const auto xmm = xmm_pattern();
    EXPECT_EQ(vm_->fast_hypercall(0, control(HCS_CODE_XMM, true), 5, 6, &xmm).status(), HV_STATUS_SUCCESS);
    EXPECT_EQ(fixture_msr(HCS_MSR_LAST_SIZE), HCS_XMM_INPUT_SIZE);
  }
}

}  // namespace
}  // namespace enlight::test
