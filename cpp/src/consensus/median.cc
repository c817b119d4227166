// Per-task median of continuous answers.
#include <algorithm>
#include <limits>

#include "consensus/common.h"
#include "consensus/continuous.h"

namespace tagger::consensus {

ContinuousResult median(const ContinuousView& a, const Options& opt) {
  validate(a);
  return detail::reduce_sorted(a, opt, [](const double* v, std::int64_t n) {
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  });
}

}  // namespace tagger::consensus
