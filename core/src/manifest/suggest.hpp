// "Did you mean" hints for names an operator typed: keys, plugins, flags,
// options. Only used while parsing and resolving, never on a hot path.
#pragma once

#include <string>
#include <vector>

namespace enlight::detail {

// The candidate closest to `word` by edit distance (a transposition counts
// as one edit), or "" when none is close enough to be a plausible typo.
std::string closest_name(const std::string& word, const std::vector<std::string>& candidates);

// "; did you mean 'x'?" or "" — ready to append to a message.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

// "a, b, c" with each name quoted, for "expected one of ..." messages.
std::string quoted_list(const std::vector<std::string>& names);

}  // namespace enlight::detail
