// GLAD as crowd-kit 1.4 runs it (tagger/consensus_crowdkit.h): its E-step,
// its objective Q and gradient, and scipy's minimize(method="CG") for the
// M-step: Polak-Ribiere+ conjugate gradient (scipy.optimize._optimize.
// _minimize_cg) with the MINPACK-2 dcsrch line search (_dcsrch.py) and the
// Wolfe zoom fallback (_linesearch.py line_search_wolfe2), branch for branch.
// The ledger's GLAD (glad.cc) is untouched by this file.
//
// What is reproduced beyond the formulas, because crowd-kit's trajectory
// depends on it:
//  * its data frame is (label variable) x (answer): label variables in its
//    label order (first appearance, or labels_priors' index), answers in input
//    order. Q sums that frame with numpy's pairwise summation; the gradient
//    and the E-step sum it per task / worker / (task, label) with pandas'
//    Kahan-compensated group sums, in frame order. Both are copied here;
//  * softplus is crowd-kit's, clipped at |x| > 30; the Gaussian prior terms
//    are log(exp(-d^2 / 2) / sqrt(2 pi)) as scipy.stats.norm.pdf computes them;
//  * the start is alpha = b = 1 whatever the prior means; the first change
//    test compares the per-row objective with the *un-normalized* Q of the
//    start (so the first iteration never stops), later ones with the last.
// Not reproduced bit for bit: numpy's own SIMD exp/log (they differ from
// glibc's in the last bit on a few percent of arguments) and BLAS's ddot
// summation order. Trajectories therefore agree to rounding, not bits.
//
// Every sum runs over a fixed partition (per task, per worker, or a fixed
// pairwise tree), so the result is the same on any number of threads.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <vector>

#include "consensus/common.h"
#include "tagger/consensus_crowdkit.h"
#include "tagger/errors.h"
#include "util/parallel.h"

namespace tagger::consensus {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr std::size_t kLeaf = 1 << 16;  // pairwise-tree leaves summed by one thread each

// numpy's pairwise summation (DOUBLE_pairwise_sum) of get(i0 .. i0 + n - 1).
template <class Get>
double pairwise(const Get& get, std::size_t i0, std::size_t n) {
  if (n < 8) {
    double res = 0.;  // numpy starts at -0.0 only for the reduction's identity, which 0.0 + x leaves unchanged
    for (std::size_t i = 0; i < n; ++i) res += get(i0 + i);
    return res;
  }
  if (n <= 128) {
    double r[8];
    for (std::size_t j = 0; j < 8; ++j) r[j] = get(i0 + j);
    std::size_t i = 8;
    for (; i < n - (n % 8); i += 8)
      for (std::size_t j = 0; j < 8; ++j) r[j] += get(i0 + i + j);
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += get(i0 + i);
    return res;
  }
  std::size_t n2 = n / 2;
  n2 -= n2 % 8;
  return pairwise(get, i0, n2) + pairwise(get, i0 + n2, n - n2);
}

// The same sum with the tree's leaves (subtrees of <= kLeaf values) on threads.
template <class Get>
double pairwise_parallel(const Get& get, std::size_t n, unsigned threads) {
  if (n <= kLeaf) return pairwise(get, 0, n);
  std::vector<std::pair<std::size_t, std::size_t>> leaves;
  auto collect = [&](auto& self, std::size_t i0, std::size_t m) -> void {
    if (m <= kLeaf) { leaves.emplace_back(i0, m); return; }
    std::size_t m2 = m / 2;
    m2 -= m2 % 8;
    self(self, i0, m2);
    self(self, i0 + m2, m - m2);
  };
  collect(collect, 0, n);
  std::vector<double> part(leaves.size());
  util::parallel_for(leaves.size(), threads, 1, [&](std::size_t b0, std::size_t b1) {
    for (std::size_t i = b0; i < b1; ++i) part[i] = pairwise(get, leaves[i].first, leaves[i].second);
  });
  std::size_t cursor = 0;
  auto combine = [&](auto& self, std::size_t m) -> double {
    if (m <= kLeaf) return part[cursor++];
    std::size_t m2 = m / 2;
    m2 -= m2 % 8;
    const double left = self(self, m2);
    return left + self(self, m - m2);
  };
  return combine(combine, n);
}

// pandas' group sum (groupby.pyx group_sum): Kahan compensation, reset when it is NaN.
struct Kahan {
  double sum = 0, comp = 0;
  void add(double val) {
    const double y = val - comp;
    const double t = sum + y;
    comp = t - sum - y;
    if (comp != comp) comp = 0;
    sum = t;
  }
};

// crowd-kit's GLAD._softplus: log1p(exp(x)), x above 30, 0 below -30.
inline double softplus(double x) {
  if (x > 30) return x;
  if (x < -30) return 0.0;
  return std::log1p(std::exp(x));
}

// log(scipy.stats.norm.pdf(d)).
inline double log_norm_pdf(double d) {
  static const double c = std::sqrt(2 * 3.141592653589793);
  return std::log(std::exp(-(d * d) / 2.0) / c);
}

class Glad {
 public:
  Glad(const AnswersView& a, const Options& opt, const GladCrowdkitOptions& g)
      : a_(a), opt_(opt), go_(g), n_(a.n), W_(static_cast<std::size_t>(a.n_workers)),
        T_(static_cast<std::size_t>(a.n_tasks)), K_(a.n_labels) {
    group(a.task, T_, task_off_, task_ans_);
    group(a.worker, W_, work_off_, work_ans_);
    order_.resize(static_cast<std::size_t>(K_));
    for (std::int32_t v = 0; v < K_; ++v)
      order_[static_cast<std::size_t>(v)] = g.label_order.empty() ? v : g.label_order[static_cast<std::size_t>(v)];
    log_km1_ = std::log(static_cast<double>(K_ - 1));  // -inf for one label: that term never occurs then
    log_prior_.resize(static_cast<std::size_t>(K_));
    priors_.resize(static_cast<std::size_t>(K_));
    for (std::size_t k = 0; k < priors_.size(); ++k) {
      priors_[k] = opt.class_priors.empty() ? 1.0 / static_cast<double>(K_) : opt.class_priors[k];
      log_prior_[k] = std::log(priors_[k]);
    }
    post_.assign(T_ * static_cast<std::size_t>(K_), 0.0);
    eb_.resize(T_);
    ls_.resize(n_);
    lm_.resize(n_);
    sig_.resize(n_);
  }

  Result run() {
    Result r = detail::make_result(a_);
    std::vector<double> x(W_ + T_, 1.0);  // crowd-kit starts at alpha = b = 1 whatever the prior means
    e_step(x);
    double q = -f(x);  // the start's Q is not divided by the frame's length
    const double rows = static_cast<double>(n_) * K_;
    r.converged = false;
    for (std::int32_t it = 1; it <= opt_.n_iter; ++it) {
      const double last = q;
      iteration_ = it - 1;
      e_step(x);
      cg(x);
      if (stopped_) break;  // the caller raises (Ctrl-C): the half-done step is not kept
      q = -f(x) / rows;
      r.objective_history.push_back(q);
      r.n_iter = it;
      if (q - last < opt_.tol) { r.converged = true; break; }
      if (!detail::report(opt_, it, q, std::abs(q - last))) break;
    }
    std::copy(post_.begin(), post_.end(), r.probas.begin());
    for (std::size_t t = 0; t < T_; ++t) {
      const double* row = &post_[t * static_cast<std::size_t>(K_)];
      std::int32_t best = 0;
      for (std::int32_t k = 1; k < K_; ++k)
        if (row[k] > row[best]) best = k;  // idxmax over the sorted label columns: first maximum
      r.labels[t] = best;
    }
    r.priors = priors_;
    r.abilities.assign(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(W_));
    r.difficulties.resize(T_);
    for (std::size_t t = 0; t < T_; ++t) r.difficulties[t] = std::exp(x[W_ + t]);
    prepare(x);
    r.skills.assign(W_, std::numeric_limits<double>::quiet_NaN());
    util::parallel_for(W_, opt_.threads, 4096, [&](std::size_t b0, std::size_t b1) {
      for (std::size_t w = b0; w < b1; ++w) {
        double s = 0;
        for (std::int64_t i = work_off_[w]; i < work_off_[w + 1]; ++i) s += sig_[static_cast<std::size_t>(work_ans_[i])];
        const std::int64_t m = work_off_[w + 1] - work_off_[w];
        if (m) r.skills[w] = s / static_cast<double>(m);
      }
    });
    return r;
  }

 private:
  // Answer indices grouped by key, ascending inside each group (a stable counting sort).
  void group(const std::int32_t* key, std::size_t m, std::vector<std::int64_t>& off, std::vector<std::int64_t>& idx) const {
    off.assign(m + 1, 0);
    for (std::size_t j = 0; j < n_; ++j) ++off[static_cast<std::size_t>(key[j]) + 1];
    for (std::size_t i = 0; i < m; ++i) off[i + 1] += off[i];
    idx.resize(n_);
    std::vector<std::int64_t> cur(off.begin(), off.end() - 1);
    for (std::size_t j = 0; j < n_; ++j) idx[static_cast<std::size_t>(cur[static_cast<std::size_t>(key[j])]++)] = static_cast<std::int64_t>(j);
  }

  // Per-answer terms at x (skipped when x is the point they were computed at).
  void prepare(const std::vector<double>& x) {
    if (have_ && x == at_) return;
    util::parallel_for(T_, opt_.threads, 16384, [&](std::size_t b0, std::size_t b1) {
      for (std::size_t t = b0; t < b1; ++t) eb_[t] = std::exp(x[W_ + t]);
    });
    util::parallel_for(n_, opt_.threads, 16384, [&](std::size_t b0, std::size_t b1) {
      for (std::size_t j = b0; j < b1; ++j) {
        const double ab = x[static_cast<std::size_t>(a_.worker[j])] * eb_[static_cast<std::size_t>(a_.task[j])];
        // exp(-ab) serves softplus(-ab) and scipy.special.expit(ab) = 1 / (1 + exp(-ab)) alike.
        const double em = std::exp(-ab);
        ls_[j] = -(-ab > 30 ? -ab : -ab < -30 ? 0.0 : std::log1p(em));
        lm_[j] = -softplus(ab) - log_km1_;
        sig_[j] = 1 / (1 + em);
      }
    });
    at_ = x;
    have_ = true;
    f_cached_.reset();
    g_cached_ = false;
  }

  // The log-likelihood term of answer j under label k (crowd-kit's "posterior" column before the E-step sums it).
  double loglik(std::size_t j, std::int32_t k) const { return a_.label[j] == k ? ls_[j] : lm_[j]; }

  void e_step(const std::vector<double>& x) {
    prepare(x);
    const std::size_t K = static_cast<std::size_t>(K_);
    util::parallel_for(T_, opt_.threads, 4096, [&](std::size_t b0, std::size_t b1) {
      std::vector<double> v(K);
      for (std::size_t t = b0; t < b1; ++t) {
        double* row = &post_[t * K];
        std::int32_t gold = -1;
        if (detail::gold_of(opt_, static_cast<std::int32_t>(t), &gold)) {  // tagger's extension: gold is one-hot
          detail::one_hot(row, K_, gold);
          continue;
        }
        for (std::size_t k = 0; k < K; ++k) {
          Kahan s;
          for (std::int64_t i = task_off_[t]; i < task_off_[t + 1]; ++i)
            s.add(loglik(static_cast<std::size_t>(task_ans_[i]), static_cast<std::int32_t>(k)));
          v[k] = s.sum + log_prior_[k];
        }
        // scipy.special.logsumexp: the maxima are taken out of the sum and counted.
        double mx = -kInf;
        for (double e : v) mx = std::max(mx, e);
        double s = 0, m = 0;
        for (double e : v) {
          if (e == mx) m += 1;
          else s += std::exp(e - mx);
        }
        if (s != 0) s /= m;
        const double lse = std::log1p(s) + std::log(m) + mx;
        for (std::size_t k = 0; k < K; ++k) row[k] = std::exp(v[k] - lse);
      }
    });
    f_cached_.reset();
    g_cached_ = false;
  }

  // -Q at x (crowd-kit's _optimize_f).
  double f(const std::vector<double>& x) {
    prepare(x);
    if (f_cached_) return *f_cached_;
    const std::size_t K = static_cast<std::size_t>(K_);
    rows_.resize(n_ * K);  // crowd-kit's frame: label variables in its order, answers in input order
    for (std::size_t v = 0; v < K; ++v) {
      const std::int32_t k = order_[v];
      double* out = rows_.data() + v * n_;
      util::parallel_for(n_, opt_.threads, 16384, [&](std::size_t b0, std::size_t b1) {
        for (std::size_t j = b0; j < b1; ++j)
          out[j] = post_[static_cast<std::size_t>(a_.task[j]) * K + static_cast<std::size_t>(k)] * loglik(j, k);
      });
    }
    double q = pairwise_parallel([&](std::size_t i) { return rows_[i]; }, rows_.size(), opt_.threads);
    q += pairwise_parallel([&](std::size_t w) { return log_norm_pdf(x[w] - go_.alpha_prior); }, W_, opt_.threads);
    q += pairwise_parallel([&](std::size_t t) { return log_norm_pdf(x[W_ + t] - go_.beta_prior); }, T_, opt_.threads);
    if (std::isnan(q)) q = -kInf;
    f_cached_ = -q;
    return -q;
  }

  // Gradient of -Q at x (crowd-kit's _optimize_df).
  const std::vector<double>& grad(const std::vector<double>& x) {
    prepare(x);
    if (g_cached_) return g_;
    g_.resize(W_ + T_);
    const std::size_t K = static_cast<std::size_t>(K_);
    auto base = [&](std::size_t j, std::int32_t k) {
      const double delta = a_.label[j] == k ? 1.0 : 0.0;
      return post_[static_cast<std::size_t>(a_.task[j]) * K + static_cast<std::size_t>(k)] * (delta - sig_[j]);
    };
    util::parallel_for(T_, opt_.threads, 4096, [&](std::size_t b0, std::size_t b1) {
      for (std::size_t t = b0; t < b1; ++t) {
        Kahan s;
        for (std::int32_t k : order_)
          for (std::int64_t i = task_off_[t]; i < task_off_[t + 1]; ++i) {
            const std::size_t j = static_cast<std::size_t>(task_ans_[i]);
            s.add(base(j, k) * x[static_cast<std::size_t>(a_.worker[j])] * eb_[t]);
          }
        g_[W_ + t] = -(s.sum - (x[W_ + t] - go_.beta_prior));
      }
    });
    util::parallel_for(W_, opt_.threads, 4096, [&](std::size_t b0, std::size_t b1) {
      for (std::size_t w = b0; w < b1; ++w) {
        Kahan s;
        for (std::int32_t k : order_)
          for (std::int64_t i = work_off_[w]; i < work_off_[w + 1]; ++i) {
            const std::size_t j = static_cast<std::size_t>(work_ans_[i]);
            s.add(base(j, k) * eb_[static_cast<std::size_t>(a_.task[j])]);
          }
        g_[w] = -(s.sum - (x[w] - go_.alpha_prior));
      }
    });
    g_cached_ = true;
    return g_;
  }

  double dot(const std::vector<double>& u, const std::vector<double>& v) const {
    return pairwise_parallel([&](std::size_t i) { return u[i] * v[i]; }, u.size(), opt_.threads);
  }
  static double max_abs(const std::vector<double>& v) {
    double m = 0;
    for (double e : v) m = std::max(m, std::abs(e));  // NaN propagates as numpy's amax does through the > test below
    for (double e : v) if (std::isnan(e)) return e;
    return m;
  }
  static void axpy(const std::vector<double>& xk, double s, const std::vector<double>& pk, std::vector<double>& out) {
    out.resize(xk.size());
    for (std::size_t i = 0; i < xk.size(); ++i) out[i] = xk[i] + s * pk[i];
  }

  // ---- scipy.optimize._minimize_cg with its line searches ----------------

  struct Step {  // polak_ribiere_powell_step's result
    double alpha = 0;
    std::vector<double> x, p, g;
    double gnorm = 0;
  };

  Step pr_step(double alpha, const std::vector<double>& gfkp1) {
    Step s;
    s.alpha = alpha;
    axpy(xk_, alpha, pk_, s.x);
    s.g = gfkp1;
    std::vector<double> yk(s.g.size());
    for (std::size_t i = 0; i < yk.size(); ++i) yk[i] = s.g[i] - gfk_[i];
    const double r = dot(yk, s.g) / deltak_;
    const double beta_k = r > 0 ? r : 0.0;  // Python's max(0, r): NaN gives 0
    s.p.resize(s.g.size());
    for (std::size_t i = 0; i < s.p.size(); ++i) s.p[i] = -s.g[i] + beta_k * pk_[i];
    s.gnorm = max_abs(s.g);
    return s;
  }

  bool descent_condition(double alpha, const std::vector<double>& gfkp1) {
    cached_ = pr_step(alpha, gfkp1);
    if (cached_->gnorm <= go_.m_step_tol) return true;
    return dot(cached_->p, cached_->g) <= -0.01 * dot(cached_->g, cached_->g);
  }

  double phi(double s) { axpy(xk_, s, pk_, xs_); return f(xs_); }
  double derphi(double s) {
    axpy(xk_, s, pk_, xs_);
    gval_ = grad(xs_);
    gval_alpha_ = s;
    return dot(gval_, pk_);
  }

  // MINPACK-2 dcsrch (scipy's _dcsrch.py), state kept between calls.
  struct Dcsrch {
    double ftol, gtol, xtol, stpmin, stpmax;
    bool brackt = false;
    int stage = 1;
    double ginit = 0, gtest = 0, gx = 0, gy = 0, finit = 0, fx = 0, fy = 0, stx = 0, sty = 0, stmin = 0, stmax = 0,
           width = 0, width1 = 0;
  };
  enum class Task { kFg, kConv, kWarn, kError };

  static double sgn(double v) { return v > 0 ? 1.0 : v < 0 ? -1.0 : v == 0 ? 0.0 : v; }

  static void dcstep(double& stx, double& fx, double& dx, double& sty, double& fy, double& dy, double& stp, double fp,
                     double dp, bool& brackt, double stpmin, double stpmax) {
    const double sgnd = sgn(dp) * sgn(dx);
    double stpf;
    if (fp > fx) {
      const double theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp;
      const double s = std::max({std::abs(theta), std::abs(dx), std::abs(dp)});
      double gamma = s * std::sqrt((theta / s) * (theta / s) - (dx / s) * (dp / s));
      if (stp < stx) gamma *= -1;
      const double p = (gamma - dx) + theta, q = ((gamma - dx) + gamma) + dp, r = p / q;
      const double stpc = stx + r * (stp - stx);
      const double stpq = stx + ((dx / ((fx - fp) / (stp - stx) + dx)) / 2.0) * (stp - stx);
      stpf = std::abs(stpc - stx) <= std::abs(stpq - stx) ? stpc : stpc + (stpq - stpc) / 2.0;
      brackt = true;
    } else if (sgnd < 0.0) {
      const double theta = 3 * (fx - fp) / (stp - stx) + dx + dp;
      const double s = std::max({std::abs(theta), std::abs(dx), std::abs(dp)});
      double gamma = s * std::sqrt((theta / s) * (theta / s) - (dx / s) * (dp / s));
      if (stp > stx) gamma *= -1;
      const double p = (gamma - dp) + theta, q = ((gamma - dp) + gamma) + dx, r = p / q;
      const double stpc = stp + r * (stx - stp);
      const double stpq = stp + (dp / (dp - dx)) * (stx - stp);
      stpf = std::abs(stpc - stp) > std::abs(stpq - stp) ? stpc : stpq;
      brackt = true;
    } else if (std::abs(dp) < std::abs(dx)) {
      const double theta = 3 * (fx - fp) / (stp - stx) + dx + dp;
      const double s = std::max({std::abs(theta), std::abs(dx), std::abs(dp)});
      const double rad = (theta / s) * (theta / s) - (dx / s) * (dp / s);
      double gamma = s * std::sqrt(rad > 0 ? rad : 0.0);  // Python's max(0, rad)
      if (stp > stx) gamma = -gamma;
      const double p = (gamma - dp) + theta, q = (gamma + (dx - dp)) + gamma, r = p / q;
      double stpc;
      if (r < 0 && gamma != 0) stpc = stp + r * (stx - stp);
      else if (stp > stx) stpc = stpmax;
      else stpc = stpmin;
      const double stpq = stp + (dp / (dp - dx)) * (stx - stp);
      if (brackt) {
        stpf = std::abs(stpc - stp) < std::abs(stpq - stp) ? stpc : stpq;
        if (stp > stx) stpf = std::min(stp + 0.66 * (sty - stp), stpf);
        else stpf = std::max(stp + 0.66 * (sty - stp), stpf);
      } else {
        stpf = std::abs(stpc - stp) > std::abs(stpq - stp) ? stpc : stpq;
        stpf = clip(stpf, stpmin, stpmax);
      }
    } else {
      if (brackt) {
        const double theta = 3.0 * (fp - fy) / (sty - stp) + dy + dp;
        const double s = std::max({std::abs(theta), std::abs(dy), std::abs(dp)});
        double gamma = s * std::sqrt((theta / s) * (theta / s) - (dy / s) * (dp / s));
        if (stp > sty) gamma = -gamma;
        const double p = (gamma - dp) + theta, q = ((gamma - dp) + gamma) + dy, r = p / q;
        stpf = stp + r * (sty - stp);
      } else if (stp > stx) {
        stpf = stpmax;
      } else {
        stpf = stpmin;
      }
    }
    if (fp > fx) {
      sty = stp; fy = fp; dy = dp;
    } else {
      if (sgnd < 0) { sty = stx; fy = fx; dy = dx; }
      stx = stp; fx = fp; dx = dp;
    }
    stp = stpf;
  }

  // np.clip: NaN stays NaN.
  static double clip(double v, double lo, double hi) { return std::isnan(v) ? v : std::min(std::max(v, lo), hi); }
  // Python's max/min over floats (the first argument wins unless the second compares greater/less).
  static double pymax(double a, double b) { return b > a ? b : a; }

  static Task dcsrch_iterate(Dcsrch& d, double& stp, double f, double g, bool start) {
    const double p5 = 0.5, p66 = 0.66, xtrapl = 1.1, xtrapu = 4.0;
    if (start) {
      if (stp < d.stpmin || stp > d.stpmax || g >= 0 || d.ftol < 0 || d.gtol < 0 || d.xtol < 0 || d.stpmin < 0 ||
          d.stpmax < d.stpmin)
        return Task::kError;
      d.brackt = false;
      d.stage = 1;
      d.finit = f;
      d.ginit = g;
      d.gtest = d.ftol * d.ginit;
      d.width = d.stpmax - d.stpmin;
      d.width1 = d.width / p5;
      d.stx = 0.0; d.fx = d.finit; d.gx = d.ginit;
      d.sty = 0.0; d.fy = d.finit; d.gy = d.ginit;
      d.stmin = 0;
      d.stmax = stp + xtrapu * stp;
      return Task::kFg;
    }
    const double ftest = d.finit + stp * d.gtest;
    if (d.stage == 1 && f <= ftest && g >= 0) d.stage = 2;
    Task task = Task::kFg;
    if (d.brackt && (stp <= d.stmin || stp >= d.stmax)) task = Task::kWarn;
    if (d.brackt && d.stmax - d.stmin <= d.xtol * d.stmax) task = Task::kWarn;
    if (stp == d.stpmax && f <= ftest && g <= d.gtest) task = Task::kWarn;
    if (stp == d.stpmin && (f > ftest || g >= d.gtest)) task = Task::kWarn;
    if (f <= ftest && std::abs(g) <= d.gtol * -d.ginit) task = Task::kConv;
    if (task != Task::kFg) return task;
    if (d.stage == 1 && f <= d.fx && f > ftest) {
      const double fm = f - stp * d.gtest;
      double fxm = d.fx - d.stx * d.gtest, fym = d.fy - d.sty * d.gtest;
      const double gm = g - d.gtest;
      double gxm = d.gx - d.gtest, gym = d.gy - d.gtest;
      dcstep(d.stx, fxm, gxm, d.sty, fym, gym, stp, fm, gm, d.brackt, d.stmin, d.stmax);
      d.fx = fxm + d.stx * d.gtest;
      d.fy = fym + d.sty * d.gtest;
      d.gx = gxm + d.gtest;
      d.gy = gym + d.gtest;
    } else {
      dcstep(d.stx, d.fx, d.gx, d.sty, d.fy, d.gy, stp, f, g, d.brackt, d.stmin, d.stmax);
    }
    if (d.brackt) {
      if (std::abs(d.sty - d.stx) >= p66 * d.width1) stp = d.stx + p5 * (d.sty - d.stx);
      d.width1 = d.width;
      d.width = std::abs(d.sty - d.stx);
      d.stmin = std::min(d.stx, d.sty);
      d.stmax = std::max(d.stx, d.sty);
    } else {
      d.stmin = stp + xtrapl * (stp - d.stx);
      d.stmax = stp + xtrapu * (stp - d.stx);
    }
    stp = clip(stp, d.stpmin, d.stpmax);
    if ((d.brackt && (stp <= d.stmin || stp >= d.stmax)) || (d.brackt && d.stmax - d.stmin <= d.xtol * d.stmax))
      stp = d.stx;
    return Task::kFg;
  }

  struct Search {  // a line search's answer: step, f there, f at 0, gradient there (if known)
    std::optional<double> alpha;
    double fval = 0, fval0 = 0;
    bool have_g = false;
  };

  // line_search_wolfe1 -> scalar_search_wolfe1 -> DCSRCH.__call__ (c1 = 1e-4, c2 = 0.4,
  // amin = 1e-100, amax = 1e100, xtol = 1e-14, 100 iterations).
  Search wolfe1(double old_fval, double old_old_fval) {
    gval_ = gfk_;
    gval_alpha_ = 0;
    const double derphi0 = dot(gfk_, pk_);
    double alpha1 = 1.0;
    if (derphi0 != 0) {
      const double r = 1.01 * 2 * (old_fval - old_old_fval) / derphi0;
      alpha1 = r < 1.0 ? r : 1.0;  // Python's min(1.0, r)
      if (alpha1 < 0) alpha1 = 1.0;
    }
    Dcsrch d{1e-4, 0.4, 1e-14, 1e-100, 1e100};
    double phi1 = old_fval, derphi1 = derphi0, stp = alpha1;
    Task task = Task::kFg;
    bool ok = false, start = true;
    for (int i = 0; i < 100; ++i) {
      double s = alpha1;
      task = dcsrch_iterate(d, s, phi1, derphi1, start);
      start = false;
      stp = s;
      if (!std::isfinite(stp)) { task = Task::kWarn; break; }
      if (task == Task::kFg) {
        alpha1 = stp;
        phi1 = phi(stp);
        derphi1 = derphi(stp);
      } else {
        ok = task == Task::kConv;
        break;
      }
    }
    Search r;
    r.fval = phi1;
    r.fval0 = old_fval;
    if (ok) { r.alpha = stp; r.have_g = true; }
    return r;
  }

  static std::optional<double> cubicmin(double a, double fa, double fpa, double b, double fb, double c, double fc) {
    const double C = fpa, db = b - a, dc = c - a;
    const double denom = (db * dc) * (db * dc) * (db - dc);
    const double d00 = dc * dc, d01 = -(db * db), d10 = -(dc * dc * dc), d11 = db * db * db;
    const double v0 = fb - fa - C * db, v1 = fc - fa - C * dc;
    double A = d00 * v0 + d01 * v1, B = d10 * v0 + d11 * v1;
    if (denom == 0 || !std::isfinite(A / denom) || !std::isfinite(B / denom)) return std::nullopt;  // numpy raises: None
    A /= denom;
    B /= denom;
    const double radical = B * B - 3 * A * C;
    if (radical < 0 || A == 0) return std::nullopt;
    const double xmin = a + (-B + std::sqrt(radical)) / (3 * A);
    if (!std::isfinite(xmin)) return std::nullopt;
    return xmin;
  }
  static std::optional<double> quadmin(double a, double fa, double fpa, double b, double fb) {
    const double D = fa, C = fpa, db = b - a * 1.0;
    if (db * db == 0) return std::nullopt;
    const double B = (fb - D - C * db) / (db * db);
    if (!std::isfinite(B) || B == 0) return std::nullopt;
    const double xmin = a - C / (2.0 * B);
    if (!std::isfinite(xmin)) return std::nullopt;
    return xmin;
  }

  // extra_condition2 of line_search_wolfe2: the descent test with the gradient at alpha.
  bool extra2(double alpha) {
    if (gval_alpha_ != alpha) derphi(alpha);
    return descent_condition(alpha, gval_);
  }

  // _zoom; returns the accepted step (nullopt: none in 10 rounds) and sets *phi_star.
  std::optional<double> zoom(double a_lo, double a_hi, double phi_lo, double phi_hi, double derphi_lo, double phi0,
                             double derphi0, double* phi_star, bool* have_g) {
    const double c1 = 1e-4, c2 = 0.4, delta1 = 0.2, delta2 = 0.1;
    double phi_rec = phi0, a_rec = 0;
    std::optional<double> a_j;
    for (int i = 0;; ++i) {
      const double dalpha = a_hi - a_lo;
      const double a = dalpha < 0 ? a_hi : a_lo, b = dalpha < 0 ? a_lo : a_hi;
      double cchk = 0;
      if (i > 0) {
        cchk = delta1 * dalpha;
        a_j = cubicmin(a_lo, phi_lo, derphi_lo, a_hi, phi_hi, a_rec, phi_rec);
      }
      if (i == 0 || !a_j || *a_j > b - cchk || *a_j < a + cchk) {
        const double qchk = delta2 * dalpha;
        a_j = quadmin(a_lo, phi_lo, derphi_lo, a_hi, phi_hi);
        if (!a_j || *a_j > b - qchk || *a_j < a + qchk) a_j = a_lo + 0.5 * dalpha;
      }
      const double aj = *a_j;
      const double phi_aj = phi(aj);
      if (phi_aj > phi0 + c1 * aj * derphi0 || phi_aj >= phi_lo) {
        phi_rec = phi_hi; a_rec = a_hi;
        a_hi = aj; phi_hi = phi_aj;
      } else {
        const double derphi_aj = derphi(aj);
        if (std::abs(derphi_aj) <= -c2 * derphi0 && extra2(aj)) {
          *phi_star = phi_aj;
          *have_g = true;
          return aj;
        }
        if (derphi_aj * (a_hi - a_lo) >= 0) {
          phi_rec = phi_hi; a_rec = a_hi;
          a_hi = a_lo; phi_hi = phi_lo;
        } else {
          phi_rec = phi_lo; a_rec = a_lo;
        }
        a_lo = aj; phi_lo = phi_aj; derphi_lo = derphi_aj;
      }
      if (i + 1 > 10) { *phi_star = 0; *have_g = false; return std::nullopt; }
    }
  }

  // line_search_wolfe2 -> scalar_search_wolfe2 (c1 = 1e-4, c2 = 0.4, amax = 1e100, 10 iterations).
  Search wolfe2(double old_fval, double old_old_fval) {
    const double c1 = 1e-4, c2 = 0.4, amax = 1e100;
    gval_alpha_ = std::numeric_limits<double>::quiet_NaN();
    const double phi0 = old_fval, derphi0 = dot(gfk_, pk_);
    double alpha0 = 0, alpha1 = 1.0;
    if (derphi0 != 0) {
      const double r = 1.01 * 2 * (phi0 - old_old_fval) / derphi0;
      alpha1 = r < 1.0 ? r : 1.0;
    }
    if (alpha1 < 0) alpha1 = 1.0;
    alpha1 = alpha1 > amax ? amax : alpha1;
    double phi_a1 = phi(alpha1), phi_a0 = phi0, derphi_a0 = derphi0;
    Search r;
    r.fval0 = phi0;
    for (int i = 0; i < 10; ++i) {
      if (alpha1 == 0 || alpha0 > amax) { r.fval0 = old_old_fval; return r; }
      if (phi_a1 > phi0 + c1 * alpha1 * derphi0 || (phi_a1 >= phi_a0 && i > 0)) {
        r.alpha = zoom(alpha0, alpha1, phi_a0, phi_a1, derphi_a0, phi0, derphi0, &r.fval, &r.have_g);
        return r;
      }
      const double derphi_a1 = derphi(alpha1);
      if (std::abs(derphi_a1) <= -c2 * derphi0 && extra2(alpha1)) {
        r.alpha = alpha1; r.fval = phi_a1; r.have_g = true;
        return r;
      }
      if (derphi_a1 >= 0) {
        r.alpha = zoom(alpha1, alpha0, phi_a1, phi_a0, derphi_a1, phi0, derphi0, &r.fval, &r.have_g);
        return r;
      }
      double alpha2 = 2 * alpha1;
      alpha2 = alpha2 > amax ? amax : alpha2;
      alpha0 = alpha1; alpha1 = alpha2;
      phi_a0 = phi_a1; phi_a1 = phi(alpha1);
      derphi_a0 = derphi_a1;
    }
    r.alpha = alpha1;  // maxiter reached: scipy takes the last step, without its gradient
    r.fval = phi_a1;
    r.have_g = false;
    return r;
  }

  // scipy.optimize.minimize(f, x, method="CG", jac=grad, tol=m_step_tol,
  // options={"maxiter": m_step_max_iter}); x becomes its result.
  void cg(std::vector<double>& x) {
    xk_ = x;
    double old_fval = f(xk_);
    gfk_ = grad(xk_);
    double old_old_fval = old_fval + std::sqrt(dot(gfk_, gfk_)) / 2;  // np.linalg.norm
    pk_.resize(gfk_.size());
    for (std::size_t i = 0; i < pk_.size(); ++i) pk_[i] = -gfk_[i];
    double gnorm = max_abs(gfk_);
    for (std::int32_t k = 0; gnorm > go_.m_step_tol && k < go_.m_step_max_iter; ++k) {
      // Ctrl-C between the optimizer's steps: one M-step of 25 took 1.4 s at 500k answers.
      if (!detail::checkpoint(opt_, iteration_)) {
        stopped_ = true;
        break;
      }
      deltak_ = dot(gfk_, gfk_);
      cached_.reset();
      Search s = wolfe1(old_fval, old_old_fval);
      if (s.alpha && !descent_condition(*s.alpha, gval_)) s.alpha.reset();
      if (!s.alpha) s = wolfe2(old_fval, old_old_fval);
      if (!s.alpha) break;  // _LineSearchError: scipy keeps the last point
      old_fval = s.fval;
      old_old_fval = s.fval0;
      Step st;
      if (cached_ && cached_->alpha == *s.alpha) {
        st = std::move(*cached_);
      } else {
        std::vector<double> xs;
        axpy(xk_, *s.alpha, pk_, xs);
        st = pr_step(*s.alpha, s.have_g ? gval_ : std::vector<double>(grad(xs)));
      }
      xk_ = std::move(st.x);
      pk_ = std::move(st.p);
      gfk_ = std::move(st.g);
      gnorm = st.gnorm;
    }
    x = xk_;
  }

  const AnswersView& a_;
  const Options& opt_;
  const GladCrowdkitOptions& go_;
  std::size_t n_, W_, T_;
  std::int32_t K_;
  std::vector<std::int64_t> task_off_, task_ans_, work_off_, work_ans_;
  std::vector<std::int32_t> order_;
  double log_km1_ = 0;
  std::vector<double> log_prior_, priors_, post_;
  // per-answer terms at at_
  std::vector<double> at_, eb_, ls_, lm_, sig_, rows_;
  bool have_ = false;
  std::optional<double> f_cached_;
  bool g_cached_ = false;
  std::vector<double> g_;
  // CG state
  std::vector<double> xk_, pk_, gfk_, xs_, gval_;
  std::int32_t iteration_ = 0;  // the last finished iteration (what a checkpoint reports)
  bool stopped_ = false;        // a checkpoint said stop: the fit ends without this step
  double gval_alpha_ = 0, deltak_ = 0;
  std::optional<Step> cached_;
};

}  // namespace

Result glad_crowdkit(const AnswersView& a, const Options& opt, const GladCrowdkitOptions& g) {
  {
    // crowd-kit takes any tol (a negative one runs all n_iter iterations); the rest is checked as everywhere.
    Options checked = opt;
    checked.tol = 0;
    detail::check_options(a, checked);
  }
  if (std::isnan(opt.tol)) throw InvalidArgument("glad_crowdkit: tol must be a number");
  if (g.m_step_max_iter < 0 || !(g.m_step_tol >= 0) || !std::isfinite(g.alpha_prior) || !std::isfinite(g.beta_prior))
    throw InvalidArgument("glad_crowdkit: m_step_max_iter >= 0, m_step_tol >= 0 and finite prior means required");
  if (!g.label_order.empty()) {
    if (g.label_order.size() != static_cast<std::size_t>(a.n_labels))
      throw InvalidArgument("glad_crowdkit: label_order must list each of the n_labels labels once");
    std::vector<char> seen(static_cast<std::size_t>(a.n_labels), 0);
    for (std::int32_t k : g.label_order) {
      if (k < 0 || k >= a.n_labels || seen[static_cast<std::size_t>(k)])
        throw InvalidArgument("glad_crowdkit: label_order must list each of the n_labels labels once");
      seen[static_cast<std::size_t>(k)] = 1;
    }
  }
  if (a.n == 0) return detail::make_result(a);
  return Glad(a, opt, g).run();
}

}  // namespace tagger::consensus
