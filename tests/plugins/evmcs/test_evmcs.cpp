// evmcs: the CPUID of hv-evmcs (0x40000004.EAX[14], eVMCS versions 1..1 in
// 0x4000000A.EAX 15:0, max leaf 0x4000000A), and who may have it: only the
// kvm backend on an Intel host whose KVM offers
// KVM_CAP_HYPERV_ENLIGHTENED_VMCS, with vapic offloaded to KVM. Nothing
// here runs a nested guest: no machine enlight is tested on can (README.md).
//
// The direct backend refuses hv-evmcs, so the CPUID tests resolve against
// the direct backend's capabilities plus the kvm backend's eVMCS feature:
// the plugin's contribution, not the backend, is what they check.
#include "enlight_test.hpp"

#include "setup.hpp"  // core/src/backend/kvm

#include <enlight/core/backend/backend.hpp>

#include <gmock/gmock.h>

#include <algorithm>

namespace enlight::test {
namespace {

using ::testing::HasSubstr;

constexpr uint32_t kVersion1to1 = 0x0101;

BackendCaps direct_with_evmcs() {
  BackendCaps caps = direct::capabilities();
  caps.features.push_back("kvm-enlightened-vmcs");
  return caps;
}

struct Built {
  Catalog catalog;
  std::unique_ptr<DirectVm> vm;
};
Built build(const std::string& flags, const BackendCaps& caps = direct_with_evmcs(), uint32_t vcpus = 1) {
  Built b{Catalog::discover(plugin_dir()), nullptr};
  Profile p = parse_cpu_flags(flags, b.catalog);
  p.vcpus = vcpus;
  b.vm = DirectVm::create(resolve(p, b.catalog, caps));
  return b;
}

ConfigError refusal(const std::string& flags, const BackendCaps& caps) {
  const Catalog catalog = Catalog::discover(plugin_dir());
  try {
    resolve(parse_cpu_flags(flags, catalog), catalog, caps);
  } catch (const ConfigError& e) {
    return e;
  }
  ADD_FAILURE() << flags << " resolved on " << caps.name;
  return ConfigError({}, "");
}

// ---- CPUID --------------------------------------------------------------

TEST(EvmcsCpuid, RecommendsEvmcsAndAdvertisesVersionOne) {
  Built b = build("hv-vapic,hv-evmcs", direct_with_evmcs(), 2);
  for (uint32_t v = 0; v < 2; ++v) {
    EXPECT_EQ(b.vm->cpuid(v, HV_CPUID_ENLIGHTENMENT_INFO).eax, HV_RECOMMEND_ENLIGHTENED_VMCS | HV_RECOMMEND_MSR_APIC_ACCESS);
    EXPECT_EQ(b.vm->cpuid(v, HV_CPUID_NESTED_OPTIMIZATIONS), (CpuidValue{kVersion1to1, 0, 0, 0}));
    EXPECT_EQ(b.vm->cpuid(v, HV_CPUID_VENDOR_AND_MAX_FUNCTIONS).eax, HV_CPUID_NESTED_OPTIMIZATIONS);
    for (uint32_t leaf = HV_CPUID_HARDWARE_FEATURES; leaf < HV_CPUID_NESTED_OPTIMIZATIONS; ++leaf)
      EXPECT_EQ(b.vm->cpuid(v, leaf), CpuidValue{}) << std::hex << leaf;
  }
  EXPECT_TRUE(b.vm->vm().bus().cpuid_table().has(HV_CPUID_NESTED_FEATURES)) << "0x40000006-9 exist, zero-filled";
}

TEST(EvmcsCpuid, VersionFieldLeavesTheOtherNestedBitsToTheirPlugins) {
  Built b = build("hv-vapic,hv-evmcs,hv-emsr-bitmap,hv-tlbflush-direct");
  EXPECT_EQ(b.vm->cpuid(0, HV_CPUID_NESTED_OPTIMIZATIONS).eax, kVersion1to1 | HV_NESTED_DIRECT_FLUSH | HV_NESTED_MSR_BITMAP);
}

TEST(EvmcsCpuid, OffMeansNoNestedLeaves) {
  Built b = build("hv-vapic,hv-evmcs,hv-evmcs=off");
  EXPECT_EQ(b.vm->cpuid(0, HV_CPUID_ENLIGHTENMENT_INFO).eax & HV_RECOMMEND_ENLIGHTENED_VMCS, 0u);
  EXPECT_EQ(b.vm->cpuid(0, HV_CPUID_VENDOR_AND_MAX_FUNCTIONS).eax, HV_CPUID_MIN_MAX_LEAF);
  EXPECT_FALSE(b.vm->vm().bus().cpuid_table().has(HV_CPUID_NESTED_OPTIMIZATIONS));
}

TEST(EvmcsCpuid, ClaimsNoMsr) {
  Built with = build("hv-vapic,hv-evmcs"), without = build("hv-vapic");
  for (uint32_t i = HV_X64_MSR_SYNTHETIC_FIRST; i <= HV_X64_MSR_SYNTHETIC_LAST; ++i)
    EXPECT_EQ(with.vm->rdmsr(0, i).ok(), without.vm->rdmsr(0, i).ok()) << std::hex << i;
}

// ---- who may have it ----------------------------------------------------

TEST(EvmcsRefused, WithoutVapic) {
  const ConfigError e = refusal("hv-evmcs", direct_with_evmcs());
  EXPECT_THAT(e.what(), HasSubstr("evmcs requires vapic, which is not enabled"));
  EXPECT_THAT(e.what(), HasSubstr("hv-vapic"));
}

TEST(EvmcsRefused, OnTheDirectBackend) {
  const ConfigError e = refusal("hv-vapic,hv-evmcs", direct::capabilities());
  EXPECT_THAT(e.what(), HasSubstr("plugin 'evmcs' needs host feature 'kvm-enlightened-vmcs', which the direct backend does not have"));
  EXPECT_THAT(e.where().file, HasSubstr("evmcs.yaml"));  // the host-features line, whose comment says why
  // and so do the tools that resolve on it (DirectVm::from_flags is what
  // `enlight check` and `enlight cpuid` use).
  EXPECT_THROW(make_vm("hv-vapic,hv-evmcs"), ConfigError);
}

TEST(EvmcsRefused, OnTheEmuBackend) {
  BackendCaps caps;
  try {
    caps = backend_capabilities(BackendKind::Emu);
  } catch (const std::exception& e) {
    GTEST_SKIP() << "no emu backend in this build: " << e.what();
  }
  const ConfigError e = refusal("hv-vapic,hv-evmcs", caps);
  EXPECT_THAT(e.what(), HasSubstr("plugin 'evmcs' needs host feature 'intel-vmx', which the emu backend does not have"));
}

TEST(EvmcsRefused, OnKvmOnAnAmdHost) {
  for (bool cap : {false, true}) {  // an AMD KVM never offers the capability; refused even if it did
    const ConfigError e = refusal("hv-vapic,hv-evmcs", BackendCaps{"kvm", kvm::host_features(true, cap), true, false, {}, {}});
    EXPECT_THAT(e.what(), HasSubstr("plugin 'evmcs' needs host feature 'intel-vmx', which the kvm backend does not have"));
  }
}

TEST(EvmcsRefused, OnKvmOnAnIntelHostWithoutTheCapability) {
  const ConfigError e = refusal("hv-vapic,hv-evmcs", BackendCaps{"kvm", kvm::host_features(false, false), true, false, {}, {}});
  EXPECT_THAT(e.what(), HasSubstr("needs host feature 'kvm-enlightened-vmcs', which the kvm backend does not have"));
}

TEST(EvmcsKvm, IntelWithTheCapabilityResolves) {
  const Catalog catalog = Catalog::discover(plugin_dir());
  const BackendCaps caps{"kvm", kvm::host_features(false, true), true, false, {}, {}};
  EXPECT_THAT(caps.features, ::testing::Contains("intel-vmx"));
  const Resolution r = resolve(parse_cpu_flags("hv-vapic,hv-evmcs", catalog), catalog, caps);
  EXPECT_TRUE(std::any_of(r.plugins.begin(), r.plugins.end(), [](const ResolvedPlugin& p) { return p.manifest->name == "evmcs"; }));
  // ... but the kvm backend wants vapic offloaded to KVM, which reads the
  // current eVMCS from the VP assist page.
  EXPECT_THAT(kvm::evmcs_refusal(r), HasSubstr("fix: add --offload vapic"));
  Profile p = parse_cpu_flags("hv-vapic,hv-evmcs", catalog);
  for (PluginRequest& req : p.plugins)
    if (req.name == "vapic") req.offload = "kvm";
  EXPECT_EQ(kvm::evmcs_refusal(resolve(p, catalog, caps)), "");
  EXPECT_EQ(kvm::evmcs_refusal(resolve(parse_cpu_flags("hv-vapic", catalog), catalog, caps)), "") << "no evmcs, no condition";
}

// Unlike QEMU's, hv-passthrough leaves hv-evmcs out even where KVM reports
// it: it would need vapic offloaded, which passthrough cannot choose.
TEST(EvmcsKvm, NotInPassthroughEvenWhereKvmReportsIt) {
  const Catalog catalog = Catalog::discover(plugin_dir());
  BackendCaps caps{"kvm", kvm::host_features(false, true), true, false, {}, {}};
  caps.narrows_passthrough = true;
  caps.hv_supported = {{HV_CPUID_FEATURES, {0xAAFF, 0x100830, 0, 0x84D12}},
                       {HV_CPUID_ENLIGHTENMENT_INFO, {0xE2C | HV_RECOMMEND_ENLIGHTENED_VMCS, 0xFFF, 0, 0}},
                       {HV_CPUID_NESTED_OPTIMIZATIONS, {0xA0101, 0, 0, 0}}};
  const Resolution r = resolve(parse_cpu_flags("hv-passthrough", catalog), catalog, caps);
  EXPECT_FALSE(std::any_of(r.plugins.begin(), r.plugins.end(), [](const ResolvedPlugin& p) { return p.manifest->name == "evmcs"; }));
  EXPECT_TRUE(std::any_of(r.plugins.begin(), r.plugins.end(), [](const ResolvedPlugin& p) { return p.manifest->name == "vapic"; }));
  EXPECT_EQ(kvm::evmcs_refusal(r), "");
}

// What /dev/kvm on this machine says, whatever it is: the feature appears
// exactly when the kvm backend can run an eVMCS, and hv-evmcs resolves
// exactly then.
TEST(EvmcsKvm, TheLocalKvmAnswersConsistently) {
  const BackendCaps caps = backend_capabilities(BackendKind::Kvm);
  const bool has = std::find(caps.features.begin(), caps.features.end(), "kvm-enlightened-vmcs") != caps.features.end();
  if (kvm::host_is_amd()) {
    EXPECT_FALSE(has);
  }
  const Catalog catalog = Catalog::discover(plugin_dir());
  if (has) {
    EXPECT_NO_THROW(resolve(parse_cpu_flags("hv-vapic,hv-evmcs", catalog), catalog, caps));
  } else {
    const ConfigError e = refusal("hv-vapic,hv-evmcs", caps);
    // On an AMD host (the development machine's PVM, the CI's nested
    // stage) this is the real kvm-on-AMD refusal.
    EXPECT_THAT(e.what(), HasSubstr(kvm::host_is_amd() ? "needs host feature 'intel-vmx', which the kvm backend does not have"
                                                       : "needs host feature 'kvm-enlightened-vmcs', which the kvm backend"));
  }
  RecordProperty("kvm_enlightened_vmcs", has ? "yes" : "no");
}

TEST(EvmcsKvm, VersionRangeMustCoverOne) {
  EXPECT_TRUE(kvm::evmcs_version_supported(0x0101));   // what KVM returns today (KVM_EVMCS_VERSION 1)
  EXPECT_TRUE(kvm::evmcs_version_supported(0x0201));   // 1..2
  EXPECT_TRUE(kvm::evmcs_version_supported(0x0100));   // 0..1
  EXPECT_FALSE(kvm::evmcs_version_supported(0x0202));  // 2..2
  EXPECT_FALSE(kvm::evmcs_version_supported(0x0000));  // nothing
  EXPECT_FALSE(kvm::evmcs_version_supported(0x0002));  // low above high
}

}  // namespace
}  // namespace enlight::test
