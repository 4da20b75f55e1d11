// crash: HV_X64_MSR_CRASH_P0..P4 and CRASH_CTL.
#include "enlight_test.hpp"

#include <cstring>

namespace enlight::test {
namespace {

const char* const kCounter = "enlight_crash_reports_total";
constexpr uint64_t kSupported = HV_CRASH_CTL_CRASH_NOTIFY | HV_CRASH_CTL_CRASH_NOTIFY_MSG;
constexpr uint64_t kMessageGpa = 0x30000;

struct CrashVm {
  LogCapture log;
  std::unique_ptr<direct::DirectVm> d;
  explicit CrashVm(uint32_t vcpus = 1, uint64_t memory = 64ull << 20) {
    VmOptions o;
    o.log = log.sink();
    o.memory_bytes = memory;
    d = make_vm("hv-crash", vcpus, o);
  }
  void params(uint64_t p0, uint64_t p1, uint64_t p2, uint64_t p3, uint64_t p4) {
    const uint64_t p[] = {p0, p1, p2, p3, p4};
    for (uint32_t i = 0; i < 5; ++i) ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_CRASH_P0 + i, p[i]), Access::Ok);
  }
  std::string errors() const { return log.text("crash", 0); }
};

TEST(CrashCpuid, AdvertisesCrashMsrs) {
  auto d = make_vm("hv-crash");
  EXPECT_EQ(d->cpuid(0, HV_CPUID_FEATURES),
            (CpuidValue{HV_ACCESS_HYPERCALL_MSRS, 0, 0,
                        HV_FEATURE_GUEST_CRASH_MSR_AVAILABLE | HV_FEATURE_CPU_DYNAMIC_PARTITIONING_AVAILABLE}));
}

TEST(CrashMsr, CtlReadsTheSupportedBits) {
  auto d = make_vm("hv-crash");
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_CRASH_CTL).value, kSupported);
  EXPECT_TRUE(d->rdmsr(0, HV_X64_MSR_CRASH_CTL).ok());
}

TEST(CrashMsr, ParametersArePartitionWideStorage) {
  auto d = make_vm("hv-crash", 2);
  for (uint32_t i = 0; i < HV_X64_MSR_CRASH_PARAMS; ++i) EXPECT_EQ(d->rdmsr(1, HV_X64_MSR_CRASH_P0 + i).value, 0u);
  for (uint32_t i = 0; i < HV_X64_MSR_CRASH_PARAMS; ++i)
    ASSERT_EQ(d->wrmsr(0, HV_X64_MSR_CRASH_P0 + i, 0x1111111111111111ull * (i + 1)), Access::Ok);
  for (uint32_t i = 0; i < HV_X64_MSR_CRASH_PARAMS; ++i) {
    EXPECT_EQ(d->rdmsr(1, HV_X64_MSR_CRASH_P0 + i).value, 0x1111111111111111ull * (i + 1));
    EXPECT_EQ(d->host_rdmsr(0, HV_X64_MSR_CRASH_P0 + i).value, 0x1111111111111111ull * (i + 1));
  }
  ASSERT_EQ(d->host_wrmsr(0, HV_X64_MSR_CRASH_P2, 42), Access::Ok);
  EXPECT_EQ(d->rdmsr(1, HV_X64_MSR_CRASH_P2).value, 42u);
  EXPECT_EQ(d->vm().stop_reason(), StopReason::None);
}

TEST(CrashMsr, CrashNotifyStopsTheVmWithTheParameters) {
  CrashVm c(2);
  c.params(0x1E, 0xFFFFF80000001234, 2, 0xDEADBEEF, 0x0123456789ABCDEF);
  EXPECT_EQ(c.d->wrmsr(1, HV_X64_MSR_CRASH_CTL, HV_CRASH_CTL_CRASH_NOTIFY), Access::Ok);
  EXPECT_EQ(c.d->vm().stop_reason(), StopReason::GuestCrash);
  const std::string m = c.d->vm().stop_message();
  for (uint64_t p : {0x1Eull, 0xFFFFF80000001234ull, 2ull, 0xDEADBEEFull, 0x0123456789ABCDEFull})
    EXPECT_NE(m.find(hex(p)), std::string::npos) << hex(p) << " not in: " << m;
  EXPECT_EQ(counter(*c.d, kCounter), 1);
  EXPECT_NE(c.errors().find(hex(0xFFFFF80000001234)), std::string::npos) << c.errors();
  EXPECT_EQ(c.errors().find("message"), std::string::npos);  // no CrashMessage, no message
}

TEST(CrashMsr, WritesWithoutCrashNotifyDoNothing) {
  CrashVm c;
  for (uint64_t v : {uint64_t{0}, HV_CRASH_CTL_CRASH_NOTIFY_MSG, HV_CRASH_CTL_NO_CRASH_DUMP, HV_CRASH_CTL_PREOS_ID_MASK,
                     ~HV_CRASH_CTL_CRASH_NOTIFY})
    EXPECT_EQ(c.d->wrmsr(0, HV_X64_MSR_CRASH_CTL, v), Access::Ok) << hex(v);
  EXPECT_EQ(c.d->vm().stop_reason(), StopReason::None);
  EXPECT_EQ(counter(*c.d, kCounter), 0);
  EXPECT_EQ(c.d->rdmsr(0, HV_X64_MSR_CRASH_CTL).value, kSupported);  // writes do not change it
}

TEST(CrashMsr, UnsupportedBitsAlongsideCrashNotifyAreIgnored) {
  CrashVm c;
  EXPECT_EQ(c.d->wrmsr(0, HV_X64_MSR_CRASH_CTL, HV_CRASH_CTL_CRASH_NOTIFY | HV_CRASH_CTL_NO_CRASH_DUMP), Access::Ok);
  EXPECT_EQ(c.d->vm().stop_reason(), StopReason::GuestCrash);
}

TEST(CrashMsr, HostWriteNeverReports) {
  CrashVm c;
  EXPECT_EQ(c.d->host_wrmsr(0, HV_X64_MSR_CRASH_CTL, HV_CRASH_CTL_CRASH_NOTIFY), Access::Ok);
  EXPECT_EQ(c.d->vm().stop_reason(), StopReason::None);
  EXPECT_EQ(counter(*c.d, kCounter), 0);
}

TEST(CrashMsr, EveryNotificationIsCountedTheFirstStopWins) {
  CrashVm c;
  c.params(1, 0, 0, 0, 0);
  ASSERT_EQ(c.d->wrmsr(0, HV_X64_MSR_CRASH_CTL, HV_CRASH_CTL_CRASH_NOTIFY), Access::Ok);
  ASSERT_EQ(c.d->wrmsr(0, HV_X64_MSR_CRASH_P0, 2), Access::Ok);
  ASSERT_EQ(c.d->wrmsr(0, HV_X64_MSR_CRASH_CTL, HV_CRASH_CTL_CRASH_NOTIFY), Access::Ok);
  EXPECT_EQ(counter(*c.d, kCounter), 2);
  EXPECT_NE(c.d->vm().stop_message().find("P0=" + hex(1)), std::string::npos) << c.d->vm().stop_message();
}

TEST(CrashMessage, IsReadFromGuestMemoryIntoTheLog) {
  CrashVm c;
  const char text[] = "Kernel panic - not syncing: VFS: Unable to mount root fs";
  ASSERT_TRUE(c.d->memory().write(kMessageGpa, text, sizeof text - 1));
  c.params(0, 0, 0, kMessageGpa, sizeof text - 1);
  ASSERT_EQ(c.d->wrmsr(0, HV_X64_MSR_CRASH_CTL, kSupported), Access::Ok);
  EXPECT_EQ(c.d->vm().stop_reason(), StopReason::GuestCrash);
  EXPECT_NE(c.errors().find(std::string("\"") + text + "\""), std::string::npos) << c.errors();
}

TEST(CrashMessage, NotReadWithoutTheCrashMessageBit) {
  CrashVm c;
  ASSERT_TRUE(c.d->memory().write(kMessageGpa, "secret", 6));
  c.params(0, 0, 0, kMessageGpa, 6);
  ASSERT_EQ(c.d->wrmsr(0, HV_X64_MSR_CRASH_CTL, HV_CRASH_CTL_CRASH_NOTIFY), Access::Ok);
  EXPECT_EQ(c.errors().find("secret"), std::string::npos) << c.errors();
}

TEST(CrashMessage, StopsAtNulAndEscapesControlBytes) {
  CrashVm c;
  const char text[] = "line1\nline2\x1b[31m\x7f\xff" "end\0after";
  ASSERT_TRUE(c.d->memory().write(kMessageGpa, text, sizeof text - 1));
  c.params(0, 0, 0, kMessageGpa, sizeof text - 1);
  ASSERT_EQ(c.d->wrmsr(0, HV_X64_MSR_CRASH_CTL, kSupported), Access::Ok);
  const std::string e = c.errors();
  EXPECT_NE(e.find("line1\n    | line2\\x1B[31m\\x7F\\xFFend\""), std::string::npos) << e;
  EXPECT_EQ(e.find("after"), std::string::npos) << e;
  EXPECT_EQ(e.find('\x1b'), std::string::npos);
}

TEST(CrashMessage, LongerThan4096IsTruncated) {
  CrashVm c;
  std::string text(5000, 'a');
  text[4095] = 'Z';  // last byte kept
  text[4096] = 'Y';  // first byte dropped
  ASSERT_TRUE(c.d->memory().write(kMessageGpa, text.data(), text.size()));
  c.params(0, 0, 0, kMessageGpa, text.size());
  ASSERT_EQ(c.d->wrmsr(0, HV_X64_MSR_CRASH_CTL, kSupported), Access::Ok);
  const std::string e = c.errors();
  EXPECT_NE(e.find(std::string(4095, 'a') + "Z\""), std::string::npos);
  EXPECT_EQ(e.find('Y'), std::string::npos);
  EXPECT_NE(e.find("truncated from 5000 bytes"), std::string::npos) << e.substr(e.size() - 100);
}

TEST(CrashMessage, BadGpaIsSkippedNotFatal) {
  CrashVm c(1, 1u << 20);
  const struct {
    uint64_t gpa, len;
  } bad[] = {
      {1u << 20, 16},                          // just past RAM
      {(1u << 20) - 8, 16},                    // straddles the end of RAM
      {~uint64_t{0} - 4, 16},                  // GPA + length overflows
      {0x1000, ~uint64_t{0}},                  // huge length: capped, then still fits
  };
  for (const auto& b : bad) {
    c.params(0xAB, 0, 0, b.gpa, b.len);
    ASSERT_EQ(c.d->wrmsr(0, HV_X64_MSR_CRASH_CTL, kSupported), Access::Ok);
  }
  EXPECT_EQ(c.d->vm().stop_reason(), StopReason::GuestCrash);
  EXPECT_EQ(counter(*c.d, kCounter), 4);
  const std::string e = c.errors();
  size_t skipped = 0;
  for (size_t at = e.find("message skipped"); at != std::string::npos; at = e.find("message skipped", at + 1)) ++skipped;
  EXPECT_EQ(skipped, 3u) << e;
  EXPECT_NE(e.find("truncated from 18446744073709551615 bytes"), std::string::npos);
}

TEST(CrashMessage, EmptyLengthSaysSo) {
  CrashVm c;
  c.params(0, 0, 0, kMessageGpa, 0);
  ASSERT_EQ(c.d->wrmsr(0, HV_X64_MSR_CRASH_CTL, kSupported), Access::Ok);
  EXPECT_NE(c.errors().find("empty message"), std::string::npos) << c.errors();
}

TEST(CrashMsr, WorkUnderEnforceCpuid) {
  LogCapture log;
  VmOptions o;
  o.log = log.sink();
  auto d = make_vm("hv-crash,hv-enforce-cpuid", 1, o);
  EXPECT_EQ(d->rdmsr(0, HV_X64_MSR_CRASH_CTL).value, kSupported);
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_CRASH_P4, 5), Access::Ok);
  EXPECT_EQ(d->wrmsr(0, HV_X64_MSR_CRASH_CTL, HV_CRASH_CTL_CRASH_NOTIFY), Access::Ok);
  EXPECT_EQ(d->vm().stop_reason(), StopReason::GuestCrash);
  EXPECT_NE(log.text("crash", 0).find("P4=" + hex(5)), std::string::npos);
}

TEST(CrashMsr, AbsentWithoutThePlugin) {
  auto d = make_vm("hv-relaxed");
  for (uint32_t i = HV_X64_MSR_CRASH_P0; i <= HV_X64_MSR_CRASH_CTL; ++i) EXPECT_TRUE(d->rdmsr(0, i).gp());
  EXPECT_TRUE(make_vm("hv-crash")->rdmsr(0, HV_X64_MSR_CRASH_CTL + 1).gp());
}

}  // namespace
}  // namespace enlight::test
