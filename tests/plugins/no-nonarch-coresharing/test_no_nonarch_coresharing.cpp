// no-nonarch-coresharing: hv-no-nonarch-coresharing=on|off|auto onto
// 0x40000004.EAX[18], as QEMU's hyperv_fill_cpuids: on sets it, off never,
// auto copies what KVM reports. Where no KVM answers (here, the direct
// backend) auto is off with a warning (README.md, "Choices").
#include "enlight_test.hpp"

#include "setup.hpp"  // core/src/backend/kvm: with_host_reports

#include <gmock/gmock.h>

namespace enlight::test {
namespace {

using ::testing::HasSubstr;

constexpr uint32_t kBit = HV_RECOMMEND_NO_NON_ARCHITECTURAL_CORE_SHARING;

uint32_t recommendations(DirectVm& d) { return d.cpuid(0, HV_CPUID_ENLIGHTENMENT_INFO).eax; }

TEST(NoNonarchCoresharing, OnSetsTheBit) {
  for (const char* flags : {"hv-no-nonarch-coresharing=on", "hv-no-nonarch-coresharing", "hv_no_nonarch_coresharing=on"}) {
    SCOPED_TRACE(flags);
    auto d = make_vm(std::string("hv-relaxed,") + flags);
    EXPECT_EQ(recommendations(*d), kBit | HV_RECOMMEND_RELAXED_TIMING);
  }
}

TEST(NoNonarchCoresharing, OffNeverSetsItAndEnablesNothing) {
  auto d = make_vm("hv-relaxed,hv-no-nonarch-coresharing=off");
  EXPECT_EQ(recommendations(*d), HV_RECOMMEND_RELAXED_TIMING);
  for (const LoadedPlugin& p : d->vm().plugins()) EXPECT_NE(p.manifest->name, "no-nonarch-coresharing");
  // Alone, off leaves Hyper-V off, as in QEMU (no hypervisor leaves).
  auto alone = make_vm("hv-no-nonarch-coresharing=off");
  EXPECT_TRUE(alone->vm().plugins().empty());
  EXPECT_EQ(alone->cpuid(0, HV_CPUID_VENDOR_AND_MAX_FUNCTIONS), CpuidValue{});
}

TEST(NoNonarchCoresharing, LaterFlagsWin) {
  const Catalog catalog = Catalog::discover(plugin_dir());
  Profile p = parse_cpu_flags("hv-no-nonarch-coresharing=auto,hv-no-nonarch-coresharing=off", catalog);
  EXPECT_TRUE(p.plugins.empty());
  EXPECT_TRUE(p.option_only.empty()) << "no leftover mode to warn about";
  p = parse_cpu_flags("hv-no-nonarch-coresharing=off,hv-no-nonarch-coresharing=auto", catalog);
  ASSERT_EQ(p.plugins.size(), 1u);
  EXPECT_EQ(p.plugins[0].name, "no-nonarch-coresharing");
  EXPECT_EQ(p.plugins[0].options.at("mode").text, "auto");
  p = parse_cpu_flags("hv-no-nonarch-coresharing=on,hv-no-nonarch-coresharing=off,hv-no-nonarch-coresharing", catalog);
  ASSERT_EQ(p.plugins.size(), 1u);
  EXPECT_TRUE(p.plugins[0].options.empty()) << "bare flag: the default mode, on";
}

// Divergence, stated: QEMU's hv-no-nonarch-coresharing=on is no Hyper-V
// feature and turns nothing on by itself; here the flag enables the plugin,
// which needs identity. With any other hv- flag the leaves are the same.
TEST(NoNonarchCoresharing, OnAloneTurnsHyperVOn) {
  auto d = make_vm("hv-no-nonarch-coresharing=on");
  EXPECT_EQ(recommendations(*d), kBit);
  EXPECT_EQ(d->cpuid(0, HV_CPUID_VENDOR_AND_MAX_FUNCTIONS).eax, HV_CPUID_MIN_MAX_LEAF);
}

TEST(NoNonarchCoresharing, AutoWithoutAKvmAnswerIsOffWithAWarning) {
  LogCapture log;
  VmOptions o;
  o.log = log.sink();
  auto d = make_vm("hv-relaxed,hv-no-nonarch-coresharing=auto", 1, o);
  EXPECT_EQ(recommendations(*d), HV_RECOMMEND_RELAXED_TIMING);
  EXPECT_THAT(log.text("no-nonarch-coresharing", 1), HasSubstr("bit 18 stays clear"));
}

TEST(NoNonarchCoresharing, AutoCopiesWhatTheHostReports) {
  auto on = make_vm_from_profile("enlightenments:\n  - relaxed\n  - no-nonarch-coresharing: { mode: auto, host-reports: \"on\" }\n");
  EXPECT_EQ(recommendations(*on), kBit | HV_RECOMMEND_RELAXED_TIMING);
  auto off = make_vm_from_profile("enlightenments:\n  - relaxed\n  - no-nonarch-coresharing: { mode: auto, host-reports: \"off\" }\n");
  EXPECT_EQ(recommendations(*off), HV_RECOMMEND_RELAXED_TIMING);
  // on and off ignore what the host reports.
  auto forced = make_vm_from_profile("enlightenments:\n  - no-nonarch-coresharing: { mode: \"on\", host-reports: \"off\" }\n");
  EXPECT_EQ(recommendations(*forced), kBit);
  auto never = make_vm_from_profile("enlightenments:\n  - no-nonarch-coresharing: { mode: \"off\", host-reports: \"on\" }\n");
  EXPECT_EQ(recommendations(*never), 0u);
}

TEST(NoNonarchCoresharing, BadValuesAreRefusedWithTheFix) {
  try {
    make_vm("hv-relaxed,hv-no-nonarch-coresharing=yes");
    FAIL() << "mode 'yes' was accepted";
  } catch (const std::exception& e) {
    EXPECT_THAT(e.what(), HasSubstr("mode 'yes' is none of on, off, auto"));
    EXPECT_THAT(e.what(), HasSubstr("hv-no-nonarch-coresharing=on, =off or =auto"));
  }
  try {
    make_vm("hv-no-nonarch-coresharing=automatic");
    FAIL() << "a mode longer than the manifest allows was accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.where().file, "<flags>");  // points at the flag
  }
  try {
    make_vm_from_profile("enlightenments:\n  - no-nonarch-coresharing: { mode: auto, host-reports: maybe }\n");
    FAIL() << "host-reports 'maybe' was accepted";
  } catch (const std::exception& e) {
    EXPECT_THAT(e.what(), HasSubstr("host-reports is 'maybe'"));
  }
}

TEST(NoNonarchCoresharing, ClaimsNoMsr) {
  auto d = make_vm("hv-no-nonarch-coresharing");
  for (uint32_t i = HV_X64_MSR_SYNTHETIC_FIRST; i <= HV_X64_MSR_SYNTHETIC_LAST; ++i) {
    const bool identity = i == HV_X64_MSR_GUEST_OS_ID || i == HV_X64_MSR_HYPERCALL || i == HV_X64_MSR_VP_ASSIST_PAGE;
    EXPECT_EQ(d->rdmsr(0, i).ok(), identity) << std::hex << i;
  }
}

// The kvm backend's half: what KVM_GET_SUPPORTED_HV_CPUID said becomes the
// plugin's host-reports option before the VM is created.
TEST(NoNonarchCoresharingKvm, HostReportsComesFromKvmsLeaf4) {
  const Catalog catalog = Catalog::discover(plugin_dir());
  const Resolution r = resolve(parse_cpu_flags("hv-relaxed,hv-no-nonarch-coresharing=auto", catalog), catalog,
                               direct::capabilities());
  auto host_reports = [](const Resolution& res) {
    for (const ResolvedPlugin& p : res.plugins)
      for (const TypedOption& o : p.options)
        if (p.manifest->name == "no-nonarch-coresharing" && o.name == "host-reports") return o.str;
    return std::string("(none)");
  };
  EXPECT_EQ(host_reports(r), "unknown");
  HvCpuidLeaf smt_impossible{HV_CPUID_ENLIGHTENMENT_INFO, {0x00000E2C | kBit, 0xFFF, 0, 0}};
  HvCpuidLeaf smt_possible{HV_CPUID_ENLIGHTENMENT_INFO, {0x00000E2C, 0xFFF, 0, 0}};
  EXPECT_EQ(host_reports(kvm::with_host_reports(r, {smt_impossible}, true)), "on");
  EXPECT_EQ(host_reports(kvm::with_host_reports(r, {smt_possible}, true)), "off");
  EXPECT_EQ(host_reports(kvm::with_host_reports(r, {}, true)), "off");
  EXPECT_EQ(host_reports(kvm::with_host_reports(r, {smt_impossible}, false)), "unknown");
  // And the plugin turns that into the bit.
  auto d = direct::DirectVm::create(kvm::with_host_reports(r, {smt_impossible}, true));
  EXPECT_EQ(recommendations(*d), kBit | HV_RECOMMEND_RELAXED_TIMING);
}

}  // namespace
}  // namespace enlight::test
