// tlbflush: the four flush hypercalls, which vCPUs each flushes, and every
// error answer, on the direct backend (which counts the flushes it is asked
// for; the emu and kvm backends' real flushes are shown by the
// conformance-tlbflush guest).
#include "enlight_test.hpp"

#include <cstring>
#include <vector>

namespace enlight::test {
namespace {

using direct::control;

constexpr uint64_t kPage = 0x10000;
constexpr uint64_t kInput = 0x20000;
const char* const kCalls = "enlight_tlbflush_hypercalls_total";
const char* const kFlushed = "enlight_tlbflush_vcpus_flushed_total";

struct Flushes {
  std::vector<uint64_t> per_vcpu;
  bool operator==(const Flushes&) const = default;
};
Flushes flushes(direct::DirectVm& d) {
  Flushes f;
  for (uint32_t v = 0; v < d.vcpu_count(); ++v) f.per_vcpu.push_back(d.tlb_flushes(v));
  return f;
}

std::unique_ptr<direct::DirectVm> vm(uint32_t vcpus, const std::string& extra = "") {
  auto d = make_vm("hv-vpindex,hv-tlbflush" + extra, vcpus);
  for (uint32_t v = 0; v < vcpus; ++v) EXPECT_EQ(enable_hypercalls(*d, kPage, v), Access::Ok);
  return d;
}

void put(direct::DirectVm& d, std::vector<uint64_t> qwords) {
  ASSERT_TRUE(d.memory().write(kInput, qwords.data(), qwords.size() * 8));
}

TEST(TlbflushCpuid, RecommendsRemoteFlushAndExMasks) {
  auto d = make_vm("hv-vpindex,hv-tlbflush");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_ENLIGHTENMENT_INFO).eax,
            HV_RECOMMEND_REMOTE_TLB_FLUSH_HYPERCALL | HV_RECOMMEND_EX_PROCESSOR_MASKS);
}

TEST(TlbflushCpuid, NeedsVpindexAsInQemu) {
  try {
    make_vm("hv-tlbflush");
    ADD_FAILURE() << "hv-tlbflush without hv-vpindex was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("vpindex"), std::string::npos) << e.what();
  }
}

TEST(TlbflushSpace, MaskNamesVpsByVpIndex) {
  auto d = vm(4);
  put(*d, {0x1234000, 0, 0b1010});  // AddressSpace, Flags, ProcessorMask = VPs 1 and 3
  const auto out = d->hypercall(0, control(HvCallFlushVirtualAddressSpace), kInput, 0);
  EXPECT_EQ(out.status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(flushes(*d), (Flushes{{0, 1, 0, 1}}));
  EXPECT_EQ(counter(*d, kCalls), 1);
  EXPECT_EQ(counter(*d, kFlushed), 2);
}

TEST(TlbflushSpace, ZeroMaskMeansEveryProcessorAsKvm) {
  auto d = vm(3);
  put(*d, {0, 0, 0});
  EXPECT_EQ(d->hypercall(1, control(HvCallFlushVirtualAddressSpace), kInput, 0).status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(flushes(*d), (Flushes{{1, 1, 1}}));
}

TEST(TlbflushSpace, AllProcessorsFlagIgnoresTheMask) {
  auto d = vm(3);
  put(*d, {0, HV_FLUSH_ALL_PROCESSORS | HV_FLUSH_ALL_VIRTUAL_ADDRESS_SPACES, 0b1});
  EXPECT_EQ(d->hypercall(0, control(HvCallFlushVirtualAddressSpace), kInput, 0).status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(flushes(*d), (Flushes{{1, 1, 1}}));
}

TEST(TlbflushSpace, VpsNoVcpuHoldsAreIgnored) {
  auto d = vm(2);
  put(*d, {0, 0, uint64_t{1} << 40 | 0b10});
  EXPECT_EQ(d->hypercall(0, control(HvCallFlushVirtualAddressSpace), kInput, 0).status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(flushes(*d), (Flushes{{0, 1}}));
}

TEST(TlbflushSpace, ReservedFlagsAreInvalidParameter) {
  auto d = vm(2);
  for (uint64_t bad : {uint64_t{1} << 4, uint64_t{1} << 63}) {
    put(*d, {0, bad, 0b1});
    EXPECT_EQ(d->hypercall(0, control(HvCallFlushVirtualAddressSpace), kInput, 0).status(),
              HV_STATUS_INVALID_PARAMETER);
  }
  EXPECT_EQ(flushes(*d), (Flushes{{0, 0}}));
  EXPECT_EQ(counter(*d, kCalls), 0);
}

TEST(TlbflushSpace, FastFormNeedsXmm) {
  auto d = vm(2);
  // 24 bytes of header do not fit RDX and R8: XMM0's low half is the mask.
  std::array<uint8_t, 96> xmm{};
  const uint64_t mask = 0b10;
  std::memcpy(xmm.data(), &mask, 8);
  const auto out = d->fast_hypercall(0, control(HvCallFlushVirtualAddressSpace, true), 0, 0, &xmm);
  EXPECT_EQ(out.status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(flushes(*d), (Flushes{{0, 1}}));
}

TEST(TlbflushList, EveryRepCompletesInOnePass) {
  auto d = vm(2);
  put(*d, {0, 0, 0b10, 0x7000'0000 | 3, 0x8000'0000});  // two GVA ranges
  const auto out = d->hypercall(0, control(HvCallFlushVirtualAddressList, false, 2), kInput, 0);
  EXPECT_EQ(out.status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(out.reps_completed(), 2);
  EXPECT_EQ(out.continuations, 0u);
  EXPECT_EQ(flushes(*d), (Flushes{{0, 1}}));
}

TEST(TlbflushList, NonGlobalOnlyIsInvalidForLists) {
  auto d = vm(2);
  put(*d, {0, HV_FLUSH_NON_GLOBAL_MAPPINGS_ONLY, 0b10, 0x7000'0000});
  EXPECT_EQ(d->hypercall(0, control(HvCallFlushVirtualAddressList, false, 1), kInput, 0).status(),
            HV_STATUS_INVALID_PARAMETER);
  // ...and valid for the Space calls.
  put(*d, {0, HV_FLUSH_NON_GLOBAL_MAPPINGS_ONLY, 0b10});
  EXPECT_EQ(d->hypercall(0, control(HvCallFlushVirtualAddressSpace), kInput, 0).status(), HV_STATUS_SUCCESS);
}

TEST(TlbflushList, ExtendedRangeFormatIsAcceptedAsKvmDoes) {
  auto d = vm(2);
  put(*d, {0, HV_FLUSH_USE_EXTENDED_RANGE_FORMAT, 0b10, 0x7000'0000});
  EXPECT_EQ(d->hypercall(0, control(HvCallFlushVirtualAddressList, false, 1), kInput, 0).status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(flushes(*d), (Flushes{{0, 1}}));
}

TEST(TlbflushEx, SparseSetAcrossBanks) {
  // VP indexes 64 + n: the vpindex base option puts both vCPUs in bank 1.
  auto d = make_vm_from_profile("name: t\nvcpus: 2\nenlightenments:\n  - vpindex: { base: 64 }\n  - tlbflush\n");
  for (uint32_t v = 0; v < 2; ++v) ASSERT_EQ(enable_hypercalls(*d, kPage, v), Access::Ok);
  // Format sparse, banks 0 and 1 valid: bank 0 = VP 1 (nobody), bank 1 = VP 65 (vCPU 1).
  put(*d, {0, 0, HV_GENERIC_SET_SPARSE_4K, 0b11, 0b10, 0b10});
  const auto out = d->hypercall(0, control(HvCallFlushVirtualAddressSpaceEx, false, 0, 0, 2), kInput, 0);
  EXPECT_EQ(out.status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(flushes(*d), (Flushes{{0, 1}}));
}

TEST(TlbflushEx, AllFormatAndEmptySparseSet) {
  auto d = vm(3);
  put(*d, {0, 0, HV_GENERIC_SET_ALL, 0});
  EXPECT_EQ(d->hypercall(0, control(HvCallFlushVirtualAddressSpaceEx), kInput, 0).status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(flushes(*d), (Flushes{{1, 1, 1}}));
  // An empty sparse set names nobody (KVM: success, nothing flushed).
  put(*d, {0, 0, HV_GENERIC_SET_SPARSE_4K, 0});
  EXPECT_EQ(d->hypercall(0, control(HvCallFlushVirtualAddressSpaceEx), kInput, 0).status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(flushes(*d), (Flushes{{1, 1, 1}}));
}

TEST(TlbflushEx, ListExReadsGvasAfterTheBanks) {
  auto d = vm(2);
  put(*d, {0, 0, HV_GENERIC_SET_SPARSE_4K, 0b1, 0b11, 0x1000, 0x2000, 0x3000});
  const auto out = d->hypercall(0, control(HvCallFlushVirtualAddressListEx, false, 3, 0, 1), kInput, 0);
  EXPECT_EQ(out.status(), HV_STATUS_SUCCESS);
  EXPECT_EQ(out.reps_completed(), 3);
  EXPECT_EQ(flushes(*d), (Flushes{{1, 1}}));
}

TEST(TlbflushEx, BankCountMustMatchTheVariableHeader) {
  auto d = vm(2);
  put(*d, {0, 0, HV_GENERIC_SET_SPARSE_4K, 0b11, 0b1, 0b1});
  EXPECT_EQ(d->hypercall(0, control(HvCallFlushVirtualAddressSpaceEx, false, 0, 0, 1), kInput, 0).status(),
            HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(d->hypercall(0, control(HvCallFlushVirtualAddressSpaceEx, false, 0, 0, 3), kInput, 0).status(),
            HV_STATUS_INVALID_HYPERCALL_INPUT);
  EXPECT_EQ(flushes(*d), (Flushes{{0, 0}}));
}

TEST(TlbflushEx, UnknownSetFormatIsInvalid) {
  auto d = vm(2);
  for (uint64_t format : {uint64_t{2}, ~uint64_t{0}}) {
    put(*d, {0, 0, format, 0});
    EXPECT_EQ(d->hypercall(0, control(HvCallFlushVirtualAddressSpaceEx), kInput, 0).status(),
              HV_STATUS_INVALID_HYPERCALL_INPUT);
  }
  EXPECT_EQ(flushes(*d), (Flushes{{0, 0}}));
}

TEST(TlbflushEx, SixtyFourBanksFitAPage) {
  auto d = vm(2);
  std::vector<uint64_t> in{0, 0, HV_GENERIC_SET_SPARSE_4K, ~uint64_t{0}};
  for (int b = 0; b < 64; ++b) in.push_back(b == 0 ? 0b1 : ~uint64_t{0});
  put(*d, in);
  EXPECT_EQ(d->hypercall(0, control(HvCallFlushVirtualAddressSpaceEx, false, 0, 0, 64), kInput, 0).status(),
            HV_STATUS_SUCCESS);
  EXPECT_EQ(flushes(*d), (Flushes{{1, 0}}));
}

TEST(TlbflushHypercall, UnclaimedWithoutThePlugin) {
  auto d = make_vm("hv-vpindex", 2);
  ASSERT_EQ(enable_hypercalls(*d, kPage), Access::Ok);
  put(*d, {0, 0, 0b10});
  EXPECT_EQ(d->hypercall(0, control(HvCallFlushVirtualAddressSpace), kInput, 0).status(),
            HV_STATUS_INVALID_HYPERCALL_CODE);
}

}  // namespace
}  // namespace enlight::test
