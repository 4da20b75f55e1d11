// hv-enforce-cpuid with the real plugins.
//
// Every plugin advertises the bit that gates its own MSRs, so with the
// shipped manifests enforcement never closes a gate; the first tests check
// exactly that. To see a gate close, the later tests copy a plugin's
// manifest into a temporary directory that shadows the build's, with the
// gate moved to a bit nobody advertises (0x40000003.EAX[12] / EDX[9]) and
// `library:` pointing at the real binary: the loader compares claims, not
// gates, so the real plugin loads, and the core must deny the guest.
#include "enlight_test.hpp"

namespace enlight::test {
namespace {

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  size_t n = 0;
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()), ++n)
    text.replace(at, from.size(), to);
  EXPECT_GT(n, 0u) << "'" << from << "' not found";
  return text;
}

// All plugins, so that every claimed MSR is there.
const char* const kAll = "hv-relaxed,hv-vpindex,hv-runtime,hv-crash,hv-frequencies,hv-reset,hv-spinlocks=0xfff";

struct Readable {
  uint32_t msr;
  const char* plugin;
};
const Readable kReadable[] = {
    {HV_X64_MSR_GUEST_OS_ID, "identity"},   {HV_X64_MSR_HYPERCALL, "identity"},
    {HV_X64_MSR_VP_INDEX, "vpindex"},       {HV_X64_MSR_RESET, "reset"},
    {HV_X64_MSR_VP_RUNTIME, "runtime"},     {HV_X64_MSR_TSC_FREQUENCY, "frequencies"},
    {HV_X64_MSR_APIC_FREQUENCY, "frequencies"}, {HV_X64_MSR_CRASH_P0, "crash"},
    {HV_X64_MSR_CRASH_P1, "crash"},         {HV_X64_MSR_CRASH_P2, "crash"},
    {HV_X64_MSR_CRASH_P3, "crash"},         {HV_X64_MSR_CRASH_P4, "crash"},
    {HV_X64_MSR_CRASH_CTL, "crash"},
};

TEST(EnforceCpuid, EveryAdvertisedMsrAnswersAsWithoutEnforce) {
  auto plain = make_vm(kAll);
  auto enforced = make_vm(std::string(kAll) + ",hv-enforce-cpuid");
  ASSERT_TRUE(enforced->vm().resolution().enforce_cpuid);
  ASSERT_FALSE(plain->vm().resolution().enforce_cpuid);
  for (const Readable& r : kReadable) {
    const MsrRead a = plain->rdmsr(0, r.msr), b = enforced->rdmsr(0, r.msr);
    EXPECT_TRUE(b.ok()) << r.plugin << " " << std::hex << r.msr;
    EXPECT_EQ(a.value, b.value) << r.plugin << " " << std::hex << r.msr;
  }
  // Writes: the same answer with and without enforcement.
  for (uint32_t msr : {HV_X64_MSR_GUEST_OS_ID, HV_X64_MSR_CRASH_P0, HV_X64_MSR_VP_INDEX, HV_X64_MSR_VP_RUNTIME,
                       HV_X64_MSR_TSC_FREQUENCY})
    EXPECT_EQ(enforced->wrmsr(0, msr, 1), plain->wrmsr(0, msr, 1)) << std::hex << msr;
}

TEST(EnforceCpuid, UnclaimedMsrsStayGp) {
  auto d = make_vm(std::string(kAll) + ",hv-enforce-cpuid");
  for (uint32_t msr : {HV_X64_MSR_TIME_REF_COUNT, HV_X64_MSR_REFERENCE_TSC, HV_X64_MSR_SCONTROL, HV_X64_MSR_STIMER0_CONFIG,
                       HV_X64_MSR_REENLIGHTENMENT_CONTROL, HV_X64_MSR_SYNTHETIC_LAST, uint32_t{0x40000200}}) {
    EXPECT_TRUE(d->rdmsr(0, msr).gp()) << std::hex << msr;
    EXPECT_EQ(d->wrmsr(0, msr, 0), Access::GP) << std::hex << msr;
    EXPECT_TRUE(d->host_rdmsr(0, msr).gp()) << std::hex << msr;
  }
}

struct GateCase {
  const char* plugin;
  const char* flags;
  const char* gate;         // as written in the shipped manifest
  const char* closed_gate;  // a bit nobody advertises
  uint32_t msr;
};
void PrintTo(const GateCase& c, std::ostream* os) { *os << c.plugin << " MSR 0x" << std::hex << c.msr; }

class ClosedGate : public ::testing::TestWithParam<GateCase> {
 protected:
  void SetUp() override {
    // A built-in plugin's embedded manifest always wins over files, so a
    // shadowing manifest cannot move its gate: this case needs the .so build.
    if (enlight::find_static_plugin(GetParam().plugin) != nullptr)
      GTEST_SKIP() << GetParam().plugin << " is built in (ENLIGHT_STATIC_PLUGINS): manifests on disk cannot shadow it";
  }
  // The plugin's manifest with its gate moved, in a directory that comes
  // first on the search path.
  std::vector<std::string> shadowed_search_path() {
    const GateCase& c = GetParam();
    const std::filesystem::path real = std::filesystem::path(ENLIGHT_TEST_PLUGIN_DIR);
    std::string text = read_file(real / (std::string(c.plugin) + ".yaml"));
    text = replace_all(text, std::string("gate: ") + c.gate, std::string("gate: ") + c.closed_gate);
    text = replace_once(text, std::string("library: ") + c.plugin + ".so",
                        "library: " + (real / (std::string(c.plugin) + ".so")).string());
    dir_.write(std::string(c.plugin) + ".yaml", text);
    return {dir_.path().string(), real.string()};
  }
  TempDir dir_;
};

TEST_P(ClosedGate, GuestIsDeniedUnderEnforce) {
  const GateCase& c = GetParam();
  auto d = direct::DirectVm::from_flags(std::string(c.flags) + ",hv-enforce-cpuid", 1, shadowed_search_path());
  // The shadowing manifest won.
  bool shadowed = false;
  for (const LoadedPlugin& p : d->vm().plugins())
    shadowed |= p.manifest->name == c.plugin && p.manifest->path.rfind(dir_.path().string(), 0) == 0;
  EXPECT_TRUE(shadowed) << "the test's manifest for " << c.plugin << " was not the one used";
  EXPECT_TRUE(d->rdmsr(0, c.msr).gp()) << std::hex << c.msr;
  EXPECT_EQ(d->wrmsr(0, c.msr, 0), Access::GP);
  // Gates guard the guest only: the host can still save and restore.
  EXPECT_TRUE(d->host_rdmsr(0, c.msr).ok());
  EXPECT_EQ(d->vm().stop_reason(), StopReason::None);
}

TEST_P(ClosedGate, GuestIsServedWithoutEnforce) {
  const GateCase& c = GetParam();
  auto d = direct::DirectVm::from_flags(c.flags, 1, shadowed_search_path());
  EXPECT_TRUE(d->rdmsr(0, c.msr).ok()) << std::hex << c.msr;
}

INSTANTIATE_TEST_SUITE_P(
    Plugins, ClosedGate,
    ::testing::Values(GateCase{"identity", "hv-relaxed", "0x40000003.eax[5]", "0x40000003.eax[12]", HV_X64_MSR_GUEST_OS_ID},
                      GateCase{"identity", "hv-relaxed", "0x40000003.eax[5]", "0x40000003.eax[12]", HV_X64_MSR_HYPERCALL},
                      GateCase{"vpindex", "hv-vpindex", "0x40000003.eax[6]", "0x40000003.eax[12]", HV_X64_MSR_VP_INDEX},
                      GateCase{"runtime", "hv-runtime", "0x40000003.eax[0]", "0x40000003.eax[12]", HV_X64_MSR_VP_RUNTIME},
                      GateCase{"reset", "hv-reset", "0x40000003.eax[7]", "0x40000003.eax[12]", HV_X64_MSR_RESET},
                      GateCase{"frequencies", "hv-frequencies", "0x40000003.eax[11]", "0x40000003.eax[12]",
                               HV_X64_MSR_APIC_FREQUENCY},
                      GateCase{"crash", "hv-crash", "0x40000003.edx[10]", "0x40000003.edx[9]", HV_X64_MSR_CRASH_P3},
                      GateCase{"crash", "hv-crash", "0x40000003.edx[10]", "0x40000003.edx[9]", HV_X64_MSR_CRASH_CTL}),
    [](const ::testing::TestParamInfo<GateCase>& info) {
      return std::string(info.param.plugin) + "_" + std::to_string(info.index);
    });

}  // namespace
}  // namespace enlight::test
