// The claims section: syntax of each claim kind and the overlaps one
// manifest may not have with itself.
#include <enlight/core/manifest.hpp>

#include "../common/config_error_test_util.hpp"

#include <enlight/abi.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace enlight {
namespace {

using test::config_error_of;
using ::testing::HasSubstr;

// Header lines 1-3, "claims:" on line 4: claim line N of `body` is line N + 4.
Manifest with_claims(const std::string& body) {
  return parse_manifest("name: demo\nversion: 1.0.0\nabi: 1\nclaims:\n" + body, "/m/demo.yaml");
}

std::string error_of(const std::string& body) {
  return config_error_of([&] { with_claims(body); }).message;
}

TEST(ManifestClaims, MsrIndexRangeAndGate) {
  const Manifest m = with_claims(
      "  msrs:\n"
      "    - index: 0x40000070\n"
      "      gate: 0x40000003.EAX[4]\n"
      "    - range: [0x40000090, 0x4000009f]\n"
      "    - { index: 1073741825 }\n");
  ASSERT_EQ(m.msrs.size(), 3u);
  EXPECT_EQ(m.msrs[0].first, 0x40000070u);
  ASSERT_TRUE(m.msrs[0].gate);
  EXPECT_EQ(m.msrs[0].gate->leaf, 0x40000003u);
  EXPECT_EQ(m.msrs[0].gate->reg, ENLIGHT_EAX);
  EXPECT_EQ(m.msrs[0].gate->bit, 4);
  EXPECT_EQ(m.msrs[0].where.line, 6);
  EXPECT_EQ(m.msrs[1].first, 0x40000090u);
  EXPECT_EQ(m.msrs[1].last, 0x4000009Fu);
  EXPECT_FALSE(m.msrs[1].gate);
  EXPECT_EQ(m.msrs[1].where.line, 8);
  EXPECT_EQ(m.msrs[2].first, 0x40000001u);
}

TEST(ManifestClaims, DefaultMsrClaimOnlyInTheSyntheticRange) {
  const Manifest m = with_claims("  msrs:\n    - { index: 0x40000073, default: true }\n    - index: 0x40000070\n");
  ASSERT_EQ(m.msrs.size(), 2u);
  EXPECT_TRUE(m.msrs[0].fallback);
  EXPECT_FALSE(m.msrs[1].fallback);
  EXPECT_THAT(error_of("  msrs:\n    - { index: 0x1b, default: true }\n"),
              HasSubstr("a default MSR claim must lie in the synthetic range 0x40000000-0x400001ff"));
  EXPECT_THAT(error_of("  msrs:\n    - { index: 0x40000073, default: maybe }\n"), HasSubstr("key 'default' must be a boolean"));
}

TEST(ManifestClaims, MsrErrors) {
  EXPECT_THAT(error_of("  msrs:\n    - { index: 1, range: [1, 2] }\n"),
              HasSubstr("/m/demo.yaml:6:7: an MSR claim needs exactly one of 'index' or 'range'"));
  EXPECT_THAT(error_of("  msrs:\n    - gate: 0x40000003.eax[1]\n"), HasSubstr("/m/demo.yaml:6:7: an MSR claim needs exactly one"));
  EXPECT_THAT(error_of("  msrs:\n    - range: [5, 2]\n"), HasSubstr("/m/demo.yaml:6:14: range [0x5, 0x2] ends before it starts"));
  EXPECT_THAT(error_of("  msrs:\n    - range: [5]\n"), HasSubstr("/m/demo.yaml:6:14: key 'range' must be a list of two numbers"));
  EXPECT_THAT(error_of("  msrs:\n    - index: 0x100000000\n"),
              HasSubstr("/m/demo.yaml:6:14: key 'index' is 0x100000000, more than the maximum 0xFFFFFFFF"));
  EXPECT_THAT(error_of("  msrs:\n    - { indx: 1 }\n"),
              HasSubstr("/m/demo.yaml:6:9: unknown key 'indx' in an MSR claim; did you mean 'index'?"));
  EXPECT_THAT(error_of("  msrs: 0x40000000\n"), HasSubstr("/m/demo.yaml:5:9: key 'msrs' must be a list"));
}

TEST(ManifestClaims, GateSyntax) {
  EXPECT_THAT(error_of("  msrs:\n    - index: 1\n      gate: 0x40000003.exx[6]\n"),
              HasSubstr("/m/demo.yaml:7:13: gate '0x40000003.exx[6]' is not LEAF.REG[BIT]"));
  EXPECT_THAT(error_of("  msrs:\n    - { index: 1, gate: \"0x40000003.eax[32]\" }\n"),
              HasSubstr("gate '0x40000003.eax[32]': bit 32 is outside 0..31"));
  EXPECT_THAT(error_of("  msrs:\n    - { index: 1, gate: 0x40000003 }\n"), HasSubstr("is not LEAF.REG[BIT]"));
  EXPECT_THAT(error_of("  msrs:\n    - { index: 1, gate: 0x40000003.eax }\n"), HasSubstr("is not LEAF.REG[BIT]"));
}

TEST(ManifestClaims, UnquotedGateInFlowStyleGetsAHint) {
  const auto e = config_error_of([] { with_claims("  msrs:\n    - { index: 1, gate: 0x40000003.eax[6] }\n"); });
  EXPECT_THAT(e.message, HasSubstr("/m/demo.yaml:6:"));
  EXPECT_THAT(e.message, HasSubstr("malformed YAML in manifest"));
  EXPECT_THAT(e.fix, HasSubstr("quote values that contain brackets"));
}

TEST(ManifestClaims, OverlappingMsrsInOneManifest) {
  EXPECT_THAT(error_of("  msrs:\n    - index: 0x40000095\n    - range: [0x40000090, 0x4000009f]\n"),
              HasSubstr("/m/demo.yaml:7:7: MSR 0x40000095 is claimed twice in this manifest (also at line 6)"));
}

TEST(ManifestClaims, HypercallCodes) {
  const Manifest m = with_claims("  hypercalls:\n    - code: 0x0008\n    - { code: 0x8001, gate: \"0x40000003.ebx[20]\" }\n    - code: 0x1ff\n");
  ASSERT_EQ(m.hypercalls.size(), 3u);
  EXPECT_EQ(m.hypercalls[0].code, 0x0008);
  EXPECT_EQ(m.hypercalls[1].code, 0x8001);
  EXPECT_EQ(m.hypercalls[1].gate->str(), "0x40000003.ebx[20]");
  EXPECT_THAT(error_of("  hypercalls:\n    - code: 0x200\n"),
              HasSubstr("/m/demo.yaml:6:13: hypercall code 0x0200 is outside 0x0000-0x01FF and 0x8000-0x80FF"));
  EXPECT_THAT(error_of("  hypercalls:\n    - code: 0x8100\n"), HasSubstr("hypercall code 0x8100 is outside"));
  EXPECT_THAT(error_of("  hypercalls:\n    - code: 0x7FFF\n"), HasSubstr("hypercall code 0x7FFF is outside"));
  EXPECT_THAT(error_of("  hypercalls:\n    - gate: 0x40000003.ebx[4]\n"), HasSubstr("/m/demo.yaml:6:7: missing key 'code' in a hypercall claim"));
  EXPECT_THAT(error_of("  hypercalls:\n    - code: 0x5c\n    - code: 92\n"),
              HasSubstr("/m/demo.yaml:7:7: hypercall 0x005C is claimed twice in this manifest (also at line 6)"));
}

TEST(ManifestClaims, IoPorts) {
  const Manifest m = with_claims("  io-ports:\n    - port: 0x70\n    - range: [0x3f8, 0x3ff]\n");
  ASSERT_EQ(m.io_ports.size(), 2u);
  EXPECT_EQ(m.io_ports[0].first, 0x70);
  EXPECT_EQ(m.io_ports[1].last, 0x3ff);
  EXPECT_THAT(error_of("  io-ports:\n    - port: 0x10000\n"), HasSubstr("/m/demo.yaml:6:13: key 'port' is 0x10000, more than the maximum 0xFFFF"));
  EXPECT_THAT(error_of("  io-ports:\n    - port: 1\n      gate: 0x40000003.eax[1]\n"), HasSubstr("unknown key 'gate' in an I/O port claim"));
  EXPECT_THAT(error_of("  io-ports:\n    - range: [0x60, 0x64]\n    - port: 0x64\n"), HasSubstr("I/O port 0x0064 is claimed twice"));
}

TEST(ManifestClaims, CpuidKindsAndFlowStyle) {
  const Manifest m = with_claims(
      "  cpuid:\n"
      "    - { leaf: 0x40000003, reg: eax, bits: [5, 6, 31] }\n"
      "    - { leaf: 0x40000004, reg: ebx, field: 0xffffffff }\n"
      "    - leaf: 0x4000000A\n"
      "      subleaf: 2\n"
      "      reg: EDX\n"
      "      default: 0x0000ff00\n");
  ASSERT_EQ(m.cpuid.size(), 3u);
  EXPECT_EQ(m.cpuid[0].kind, ENLIGHT_CPUID_BITS);
  EXPECT_EQ(m.cpuid[0].mask, (1u << 5) | (1u << 6) | (1u << 31));
  EXPECT_EQ(m.cpuid[0].subleaf, 0u);
  EXPECT_EQ(m.cpuid[0].where.line, 6);
  EXPECT_EQ(m.cpuid[1].kind, ENLIGHT_CPUID_FIELD);
  EXPECT_EQ(m.cpuid[1].reg, ENLIGHT_EBX);
  EXPECT_EQ(m.cpuid[1].mask, 0xffffffffu);
  EXPECT_EQ(m.cpuid[2].kind, ENLIGHT_CPUID_DEFAULT);
  EXPECT_EQ(m.cpuid[2].subleaf, 2u);
  EXPECT_EQ(m.cpuid[2].reg, ENLIGHT_EDX);
  EXPECT_EQ(m.cpuid[2].mask, 0xff00u);
  EXPECT_EQ(m.cpuid[2].where.line, 8);
}

TEST(ManifestClaims, CpuidErrors) {
  EXPECT_THAT(error_of("  cpuid:\n    - { leaf: 1, reg: eax, bits: [1], field: 2 }\n"),
              HasSubstr("/m/demo.yaml:6:7: a CPUID claim needs exactly one of 'bits', 'field' or 'default'"));
  EXPECT_THAT(error_of("  cpuid:\n    - { leaf: 1, reg: eax }\n"), HasSubstr("needs exactly one of 'bits', 'field' or 'default'"));
  EXPECT_THAT(error_of("  cpuid:\n    - { leaf: 1, reg: eax, bits: [32] }\n"),
              HasSubstr("/m/demo.yaml:6:35: a bit number in 'bits' is 32, more than the maximum 0x1F"));
  EXPECT_THAT(error_of("  cpuid:\n    - { leaf: 1, reg: eax, bits: [] }\n"), HasSubstr("key 'bits' lists no bits"));
  EXPECT_THAT(error_of("  cpuid:\n    - { leaf: 1, reg: r8, bits: [1] }\n"),
              HasSubstr("/m/demo.yaml:6:23: key 'reg' must be one of 'eax', 'ebx', 'ecx', 'edx', got 'r8'"));
  EXPECT_THAT(error_of("  cpuid:\n    - { reg: eax, bits: [1] }\n"), HasSubstr("missing key 'leaf' in a CPUID claim"));
  EXPECT_THAT(error_of("  cpuid:\n    - { leaf: 1, reg: eax, field: 0 }\n"), HasSubstr("key 'field' is a mask and must not be 0"));
  EXPECT_THAT(error_of("  cpuid:\n    - { leaf: 1, reg: eax, field: 0x1ffffffff }\n"), HasSubstr("more than the maximum 0xFFFFFFFF"));
  EXPECT_THAT(error_of("  cpuid:\n    - { leaf: 1, reg: eax, field: 0xff }\n    - { leaf: 1, reg: eax, bits: [3] }\n"),
              HasSubstr("/m/demo.yaml:7:7: CPUID 0x1.eax mask 0x8 overlaps the claim at line 6 of this manifest"));
  // A default under a field of the same plugin is fine, as are bits beside
  // a field that does not cover them.
  EXPECT_NO_THROW(with_claims("  cpuid:\n    - { leaf: 1, reg: eax, field: 0xff }\n    - { leaf: 1, reg: eax, default: 0xff }\n"
                              "    - { leaf: 1, reg: eax, bits: [8] }\n"));
}

TEST(ManifestClaims, UnknownClaimKind) {
  EXPECT_THAT(error_of("  msr:\n    - index: 1\n"), HasSubstr("/m/demo.yaml:5:3: unknown key 'msr' in claims; did you mean 'msrs'?"));
}

}  // namespace
}  // namespace enlight
