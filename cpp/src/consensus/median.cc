// Per-task median of continuous answers.
#include <algorithm>
#include <limits>

#include "consensus/common.h"
#include "consensus/continuous.h"

namespace tagger::consensus {

ContinuousResult median(const ContinuousView& a, const Options& opt) {
  validate(a);
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
      r.values[t] = n % 2 ? v0[n / 2] : 0.5 * (v0[n / 2 - 1] + v0[n / 2]);
    }
  });
  return r;
}

}  // namespace tagger::consensus
