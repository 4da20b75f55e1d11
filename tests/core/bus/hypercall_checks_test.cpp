// The decoder's refusals that depend on the control word and the caller
// only (TLFS hypercall interface; order of checks as KVM's
// kvm_hv_hypercall): #UD, reserved bits, unknown codes, shape.
#include "hc_shapes_test_util.hpp"

namespace enlight::test {
namespace {

using direct::control;

class HypercallChecks : public HcShapes {};

// ---- #UD -------------------------------------------------------------------

TEST_F(HypercallChecks, FromCpl3IsUD) {
  HypercallRegs regs;
  regs.rcx = control(HCS_CODE_ECHO);
  regs.rdx = kIn;
  regs.r8 = kOut;
  regs.cpl = 3;
  EXPECT_TRUE(d().hypercall_regs(0, regs).ud());
  EXPECT_TRUE(echo_untouched());
}

TEST_F(HypercallChecks, FromCpl1IsUD) {
  HypercallRegs regs;
  regs.rcx = control(HCS_CODE_ECHO);
  regs.rdx = kIn;
  regs.r8 = kOut;
  regs.cpl = 1;
  EXPECT_TRUE(d().hypercall_regs(0, regs).ud());
}

TEST_F(HypercallChecks, InRealModeIsUD) {
  HypercallRegs regs;
  regs.rax = control(HCS_CODE_ECHO);
  regs.protected_mode = false;
  regs.long_mode = false;
  EXPECT_TRUE(d().hypercall_regs(0, regs).ud());
}

TEST_F(HypercallChecks, BeforeHypercallsAreEnabledIsUD) {
  d().vm().bus().set_hypercalls_enabled(false);
  EXPECT_TRUE(echo().ud());
  EXPECT_TRUE(echo_untouched());
  d().vm().bus().set_hypercalls_enabled(true);
  const auto r = echo();
  EXPECT_FALSE(r.ud());
  EXPECT_EQ(r.status(), HV_STATUS_SUCCESS);
}

// RAX is not written on #UD: the guest's registers are as they were.
TEST_F(HypercallChecks, UDLeavesRaxAlone) {
  HypercallRegs regs;
  regs.rax = 0x1234;
  regs.rcx = control(HCS_CODE_ECHO);
  regs.cpl = 3;
  d().hypercall_regs(0, regs);
  EXPECT_EQ(regs.rax, 0x1234u);
}

// ---- reserved control bits ---------------------------------------------------

class ReservedBit : public HcShapes, public ::testing::WithParamInterface<int> {};

TEST_P(ReservedBit, IsInvalidHypercallInput) {
  const auto r = echo(uint64_t{1} << GetParam());
  EXPECT_FALSE(r.ud());
  EXPECT_EQ(r.status(), HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(r.reps_completed(), 0);
  EXPECT_TRUE(echo_untouched());
}

// 31:27 (31 is "nested", reserved for an L1 guest as in KVM), 47:44, 63:60.
INSTANTIATE_TEST_SUITE_P(Bits, ReservedBit, ::testing::Values(27, 28, 29, 30, 31, 44, 45, 46, 47, 60, 61, 62, 63));

// KVM checks reserved bits before it looks the code up: an unknown code with
// a reserved bit set is INVALID_HYPERCALL_INPUT, not INVALID_HYPERCALL_CODE.
TEST_F(HypercallChecks, ReservedBitsAreCheckedBeforeTheCode) {
  const auto r = d().hypercall(0, control(0x0001) | (uint64_t{1} << 27), kIn, kOut);
  EXPECT_EQ(r.status(), HV_STATUS_INVALID_HYPERCALL_INPUT);
}

// ---- unknown codes -------------------------------------------------------------

class UnknownCode : public HcShapes, public ::testing::WithParamInterface<uint16_t> {};

TEST_P(UnknownCode, IsInvalidHypercallCode) {
  const auto r = d().hypercall(0, control(GetParam()), kIn, kOut);
  EXPECT_FALSE(r.ud());
  EXPECT_EQ(r.status(), HV_STATUS_INVALID_HYPERCALL_CODE);
  EXPECT_EQ(r.reps_completed(), 0);
  EXPECT_EQ(get(kOut), kSentinel);
}

// Unclaimed codes in both direct tables (0x0000-0x01FF, 0x8000-0x80FF), at
// their edges, and outside both.
INSTANTIATE_TEST_SUITE_P(Codes, UnknownCode,
                         ::testing::Values(0x0000, 0x0001, 0x0040, 0x0047, 0x01FF, 0x0200, 0x1234, 0x7FFF, 0x8000,
                                           0x800F, 0x8011, 0x80FF, 0x8100, 0xC041, 0xFFFF));

// Codes that alias a claimed one modulo a table size must not reach it.
TEST_F(HypercallChecks, CodesDoNotAliasAcrossTables) {
  EXPECT_EQ(d().hypercall(0, control(HCS_CODE_ECHO + 0x200), kIn, kOut).status(), HV_STATUS_INVALID_HYPERCALL_CODE);
  EXPECT_EQ(d().hypercall(0, control(HCS_CODE_ECHO + 0x8000), kIn, kOut).status(), HV_STATUS_INVALID_HYPERCALL_CODE);
  EXPECT_EQ(d().hypercall(0, control(HCS_CODE_EXT - 0x8000), kIn, kOut).status(), HV_STATUS_INVALID_HYPERCALL_CODE);
  EXPECT_EQ(d().hypercall(0, control(HCS_CODE_EXT + 0x100), kIn, kOut).status(), HV_STATUS_INVALID_HYPERCALL_CODE);
  EXPECT_TRUE(echo_untouched());
}

// ---- call shape -------------------------------------------------------------------

TEST_F(HypercallChecks, RepCallWithRepCountZero) {
  EXPECT_EQ(d().hypercall(0, control(HCS_CODE_REP, false, 0), kIn, kOut).status(), HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(get(kOut), kSentinel);
}

TEST_F(HypercallChecks, RepStartAtOrPastRepCount) {
  put(kIn, 1);
  EXPECT_EQ(d().hypercall(0, control(HCS_CODE_REP, false, 4, 4), kIn, kOut).status(), HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(d().hypercall(0, control(HCS_CODE_REP, false, 4, 5), kIn, kOut).status(), HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(d().hypercall(0, control(HCS_CODE_REP, false, 4, 0xFFF), kIn, kOut).status(), HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(get(kOut), kSentinel);
  // The last valid start still works.
  EXPECT_EQ(d().hypercall(0, control(HCS_CODE_REP, false, 4, 3), kIn, kOut).status(), HV_STATUS_SUCCESS);
}

TEST_F(HypercallChecks, RepFieldsOnASimpleCall) {
  EXPECT_EQ(echo(control(0, false, 1)).status(), HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(echo(control(0, false, 0, 1)).status(), HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(echo(control(0, false, 2, 1)).status(), HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_TRUE(echo_untouched());
}

TEST_F(HypercallChecks, VariableHeaderOnACallWithout) {
  EXPECT_EQ(echo(control(0, false, 0, 0, 1)).status(), HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(echo(control(0, false, 0, 0, 0x3FF)).status(), HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_TRUE(echo_untouched());
}

TEST_F(HypercallChecks, FastOnACallWithoutAFastForm) {
  const auto r = d().fast_hypercall(0, control(HCS_CODE_ECHO), kIn, kOut);
  EXPECT_EQ(r.status(), HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_TRUE(echo_untouched());
}

// Parameters larger than a page cannot be valid, whatever the addresses.
TEST_F(HypercallChecks, ParametersLargerThanAPage) {
  // 8 + 511 * 8 = 4096 bytes in and out: fits exactly.
  EXPECT_EQ(d().hypercall(0, control(HCS_CODE_REP, false, 511), kIn, kOut).status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(d().hypercall(0, control(HCS_CODE_REP, false, 512), kIn, kOut).status(), HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(d().hypercall(0, control(HCS_CODE_REP, false, 4095), kIn, kOut).status(), HV_STATUS_INVALID_HYPERCALL_INPUT);
  // 8 + 511 * 8 = 4096 with a variable header of 511 qwords; 512 is too many.
  EXPECT_EQ(d().hypercall(0, control(HCS_CODE_VAR, false, 0, 0, 511), kIn, kOut).status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(d().hypercall(0, control(HCS_CODE_VAR, false, 0, 0, 512), kIn, kOut).status(), HV_STATUS_INVALID_HYPERCALL_INPUT);
}

// Nothing here must stop the VM: every refusal is the guest's problem.
TEST_F(HypercallChecks, RefusalsDoNotStopTheVm) {
  echo(uint64_t{1} << 63);
  d().hypercall(0, control(0x0001), kIn, kOut);
  d().hypercall(0, control(HCS_CODE_REP, false, 0), kIn, kOut);
  echo(0, kIn + 4, kOut);
  EXPECT_FALSE(d().vm().stopped()) << d().vm().stop_message();
}

}  // namespace
}  // namespace enlight::test
