// GLAD (Whitehill, Ruvolo, Wu, Bergsma & Movellan, NIPS 2009).
//
// P(answer = truth) = sigmoid(alpha_w * beta_t), beta_t = exp(b_t); a wrong
// answer is uniform over the other K-1 labels. EM: the E-step computes task
// posteriors; the M-step maximizes the expected complete log-likelihood plus
// the Gaussian priors alpha_w ~ N(mu_a, 1), b_t ~ N(mu_b, 1) by block
// coordinate Fisher scoring (all alphas, then all b's: each coordinate's
// problem is one-dimensional given the other block, so it parallelizes with
// no cross-thread reduction and is deterministic).
#include <algorithm>
#include <cmath>
#include <limits>

#include "consensus/common.h"
#include "tagger/errors.h"

namespace tagger::consensus {
namespace {

using detail::Csr;

constexpr double kMaxStep = 2.0;  // Fisher steps are clipped: far from the optimum the quadratic model is poor

struct State {
  std::vector<double> alpha, b;  // [W], [T]
  std::vector<double> log_prior; // [K]
  std::vector<double> p_right;   // [n] task-major: posterior that the answer is the truth
};

void e_step(const Csr& c, const Options& opt, State& s, double* probas) {
  const int K = c.n_labels;
  const double log_km1 = K > 1 ? std::log(static_cast<double>(K - 1)) : 0.0;
  util::parallel_for(static_cast<std::size_t>(c.n_tasks), opt.threads, 1024, [&](std::size_t b0, std::size_t b1) {
    std::vector<double> acc(K);
    for (std::size_t t = b0; t < b1; ++t) {
      double* row = probas + t * K;
      std::int32_t g = -1;
      const bool is_gold = detail::gold_of(opt, static_cast<std::int32_t>(t), &g);
      if (is_gold) {
        detail::one_hot(row, K, g);
      } else if (c.count(static_cast<std::int32_t>(t)) == 0) {
        for (int k = 0; k < K; ++k) row[k] = std::exp(s.log_prior[k]);
      } else {
        const double beta = std::exp(s.b[t]);
        double base = 0;
        for (int k = 0; k < K; ++k) acc[k] = s.log_prior[k];
        for (std::int64_t p = c.task_offset[t]; p < c.task_offset[t + 1]; ++p) {
          const double x = s.alpha[c.worker[p]] * beta;
          const double lr = detail::log_sigmoid(x), lw = detail::log_sigmoid(-x) - log_km1;
          base += lw;
          acc[c.label[p]] += lr - lw;
        }
        double m = -std::numeric_limits<double>::infinity();
        for (int k = 0; k < K; ++k) { acc[k] += base; m = std::max(m, acc[k]); }
        double z = 0;
        for (int k = 0; k < K; ++k) { row[k] = std::exp(acc[k] - m); z += row[k]; }
        for (int k = 0; k < K; ++k) row[k] /= z;
      }
      for (std::int64_t p = c.task_offset[t]; p < c.task_offset[t + 1]; ++p) s.p_right[p] = row[c.label[p]];
    }
  });
}

void m_step(const Csr& c, const Options& opt, const GladOptions& g, State& s) {
  for (std::int32_t round = 0; round < g.m_steps; ++round) {
    std::vector<double> moved_w(static_cast<std::size_t>(c.n_workers), 0.0), moved_t(static_cast<std::size_t>(c.n_tasks), 0.0);
    util::parallel_for(static_cast<std::size_t>(c.n_workers), opt.threads, 64, [&](std::size_t b0, std::size_t b1) {
      for (std::size_t w = b0; w < b1; ++w) {
        double grad = -(s.alpha[w] - g.alpha_prior), info = 1.0;
        for (std::int64_t i = c.worker_offset[w]; i < c.worker_offset[w + 1]; ++i) {
          const std::int64_t p = c.by_worker[i];
          const double beta = std::exp(s.b[c.task_of[p]]);
          const double sg = detail::sigmoid(s.alpha[w] * beta);
          grad += (s.p_right[p] - sg) * beta;
          info += sg * (1 - sg) * beta * beta;
        }
        const double step = std::clamp(grad / info, -kMaxStep, kMaxStep);
        s.alpha[w] += step;
        moved_w[w] = std::abs(step);
      }
    });
    util::parallel_for(static_cast<std::size_t>(c.n_tasks), opt.threads, 1024, [&](std::size_t b0, std::size_t b1) {
      for (std::size_t t = b0; t < b1; ++t) {
        const double beta = std::exp(s.b[t]);
        double grad = -(s.b[t] - g.beta_prior), info = 1.0;
        for (std::int64_t p = c.task_offset[t]; p < c.task_offset[t + 1]; ++p) {
          const double ab = s.alpha[c.worker[p]] * beta;
          const double sg = detail::sigmoid(ab);
          grad += (s.p_right[p] - sg) * ab;
          info += sg * (1 - sg) * ab * ab;
        }
        const double step = std::clamp(grad / info, -kMaxStep, kMaxStep);
        s.b[t] += step;
        moved_t[t] = std::abs(step);
      }
    });
    double moved = 0;
    for (double v : moved_w) moved = std::max(moved, v);
    for (double v : moved_t) moved = std::max(moved, v);
    if (moved < g.m_tol) break;
  }
}

// Expected complete-data log-likelihood plus log priors (up to constants).
double q_value(const Csr& c, const Options& opt, const GladOptions& g, const State& s) {
  const int K = c.n_labels;
  const double log_km1 = K > 1 ? std::log(static_cast<double>(K - 1)) : 0.0;
  const std::size_t T = static_cast<std::size_t>(c.n_tasks);
  std::vector<double> part((T + detail::kBlockTasks - 1) / detail::kBlockTasks, 0.0);
  detail::for_blocks(T, detail::kBlockTasks, opt.threads, [&](std::size_t blk, std::size_t b0, std::size_t b1) {
    double q = 0;
    for (std::size_t t = b0; t < b1; ++t) {
      const double beta = std::exp(s.b[t]);
      for (std::int64_t p = c.task_offset[t]; p < c.task_offset[t + 1]; ++p) {
        const double x = s.alpha[c.worker[p]] * beta;
        q += s.p_right[p] * detail::log_sigmoid(x) + (1 - s.p_right[p]) * (detail::log_sigmoid(-x) - log_km1);
      }
      q -= 0.5 * (s.b[t] - g.beta_prior) * (s.b[t] - g.beta_prior);
    }
    part[blk] = q;
  });
  double q = 0;
  for (double v : part) q += v;
  for (double a : s.alpha) q -= 0.5 * (a - g.alpha_prior) * (a - g.alpha_prior);
  return q;
}

}  // namespace

Result glad(const AnswersView& a, const Options& opt, const GladOptions& g) {
  detail::check_options(a, opt);
  if (g.m_steps < 1 || !(g.m_tol >= 0) || !std::isfinite(g.alpha_prior) || !std::isfinite(g.beta_prior))
    throw InvalidArgument("glad: m_steps >= 1, m_tol >= 0 and finite prior means required");
  Csr c = detail::build_csr(a, true);
  Result r = detail::make_result(a);
  const std::size_t K = static_cast<std::size_t>(a.n_labels);
  State s;
  s.alpha.assign(static_cast<std::size_t>(a.n_workers), g.alpha_prior);
  s.b.assign(static_cast<std::size_t>(a.n_tasks), g.beta_prior);
  s.p_right.assign(a.n, 0.0);
  s.log_prior.assign(K, 0.0);
  if (!opt.class_priors.empty()) {
    double tot = 0;
    for (double p : opt.class_priors) tot += p;
    for (std::size_t k = 0; k < K; ++k) s.log_prior[k] = std::log(opt.class_priors[k] / tot);
  } else {
    for (std::size_t k = 0; k < K; ++k) s.log_prior[k] = -std::log(static_cast<double>(K));
  }
  const double n_ans = static_cast<double>(std::max<std::size_t>(a.n, 1));
  e_step(c, opt, s, r.probas.data());
  double last = -std::numeric_limits<double>::infinity();
  r.converged = opt.n_iter == 0;
  for (std::int32_t it = 1; it <= opt.n_iter; ++it) {
    e_step(c, opt, s, r.probas.data());
    m_step(c, opt, g, s);
    const double q = q_value(c, opt, g, s) / n_ans;
    const double change = q - last;
    r.objective_history.push_back(q);
    r.n_iter = it;
    last = q;
    if (it > 1 && change < opt.tol) { r.converged = true; break; }
    if (!detail::report(opt, it, q, std::abs(change))) break;
  }
  detail::finish_labels(r, c, opt);
  r.priors.resize(K);
  for (std::size_t k = 0; k < K; ++k) r.priors[k] = std::exp(s.log_prior[k]);
  r.abilities = s.alpha;
  r.difficulties.resize(s.b.size());
  for (std::size_t t = 0; t < s.b.size(); ++t) r.difficulties[t] = std::exp(s.b[t]);
  r.skills.assign(static_cast<std::size_t>(a.n_workers), std::numeric_limits<double>::quiet_NaN());
  for (std::size_t w = 0; w < r.skills.size(); ++w) {
    double sum = 0;
    const std::int64_t n_w = c.worker_offset[w + 1] - c.worker_offset[w];
    for (std::int64_t i = c.worker_offset[w]; i < c.worker_offset[w + 1]; ++i) {
      const std::int64_t p = c.by_worker[i];
      sum += detail::sigmoid(s.alpha[w] * std::exp(s.b[c.task_of[p]]));
    }
    if (n_w) r.skills[w] = sum / static_cast<double>(n_w);
  }
  return r;
}

}  // namespace tagger::consensus
