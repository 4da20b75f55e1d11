#include "manifest/suggest.hpp"

#include <algorithm>

namespace enlight::detail {
namespace {

// Optimal string alignment distance: Levenshtein plus adjacent
// transpositions, because "vpidnex" is the typo people actually make.
size_t edit_distance(const std::string& a, const std::string& b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[n][m];
}

}  // namespace

std::string closest_name(const std::string& word, const std::vector<std::string>& candidates) {
  // A third of the word's length, at least 2: close enough to be a typo,
  // far enough that "rtc" does not suggest "ipi".
  const size_t limit = std::max<size_t>(2, word.size() / 3);
  std::string best;
  size_t best_distance = limit + 1;
  for (const auto& c : candidates) {
    if (c == word) continue;
    const size_t dist = edit_distance(word, c);
    if (dist < best_distance || (dist == best_distance && c < best)) {
      best = c;
      best_distance = dist;
    }
  }
  if (best_distance <= limit) return best;
  // An abbreviation ("descr") is far by edit distance but obviously meant:
  // the shortest candidate it begins.
  best.clear();
  if (word.size() >= 3)
    for (const auto& c : candidates)
      if (c.size() > word.size() && c.compare(0, word.size(), word) == 0 && (best.empty() || c.size() < best.size()))
        best = c;
  return best;
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string best = closest_name(word, candidates);
  return best.empty() ? std::string{} : "; did you mean '" + best + "'?";
}

std::string quoted_list(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += "'" + n + "'";
  }
  return out;
}

}  // namespace enlight::detail
