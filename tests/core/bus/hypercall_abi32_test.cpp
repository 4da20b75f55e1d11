// The 32-bit calling convention (TLFS hypercall interface): control in
// EDX:EAX, input GPA in EBX:ECX, output GPA in EDI:ESI, result in EDX:EAX.
// Only the low halves of the 64-bit registers count.
#include "hc_shapes_test_util.hpp"

namespace enlight::test {
namespace {

using direct::control;

constexpr uint64_t kJunk = 0xDEAD000000000000ull;  // upper halves a 32-bit guest cannot see

HypercallRegs regs32(uint64_t ctl, uint64_t in, uint64_t out) {
  HypercallRegs r;
  r.long_mode = false;
  r.rdx = kJunk | (ctl >> 32);
  r.rax = kJunk | (ctl & 0xFFFFFFFFu);
  r.rbx = kJunk | (in >> 32);
  r.rcx = kJunk | (in & 0xFFFFFFFFu);
  r.rdi = kJunk | (out >> 32);
  r.rsi = kJunk | (out & 0xFFFFFFFFu);
  r.r8 = 0xBADBAD;  // the 64-bit output register: must be ignored
  return r;
}

class HypercallAbi32 : public HcShapes {};

TEST_F(HypercallAbi32, EchoWithRegisterPairs) {
  put(kIn, 9);
  put(kIn + 8, 0);
  HypercallRegs r = regs32(control(HCS_CODE_ECHO), kIn, kOut);
  const auto o = d().hypercall_regs(0, r);
  EXPECT_EQ(o.status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(get(kOut), 10u);
  EXPECT_EQ(get(kOut + 8), ~uint64_t{0});
  EXPECT_EQ(r.rax & 0xFFFFFFFFu, 0u);
  EXPECT_EQ(r.rdx & 0xFFFFFFFFu, 0u);
}

// EBX is the high half of the input GPA: 1:kIn is 4 GiB up, outside RAM.
// Were EBX ignored, the call would read kIn and succeed.
TEST_F(HypercallAbi32, EbxIsTheInputHighHalf) {
  HypercallRegs r = regs32(control(HCS_CODE_ECHO), (uint64_t{1} << 32) | kIn, kOut);
  EXPECT_EQ(d().hypercall_regs(0, r).status(), HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_TRUE(echo_untouched());
}

TEST_F(HypercallAbi32, EdiIsTheOutputHighHalf) {
  HypercallRegs r = regs32(control(HCS_CODE_ECHO), kIn, (uint64_t{1} << 32) | kOut);
  EXPECT_EQ(d().hypercall_regs(0, r).status(), HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_TRUE(echo_untouched());
}

// EDX carries control bits 63:32: a reserved bit there is seen.
TEST_F(HypercallAbi32, EdxIsTheControlHighHalf) {
  HypercallRegs r = regs32(control(HCS_CODE_ECHO) | (uint64_t{1} << 60), kIn, kOut);
  EXPECT_EQ(d().hypercall_regs(0, r).status(), HV_STATUS_INVALID_HYPERCALL_INPUT);
}

// Bit 31 of EAX (control bit 31) is reserved: the "OR EAX, 0x80000000"
// prefix of a Xen-style hypercall page must not reach a Hyper-V handler.
TEST_F(HypercallAbi32, EaxBit31IsReserved) {
  HypercallRegs r = regs32(control(HCS_CODE_ECHO) | 0x80000000u, kIn, kOut);
  EXPECT_EQ(d().hypercall_regs(0, r).status(), HV_STATUS_INVALID_HYPERCALL_INPUT);
}

// Reps completed (result bits 43:32) come back in EDX bits 11:0, and the
// continuation rewrites the rep start in EDX bits 27:16.
TEST_F(HypercallAbi32, RepCallResultInEdx) {
  put(kIn, 0);
  for (int i = 0; i < 10; ++i) put(kIn + 8 + 8 * i, i);
  HypercallRegs r = regs32(control(HCS_CODE_REP, false, 10), kIn, kOut);
  const auto o = d().hypercall_regs(0, r);
  EXPECT_EQ(o.status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(o.continuations, 3u);
  EXPECT_EQ(r.rax & 0xFFFFFFFFu, 0u);
  EXPECT_EQ(r.rdx & 0xFFFFFFFFu, 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(get(kOut + 8 + 8 * i), uint64_t(i)) << i;
}

TEST_F(HypercallAbi32, ErrorResultSplitAcrossEdxEax) {
  put(kIn, 0);
  for (int i = 0; i < 5; ++i) put(kIn + 8 + 8 * i, i == 2 ? HCS_REP_POISON : i);
  HypercallRegs r = regs32(control(HCS_CODE_REP, false, 5), kIn, kOut);
  d().hypercall_regs(0, r);
  EXPECT_EQ(r.rax & 0xFFFFFFFFu, HV_STATUS_INVALID_PARAMETER);
  EXPECT_EQ(r.rdx & 0xFFFFFFFFu, 2u);
}

// A 32-bit caller's fast input is EBX:ECX and EDI:ESI.
TEST_F(HypercallAbi32, FastInputFromRegisterPairs) {
  HypercallRegs r = regs32(control(HCS_CODE_FAST, true), 0x1111111122222222ull, 0x3333333344444444ull);
  EXPECT_EQ(d().hypercall_regs(0, r).status(), HV_STATUS_SUCCESS);
  const uint64_t in[2] = {0x1111111122222222ull, 0x3333333344444444ull};
  EXPECT_EQ(msr(HCS_MSR_LAST_DIGEST), digest_of(in, 16));
}

}  // namespace
}  // namespace enlight::test
