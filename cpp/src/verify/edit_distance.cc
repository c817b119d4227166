// Bounded Levenshtein distance over code points (Ukkonen's band): the check
// that an upload is not the task's own example with a letter or two changed,
// which shingles miss on short texts (one edit changes up to five 5-grams of
// a 20-letter question).
#include <algorithm>
#include <vector>

#include "tagger/verify.h"
#include "utf8.h"

namespace tagger::verify {

std::size_t bounded_edit_distance(std::string_view a_text, std::string_view b_text, std::size_t cap) {
  const std::vector<char32_t> a = utf8::code_points(a_text), b = utf8::code_points(b_text);
  const std::size_t n = a.size(), m = b.size();
  cap = std::min(cap, std::max(n, m));  // never exceeded; and cap + 1, i + cap cannot wrap
  const std::size_t over = cap + 1;
  if ((n > m ? n - m : m - n) > cap) return over;
  if (n == 0 || m == 0) return std::max(n, m);
  // row[j] = distance of a[0, i) to b[0, j), only for |i - j| <= cap; cells outside the band
  // read as cap + 1, which no path through them can undercut.
  std::vector<std::size_t> prev(m + 1, over), row(m + 1, over);
  for (std::size_t j = 0; j <= std::min(m, cap); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    const std::size_t lo = i > cap ? i - cap : 1, hi = std::min(m, i + cap);
    row[lo - 1] = lo == 1 && i <= cap ? i : over;
    std::size_t best = row[lo - 1];
    for (std::size_t j = lo; j <= hi; ++j) {
      const std::size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
      const std::size_t del = prev[j] + 1, ins = row[j - 1] + 1;
      row[j] = std::min({sub, del, ins, over});
      best = std::min(best, row[j]);
    }
    if (hi < m) row[hi + 1] = over;
    if (best > cap) return over;
    std::swap(prev, row);
  }
  return std::min(prev[m], over);
}

}  // namespace tagger::verify
