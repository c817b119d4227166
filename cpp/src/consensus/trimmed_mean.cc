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
  detail::GroupedValues g = detail::group_values(a);
  ContinuousResult r;
  r.n_tasks = a.n_tasks;
  r.values.assign(static_cast<std::size_t>(a.n_tasks), std::numeric_limits<double>::quiet_NaN());
  util::parallel_for(static_cast<std::size_t>(a.n_tasks), opt.threads, 1024, [&](std::size_t b, std::size_t e) {
    for (std::size_t t = b; t < e; ++t) {
      double* v0 = g.values.data() + g.offset[t];
      const std::int64_t n = g.offset[t + 1] - g.offset[t];
      if (n == 0) continue;
      std::sort(v0, v0 + n);
      const auto cut = static_cast<std::int64_t>(std::floor(trim * static_cast<double>(n)));
      double s = 0;
      for (std::int64_t i = cut; i < n - cut; ++i) s += v0[i];
      r.values[t] = s / static_cast<double>(n - 2 * cut);
    }
  });
  return r;
}

}  // namespace tagger::consensus
