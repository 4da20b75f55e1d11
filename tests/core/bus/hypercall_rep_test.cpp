// Rep calls and continuations (TLFS hypercall interface, "rep hypercalls"):
// a handler may complete fewer reps than asked; the core then rewrites the
// rep start index in the guest's control word and the guest re-executes
// the call. hc-shapes completes `reps-per-pass` reps per pass (default 3).
#include "hc_shapes_test_util.hpp"

namespace enlight::test {
namespace {

using direct::control;

class HypercallRep : public HcShapes {
 protected:
  static constexpr uint64_t kAddend = 1000;
  // Input: addend, then element i = i * 3 + 1.
  void prepare(uint16_t count) {
    put(kIn, kAddend);
    for (uint16_t i = 0; i < count; ++i) put(kIn + 8 + 8u * i, i * 3u + 1);
  }
  uint64_t element(uint16_t i) { return get(kOut + 8 + 8u * i); }
  uint64_t expected(uint16_t i) { return i * 3u + 1 + kAddend; }
};

TEST_F(HypercallRep, ContinuesUntilEveryRepIsDone) {
  prepare(10);
  const auto r = d().hypercall(0, control(HCS_CODE_REP, false, 10), kIn, kOut);
  EXPECT_EQ(r.status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(r.reps_completed(), 10);
  // Passes 0-3, 3-6, 6-9, 9-10: three re-entries.
  EXPECT_EQ(r.continuations, 3u);
  EXPECT_EQ(d().vm().vcpu(0).continuations, 3u);
  EXPECT_EQ(get(kOut), 10u) << "output header of the last pass";
  for (uint16_t i = 0; i < 10; ++i) EXPECT_EQ(element(i), expected(i)) << i;
  EXPECT_EQ(element(10), kSentinel);
}

TEST_F(HypercallRep, AllAtOnceNeedsNoContinuation) {
  start(false, {{"reps-per-pass", "0"}});
  prepare(10);
  const auto r = d().hypercall(0, control(HCS_CODE_REP, false, 10), kIn, kOut);
  EXPECT_EQ(r.status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(r.reps_completed(), 10);
  EXPECT_EQ(r.continuations, 0u);
  for (uint16_t i = 0; i < 10; ++i) EXPECT_EQ(element(i), expected(i)) << i;
}

TEST_F(HypercallRep, OneRepPerPass) {
  start(false, {{"reps-per-pass", "1"}});
  prepare(7);
  const auto r = d().hypercall(0, control(HCS_CODE_REP, false, 7), kIn, kOut);
  EXPECT_EQ(r.reps_completed(), 7);
  EXPECT_EQ(r.continuations, 6u);
  for (uint16_t i = 0; i < 7; ++i) EXPECT_EQ(element(i), expected(i)) << i;
}

// The guest may start at any rep below the count; reps before it are
// neither processed nor written, and reps completed stays absolute.
TEST_F(HypercallRep, RepStartIsHonoured) {
  prepare(6);
  const auto r = d().hypercall(0, control(HCS_CODE_REP, false, 6, 2), kIn, kOut);
  EXPECT_EQ(r.status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(r.reps_completed(), 6);
  EXPECT_EQ(r.continuations, 1u);  // 2-5, 5-6
  EXPECT_EQ(element(0), kSentinel);
  EXPECT_EQ(element(1), kSentinel);
  for (uint16_t i = 2; i < 6; ++i) EXPECT_EQ(element(i), expected(i)) << i;
}

// One pass, seen from the guest: RAX untouched, RCX's rep start advanced,
// the completed elements written and the rest not yet.
TEST_F(HypercallRep, OnePassRewritesRepStartInRcx) {
  prepare(10);
  HypercallRegs regs;
  regs.rax = 0xAAAA;
  regs.rcx = control(HCS_CODE_REP, false, 10);
  regs.rdx = kIn;
  regs.r8 = kOut;
  EXPECT_EQ(d().vm().bus().hypercall(d().vm().vcpu(0), regs), HypercallAction::Continue);
  EXPECT_EQ(regs.rax, 0xAAAAu);
  EXPECT_EQ(regs.rcx, control(HCS_CODE_REP, false, 10, 3));
  EXPECT_EQ(regs.rdx, kIn);
  EXPECT_EQ(regs.r8, kOut);
  for (uint16_t i = 0; i < 3; ++i) EXPECT_EQ(element(i), expected(i)) << i;
  EXPECT_EQ(element(3), kSentinel) << "written by a later pass, not this one";

  // Re-executing with the rewritten RCX goes on from rep 3.
  EXPECT_EQ(d().vm().bus().hypercall(d().vm().vcpu(0), regs), HypercallAction::Continue);
  EXPECT_EQ(regs.rcx, control(HCS_CODE_REP, false, 10, 6));
}

TEST_F(HypercallRep, LastPassLeavesRcxAtItsStart) {
  prepare(10);
  HypercallRegs regs;
  regs.rcx = control(HCS_CODE_REP, false, 10);
  regs.rdx = kIn;
  regs.r8 = kOut;
  const auto r = d().hypercall_regs(0, regs);
  EXPECT_EQ(r.action, HypercallAction::Complete);
  EXPECT_EQ(regs.rcx, control(HCS_CODE_REP, false, 10, 9));
  EXPECT_EQ(regs.rax, uint64_t{10} << 32);
}

// An error part-way: the status, the absolute count of reps completed, and
// exactly those elements written (TLFS result value layout).
TEST_F(HypercallRep, ErrorMidwayReportsRepsCompleted) {
  prepare(8);
  put(kIn + 8 + 8 * 4, HCS_REP_POISON);
  const auto r = d().hypercall(0, control(HCS_CODE_REP, false, 8), kIn, kOut);
  EXPECT_EQ(r.status(), HV_STATUS_INVALID_PARAMETER);
  EXPECT_EQ(r.reps_completed(), 4);
  EXPECT_EQ(r.rax, (uint64_t{4} << 32) | HV_STATUS_INVALID_PARAMETER);
  EXPECT_EQ(r.continuations, 1u);
  for (uint16_t i = 0; i < 4; ++i) EXPECT_EQ(element(i), expected(i)) << i;
  for (uint16_t i = 4; i < 8; ++i) EXPECT_EQ(element(i), kSentinel) << i;
  // A failed pass has no result header: the one there is the last
  // successful pass's (reps 0-3).
  EXPECT_EQ(get(kOut), 3u);
}

TEST_F(HypercallRep, ErrorOnTheFirstRep) {
  prepare(3);
  put(kIn + 8, HCS_REP_POISON);
  const auto r = d().hypercall(0, control(HCS_CODE_REP, false, 3), kIn, kOut);
  EXPECT_EQ(r.rax, uint64_t{HV_STATUS_INVALID_PARAMETER});
  EXPECT_EQ(element(0), kSentinel);
  EXPECT_EQ(get(kOut), kSentinel) << "no header from a call that failed";
}

TEST_F(HypercallRep, LargestRepCountThatFitsAPage) {
  prepare(511);
  const auto r = d().hypercall(0, control(HCS_CODE_REP, false, 511), kIn, kOut);
  EXPECT_EQ(r.status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(r.reps_completed(), 511);
  EXPECT_EQ(r.continuations, 170u);  // ceil(511 / 3) - 1
  for (uint16_t i = 0; i < 511; ++i) ASSERT_EQ(element(i), expected(i)) << i;
}

// The rep elements count toward page crossing: 3 reps of 8 bytes plus the
// 8-byte header is 32 bytes.
TEST_F(HypercallRep, ElementsCountTowardPageCrossing) {
  prepare(3);
  EXPECT_EQ(d().hypercall(0, control(HCS_CODE_REP, false, 3), kIn, kOut + HV_PAGE_SIZE - 24).status(),
            HV_STATUS_INVALID_ALIGNMENT);
  EXPECT_EQ(d().hypercall(0, control(HCS_CODE_REP, false, 3), kIn, kOut + HV_PAGE_SIZE - 32).status(),
            HV_STATUS_SUCCESS);
}

}  // namespace
}  // namespace enlight::test
