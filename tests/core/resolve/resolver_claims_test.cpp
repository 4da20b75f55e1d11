// Claim overlaps between enabled plugins: one owner per MSR, hypercall code
// and I/O port; CPUID fields exclusive, bits shared, defaults yielding.
#include "resolve_test_util.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace enlight {
namespace {

using test::config_error_of;
using test::direct_caps;
using test::profile_of;
using test::TestCatalog;
using ::testing::HasSubstr;

std::string clash(const TestCatalog& c, const std::vector<std::string>& names) {
  return config_error_of([&] { resolve(profile_of(names), c.get(), direct_caps()); }).message;
}

TEST(ResolveClaims, SameMsr) {
  TestCatalog c;
  c.add("vpindex", "claims:\n  msrs:\n    - index: 0x40000002\n");
  c.add("other", "claims:\n  msrs:\n    - { index: 0x40000001 }\n    - { index: 0x40000002 }\n");
  const std::string m = clash(c, {"vpindex", "other"});
  EXPECT_THAT(m, HasSubstr("MSR 0x40000002 is claimed by both 'other' (/m/other.yaml:7:7) and 'vpindex' (/m/vpindex.yaml:6:7)"));
  EXPECT_THAT(m, HasSubstr("fix: disable one of them"));
  // Either alone is fine.
  EXPECT_NO_THROW(resolve(profile_of({"vpindex"}), c.get(), direct_caps()));
}

// A default MSR claim yields to an ordinary one (identity's VP assist page
// to vapic's); two defaults for one MSR are the same clash as two owners.
TEST(ResolveClaims, DefaultMsrClaimsYieldButNotToEachOther) {
  TestCatalog c;
  c.add("identity", "claims:\n  msrs:\n    - { index: 0x40000073, default: true }\n");
  c.add("vapic", "claims:\n  msrs:\n    - index: 0x40000073\n");
  c.add("other", "claims:\n  msrs:\n    - { range: [0x40000070, 0x4000007f], default: true }\n");
  EXPECT_NO_THROW(resolve(profile_of({"identity", "vapic"}), c.get(), direct_caps()));
  EXPECT_THAT(clash(c, {"identity", "other"}),
              HasSubstr("default MSR 0x40000073 is claimed by both 'identity' (/m/identity.yaml:6:7) and 'other'"));
}

TEST(ResolveClaims, IntersectingMsrRanges) {
  TestCatalog c;
  c.add("synic", "claims:\n  msrs:\n    - range: [0x40000090, 0x4000009F]\n");
  c.add("sints", "claims:\n  msrs:\n    - range: [0x40000080, 0x40000094]\n");
  EXPECT_THAT(clash(c, {"synic", "sints"}),
              HasSubstr("MSRs 0x40000090-0x40000094 is claimed by both 'sints' (/m/sints.yaml:6:7) and 'synic' (/m/synic.yaml:6:7)"));
  TestCatalog adjacent;
  adjacent.add("synic", "claims:\n  msrs:\n    - range: [0x40000090, 0x4000009F]\n");
  adjacent.add("sints", "claims:\n  msrs:\n    - range: [0x40000080, 0x4000008F]\n");
  EXPECT_NO_THROW(resolve(profile_of({"synic", "sints"}), adjacent.get(), direct_caps()));
}

TEST(ResolveClaims, RangeInsideALongerOne) {
  TestCatalog c;
  c.add("wide", "claims:\n  msrs:\n    - range: [0x100, 0x1FF]\n");
  c.add("early", "claims:\n  msrs:\n    - range: [0x80, 0x90]\n");
  c.add("inner", "claims:\n  msrs:\n    - index: 0x180\n");
  EXPECT_THAT(clash(c, {"wide", "early", "inner"}), HasSubstr("MSR 0x00000180 is claimed by both 'inner' (/m/inner.yaml:6:7) and 'wide'"));
}

TEST(ResolveClaims, SameHypercallCode) {
  TestCatalog c;
  c.add("synic", "claims:\n  hypercalls:\n    - code: 0x005C\n    - code: 0x005D\n");
  c.add("vmbus", "claims:\n  hypercalls:\n    - code: 0x5d\n");
  EXPECT_THAT(clash(c, {"synic", "vmbus"}),
              HasSubstr("hypercall 0x005D is claimed by both 'synic' (/m/synic.yaml:7:7) and 'vmbus' (/m/vmbus.yaml:6:7)"));
}

TEST(ResolveClaims, IntersectingIoPorts) {
  TestCatalog c;
  c.add("rtc", "claims:\n  io-ports:\n    - range: [0x70, 0x71]\n");
  c.add("cmos", "claims:\n  io-ports:\n    - port: 0x71\n");
  EXPECT_THAT(clash(c, {"rtc", "cmos"}),
              HasSubstr("I/O port 0x0071 is claimed by both 'cmos' (/m/cmos.yaml:6:7) and 'rtc' (/m/rtc.yaml:6:7)"));
}

TEST(ResolveClaims, CpuidFieldAgainstField) {
  TestCatalog c;
  c.add("spinlocks", "claims:\n  cpuid:\n    - { leaf: 0x40000004, reg: ebx, field: 0xffffffff }\n");
  c.add("other", "claims:\n  cpuid:\n    - { leaf: 0x40000004, reg: ebx, field: 0x0000ff00 }\n");
  EXPECT_THAT(clash(c, {"spinlocks", "other"}),
              HasSubstr("CPUID 0x40000004.EBX mask 0x0000FF00 is claimed by both 'other' (field, /m/other.yaml:6:7) and "
                        "'spinlocks' (field, /m/spinlocks.yaml:6:7)"));
}

TEST(ResolveClaims, CpuidFieldAgainstBits) {
  TestCatalog c;
  c.add("privs", "claims:\n  cpuid:\n    - { leaf: 0x40000003, reg: eax, field: 0x000000ff }\n");
  c.add("vpindex", "claims:\n  cpuid:\n    - { leaf: 0x40000003, reg: eax, bits: [6, 9] }\n");
  EXPECT_THAT(clash(c, {"privs", "vpindex"}),
              HasSubstr("CPUID 0x40000003.EAX bit 6 is claimed by both 'privs' (field, /m/privs.yaml:6:7) and "
                        "'vpindex' (bits, /m/vpindex.yaml:6:7)"));
}

TEST(ResolveClaims, CpuidBitsShareAndDefaultsYield) {
  TestCatalog c;
  // 0x40000004.EAX[11] is set by both hv-tlbflush and hv-ipi.
  c.add("tlbflush", "claims:\n  cpuid:\n    - { leaf: 0x40000004, reg: eax, bits: [2, 11] }\n");
  c.add("ipi", "claims:\n  cpuid:\n    - { leaf: 0x40000004, reg: eax, bits: [10, 11] }\n");
  c.add("identity", "claims:\n  cpuid:\n    - { leaf: 0x40000004, reg: ebx, default: 0xffffffff }\n");
  c.add("spinlocks", "claims:\n  cpuid:\n    - { leaf: 0x40000004, reg: ebx, field: 0xffffffff }\n");
  EXPECT_NO_THROW(resolve(profile_of({"tlbflush", "ipi", "identity", "spinlocks"}), c.get(), direct_caps()));
}

TEST(ResolveClaims, CpuidDifferentSubleafOrRegisterDoNotClash) {
  TestCatalog c;
  c.add("a", "claims:\n  cpuid:\n    - { leaf: 0xA, subleaf: 1, reg: eax, field: 0xff }\n");
  c.add("b", "claims:\n  cpuid:\n    - { leaf: 0xA, subleaf: 2, reg: eax, field: 0xff }\n");
  c.add("c", "claims:\n  cpuid:\n    - { leaf: 0xA, subleaf: 1, reg: ebx, field: 0xff }\n");
  EXPECT_NO_THROW(resolve(profile_of({"a", "b", "c"}), c.get(), direct_caps()));
  c.add("d", "claims:\n  cpuid:\n    - { leaf: 0xA, subleaf: 2, reg: eax, field: 0x1 }\n");
  EXPECT_THAT(clash(c, {"a", "b", "c", "d"}), HasSubstr("CPUID 0xA.2.EAX bit 0 is claimed by both 'b'"));
}

}  // namespace
}  // namespace enlight
