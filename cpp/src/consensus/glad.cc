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
#include "consensus/glad_kernels.h"
#include "tagger/errors.h"
#include "util/det_math.h"

namespace tagger::consensus {
namespace detail::glad {

constexpr double kMaxStep = 2.0;  // Fisher steps are clipped: far from the optimum the quadratic model is poor

void e_step(const Csr& c, const Options& opt, State& s, double* probas) {
  const int K = c.n_labels;
  const double log_km1 = K > 1 ? util::det::log(static_cast<double>(K - 1)) : 0.0;
  util::parallel_for(static_cast<std::size_t>(c.n_tasks), opt.threads, 1024, [&](std::size_t b0, std::size_t b1) {
    std::vector<double> acc(K);
    for (std::size_t t = b0; t < b1; ++t) {
      double* row = probas + t * K;
      std::int32_t g = -1;
      const bool is_gold = detail::gold_of(opt, static_cast<std::int32_t>(t), &g);
      if (is_gold) {
        detail::one_hot(row, K, g);
      } else if (c.count(static_cast<std::int32_t>(t)) == 0) {
        for (int k = 0; k < K; ++k) row[k] = util::det::exp(s.log_prior[k]);
      } else {
        const double beta = util::det::exp(s.b[t]);
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
        for (int k = 0; k < K; ++k) { row[k] = util::det::exp(acc[k] - m); z += row[k]; }
        for (int k = 0; k < K; ++k) row[k] /= z;
      }
      for (std::int64_t p = c.task_offset[t]; p < c.task_offset[t + 1]; ++p) s.p_right[p] = row[c.label[p]];
    }
  });
}

void alpha_sums(const Csr& c, const Options& opt, const State& s, double* grad_io, double* info_io) {
  util::parallel_for(static_cast<std::size_t>(c.n_workers), opt.threads, 64, [&](std::size_t b0, std::size_t b1) {
    for (std::size_t w = b0; w < b1; ++w) {
      double grad = grad_io[w], info = info_io[w];
      for (std::int64_t i = c.worker_offset[w]; i < c.worker_offset[w + 1]; ++i) {
        const std::int64_t p = c.by_worker[i];
        const double beta = util::det::exp(s.b[c.task_of[p]]);
        const double sg = detail::sigmoid(s.alpha[w] * beta);
        grad += (s.p_right[p] - sg) * beta;
        info += sg * (1 - sg) * beta * beta;
      }
      grad_io[w] = grad;
      info_io[w] = info;
    }
  });
}

double alpha_update(const double* grad, const double* info, std::vector<double>& alpha) {
  double moved = 0;
  for (std::size_t w = 0; w < alpha.size(); ++w) {
    const double step = std::clamp(grad[w] / info[w], -kMaxStep, kMaxStep);
    alpha[w] += step;
    moved = std::max(moved, std::abs(step));
  }
  return moved;
}

double b_step(const Csr& c, const Options& opt, const GladOptions& g, State& s) {
  std::vector<double> moved_t(static_cast<std::size_t>(c.n_tasks), 0.0);
  util::parallel_for(static_cast<std::size_t>(c.n_tasks), opt.threads, 1024, [&](std::size_t b0, std::size_t b1) {
    for (std::size_t t = b0; t < b1; ++t) {
      const double beta = util::det::exp(s.b[t]);
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
  for (double v : moved_t) moved = std::max(moved, v);
  return moved;
}

std::vector<double> q_blocks(const Csr& c, const Options& opt, const GladOptions& g, const State& s) {
  const int K = c.n_labels;
  const double log_km1 = K > 1 ? util::det::log(static_cast<double>(K - 1)) : 0.0;
  const std::size_t T = static_cast<std::size_t>(c.n_tasks);
  std::vector<double> part((T + detail::kBlockTasks - 1) / detail::kBlockTasks, 0.0);
  detail::for_blocks(T, detail::kBlockTasks, opt.threads, [&](std::size_t blk, std::size_t b0, std::size_t b1) {
    double q = 0;
    for (std::size_t t = b0; t < b1; ++t) {
      const double beta = util::det::exp(s.b[t]);
      for (std::int64_t p = c.task_offset[t]; p < c.task_offset[t + 1]; ++p) {
        const double x = s.alpha[c.worker[p]] * beta;
        q += s.p_right[p] * detail::log_sigmoid(x) + (1 - s.p_right[p]) * (detail::log_sigmoid(-x) - log_km1);
      }
      q -= 0.5 * (s.b[t] - g.beta_prior) * (s.b[t] - g.beta_prior);
    }
    part[blk] = q;
  });
  return part;
}

double q_total(const std::vector<double>& parts, const std::vector<double>& alpha, double alpha_prior) {
  double q = 0;
  for (double v : parts) q += v;
  for (double a : alpha) q -= 0.5 * (a - alpha_prior) * (a - alpha_prior);
  return q;
}

void skill_sums(const Csr& c, const State& s, double* sums) {
  for (std::size_t w = 0; w < static_cast<std::size_t>(c.n_workers); ++w) {
    double sum = sums[w];
    for (std::int64_t i = c.worker_offset[w]; i < c.worker_offset[w + 1]; ++i) {
      const std::int64_t p = c.by_worker[i];
      sum += detail::sigmoid(s.alpha[w] * util::det::exp(s.b[c.task_of[p]]));
    }
    sums[w] = sum;
  }
}

}  // namespace detail::glad

namespace {

using detail::Csr;
using detail::glad::State;

// Block coordinate Fisher scoring: all alphas, then all b's; each
// coordinate's problem is one-dimensional given the other block.
void m_step(const Csr& c, const Options& opt, const GladOptions& g, State& s) {
  const std::size_t W = static_cast<std::size_t>(c.n_workers);
  std::vector<double> grad(W), info(W);
  for (std::int32_t round = 0; round < g.m_steps; ++round) {
    for (std::size_t w = 0; w < W; ++w) {
      grad[w] = -(s.alpha[w] - g.alpha_prior);
      info[w] = 1.0;
    }
    detail::glad::alpha_sums(c, opt, s, grad.data(), info.data());
    double moved = detail::glad::alpha_update(grad.data(), info.data(), s.alpha);
    moved = std::max(moved, detail::glad::b_step(c, opt, g, s));
    if (moved < g.m_tol) break;
  }
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
    for (std::size_t k = 0; k < K; ++k) s.log_prior[k] = util::det::log(opt.class_priors[k] / tot);
  } else {
    for (std::size_t k = 0; k < K; ++k) s.log_prior[k] = -util::det::log(static_cast<double>(K));
  }
  const double n_ans = static_cast<double>(std::max<std::size_t>(a.n, 1));
  detail::glad::e_step(c, opt, s, r.probas.data());
  double last = -std::numeric_limits<double>::infinity();
  r.converged = opt.n_iter == 0;
  for (std::int32_t it = 1; it <= opt.n_iter; ++it) {
    detail::glad::e_step(c, opt, s, r.probas.data());
    m_step(c, opt, g, s);
    const double q = detail::glad::q_total(detail::glad::q_blocks(c, opt, g, s), s.alpha, g.alpha_prior) / n_ans;
    const double change = q - last;
    r.objective_history.push_back(q);
    r.n_iter = it;
    last = q;
    if (it > 1 && change < opt.tol) { r.converged = true; break; }
    if (!detail::report(opt, it, q, std::abs(change))) break;
  }
  detail::finish_labels(r, c, opt);
  r.priors.resize(K);
  for (std::size_t k = 0; k < K; ++k) r.priors[k] = util::det::exp(s.log_prior[k]);
  r.abilities = s.alpha;
  r.difficulties.resize(s.b.size());
  for (std::size_t t = 0; t < s.b.size(); ++t) r.difficulties[t] = util::det::exp(s.b[t]);
  std::vector<double> sums(static_cast<std::size_t>(a.n_workers), 0.0);
  detail::glad::skill_sums(c, s, sums.data());
  r.skills.assign(static_cast<std::size_t>(a.n_workers), std::numeric_limits<double>::quiet_NaN());
  for (std::size_t w = 0; w < r.skills.size(); ++w) {
    const std::int64_t n_w = c.worker_offset[w + 1] - c.worker_offset[w];
    if (n_w) r.skills[w] = sums[w] / static_cast<double>(n_w);
  }
  return r;
}

}  // namespace tagger::consensus
