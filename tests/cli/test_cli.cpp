// The `enlight` binary as a user runs it: exit codes, the errors printed,
// and `cpuid --json` compared with what QEMU+KVM gives for the same flags
// (../shared/reference/hyperv-facts.md sections 1-2).
#include <gtest/gtest.h>

#include <enlight/tlfs.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <map>
#include <regex>
#include <string>
#include <sys/wait.h>

#include "cli_runner.hpp"

namespace {

using enlight_cli_test::Invocation;
using enlight_cli_test::run;

struct Regs {
  uint32_t eax, ebx, ecx, edx;
  bool operator==(const Regs&) const = default;
};

std::map<uint32_t, Regs> parse_cpuid_json(const std::string& json) {
  std::map<uint32_t, Regs> leaves;
  static const std::regex obj(
      R"re(\{"leaf": (\d+), "subleaf": (\d+), "eax": (\d+), "ebx": (\d+), "ecx": (\d+), "edx": (\d+)\})re");
  for (auto it = std::sregex_iterator(json.begin(), json.end(), obj); it != std::sregex_iterator(); ++it) {
    const auto& m = *it;
    leaves[static_cast<uint32_t>(std::stoul(m[1]))] = {static_cast<uint32_t>(std::stoul(m[3])), static_cast<uint32_t>(std::stoul(m[4])),
                                                       static_cast<uint32_t>(std::stoul(m[5])), static_cast<uint32_t>(std::stoul(m[6]))};
  }
  return leaves;
}

std::string fixtures(const char* name) { return std::string(ENLIGHT_TEST_SOURCE_DIR) + "/tests/cli/profiles/" + name; }

TEST(Cli, VersionAndHelp) {
  Invocation v = run("--version");
  EXPECT_EQ(v.status, 0);
  EXPECT_NE(v.out.find("plugin ABI 1."), std::string::npos) << v.out;
  Invocation h = run("--help");
  EXPECT_EQ(h.status, 0);
  EXPECT_NE(h.out.find("check"), std::string::npos);
  EXPECT_NE(h.out.find("cpuid"), std::string::npos);
  EXPECT_NE(h.out.find("plugins"), std::string::npos);
}

TEST(Cli, UnknownCommandAndOptionAreUsageErrors) {
  EXPECT_EQ(run("frobnicate").status, 2);
  EXPECT_EQ(run("check --bogus").status, 2);
  EXPECT_EQ(run("cpuid --cpu").status, 2);
}

TEST(Cli, CheckDefaultProfileSucceedsAndListsOrder) {
  Invocation r = run("check");
  ASSERT_EQ(r.status, 0) << r.out;
  // identity is required by every other plugin, so it is created first.
  const auto identity = r.out.find(" identity ");
  const auto vpindex = r.out.find(" vpindex ");
  ASSERT_NE(identity, std::string::npos) << r.out;
  ASSERT_NE(vpindex, std::string::npos) << r.out;
  EXPECT_LT(identity, vpindex);
}

TEST(Cli, UnknownFlagIsNamed) {
  Invocation r = run("check --cpu hv-relaxed,hv-nosuchthing");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("hv-nosuchthing"), std::string::npos) << r.out;
}

TEST(Cli, MissingRequirementIsNamedWithFix) {
  // stimer-like fixture: 'needy' requires 'provider', which the profile
  // does not enable.
  Invocation r = run("--plugin-path " + std::string(ENLIGHT_TEST_SOURCE_DIR) + "/tests/cli/manifests check " + fixtures("needy.yaml"));
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("needy"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("provider"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fix:"), std::string::npos) << r.out;
}

TEST(Cli, DoubleClaimNamesBothPlugins) {
  Invocation r = run("--plugin-path " + std::string(ENLIGHT_TEST_SOURCE_DIR) + "/tests/cli/manifests check " + fixtures("clash.yaml"));
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("clash-a"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("clash-b"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("0x40000002"), std::string::npos) << r.out;
}

// The traps that load and run but cannot work (tools/enlight/check_traps.cpp),
// with real fixture plugins: each named with its manifest line and a fix.
std::string fixture_case(const char* name) { return std::string(ENLIGHT_TEST_BINARY_DIR) + "/tests/fixtures/" + name; }

TEST(Cli, CheckWarnsOfAGateNothingAdvertises) {
  Invocation r = run("--plugin-path " + fixture_case("trap-gate") + " check --cpu hv-trap-gate");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("warning: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("trap-gate.yaml:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("gated on 0x40000003.eax[13]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fix:"), std::string::npos) << r.out;
}

TEST(Cli, CheckWarnsOfHypercallsWithoutIdentity) {
  // identity is enabled here (by the flag list), and the warning still
  // comes: the plugin only works while something else pulls identity in.
  Invocation r = run("--plugin-path " + fixture_case("trap-no-identity") + " check --cpu hv-vpindex,hv-trap-no-identity");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("'trap-no-identity' claims hypercalls but does not require identity"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("requires"), std::string::npos) << r.out;
}

TEST(Cli, CheckOfTheShippedProfilesNamesNoTrap) {
  for (const char* profile : {"recommended", "recommended-vmbus", "recommended-vmbus-net", "minimal"}) {
    Invocation r = run(std::string("check ") + profile);
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(r.out.find("warning: "), std::string::npos) << profile << "\n" << r.out;
  }
}

// What QEMU+KVM put in 0x40000000-0x40000005 for a set of features.
std::map<uint32_t, Regs> qemu_leaves(uint32_t features_eax, uint32_t features_edx, uint32_t recommend_eax,
                                     uint32_t spinlocks, Regs vendor = {0x40000005, HV_CPUID_SIGNATURE_EBX,
                                                                        HV_CPUID_SIGNATURE_ECX, HV_CPUID_SIGNATURE_EDX}) {
  return {
      {0x40000000, vendor},
      {0x40000001, {HV_CPUID_INTERFACE_SIGNATURE, 0, 0, 0}},
      {0x40000002, {0x3839, 0x000A0000, 0, 0}},
      {0x40000003, {features_eax | HV_ACCESS_HYPERCALL_MSRS, 0, 0, features_edx | HV_FEATURE_CPU_DYNAMIC_PARTITIONING_AVAILABLE}},
      {0x40000004, {recommend_eax, spinlocks, 0, 0}},
      {0x40000005, {0xFFFFFFFF, 64, 0, 0}},
  };
}

TEST(Cli, CpuidJsonMatchesQemuForRelaxedVpindexRuntime) {
  Invocation r = run("cpuid --cpu hv-relaxed,hv-vpindex,hv-runtime --json");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(parse_cpuid_json(r.out),
            qemu_leaves(HV_ACCESS_VP_INDEX | HV_ACCESS_VP_RUNTIME_REG, 0, HV_RECOMMEND_RELAXED_TIMING, 0xFFFFFFFF));
}

TEST(Cli, CpuidJsonMatchesQemuForCrashFrequenciesResetSpinlocksVendor) {
  Invocation r = run("cpuid --cpu hv-crash,hv-frequencies,hv-reset,hv-spinlocks=0xfff,hv-vendor-id=KVMKVMKVM --json");
  ASSERT_EQ(r.status, 0) << r.out;
  // "KVMKVMKVM" zero-padded to 12 bytes.
  const Regs vendor{0x40000005, 0x4B4D564B, 0x564B4D56, 0x0000004D};
  EXPECT_EQ(parse_cpuid_json(r.out),
            qemu_leaves(HV_ACCESS_FREQUENCY_REGS | HV_ACCESS_RESET_REG,
                        HV_FEATURE_GUEST_CRASH_MSR_AVAILABLE | HV_FEATURE_FREQUENCY_REGS_AVAILABLE, 0, 0xFFF, vendor));
}

TEST(Cli, VendorIdAloneDoesNotTurnHyperVOn) {
  Invocation r = run("cpuid --cpu hv-vendor-id=KVMKVMKVM --json");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(parse_cpuid_json(r.out).empty()) << r.out;
}

// One flag at a time, the newer and nested flags (docs/nested-flags.md):
// `cpuid --json` against QEMU's values, the nested leaves included. hv-evmcs
// is refused: `cpuid` resolves on the direct backend, which cannot have it.
TEST(Cli, CpuidJsonMatchesQemuForEachNestedAndNewerFlag) {
  const Regs max_leaf_a{0x4000000A, HV_CPUID_SIGNATURE_EBX, HV_CPUID_SIGNATURE_ECX, HV_CPUID_SIGNATURE_EDX};
  auto nested = [&](std::map<uint32_t, Regs> leaves, uint32_t nested_eax) {
    leaves[0x40000000] = max_leaf_a;
    for (uint32_t leaf = 0x40000006; leaf <= 0x40000009; ++leaf) leaves[leaf] = {0, 0, 0, 0};
    leaves[0x4000000A] = {nested_eax, 0, 0, 0};
    return leaves;
  };
  const struct {
    const char* flags;
    std::map<uint32_t, Regs> expected;
  } cases[] = {
      {"hv-xmm-input", qemu_leaves(0, 1u << 4, 0, 0xFFFFFFFF)},
      {"hv-vpindex,hv-tlbflush,hv-tlbflush-ext", qemu_leaves(1u << 6, 1u << 14, (1u << 2) | (1u << 11), 0xFFFFFFFF)},
      {"hv-relaxed,hv-no-nonarch-coresharing=on", qemu_leaves(0, 0, (1u << 5) | (1u << 18), 0xFFFFFFFF)},
      {"hv-relaxed,hv-no-nonarch-coresharing=off", qemu_leaves(0, 0, 1u << 5, 0xFFFFFFFF)},
      {"hv-emsr-bitmap", nested(qemu_leaves(0, 0, 0, 0xFFFFFFFF), 1u << 19)},
      {"hv-vapic,hv-tlbflush-direct", nested(qemu_leaves(1u << 4, 0, 1u << 3, 0xFFFFFFFF), 1u << 17)},
      {"hv-reenlightenment", qemu_leaves(1u << 13, 0, 0, 0xFFFFFFFF)},
      {"hv-vpindex,hv-tlbflush", qemu_leaves(1u << 6, 0, (1u << 2) | (1u << 11), 0xFFFFFFFF)},
      {"hv-vpindex,hv-ipi", qemu_leaves(1u << 6, 0, (1u << 10) | (1u << 11), 0xFFFFFFFF)},
  };
  for (const auto& c : cases) {
    Invocation r = run(std::string("cpuid --cpu ") + c.flags + " --json");
    ASSERT_EQ(r.status, 0) << c.flags << "\n" << r.out;
    EXPECT_EQ(parse_cpuid_json(r.out), c.expected) << c.flags;
  }
  Invocation r = run("cpuid --cpu hv-vapic,hv-evmcs --json");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("needs host feature 'kvm-enlightened-vmcs', which the direct backend does not have"), std::string::npos)
      << r.out;
}

TEST(Cli, PluginsListsEveryPluginWithItsFlag) {
  Invocation r = run("plugins");
  ASSERT_EQ(r.status, 0) << r.out;
  for (const char* flag : {"hv-relaxed", "hv-vpindex", "hv-runtime", "hv-crash", "hv-reset", "hv-frequencies"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag << "\n" << r.out;
}

}  // namespace

namespace {

std::string slurp(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return {};
  std::string text;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
  std::fclose(f);
  return text;
}

// `enlight new-plugin`: the folder it writes (the install test builds and
// tests one against an installed prefix), and its refusals.
TEST(Cli, NewPluginWritesAFolderWithTheNameFilledIn) {
  char dir_template[] = "/tmp/enlight-new-plugin.XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  Invocation r = run("new-plugin my-probe " + dir);
  ASSERT_EQ(r.status, 0) << r.out;
  const std::string manifest = slurp(dir + "/my-probe/my-probe.yaml");
  EXPECT_NE(manifest.find("name: my-probe\n"), std::string::npos) << manifest;
  EXPECT_NE(manifest.find("flag: hv-my-probe\n"), std::string::npos) << manifest;
  const std::string source = slurp(dir + "/my-probe/my_probe.cpp");
  EXPECT_NE(source.find("ENLIGHT_PLUGIN(enlight::Plugin<Vm, Vcpu>{.msrs = kMsrs})"), std::string::npos);
  EXPECT_NE(source.find("enlight_my_probe_scratch_writes_total"), std::string::npos);
  const std::string cmake = slurp(dir + "/my-probe/CMakeLists.txt");
  EXPECT_NE(cmake.find("enlight_add_plugin(my-probe SOURCES my_probe.cpp)"), std::string::npos) << cmake;
  for (const std::string& text : {manifest, source, cmake, slurp(dir + "/my-probe/my_probe_test.cpp")})
    EXPECT_EQ(text.find('%'), std::string::npos) << "a placeholder was left:\n" << text;

  Invocation again = run("new-plugin my-probe " + dir);
  EXPECT_EQ(again.status, 2);
  EXPECT_NE(again.out.find("already exists"), std::string::npos) << again.out;
  Invocation bad = run("new-plugin My_Probe " + dir);
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.out.find("is not a plugin name"), std::string::npos) << bad.out;
  std::filesystem::remove_all(dir);
}

}  // namespace
