// synic: CPUID, resolution, and every SynIC MSR (reset values, read-only,
// reserved bits, #GP cases, host restore, enforce-cpuid gates).
#include "synic_test.hpp"

namespace enlight::test::synic {
namespace {

TEST(SynicCpuid, AsQemuHvSynic) {
  auto d = make_synic();
  const CpuidValue f = d->cpuid(0, HV_CPUID_FEATURES);
  // QEMU hyperv_fill_cpuids(): AccessSynicRegs, and with hv-synic (not
  // x-hv-synic-kvm-only) PostMessages + SignalEvents.
  EXPECT_EQ(f.eax, HV_ACCESS_SYNIC_REGS | HV_ACCESS_VP_INDEX | HV_ACCESS_HYPERCALL_MSRS);
  EXPECT_EQ(f.ebx, HV_POST_MESSAGES | HV_SIGNAL_EVENTS);
  // No polling mode: KVM does not report 0x40000003.EDX[17], QEMU never sets it.
  EXPECT_EQ(f.edx & HV_FEATURE_SINT_POLLING_MODE_AVAILABLE, 0u);
}

TEST(SynicResolution, RequiresVpindexAsQemuDoes) { EXPECT_THROW(make_vm("hv-synic"), ConfigError); }

TEST(SynicResolution, AbsentWithoutTheFlag) {
  auto d = make_vm("hv-vpindex");
  for (uint32_t msr = HV_X64_MSR_SCONTROL; msr <= HV_X64_MSR_EOM; ++msr) EXPECT_TRUE(d->rdmsr(0, msr).gp());
  for (uint32_t msr = HV_X64_MSR_SINT0; msr <= HV_X64_MSR_SINT15; ++msr) EXPECT_TRUE(d->rdmsr(0, msr).gp());
  EXPECT_EQ(d->cpuid(0, HV_CPUID_FEATURES).ebx, 0u);
}

TEST(SynicMsrs, ResetValuesAsKvm) {
  auto d = make_synic(3);
  for (uint32_t v = 0; v < 3; ++v) {
    // SCONTROL: KVM sets Enable when SynIC is activated (the TLFS says 0).
    EXPECT_EQ(d->rdmsr(v, HV_X64_MSR_SCONTROL).value, HV_SYNIC_SCONTROL_ENABLE);
    EXPECT_EQ(d->rdmsr(v, HV_X64_MSR_SVERSION).value, HV_SYNIC_VERSION_1);
    EXPECT_EQ(d->rdmsr(v, HV_X64_MSR_SIEFP).value, 0u);
    EXPECT_EQ(d->rdmsr(v, HV_X64_MSR_SIMP).value, 0u);
    EXPECT_TRUE(d->rdmsr(v, HV_X64_MSR_EOM).ok());
    EXPECT_EQ(d->rdmsr(v, HV_X64_MSR_EOM).value, 0u);
    for (uint32_t i = 0; i < HV_SYNIC_SINT_COUNT; ++i) {
      EXPECT_EQ(d->rdmsr(v, HV_X64_MSR_SINT0 + i).value, HV_SYNIC_SINT_RESET_VALUE) << i;
      EXPECT_EQ(d->host_rdmsr(v, HV_X64_MSR_SINT0 + i).value, HV_SYNIC_SINT_RESET_VALUE) << i;
    }
  }
  // 0x40000085..0x4000008F are not SynIC MSRs.
  for (uint32_t msr = HV_X64_MSR_EOM + 1; msr < HV_X64_MSR_SINT0; ++msr) EXPECT_TRUE(d->rdmsr(0, msr).gp()) << std::hex << msr;
}

TEST(SynicMsrs, SversionIsReadOnlyToTheGuest) {
  auto d = make_synic();
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_SVERSION, HV_SYNIC_VERSION_1), Access::GP);
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_SVERSION, 2), Access::GP);
  // A host restore writes it back; the version stays this implementation's.
  EXPECT_EQ(d->host_wrmsr(0, HV_X64_MSR_SVERSION, HV_SYNIC_VERSION_1), Access::Ok);
  EXPECT_EQ(d->host_wrmsr(0, HV_X64_MSR_SVERSION, 7), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_SVERSION).value, HV_SYNIC_VERSION_1);
}

TEST(SynicMsrs, ScontrolEnableAndReservedBits) {
  auto d = make_synic(2);
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_SCONTROL, 0), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_SCONTROL).value, 0u);
  EXPECT_EQ(d->rdmsr(1, HV_X64_MSR_SCONTROL).value, HV_SYNIC_SCONTROL_ENABLE);  // per VP
  // 63:1 RsvdP: a guest write that changes them is #GP, value unchanged.
  for (uint32_t bit = 1; bit < 64; ++bit) {
    EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_SCONTROL, uint64_t{1} << bit), Access::GP) << bit;
    EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_SCONTROL).value, 0u);
  }
  // The host restores anything (a KVM state may hold such bits); the guest
  // then preserves them as the TLFS asks.
  const uint64_t odd = 0xF0F0000000000000ull | HV_SYNIC_SCONTROL_ENABLE;
  EXPECT_EQ(d->host_wrmsr(0, HV_X64_MSR_SCONTROL, odd), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_SCONTROL).value, odd);
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_SCONTROL, odd & ~HV_SYNIC_SCONTROL_ENABLE), Access::Ok);
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_SCONTROL, 0), Access::GP);
}

class SynicPageMsr : public ::testing::TestWithParam<uint32_t> {};

TEST_P(SynicPageMsr, EnableGpaAndReservedBits) {
  const uint32_t msr = GetParam();
  const uint64_t enable = msr == HV_X64_MSR_SIMP ? HV_SYNIC_SIMP_ENABLE : HV_SYNIC_SIEFP_ENABLE;
  auto d = make_synic(2);
  EXPECT_EQ(d->wrmsr(0, msr, 0x123000 | enable), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, msr).value, 0x123000 | enable);
  EXPECT_EQ(d->rdmsr(1, msr).value, 0u);
  EXPECT_EQ(d->wrmsr(0, msr, 0x123000), Access::Ok);  // disabled, base kept
  EXPECT_EQ(d->rdmsr(0, msr).value, 0x123000u);
  // 11:1 RsvdP.
  for (uint32_t bit = 1; bit < HV_SYNIC_PAGE_SHIFT; ++bit) {
    EXPECT_EQ(d->wrmsr(0, msr, 0x123000 | enable | (uint64_t{1} << bit)), Access::GP) << bit;
    EXPECT_EQ(d->rdmsr(0, msr).value, 0x123000u);
  }
  // A base beyond guest RAM is accepted (TLFS: the page is then just not
  // accessible), as is every bit of 63:12.
  EXPECT_EQ(d->wrmsr(0, msr, kRamBytes | enable), Access::Ok);
  EXPECT_EQ(d->wrmsr(0, msr, HV_SYNIC_PAGE_MASK | enable), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, msr).value, HV_SYNIC_PAGE_MASK | enable);
  // Host restore: anything, and the guest may write the restored bits back.
  EXPECT_EQ(d->host_wrmsr(1, msr, 0x5000 | 0x10 | enable), Access::Ok);
  EXPECT_EQ(d->wrmsr(1, msr, 0x6000 | 0x10 | enable), Access::Ok);
  EXPECT_EQ(d->wrmsr(1, msr, 0x6000 | enable), Access::GP);
}

TEST_P(SynicPageMsr, EnablingDoesNotClearThePage) {
  // TLFS: cleared at VP creation/reset only; KVM with SYNIC2 (QEMU) does
  // not clear on enable either.
  const uint32_t msr = GetParam();
  auto d = make_synic();
  std::vector<uint8_t> junk(HV_PAGE_SIZE, 0xEE);
  ASSERT_TRUE(d->memory().write(0x40000, junk.data(), junk.size()));
  ASSERT_EQ(d->wrmsr(0, msr, 0x40000 | HV_SYNIC_SIMP_ENABLE), Access::Ok);
  std::vector<uint8_t> after(HV_PAGE_SIZE);
  ASSERT_TRUE(d->memory().read(0x40000, after.data(), after.size()));
  EXPECT_EQ(after, junk);
}

INSTANTIATE_TEST_SUITE_P(Pages, SynicPageMsr, ::testing::Values(HV_X64_MSR_SIMP, HV_X64_MSR_SIEFP),
                         [](const ::testing::TestParamInfo<uint32_t>& i) {
                           return std::string(i.param == HV_X64_MSR_SIMP ? "SIMP" : "SIEFP");
                         });

TEST(SynicMsrs, EomIsAWriteOnlyTriggerThatReadsZero) {
  auto d = make_synic();
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, ~uint64_t{0}}) EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_EOM, v), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_EOM).value, 0u);
  EXPECT_EQ(counter(*d, kEoms), 3);
  // A host write (state restore) is accepted and triggers nothing.
  EXPECT_EQ(d->host_wrmsr(0, HV_X64_MSR_EOM, 0), Access::Ok);
  EXPECT_EQ(counter(*d, kEoms), 3);
}

TEST(SynicMsrs, EverySintRoundTrips) {
  auto d = make_synic(2);
  for (uint32_t i = 0; i < HV_SYNIC_SINT_COUNT; ++i) {
    const uint64_t value = sint_value(static_cast<uint8_t>(0x20 + i), false, i % 2 == 1);
    EXPECT_EQ(d->wrmsr(1, HV_X64_MSR_SINT0 + i, value), Access::Ok) << i;
    EXPECT_EQ(d->rdmsr(1, HV_X64_MSR_SINT0 + i).value, value) << i;
    EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_SINT0 + i).value, HV_SYNIC_SINT_RESET_VALUE) << i;
  }
}

TEST(SynicMsrs, SintVectorsBelow16) {
  auto d = make_synic();
  for (uint32_t vector = 0; vector < HV_SYNIC_FIRST_VALID_VECTOR; ++vector) {
    // TLFS: #GP. KVM lets a masked SINT hold one (nested Hyper-V writes
    // 0x10000 at boot); we follow KVM.
    EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_SINT2, vector), Access::GP) << vector;
    EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_SINT2, vector | HV_SYNIC_SINT_AUTO_EOI), Access::GP) << vector;
    EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_SINT2, vector | HV_SYNIC_SINT_MASKED), Access::Ok) << vector;
  }
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_SINT2, HV_SYNIC_FIRST_VALID_VECTOR), Access::Ok);
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_SINT2, 0xFF), Access::Ok);
  // The host may write an unmasked low vector (KVM's host path).
  EXPECT_EQ(d->host_wrmsr(0, HV_X64_MSR_SINT2, 5), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_SINT2).value, 5u);
}

TEST(SynicMsrs, SintReservedBitsAndPollingAreGp) {
  auto d = make_synic();
  ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_SINT4, sint_value(0x40)), Access::Ok);
  for (uint32_t bit = 8; bit < 64; ++bit) {
    if (bit == HV_SYNIC_SINT_MASKED_BIT || bit == HV_SYNIC_SINT_AUTO_EOI_BIT) continue;
    // 15:8 and 63:19 RsvdP; 18 (polling) is reserved without EDX[17].
    EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_SINT4, sint_value(0x40) | (uint64_t{1} << bit)), Access::GP) << bit;
  }
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_SINT4).value, sint_value(0x40));
  // Restored by the host, preserved by the guest.
  ASSERT_EQ(d->host_wrmsr(0, HV_X64_MSR_SINT4, sint_value(0x40) | HV_SYNIC_SINT_POLLING), Access::Ok);
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_SINT4, sint_value(0x41) | HV_SYNIC_SINT_POLLING), Access::Ok);
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_SINT4, sint_value(0x41)), Access::GP);
}

TEST(SynicMsrs, WorkUnderEnforceCpuid) {
  // Every gate is a bit the plugin advertises itself.
  auto d = make_synic(1, "hv-enforce-cpuid");
  ASSERT_TRUE(d->vm().resolution().enforce_cpuid);
  for (uint32_t msr = HV_X64_MSR_SCONTROL; msr <= HV_X64_MSR_EOM; ++msr) EXPECT_TRUE(d->rdmsr(0, msr).ok()) << std::hex << msr;
  for (uint32_t msr = HV_X64_MSR_SINT0; msr <= HV_X64_MSR_SINT15; ++msr) {
    EXPECT_EQ(d->wrmsr(0, msr, sint_value(0x30)), Access::Ok) << std::hex << msr;
    EXPECT_EQ(d->rdmsr(0, msr).value, sint_value(0x30));
  }
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_SIMP, simp_gpa(0) | HV_SYNIC_SIMP_ENABLE), Access::Ok);
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_EOM, 0), Access::Ok);
}

// The synic manifest with its gates moved to bits nobody advertises, in a
// directory ahead of the build's plugins (tests/plugins/combined does the
// same for the other plugins). Only possible when synic is a .so.
class SynicClosedGates : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string kGate = "gate: 0x40000003.eax[2]", kClosed = "gate: 0x40000003.eax[12]";
    if (enlight::find_static_plugin("synic") != nullptr)
      GTEST_SKIP() << "synic is built in (ENLIGHT_STATIC_PLUGINS): manifests on disk cannot shadow it";
    const std::filesystem::path real = std::filesystem::path(ENLIGHT_TEST_PLUGIN_DIR);
    std::string text = read_file(real / "synic.yaml");
    for (size_t at = text.find(kGate); at != std::string::npos; at = text.find(kGate, at)) text.replace(at, kGate.size(), kClosed);
    text = replace_once(text, "gate: 0x40000003.ebx[4]", "gate: 0x40000003.ebx[9]");
    text = replace_once(text, "gate: 0x40000003.ebx[5]", "gate: 0x40000003.ebx[10]");
    text = replace_once(text, "library: synic.so", "library: " + (real / "synic.so").string());
    dir_.write("synic.yaml", text);
  }
  std::unique_ptr<DirectVm> make(bool enforce) {
    return make_vm_from_profile(profile(1, "echo-connection-id: " + std::to_string(kEchoId), "", false, enforce), {},
                                {dir_.path().string(), ENLIGHT_TEST_PLUGIN_DIR});
  }
  TempDir dir_;
};

TEST_F(SynicClosedGates, GuestIsDeniedUnderEnforce) {
  auto d = make(true);
  for (uint32_t msr : {HV_X64_MSR_SCONTROL, HV_X64_MSR_SVERSION, HV_X64_MSR_SIMP, HV_X64_MSR_EOM, HV_X64_MSR_SINT0,
                       HV_X64_MSR_SINT15}) {
    EXPECT_TRUE(d->rdmsr(0, msr).gp()) << std::hex << msr;
    EXPECT_EQ(d->wrmsr(0, msr, 0), Access::GP) << std::hex << msr;
    EXPECT_TRUE(d->host_rdmsr(0, msr).ok()) << std::hex << msr;  // save/restore still works
  }
  ASSERT_EQ(enable_hypercalls(*d, kHypercallPage), Access::Ok);
  write_post_input(*d, kEchoId, 1, 8);
  EXPECT_EQ(post(*d, 0), HV_STATUS_ACCESS_DENIED);
  EXPECT_EQ(signal(*d, 0, signal_rdx(kEchoId, 0)), HV_STATUS_ACCESS_DENIED);
  EXPECT_EQ(d->vm().stop_reason(), StopReason::None);
}

TEST_F(SynicClosedGates, GuestIsServedWithoutEnforce) {
  auto d = make(false);
  EXPECT_TRUE(d->rdmsr(0, HV_X64_MSR_SINT0).ok());
  ASSERT_EQ(enable_hypercalls(*d, kHypercallPage), Access::Ok);
  enable(*d, 0);
  write_post_input(*d, kEchoId, 1, 8);
  EXPECT_EQ(post(*d, 0), HV_STATUS_SUCCESS);
}

TEST(SynicMetrics, CountersAreRegistered) {
  auto d = make_synic();
  for (const char* name : {kPosted, kBusy, kSignalled, kEoms}) EXPECT_EQ(counter(*d, name), 0) << name;
}

}  // namespace
}  // namespace enlight::test::synic
