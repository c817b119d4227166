// Majority vote and weighted majority vote.
#include <cmath>
#include <string>

#include "consensus/common.h"
#include "tagger/errors.h"

namespace tagger::consensus {

Result majority_vote(const AnswersView& a, const Options& opt) {
  detail::check_options(a, opt);
  detail::Csr c = detail::build_csr(a, false);
  Result r = detail::make_result(a);
  detail::weighted_vote(c, nullptr, opt, r);
  r.skills = detail::agreement(c, r.labels.data(), opt.threads);
  r.converged = true;
  return r;
}

Result weighted_majority_vote(const AnswersView& a, std::span<const double> skills, const Options& opt) {
  detail::check_options(a, opt);
  if (skills.empty()) return wawa(a, opt);
  if (skills.size() != static_cast<std::size_t>(a.n_workers))
    throw InvalidArgument("weighted_majority_vote: skills has " + std::to_string(skills.size()) +
                          " entries, expected n_workers = " + std::to_string(a.n_workers));
  for (std::size_t w = 0; w < skills.size(); ++w)
    if (!(skills[w] >= 0) || !std::isfinite(skills[w]))
      throw InvalidArgument("weighted_majority_vote: skill of worker " + std::to_string(w) + " must be finite and >= 0");
  detail::Csr c = detail::build_csr(a, false);
  Result r = detail::make_result(a);
  detail::weighted_vote(c, skills.data(), opt, r);
  r.skills.assign(skills.begin(), skills.end());
  r.converged = true;
  return r;
}

}  // namespace tagger::consensus
