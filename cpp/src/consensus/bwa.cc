// BWA, Bayesian weighted average (Li, Rubinstein & Cohn, "Truth Inference at
// Scale: A Bayesian Model for Adjudicating Highly Redundant Crowd
// Annotations", WWW 2019). Mean-field updates, single-threaded in task and
// worker order, so the result is the same on every run and thread count.
#include <algorithm>
#include <cmath>
#include <string>

#include "consensus/common.h"
#include "tagger/errors.h"

namespace tagger::consensus {

Result bwa(const AnswersView& a, const Options& opt, const BwaOptions& o) {
  detail::check_options(a, opt);
  if (!(o.a > 0 && o.b > 0 && o.lambda0 > 0 && std::isfinite(o.a) && std::isfinite(o.b) && std::isfinite(o.lambda0)))
    throw InvalidArgument("bwa: the priors a, b and lambda0 must be finite and > 0");
  detail::Csr c = detail::build_csr(a, false);
  Result r = detail::make_result(a);
  const std::size_t T = static_cast<std::size_t>(a.n_tasks), W = static_cast<std::size_t>(a.n_workers);
  const std::size_t K = static_cast<std::size_t>(a.n_labels);
  if (K == 0 || c.n == 0) {
    r.converged = true;
    return r;
  }
  // Prior mean: the label shares of all answers (or the given class priors).
  std::vector<double> mu0(K, 0.0);
  if (!opt.class_priors.empty()) {
    double s = 0;
    for (double p : opt.class_priors) s += p;
    for (std::size_t k = 0; k < K; ++k) mu0[k] = opt.class_priors[k] / s;
  } else {
    for (std::size_t p = 0; p < c.n; ++p) mu0[static_cast<std::size_t>(c.label[p])] += 1.0;
    for (double& m : mu0) m /= static_cast<double>(c.n);
  }
  // Start: vote shares (a majority vote), gold one-hot.
  std::vector<double>& m = r.probas;
  std::vector<double> var(T, 0.0);
  for (std::size_t t = 0; t < T; ++t) {
    double* row = m.data() + t * K;
    std::int32_t g;
    if (detail::gold_of(opt, static_cast<std::int32_t>(t), &g)) {
      detail::one_hot(row, a.n_labels, g);
      continue;
    }
    const auto n = c.count(static_cast<std::int32_t>(t));
    if (n == 0) {
      std::copy(mu0.begin(), mu0.end(), row);
      continue;
    }
    for (auto p = c.begin(static_cast<std::int32_t>(t)); p < c.end(static_cast<std::int32_t>(t)); ++p) row[c.label[p]] += 1.0;
    for (std::size_t k = 0; k < K; ++k) row[k] /= static_cast<double>(n);
  }
  std::vector<double> n_w(W, 0.0), sq_w(W, 0.0), v(W, 0.0), next(T * K);
  for (std::size_t p = 0; p < c.n; ++p) n_w[static_cast<std::size_t>(c.worker[p])] += 1.0;
  const double half_k = static_cast<double>(K) / 2.0;
  r.objective_history.clear();
  for (std::int32_t it = 1; it <= opt.n_iter; ++it) {
    // q(v_w) = Gamma(a + n_w K / 2, b + 1/2 sum_j E||y_j - z_t||^2); E||y - z||^2 = ||y - m_t||^2 + K var_t.
    std::fill(sq_w.begin(), sq_w.end(), 0.0);
    double resid = 0;
    for (std::size_t t = 0; t < T; ++t) {
      const double* row = m.data() + t * K;
      double norm = 0;
      for (std::size_t k = 0; k < K; ++k) norm += row[k] * row[k];
      for (auto p = c.begin(static_cast<std::int32_t>(t)); p < c.end(static_cast<std::int32_t>(t)); ++p) {
        const double d = norm - 2 * row[c.label[p]] + 1 + static_cast<double>(K) * var[t];
        sq_w[static_cast<std::size_t>(c.worker[p])] += d;
        resid += d;
      }
    }
    for (std::size_t w = 0; w < W; ++w) v[w] = (o.a + n_w[w] * half_k) / (o.b + sq_w[w] / 2);
    // q(z_t) = N(m_t, var_t I): m_t = (lambda0 mu0 + sum_j v_w y_j) / (lambda0 + sum_j v_w).
    double change = 0;
    for (std::size_t t = 0; t < T; ++t) {
      double* out = next.data() + t * K;
      const double* row = m.data() + t * K;
      std::int32_t g;
      if (detail::gold_of(opt, static_cast<std::int32_t>(t), &g) || c.count(static_cast<std::int32_t>(t)) == 0) {
        std::copy(row, row + K, out);
        continue;
      }
      double den = o.lambda0;
      for (std::size_t k = 0; k < K; ++k) out[k] = o.lambda0 * mu0[k];
      for (auto p = c.begin(static_cast<std::int32_t>(t)); p < c.end(static_cast<std::int32_t>(t)); ++p) {
        const double vw = v[static_cast<std::size_t>(c.worker[p])];
        out[c.label[p]] += vw;
        den += vw;
      }
      for (std::size_t k = 0; k < K; ++k) {
        out[k] /= den;
        change = std::max(change, std::abs(out[k] - row[k]));
      }
      var[t] = 1.0 / den;
    }
    m.swap(next);
    const double objective = -resid / static_cast<double>(c.n);  // mean expected squared residual, negated
    r.objective_history.push_back(objective);
    r.n_iter = it;
    if (change < opt.tol) {
      r.converged = true;
      break;
    }
    if (!detail::report(opt, it, objective, change)) break;
  }
  detail::finish_labels(r, c, opt);
  // Skill: the expected share of the worker's answers equal to the truth, mean of m_t[y_j].
  r.skills.assign(W, std::nan(""));
  std::vector<double> hit(W, 0.0);
  for (std::size_t t = 0; t < T; ++t)
    for (auto p = c.begin(static_cast<std::int32_t>(t)); p < c.end(static_cast<std::int32_t>(t)); ++p)
      hit[static_cast<std::size_t>(c.worker[p])] += m[t * K + static_cast<std::size_t>(c.label[p])];
  for (std::size_t w = 0; w < W; ++w)
    if (n_w[w] > 0) r.skills[w] = hit[w] / n_w[w];
  r.priors = mu0;
  return r;
}

}  // namespace tagger::consensus
