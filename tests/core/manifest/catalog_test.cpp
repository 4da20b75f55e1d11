// Discovery on the search path, shadowing, built-in plugins.
#include <enlight/core/catalog.hpp>
#include <enlight/core/loader.hpp>

#include "../common/config_error_test_util.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

namespace enlight {
namespace {

using test::config_error_of;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kFixtures = std::string(ENLIGHT_TEST_SOURCE_DIR) + "/tests/fixtures/manifests";

TEST(Catalog, DiscoversYamlFilesAndRecordsTheirDirectory) {
  const Catalog c = Catalog::discover({kFixtures + "/catalog-basic"});
  const Manifest* alpha = c.find("alpha");
  ASSERT_NE(alpha, nullptr);
  EXPECT_EQ(alpha->path, kFixtures + "/catalog-basic/alpha.yaml");
  EXPECT_EQ(alpha->directory, kFixtures + "/catalog-basic");
  EXPECT_FALSE(alpha->embedded);
  ASSERT_NE(c.find("beta"), nullptr);
  EXPECT_EQ(c.find("beta")->version, (Version{1, 2, 0}));
  EXPECT_EQ(c.find("README"), nullptr);
  EXPECT_EQ(c.find("nope"), nullptr);
  EXPECT_THAT(c.search_path(), ElementsAre(kFixtures + "/catalog-basic"));
  EXPECT_TRUE(c.shadowed().empty());
}

TEST(Catalog, SkipsMissingDirectoriesAndScansARepeatedOneOnce) {
  const std::string basic = kFixtures + "/catalog-basic";
  const Catalog c = Catalog::discover({"/nonexistent/enlight", basic, basic + "/", basic});
  EXPECT_NE(c.find("alpha"), nullptr);
  EXPECT_TRUE(c.shadowed().empty());
}

TEST(Catalog, EarlierDirectoryWinsAndTheLaterIsRecorded) {
  const Catalog c = Catalog::discover({kFixtures + "/catalog-shadow/first", kFixtures + "/catalog-shadow/second"});
  ASSERT_NE(c.find("alpha"), nullptr);
  EXPECT_EQ(c.find("alpha")->version, (Version{1, 0, 0}));
  EXPECT_NE(c.find("gamma"), nullptr);
  ASSERT_EQ(c.shadowed().size(), 1u);
  EXPECT_EQ(c.shadowed()[0].name, "alpha");
  EXPECT_EQ(c.shadowed()[0].used, kFixtures + "/catalog-shadow/first/alpha.yaml");
  EXPECT_EQ(c.shadowed()[0].hidden, kFixtures + "/catalog-shadow/second/alpha.yaml");
}

TEST(Catalog, TwoManifestsOfOneNameInOneDirectoryIsAnError) {
  const auto e = config_error_of([] { Catalog::discover({kFixtures + "/catalog-duplicate"}); });
  EXPECT_THAT(e.message, HasSubstr("catalog-duplicate/two.yaml:1:1: plugin 'twin' is described by two manifests"));
  EXPECT_THAT(e.message, HasSubstr("catalog-duplicate/one.yaml and "));
  EXPECT_EQ(e.fix, "remove or rename one of them");
}

TEST(Catalog, AParseErrorIsFatalAndNamesTheFile) {
  const auto e = config_error_of([] { Catalog::discover({kFixtures + "/catalog-basic", kFixtures + "/catalog-broken"}); });
  EXPECT_THAT(e.message, HasSubstr(kFixtures + "/catalog-broken/broken.yaml:"));
  EXPECT_THAT(e.message, HasSubstr("malformed YAML"));
  EXPECT_GT(e.where.line, 0);
}

TEST(Catalog, ClosestNameForHints) {
  const Catalog c = Catalog::discover({kFixtures + "/catalog-basic"});
  EXPECT_EQ(c.closest("alpah"), "alpha");
  EXPECT_EQ(c.closest("bta"), "beta");
  EXPECT_EQ(c.closest("something-else"), "");
}

TEST(Catalog, BuiltInPluginsComeFirstAndWinOverFiles) {
  // The registry is process-wide: use a name no other test discovers.
  static const char* text = "name: builtin-demo\nversion: 9.0.0\nabi: 1\n";
  if (!find_static_manifest("builtin-demo")) enlight_static_manifest_register("builtin-demo", text);
  const Catalog c = Catalog::discover({kFixtures + "/catalog-builtin"});
  const Manifest* m = c.find("builtin-demo");
  ASSERT_NE(m, nullptr);
  EXPECT_TRUE(m->embedded);
  EXPECT_EQ(m->path, "<built-in>/builtin-demo.yaml");
  EXPECT_EQ(m->version, (Version{9, 0, 0}));
  ASSERT_EQ(c.shadowed().size(), 1u);
  EXPECT_EQ(c.shadowed()[0].used, "<built-in>/builtin-demo.yaml");
  EXPECT_EQ(c.shadowed()[0].hidden, kFixtures + "/catalog-builtin/builtin-demo.yaml");
}

TEST(Catalog, AddRefusesASecondEmbeddedManifest) {
  Catalog c;
  Manifest a = parse_manifest("name: x\nversion: 1.0.0\nabi: 1\n", "<built-in>/x.yaml");
  a.embedded = true;
  c.add(a);
  const auto e = config_error_of([&] { c.add(a); });
  EXPECT_THAT(e.message, HasSubstr("<built-in>/x.yaml:1: built-in plugin 'x' is already known from <built-in>/x.yaml"));
}

TEST(Catalog, DefaultSearchPathStartsWithTheEnvironment) {
  ::setenv("ENLIGHT_PLUGIN_PATH", "/a:/b::/c", 1);
  const auto path = default_search_path();
  ::unsetenv("ENLIGHT_PLUGIN_PATH");
  ASSERT_GE(path.size(), 3u);
  EXPECT_EQ(path[0], "/a");
  EXPECT_EQ(path[1], "/b");
  EXPECT_EQ(path[2], "/c");
  // Then, for a program of the build tree (this test), the build's plugin
  // directory alone: not an install prefix's, whose plugins may be another
  // version (docs/sdk.md).
  EXPECT_EQ(path.size(), 4u);
  EXPECT_EQ(path[3], ENLIGHT_TEST_PLUGIN_DIR);
  EXPECT_EQ(default_search_path().size(), 1u);
}

}  // namespace
}  // namespace enlight
