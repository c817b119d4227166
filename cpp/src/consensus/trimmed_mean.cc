// Per-task trimmed mean: drop floor(trim * n) smallest and largest answers.
#include <algorithm>
#include <cmath>
#include <limits>

#include "consensus/common.h"
#include "consensus/continuous.h"
#include "tagger/errors.h"

namespace tagger::consensus {

ContinuousResult trimmed_mean(const ContinuousView& a, double trim, const Options& opt) {
  validate(a);
  if (!(trim >= 0 && trim < 0.5)) throw InvalidArgument("trimmed_mean: trim must be in [0, 0.5)");
  return detail::reduce_sorted(a, opt, [trim](const double* v, std::int64_t n) {
    const auto cut = static_cast<std::int64_t>(std::floor(trim * static_cast<double>(n)));
    double s = 0;
    for (std::int64_t i = cut; i < n - cut; ++i) s += v[i];
    return s / static_cast<double>(n - 2 * cut);
  });
}

}  // namespace tagger::consensus
