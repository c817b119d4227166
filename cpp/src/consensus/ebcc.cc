// EBCC, enhanced Bayesian classifier combination (Li, Rubinstein & Cohn,
// "Exploiting Worker Correlation for Label Aggregation in Crowdsourcing",
// ICML 2019): variational Bayes over (class, subtype) pairs. Single-threaded
// in task and worker order; the random start is drawn from a seeded
// mt19937_64 with the exponential trick for Dirichlet(1), so a fit is the
// same on every run and thread count of one build.
#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "consensus/common.h"
#include "consensus/fast_math.h"
#include "tagger/errors.h"

namespace tagger::consensus {
Result ebcc(const AnswersView& a, const Options& opt, const EbccOptions& e) {
  detail::check_options(a, opt);
  if (e.n_groups < 1 || e.n_groups > 1000) throw InvalidArgument("ebcc: n_groups must be in [1, 1000]");
  for (double v : {e.a_pi, e.alpha, e.a_v, e.b_v})
    if (!(v > 0) || !std::isfinite(v)) throw InvalidArgument("ebcc: the priors a_pi, alpha, a_v and b_v must be finite and > 0");
  if (!opt.class_priors.empty()) throw InvalidArgument("ebcc: the class prior is inferred (Dirichlet(alpha)); class_priors are not taken");
  detail::Csr c = detail::build_csr(a, false);
  Result r = detail::make_result(a);
  const std::size_t T = static_cast<std::size_t>(a.n_tasks), W = static_cast<std::size_t>(a.n_workers);
  const std::size_t K = static_cast<std::size_t>(a.n_labels), M = static_cast<std::size_t>(e.n_groups);
  if (K == 0 || c.n == 0) {
    r.converged = true;
    return r;
  }
  const std::size_t KM = K * M;
  std::vector<double>& z = r.probas;  // [T, K]
  std::vector<double> zg(T * KM, 0.0);
  std::mt19937_64 rng(opt.seed);
  std::uniform_real_distribution<double> unif(0.0, 1.0);
  detail::weighted_vote(c, nullptr, opt, r);  // start: vote shares, gold one-hot
  for (std::size_t t = 0; t < T; ++t) {
    const double* zt = z.data() + t * K;
    // Subtype shares ~ Dirichlet(1): normalized Exp(1) draws, in task, class, subtype order.
    for (std::size_t k = 0; k < K; ++k) {
      double* row = zg.data() + t * KM + k * M;
      double s = 0;
      for (std::size_t m = 0; m < M; ++m) {
        row[m] = -std::log1p(-unif(rng));
        s += row[m];
      }
      for (std::size_t m = 0; m < M; ++m) row[m] *= zt[k] / s;
    }
  }
  std::vector<double> eta(KM), nu(K), elpi(KM), eltau(K), mu(W * KM * K), elv(W * KM * K), lg(KM), last(T * K), row_sum(W * KM), row_psi(W * KM);
  r.objective_history.clear();
  // nu as the first round sets it, so that n_iter = 0 reports E[tau] of the start (it was 0 / 0:
  // NaN priors after a fit that said it succeeded).
  std::fill(nu.begin(), nu.end(), e.alpha);
  for (std::size_t t = 0; t < T; ++t)
    for (std::size_t k = 0; k < K; ++k) nu[k] += z[t * K + k];
  for (std::int32_t it = 1; it <= opt.n_iter; ++it) {
    // Parameters' posteriors from the current assignments.
    std::fill(eta.begin(), eta.end(), e.a_pi / static_cast<double>(M));
    std::fill(nu.begin(), nu.end(), e.alpha);
    for (std::size_t w = 0; w < W; ++w)
      for (std::size_t km = 0; km < KM; ++km)
        for (std::size_t l = 0; l < K; ++l) mu[(w * KM + km) * K + l] = (km / M == l) ? e.a_v : e.b_v;
    for (std::size_t t = 0; t < T; ++t) {
      const double* zt = zg.data() + t * KM;
      for (std::size_t km = 0; km < KM; ++km) eta[km] += zt[km];
      for (std::size_t k = 0; k < K; ++k) nu[k] += z[t * K + k];
      for (auto p = c.begin(static_cast<std::int32_t>(t)); p < c.end(static_cast<std::int32_t>(t)); ++p) {
        double* mw = mu.data() + static_cast<std::size_t>(c.worker[p]) * KM * K + static_cast<std::size_t>(c.label[p]);
        for (std::size_t km = 0; km < KM; ++km) mw[km * K] += zt[km];
      }
    }
    double nu_sum = 0;
    for (double v : nu) nu_sum += v;
    for (std::size_t k = 0; k < K; ++k) {
      eltau[k] = detail::fast_digamma(nu[k]) - detail::fast_digamma(nu_sum);
      double es = 0;
      for (std::size_t m = 0; m < M; ++m) es += eta[k * M + m];
      for (std::size_t m = 0; m < M; ++m) elpi[k * M + m] = detail::fast_digamma(eta[k * M + m]) - detail::fast_digamma(es);
    }
    // E log v = psi(mu) - psi(row sum), the psi of the whole table in one vector loop.
    for (std::size_t row = 0; row < W * KM; ++row) {
      double s = 0;
      for (std::size_t l = 0; l < K; ++l) s += mu[row * K + l];
      row_sum[row] = s;
    }
    detail::digamma_cells(mu.data(), elv.data(), W * KM * K);
    detail::digamma_cells(row_sum.data(), row_psi.data(), W * KM);
    for (std::size_t row = 0; row < W * KM; ++row)
      for (std::size_t l = 0; l < K; ++l) elv[row * K + l] -= row_psi[row];
    // Assignments: q(z_t = k, g_t = m) ∝ exp(E log pi_km + E log tau_k + sum_j E log v_{w_j, k, m, y_j}).
    std::copy(z.begin(), z.end(), last.begin());
    double change = 0, objective = 0;
    for (std::size_t t = 0; t < T; ++t) {
      const auto b = c.begin(static_cast<std::int32_t>(t)), en = c.end(static_cast<std::int32_t>(t));
      for (std::size_t km = 0; km < KM; ++km) lg[km] = elpi[km] + eltau[km / M];
      for (auto p = b; p < en; ++p) {
        const double* ew = elv.data() + static_cast<std::size_t>(c.worker[p]) * KM * K + static_cast<std::size_t>(c.label[p]);
        for (std::size_t km = 0; km < KM; ++km) lg[km] += ew[km * K];
      }
      std::int32_t g = -1;
      const bool gold = detail::gold_of(opt, static_cast<std::int32_t>(t), &g);
      double mx = -INFINITY;
      for (std::size_t km = 0; km < KM; ++km)
        if (!gold || km / M == static_cast<std::size_t>(g)) mx = std::max(mx, lg[km]);
      double s = 0;
      double* zt = zg.data() + t * KM;
      for (std::size_t km = 0; km < KM; ++km) {
        zt[km] = (!gold || km / M == static_cast<std::size_t>(g)) ? std::exp(lg[km] - mx) : 0.0;
        s += zt[km];
      }
      if (b < en) objective += mx + std::log(s);
      for (std::size_t km = 0; km < KM; ++km) zt[km] /= s;
      for (std::size_t k = 0; k < K; ++k) {
        double v = 0;
        for (std::size_t m = 0; m < M; ++m) v += zt[k * M + m];
        z[t * K + k] = v;
        change = std::max(change, std::abs(v - last[t * K + k]));
      }
    }
    objective /= static_cast<double>(c.n);  // log normalizer per answer (an ELBO term), higher is better
    r.objective_history.push_back(objective);
    r.n_iter = it;
    if (change < opt.tol) {
      r.converged = true;
      break;
    }
    if (!detail::report(opt, it, objective, change)) break;
  }
  detail::finish_labels(r, c, opt);
  // Skill: the expected share of the worker's answers equal to the truth.
  r.skills.assign(W, std::nan(""));
  std::vector<double> hit(W, 0.0), n_w(W, 0.0);
  for (std::size_t t = 0; t < T; ++t)
    for (auto p = c.begin(static_cast<std::int32_t>(t)); p < c.end(static_cast<std::int32_t>(t)); ++p) {
      hit[static_cast<std::size_t>(c.worker[p])] += z[t * K + static_cast<std::size_t>(c.label[p])];
      n_w[static_cast<std::size_t>(c.worker[p])] += 1.0;
    }
  for (std::size_t w = 0; w < W; ++w)
    if (n_w[w] > 0) r.skills[w] = hit[w] / n_w[w];
  double nu_sum = 0;
  for (double v : nu) nu_sum += v;
  r.priors.assign(K, 0.0);
  for (std::size_t k = 0; k < K; ++k) r.priors[k] = nu[k] / nu_sum;  // E[tau_k] (nu >= alpha > 0)
  return r;
}

}  // namespace tagger::consensus
