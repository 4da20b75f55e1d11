#include "manifest/suggest.hpp"

#include <algorithm>

namespace enlight::detail {
namespace {

// Optimal string alignment distance: Levenshtein plus adjacent
// transpositions, because "vpidnex" is the typo people actually make.
// Three rolling rows (the transposition looks two back), one allocation.
size_t edit_distance(const std::string& a, const std::string& b) {
  const size_t n = a.size(), m = b.size();
  std::vector<size_t> rows(3 * (m + 1));
  size_t* before = rows.data();       // row i - 2
  size_t* previous = before + m + 1;  // row i - 1
  size_t* current = previous + m + 1;
  for (size_t j = 0; j <= m; ++j) previous[j] = j;
  for (size_t i = 1; i <= n; ++i) {
    current[0] = i;
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        current[j] = std::min(current[j], before[j - 2] + 1);
    }
    std::swap(before, previous);
    std::swap(previous, current);
  }
  return previous[m];
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
    // The distance is at least the difference in length: a candidate
    // that far off can neither win nor tie, so skip its table.
    const size_t length_gap = c.size() > word.size() ? c.size() - word.size() : word.size() - c.size();
    if (length_gap > best_distance) continue;
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
