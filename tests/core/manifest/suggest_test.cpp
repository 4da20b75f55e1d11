// The "did you mean" suggestion behind every unknown key, flag and value:
// the distance it uses (with adjacent transpositions), its limit, its
// tie-break and the abbreviation fallback.
#include "manifest/suggest.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace enlight::detail {
namespace {

const std::vector<std::string> kNames = {"hv-vpindex", "hv-runtime", "hv-synic", "hv-stimer", "hv-stimer-direct",
                                         "hv-time", "hv-ipi", "description"};

TEST(ClosestName, TranspositionCountsAsOneEdit) {
  EXPECT_EQ(closest_name("hv-vpidnex", kNames), "hv-vpindex");
  EXPECT_EQ(closest_name("hv-synci", kNames), "hv-synic");
}

TEST(ClosestName, InsertionsDeletionsAndSubstitutions) {
  EXPECT_EQ(closest_name("hv-stimr", kNames), "hv-stimer");
  EXPECT_EQ(closest_name("hv-stimerr", kNames), "hv-stimer");
  EXPECT_EQ(closest_name("hv-tyme", kNames), "hv-time");
}

TEST(ClosestName, NothingBeyondTheLimit) {
  EXPECT_EQ(closest_name("rtc", kNames), "") << "a third of the length, at least 2";
  EXPECT_EQ(closest_name("hv-xxxxxx", kNames), "");
  EXPECT_EQ(closest_name(std::string(5000, 'h'), kNames), "") << "a long word: every candidate is too far";
}

TEST(ClosestName, TiesGoToTheSmallerName) {
  // Whatever order the candidates come in, so a message never depends on
  // the order of a directory listing.
  EXPECT_EQ(closest_name("ab", {"ac", "aa"}), "aa");
  EXPECT_EQ(closest_name("ab", {"aa", "ac"}), "aa");
}

TEST(ClosestName, TheWordItselfIsNoSuggestion) { EXPECT_EQ(closest_name("hv-ipi", {"hv-ipi"}), ""); }

TEST(ClosestName, AbbreviationFallsBackToTheShortestCompletion) {
  EXPECT_EQ(closest_name("descr", kNames), "description");
  EXPECT_EQ(closest_name("hv-stimer-d", kNames), "hv-stimer") << "a close name comes before a completion";
  EXPECT_EQ(closest_name("de", kNames), "") << "shorter than 3: no abbreviation";
}

TEST(ClosestName, EmptyInputs) {
  EXPECT_EQ(closest_name("", kNames), "");
  EXPECT_EQ(closest_name("x", {}), "");
  EXPECT_EQ(did_you_mean("hv-tyme", kNames), "; did you mean 'hv-time'?");
  EXPECT_EQ(did_you_mean("zzzzzzzz", kNames), "");
}

}  // namespace
}  // namespace enlight::detail
