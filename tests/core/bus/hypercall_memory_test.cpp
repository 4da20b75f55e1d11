// Memory-form parameters (TLFS hypercall interface): alignment, page
// crossing, overlap, and guest physical addresses outside RAM, including
// the ones where a naive `gpa + size` wraps around.
#include "hc_shapes_test_util.hpp"

namespace enlight::test {
namespace {

using direct::control;

class HypercallMemory : public HcShapes {};

TEST_F(HypercallMemory, EchoReadsInputAndWritesOutput) {
  put(kIn, 41);
  put(kIn + 8, 0x00FF00FF00FF00FFull);
  const auto r = echo();
  EXPECT_EQ(r.status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(r.rax, 0u) << "status 0 and no reps: the whole result value is zero";
  EXPECT_EQ(r.continuations, 0u);
  EXPECT_EQ(get(kOut), 42u);
  EXPECT_EQ(get(kOut + 8), 0xFF00FF00FF00FF00ull);
  // The output area ends where the call's output ends.
  EXPECT_EQ(get(kOut + 16), kSentinel);
}

TEST_F(HypercallMemory, MisalignedInput) {
  for (uint64_t off : std::initializer_list<uint64_t>{1, 2, 4, 7}) {
    EXPECT_EQ(echo(0, kIn + off, kOut).status(), HV_STATUS_INVALID_ALIGNMENT) << off;
  }
  EXPECT_TRUE(echo_untouched());
}

TEST_F(HypercallMemory, MisalignedOutput) {
  for (uint64_t off : std::initializer_list<uint64_t>{1, 4, 6}) {
    EXPECT_EQ(echo(0, kIn, kOut + off).status(), HV_STATUS_INVALID_ALIGNMENT) << off;
  }
  EXPECT_TRUE(echo_untouched());
}

TEST_F(HypercallMemory, InputCrossingAPage) {
  EXPECT_EQ(echo(0, kIn + HV_PAGE_SIZE - 8, kOut).status(), HV_STATUS_INVALID_ALIGNMENT);
  EXPECT_TRUE(echo_untouched());
  // Ending exactly at the page boundary is fine.
  EXPECT_EQ(echo(0, kIn + HV_PAGE_SIZE - 16, kOut).status(), HV_STATUS_SUCCESS);
}

TEST_F(HypercallMemory, OutputCrossingAPage) {
  EXPECT_EQ(echo(0, kIn, kOut + HV_PAGE_SIZE - 8).status(), HV_STATUS_INVALID_ALIGNMENT);
  EXPECT_EQ(get(kOut + HV_PAGE_SIZE - 8), kSentinel);
  EXPECT_EQ(echo(0, kIn, kOut + HV_PAGE_SIZE - 16).status(), HV_STATUS_SUCCESS);
}

TEST_F(HypercallMemory, OverlappingInputAndOutput) {
  EXPECT_EQ(echo(0, kIn, kIn).status(), HV_STATUS_INVALID_ALIGNMENT);
  EXPECT_EQ(echo(0, kIn, kIn + 8).status(), HV_STATUS_INVALID_ALIGNMENT);
  EXPECT_EQ(echo(0, kIn + 8, kIn).status(), HV_STATUS_INVALID_ALIGNMENT);
  // Adjacent is not overlapping.
  put(kIn, 1);
  EXPECT_EQ(echo(0, kIn, kIn + 16).status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(get(kIn + 16), 2u);
  EXPECT_EQ(echo(0, kIn + 16, kIn).status(), HV_STATUS_SUCCESS);
}

TEST_F(HypercallMemory, InputOutsideRam) {
  const uint64_t ram = d().memory().size();
  // The last 16 bytes of RAM are still RAM.
  EXPECT_EQ(echo(0, ram - 16, kOut).status(), HV_STATUS_SUCCESS);
  fill(kOut, kSentinel, 2);
  for (uint64_t gpa : std::initializer_list<uint64_t>{ram, ram + HV_PAGE_SIZE, uint64_t{1} << 52, 0xFFFFFFFFFFFFF000ull,
                       // Page offset 0xFF0 + 16 ends the page exactly, and gpa + 16 wraps to 0.
                       0xFFFFFFFFFFFFFFF0ull}) {
    EXPECT_EQ(echo(0, gpa, kOut).status(), HV_STATUS_INVALID_HYPERCALL_INPUT) << std::hex << gpa;
  }
  EXPECT_TRUE(echo_untouched());
}

TEST_F(HypercallMemory, OutputOutsideRam) {
  const uint64_t ram = d().memory().size();
  put(kIn, 7);
  EXPECT_EQ(echo(0, kIn, ram - 16).status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(get(ram - 16), 8u);
  for (uint64_t gpa : std::initializer_list<uint64_t>{ram, 0xFFFFFFFFFFFFF000ull, 0xFFFFFFFFFFFFFFF0ull}) {
    EXPECT_EQ(echo(0, kIn, gpa).status(), HV_STATUS_INVALID_HYPERCALL_INPUT) << std::hex << gpa;
  }
}

// A wrapped-around output range must not look like an overlap with an input
// at the bottom of RAM, nor slip past the RAM check.
TEST_F(HypercallMemory, WrappingOutputNearLowInput) {
  EXPECT_EQ(echo(0, 0, 0xFFFFFFFFFFFFFFF0ull).status(), HV_STATUS_INVALID_HYPERCALL_INPUT);
}

// Calls that take no input or no output do not look at that register.
TEST_F(HypercallMemory, UnusedParametersAreNotChecked) {
  const auto gated = d().hypercall(0, control(HCS_CODE_GATED), 0xFFFFFFFFFFFFFFFFull, 0x3);
  EXPECT_EQ(gated.status(), HV_STATUS_SUCCESS);
  const auto ext = d().hypercall(0, control(HCS_CODE_EXT), 0xFFFFFFFFFFFFFFFFull, kOut);
  EXPECT_EQ(ext.status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(get(kOut), HCS_EXT_MAGIC);
  EXPECT_EQ(get(kOut + 8), kSentinel);
}

TEST_F(HypercallMemory, VariableHeaderReachesTheHandler) {
  put(kIn, 5);        // fixed header
  put(kIn + 8, 7);    // variable header, qword 0
  put(kIn + 16, 11);  // variable header, qword 1
  put(kIn + 24, 1000);  // beyond the call's input: must not be read
  const auto r = d().hypercall(0, control(HCS_CODE_VAR, false, 0, 0, 2), kIn, kOut);
  EXPECT_EQ(r.status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(get(kOut), 23u);
  EXPECT_EQ(get(kOut + 8), 2u);

  const auto none = d().hypercall(0, control(HCS_CODE_VAR), kIn, kOut);
  EXPECT_EQ(none.status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(get(kOut), 5u);
  EXPECT_EQ(get(kOut + 8), 0u);
}

// The variable header counts toward the input's page-crossing check.
TEST_F(HypercallMemory, VariableHeaderCrossingAPage) {
  EXPECT_EQ(d().hypercall(0, control(HCS_CODE_VAR, false, 0, 0, 2), kIn + HV_PAGE_SIZE - 16, kOut).status(),
            HV_STATUS_INVALID_ALIGNMENT);
  EXPECT_EQ(d().hypercall(0, control(HCS_CODE_VAR, false, 0, 0, 1), kIn + HV_PAGE_SIZE - 16, kOut).status(),
            HV_STATUS_SUCCESS);
}

TEST_F(HypercallMemory, ExtendedRangeCallIsDispatched) {
  const auto r = d().hypercall(0, control(HCS_CODE_EXT), 0, kOut);
  EXPECT_EQ(r.status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(get(kOut), HCS_EXT_MAGIC);
}

// Each vCPU decodes into its own parameter pages.
TEST_F(HypercallMemory, VcpusAreIndependent) {
  start(false, {}, 2);
  put(kIn, 100);
  put(kIn + 0x100, 200);
  EXPECT_EQ(d().hypercall(1, control(HCS_CODE_ECHO), kIn + 0x100, kOut + 0x100).status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(d().hypercall(0, control(HCS_CODE_ECHO), kIn, kOut).status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(get(kOut), 101u);
  EXPECT_EQ(get(kOut + 0x100), 201u);
}

}  // namespace
}  // namespace enlight::test
