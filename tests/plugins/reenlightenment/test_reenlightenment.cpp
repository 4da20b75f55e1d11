// reenlightenment: the three MSRs with KVM's semantics (kvm_hv_set_msr_pw),
// and the notification after a restore at another TSC frequency: the
// plugin's vm_save on one VM, its vm_load on another whose TSC runs at a
// different rate (another host), then the VM runs (its timers) and the
// guest gets CONTROL's vector on CONTROL's target VP, with
// TSC_EMULATION_STATUS in progress when it enabled TSC emulation.
#include "enlight_test.hpp"

#include "host_services.hpp"  // core/src/vm: the plugin's vm_ctx and descriptor
#include "../snapshot_test.hpp"

#include <gmock/gmock.h>

#include <cstring>
#include <random>

namespace enlight::test {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Injected = std::vector<std::pair<uint32_t, uint8_t>>;

constexpr uint32_t kControl = HV_X64_MSR_REENLIGHTENMENT_CONTROL;
constexpr uint32_t kEmulationControl = HV_X64_MSR_TSC_EMULATION_CONTROL;
constexpr uint32_t kEmulationStatus = HV_X64_MSR_TSC_EMULATION_STATUS;
constexpr uint64_t kHz25 = 2'500'000'000, kHz30 = 3'000'000'000;

uint64_t control(uint8_t vector, uint32_t target_vp, bool enabled = true) {
  return vector | (enabled ? HV_REENLIGHTENMENT_CONTROL_ENABLE : 0) |
         (uint64_t{target_vp} << HV_REENLIGHTENMENT_CONTROL_TARGET_VP_SHIFT);
}

std::unique_ptr<DirectVm> vm_at(uint64_t tsc_hz, uint32_t vcpus = 2, const std::string& flags = "hv-reenlightenment",
                                LogCapture* log = nullptr) {
  VmOptions o;
  o.tsc_frequency_hz = tsc_hz;
  if (log) o.log = log->sink();
  return make_vm(flags, vcpus, o);
}

// The plugin's own record in the core: its descriptor and VM state.
Vm::PluginRecord& plugin(DirectVm& d) {
  for (uint16_t s = 0; s < d.vm().plugin_count(); ++s)
    if (d.vm().record(s).name == "reenlightenment") return d.vm().record(s);
  throw std::runtime_error("reenlightenment is not in the VM");
}

std::vector<uint8_t> save(DirectVm& d) {
  Vm::PluginRecord& r = plugin(d);
  EXPECT_NE(r.descriptor->vm_save, nullptr);
  std::vector<uint8_t> blob(256);
  const int64_t n = r.descriptor->vm_save(r.vm_ctx, blob.data(), blob.size());
  EXPECT_GT(n, 0);
  blob.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return blob;
}

// 0 on success, else the plugin's message in `why`.
int load(DirectVm& d, const std::vector<uint8_t>& blob, std::string* why = nullptr) {
  Vm::PluginRecord& r = plugin(d);
  char text[256] = {};
  enlight_error error{text, sizeof text, 0};
  const int rc = r.descriptor->vm_load(r.vm_ctx, blob.data(), blob.size(), &error);
  if (why) *why = text;
  return rc;
}

// The VM runs again: every vCPU's due timers, as a backend does before it
// enters guest code (the reference clock moves by 1 us).
void resume(DirectVm& d) { d.advance_ns(1000); }

// ---- CPUID and registers --------------------------------------------------

TEST(ReenlightenmentCpuid, AdvertisesThePrivilegeOnly) {
  auto d = vm_at(kHz25, 1);
  EXPECT_EQ(d->cpuid(0, HV_CPUID_FEATURES),
            (CpuidValue{HV_ACCESS_REENLIGHTENMENT_CONTROLS | HV_ACCESS_HYPERCALL_MSRS, 0, 0,
                        HV_FEATURE_CPU_DYNAMIC_PARTITIONING_AVAILABLE}));
  EXPECT_EQ(d->cpuid(0, HV_CPUID_ENLIGHTENMENT_INFO).eax, 0u);
}

TEST(ReenlightenmentResolve, RecommendsFrequencies) {
  const Catalog catalog = Catalog::discover(plugin_dir());
  const Resolution alone = resolve(parse_cpu_flags("hv-reenlightenment", catalog), catalog, direct::capabilities());
  ASSERT_EQ(alone.warnings.size(), 1u);
  EXPECT_THAT(alone.warnings[0], HasSubstr("reenlightenment recommends frequencies, which is not enabled"));
  EXPECT_THAT(resolve(parse_cpu_flags("hv-reenlightenment,hv-frequencies", catalog), catalog, direct::capabilities()).warnings,
              IsEmpty());
}

TEST(ReenlightenmentMsrs, ResetToZeroAndPartitionWide) {
  auto d = vm_at(kHz25, 3);
  for (uint32_t v = 0; v < 3; ++v)
    for (uint32_t msr : {kControl, kEmulationControl, kEmulationStatus}) {
      const MsrRead r = d->rdmsr(v, msr);
      EXPECT_TRUE(r.ok());
      EXPECT_EQ(r.value, 0u) << std::hex << msr;
    }
  EXPECT_EQ(d->wrmsr(2, kControl, control(0x92, 1)), Access::Ok);
  EXPECT_EQ(d->wrmsr(1, kEmulationControl, HV_TSC_EMULATION_CONTROL_ENABLE), Access::Ok);
  for (uint32_t v = 0; v < 3; ++v) {
    EXPECT_EQ(d->rdmsr(v, kControl).value, control(0x92, 1));
    EXPECT_EQ(d->rdmsr(v, kEmulationControl).value, HV_TSC_EMULATION_CONTROL_ENABLE);
  }
}

// KVM stores CONTROL and EMULATION_CONTROL whole: no reserved bit is checked.
TEST(ReenlightenmentMsrs, ControlsStoreAnyValue) {
  auto d = vm_at(kHz25, 1);
  std::mt19937_64 rng(0x5EED);
  for (int i = 0; i < 1000; ++i) {
    const uint64_t a = rng(), b = rng();
    ASSERT_EQ(d->wrmsr(0, kControl, a), Access::Ok);
    ASSERT_EQ(d->wrmsr(0, kEmulationControl, b), Access::Ok);
    ASSERT_EQ(d->rdmsr(0, kControl).value, a);
    ASSERT_EQ(d->rdmsr(0, kEmulationControl).value, b);
  }
}

TEST(ReenlightenmentMsrs, GuestMayOnlyClearTheStatus) {
  auto d = vm_at(kHz25, 1);
  EXPECT_EQ(d->wrmsr(0, kEmulationStatus, 0), Access::Ok);
  for (uint64_t v : {uint64_t{1}, uint64_t{2}, uint64_t{1} << 63, ~uint64_t{0}}) {
    EXPECT_EQ(d->wrmsr(0, kEmulationStatus, v), Access::GP) << hex(v);
    EXPECT_EQ(d->rdmsr(0, kEmulationStatus).value, 0u);
  }
  // The host may write anything (a restore); the guest then clears it.
  EXPECT_EQ(d->host_wrmsr(0, kEmulationStatus, HV_TSC_EMULATION_STATUS_IN_PROGRESS), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, kEmulationStatus).value, HV_TSC_EMULATION_STATUS_IN_PROGRESS);
  EXPECT_EQ(d->wrmsr(0, kEmulationStatus, HV_TSC_EMULATION_STATUS_IN_PROGRESS), Access::GP);
  EXPECT_EQ(d->wrmsr(0, kEmulationStatus, 0), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, kEmulationStatus).value, 0u);
}

TEST(ReenlightenmentMsrs, WorkUnderEnforceCpuid) {
  auto d = vm_at(kHz25, 1, "hv-reenlightenment,hv-enforce-cpuid");
  EXPECT_EQ(d->wrmsr(0, kControl, control(0x40, 0)), Access::Ok);
  EXPECT_EQ(d->rdmsr(0, kControl).value, control(0x40, 0));
  EXPECT_EQ(d->wrmsr(0, kEmulationStatus, 0), Access::Ok);
}

TEST(ReenlightenmentMsrs, NeighboursAreNotClaimed) {
  auto d = vm_at(kHz25, 1);
  EXPECT_TRUE(d->rdmsr(0, HV_X64_MSR_CRASH_CTL).gp());
  EXPECT_TRUE(d->rdmsr(0, kEmulationStatus + 1).gp());
}

// ---- saved state and the notification -------------------------------------

// The guest as Linux sets it up (hv_setup_reenlightenment): a vector on a
// target VP, TSC emulation on.
std::vector<uint8_t> saved_by_a_guest(uint64_t hz, uint64_t ctl, uint64_t emulation = HV_TSC_EMULATION_CONTROL_ENABLE) {
  auto a = vm_at(hz);
  EXPECT_EQ(a->wrmsr(0, kControl, ctl), Access::Ok);
  EXPECT_EQ(a->wrmsr(0, kEmulationControl, emulation), Access::Ok);
  return save(*a);
}

TEST(ReenlightenmentRestore, AnotherFrequencyNotifiesWhenTheVmRuns) {
  const std::vector<uint8_t> blob = saved_by_a_guest(kHz25, control(0x92, 1));
  LogCapture log;
  auto b = vm_at(kHz30, 2, "hv-reenlightenment", &log);
  ASSERT_EQ(load(*b, blob), 0);
  // The registers came back with the state.
  EXPECT_EQ(b->rdmsr(0, kControl).value, control(0x92, 1));
  EXPECT_EQ(b->rdmsr(0, kEmulationControl).value, HV_TSC_EMULATION_CONTROL_ENABLE);
  // Nothing yet: the restore is not over until the VM runs.
  EXPECT_THAT(b->injected(), IsEmpty());
  EXPECT_EQ(b->rdmsr(0, kEmulationStatus).value, 0u);

  resume(*b);
  EXPECT_THAT(b->injected(), ElementsAre(std::pair<uint32_t, uint8_t>{1, 0x92}));
  EXPECT_EQ(b->rdmsr(1, kEmulationStatus).value, HV_TSC_EMULATION_STATUS_IN_PROGRESS);
  EXPECT_EQ(counter(*b, "enlight_reenlightenment_notifications_total"), 1);
  EXPECT_THAT(log.text("reenlightenment", 2), HasSubstr("from 2500000000 to 3000000000 Hz; vector 0x92 raised on VP 1"));
  // The guest's handler (Linux hyperv_stop_tsc_emulation) reads the new
  // frequency elsewhere and ends the emulation.
  EXPECT_EQ(b->wrmsr(1, kEmulationStatus, 0), Access::Ok);
  // Once only.
  b->clear_injected();
  resume(*b);
  EXPECT_THAT(b->injected(), IsEmpty());
  EXPECT_EQ(b->rdmsr(0, kEmulationStatus).value, 0u);
}

TEST(ReenlightenmentRestore, TheSameFrequencyNotifiesNothing) {
  const std::vector<uint8_t> blob = saved_by_a_guest(kHz25, control(0x92, 1));
  auto b = vm_at(kHz25);
  ASSERT_EQ(load(*b, blob), 0);
  resume(*b);
  EXPECT_THAT(b->injected(), IsEmpty());
  EXPECT_EQ(b->rdmsr(0, kEmulationStatus).value, 0u);
  EXPECT_EQ(b->rdmsr(0, kControl).value, control(0x92, 1));
}

TEST(ReenlightenmentRestore, DisabledControlSetsOnlyTheStatus) {
  auto b = vm_at(kHz30);
  ASSERT_EQ(load(*b, saved_by_a_guest(kHz25, control(0x92, 1, false))), 0);
  resume(*b);
  EXPECT_THAT(b->injected(), IsEmpty());
  EXPECT_EQ(b->rdmsr(0, kEmulationStatus).value, HV_TSC_EMULATION_STATUS_IN_PROGRESS);
}

TEST(ReenlightenmentRestore, NoTscEmulationMeansOnlyTheInterrupt) {
  auto b = vm_at(kHz30);
  ASSERT_EQ(load(*b, saved_by_a_guest(kHz25, control(0x51, 0), 0)), 0);
  resume(*b);
  EXPECT_THAT(b->injected(), ElementsAre(std::pair<uint32_t, uint8_t>{0, 0x51}));
  EXPECT_EQ(b->rdmsr(0, kEmulationStatus).value, 0u);
}

// The target is a VP index, which the host may have moved (vpindex).
TEST(ReenlightenmentRestore, TargetIsAVpIndex) {
  auto b = vm_at(kHz30, 2, "hv-vpindex,hv-reenlightenment");
  ASSERT_EQ(b->host_wrmsr(0, HV_X64_MSR_VP_INDEX, 7), Access::Ok);
  ASSERT_EQ(b->host_wrmsr(1, HV_X64_MSR_VP_INDEX, 5), Access::Ok);
  ASSERT_EQ(load(*b, saved_by_a_guest(kHz25, control(0xE0, 5))), 0);
  resume(*b);
  EXPECT_THAT(b->injected(), ElementsAre(std::pair<uint32_t, uint8_t>{1, 0xE0}));
}

TEST(ReenlightenmentRestore, UndeliverableNotificationIsLoggedAndDropped) {
  LogCapture log;
  auto b = vm_at(kHz30, 2, "hv-reenlightenment", &log);
  ASSERT_EQ(load(*b, saved_by_a_guest(kHz25, control(0x92, 9))), 0);  // VP 9: no such vCPU
  resume(*b);
  EXPECT_THAT(b->injected(), IsEmpty());
  EXPECT_THAT(log.text("reenlightenment", 2), HasSubstr("target VP 9 names no vCPU"));
  EXPECT_EQ(b->rdmsr(0, kEmulationStatus).value, HV_TSC_EMULATION_STATUS_IN_PROGRESS);
  ASSERT_EQ(load(*b, saved_by_a_guest(kHz25, control(0x05, 0))), 0);  // an exception vector
  resume(*b);
  EXPECT_THAT(b->injected(), IsEmpty());
  EXPECT_THAT(log.text("reenlightenment", 2), HasSubstr("vector 0x05 cannot be delivered"));
  EXPECT_EQ(b->vm().stop_reason(), StopReason::None);
}

// A core may replay the MSRs by host writes after loading the state, or
// before: the notification uses what is there when the VM runs.
TEST(ReenlightenmentRestore, MsrsReplayedAfterTheLoadAreWhatCounts) {
  auto b = vm_at(kHz30);
  ASSERT_EQ(load(*b, saved_by_a_guest(kHz25, control(0x92, 1))), 0);
  ASSERT_EQ(b->host_wrmsr(0, kControl, control(0x93, 0)), Access::Ok);
  ASSERT_EQ(b->host_wrmsr(0, kEmulationStatus, 0), Access::Ok);
  resume(*b);
  EXPECT_THAT(b->injected(), ElementsAre(std::pair<uint32_t, uint8_t>{0, 0x93}));
  EXPECT_EQ(b->rdmsr(0, kEmulationStatus).value, HV_TSC_EMULATION_STATUS_IN_PROGRESS);
}

TEST(ReenlightenmentRestore, BadStateIsRefusedAndChangesNothing) {
  const std::vector<uint8_t> good = saved_by_a_guest(kHz25, control(0x92, 1));
  auto b = vm_at(kHz30);
  ASSERT_EQ(b->wrmsr(0, kControl, control(0x44, 0)), Access::Ok);
  std::string why;

  std::vector<uint8_t> short_blob(good.begin(), good.end() - 1);
  EXPECT_NE(load(*b, short_blob, &why), 0);
  EXPECT_THAT(why, HasSubstr("ends early"));
  std::vector<uint8_t> long_blob = good;
  long_blob.push_back(0);
  EXPECT_NE(load(*b, long_blob, &why), 0);
  EXPECT_THAT(why, HasSubstr("left unread"));
  std::vector<uint8_t> wrong_magic = good;
  wrong_magic[0] ^= 0xFF;
  EXPECT_NE(load(*b, wrong_magic, &why), 0);
  EXPECT_THAT(why, HasSubstr("not this plugin's"));
  std::vector<uint8_t> wrong_version = good;
  wrong_version[4] = 2;
  EXPECT_NE(load(*b, wrong_version, &why), 0);
  EXPECT_THAT(why, HasSubstr("version"));
  std::vector<uint8_t> zero_hz = good;
  std::memset(zero_hz.data() + 8, 0, 8);
  EXPECT_NE(load(*b, zero_hz, &why), 0);
  EXPECT_THAT(why, HasSubstr("0 Hz"));
  EXPECT_NE(load(*b, {}, &why), 0);
  EXPECT_THAT(why, HasSubstr("not this plugin's"));

  EXPECT_EQ(b->rdmsr(0, kControl).value, control(0x44, 0));
  resume(*b);
  EXPECT_THAT(b->injected(), IsEmpty());
}

// Every truncation fails; every byte flipped either loads (the registers
// hold any value, any non-zero frequency is one) or fails with a message,
// and the VM then runs its timers without harm.
TEST(ReenlightenmentRestore, HostileBlobs) {
  const std::vector<uint8_t> good = saved_by_a_guest(kHz25, control(0x92, 1));
  auto b = vm_at(kHz30);
  snapshot::sweep(good, [&](const std::vector<uint8_t>& blob) {
    std::string why;
    return load(*b, blob, &why) == 0 ? std::string() : (why.empty() ? std::string("(no message)") : why);
  }, [&] { resume(*b); });
  EXPECT_EQ(b->vm().stop_reason(), StopReason::None);
}

TEST(ReenlightenmentSave, TooSmallABufferAsksForMore) {
  auto a = vm_at(kHz25);
  Vm::PluginRecord& r = plugin(*a);
  uint8_t small[8];
  EXPECT_EQ(r.descriptor->vm_save(r.vm_ctx, small, sizeof small), -1);
  EXPECT_EQ(r.descriptor->vcpu_save, nullptr) << "no per-vCPU state: every register is partition-wide";
  EXPECT_GT(save(*a).size(), 8u);
}

}  // namespace
}  // namespace enlight::test
