// YAML profiles and the embedded ones.
#include <enlight/core/profile.hpp>

#include "../common/config_error_test_util.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace enlight {
namespace {

using test::config_error_of;
using ::testing::HasSubstr;

const std::string kFixtures = std::string(ENLIGHT_TEST_SOURCE_DIR) + "/tests/fixtures/manifests";

std::vector<std::string> names(const Profile& p) {
  std::vector<std::string> out;
  for (const auto& r : p.plugins) out.push_back(r.name);
  return out;
}

TEST(Profile, ParsesNamesOptionsAndLines) {
  const Profile p = parse_profile(
      "name: lab\n"
      "description: a test\n"
      "vcpus: 0x4\n"
      "enforce-cpuid: true\n"
      "passthrough: false\n"
      "enlightenments:\n"
      "  - relaxed\n"
      "  - spinlocks: { retries: 0x1fff }\n"
      "  - identity:\n"
      "      vendor-id: \"KVMKVMKVM\"\n"
      "      max-vps: 64\n"
      "  - vpindex:\n",
      "/p/lab.yaml");
  EXPECT_EQ(p.name, "lab");
  EXPECT_EQ(p.source, "/p/lab.yaml");
  EXPECT_EQ(p.vcpus, 4u);
  EXPECT_TRUE(p.enforce_cpuid);
  EXPECT_FALSE(p.passthrough);
  EXPECT_THAT(names(p), ::testing::ElementsAre("relaxed", "spinlocks", "identity", "vpindex"));
  EXPECT_EQ(p.plugins[0].where.line, 7);
  EXPECT_TRUE(p.plugins[0].options.empty());
  const OptionValue& retries = p.plugins[1].options.at("retries");
  EXPECT_EQ(retries.text, "0x1fff");
  EXPECT_EQ(retries.where.file, "/p/lab.yaml");
  EXPECT_EQ(retries.where.line, 8);
  EXPECT_EQ(p.plugins[2].options.at("vendor-id").text, "KVMKVMKVM");
  EXPECT_EQ(p.plugins[2].options.at("max-vps").where.line, 11);
  EXPECT_TRUE(p.plugins[3].options.empty());
  EXPECT_TRUE(p.option_only.empty());
}

// A booted kernel's keys: paths relative to the profile's directory (a
// profile and its kernel move together), memory with a unit.
TEST(Profile, MachineKeys) {
  const Profile p = parse_profile(
      "kernel: images/vmlinuz\n"
      "initrd: /abs/initrd.img\n"
      "append: console=ttyS0 quiet\n"
      "memory: 512M\n"
      "serial: console.log\n",
      "/p/vms/lab.yaml");
  EXPECT_EQ(p.machine.kernel, "/p/vms/images/vmlinuz");
  EXPECT_EQ(p.machine.initrd, "/abs/initrd.img");
  EXPECT_EQ(p.machine.append, "console=ttyS0 quiet");
  EXPECT_TRUE(p.machine.has_append);
  EXPECT_EQ(p.machine.memory, 512ull << 20);
  EXPECT_EQ(p.machine.serial, "/p/vms/console.log");
  EXPECT_EQ(p.machine.where.line, 1);
  EXPECT_TRUE(parse_profile("vcpus: 2\n", "/p/x.yaml").machine.kernel.empty());
}

TEST(Profile, MachineKeyErrors) {
  EXPECT_THAT(config_error_of([] { parse_profile("vcpus: 1\ninitrd: x.img\n", "/p/x.yaml"); }).message,
              HasSubstr("/p/x.yaml:2:9: 'initrd' describes a booted kernel, but the profile has no 'kernel'"));
  EXPECT_THAT(config_error_of([] { parse_profile("kernel: k\nmemory: lots\n", "/p/x.yaml"); }).message,
              HasSubstr("/p/x.yaml:2:9: 'lots' is not a memory size"));
  EXPECT_THAT(config_error_of([] { parse_profile("kernel: k\nmemory: 3T\n", "/p/x.yaml"); }).message,
              HasSubstr("unknown unit 'T'"));
}

TEST(Profile, MemorySizes) {
  EXPECT_EQ(parse_memory_size("268435456"), 256ull << 20);
  EXPECT_EQ(parse_memory_size("256M"), 256ull << 20);
  EXPECT_EQ(parse_memory_size("256MiB"), 256ull << 20);
  EXPECT_EQ(parse_memory_size("1g"), 1ull << 30);
  EXPECT_EQ(parse_memory_size("64k"), 64ull << 10);
  EXPECT_THROW(parse_memory_size("256MB"), std::invalid_argument) << "MB would be ambiguous: only powers of 1024";
  EXPECT_THROW(parse_memory_size("-1M"), std::invalid_argument);
  EXPECT_THROW(parse_memory_size("2048G"), std::out_of_range);
}

TEST(Profile, DefaultsAndNameFromFile) {
  const Profile p = parse_profile("enlightenments: [vpindex]\n", "/p/quick.yaml");
  EXPECT_EQ(p.name, "quick");
  EXPECT_EQ(p.vcpus, 1u);
  EXPECT_FALSE(p.enforce_cpuid);
  EXPECT_FALSE(p.passthrough);
  EXPECT_TRUE(parse_profile("", "/p/empty.yaml").plugins.empty());
}

TEST(Profile, UnknownKeyNamesFileAndLine) {
  const auto e = config_error_of([] { parse_profile("name: x\nenlightenment:\n  - vpindex\n", "/p/x.yaml"); });
  EXPECT_THAT(e.message, HasSubstr("/p/x.yaml:2:1: unknown key 'enlightenment' in profile; did you mean 'enlightenments'?"));
}

TEST(Profile, VcpusRange) {
  EXPECT_THAT(config_error_of([] { parse_profile("vcpus: 0\n", "/p/x.yaml"); }).message,
              HasSubstr("/p/x.yaml:1:8: vcpus is 0, outside 1..1024"));
  EXPECT_THAT(config_error_of([] { parse_profile("vcpus: 1025\n", "/p/x.yaml"); }).message, HasSubstr("vcpus is 1025"));
  EXPECT_THAT(config_error_of([] { parse_profile("vcpus: two\n", "/p/x.yaml"); }).message,
              HasSubstr("/p/x.yaml:1:8: key 'vcpus' must be a number"));
  EXPECT_EQ(parse_profile("vcpus: 1024\n", "/p/x.yaml").vcpus, 1024u);
}

TEST(Profile, WrongTypes) {
  EXPECT_THAT(config_error_of([] { parse_profile("passthrough: sometimes\n", "/p/x.yaml"); }).message,
              HasSubstr("/p/x.yaml:1:14: key 'passthrough' must be a boolean (true or false), got 'sometimes'"));
  EXPECT_THAT(config_error_of([] { parse_profile("enlightenments: vpindex\n", "/p/x.yaml"); }).message,
              HasSubstr("/p/x.yaml:1:17: key 'enlightenments' must be a list"));
}

TEST(Profile, BadEnlightenmentItems) {
  EXPECT_THAT(config_error_of([] { parse_profile("enlightenments:\n  - [vpindex]\n", "/p/x.yaml"); }).message,
              HasSubstr("/p/x.yaml:2:5: an enlightenment must be a plugin name or 'name: { option: value }', got a list"));
  EXPECT_THAT(config_error_of([] { parse_profile("enlightenments:\n  - { a: {}, b: {} }\n", "/p/x.yaml"); }).message,
              HasSubstr("got a mapping with 2 keys"));
  EXPECT_THAT(config_error_of([] { parse_profile("enlightenments:\n  - spinlocks: 0x1fff\n", "/p/x.yaml"); }).message,
              HasSubstr("/p/x.yaml:2:16: options of 'spinlocks' must be a mapping of option names to values, got '0x1fff'"));
  EXPECT_THAT(config_error_of([] { parse_profile("enlightenments:\n  - spinlocks: { retries: [1] }\n", "/p/x.yaml"); }).message,
              HasSubstr("/p/x.yaml:2:27: the value of option 'retries' must be a string, got a list"));
  EXPECT_THAT(config_error_of([] { parse_profile("enlightenments:\n  - Hv-Relaxed\n", "/p/x.yaml"); }).message,
              HasSubstr("'Hv-Relaxed' is not a plugin name"));
}

TEST(Profile, DuplicatesAreErrors) {
  EXPECT_THAT(config_error_of([] { parse_profile("enlightenments:\n  - vpindex\n  - relaxed\n  - vpindex\n", "/p/x.yaml"); }).message,
              HasSubstr("/p/x.yaml:4:5: 'vpindex' is listed twice (first at line 2)"));
  EXPECT_THAT(config_error_of([] { parse_profile("enlightenments:\n  - s: { a: 1, a: 2 }\n", "/p/x.yaml"); }).message,
              HasSubstr("/p/x.yaml:2:16: option 'a' of 's' is set twice"));
}

TEST(Profile, MalformedYaml) {
  const auto e = config_error_of([] { parse_profile("name: x\nenlightenments: [vpindex\n", "/p/x.yaml"); });
  EXPECT_THAT(e.message, HasSubstr("/p/x.yaml:"));
  EXPECT_THAT(e.message, HasSubstr("malformed YAML in profile"));
  EXPECT_GE(e.where.line, 2);
}

TEST(Profile, EmbeddedProfilesAreTheShippedOnes) {
  const auto& table = embedded_profiles();
  ASSERT_TRUE(table.count("minimal"));
  ASSERT_TRUE(table.count("recommended"));
  EXPECT_EQ(default_profile_name(), "recommended");
  for (const auto& [name, text] : table) {
    const Profile p = parse_profile(text, "<embedded>/" + name + ".yaml");
    EXPECT_EQ(p.name, name);
    EXPECT_FALSE(p.plugins.empty()) << name;
  }
}

TEST(Profile, LoadProfileByEmbeddedNameDefaultOrPath) {
  const Profile rec = load_profile("recommended");
  EXPECT_EQ(rec.source, "<embedded>/recommended.yaml");
  EXPECT_EQ(rec.vcpus, 2u);
  const Profile dflt = load_profile("default");
  EXPECT_EQ(dflt.name, "recommended");
  EXPECT_EQ(dflt.plugins.size(), rec.plugins.size());
  const Profile minimal = load_profile("minimal");
  EXPECT_THAT(names(minimal), ::testing::ElementsAre("relaxed", "vpindex"));

  const Profile small = load_profile(kFixtures + "/profiles/small.yaml");
  EXPECT_EQ(small.source, kFixtures + "/profiles/small.yaml");
  EXPECT_EQ(small.vcpus, 4u);
  EXPECT_TRUE(small.enforce_cpuid);
  EXPECT_THAT(names(small), ::testing::ElementsAre("vpindex", "identity"));
  EXPECT_EQ(small.plugins[1].options.at("vendor-id").where.line, 7);
}

TEST(Profile, LoadProfileUnknownNameSuggestsEmbeddedOnes) {
  auto e = config_error_of([] { load_profile("minimul"); });
  EXPECT_THAT(e.message, HasSubstr("no profile file or embedded profile named 'minimul'; did you mean 'minimal'?"));
  EXPECT_THAT(e.fix, HasSubstr("'recommended'"));
  e = config_error_of([] { load_profile("/nonexistent/x.yaml"); });
  EXPECT_THAT(e.message, HasSubstr("/nonexistent/x.yaml: cannot read profile"));
}

}  // namespace
}  // namespace enlight
