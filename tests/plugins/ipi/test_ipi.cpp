// ipi: HvCallSendSyntheticClusterIpi(Ex) on the direct backend, which
// records every interrupt a plugin injects (vCPU, vector), in order.
#include "enlight_test.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

namespace enlight::test {
namespace {

using direct::control;
using Sent = std::vector<std::pair<uint32_t, uint8_t>>;

constexpr uint64_t kPage = 0x10000;
constexpr uint64_t kInput = 0x20000;

std::unique_ptr<direct::DirectVm> vm(uint32_t vcpus) {
  auto d = make_vm("hv-vpindex,hv-ipi", vcpus);
  for (uint32_t v = 0; v < vcpus; ++v) EXPECT_EQ(enable_hypercalls(*d, kPage, v), Access::Ok);
  return d;
}

void put(direct::DirectVm& d, std::vector<uint64_t> qwords) {
  ASSERT_TRUE(d.memory().write(kInput, qwords.data(), qwords.size() * 8));
}

Sent sorted(Sent s) {
  std::sort(s.begin(), s.end());
  return s;
}

TEST(IpiCpuid, RecommendsClusterIpiAndExMasks) {
  auto d = make_vm("hv-vpindex,hv-ipi");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_ENLIGHTENMENT_INFO).eax,
            HV_RECOMMEND_SYNTHETIC_CLUSTER_IPI | HV_RECOMMEND_EX_PROCESSOR_MASKS);
}

TEST(IpiFast, VectorInRdxMaskInR8) {
  auto d = vm(4);
  const auto out = d->fast_hypercall(0, control(HvCallSendSyntheticClusterIpi, true), 0x40, 0b1101);
  EXPECT_EQ(out.status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(sorted(d->injected()), (Sent{{0, 0x40}, {2, 0x40}, {3, 0x40}}));
  EXPECT_EQ(counter(*d, "enlight_ipi_interrupts_sent_total"), 3);
  EXPECT_EQ(counter(*d, "enlight_ipi_hypercalls_total"), 1);
}

TEST(IpiFast, UpperHalfOfRdxMustBeZero) {
  auto d = vm(2);
  // TargetVtl (bits 39:32) and padding: KVM refuses any bit there.
  for (uint64_t rdx : {uint64_t{0x40} | uint64_t{1} << 32, uint64_t{0x40} | uint64_t{1} << 63}) {
    EXPECT_EQ(d->fast_hypercall(0, control(HvCallSendSyntheticClusterIpi, true), rdx, 0b10).status(),
              HV_STATUS_INVALID_HYPERCALL_INPUT);
  }
  EXPECT_TRUE(d->injected().empty());
}

TEST(IpiFast, VectorsBelow16AndAbove255AreInvalid) {
  auto d = vm(2);
  for (uint64_t vector : {0u, 2u, 15u, 256u, 0xFFFFFFFFu}) {
    EXPECT_EQ(d->fast_hypercall(0, control(HvCallSendSyntheticClusterIpi, true), vector, 0b10).status(),
              HV_STATUS_INVALID_HYPERCALL_INPUT)
        << vector;
  }
  EXPECT_EQ(d->fast_hypercall(0, control(HvCallSendSyntheticClusterIpi, true), 0x10, 0b10).status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(d->fast_hypercall(0, control(HvCallSendSyntheticClusterIpi, true), 0xFF, 0b10).status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(d->injected(), (Sent{{1, 0x10}, {1, 0xFF}}));
}

TEST(IpiMemory, EmptyMaskSendsNothing) {
  auto d = vm(2);
  put(*d, {0x50, 0});
  EXPECT_EQ(d->hypercall(0, control(HvCallSendSyntheticClusterIpi), kInput, 0).status(), HV_STATUS_SUCCESS);
  EXPECT_TRUE(d->injected().empty());
}

TEST(IpiMemory, NonexistentVpsAreIgnored) {
  auto d = vm(2);
  put(*d, {0x50, uint64_t{1} << 63 | 0b1});
  EXPECT_EQ(d->hypercall(1, control(HvCallSendSyntheticClusterIpi), kInput, 0).status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(d->injected(), (Sent{{0, 0x50}}));
}

TEST(IpiEx, SparseSetInBankOneReachesVpsAbove63) {
  auto d = make_vm_from_profile("name: t\nvcpus: 3\nenlightenments:\n  - vpindex: { base: 63 }\n  - ipi\n");
  for (uint32_t v = 0; v < 3; ++v) ASSERT_EQ(enable_hypercalls(*d, kPage, v), Access::Ok);
  // VP indexes 63, 64, 65. Banks 0 and 1: VP 63 (vCPU 0) and VP 65 (vCPU 2).
  put(*d, {0x60, HV_GENERIC_SET_SPARSE_4K, 0b11, uint64_t{1} << 63, 0b10});
  EXPECT_EQ(d->hypercall(1, control(HvCallSendSyntheticClusterIpiEx, false, 0, 0, 2), kInput, 0).status(),
            HV_STATUS_SUCCESS);
  EXPECT_EQ(sorted(d->injected()), (Sent{{0, 0x60}, {2, 0x60}}));
}

TEST(IpiEx, AllFormatReachesEveryVcpu) {
  auto d = vm(3);
  put(*d, {0x61, HV_GENERIC_SET_ALL, 0});
  EXPECT_EQ(d->hypercall(2, control(HvCallSendSyntheticClusterIpiEx), kInput, 0).status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(sorted(d->injected()), (Sent{{0, 0x61}, {1, 0x61}, {2, 0x61}}));
}

TEST(IpiEx, FastFormContinuesInXmm) {
  auto d = vm(2);
  // RDX vector, R8 format, XMM0.lo ValidBanksMask, XMM0.hi bank 0.
  std::array<uint8_t, 96> xmm{};
  const uint64_t mask = 0b1, bank0 = 0b10;
  std::memcpy(xmm.data(), &mask, 8);
  std::memcpy(xmm.data() + 8, &bank0, 8);
  const auto out =
      d->fast_hypercall(0, control(HvCallSendSyntheticClusterIpiEx, true, 0, 0, 1), 0x70, HV_GENERIC_SET_SPARSE_4K, &xmm);
  EXPECT_EQ(out.status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(d->injected(), (Sent{{1, 0x70}}));
}

TEST(IpiEx, MalformedSets) {
  auto d = vm(2);
  put(*d, {0x60, HV_GENERIC_SET_SPARSE_4K, 0b11, 0b1, 0b1});
  EXPECT_EQ(d->hypercall(0, control(HvCallSendSyntheticClusterIpiEx, false, 0, 0, 1), kInput, 0).status(),
            HV_STATUS_INVALID_HYPERCALL_INPUT);
  put(*d, {0x60, 7, 0});
  EXPECT_EQ(d->hypercall(0, control(HvCallSendSyntheticClusterIpiEx), kInput, 0).status(),
            HV_STATUS_INVALID_HYPERCALL_INPUT);
  put(*d, {0x60 | uint64_t{1} << 32, HV_GENERIC_SET_ALL, 0});
  EXPECT_EQ(d->hypercall(0, control(HvCallSendSyntheticClusterIpiEx), kInput, 0).status(),
            HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_TRUE(d->injected().empty());
}

}  // namespace
}  // namespace enlight::test
