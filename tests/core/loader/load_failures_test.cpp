// Every way a plugin binary can be wrong, each a real file built by
// tests/fixtures, gives its own LoadError kind and a message an operator
// can act on: the plugin's name, the file, and a fix.
#include <enlight/core/loader.hpp>

#include <fixture_vm.hpp>
#include <gtest/gtest.h>

#include <iterator>
#include <set>
#include <string>

namespace enlight {
namespace {

using fixtures::case_dir;
using fixtures::manifest_path;

struct Case {
  const char* name;        // fixture case = plugin name
  LoadError::Kind kind;
  const char* says;        // a phrase of the message specific to this failure
  const char* fix_says;    // a phrase of the fix
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class LoadFailure : public ::testing::TestWithParam<Case> {};

TEST_P(LoadFailure, HasItsOwnKindAndANameFileAndFix) {
  const Case& c = GetParam();
  const Manifest m = load_manifest_file(manifest_path(c.name, c.name));
  try {
    load_plugin(m);
    FAIL() << c.name << " loaded";
  } catch (const LoadError& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.kind(), c.kind) << what;
    EXPECT_NE(what.find(std::string("'") + c.name + "'"), std::string::npos) << what;
    EXPECT_NE(what.find(m.path), std::string::npos) << "names the manifest: " << what;
    EXPECT_NE(what.find(case_dir(c.name) + "/" + c.name + ".so"), std::string::npos) << "names the library: " << what;
    EXPECT_NE(what.find(c.says), std::string::npos) << what;
    EXPECT_EQ(e.where().file, m.path);
    EXPECT_NE(e.fix().find(c.fix_says), std::string::npos) << e.fix();
    EXPECT_NE(what.find("fix: " + e.fix()), std::string::npos) << "the fix is part of what(): " << what;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, LoadFailure,
    ::testing::Values(
        Case{"missing-library", LoadError::Kind::NotFound, "does not exist", "build the plugin"},
        Case{"not-a-library", LoadError::Kind::NotALibrary, "cannot load", "shared library"},
        Case{"no-entry", LoadError::Kind::NoEntryPoint, "does not export enlight_plugin_entry_v1", "ENLIGHT_PLUGIN"},
        Case{"null-descriptor", LoadError::Kind::EntryReturnedNull, "returned no descriptor", "static descriptor"},
        Case{"wrong-abi", LoadError::Kind::AbiMismatch, "built for plugin ABI 2.0", "rebuild the plugin"},
        Case{"small-descriptor", LoadError::Kind::DescriptorTooSmall, "smaller than ABI 1.0", "rebuild the plugin"},
        Case{"count-no-array", LoadError::Kind::Malformed, "claim count without its array", "descriptor"},
        Case{"name-mismatch", LoadError::Kind::NameMismatch, "calls itself 'somebody-else'", "library:"},
        Case{"version-mismatch", LoadError::Kind::VersionMismatch, "is version 1.0.1 but its manifest says 1.0.0",
             "manifest that came with this binary"},
        Case{"claim-mismatch", LoadError::Kind::ClaimMismatch, "binary:   0x40000010\n  manifest: 0x40000011",
             "claims list exactly"},
        Case{"cpuid-mismatch", LoadError::Kind::ClaimMismatch, "CPUID contributions", "claims list exactly"}),
    [](const ::testing::TestParamInfo<Case>& info) {
      std::string n = info.param.name;
      for (char& ch : n)
        if (ch == '-') ch = '_';
      return n;
    });

// The kinds above are pairwise different: a test per kind would pass even if
// two failure modes collapsed into one kind, so check it once.
TEST(LoadFailureKinds, AreDistinctPerFailureMode) {
  const char* const cases[] = {"missing-library", "not-a-library", "no-entry", "null-descriptor", "wrong-abi",
                               "small-descriptor", "count-no-array", "name-mismatch", "version-mismatch"};
  std::set<LoadError::Kind> kinds;
  for (const char* c : cases) {
    const Manifest m = load_manifest_file(manifest_path(c, c));
    try {
      load_plugin(m);
      ADD_FAILURE() << c << " loaded";
    } catch (const LoadError& e) {
      kinds.insert(e.kind());
    }
  }
  EXPECT_EQ(kinds.size(), std::size(cases));
}

// A failed load must not poison the library cache: the same file is refused
// the same way the second time (the cache keeps the mapping, not a verdict).
TEST(LoadFailureKinds, RepeatsIdentically) {
  const Manifest m = load_manifest_file(manifest_path("wrong-abi", "wrong-abi"));
  std::string first, second;
  try { load_plugin(m); } catch (const LoadError& e) { first = e.what(); }
  try { load_plugin(m); } catch (const LoadError& e) { second = e.what(); }
  EXPECT_FALSE(first.empty());
  EXPECT_EQ(first, second);
}

}  // namespace
}  // namespace enlight
