// The hypervisor CPUID leaves for the nested and the newer flags must equal
// what QEMU+KVM gives a guest for the same -cpu flags. As in
// test_qemu_cpuid.cpp, the expected values are worked out by hand from
// QEMU's hyperv_fill_cpuids() and kvm_hyperv_properties[] (hyperv-facts.md
// §1-2), never from the plugins:
//   - hv-xmm-input 3.EDX[4], hv-tlbflush-ext 3.EDX[14],
//     hv-reenlightenment 3.EAX[13];
//   - hv-no-nonarch-coresharing: 4.EAX[18] with on, never with off, KVM's
//     bit with auto;
//   - hv-evmcs 4.EAX[14] and 0x4000000A.EAX |= 0x0101 (DEFAULT_EVMCS_VERSION),
//     hv-tlbflush-direct 0x4000000A.EAX[17], hv-emsr-bitmap 0x4000000A.EAX[19];
//   - 0x40000000.EAX = 0x4000000A when 0x4000000A.EAX is not zero, with
//     0x40000006..0x40000009 present and zero; 0x40000005 otherwise;
//   - always: 3.EAX[5] (hypercall MSRs), 3.EDX[3] (dynamic partitioning),
//     4.EBX = 0xFFFFFFFF unless hv-spinlocks, 4.EAX[3] with hv-vapic.
#include "enlight_test.hpp"

namespace enlight::test {
namespace {

constexpr uint32_t bit(int n) { return 1u << n; }
constexpr uint32_t kHvSignature = 0x31237648;              // "Hv#1"
constexpr uint32_t kBuild = 0x3839, kVersion = 0x000A0000;  // 14393, 10.0
constexpr uint32_t kAlwaysEax = bit(5), kAlwaysEdx = bit(3);
constexpr uint32_t kMicrosoftEbx = 0x7263694D, kMicrosoftEcx = 0x666F736F, kMicrosoftEdx = 0x76482074;

struct Expected {
  uint32_t features_eax = kAlwaysEax, features_ebx = 0, features_edx = kAlwaysEdx;
  uint32_t recommend_eax = 0, spinlocks = 0xFFFFFFFF;
  uint32_t nested_eax = 0;  // 0x4000000A.EAX; 0 means QEMU emits no nested leaves
};

void expect_leaves(DirectVm& d, const Expected& e, uint32_t vcpus = 1) {
  const uint32_t max_leaf = e.nested_eax ? 0x4000000A : 0x40000005;
  for (uint32_t v = 0; v < vcpus; ++v) {
    SCOPED_TRACE("vCPU " + std::to_string(v));
    EXPECT_EQ(d.cpuid(v, 0x40000000), (CpuidValue{max_leaf, kMicrosoftEbx, kMicrosoftEcx, kMicrosoftEdx}));
    EXPECT_EQ(d.cpuid(v, 0x40000001), (CpuidValue{kHvSignature, 0, 0, 0}));
    EXPECT_EQ(d.cpuid(v, 0x40000002), (CpuidValue{kBuild, kVersion, 0, 0}));
    EXPECT_EQ(d.cpuid(v, 0x40000003), (CpuidValue{e.features_eax, e.features_ebx, 0, e.features_edx}));
    EXPECT_EQ(d.cpuid(v, 0x40000004), (CpuidValue{e.recommend_eax, e.spinlocks, 0, 0}));
    EXPECT_EQ(d.cpuid(v, 0x40000005), (CpuidValue{0xFFFFFFFF, 64, 0, 0}));
    for (uint32_t leaf = 0x40000006; leaf <= 0x40000009; ++leaf) {
      EXPECT_EQ(d.cpuid(v, leaf), CpuidValue{}) << std::hex << leaf;
      EXPECT_EQ(d.vm().bus().cpuid_table().has(leaf), e.nested_eax != 0) << std::hex << leaf;
    }
    EXPECT_EQ(d.cpuid(v, 0x4000000A), (CpuidValue{e.nested_eax, 0, 0, 0}));
    EXPECT_EQ(d.vm().bus().cpuid_table().has(0x4000000A), e.nested_eax != 0);
    EXPECT_EQ(d.cpuid(v, 0x4000000B), CpuidValue{});
  }
}

// hv-evmcs resolves only on a backend with the kvm backend's eVMCS
// feature; its CPUID is checked on the direct backend given that feature.
std::unique_ptr<DirectVm> make_evmcs_vm(const std::string& flags, uint32_t vcpus = 1) {
  static const Catalog catalog = Catalog::discover(plugin_dir());
  BackendCaps caps = direct::capabilities();
  caps.features.push_back("kvm-enlightened-vmcs");
  Profile p = parse_cpu_flags(flags, catalog);
  p.vcpus = vcpus;
  return DirectVm::create(resolve(p, catalog, caps));
}

TEST(QemuCpuidMore, XmmInput) {
  Expected e;
  e.features_edx = kAlwaysEdx | bit(4);  // 0x18
  expect_leaves(*make_vm("hv-xmm-input", 2), e, 2);
}

TEST(QemuCpuidMore, TlbflushExt) {
  Expected e;
  e.features_eax = kAlwaysEax | bit(6);           // VP index: 0x60
  e.features_edx = kAlwaysEdx | bit(14);          // extended GVA ranges: 0x4008
  e.recommend_eax = bit(2) | bit(11);             // remote flush, ExProcessorMasks (hv-tlbflush): 0x804
  expect_leaves(*make_vm("hv-vpindex,hv-tlbflush,hv-tlbflush-ext"), e);
}

TEST(QemuCpuidMore, NoNonarchCoresharingOnOffAuto) {
  Expected e;
  e.recommend_eax = bit(5) | bit(18);  // relaxed, NoNonArchitecturalCoreSharing: 0x40020
  expect_leaves(*make_vm("hv-relaxed,hv-no-nonarch-coresharing=on"), e);
  expect_leaves(*make_vm("hv-relaxed,hv-no-nonarch-coresharing"), e);
  e.recommend_eax = bit(5);
  expect_leaves(*make_vm("hv-relaxed,hv-no-nonarch-coresharing=off"), e);
  // auto copies KVM's bit; the direct backend has no KVM to ask, so clear
  // (what QEMU's auto gives where KVM does not report it).
  expect_leaves(*make_vm("hv-relaxed,hv-no-nonarch-coresharing=auto"), e);
}

TEST(QemuCpuidMore, NoNonarchCoresharingOffAloneIsNoHyperV) {
  auto d = make_vm("hv-no-nonarch-coresharing=off");
  for (uint32_t leaf = 0x40000000; leaf <= 0x4000000A; ++leaf) EXPECT_EQ(d->cpuid(0, leaf), CpuidValue{}) << std::hex << leaf;
}

TEST(QemuCpuidMore, Evmcs) {
  Expected e;
  e.features_eax = kAlwaysEax | bit(4);  // APIC access MSRs (hv-vapic): 0x30
  e.recommend_eax = bit(3) | bit(14);    // APIC MSRs recommended, enlightened VMCS: 0x4008
  e.nested_eax = 0x0101;                 // eVMCS versions 1..1
  expect_leaves(*make_evmcs_vm("hv-vapic,hv-evmcs", 2), e, 2);
}

TEST(QemuCpuidMore, EmsrBitmapAloneRaisesTheMaxLeaf) {
  Expected e;
  e.nested_eax = bit(19);  // 0x80000
  expect_leaves(*make_vm("hv-emsr-bitmap"), e);
}

TEST(QemuCpuidMore, TlbflushDirect) {
  Expected e;
  e.features_eax = kAlwaysEax | bit(4);
  e.recommend_eax = bit(3);
  e.nested_eax = bit(17);  // 0x20000
  expect_leaves(*make_vm("hv-vapic,hv-tlbflush-direct"), e);
}

TEST(QemuCpuidMore, AllThreeNestedFlags) {
  Expected e;
  e.features_eax = kAlwaysEax | bit(4);
  e.recommend_eax = bit(3) | bit(14);
  e.nested_eax = 0x0101 | bit(17) | bit(19);  // 0xA0101
  expect_leaves(*make_evmcs_vm("hv-vapic,hv-evmcs,hv-tlbflush-direct,hv-emsr-bitmap"), e);
  EXPECT_EQ(make_evmcs_vm("hv-vapic,hv-evmcs,hv-tlbflush-direct,hv-emsr-bitmap")->cpuid(0, 0x4000000A).eax, 0xA0101u);
}

TEST(QemuCpuidMore, Reenlightenment) {
  Expected e;
  e.features_eax = kAlwaysEax | bit(13);  // AccessReenlightenmentControls: 0x2020
  expect_leaves(*make_vm("hv-reenlightenment"), e);
  e.features_eax |= bit(11);              // + AccessFrequencyRegs: 0x2820
  e.features_edx |= bit(8);               // frequency MSRs available: 0x108
  expect_leaves(*make_vm("hv-frequencies,hv-reenlightenment"), e);
}

// No QEMU flag: QEMU sets 3.EAX[15] only through hv-passthrough, copying
// KVM's bit. By name in a profile it is that bit and nothing else.
TEST(QemuCpuidMore, TscInvariantByProfile) {
  Expected e;
  e.features_eax = kAlwaysEax | bit(15);  // 0x8020
  expect_leaves(*make_vm_from_profile("enlightenments:\n  - tsc-invariant\n"), e);
}

TEST(QemuCpuidMore, EveryNewFlagTogether) {
  auto d = make_vm(
      "hv-vpindex,hv-vapic,hv-tlbflush,hv-tlbflush-ext,hv-xmm-input,hv-emsr-bitmap,hv-tlbflush-direct,"
      "hv-reenlightenment,hv-frequencies,hv-no-nonarch-coresharing=on",
      4);
  Expected e;
  e.features_eax = kAlwaysEax | bit(4) | bit(6) | bit(11) | bit(13);           // 0x2870
  e.features_edx = kAlwaysEdx | bit(4) | bit(8) | bit(14);                      // 0x4118
  e.recommend_eax = bit(2) | bit(3) | bit(11) | bit(18);                        // 0x4080C
  e.nested_eax = bit(17) | bit(19);                                             // 0xA0000
  expect_leaves(*d, e, 4);
  EXPECT_EQ(d->cpuid(3, 0x40000003), (CpuidValue{0x2870, 0, 0, 0x4118}));
  EXPECT_EQ(d->cpuid(3, 0x40000004).eax, 0x4080Cu);
}

// QEMU's hv-passthrough turns on every feature KVM reports; these do not
// change what an explicit list gives, so the direct backend's passthrough
// (every passthrough plugin it can run) holds the new bits. A lower bound:
// plugins added later add bits.
TEST(QemuCpuidMore, PassthroughHasTheNewBits) {
  auto d = make_vm("hv-passthrough");
  const CpuidValue f = d->cpuid(0, 0x40000003), r = d->cpuid(0, 0x40000004);
  EXPECT_EQ(f.eax & (bit(13) | bit(15)), bit(13) | bit(15));
  EXPECT_EQ(f.edx & (bit(4) | bit(14)), bit(4) | bit(14));
  EXPECT_EQ(d->cpuid(0, 0x4000000A).eax & (bit(17) | bit(19)), bit(17) | bit(19));
  EXPECT_EQ(d->cpuid(0, 0x40000000).eax, 0x4000000Au);
  // Not passed through: no-nonarch-coresharing (QEMU leaves it off) and
  // evmcs (passthrough: false, and the direct backend cannot have it).
  EXPECT_EQ(r.eax & (bit(14) | bit(18)), 0u);
  EXPECT_EQ(d->cpuid(0, 0x4000000A).eax & 0xFFFF, 0u);
}

}  // namespace
}  // namespace enlight::test
