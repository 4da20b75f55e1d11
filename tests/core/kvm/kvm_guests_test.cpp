// The kvm backend on the host's /dev/kvm: the guest conformance cases (the
// same list as emu and the nested stage), hostile guests (garbage in every
// synthetic MSR, a triple fault, an endless loop) and the emu/kvm
// agreement on every MSR answer. Skipped, with the reason, where the host
// has no usable KVM.
#include <enlight/core/backend/backend.hpp>
#include <enlight/core/catalog.hpp>
#include <enlight/core/guest/images.hpp>
#include <enlight/core/guest/protocol.h>
#include <enlight/core/profile.hpp>
#include <enlight/core/resolver.hpp>

#include <gtest/gtest.h>

#include "conformance_cases.hpp"

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <fstream>
#include <iterator>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

using Case = enlight::test::ConformanceCase;
constexpr enlight::BackendKind Emu = enlight::BackendKind::Emu, Kvm = enlight::BackendKind::Kvm;

// Unreadable or malformed: no cases here; the emu suite reports the error.
std::vector<Case> load_cases() {
  try {
    return enlight::test::load_conformance_cases(ENLIGHT_CONFORMANCE_CASES);
  } catch (const std::exception&) {
    return {};
  }
}

std::vector<uint8_t> image_of(const std::string& guest) {
  if (const enlight::guests::GuestImage* img = enlight::guests::find(guest)) return {img->data, img->data + img->size};
  std::ifstream in(guest, std::ios::binary);
  if (!in) throw std::runtime_error("no guest image " + guest);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A Resolution points into its Catalog's manifests: one catalog for the
// whole test program.
const enlight::Catalog& catalog() {
  static const enlight::Catalog c = enlight::Catalog::discover({ENLIGHT_TEST_PLUGIN_DIR});
  return c;
}

enlight::Resolution resolution_for(const Case& c, const enlight::BackendCaps& caps, const std::string& offload = "") {
  enlight::Profile profile = enlight::parse_cpu_flags(c.flags, catalog());
  profile.vcpus = c.vcpus;
  for (enlight::PluginRequest& r : profile.plugins)
    if (r.name == offload) r.offload = "kvm";
  return enlight::resolve(profile, catalog(), caps);
}

// One guest run on `kind` (kvm, or emu for the agreement checks), through
// the backend interface: the same options and resolution for both.
enlight::RunResult run_on(enlight::BackendKind kind, const Case& c, std::chrono::milliseconds timeout = 60s,
                          const std::string& offload = "") {
  enlight::BackendOptions options;
  options.vm.memory_bytes = 16ull << 20;
  options.vm.log = [](uint32_t, const std::string&, const std::string&) {};
  options.image = image_of(c.guest);
  return enlight::Backend::create(kind, resolution_for(c, enlight::backend_capabilities(kind), offload),
                                  std::move(options))
      ->run(timeout);
}

bool kvm_has_hyperv() {
  const int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  const bool has = ::ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_HYPERV) > 0;
  ::close(fd);
  return has;
}

std::string describe(const enlight::RunResult& r) {
  std::string s = std::string(enlight::to_string(r.outcome)) + ": " + r.message + " (status " +
                  std::to_string(r.exit_status) + ")\n";
  for (const auto& c : r.records)
    if (c.kind == ENLIGHT_GUEST_CHECK_FAIL)
      s += "  FAIL vcpu " + std::to_string(c.vcpu) + " line " + std::to_string(c.line) + " " + c.name + "\n";
  return s + "console:\n" + r.console;
}

std::optional<uint64_t> metric(const enlight::RunResult& r, const std::string& name) {
  for (const auto& c : r.records)
    if (c.kind == ENLIGHT_GUEST_METRIC && c.vcpu == 0 && c.name == name) return c.actual;
  return std::nullopt;
}

void expect_all_pass(const enlight::RunResult& r) {
  EXPECT_EQ(r.outcome, enlight::Outcome::Exited) << describe(r);
  EXPECT_EQ(r.exit_status, 0u) << describe(r);
  size_t passed = 0;
  for (const auto& c : r.records) passed += c.kind == ENLIGHT_GUEST_CHECK_PASS;
  EXPECT_GE(passed, 2u) << describe(r);
  for (const auto& c : r.records) EXPECT_NE(c.kind, ENLIGHT_GUEST_CHECK_FAIL) << c.name << " line " << c.line;
}

#define SKIP_WITHOUT_KVM()                                                                \
  do {                                                                                    \
    std::string why;                                                                      \
    if (!enlight::backend_available(Kvm, &why)) GTEST_SKIP() << "no usable KVM: " << why; \
  } while (0)

class ConformanceOnKvm : public ::testing::TestWithParam<Case> {};

// Every conformance case that passes on emu passes on kvm, and no
// architectural MSR the guests touch (x2APIC, TSC, EFER...) ever left the
// kernel: only the synthetic range and claimed MSRs are filtered out.
TEST_P(ConformanceOnKvm, AllChecksPassAndArchitecturalMsrsStayInTheKernel) {
  SKIP_WITHOUT_KVM();
  const enlight::RunResult r = run_on(Kvm, GetParam());
  expect_all_pass(r);
  EXPECT_EQ(r.stats.msr_exits_other, 0u) << describe(r);
  EXPECT_GT(r.stats.exits, 0u);
}

INSTANTIATE_TEST_SUITE_P(Guests, ConformanceOnKvm, ::testing::ValuesIn(load_cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return enlight::test::conformance_case_name(info.param, info.index);
                         });

// Every plugin that claims a synthetic MSR, for the garbage guest.
const char* const kAllMsrPlugins =
    "hv-vpindex,hv-runtime,hv-time,hv-synic,hv-stimer,hv-stimer-direct,hv-vapic,hv-frequencies,hv-relaxed,"
    "hv-spinlocks=0x1fff";
const std::string kGarbageGuest = std::string(ENLIGHT_TEST_GUEST_IMAGE_DIR) + "/test-msr-garbage.bin";

// Garbage in all 512 synthetic MSRs (core/guests/test-programs/
// test-msr-garbage.c): every access is answered (#GP or accepted), the
// 10 MHz synthetic timer storm at the end is absorbed, and the guest
// lives to report.
TEST(HostileGuest, GarbageInEverySyntheticMsrOnEmu) {
  const enlight::RunResult r = run_on(Emu, {kGarbageGuest, kAllMsrPlugins, 1}, 30s);
  expect_all_pass(r);
  EXPECT_EQ(metric(r, "storm_armed"), 1u) << describe(r);
}

// The same on kvm, and the two backends agree on every answer: the fault
// signature folds which of the 11 264 accesses faulted. (It caught the
// vapic MSRs answering #GP on kvm while the guest's APIC was in xAPIC
// mode: KVM refuses x2APIC MSRs then; see core/src/backend/kvm/xapic.cpp.)
TEST(HostileGuest, GarbageInEverySyntheticMsrOnKvmAnswersAsOnEmu) {
  SKIP_WITHOUT_KVM();
  const enlight::RunResult e = run_on(Emu, {kGarbageGuest, kAllMsrPlugins, 1}, 30s);
  const enlight::RunResult k = run_on(Kvm, {kGarbageGuest, kAllMsrPlugins, 1}, 30s);
  expect_all_pass(k);
  ASSERT_TRUE(metric(e, "fault_signature").has_value()) << describe(e);
  EXPECT_EQ(metric(k, "fault_signature"), metric(e, "fault_signature")) << describe(k);
  EXPECT_EQ(metric(k, "write_faults"), metric(e, "write_faults"));
  EXPECT_EQ(metric(k, "read_faults"), metric(e, "read_faults"));
  EXPECT_EQ(k.stats.msr_exits_other, 0u);
}

// An unclaimed synthetic MSR is #GP(0) at the WRMSR on kvm, as on emu.
TEST(HostileGuest, UnclaimedSyntheticMsrIsGpOnKvm) {
  SKIP_WITHOUT_KVM();
  const enlight::RunResult r = run_on(Kvm, {std::string(ENLIGHT_EMU_GUEST_DIR) + "/gp.bin", "hv-vpindex,hv-crash", 1}, 10s);
  ASSERT_EQ(r.outcome, enlight::Outcome::Exited) << describe(r);
  EXPECT_EQ(r.exit_status, 0u) << describe(r);
  ASSERT_EQ(r.records.size(), 2u) << describe(r);
  EXPECT_EQ(r.records[0].actual, 0u) << "error code";
  EXPECT_EQ(r.records[1].actual, r.records[1].expected) << "RIP pushed is the wrmsr";
}

// #UD with no IDT: KVM shuts the vCPU down, reported as a triple fault.
TEST(HostileGuest, TripleFaultIsReportedOnKvm) {
  SKIP_WITHOUT_KVM();
  const enlight::RunResult r = run_on(Kvm, {std::string(ENLIGHT_EMU_GUEST_DIR) + "/triple.bin", "hv-vpindex", 1}, 10s);
  EXPECT_EQ(r.outcome, enlight::Outcome::TripleFault) << describe(r);
  EXPECT_FALSE(r.message.empty());
}

// A guest that never ends is stopped at the time-out, promptly, and the
// message says where it was.
TEST(HostileGuest, EndlessLoopTimesOutOnKvm) {
  SKIP_WITHOUT_KVM();
  const auto t0 = std::chrono::steady_clock::now();
  const enlight::RunResult r = run_on(Kvm, {std::string(ENLIGHT_EMU_GUEST_DIR) + "/loop.bin", "hv-vpindex", 2}, 300ms);
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_EQ(r.outcome, enlight::Outcome::Timeout) << describe(r);
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 2s);
  EXPECT_NE(r.message.find("vCPU 1 at RIP 0x"), std::string::npos) << r.message;
}

// offload: KVM's in-kernel Hyper-V code answers the plugin's MSRs. With
// it, the guests pass with fewer exits to enlight; a kernel without it
// (PVM's) refuses the VM with the reason and the fix, never a guest #GP.
TEST(KvmOffload, TimeAndVapicOffloadedOrAClearRefusal) {
  SKIP_WITHOUT_KVM();
  const Case time{"conformance-time", "hv-time,hv-frequencies", 1};
  const Case vapic{"conformance-vapic", "hv-vpindex,hv-vapic", 2};
  if (!kvm_has_hyperv()) {
    for (const auto& [c, plugin] : {std::pair{time, "time"}, std::pair{vapic, "vapic"}}) {
      try {
        run_on(Kvm, c, 30s, plugin);
        ADD_FAILURE() << plugin << ": offload accepted by a KVM without KVM_CAP_HYPERV";
      } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("KVM_CAP_HYPERV"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("fix:"), std::string::npos) << e.what();
      }
    }
    return;
  }
  const enlight::RunResult in_user = run_on(Kvm, time);
  const enlight::RunResult in_kernel = run_on(Kvm, time, 30s, "time");
  expect_all_pass(in_kernel);
  EXPECT_LT(in_kernel.stats.msr_exits_synthetic, in_user.stats.msr_exits_synthetic) << describe(in_kernel);
  expect_all_pass(run_on(Kvm, vapic, 30s, "vapic"));
}

}  // namespace
