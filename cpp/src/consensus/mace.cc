// MACE (Hovy, Berg-Kirkpatrick, Vaswani & Hovy, NAACL 2013): each answer is
// the truth unless the worker spams on it (probability spam_w), in which case
// it is drawn from the worker's strategy theta_w. EM or variational Bayes with
// Beta(alpha, beta) / Dirichlet(strategy_prior) priors, best of n_restarts by
// log marginal likelihood. The class prior is uniform (as in MACE).
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "consensus/common.h"
#include "tagger/errors.h"
#include "util/det_math.h"

namespace tagger::consensus {
namespace {

using detail::Csr;
using detail::digamma;  // the scalar one: MACE's probabilities are compared with crowd-kit's to 2e-10

// numpy's legacy RandomState(seed).random_sample(): MT19937 seeded by
// init_genrand (as std::mt19937 is) and 53-bit doubles from two draws
// (genrand_res53). Portable, and the same stream crowd-kit's MACE draws its
// start from (scipy.stats.uniform.rvs(random_state=seed)), so a restart with
// the same seed starts where crowd-kit starts.
struct NumpyLegacyUniform {
  std::mt19937 gen;
  explicit NumpyLegacyUniform(std::uint64_t seed) : gen(static_cast<std::uint32_t>(seed)) {}
  double uniform() {
    const double a = static_cast<double>(gen() >> 5), b = static_cast<double>(gen() >> 6);
    return (a * 67108864.0 + b) / 9007199254740992.0;
  }
};

struct Params {
  // [W] weights of spamming / knowing. EM: probabilities summing to 1. VB: the
  // sub-normalized expectations exp(E[log p]) used as they are, as in MACE.
  std::vector<double> spam, know;
  std::vector<double> theta;  // [W * K] spam strategy (VB: sub-normalized likewise)
};

// E-step: posteriors into probas, per-answer P(spam) into spam_post; returns
// the log marginal likelihood.
double e_step(const Csr& c, const Options& opt, const Params& prm, double* probas, double* spam_post) {
  const int K = c.n_labels;
  const std::size_t T = static_cast<std::size_t>(c.n_tasks);
  const double log_k = util::det::log(static_cast<double>(K));
  std::vector<double> part((T + detail::kBlockTasks - 1) / detail::kBlockTasks, 0.0);
  detail::for_blocks(T, detail::kBlockTasks, opt.threads, [&](std::size_t blk, std::size_t b0, std::size_t b1) {
    std::vector<double> lm(K);
    double ll = 0;
    for (std::size_t t = b0; t < b1; ++t) {
      double* row = probas + t * K;
      const std::int64_t p0 = c.task_offset[t], p1 = c.task_offset[t + 1];
      std::int32_t g = -1;
      const bool is_gold = detail::gold_of(opt, static_cast<std::int32_t>(t), &g);
      if (p0 == p1) {
        if (is_gold) detail::one_hot(row, K, g);
        else for (int k = 0; k < K; ++k) row[k] = 1.0 / K;
        continue;
      }
      double base = -log_k;
      std::fill(lm.begin(), lm.end(), 0.0);
      for (std::int64_t p = p0; p < p1; ++p) {
        const std::size_t w = static_cast<std::size_t>(c.worker[p]);
        const double sp = prm.spam[w] * prm.theta[w * K + c.label[p]];
        const double l_spam = util::det::log(sp), l_both = util::det::log(sp + prm.know[w]);
        base += l_spam;
        lm[c.label[p]] += l_both - l_spam;
      }
      double m = -std::numeric_limits<double>::infinity();
      for (int k = 0; k < K; ++k) { lm[k] += base; m = std::max(m, lm[k]); }
      double z = 0;
      for (int k = 0; k < K; ++k) { row[k] = util::det::exp(lm[k] - m); z += row[k]; }
      ll += m + util::det::log(z);
      for (int k = 0; k < K; ++k) row[k] /= z;
      if (is_gold) detail::one_hot(row, K, g);
      for (std::int64_t p = p0; p < p1; ++p) {
        const std::size_t w = static_cast<std::size_t>(c.worker[p]);
        const double sp = prm.spam[w] * prm.theta[w * K + c.label[p]], know = prm.know[w];
        spam_post[p] = 1 - row[c.label[p]] * know / (sp + know);
      }
    }
    part[blk] = ll;
  });
  double ll = 0;
  for (double v : part) ll += v;
  return ll;
}

void m_step(const Csr& c, const Options& opt, const MaceOptions& mo, double smoothing, const double* spam_post, Params& prm) {
  const int K = c.n_labels;
  util::parallel_for(static_cast<std::size_t>(c.n_workers), opt.threads, 64, [&](std::size_t b0, std::size_t b1) {
    std::vector<double> strat(K);
    for (std::size_t w = b0; w < b1; ++w) {
      double spam = 0, know = 0;
      std::fill(strat.begin(), strat.end(), 0.0);
      for (std::int64_t i = c.worker_offset[w]; i < c.worker_offset[w + 1]; ++i) {
        const std::int64_t p = c.by_worker[i];
        spam += spam_post[p];
        know += 1 - spam_post[p];
        strat[c.label[p]] += spam_post[p];
      }
      double* th = prm.theta.data() + w * K;
      if (mo.variational) {
        const double norm = util::det::exp(digamma(spam + know + mo.alpha + mo.beta));
        prm.spam[w] = util::det::exp(digamma(spam + mo.alpha)) / norm;
        prm.know[w] = util::det::exp(digamma(know + mo.beta)) / norm;
        double tot = 0;
        for (int k = 0; k < K; ++k) tot += strat[k] + mo.strategy_prior;
        const double tnorm = util::det::exp(digamma(tot));
        for (int k = 0; k < K; ++k) th[k] = util::det::exp(digamma(strat[k] + mo.strategy_prior)) / tnorm;
      } else {
        prm.spam[w] = (spam + smoothing) / (spam + know + 2 * smoothing);
        prm.know[w] = 1 - prm.spam[w];
        double tot = 0;
        for (int k = 0; k < K; ++k) tot += strat[k] + smoothing;
        for (int k = 0; k < K; ++k) th[k] = (strat[k] + smoothing) / tot;
      }
      prm.spam[w] = std::max(prm.spam[w], detail::kProbFloor);
      prm.know[w] = std::max(prm.know[w], detail::kProbFloor);
      for (int k = 0; k < K; ++k) th[k] = std::max(th[k], detail::kProbFloor);
    }
  });
}

}  // namespace

Result mace(const AnswersView& a, const Options& opt, const MaceOptions& mo) {
  detail::check_options(a, opt);
  if (mo.n_restarts < 1 || !(mo.alpha > 0) || !(mo.beta > 0) || !(mo.strategy_prior > 0) || !(mo.default_noise >= 0))
    throw InvalidArgument("mace: n_restarts >= 1, alpha, beta, strategy_prior > 0 and default_noise >= 0 required");
  Csr c = detail::build_csr(a, true);
  Result r = detail::make_result(a);
  const std::size_t W = static_cast<std::size_t>(a.n_workers), K = static_cast<std::size_t>(a.n_labels);
  const double smoothing = mo.smoothing < 0 ? 0.01 / static_cast<double>(std::max<std::size_t>(K, 1)) : mo.smoothing;
  const double n_ans = static_cast<double>(std::max<std::size_t>(a.n, 1));
  std::vector<double> spam_post(a.n), probas(r.probas.size());
  Params best;
  double best_ll = -std::numeric_limits<double>::infinity();
  std::int32_t total_iter = 0;
  bool any_stopped = false;
  for (std::int32_t restart = 0; restart < mo.n_restarts && !any_stopped; ++restart) {
    // crowd-kit 1.4 draws the (spam, know) pairs, row-major [W x 2], and then
    // the strategies, [W x K], each from a fresh RandomState(seed), scaling by
    // scipy's uniform(loc=1, scale=1 + noise), i.e. U(1, 2 + noise).
    const std::uint64_t seed = opt.seed + static_cast<std::uint64_t>(restart);
    const double scale = 1 + mo.default_noise;
    Params prm;
    prm.spam.resize(W);
    prm.know.resize(W);
    prm.theta.resize(W * K);
    NumpyLegacyUniform rng_pair(seed), rng_theta(seed);
    for (std::size_t w = 0; w < W; ++w) {
      const double x0 = rng_pair.uniform() * scale + 1, x1 = rng_pair.uniform() * scale + 1;
      prm.spam[w] = x0 / (x0 + x1);
      prm.know[w] = x1 / (x0 + x1);
      double s = 0;
      for (std::size_t k = 0; k < K; ++k) { prm.theta[w * K + k] = rng_theta.uniform() * scale + 1; s += prm.theta[w * K + k]; }
      for (std::size_t k = 0; k < K; ++k) prm.theta[w * K + k] /= s;
    }
    double ll = e_step(c, opt, prm, probas.data(), spam_post.data()) / n_ans;
    std::vector<double> history;
    bool converged = opt.n_iter == 0;
    for (std::int32_t it = 1; it <= opt.n_iter; ++it) {
      m_step(c, opt, mo, smoothing, spam_post.data(), prm);
      const double next = e_step(c, opt, prm, probas.data(), spam_post.data()) / n_ans;
      const double change = next - ll;
      ll = next;
      history.push_back(ll);
      ++total_iter;
      if (std::abs(change) < opt.tol) { converged = true; break; }
      if (!detail::report(opt, total_iter, ll, std::abs(change))) { any_stopped = true; break; }
    }
    if (ll > best_ll || restart == 0) {
      best_ll = ll;
      best = prm;
      r.probas = probas;
      r.objective_history = std::move(history);
      r.n_iter = static_cast<std::int32_t>(r.objective_history.size());
      r.converged = converged;
    }
  }
  detail::finish_labels(r, c, opt);
  r.priors.assign(K, 1.0 / static_cast<double>(std::max<std::size_t>(K, 1)));
  r.spamming.resize(W);
  r.skills.resize(W);
  r.strategies = best.theta;
  for (std::size_t w = 0; w < W; ++w) {
    r.spamming[w] = best.spam[w] / (best.spam[w] + best.know[w]);
    r.skills[w] = 1 - r.spamming[w];
    double s = 0;
    for (std::size_t k = 0; k < K; ++k) s += r.strategies[w * K + k];
    for (std::size_t k = 0; k < K; ++k) r.strategies[w * K + k] /= s;
  }
  return r;
}

}  // namespace tagger::consensus
