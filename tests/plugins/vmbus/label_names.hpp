// Refusal and error enums become Prometheus label values: each name must
// be distinct and snake_case.
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <set>
#include <string>

namespace enlight::vmbus::test {

template <typename Enum, typename Name>
void expect_distinct_label_names(size_t count, Name name_of) {
  std::set<std::string> names;
  for (size_t i = 0; i < count; ++i) {
    const std::string n(name_of(static_cast<Enum>(i)));
    EXPECT_NE(n, "invalid");
    for (char c : n) EXPECT_TRUE(std::islower(static_cast<unsigned char>(c)) || c == '_') << n;
    names.insert(n);
  }
  EXPECT_EQ(names.size(), count);
}

}  // namespace enlight::vmbus::test
