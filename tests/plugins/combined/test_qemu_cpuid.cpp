// The hypervisor CPUID leaves for a set of flags must equal what QEMU+KVM
// gives a guest for the same -cpu flags. Expected values are worked out by
// hand from QEMU's hyperv_fill_cpuids() (see hyperv-facts.md §1-2), not
// from the plugins, so a plugin that drifts fails here.
#include "enlight_test.hpp"

namespace enlight::test {
namespace {

// Shorthands for the expected values, each a bit from the TLFS tables.
constexpr uint32_t bit(int n) { return 1u << n; }
constexpr uint32_t kMaxLeaf = 0x40000005;                 // no nested or syndbg leaves
constexpr uint32_t kHvSignature = 0x31237648;             // "Hv#1"
constexpr uint32_t kBuild = 0x3839, kVersion = 0x000A0000; // 14393, 10.0 (WS2016)
constexpr uint32_t kAlwaysEax = bit(5);                   // AccessHypercallMsrs
constexpr uint32_t kAlwaysEdx = bit(3);                   // CPU dynamic partitioning
const CpuidValue kMicrosoft{kMaxLeaf, 0x7263694D, 0x666F736F, 0x76482074};  // "Microsoft Hv"
const CpuidValue kLimits{0xFFFFFFFF, 64, 0, 0};

struct Expected {
  CpuidValue vendor = kMicrosoft;
  uint32_t features_eax = kAlwaysEax, features_ebx = 0, features_edx = kAlwaysEdx;
  uint32_t recommend_eax = 0, spinlocks = 0xFFFFFFFF;
};

void expect_leaves(direct::DirectVm& d, const Expected& e, uint32_t vcpus = 1) {
  for (uint32_t v = 0; v < vcpus; ++v) {
    SCOPED_TRACE("vCPU " + std::to_string(v));
    EXPECT_EQ(d.cpuid(v, 0x40000000), e.vendor);
    EXPECT_EQ(d.cpuid(v, 0x40000001), (CpuidValue{kHvSignature, 0, 0, 0}));
    EXPECT_EQ(d.cpuid(v, 0x40000002), (CpuidValue{kBuild, kVersion, 0, 0}));
    EXPECT_EQ(d.cpuid(v, 0x40000003), (CpuidValue{e.features_eax, e.features_ebx, 0, e.features_edx}));
    EXPECT_EQ(d.cpuid(v, 0x40000004), (CpuidValue{e.recommend_eax, e.spinlocks, 0, 0}));
    EXPECT_EQ(d.cpuid(v, 0x40000005), kLimits);
    // Nothing above the max leaf in the Hyper-V range.
    for (uint32_t leaf = 0x40000006; leaf <= 0x4000000A; ++leaf) EXPECT_EQ(d.cpuid(v, leaf), CpuidValue{}) << std::hex << leaf;
  }
}

TEST(QemuCpuid, RelaxedVpindexRuntime) {
  auto d = make_vm("hv-relaxed,hv-vpindex,hv-runtime", 2);
  Expected e;
  e.features_eax = kAlwaysEax | bit(6) /* VP index */ | bit(0) /* VP runtime */;  // 0x61
  e.recommend_eax = bit(5);                                                        // relaxed timing
  expect_leaves(*d, e, 2);
  EXPECT_EQ(d->cpuid(0, 0x40000003).eax, 0x61u);
}

TEST(QemuCpuid, CrashFrequenciesResetSpinlocksVendor) {
  auto d = make_vm("hv-crash,hv-frequencies,hv-reset,hv-spinlocks=0xfff,hv-vendor-id=KVMKVMKVM");
  Expected e;
  e.vendor = {kMaxLeaf, 0x4B4D564B /* "KVMK" */, 0x564B4D56 /* "VMKV" */, 0x0000004D /* "M\0\0\0" */};
  e.features_eax = kAlwaysEax | bit(7) /* reset */ | bit(11) /* frequency MSRs */;                    // 0x8A0
  e.features_edx = kAlwaysEdx | bit(8) /* frequency MSRs */ | bit(10) /* crash MSRs */;              // 0x508
  e.spinlocks = 0xFFF;
  expect_leaves(*d, e);
  EXPECT_EQ(d->cpuid(0, 0x40000003), (CpuidValue{0x8A0, 0, 0, 0x508}));
}

TEST(QemuCpuid, RecommendedSetThatExists) {
  // QEMU's recommended list restricted to the plugins enlight has.
  auto d = make_vm("hv-relaxed,hv-vapic,hv-spinlocks=0x1fff,hv-vpindex,hv-runtime,hv-time,hv-synic,hv-stimer,hv-frequencies,hv-reset,hv-crash", 4);
  Expected e;
  e.features_eax = kAlwaysEax | bit(0) | bit(1) | bit(2) | bit(3) | bit(4) | bit(6) | bit(7) | bit(9) | bit(11);  // 0xAFF
  e.features_ebx = bit(4) | bit(5);                                  // PostMessages, SignalEvents (hv-synic)
  e.features_edx = kAlwaysEdx | bit(8) | bit(10);                    // 0x508
  e.recommend_eax = bit(3) | bit(5);                                 // APIC MSRs (hv-vapic), relaxed timing
  e.spinlocks = 0x1FFF;
  expect_leaves(*d, e, 4);
}

TEST(QemuCpuid, RecommendedProfileEqualsItsFlags) {
  auto flags = make_vm("hv-relaxed,hv-vapic,hv-spinlocks=0x1fff,hv-vpindex,hv-runtime,hv-time,hv-synic,hv-stimer,hv-frequencies,hv-reset,hv-crash");
  auto profile = make_vm_from_profile(read_file(std::string(ENLIGHT_TEST_SOURCE_DIR) + "/manifests/profiles/recommended.yaml"));
  for (uint32_t leaf = 0x40000000; leaf <= 0x4000000A; ++leaf)
    EXPECT_EQ(profile->cpuid(0, leaf), flags->cpuid(0, leaf)) << std::hex << leaf;
}

TEST(QemuCpuid, SpinlocksAloneTurnsHyperVOn) {
  auto d = make_vm("hv-spinlocks=0x1fff");
  Expected e;
  e.spinlocks = 0x1FFF;
  expect_leaves(*d, e);
}

TEST(QemuCpuid, VpindexAloneStillHasLeaf4) {
  // QEMU emits 0x40000004 with EAX = 0 for a feature that sets no
  // recommendation, and EBX = 0xFFFFFFFF.
  auto d = make_vm("hv-vpindex");
  Expected e;
  e.features_eax = kAlwaysEax | bit(6);
  expect_leaves(*d, e);
}

TEST(QemuCpuid, EveryFeatureOffByFlagValue) {
  auto d = make_vm("hv-relaxed,hv-runtime,hv-runtime=off,hv-crash=off");
  Expected e;
  e.recommend_eax = bit(5);
  expect_leaves(*d, e);
}

TEST(QemuCpuid, PassthroughIncludesEveryPluginHere) {
  // KVM supports all of these, so QEMU's hv-passthrough turns them on, and
  // copies KVM's 4.EBX (0xFFF). Only a lower bound: plugins added later
  // with passthrough: true add bits.
  auto d = make_vm("hv-passthrough");
  const CpuidValue f = d->cpuid(0, 0x40000003), r = d->cpuid(0, 0x40000004);
  EXPECT_EQ(f.eax & 0x8E1u, 0x8E1u);
  EXPECT_EQ(f.edx & 0x508u, 0x508u);
  EXPECT_EQ(r.eax & bit(5), bit(5));
  EXPECT_EQ(r.ebx, 0xFFFu);
}

TEST(QemuCpuid, VendorIdAloneEnablesNothing) {
  // QEMU: hv-vendor-id is not an enlightenment; with nothing else there
  // are no hypervisor leaves at all.
  auto d = make_vm("hv-vendor-id=KVMKVMKVM");
  for (uint32_t leaf = 0x40000000; leaf <= 0x4000000A; ++leaf) EXPECT_EQ(d->cpuid(0, leaf), CpuidValue{}) << std::hex << leaf;
  EXPECT_EQ(d->cpuid(0, 0x40000082), CpuidValue{});
  EXPECT_TRUE(d->vm().plugins().empty());
}

TEST(QemuCpuid, NoFlagsNoLeaves) {
  auto d = make_vm("");
  EXPECT_EQ(d->cpuid(0, 0x40000000), CpuidValue{});
}

TEST(QemuCpuid, TimeSynicStimerDirect) {
  auto d = make_vm("hv-vpindex,hv-time,hv-synic,hv-stimer,hv-stimer-direct", 2);
  Expected e;
  e.features_eax = kAlwaysEax | bit(1) /* TIME_REF_COUNT */ | bit(9) /* reference TSC */ | bit(2) /* SynIC */ |
                   bit(3) /* synthetic timers */ | bit(6) /* VP index */;                            // 0x26E
  e.features_ebx = bit(4) /* PostMessages */ | bit(5) /* SignalEvents */;                             // 0x30
  e.features_edx = kAlwaysEdx | bit(19) /* direct synthetic timers */;                                // 0x80008
  expect_leaves(*d, e, 2);
  EXPECT_EQ(d->cpuid(0, 0x40000003), (CpuidValue{0x26E, 0x30, 0, 0x80008}));
}

TEST(QemuCpuid, VapicRecommendsApicMsrsUnlessAvic) {
  Expected e;
  e.features_eax = kAlwaysEax | bit(4) /* APIC access MSRs */;
  e.recommend_eax = bit(3) /* use APIC MSRs */;
  expect_leaves(*make_vm("hv-vapic"), e);

  e.recommend_eax = bit(9) /* deprecating AutoEOI */;  // QEMU drops bit 3 with hv-avic
  expect_leaves(*make_vm("hv-vapic,hv-avic"), e);

  Expected avic_only;
  avic_only.recommend_eax = bit(9);
  expect_leaves(*make_vm("hv-avic"), avic_only);
}

TEST(QemuCpuid, TlbflushAndIpiShareExProcessorMasks) {
  // QEMU's hyperv_fill_cpuids(): hv-tlbflush sets 4.EAX bits 2 and 11,
  // hv-ipi bits 10 and 11; both need hv-vpindex (3.EAX[6]).
  Expected e;
  e.features_eax = kAlwaysEax | bit(6);
  e.recommend_eax = bit(2) | bit(11);  // 0x804
  expect_leaves(*make_vm("hv-vpindex,hv-tlbflush", 2), e, 2);
  e.recommend_eax = bit(10) | bit(11);  // 0xC00
  expect_leaves(*make_vm("hv-vpindex,hv-ipi", 2), e, 2);
  e.recommend_eax = bit(2) | bit(10) | bit(11);  // 0xC04
  expect_leaves(*make_vm("hv-vpindex,hv-tlbflush,hv-ipi", 2), e, 2);
}

TEST(QemuCpuid, RecommendedWithTlbflushAndIpi) {
  // QEMU's whole recommended list, now that every plugin in it exists.
  auto d = make_vm(
      "hv-relaxed,hv-vapic,hv-spinlocks=0x1fff,hv-vpindex,hv-runtime,hv-time,hv-synic,hv-stimer,hv-frequencies,"
      "hv-reset,hv-crash,hv-tlbflush,hv-ipi",
      2);
  Expected e;
  e.features_eax = kAlwaysEax | bit(0) | bit(1) | bit(2) | bit(3) | bit(4) | bit(6) | bit(7) | bit(9) | bit(11);  // 0xAFF
  e.features_ebx = bit(4) | bit(5);
  e.features_edx = kAlwaysEdx | bit(8) | bit(10);
  e.recommend_eax = bit(2) | bit(3) | bit(5) | bit(10) | bit(11);  // 0xC2C
  e.spinlocks = 0x1FFF;
  expect_leaves(*d, e, 2);
}

}  // namespace
}  // namespace enlight::test
