// stimer: CPUID, resolution of the flags, and the STIMERn_CONFIG/COUNT
// registers themselves (reset values, read-back, #GP cases, enforce-cpuid,
// host writes). Expiry behaviour is in test_stimer_expiry.cpp.
#include "stimer_test.hpp"

#include <enlight/core/backend/direct.hpp>

namespace enlight::test::stimer {
namespace {

// ---- CPUID -----------------------------------------------------------------

TEST(StimerCpuid, StimerSetsAccessSyntheticTimerRegs) {
  auto d = make_vm(kFlags, 2);
  for (uint32_t v = 0; v < 2; ++v) {
    const CpuidValue f = d->cpuid(v, HV_CPUID_FEATURES);
    EXPECT_TRUE(f.eax & HV_ACCESS_SYNTHETIC_TIMER_REGS) << hex(f.eax);
    // Direct mode is not offered without hv-stimer-direct (QEMU).
    EXPECT_FALSE(f.edx & HV_FEATURE_DIRECT_SYNTHETIC_TIMERS_AVAILABLE) << hex(f.edx);
  }
}

TEST(StimerCpuid, StimerDirectSetsEdxBit19) {
  auto d = make_vm(kDirectFlags, 2);
  for (uint32_t v = 0; v < 2; ++v) {
    const CpuidValue f = d->cpuid(v, HV_CPUID_FEATURES);
    EXPECT_TRUE(f.eax & HV_ACCESS_SYNTHETIC_TIMER_REGS);
    EXPECT_TRUE(f.edx & HV_FEATURE_DIRECT_SYNTHETIC_TIMERS_AVAILABLE);
  }
}

TEST(StimerCpuid, OnlyItsOwnBitsDifferFromTheSameFlagsWithoutStimer) {
  // What hv-stimer adds to QEMU's leaves, whatever the other plugins set:
  // 0x40000003.EAX[3], and EDX[19] with hv-stimer-direct. Nothing else.
  auto without = make_vm("hv-vpindex,hv-synic,hv-time");
  auto with = make_vm(kFlags);
  auto direct = make_vm(kDirectFlags);
  for (uint32_t leaf = HV_CPUID_VENDOR_AND_MAX_FUNCTIONS; leaf <= HV_CPUID_NESTED_OPTIMIZATIONS; ++leaf) {
    CpuidValue expect = without->cpuid(0, leaf);
    if (leaf == HV_CPUID_FEATURES) expect.eax |= HV_ACCESS_SYNTHETIC_TIMER_REGS;
    EXPECT_EQ(with->cpuid(0, leaf), expect) << std::hex << leaf;
    if (leaf == HV_CPUID_FEATURES) expect.edx |= HV_FEATURE_DIRECT_SYNTHETIC_TIMERS_AVAILABLE;
    EXPECT_EQ(direct->cpuid(0, leaf), expect) << std::hex << leaf;
  }
}

// ---- Resolution of the flags -------------------------------------------------

TEST(StimerFlags, NeedsSynicTimeAndVpindex) {
  // QEMU: hv-stimer requires hv-synic and hv-time (and hv-synic hv-vpindex).
  for (const char* flags : {"hv-stimer", "hv-stimer,hv-vpindex,hv-time", "hv-stimer,hv-vpindex,hv-synic",
                            "hv-stimer,hv-synic,hv-time"}) {
    SCOPED_TRACE(flags);
    EXPECT_THROW(make_vm(flags), ConfigError);
  }
}

TEST(StimerFlags, MissingSynicErrorNamesIt) {
  try {
    make_vm("hv-stimer,hv-vpindex,hv-time");
    FAIL() << "resolved without synic";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("synic"), std::string::npos) << e.what();
  }
}

// What resolving `flags` says about stimer: whether it is enabled, its
// `direct` option, and the warnings. (ResolvedPlugin points into the
// catalog, so everything is read while the catalog lives.)
struct StimerResolution {
  bool enabled = false, direct = false;
  std::vector<std::string> warnings;
};

StimerResolution resolve_flags(const std::string& flags) {
  const Catalog catalog = Catalog::discover(plugin_dir());
  const Resolution r = resolve(parse_cpu_flags(flags, catalog), catalog, direct::capabilities());
  StimerResolution out;
  out.warnings = r.warnings;
  for (const auto& p : r.plugins) {
    if (p.manifest->name != "stimer") continue;
    out.enabled = true;
    bool found = false;
    for (const auto& o : p.options)
      if (o.name == "direct") found = true, out.direct = o.u64 != 0;
    EXPECT_TRUE(found) << "no 'direct' option";
  }
  return out;
}

TEST(StimerFlags, StimerDirectAloneIsIgnoredWithAWarning) {
  // QEMU refuses hv-stimer-direct without hv-stimer. The resolver has no
  // such error; the option flag (flag-enables: false) is checked, ignored
  // and warned about, so the guest gets nothing QEMU would not give it.
  const StimerResolution r = resolve_flags("hv-stimer-direct");
  EXPECT_FALSE(r.enabled);
  bool warned = false;
  for (const auto& w : r.warnings) warned |= w.find("'stimer' are ignored") != std::string::npos;
  EXPECT_TRUE(warned);
  // Nor does it turn synthetic timers on together with their providers.
  EXPECT_FALSE(resolve_flags("hv-vpindex,hv-synic,hv-time,hv-stimer-direct").enabled);
}

TEST(StimerFlags, StimerDirectIsABoolInEitherOrder) {
  for (const char* flags : {"hv-vpindex,hv-synic,hv-time,hv-stimer,hv-stimer-direct",
                            "hv-stimer-direct,hv-vpindex,hv-synic,hv-time,hv-stimer",
                            "hv-vpindex,hv-synic,hv-time,hv-stimer,hv-stimer-direct=on"}) {
    const StimerResolution r = resolve_flags(flags);
    EXPECT_TRUE(r.enabled) << flags;
    EXPECT_TRUE(r.direct) << flags;
  }
  const StimerResolution off = resolve_flags(kFlags + ",hv-stimer-direct=off");
  EXPECT_TRUE(off.enabled);
  EXPECT_FALSE(off.direct);
  EXPECT_FALSE(resolve_flags(kFlags).direct);
  EXPECT_THROW(resolve_flags(kFlags + ",hv-stimer-direct=maybe"), ConfigError);
}

TEST(StimerFlags, PassthroughEnablesMessageModeOnly) {
  // hv-passthrough turns on every passthrough plugin; the direct option
  // keeps its default (README: QEMU would add direct mode when KVM has an
  // in-kernel LAPIC).
  auto d = make_vm("hv-passthrough");
  EXPECT_TRUE(d->cpuid(0, HV_CPUID_FEATURES).eax & HV_ACCESS_SYNTHETIC_TIMER_REGS);
  EXPECT_FALSE(d->cpuid(0, HV_CPUID_FEATURES).edx & HV_FEATURE_DIRECT_SYNTHETIC_TIMERS_AVAILABLE);
}

// ---- Registers -------------------------------------------------------------------

TEST(StimerMsrs, ResetValuesAreZero) {
  // TLFS: "When a virtual processor is created and reset, the value of all
  // HV_X64_MSR_STIMERx_CONFIG ... is set to 0"; COUNT likewise.
  auto d = make_vm(kDirectFlags, 3);
  for (uint32_t v = 0; v < 3; ++v)
    for (uint32_t i = HV_X64_MSR_STIMER0_CONFIG; i <= HV_X64_MSR_STIMER3_COUNT; ++i) {
      const MsrRead r = d->rdmsr(v, i);
      EXPECT_TRUE(r.ok()) << std::hex << i;
      EXPECT_EQ(r.value, 0u) << std::hex << i;
    }
}

TEST(StimerMsrs, NeighboursAreNotClaimed) {
  auto d = make_vm(kFlags);
  EXPECT_TRUE(d->rdmsr(0, HV_X64_MSR_STIMER0_CONFIG - 1).gp());
  EXPECT_TRUE(d->rdmsr(0, HV_X64_MSR_STIMER3_COUNT + 1).gp());
}

TEST(StimerMsrs, EveryRegisterReadsBackWhatWasWrittenPerVcpu) {
  auto d = make_vm(kDirectFlags, 2);
  // Disabled configurations, so nothing fires or changes Enable.
  for (uint32_t v = 0; v < 2; ++v)
    for (uint32_t n = 0; n < 4; ++n) {
      const uint64_t config = HV_STIMER_CONFIG_PERIODIC | HV_STIMER_CONFIG_LAZY | HV_STIMER_CONFIG_AUTO_ENABLE |
                              vector(static_cast<uint8_t>(0x20 + n + 4 * v)) | sintx(1 + n + 4 * v);
      ASSERT_EQ(d->wrmsr(v, config_msr(n), config), Access::Ok);
      ASSERT_EQ(d->wrmsr(v, count_msr(n), 0x1000 * (n + 1) + v), Access::Ok);
    }
  for (uint32_t v = 0; v < 2; ++v)
    for (uint32_t n = 0; n < 4; ++n) {
      // AutoEnable plus a non-zero COUNT set Enable (below); the rest is as written.
      const uint64_t config = HV_STIMER_CONFIG_ENABLE | HV_STIMER_CONFIG_PERIODIC | HV_STIMER_CONFIG_LAZY |
                              HV_STIMER_CONFIG_AUTO_ENABLE | vector(static_cast<uint8_t>(0x20 + n + 4 * v)) |
                              sintx(1 + n + 4 * v);
      EXPECT_EQ(d->rdmsr(v, config_msr(n)).value, config) << v << "/" << n;
      EXPECT_EQ(d->rdmsr(v, count_msr(n)).value, 0x1000u * (n + 1) + v) << v << "/" << n;
    }
}

TEST(StimerMsrs, CountTakesAny64BitValue) {
  auto d = make_vm(kFlags);
  for (uint64_t c : {uint64_t{1}, uint64_t{0x8000000000000000}, ~uint64_t{0}, uint64_t{0x123456789ABCDEF0}}) {
    ASSERT_EQ(d->wrmsr(0, count_msr(2), c), Access::Ok);
    EXPECT_EQ(d->rdmsr(0, count_msr(2)).value, c);
  }
}

TEST(StimerMsrs, ReservedConfigBitsAreGp) {
  // Bits 15:13 and 63:20 are RsvdZ (TLFS); each one alone is #GP and the
  // register keeps its value. Every other bit is writable (DirectMode with
  // the direct option and a valid vector).
  auto d = make_vm(kDirectFlags);
  const uint64_t base = vector(kDirectVector) | sintx(kSint);  // disabled, so nothing runs
  ASSERT_EQ(d->wrmsr(0, config_msr(0), base), Access::Ok);
  for (uint32_t bit = 0; bit < 64; ++bit) {
    const uint64_t value = base | (uint64_t{1} << bit);
    const bool reserved = (HV_STIMER_CONFIG_RSVDZ_MASK >> bit) & 1;
    EXPECT_EQ(d->wrmsr(0, config_msr(0), value), reserved ? Access::GP : Access::Ok) << "bit " << bit;
    EXPECT_EQ(d->rdmsr(0, config_msr(0)).value, reserved ? base : value) << "bit " << bit;
    ASSERT_EQ(d->wrmsr(0, config_msr(0), base), Access::Ok);
  }
  EXPECT_EQ(HV_STIMER_CONFIG_RSVDZ_MASK, 0xFFFFFFFFFFF0E000u);  // 63:20 and 15:13, the TLFS table
}

TEST(StimerMsrs, DirectModeWithoutTheOptionIsGp) {
  auto d = make_vm(kFlags);
  for (uint64_t config : {HV_STIMER_CONFIG_DIRECT_MODE | vector(kDirectVector),
                          direct_config(), direct_config(kDirectVector, true)}) {
    EXPECT_EQ(d->wrmsr(0, config_msr(1), config), Access::GP) << hex(config);
    EXPECT_EQ(d->rdmsr(0, config_msr(1)).value, 0u);
  }
  // ApicVector alone is only meaningful in direct mode: stored, harmless.
  EXPECT_EQ(d->wrmsr(0, config_msr(1), vector(kDirectVector)), Access::Ok);
}

TEST(StimerMsrs, DirectModeNeedsAVectorOf16OrMore) {
  auto d = make_vm(kDirectFlags);
  for (uint8_t v : {uint8_t{0}, uint8_t{2}, uint8_t{15}}) {
    EXPECT_EQ(d->wrmsr(0, config_msr(0), direct_config(v)), Access::GP) << int(v);
    EXPECT_EQ(d->wrmsr(0, config_msr(0), HV_STIMER_CONFIG_DIRECT_MODE | vector(v)), Access::GP) << int(v);
  }
  EXPECT_EQ(d->rdmsr(0, config_msr(0)).value, 0u);
  for (uint8_t v : {uint8_t{16}, uint8_t{0x40}, uint8_t{0xFF}}) {
    EXPECT_EQ(d->wrmsr(0, config_msr(0), direct_config(v)), Access::Ok) << int(v);
    EXPECT_EQ(d->rdmsr(0, config_msr(0)).value, direct_config(v));
  }
}

TEST(StimerMsrs, EnablingAMessageTimerOnSint0ClearsEnable) {
  // TLFS: "It is not permitted to set the SINTx field to zero for an
  // enabled timer (that is not in direct mode). If attempted, the timer
  // will be marked disabled (that is, bit 0 cleared) immediately."
  auto d = make_vm(kDirectFlags);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), 100), Access::Ok);
  for (uint64_t config : {HV_STIMER_CONFIG_ENABLE, HV_STIMER_CONFIG_ENABLE | HV_STIMER_CONFIG_PERIODIC,
                          HV_STIMER_CONFIG_ENABLE | HV_STIMER_CONFIG_AUTO_ENABLE | vector(kDirectVector)}) {
    EXPECT_EQ(d->wrmsr(0, config_msr(0), config), Access::Ok);
    EXPECT_EQ(d->rdmsr(0, config_msr(0)).value, config & ~HV_STIMER_CONFIG_ENABLE) << hex(config);
  }
  // Direct mode has no SINT: Enable stays.
  EXPECT_EQ(d->wrmsr(0, config_msr(0), direct_config()), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, config_msr(0)).value, direct_config());
  // A disabled timer may name SINT 0.
  EXPECT_EQ(d->wrmsr(0, config_msr(0), HV_STIMER_CONFIG_PERIODIC), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, config_msr(0)).value, HV_STIMER_CONFIG_PERIODIC);
}

TEST(StimerMsrs, AutoEnableSetsEnableOnANonZeroCount) {
  // TLFS: "If AutoEnable is set, then writing a non-zero value to the
  // corresponding count register will cause Enable to be set".
  auto d = make_vm(kFlags);
  const uint64_t config = HV_STIMER_CONFIG_AUTO_ENABLE | sintx(kSint);
  ASSERT_EQ(d->wrmsr(0, config_msr(3), config), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, config_msr(3)).value, config);
  ASSERT_EQ(d->wrmsr(0, count_msr(3), 1000), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, config_msr(3)).value, config | HV_STIMER_CONFIG_ENABLE);
  // Writing 0 stops it "independent of the setting of AutoEnable".
  ASSERT_EQ(d->wrmsr(0, count_msr(3), 0), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, config_msr(3)).value, config);
  EXPECT_EQ(d->rdmsr(0, count_msr(3)).value, 0u);
}

TEST(StimerMsrs, WithoutAutoEnableCountDoesNotEnable) {
  auto d = make_vm(kFlags);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), sintx(kSint)), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), 1000), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, config_msr(0)).value, sintx(kSint));
}

TEST(StimerMsrs, AutoEnableOnSint0StaysDisabled) {
  // The SINTx rule holds however Enable would be set.
  auto d = make_vm(kFlags);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), HV_STIMER_CONFIG_AUTO_ENABLE), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, count_msr(0), 1000), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, config_msr(0)).value, HV_STIMER_CONFIG_AUTO_ENABLE);
}

TEST(StimerMsrs, CountZeroClearsEnable) {
  auto d = make_vm(kFlags);
  ASSERT_EQ(d->wrmsr(0, count_msr(1), 1000), Access::Ok);
  ASSERT_EQ(d->wrmsr(0, config_msr(1), message_config(kSint, true)), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, config_msr(1)).value, message_config(kSint, true));
  ASSERT_EQ(d->wrmsr(0, count_msr(1), 0), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, config_msr(1)).value, message_config(kSint, true) & ~HV_STIMER_CONFIG_ENABLE);
}

TEST(StimerMsrs, EnabledWithCountZeroStaysEnabledAndIdle) {
  // Enable then COUNT is the TLFS's order reversed; the timer is enabled
  // but has nothing to count (KVM keeps Enable too).
  auto d = make_vm(kFlags);
  setup_synic(*d, 0);
  ASSERT_EQ(d->wrmsr(0, config_msr(0), message_config()), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, config_msr(0)).value, message_config());
  at(*d, 10 * kUnitsPerMs);
  EXPECT_TRUE(read_slot(*d, 0).empty());
}

// ---- Host (state restore) writes ---------------------------------------------

TEST(StimerHost, CountWritesHaveNoGuestSideEffects) {
  // KVM: a host COUNT write neither disables on 0 nor auto-enables, so a
  // restore can write the two registers in either order.
  auto d = make_vm(kFlags);
  ASSERT_EQ(d->host_wrmsr(0, config_msr(0), HV_STIMER_CONFIG_AUTO_ENABLE | sintx(kSint)), Access::Ok);
  ASSERT_EQ(d->host_wrmsr(0, count_msr(0), 500), Access::Ok);
  EXPECT_EQ(d->host_rdmsr(0, config_msr(0)).value, HV_STIMER_CONFIG_AUTO_ENABLE | sintx(kSint));
  ASSERT_EQ(d->host_wrmsr(0, config_msr(1), message_config()), Access::Ok);
  ASSERT_EQ(d->host_wrmsr(0, count_msr(1), 0), Access::Ok);
  EXPECT_EQ(d->host_rdmsr(0, config_msr(1)).value, message_config());
}

TEST(StimerHost, RestoredTimerRuns) {
  auto d = make_vm(kFlags);
  setup_synic(*d, 0);
  ASSERT_EQ(d->host_wrmsr(0, config_msr(2), message_config()), Access::Ok);
  ASSERT_EQ(d->host_wrmsr(0, count_msr(2), 2 * kUnitsPerMs), Access::Ok);
  at(*d, 2 * kUnitsPerMs);
  const Slot s = read_slot(*d, 0);
  EXPECT_EQ(s.type, HvMessageTypeTimerExpired);
  EXPECT_EQ(s.timer_index, 2u);
}

TEST(StimerHost, InvalidConfigIsRefusedToTheHostToo) {
  auto d = make_vm(kFlags);
  EXPECT_EQ(d->host_wrmsr(0, config_msr(0), HV_STIMER_CONFIG_RSVDZ_MASK), Access::GP);
  EXPECT_EQ(d->host_wrmsr(0, config_msr(0), direct_config()), Access::GP);
  EXPECT_EQ(d->host_rdmsr(0, config_msr(0)).value, 0u);
}

// ---- hv-enforce-cpuid ------------------------------------------------------------

TEST(StimerEnforce, AdvertisedGateLetsTheGuestIn) {
  auto d = make_vm(kFlags + ",hv-enforce-cpuid");
  EXPECT_TRUE(d->rdmsr(0, config_msr(0)).ok());
  EXPECT_EQ(d->wrmsr(0, count_msr(3), 7), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, count_msr(3)).value, 7u);
  // Direct mode still needs the option (EDX[19]), enforce or not.
  EXPECT_EQ(d->wrmsr(0, config_msr(0), direct_config()), Access::GP);
  auto direct = make_vm(kDirectFlags + ",hv-enforce-cpuid");
  EXPECT_EQ(direct->wrmsr(0, config_msr(0), direct_config()), Access::Ok);
}

TEST(StimerEnforce, ManifestGatesEveryRegisterOnAccessSyntheticTimerRegs) {
  const Catalog catalog = Catalog::discover(plugin_dir());
  const Manifest* m = catalog.find("stimer");
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->msrs.size(), 1u);
  EXPECT_EQ(m->msrs[0].first, HV_X64_MSR_STIMER0_CONFIG);
  EXPECT_EQ(m->msrs[0].last, HV_X64_MSR_STIMER3_COUNT);
  ASSERT_TRUE(m->msrs[0].gate.has_value());
  EXPECT_EQ(m->msrs[0].gate->leaf, HV_CPUID_FEATURES);
  EXPECT_EQ(m->msrs[0].gate->reg, ENLIGHT_EAX);
  EXPECT_EQ(m->msrs[0].gate->bit, HV_ACCESS_SYNTHETIC_TIMER_REGS_BIT);
}

TEST(StimerEnforce, ClosedGateIsGpForTheGuestOnly) {
  // The same plugin with its gate moved to a bit nobody advertises: under
  // hv-enforce-cpuid the guest gets #GP, the host (restore) still gets in.
  const Catalog real = Catalog::discover(plugin_dir());
  if (real.find("stimer")->embedded) GTEST_SKIP() << "static build: the built-in manifest wins over a file";
  TempDir dir;
  const std::string manifest = read_file(std::filesystem::path(ENLIGHT_TEST_PLUGIN_DIR) / "stimer.yaml");
  dir.write("stimer.yaml", replace_once(manifest, "gate: 0x40000003.eax[3]", "gate: 0x40000003.eax[12]"));
  std::filesystem::create_symlink(std::filesystem::path(ENLIGHT_TEST_PLUGIN_DIR) / "stimer.so", dir.path() / "stimer.so");
  const std::vector<std::string> path = {dir.path().string(), ENLIGHT_TEST_PLUGIN_DIR};
  auto enforced = direct::DirectVm::from_flags(kFlags + ",hv-enforce-cpuid", 1, path);
  EXPECT_TRUE(enforced->rdmsr(0, config_msr(0)).gp());
  EXPECT_EQ(enforced->wrmsr(0, count_msr(0), 1), Access::GP);
  EXPECT_TRUE(enforced->host_rdmsr(0, config_msr(0)).ok());
  EXPECT_EQ(enforced->host_wrmsr(0, count_msr(0), 1), Access::Ok);
  auto open = direct::DirectVm::from_flags(kFlags, 1, path);
  EXPECT_TRUE(open->rdmsr(0, config_msr(0)).ok());
}

// ---- Metrics exist from the start --------------------------------------------------

TEST(StimerMetrics, RegisteredAtZero) {
  auto d = make_vm(kFlags, 2);
  for (const char* name : {kMessages, kDirects, kRedeliveries, kLate, kMissed}) EXPECT_EQ(metric(*d, name), 0) << name;
  const auto h = histogram(*d, kLateness);
  ASSERT_TRUE(h.found);
  EXPECT_EQ(h.total(), 0u);
  EXPECT_EQ(h.bounds_ns.front(), 10'000u);      // 10 us
  EXPECT_EQ(h.bounds_ns.back(), 100'000'000u);  // 100 ms
}

}  // namespace
}  // namespace enlight::test::stimer
