// Zero-based skill: worker skills start near chance and move, at a decaying
// rate, toward each worker's agreement with the weighted vote they produce.
#include <algorithm>
#include <cmath>

#include "consensus/common.h"
#include "tagger/errors.h"

namespace tagger::consensus {

Result zero_based_skill(const AnswersView& a, const Options& opt, const ZeroBasedSkillOptions& z) {
  detail::check_options(a, opt);
  if (!(z.lr_init > 0) || z.lr_steps_to_reduce < 1 || !(z.lr_reduce_factor > 0) || !(z.eps >= 0))
    throw InvalidArgument("consensus: lr_init, lr_reduce_factor > 0, lr_steps_to_reduce >= 1, eps >= 0 required");
  detail::Csr c = detail::build_csr(a, false);
  std::vector<double> skills(static_cast<std::size_t>(a.n_workers), 1.0 / std::max(1, a.n_labels) + z.eps);
  double lr = z.lr_init;
  Result r = detail::make_result(a);
  detail::weighted_vote(c, skills.data(), opt, r);
  r.converged = opt.n_iter == 0;
  for (std::int32_t it = 1; it <= opt.n_iter; ++it) {
    if (it % z.lr_steps_to_reduce == 0) lr *= z.lr_reduce_factor;
    std::vector<double> acc = detail::agreement(c, r.labels.data(), opt.threads);
    double moved = 0;
    for (std::size_t w = 0; w < skills.size(); ++w) {
      if (std::isnan(acc[w])) continue;  // no answer on a labelled task: keep the skill
      double next = skills[w] + lr * (acc[w] - skills[w]);
      moved = std::max(moved, std::abs(next - skills[w]));
      skills[w] = next;
    }
    std::fill(r.probas.begin(), r.probas.end(), 0.0);
    detail::weighted_vote(c, skills.data(), opt, r);
    r.n_iter = it;
    r.objective_history.push_back(-moved);
    if (moved <= z.eps) { r.converged = true; break; }
    if (!detail::report(opt, it, -moved, moved)) break;
  }
  r.skills = std::move(skills);
  return r;
}

}  // namespace tagger::consensus
