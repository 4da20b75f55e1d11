// The top level of a manifest: the shipped examples, defaults, and every
// way the top level can be wrong.
#include <enlight/core/manifest.hpp>

#include "../common/config_error_test_util.hpp"

#include <enlight/abi.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

namespace enlight {
namespace {

using test::config_error_of;
using ::testing::HasSubstr;

const std::string kSource = ENLIGHT_TEST_SOURCE_DIR;
const std::string kFixtures = kSource + "/tests/fixtures/manifests";

// Every test manifest starts with these three lines, so body line N is
// document line N + 3.
std::string with_header(const std::string& body, const std::string& name = "demo") {
  return "name: " + name + "\nversion: 1.0.0\nabi: 1\n" + body;
}

TEST(Manifest, ParsesTheShippedVpindexManifest) {
  const Manifest m = load_manifest_file(kSource + "/manifests/vpindex.yaml");
  EXPECT_EQ(m.name, "vpindex");
  EXPECT_EQ(m.version, (Version{1, 1, 0}));
  EXPECT_EQ(m.abi, ENLIGHT_ABI_MAJOR);
  EXPECT_EQ(m.flag, "hv-vpindex");
  EXPECT_EQ(m.library, "vpindex.so");
  EXPECT_EQ(m.directory, kSource + "/manifests");
  EXPECT_EQ(m.status, "stable");
  EXPECT_EQ(m.security, "robust-to-untrusted-guest");
  EXPECT_EQ(m.snapshot, "stateless");
  EXPECT_TRUE(m.passthrough);
  EXPECT_FALSE(m.implicit);
  ASSERT_EQ(m.requires_.size(), 1u);
  EXPECT_EQ(m.requires_[0].name, "identity");
  EXPECT_EQ(m.requires_[0].range.text, ">=1.0 <2");
  EXPECT_EQ(m.requires_[0].where.line, 13);
  EXPECT_EQ(m.requires_[0].where.file, kSource + "/manifests/vpindex.yaml");
  ASSERT_EQ(m.msrs.size(), 1u);
  EXPECT_EQ(m.msrs[0].first, 0x40000002u);
  EXPECT_EQ(m.msrs[0].last, 0x40000002u);
  EXPECT_EQ(m.msrs[0].where.line, 16);
  ASSERT_TRUE(m.msrs[0].gate.has_value());
  EXPECT_EQ(m.msrs[0].gate->str(), "0x40000003.eax[6]");
  ASSERT_EQ(m.cpuid.size(), 1u);
  EXPECT_EQ(m.cpuid[0].leaf, 0x40000003u);
  EXPECT_EQ(m.cpuid[0].reg, ENLIGHT_EAX);
  EXPECT_EQ(m.cpuid[0].kind, ENLIGHT_CPUID_BITS);
  EXPECT_EQ(m.cpuid[0].mask, 1u << 6);
  EXPECT_EQ(m.where_of("abi").line, 4);
}

TEST(Manifest, ParsesTheShippedIdentityManifest) {
  const Manifest m = load_manifest_file(kSource + "/manifests/identity.yaml");
  EXPECT_TRUE(m.implicit);
  EXPECT_TRUE(m.flag.empty());
  ASSERT_EQ(m.msrs.size(), 3u);
  EXPECT_FALSE(m.msrs[0].fallback);
  EXPECT_TRUE(m.msrs[2].fallback) << "HV_X64_MSR_VP_ASSIST_PAGE, while no plugin claims it";
  EXPECT_EQ(m.msrs[2].first, 0x40000073u);
  EXPECT_EQ(m.cpuid.size(), 13u);
  const OptionSpec* vendor = m.find_option("vendor-id");
  ASSERT_NE(vendor, nullptr);
  EXPECT_EQ(vendor->type, OptionSpec::Type::String);
  EXPECT_EQ(vendor->default_string, "Microsoft Hv");
  EXPECT_EQ(vendor->flag, "hv-vendor-id");
  EXPECT_FALSE(vendor->flag_enables);
  const OptionSpec* build = m.find_option("version-id-build");
  ASSERT_NE(build, nullptr);
  EXPECT_EQ(build->default_u64, 0x3839u);
  EXPECT_EQ(build->max, 0xffffffffu);
  EXPECT_EQ(m.find_option("nonexistent"), nullptr);
  // The spinlock default is a DEFAULT claim: it yields to any writer.
  EXPECT_EQ(m.cpuid[10].kind, ENLIGHT_CPUID_DEFAULT);
  EXPECT_EQ(m.cpuid[10].reg, ENLIGHT_EBX);
}

TEST(Manifest, EveryShippedManifestParses) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kSource + "/manifests")) {
    if (entry.path().extension() != ".yaml") continue;
    ++count;
    try {
      const Manifest m = load_manifest_file(entry.path().string());
      EXPECT_EQ(m.name + ".yaml", entry.path().filename().string()) << "a manifest's file is named after its plugin";
    } catch (const ConfigError& e) {
      ADD_FAILURE() << e.what();
    }
  }
  EXPECT_GE(count, 2);
}

TEST(Manifest, DefaultsForOptionalKeys) {
  const Manifest m = parse_manifest(with_header(""), "/m/demo.yaml");
  EXPECT_EQ(m.status, "experimental");
  EXPECT_EQ(m.security, "unknown");
  EXPECT_EQ(m.snapshot, "unknown");  // a snapshot of a VM with it is refused until it says
  EXPECT_FALSE(m.implicit);
  EXPECT_FALSE(m.passthrough);
  EXPECT_TRUE(m.library.empty());
  EXPECT_TRUE(m.requires_.empty());
  EXPECT_EQ(m.path, "/m/demo.yaml");
  EXPECT_EQ(m.where.line, 1);
}

TEST(Manifest, AcceptsHexAndDecimalNumbers) {
  EXPECT_EQ(parse_manifest("name: a\nversion: 1.0.0\nabi: 0x1\n", "a.yaml").abi, 1u);
  EXPECT_EQ(parse_manifest("name: a\nversion: 1.0.0\nabi: 1\n", "a.yaml").abi, 1u);
}

TEST(Manifest, UnknownTopLevelKeySuggestsTheClosest) {
  const auto e = config_error_of([] { parse_manifest(with_header("claim:\n  msrs: []\n"), "/m/demo.yaml"); });
  EXPECT_THAT(e.message, HasSubstr("/m/demo.yaml:4:1: unknown key 'claim' in manifest; did you mean 'claims'?"));
  EXPECT_EQ(e.where.line, 4);
  EXPECT_FALSE(e.fix.empty());
}

TEST(Manifest, DuplicateKeyIsAnError) {
  const auto e = config_error_of([] { parse_manifest(with_header("flag: hv-a\nflag: hv-b\n"), "/m/demo.yaml"); });
  EXPECT_THAT(e.message, HasSubstr("/m/demo.yaml:5:1: duplicate key 'flag' in manifest (first at line 4)"));
}

TEST(Manifest, WrongTypeNamesKeyTypeAndLine) {
  auto e = config_error_of([] { parse_manifest(with_header("implicit: maybe\n"), "/m/demo.yaml"); });
  EXPECT_THAT(e.message, HasSubstr("/m/demo.yaml:4:11: key 'implicit' must be a boolean (true or false), got 'maybe'"));
  e = config_error_of([] { parse_manifest(with_header("requires: identity\n"), "/m/demo.yaml"); });
  EXPECT_THAT(e.message, HasSubstr("/m/demo.yaml:4:11: key 'requires' must be a list, got 'identity'"));
  e = config_error_of([] { parse_manifest(with_header("description: [a, b]\n"), "/m/demo.yaml"); });
  EXPECT_THAT(e.message, HasSubstr("/m/demo.yaml:4:14: key 'description' must be a string, got a list"));
  e = config_error_of([] { parse_manifest("name: a\nversion: 1.0.0\nabi: one\n", "/m/a.yaml"); });
  EXPECT_THAT(e.message, HasSubstr("/m/a.yaml:3:6: key 'abi' must be a number (decimal or 0x hex), got 'one'"));
  e = config_error_of([] { parse_manifest(with_header("host-features: [intel-vmx, [x]]\n"), "/m/demo.yaml"); });
  EXPECT_THAT(e.message, HasSubstr("/m/demo.yaml:4:"));
  EXPECT_THAT(e.message, HasSubstr("an entry of 'host-features' must be a string, got a list"));
}

TEST(Manifest, MalformedYamlCarriesTheParserLine) {
  const auto e = config_error_of([] { parse_manifest("name: a\nversion: 1.0.0\nabi: 1\nclaims:\n  msrs: [ { index: 1 }\n", "/m/a.yaml"); });
  EXPECT_THAT(e.message, HasSubstr("/m/a.yaml:"));
  EXPECT_THAT(e.message, HasSubstr("malformed YAML in manifest"));
  EXPECT_GE(e.where.line, 5);
}

TEST(Manifest, EmptyOrNonMappingDocument) {
  EXPECT_THAT(config_error_of([] { parse_manifest("", "/m/e.yaml"); }).message, HasSubstr("/m/e.yaml:1: manifest is empty"));
  EXPECT_THAT(config_error_of([] { parse_manifest("- a\n- b\n", "/m/e.yaml"); }).message,
              HasSubstr("/m/e.yaml:1:1: manifest must be a mapping of keys to values, got a list"));
}

TEST(Manifest, RequiredKeys) {
  EXPECT_THAT(config_error_of([] { parse_manifest("version: 1.0.0\nabi: 1\n", "/m/x.yaml"); }).message,
              HasSubstr("/m/x.yaml:1:1: missing key 'name' in manifest"));
  EXPECT_THAT(config_error_of([] { parse_manifest("name: x\nabi: 1\n", "/m/x.yaml"); }).message,
              HasSubstr("missing key 'version'"));
  EXPECT_THAT(config_error_of([] { parse_manifest("name: x\nversion: 1.0.0\n", "/m/x.yaml"); }).message,
              HasSubstr("missing key 'abi'"));
}

TEST(Manifest, NameAndVersionSyntax) {
  EXPECT_THAT(config_error_of([] { parse_manifest("name: VpIndex\nversion: 1.0.0\nabi: 1\n", "/m/x.yaml"); }).message,
              HasSubstr("/m/x.yaml:1:7: plugin name 'VpIndex' may use only a-z, 0-9 and '-'"));
  auto e = config_error_of([] { parse_manifest("name: x\nversion: 1.0\nabi: 1\n", "/m/x.yaml"); });
  EXPECT_THAT(e.message, HasSubstr("/m/x.yaml:2:10: version '1.0' must have three parts"));
  EXPECT_THAT(e.fix, HasSubstr("1.0.0"));
  EXPECT_THAT(config_error_of([] { parse_manifest("name: x\nversion: 1.a.0\nabi: 1\n", "/m/x.yaml"); }).message,
              HasSubstr("/m/x.yaml:2:10: '1.a.0' is not a version"));
}

TEST(Manifest, EnumeratedKeysListTheirValues) {
  auto e = config_error_of([] { parse_manifest(with_header("status: stabel\n"), "/m/demo.yaml"); });
  EXPECT_THAT(e.message, HasSubstr("/m/demo.yaml:4:9: key 'status' must be one of 'stable', 'experimental', 'example', "
                                   "got 'stabel'; did you mean 'stable'?"));
  e = config_error_of([] { parse_manifest(with_header("security: safe\n"), "/m/demo.yaml"); });
  EXPECT_THAT(e.message, HasSubstr("key 'security' must be one of 'robust-to-untrusted-guest'"));
  e = config_error_of([] { parse_manifest(with_header("snapshot: save\n"), "/m/demo.yaml"); });
  EXPECT_THAT(e.message, HasSubstr("/m/demo.yaml:4:11: key 'snapshot' must be one of 'saved', 'stateless', "
                                   "'unsupported', 'unknown', got 'save'; did you mean 'saved'?"));
}

TEST(Manifest, DependencyEntries) {
  const Manifest m = parse_manifest(with_header("requires:\n  - identity\n  - synic >= 1.1 <2\nrecommends: [frequencies>=1]\n"
                                                "conflicts:\n  - old-thing <3.0.0\n"),
                                    "/m/demo.yaml");
  ASSERT_EQ(m.requires_.size(), 2u);
  EXPECT_EQ(m.requires_[0].name, "identity");
  EXPECT_TRUE(m.requires_[0].range.bounds.empty());
  EXPECT_EQ(m.requires_[0].where.line, 5);
  EXPECT_EQ(m.requires_[1].name, "synic");
  EXPECT_EQ(m.requires_[1].range.text, ">= 1.1 <2");
  EXPECT_FALSE(m.requires_[1].range.contains(Version{1, 0, 0}));
  EXPECT_EQ(m.requires_[1].where.line, 6);
  ASSERT_EQ(m.recommends.size(), 1u);
  EXPECT_EQ(m.recommends[0].name, "frequencies");
  EXPECT_EQ(m.recommends[0].where.line, 7);
  ASSERT_EQ(m.conflicts.size(), 1u);
  EXPECT_EQ(m.conflicts[0].name, "old-thing");
  EXPECT_EQ(m.conflicts[0].where.line, 9);
}

TEST(Manifest, BadDependencyEntries) {
  auto e = config_error_of([] { parse_manifest(with_header("requires:\n  - synic 2.0\n"), "/m/demo.yaml"); });
  EXPECT_THAT(e.message, HasSubstr("/m/demo.yaml:5:5: bad version range in 'requires' entry 'synic 2.0'"));
  EXPECT_THAT(e.message, HasSubstr("needs an operator"));
  e = config_error_of([] { parse_manifest(with_header("conflicts:\n  - '>=1.0'\n"), "/m/demo.yaml"); });
  EXPECT_THAT(e.message, HasSubstr("/m/demo.yaml:5:5: '>=1.0' in 'conflicts' does not start with a plugin name"));
  e = config_error_of([] { parse_manifest(with_header("requires: [demo]\n"), "/m/demo.yaml"); });
  EXPECT_THAT(e.message, HasSubstr("/m/demo.yaml:4:12: plugin 'demo' names itself in 'requires'"));
}

TEST(Manifest, FlagNames) {
  EXPECT_EQ(parse_manifest(with_header("flag: hv_demo\n"), "/m/demo.yaml").flag, "hv_demo");
  EXPECT_THAT(config_error_of([] { parse_manifest(with_header("flag: hv-passthrough\n"), "/m/demo.yaml"); }).message,
              HasSubstr("/m/demo.yaml:4:7: flag 'hv-passthrough' belongs to the core"));
  EXPECT_THAT(config_error_of([] { parse_manifest(with_header("flag: hv demo\n"), "/m/demo.yaml"); }).message,
              HasSubstr("/m/demo.yaml:4:7: flag 'hv demo' is not a flag name"));
}

TEST(Manifest, LoadFileErrors) {
  auto e = config_error_of([] { load_manifest_file("/nonexistent/dir/x.yaml"); });
  EXPECT_THAT(e.message, HasSubstr("/nonexistent/dir/x.yaml: cannot read manifest"));
  e = config_error_of([] { load_manifest_file(kFixtures + "/catalog-nolibrary/nolib.yaml"); });
  EXPECT_THAT(e.message, HasSubstr("catalog-nolibrary/nolib.yaml:1: manifest of 'nolib' has no 'library' key"));
  EXPECT_THAT(e.fix, HasSubstr("library: nolib.so"));
  // Inline parsing does not demand a library: built-in plugins have none.
  EXPECT_NO_THROW(parse_manifest("name: nolib\nversion: 1.0.0\nabi: 1\n", "<built-in>/nolib.yaml"));
}

}  // namespace
}  // namespace enlight
