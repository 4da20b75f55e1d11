// hv-enforce-cpuid for the MSRs of reenlightenment (gate
// AccessReenlightenmentControls, 0x40000003.EAX[13]) and tsc-invariant
// (AccessTscInvariantControls, 0x40000003.EAX[15]), as KVM's
// hv_check_msr_access: with the gate advertised they answer as without
// enforcement; with it closed the guest gets #GP and the host still
// reaches them. As in test_enforce_cpuid.cpp, the gate is closed by a copy
// of the shipped manifest, in a directory that shadows the build's, with
// the gate moved to a bit nobody advertises (0x40000003.EAX[12]).
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

struct GateCase {
  const char* plugin;
  const char* profile;      // enlightenments (tsc-invariant has no flag)
  const char* gate;         // as written in the shipped manifest
  uint32_t msr;
  uint64_t good_value;      // a value the guest may write
};
void PrintTo(const GateCase& c, std::ostream* os) { *os << c.plugin << " MSR 0x" << std::hex << c.msr; }

const GateCase kCases[] = {
    {"reenlightenment", "  - reenlightenment\n", "0x40000003.eax[13]", HV_X64_MSR_REENLIGHTENMENT_CONTROL,
     HV_REENLIGHTENMENT_CONTROL_ENABLE | 0x92},
    {"reenlightenment", "  - reenlightenment\n", "0x40000003.eax[13]", HV_X64_MSR_TSC_EMULATION_CONTROL,
     HV_TSC_EMULATION_CONTROL_ENABLE},
    {"reenlightenment", "  - reenlightenment\n", "0x40000003.eax[13]", HV_X64_MSR_TSC_EMULATION_STATUS, 0},
    {"tsc-invariant", "  - tsc-invariant\n", "0x40000003.eax[15]", HV_X64_MSR_TSC_INVARIANT_CONTROL,
     HV_EXPOSE_INVARIANT_TSC},
};

std::string profile(const GateCase& c, bool enforce) {
  return std::string("enforce-cpuid: ") + (enforce ? "true" : "false") + "\nenlightenments:\n" + c.profile;
}

class OpenGate : public ::testing::TestWithParam<GateCase> {};

TEST_P(OpenGate, EnforcedAnswersAsUnenforced) {
  const GateCase& c = GetParam();
  auto plain = make_vm_from_profile(profile(c, false));
  auto enforced = make_vm_from_profile(profile(c, true));
  ASSERT_TRUE(enforced->vm().resolution().enforce_cpuid);
  ASSERT_TRUE(enforced->cpuid(0, HV_CPUID_FEATURES).eax & (c.msr == HV_X64_MSR_TSC_INVARIANT_CONTROL
                                                                ? HV_ACCESS_TSC_INVARIANT_CONTROLS
                                                                : HV_ACCESS_REENLIGHTENMENT_CONTROLS));
  EXPECT_EQ(enforced->wrmsr(0, c.msr, c.good_value), plain->wrmsr(0, c.msr, c.good_value));
  const MsrRead a = plain->rdmsr(0, c.msr), b = enforced->rdmsr(0, c.msr);
  EXPECT_TRUE(b.ok());
  EXPECT_EQ(a.value, b.value);
  EXPECT_EQ(b.value, c.good_value);
  // The rules that are not gates hold under enforcement too.
  EXPECT_EQ(enforced->wrmsr(0, c.msr, 0x2), plain->wrmsr(0, c.msr, 0x2));
}

INSTANTIATE_TEST_SUITE_P(Plugins, OpenGate, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<GateCase>& info) {
                           std::string name = std::string(info.param.plugin) + "_" + std::to_string(info.index);
                           for (char& ch : name)
                             if (ch == '-') ch = '_';
                           return name;
                         });

class ClosedGate : public ::testing::TestWithParam<GateCase> {
 protected:
  void SetUp() override {
    // A built-in plugin's embedded manifest always wins over files, so a
    // shadowing manifest cannot move its gate: this case needs the .so build.
    if (enlight::find_static_plugin(GetParam().plugin) != nullptr)
      GTEST_SKIP() << GetParam().plugin << " is built in (ENLIGHT_STATIC_PLUGINS): manifests on disk cannot shadow it";
  }
  std::vector<std::string> shadowed_search_path() {
    const GateCase& c = GetParam();
    const std::filesystem::path real = std::filesystem::path(ENLIGHT_TEST_PLUGIN_DIR);
    std::string text = read_file(real / (std::string(c.plugin) + ".yaml"));
    text = replace_all(text, std::string("gate: ") + c.gate, "gate: 0x40000003.eax[12]");
    text = replace_once(text, std::string("library: ") + c.plugin + ".so",
                        "library: " + (real / (std::string(c.plugin) + ".so")).string());
    dir_.write(std::string(c.plugin) + ".yaml", text);
    return {dir_.path().string(), real.string()};
  }
  bool shadowed(DirectVm& d) {
    for (const LoadedPlugin& p : d.vm().plugins())
      if (p.manifest->name == GetParam().plugin && p.manifest->path.rfind(dir_.path().string(), 0) == 0) return true;
    return false;
  }
  TempDir dir_;
};

TEST_P(ClosedGate, GuestIsDeniedUnderEnforce) {
  const GateCase& c = GetParam();
  auto d = make_vm_from_profile(profile(c, true), {}, shadowed_search_path());
  EXPECT_TRUE(shadowed(*d)) << "the test's manifest for " << c.plugin << " was not the one used";
  EXPECT_TRUE(d->rdmsr(0, c.msr).gp()) << std::hex << c.msr;
  EXPECT_EQ(d->wrmsr(0, c.msr, c.good_value), Access::GP);
  EXPECT_EQ(d->wrmsr(0, c.msr, 0), Access::GP);
  // Gates guard the guest only: the host can still save and restore.
  EXPECT_EQ(d->host_wrmsr(0, c.msr, c.good_value), Access::Ok);
  const MsrRead h = d->host_rdmsr(0, c.msr);
  EXPECT_TRUE(h.ok());
  EXPECT_EQ(h.value, c.good_value);
  EXPECT_EQ(d->vm().stop_reason(), StopReason::None);
}

TEST_P(ClosedGate, GuestIsServedWithoutEnforce) {
  const GateCase& c = GetParam();
  auto d = make_vm_from_profile(profile(c, false), {}, shadowed_search_path());
  EXPECT_TRUE(shadowed(*d));
  EXPECT_EQ(d->wrmsr(0, c.msr, c.good_value), Access::Ok) << std::hex << c.msr;
  EXPECT_EQ(d->rdmsr(0, c.msr).value, c.good_value);
}

INSTANTIATE_TEST_SUITE_P(Plugins, ClosedGate, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<GateCase>& info) {
                           std::string name = std::string(info.param.plugin) + "_" + std::to_string(info.index);
                           for (char& ch : name)
                             if (ch == '-') ch = '_';
                           return name;
                         });

// Enforcement gates nothing else: the plugins' MSRs stay #GP for a VM that
// does not enable them.
TEST(EnforceCpuidMore, MsrsOfDisabledPluginsStayGp) {
  auto d = make_vm("hv-relaxed,hv-enforce-cpuid");
  for (uint32_t msr : {HV_X64_MSR_REENLIGHTENMENT_CONTROL, HV_X64_MSR_TSC_EMULATION_CONTROL,
                       HV_X64_MSR_TSC_EMULATION_STATUS, HV_X64_MSR_TSC_INVARIANT_CONTROL}) {
    EXPECT_TRUE(d->rdmsr(0, msr).gp()) << std::hex << msr;
    EXPECT_TRUE(d->host_rdmsr(0, msr).gp()) << std::hex << msr;
  }
}

}  // namespace
}  // namespace enlight::test
