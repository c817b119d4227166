// Wawa ("worker agreement with aggregate"): majority vote, then each worker's
// agreement with it as the weight of a second, weighted vote.
#include <cmath>

#include "consensus/common.h"

namespace tagger::consensus {

Result wawa(const AnswersView& a, const Options& opt) {
  detail::check_options(a, opt);
  detail::Csr c = detail::build_csr(a, false);
  Result mv = detail::make_result(a);
  detail::weighted_vote(c, nullptr, opt, mv);
  std::vector<double> skills = detail::agreement(c, mv.labels.data(), opt.threads);
  std::vector<double> weights(skills);
  for (double& s : weights)
    if (std::isnan(s)) s = 0.0;  // no answer on a labelled task: no say
  Result r = detail::make_result(a);
  detail::weighted_vote(c, weights.data(), opt, r);
  r.skills = std::move(skills);
  r.converged = true;
  return r;
}

}  // namespace tagger::consensus
