// The hypervisor CPUID leaves for hv-syndbg with the flags QEMU makes it
// depend on (kvm_hyperv_properties[HYPERV_FEAT_SYNDBG].dependencies:
// hv-synic, hv-relaxed; hv-synic in turn needs hv-vpindex) must equal what
// QEMU+KVM gives the guest. Worked out by hand from QEMU's
// hyperv_fill_cpuids() (hyperv-facts.md §1-2, §2.7), never from the plugins:
//   - 0x40000000.EAX = 0x40000082 (max_cpuid_leaf raised by syndbg);
//   - 3.EAX[5] always, [6] hv-vpindex, [2] hv-synic; 3.EBX[4],[5] with
//     hv-synic; 3.EDX[3] always, [11] hv-syndbg (debug MSRs);
//   - 4.EAX[5] hv-relaxed, 4.EBX 0xFFFFFFFF (no hv-spinlocks);
//   - 0x40000080 = {0, "Microsoft VS"}: QEMU assigns a maximum to EAX and
//     then overwrites it with 0; 0x40000081.EAX = "VS#1";
//     0x40000082.EAX = bit 1 (AllowKernelDebugging).
// QEMU emits no entry for 0x40000006..0x4000007F (the nested leaves only
// when 0x4000000A is non-zero); KVM answers a missing leaf at or below
// 0x40000000.EAX with zeros (cpuid.c get_out_of_range_cpuid_entry), so the
// guest reads zeros there. enlight's composer emits 0x40000006..0x4000000A
// as explicit zero leaves: the same values.
#include "enlight_test.hpp"

namespace enlight::test {
namespace {

constexpr uint32_t bit(int n) { return 1u << n; }

TEST(QemuCpuidSyndbg, SyndbgWithItsDependencies) {
  auto d = make_vm("hv-relaxed,hv-vpindex,hv-synic,hv-syndbg", 2);
  for (uint32_t v = 0; v < 2; ++v) {
    SCOPED_TRACE("vCPU " + std::to_string(v));
    EXPECT_EQ(d->cpuid(v, 0x40000000), (CpuidValue{0x40000082, 0x7263694D, 0x666F736F, 0x76482074}));  // "Microsoft Hv"
    EXPECT_EQ(d->cpuid(v, 0x40000001), (CpuidValue{0x31237648, 0, 0, 0}));                             // "Hv#1"
    EXPECT_EQ(d->cpuid(v, 0x40000002), (CpuidValue{0x3839, 0x000A0000, 0, 0}));
    EXPECT_EQ(d->cpuid(v, 0x40000003),
              (CpuidValue{bit(2) | bit(5) | bit(6), bit(4) | bit(5), 0, bit(3) | bit(11)}));  // {0x64, 0x30, 0, 0x808}
    EXPECT_EQ(d->cpuid(v, 0x40000004), (CpuidValue{bit(5), 0xFFFFFFFF, 0, 0}));
    EXPECT_EQ(d->cpuid(v, 0x40000005), (CpuidValue{0xFFFFFFFF, 64, 0, 0}));
    for (uint32_t leaf = 0x40000006; leaf <= 0x4000007F; ++leaf)
      EXPECT_EQ(d->cpuid(v, leaf), CpuidValue{}) << std::hex << leaf;
    EXPECT_EQ(d->cpuid(v, 0x40000080), (CpuidValue{0, 0x7263694D, 0x666F736F, 0x53562074}));  // "Microsoft VS"
    EXPECT_EQ(d->cpuid(v, 0x40000081), (CpuidValue{0x31235356, 0, 0, 0}));                   // "VS#1"
    EXPECT_EQ(d->cpuid(v, 0x40000082), (CpuidValue{bit(1), 0, 0, 0}));
  }
  // Nothing above the maximum in enlight's table.
  EXPECT_FALSE(d->vm().bus().cpuid_table().has(0x40000083));
}

}  // namespace
}  // namespace enlight::test
