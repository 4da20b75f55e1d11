// identity: the hypervisor CPUID leaves, GUEST_OS_ID and the hypercall page.
#include "enlight_test.hpp"

#include <vector>

#include <array>

namespace enlight::test {
namespace {

using direct::control;

constexpr uint64_t kPage = 0x10000;  // a guest page for the hypercall page
// A code no plugin in these VMs claims: with hypercalls on it answers
// INVALID_HYPERCALL_CODE, with them off #UD, which tells the two apart.
constexpr uint16_t kUnclaimedCode = HvCallSwitchVirtualAddressSpace;

std::array<uint8_t, HV_PAGE_SIZE> page_at(direct::DirectVm& d, uint64_t gpa) {
  std::array<uint8_t, HV_PAGE_SIZE> p{};
  EXPECT_TRUE(d.memory().read(gpa, p.data(), p.size()));
  return p;
}

bool hypercalls_on(direct::DirectVm& d) {
  const auto out = d.hypercall(0, control(kUnclaimedCode), 0, 0);
  if (out.ud()) return false;
  EXPECT_EQ(out.status(), HV_STATUS_INVALID_HYPERCALL_CODE);
  return true;
}

// ---- CPUID -------------------------------------------------------------------

TEST(IdentityCpuid, DefaultLeavesAreQemuDefaults) {
  auto d = make_vm("hv-relaxed");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_VENDOR_AND_MAX_FUNCTIONS),
            (CpuidValue{0x40000005, chars4("Micr"), chars4("osof"), chars4("t Hv")}));
  EXPECT_EQ(d->cpuid(0, HV_CPUID_INTERFACE), (CpuidValue{0x31237648, 0, 0, 0}));
  EXPECT_EQ(d->cpuid(0, HV_CPUID_VERSION), (CpuidValue{14393, 0x000A0000, 0, 0}));
  // bit 5 hypercall MSRs; EDX bit 3 dynamic partitioning; relaxed's 4.EAX[5].
  EXPECT_EQ(d->cpuid(0, HV_CPUID_FEATURES), (CpuidValue{1u << 5, 0, 0, 1u << 3}));
  EXPECT_EQ(d->cpuid(0, HV_CPUID_ENLIGHTENMENT_INFO), (CpuidValue{1u << 5, 0xFFFFFFFF, 0, 0}));
  EXPECT_EQ(d->cpuid(0, HV_CPUID_IMPLEMENT_LIMITS), (CpuidValue{0xFFFFFFFF, 64, 0, 0}));
}

TEST(IdentityCpuid, SameOnEveryVcpu) {
  auto d = make_vm("hv-relaxed", 3);
  for (uint32_t leaf = HV_CPUID_VENDOR_AND_MAX_FUNCTIONS; leaf <= HV_CPUID_IMPLEMENT_LIMITS; ++leaf)
    for (uint32_t v = 1; v < 3; ++v) EXPECT_EQ(d->cpuid(v, leaf), d->cpuid(0, leaf)) << std::hex << leaf;
}

TEST(IdentityCpuid, VendorIdIsZeroPadded) {
  auto d = make_vm("hv-relaxed,hv-vendor-id=KVMKVMKVM");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_VENDOR_AND_MAX_FUNCTIONS),
            (CpuidValue{0x40000005, chars4("KVMK"), chars4("VMKV"), 0x0000004D /* "M\0\0\0" */}));
}

TEST(IdentityCpuid, EmptyVendorIdIsAllZero) {
  auto d = make_vm("hv-relaxed,hv-vendor-id=");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_VENDOR_AND_MAX_FUNCTIONS), (CpuidValue{0x40000005, 0, 0, 0}));
}

TEST(IdentityCpuid, LongVendorIdIsTruncatedWithAWarning) {
  LogCapture log;
  VmOptions o;
  o.log = log.sink();
  auto d = make_vm("hv-relaxed,hv-vendor-id=ABCDEFGHIJKLMNOP", 1, o);
  EXPECT_EQ(d->cpuid(0, HV_CPUID_VENDOR_AND_MAX_FUNCTIONS),
            (CpuidValue{0x40000005, chars4("ABCD"), chars4("EFGH"), chars4("IJKL")}));
  const std::string warnings = log.text("identity", 1);
  EXPECT_NE(warnings.find("truncated"), std::string::npos) << warnings;
  EXPECT_NE(warnings.find("ABCDEFGHIJKL\""), std::string::npos) << warnings;
}

TEST(IdentityCpuid, TwelveByteVendorIdIsNotWarnedAbout) {
  LogCapture log;
  VmOptions o;
  o.log = log.sink();
  auto d = make_vm("hv-relaxed,hv-vendor-id=ABCDEFGHIJKL", 1, o);
  EXPECT_EQ(d->cpuid(0, HV_CPUID_VENDOR_AND_MAX_FUNCTIONS).edx, chars4("IJKL"));
  EXPECT_EQ(log.text("identity", 1), "");
}

TEST(IdentityCpuid, VersionIdOptionsFillLeaf2) {
  auto d = make_vm(
      "hv-relaxed,hv-version-id-build=0x1bbc,hv-version-id-major=6,hv-version-id-minor=1,"
      "hv-version-id-spack=2,hv-version-id-sbranch=0xab,hv-version-id-snumber=0x123456");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_VERSION), (CpuidValue{0x1BBC, 0x00060001, 2, 0xAB123456}));
}

TEST(IdentityCpuid, VersionIdOutOfRangeIsAConfigError) {
  EXPECT_THROW(make_vm("hv-relaxed,hv-version-id-sbranch=0x100"), ConfigError);
  EXPECT_THROW(make_vm("hv-relaxed,hv-version-id-snumber=0x1000000"), ConfigError);
  EXPECT_THROW(make_vm("hv-relaxed,hv-version-id-major=0x10000"), ConfigError);
}

TEST(IdentityCpuid, MaxVps) {
  auto d = make_vm("hv-relaxed,x-hv-max-vps=128");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_IMPLEMENT_LIMITS), (CpuidValue{128, 64, 0, 0}));
}

TEST(IdentityCpuid, IdentityOptionsAloneLeaveHyperVOff) {
  // QEMU: hv-vendor-id and hv-version-id-* are not enlightenments.
  auto d = make_vm("hv-vendor-id=KVMKVMKVM,hv-version-id-build=7100");
  for (uint32_t leaf = HV_CPUID_VENDOR_AND_MAX_FUNCTIONS; leaf <= HV_CPUID_NESTED_OPTIMIZATIONS; ++leaf)
    EXPECT_EQ(d->cpuid(0, leaf), CpuidValue{}) << std::hex << leaf;
  EXPECT_TRUE(d->rdmsr(0, HV_X64_MSR_GUEST_OS_ID).gp());
  EXPECT_TRUE(d->rdmsr(0, HV_X64_MSR_HYPERCALL).gp());
}

// ---- GUEST_OS_ID ------------------------------------------------------------

TEST(IdentityGuestOsId, ResetsToZeroAndRoundTrips) {
  auto d = make_vm("hv-relaxed");
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_GUEST_OS_ID).value, 0u);
  EXPECT_TRUE(d->rdmsr(0, HV_X64_MSR_GUEST_OS_ID).ok());
  for (uint64_t v : {kLinuxGuestOsId, ~uint64_t{0}, uint64_t{1}}) {
    ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_GUEST_OS_ID, v), Access::Ok);
    EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_GUEST_OS_ID).value, v);
  }
}

TEST(IdentityGuestOsId, IsPartitionWide) {
  auto d = make_vm("hv-relaxed", 2);
  ASSERT_EQ(d->wrmsr(1, HV_X64_MSR_GUEST_OS_ID, kLinuxGuestOsId), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_GUEST_OS_ID).value, kLinuxGuestOsId);
  EXPECT_EQ(d->host_rdmsr(0, HV_X64_MSR_GUEST_OS_ID).value, kLinuxGuestOsId);
}

TEST(IdentityGuestOsId, ZeroDisablesTheHypercallPage) {
  auto d = make_vm("hv-relaxed", 2);
  ASSERT_EQ(enable_hypercalls(*d, kPage), Access::Ok);
  ASSERT_TRUE(hypercalls_on(*d));
  ASSERT_EQ(d->wrmsr(1, HV_X64_MSR_GUEST_OS_ID, 0), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_HYPERCALL).value, kPage);  // enable bit cleared, GPA kept (KVM)
  EXPECT_FALSE(hypercalls_on(*d));
  // A new identity does not bring the page back: the guest must enable it.
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_GUEST_OS_ID, kLinuxGuestOsId), Access::Ok);
  EXPECT_FALSE(hypercalls_on(*d));
}

// ---- HYPERCALL ----------------------------------------------------------------

TEST(IdentityHypercall, PageIsVmcallRetThenInt3) {
  auto d = make_vm("hv-relaxed");
  EXPECT_FALSE(hypercalls_on(*d));
  ASSERT_EQ(enable_hypercalls(*d, kPage), Access::Ok);
  const auto p = page_at(*d, kPage);
  EXPECT_EQ(p[0], 0x0F);
  EXPECT_EQ(p[1], 0x01);
  EXPECT_EQ(p[2], 0xC1);  // VMCALL
  EXPECT_EQ(p[3], 0xC3);  // RET
  for (size_t i = 4; i < p.size(); ++i) ASSERT_EQ(p[i], 0xCC) << "offset " << i;
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_HYPERCALL).value, kPage | HV_X64_MSR_HYPERCALL_ENABLE);
  EXPECT_TRUE(hypercalls_on(*d));
  // The neighbouring pages are not touched.
  EXPECT_EQ(page_at(*d, kPage - HV_PAGE_SIZE)[HV_PAGE_SIZE - 1], 0);
  EXPECT_EQ(page_at(*d, kPage + HV_PAGE_SIZE)[0], 0);
}

TEST(IdentityHypercall, VmmcallInstructionOption) {
  auto d = make_vm_from_profile("name: t\nenlightenments:\n  - relaxed\n  - identity: { instruction: vmmcall }\n");
  ASSERT_EQ(enable_hypercalls(*d, kPage), Access::Ok);
  const auto p = page_at(*d, kPage);
  EXPECT_EQ(p[0], 0x0F);
  EXPECT_EQ(p[1], 0x01);
  EXPECT_EQ(p[2], 0xD9);  // VMMCALL
  EXPECT_EQ(p[3], 0xC3);
  EXPECT_EQ(p[4], 0xCC);
}

TEST(IdentityHypercall, KernelHypercallsAreTestedFirstAndTakeTheKernelInstruction) {
  // What the kvm backend asks for when tlbflush is offloaded: codes 0x0002
  // and 0x0013 go to KVM with VMMCALL, every other call to OUT 0xEB.
  auto d = make_vm_from_profile(
      "name: t\nenlightenments:\n  - relaxed\n"
      "  - identity: { instruction: ioport, kernel-hypercalls: \"2,0x13\", kernel-instruction: vmmcall }\n");
  ASSERT_EQ(enable_hypercalls(*d, kPage), Access::Ok);
  const auto p = page_at(*d, kPage);
  const std::vector<uint8_t> expected{
      0x66, 0x81, 0xF9, 0x02, 0x00, 0x74, 10,  // cmp cx, 0x0002; je kernel (+10 from 7)
      0x66, 0x81, 0xF9, 0x13, 0x00, 0x74, 3,   // cmp cx, 0x0013; je kernel (+3 from 14)
      0xE7, 0xEB, 0xC3,                        // out 0xEB, eax; ret
      0x0F, 0x01, 0xD9, 0xC3,                  // kernel: vmmcall; ret
  };
  ASSERT_EQ(std::vector<uint8_t>(p.begin(), p.begin() + expected.size()), expected);
  for (size_t i = expected.size(); i < p.size(); ++i) ASSERT_EQ(p[i], 0xCC) << "offset " << i;
}

TEST(IdentityHypercall, KernelHypercallsOptionIsChecked) {
  for (const char* bad : {"kernel-hypercalls: \"2,x\", kernel-instruction: vmmcall",
                          "kernel-hypercalls: \"10000\", kernel-instruction: vmcall",
                          "kernel-hypercalls: \"2\", kernel-instruction: ioport"}) {
    try {
      make_vm_from_profile(std::string("name: t\nenlightenments:\n  - relaxed\n  - identity: { instruction: ioport, ") +
                           bad + " }\n");
      ADD_FAILURE() << "accepted " << bad;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("kernel-"), std::string::npos) << e.what();
    }
  }
}

TEST(IdentityHypercall, UnknownInstructionOptionFailsVmCreation) {
  try {
    make_vm_from_profile("name: t\nenlightenments:\n  - relaxed\n  - identity: { instruction: syscall }\n");
    FAIL() << "created a VM with instruction=syscall";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("vmmcall"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("identity"), std::string::npos) << e.what();
  }
}

TEST(IdentityHypercall, WithoutGuestOsIdTheWriteIsIgnored) {
  auto d = make_vm("hv-relaxed");
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_HYPERCALL, kPage | HV_X64_MSR_HYPERCALL_ENABLE), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_HYPERCALL).value, 0u);
  EXPECT_EQ(page_at(*d, kPage)[0], 0);  // nothing written
  EXPECT_FALSE(hypercalls_on(*d));
}

TEST(IdentityHypercall, DisableKeepsTheValueAsWritten) {
  auto d = make_vm("hv-relaxed");
  ASSERT_EQ(enable_hypercalls(*d, kPage), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_HYPERCALL, kPage), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_HYPERCALL).value, kPage);
  EXPECT_FALSE(hypercalls_on(*d));
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_HYPERCALL, kPage | HV_X64_MSR_HYPERCALL_ENABLE), Access::Ok);
  EXPECT_TRUE(hypercalls_on(*d));
}

TEST(IdentityHypercall, LockedAndRsvdPBitsAreStoredAsWritten) {
  auto d = make_vm("hv-relaxed");
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_GUEST_OS_ID, kLinuxGuestOsId), Access::Ok);
  const uint64_t v = kPage | HV_X64_MSR_HYPERCALL_RSVDP_MASK | HV_X64_MSR_HYPERCALL_LOCKED | HV_X64_MSR_HYPERCALL_ENABLE;
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_HYPERCALL, v), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_HYPERCALL).value, v);
  EXPECT_EQ(page_at(*d, kPage)[2], 0xC1);  // the page is at the GPA, not offset by the low bits
  // Locked is not advertised, so it does not lock: the guest may still move
  // or disable the page.
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_HYPERCALL, 2 * kPage | HV_X64_MSR_HYPERCALL_ENABLE), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_HYPERCALL).value, 2 * kPage | HV_X64_MSR_HYPERCALL_ENABLE);
  EXPECT_EQ(page_at(*d, 2 * kPage)[3], 0xC3);
  EXPECT_EQ(d->cpuid(0, HV_CPUID_FEATURES).edx & HV_FEATURE_HYPERCALL_MSR_LOCK_AVAILABLE, 0u);
}

TEST(IdentityHypercall, PageOutsideRamIsGpAndChangesNothing) {
  VmOptions o;
  o.memory_bytes = 1u << 20;
  auto d = make_vm("hv-relaxed", 1, o);
  ASSERT_EQ(enable_hypercalls(*d, kPage), Access::Ok);
  const uint64_t before = d->rdmsr(0, HV_X64_MSR_HYPERCALL).value;
  for (uint64_t gpa : {uint64_t{1} << 20, uint64_t{1} << 40, HV_X64_MSR_HYPERCALL_PAGE_MASK}) {
    EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_HYPERCALL, gpa | HV_X64_MSR_HYPERCALL_ENABLE), Access::GP) << hex(gpa);
    EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_HYPERCALL).value, before);
    EXPECT_TRUE(hypercalls_on(*d));
  }
  // The last page of RAM is fine.
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_HYPERCALL, ((1u << 20) - HV_PAGE_SIZE) | HV_X64_MSR_HYPERCALL_ENABLE), Access::Ok);
}

TEST(IdentityHypercall, PageOutsideRamWhileDisabledIsNotGp) {
  // Nothing is written while the enable bit is clear, so any GPA is stored.
  auto d = make_vm("hv-relaxed");
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_GUEST_OS_ID, kLinuxGuestOsId), Access::Ok);
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_HYPERCALL, HV_X64_MSR_HYPERCALL_PAGE_MASK), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_HYPERCALL).value, HV_X64_MSR_HYPERCALL_PAGE_MASK);
}

TEST(IdentityHypercall, HostRestoreEnablesLikeTheGuest) {
  auto d = make_vm("hv-relaxed");
  ASSERT_EQ(d->host_wrmsr(0, HV_X64_MSR_GUEST_OS_ID, kLinuxGuestOsId), Access::Ok);
  ASSERT_EQ(d->host_wrmsr(0, HV_X64_MSR_HYPERCALL, kPage | HV_X64_MSR_HYPERCALL_ENABLE), Access::Ok);
  EXPECT_EQ(d->host_rdmsr(0, HV_X64_MSR_HYPERCALL).value, kPage | HV_X64_MSR_HYPERCALL_ENABLE);
  EXPECT_TRUE(hypercalls_on(*d));
  EXPECT_EQ(page_at(*d, kPage)[0], 0x0F);
}

TEST(IdentityHypercall, EnabledFromAnyVcpuForAll) {
  auto d = make_vm("hv-relaxed", 2);
  ASSERT_EQ(enable_hypercalls(*d, kPage, 1), Access::Ok);
  EXPECT_EQ(d->hypercall(0, control(kUnclaimedCode), 0, 0).status(), HV_STATUS_INVALID_HYPERCALL_CODE);
  EXPECT_EQ(d->hypercall(1, control(kUnclaimedCode), 0, 0).status(), HV_STATUS_INVALID_HYPERCALL_CODE);
}

// ---- Claims ----------------------------------------------------------------------

TEST(IdentityMsrs, OnlyItsMsrsExist) {
  auto d = make_vm("hv-relaxed");
  EXPECT_TRUE(d->rdmsr(0, HV_X64_MSR_VP_INDEX).gp());  // vpindex is not on
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_RESET, 1), Access::GP);
  EXPECT_EQ(d->vm().stop_reason(), StopReason::None);
}

TEST(IdentityMsrs, WorkUnderEnforceCpuid) {
  // AccessHypercallMsrs (3.EAX[5]) is always advertised, so the gate is open.
  auto d = make_vm("hv-relaxed,hv-enforce-cpuid");
  ASSERT_TRUE(d->vm().resolution().enforce_cpuid);
  EXPECT_EQ(enable_hypercalls(*d, kPage), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_GUEST_OS_ID).value, kLinuxGuestOsId);
  EXPECT_TRUE(hypercalls_on(*d));
}

// ---- HV_X64_MSR_VP_ASSIST_PAGE while vapic is off (a default claim) -----------
// Linux writes it on every CPU whatever CPUID says; KVM accepts it unless
// hv-enforce-cpuid is on (issue 10, item 4).

TEST(IdentityVpAssist, WithoutVapicTheWriteIsKeptAsKvmKeepsIt) {
  auto d = make_vm("hv-vpindex", 2);
  EXPECT_EQ(d->cpuid(0, HV_CPUID_FEATURES).eax & HV_ACCESS_INTR_CTRL_REGS, 0u) << "vapic's bit stays off";
  const uint64_t page = 0x20000;
  uint32_t garbage = 0xFFFFFFFF;
  ASSERT_TRUE(d->memory().write(page + HV_VP_ASSIST_PAGE_APIC_ASSIST_OFFSET, &garbage, sizeof garbage));
  ASSERT_EQ(d->wrmsr(1, HV_X64_MSR_VP_ASSIST_PAGE, page | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE), Access::Ok);
  EXPECT_EQ(d->rdmsr(1, HV_X64_MSR_VP_ASSIST_PAGE).value, page | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_VP_ASSIST_PAGE).value, 0u) << "per vCPU";
  uint32_t word = 1;
  ASSERT_TRUE(d->memory().read(page + HV_VP_ASSIST_PAGE_APIC_ASSIST_OFFSET, &word, sizeof word));
  EXPECT_EQ(word, 0u) << "no stale 'EOI may be skipped' in a fresh page";
  ASSERT_EQ(d->wrmsr(1, HV_X64_MSR_VP_ASSIST_PAGE, 0), Access::Ok);
  EXPECT_EQ(d->rdmsr(1, HV_X64_MSR_VP_ASSIST_PAGE).value, 0u);
}

TEST(IdentityVpAssist, PageOutsideRamIsGp) {
  auto d = make_vm("hv-vpindex");
  const uint64_t outside = (d->memory().size() + HV_PAGE_SIZE) & ~uint64_t{HV_PAGE_SIZE - 1};
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_VP_ASSIST_PAGE, outside | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE), Access::GP);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_VP_ASSIST_PAGE).value, 0u);
  // Disabled, the address is not looked at (KVM stores it).
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_VP_ASSIST_PAGE, outside), Access::Ok);
}

TEST(IdentityVpAssist, EnforceCpuidMakesItGpAsKvmDoes) {
  auto d = make_vm("hv-vpindex,hv-enforce-cpuid");
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_VP_ASSIST_PAGE, 0x20000 | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE), Access::GP);
  EXPECT_TRUE(d->rdmsr(0, HV_X64_MSR_VP_ASSIST_PAGE).gp());
}

TEST(IdentityVpAssist, VapicOwnsItWhenEnabled) {
  // With vapic on, its handler answers (it counts enables; identity's does not).
  auto d = make_vm("hv-vpindex,hv-vapic");
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_VP_ASSIST_PAGE, 0x20000 | HV_X64_MSR_VP_ASSIST_PAGE_ENABLE), Access::Ok);
  EXPECT_EQ(counter(*d, "enlight_vapic_assist_page_enables_total"), 1);
}

}  // namespace
}  // namespace enlight::test
