// The options section: types, typed defaults, bounds, flags.
#include <enlight/core/manifest.hpp>

#include "../common/config_error_test_util.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace enlight {
namespace {

using test::config_error_of;
using ::testing::HasSubstr;

// "options:" is line 4; option lines start at 5.
Manifest with_options(const std::string& body) {
  return parse_manifest("name: demo\nversion: 1.0.0\nabi: 1\noptions:\n" + body, "/m/demo.yaml");
}

std::string error_of(const std::string& body) {
  return config_error_of([&] { with_options(body); }).message;
}

TEST(ManifestOptions, EveryTypeWithDefaults) {
  const Manifest m = with_options(
      "  - name: retries\n"
      "    type: u64\n"
      "    default: 0xfff\n"
      "    min: 0\n"
      "    max: 0xffffffff\n"
      "    flag: hv-spinlocks\n"
      "    flag-enables: true\n"
      "  - { name: verbose, type: bool, default: on }\n"
      "  - name: vendor\n"
      "    type: string\n"
      "    default: \"Microsoft Hv\"\n"
      "    max-length: 12\n"
      "    description: the vendor string\n");
  ASSERT_EQ(m.options.size(), 3u);
  const OptionSpec& r = m.options[0];
  EXPECT_EQ(r.type, OptionSpec::Type::U64);
  EXPECT_EQ(r.default_u64, 0xfffu);
  EXPECT_EQ(r.min, 0u);
  EXPECT_EQ(r.max, 0xffffffffu);
  EXPECT_EQ(r.flag, "hv-spinlocks");
  EXPECT_TRUE(r.flag_enables);
  EXPECT_EQ(r.where.line, 5);
  EXPECT_EQ(m.options[1].type, OptionSpec::Type::Bool);
  EXPECT_TRUE(m.options[1].default_bool);
  EXPECT_FALSE(m.options[1].flag_enables);
  EXPECT_EQ(m.options[1].where.line, 12);
  EXPECT_EQ(m.options[2].default_string, "Microsoft Hv");
  EXPECT_EQ(m.options[2].max_length, 12u);
  EXPECT_EQ(m.options[2].description, "the vendor string");
}

TEST(ManifestOptions, DefaultIsRequiredAndTyped) {
  EXPECT_THAT(error_of("  - { name: a, type: u64 }\n"), HasSubstr("/m/demo.yaml:5:5: missing key 'default' in an option"));
  EXPECT_THAT(error_of("  - { name: a, type: u64, default: lots }\n"),
              HasSubstr("/m/demo.yaml:5:36: key 'default' must be a number (decimal or 0x hex), got 'lots'"));
  EXPECT_THAT(error_of("  - { name: a, type: bool, default: 2 }\n"),
              HasSubstr("/m/demo.yaml:5:37: key 'default' must be a boolean (true or false), got '2'"));
  EXPECT_THAT(error_of("  - { name: a, type: string, default: [x] }\n"),
              HasSubstr("default of string option 'a' must be a string, got a list"));
}

TEST(ManifestOptions, TypeMustBeKnown) {
  EXPECT_THAT(error_of("  - { name: a, type: int, default: 1 }\n"),
              HasSubstr("/m/demo.yaml:5:22: key 'type' must be one of 'bool', 'u64', 'string', got 'int'"));
  EXPECT_THAT(error_of("  - { name: a, type: u46, default: 1 }\n"), HasSubstr("did you mean 'u64'?"));
  EXPECT_THAT(error_of("  - { name: a, default: 1 }\n"), HasSubstr("missing key 'type' in an option"));
}

TEST(ManifestOptions, BoundsApplyToTheirTypeAndToTheDefault) {
  EXPECT_THAT(error_of("  - { name: a, type: bool, default: true, max: 1 }\n"),
              HasSubstr("/m/demo.yaml:5:48: key 'max' applies only to u64 options, and 'a' is not one"));
  EXPECT_THAT(error_of("  - { name: a, type: u64, default: 1, max-length: 1 }\n"),
              HasSubstr("key 'max-length' applies only to string options"));
  EXPECT_THAT(error_of("  - { name: a, type: u64, default: 0x100, max: 0xff }\n"),
              HasSubstr("/m/demo.yaml:5:36: default 0x100 of option 'a' is outside [0x0, 0xFF]"));
  EXPECT_THAT(error_of("  - { name: a, type: u64, default: 5, min: 6, max: 4 }\n"), HasSubstr("option 'a': min 0x6 is above max 0x4"));
  EXPECT_THAT(error_of("  - { name: a, type: string, default: toolong, max-length: 3 }\n"),
              HasSubstr("default of option 'a' is longer than max-length 3"));
}

TEST(ManifestOptions, NamesAndFlags) {
  EXPECT_THAT(error_of("  - { name: a, type: bool, default: true }\n  - { name: a, type: bool, default: false }\n"),
              HasSubstr("/m/demo.yaml:6:13: option 'a' is declared twice (first at line 5)"));
  EXPECT_THAT(error_of("  - { name: Retries, type: bool, default: true }\n"), HasSubstr("option name 'Retries' may use only"));
  EXPECT_THAT(error_of("  - { name: a, type: bool, default: true, flag-enables: true }\n"),
              HasSubstr("option 'a' has 'flag-enables' but no 'flag'"));
  EXPECT_THAT(error_of("  - { name: a, type: bool, default: true, flag: hv-x }\n  - { name: b, type: bool, default: true, flag: hv-x }\n"),
              HasSubstr("/m/demo.yaml:6:49: flag 'hv-x' already sets option 'a' (line 5)"));
  EXPECT_THAT(error_of("  - { name: a, type: bool, default: true, flag: hv-enforce-cpuid }\n"), HasSubstr("belongs to the core"));
  EXPECT_THAT(error_of("  - { name: a, type: bool, default: true, descr: x }\n"),
              HasSubstr("unknown key 'descr' in an option; did you mean 'description'?"));
}

}  // namespace
}  // namespace enlight
