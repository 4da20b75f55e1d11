// A DirectVm running the hc-shapes fixture (tests/fixtures/hc-shapes), with
// hypercalls enabled directly on the bus so decoder tests need no identity
// plugin, and small helpers for guest memory and the fixture's MSRs.
#pragma once

#include <fixture_vm.hpp>
#include <gtest/gtest.h>
#include <hc_shapes_abi.h>

#include <array>
#include <cstring>
#include <map>
#include <string>

namespace enlight::test {

class HcShapes : public ::testing::Test {
 protected:
  // Parameter pages, page aligned, well inside the default 64 MiB of RAM.
  static constexpr uint64_t kIn = 0x10000;
  static constexpr uint64_t kOut = 0x20000;
  static constexpr uint64_t kSentinel = 0x5E5E5E5E5E5E5E5Eull;

  void SetUp() override { start(); }

  void start(bool enforce_cpuid = false, std::map<std::string, std::string> options = {}, uint32_t vcpus = 1,
             VmOptions vm_options = {}) {
    fx_.reset();
    fx_ = fixtures::make_vm({"hc-shapes"}, {{"hc-shapes", std::move(options)}}, enforce_cpuid, vcpus, std::move(vm_options));
    fx_->vm().bus().set_hypercalls_enabled(true);
    fill(kOut, kSentinel, HV_PAGE_SIZE / 8);
  }

  direct::DirectVm& d() { return *fx_; }

  void put(uint64_t gpa, uint64_t v) { ASSERT_TRUE(d().memory().write(gpa, &v, 8)) << std::hex << gpa; }
  uint64_t get(uint64_t gpa) {
    uint64_t v = 0;
    EXPECT_TRUE(d().memory().read(gpa, &v, 8)) << std::hex << gpa;
    return v;
  }
  void fill(uint64_t gpa, uint64_t v, size_t qwords) {
    for (size_t i = 0; i < qwords; ++i) put(gpa + 8 * i, v);
  }
  uint64_t msr(uint32_t index, uint32_t vcpu = 0) {
    const auto r = d().rdmsr(vcpu, index);
    EXPECT_TRUE(r.ok()) << std::hex << index;
    return r.value;
  }

  // The echo call (simple, 16 bytes in and out) with extra control bits.
  direct::HypercallOutcome echo(uint64_t extra_control = 0, uint64_t in = kIn, uint64_t out = kOut) {
    return d().hypercall(0, direct::control(HCS_CODE_ECHO) | extra_control, in, out);
  }
  // The echo's output page still holds the sentinel: the handler never ran.
  bool echo_untouched() { return get(kOut) == kSentinel && get(kOut + 8) == kSentinel; }

  fixtures::FixtureVm fx_;
};

inline uint64_t digest_of(const void* p, size_t n) { return hcs_digest(static_cast<const uint8_t*>(p), n); }

}  // namespace enlight::test
