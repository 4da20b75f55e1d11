// The conformance guests, run on the emu backend (Unicorn): each must exit
// with status 0 (every check passed) under a profile that enables what it
// checks, and report at least one record.
#include <enlight/core/backend/emu.hpp>
#include <enlight/core/catalog.hpp>
#include <enlight/core/guest/images.hpp>
#include <enlight/core/guest/protocol.h>
#include <enlight/core/profile.hpp>
#include <enlight/core/resolver.hpp>

#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <memory>
#include <string>

namespace {

struct Case {
  const char* guest;
  const char* flags;
  uint32_t vcpus;
};

std::string describe(const enlight::emu::RunResult& r) {
  std::string s = std::string(enlight::emu::to_string(r.outcome)) + ": " + r.message +
                  " (status " + std::to_string(r.exit_status) + ")\n";
  for (const auto& c : r.records)
    if (c.kind == ENLIGHT_GUEST_CHECK_FAIL)
      s += "  FAIL vcpu " + std::to_string(c.vcpu) + " line " + std::to_string(c.line) + " " + c.name + "\n";
  return s + "console:\n" + r.console;
}

enlight::emu::RunResult run(const Case& c) {
  const enlight::guests::GuestImage* image = enlight::guests::find(c.guest);
  if (image == nullptr) throw std::runtime_error(std::string("no guest image ") + c.guest);
  const enlight::Catalog catalog = enlight::Catalog::discover({ENLIGHT_TEST_PLUGIN_DIR});
  enlight::Profile profile = enlight::parse_cpu_flags(c.flags, catalog);
  profile.vcpus = c.vcpus;
  enlight::emu::EmuOptions options;
  options.vm.memory_bytes = 16ull << 20;
  options.vm.log = [](uint32_t, const std::string&, const std::string&) {};
  options.image.assign(image->data, image->data + image->size);
  auto vm = enlight::emu::EmuVm::create(enlight::resolve(profile, catalog, enlight::emu::capabilities()),
                                        std::move(options));
  enlight::emu::RunResult r = vm->run(std::chrono::seconds(60));
  if (std::getenv("ENLIGHT_GUEST_TEST_VERBOSE") != nullptr) std::printf("%s\n", describe(r).c_str());
  return r;
}

class ConformanceOnEmu : public ::testing::TestWithParam<Case> {};

TEST_P(ConformanceOnEmu, AllChecksPass) {
  const enlight::emu::RunResult r = run(GetParam());
  EXPECT_EQ(r.outcome, enlight::emu::Outcome::Exited) << describe(r);
  EXPECT_EQ(r.exit_status, 0u) << describe(r);
  size_t passed = 0;
  for (const auto& c : r.records) passed += c.kind == ENLIGHT_GUEST_CHECK_PASS;
  EXPECT_GE(passed, 5u) << describe(r);
  for (const auto& c : r.records) EXPECT_NE(c.kind, ENLIGHT_GUEST_CHECK_FAIL) << c.name << " line " << c.line;
}

constexpr const char* kAll = "hv-vpindex,hv-runtime,hv-reset,hv-crash,hv-frequencies,hv-relaxed,hv-spinlocks=0x1fff";

INSTANTIATE_TEST_SUITE_P(
    Guests, ConformanceOnEmu,
    ::testing::Values(Case{"conformance-identity", "hv-relaxed", 1},
                      Case{"conformance-identity", kAll, 2},
                      Case{"conformance-msrs", "hv-vpindex", 1},
                      Case{"conformance-msrs", kAll, 1},
                      Case{"conformance-msrs", kAll, 4},
                      Case{"conformance-spinlocks", "hv-spinlocks=0xfff", 1},
                      Case{"conformance-spinlocks", kAll, 3}),
    [](const ::testing::TestParamInfo<Case>& info) {
      std::string n = std::string(info.param.guest) + "_" + std::to_string(info.param.vcpus) + "vcpu_" +
                      std::to_string(info.index);
      for (char& ch : n)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return n;
    });

// The spinlock guest reports the retry count it saw as a metric: it must be
// the profile's value.
TEST(ConformanceOnEmuSpinlocks, RetryMetricMatchesProfile) {
  const enlight::emu::RunResult r = run(Case{"conformance-spinlocks", "hv-spinlocks=0x1fff", 1});
  bool seen = false;
  for (const auto& c : r.records)
    if (c.kind == ENLIGHT_GUEST_METRIC && c.name == "cpuid.40000004.ebx.spin_retries") {
      seen = true;
      EXPECT_EQ(c.actual, 0x1fffu);
    }
  EXPECT_TRUE(seen) << describe(r);
}

}  // namespace
