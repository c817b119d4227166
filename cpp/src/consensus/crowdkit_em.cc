// crowd-kit 1.4's Dawid-Skene, one-coin Dawid-Skene and KOS, step for step
// (see tagger/consensus_crowdkit.h for the rules reproduced). The ledger's
// engines (dawid_skene.cc, one_coin_dawid_skene.cc) are untouched by this file.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "consensus/common.h"
#include "tagger/consensus_crowdkit.h"
#include "tagger/errors.h"
#include "util/parallel.h"

namespace tagger::consensus {
namespace {

constexpr double kEps = 1e-10;  // crowd-kit's _EPS
constexpr std::size_t kTaskChunk = 8192;  // tasks per E-step chunk and per ELBO block

// State shared by the two DS variants: answers task-major, each answer's
// (worker, label) row, and which rows the model has.
struct Em {
  const AnswersView& a;
  const Options& opt;
  detail::Csr c;
  std::int32_t K;
  std::vector<std::int32_t> row;     // [n] task-major: worker * K + label
  std::vector<std::uint8_t> present; // [W * K] rows the error table holds
  std::vector<double> err;           // [W * K (observed) * K (true)] P(observed | true)
  std::vector<double> priors;        // [K]
  std::vector<double> probas;        // [T * K]
  std::int64_t tasks_with_answers = 0;

  Em(const AnswersView& a_, const Options& o) : a(a_), opt(o), c(detail::build_csr(a_, false)), K(a_.n_labels) {
    const std::size_t W = static_cast<std::size_t>(a.n_workers);
    row.resize(c.n);
    present.assign(W * K, 0);
    for (std::size_t j = 0; j < c.n; ++j) {
      row[j] = c.worker[j] * K + c.label[j];
      present[static_cast<std::size_t>(row[j])] = 1;
    }
    err.assign(W * K * K, 0.0);
    priors.assign(K, 0.0);
    probas.assign(static_cast<std::size_t>(a.n_tasks) * K, 0.0);
    for (std::int32_t t = 0; t < a.n_tasks; ++t) tasks_with_answers += c.count(t) > 0;
  }

  void clamp_gold() {
    for (std::int32_t t = 0; t < a.n_tasks; ++t) {
      std::int32_t g;
      if (c.count(t) > 0 && detail::gold_of(opt, t, &g)) detail::one_hot(&probas[static_cast<std::size_t>(t) * K], K, g);
    }
  }

  void majority_shares() {
    for (std::int32_t t = 0; t < a.n_tasks; ++t) {
      double* p = &probas[static_cast<std::size_t>(t) * K];
      const double n = static_cast<double>(c.count(t));
      for (std::int64_t j = c.begin(t); j < c.end(t); ++j) p[c.label[j]] += 1.0;
      if (n > 0) for (std::int32_t k = 0; k < K; ++k) p[k] /= n;
    }
  }

  // priors = mean posterior over the tasks that have answers (crowd-kit's frame has only those).
  void mean_priors() {
    std::fill(priors.begin(), priors.end(), 0.0);
    for (std::int32_t t = 0; t < a.n_tasks; ++t)
      if (c.count(t) > 0)
        for (std::int32_t k = 0; k < K; ++k) priors[k] += probas[static_cast<std::size_t>(t) * K + k];
    for (auto& p : priors) p = tasks_with_answers ? p / static_cast<double>(tasks_with_answers) : 1.0 / K;
  }

  // Expected counts per (worker, observed, true).
  std::vector<double> counts() const {
    std::vector<double> cnt(err.size(), 0.0);
    for (std::int32_t t = 0; t < a.n_tasks; ++t) {
      const double* p = &probas[static_cast<std::size_t>(t) * K];
      for (std::int64_t j = c.begin(t); j < c.end(t); ++j) {
        double* r = &cnt[static_cast<std::size_t>(row[j]) * K];
        for (std::int32_t k = 0; k < K; ++k) r[k] += p[k];
      }
    }
    return cnt;
  }

  // e = max(v, eps) / sum over the worker's rows in `rows` of max(v, eps), per true label.
  void normalize(const std::vector<double>& v, const std::vector<std::uint8_t>& rows) {
    const std::int32_t W = a.n_workers;
    std::vector<double> sum(K);
    for (std::int32_t w = 0; w < W; ++w) {
      std::fill(sum.begin(), sum.end(), 0.0);
      for (std::int32_t l = 0; l < K; ++l) {
        const std::size_t r = static_cast<std::size_t>(w) * K + l;
        if (!rows[r]) continue;
        for (std::int32_t k = 0; k < K; ++k) sum[k] += std::max(v[r * K + k], kEps);
      }
      for (std::int32_t l = 0; l < K; ++l) {
        const std::size_t r = static_cast<std::size_t>(w) * K + l;
        for (std::int32_t k = 0; k < K; ++k)
          err[r * K + k] = rows[r] ? std::max(v[r * K + k], kEps) / sum[k] : std::numeric_limits<double>::quiet_NaN();
      }
    }
  }

  // Tasks are independent in the E-step: chunks on opt.threads threads give the
  // same bits as one thread.
  void e_step() {
    std::vector<double> lp(K), logerr(err.size());
    for (std::int32_t k = 0; k < K; ++k) lp[k] = std::log2(std::max(priors[k], kEps));
    for (std::size_t i = 0; i < err.size(); ++i) logerr[i] = std::log2(err[i]);
    util::parallel_for(static_cast<std::size_t>(a.n_tasks), opt.threads, kTaskChunk, [&](std::size_t b, std::size_t e) {
      e_step_range(lp, logerr, static_cast<std::int32_t>(b), static_cast<std::int32_t>(e));
    });
  }

  void e_step_range(const std::vector<double>& lp, const std::vector<double>& logerr, std::int32_t t0, std::int32_t t1) {
    std::vector<double> s(K);
    for (std::int32_t t = t0; t < t1; ++t) {
      if (c.count(t) == 0) continue;
      std::fill(s.begin(), s.end(), 0.0);
      for (std::int64_t j = c.begin(t); j < c.end(t); ++j) {
        const double* r = &logerr[static_cast<std::size_t>(row[j]) * K];
        for (std::int32_t k = 0; k < K; ++k) s[k] += r[k];
      }
      double mx = -std::numeric_limits<double>::infinity();
      for (std::int32_t k = 0; k < K; ++k) { s[k] += lp[k]; mx = std::max(mx, s[k]); }
      double z = 0;
      for (std::int32_t k = 0; k < K; ++k) { s[k] = std::exp2(s[k] - mx); z += s[k]; }
      double* p = &probas[static_cast<std::size_t>(t) * K];
      for (std::int32_t k = 0; k < K; ++k) p[k] = s[k] / z;
    }
  }

  // ELBO per answer; clips probas below at eps in place, as crowd-kit does.
  // Summed per fixed block of tasks, then over the blocks in order: the same
  // value on any number of threads.
  double elbo() {
    std::vector<double> lp(K);
    for (std::int32_t k = 0; k < K; ++k) lp[k] = std::log(std::max(priors[k], kEps));
    // One log per table cell, not per answer and class (rows not in the model are never read).
    std::vector<double> ln(err.size());
    for (std::size_t i = 0; i < err.size(); ++i) ln[i] = std::log(err[i]);
    const std::size_t T = static_cast<std::size_t>(a.n_tasks), blocks = (T + kTaskChunk - 1) / kTaskChunk;
    std::vector<double> part(blocks, 0.0);
    util::parallel_for(blocks, opt.threads, 1, [&](std::size_t b, std::size_t e) {
      for (std::size_t k = b; k < e; ++k)
        part[k] = elbo_range(lp, ln, static_cast<std::int32_t>(k * kTaskChunk),
                             static_cast<std::int32_t>(std::min(T, (k + 1) * kTaskChunk)));
    });
    double total = 0;
    for (double v : part) total += v;
    return total / static_cast<double>(a.n);
  }

  double elbo_range(const std::vector<double>& lp, const std::vector<double>& ln, std::int32_t t0, std::int32_t t1) {
    double joint = 0, entropy = 0;
    for (std::int32_t t = t0; t < t1; ++t) {
      if (c.count(t) == 0) continue;
      double* p = &probas[static_cast<std::size_t>(t) * K];
      for (std::int64_t j = c.begin(t); j < c.end(t); ++j) {
        const double* r = &ln[static_cast<std::size_t>(row[j]) * K];
        for (std::int32_t k = 0; k < K; ++k) joint += p[k] * (r[k] + lp[k]);
      }
      for (std::int32_t k = 0; k < K; ++k) {
        p[k] = std::max(p[k], kEps);
        entropy -= std::log(p[k]) * p[k];
      }
    }
    return joint + entropy;
  }

  template <class MStep>
  Result run(MStep&& m_step) {
    Result r = detail::make_result(a);
    majority_shares();
    clamp_gold();
    mean_priors();
    m_step(true);
    double loss = -std::numeric_limits<double>::infinity();
    bool converged = false;
    std::int32_t it = 0;
    while (it < opt.n_iter) {
      e_step();
      clamp_gold();
      mean_priors();
      m_step(false);
      const double next = elbo();
      ++it;
      r.objective_history.push_back(next);
      const double change = next - loss;
      if (!detail::report(opt, it, next, std::isfinite(change) ? std::abs(change) : 0.0)) break;
      if (change < opt.tol) { converged = true; break; }
      loss = next;
    }
    r.n_iter = it;
    r.converged = converged;
    for (auto& p : priors) p = std::max(p, kEps);
    r.probas = std::move(probas);
    // Tasks without answers (only when n_tasks exceeds the indices used) get the prior.
    for (std::int32_t t = 0; t < a.n_tasks; ++t)
      if (c.count(t) == 0) std::copy(priors.begin(), priors.end(), r.probas.begin() + static_cast<std::ptrdiff_t>(t) * K);
    detail::finish_labels(r, c, opt);
    r.priors = priors;
    // errors as Result lays them out: [w][true][observed].
    const std::size_t W = static_cast<std::size_t>(a.n_workers);
    r.errors.assign(W * K * K, 0.0);
    for (std::size_t w = 0; w < W; ++w)
      for (std::int32_t l = 0; l < K; ++l)
        for (std::int32_t k = 0; k < K; ++k) r.errors[(w * K + k) * K + l] = err[(w * K + l) * K + k];
    return r;
  }
};

void check(const AnswersView& a, const Options& opt) {
  validate(a);
  Options checked = opt;
  checked.tol = 0.0;  // crowd-kit takes any tol (a negative one runs all n_iter iterations)
  detail::check_options(a, checked);
  if (!opt.class_priors.empty())
    throw InvalidArgument("consensus: crowd-kit's Dawid-Skene estimates the class priors; class_priors are not taken");
}

}  // namespace

Result dawid_skene_crowdkit(const AnswersView& a, const Options& opt, const InitialError& init) {
  check(a, opt);
  const std::size_t W = static_cast<std::size_t>(a.n_workers), K = static_cast<std::size_t>(a.n_labels);
  if (init.strategy != InitialError::kNone) {
    if (init.values.size() != W * K * K || init.given.size() != W * K)
      throw InvalidArgument("consensus: initial_error must have n_workers * n_labels rows of n_labels values");
    for (double v : init.values)
      if (!std::isfinite(v) || v < 0) throw InvalidArgument("consensus: initial_error values must be finite and >= 0");
  }
  Em em(a, opt);
  return em.run([&](bool first) {
    std::vector<double> cnt = em.counts();
    if (!first || init.strategy == InitialError::kNone) return em.normalize(cnt, em.present);
    // init.values are [w][true][observed]; the table is [w][observed][true].
    auto given = [&](std::size_t w, std::size_t l, std::size_t k) { return init.values[(w * K + k) * K + l]; };
    std::vector<std::uint8_t> rows(W * K, 0);
    for (std::size_t w = 0; w < W; ++w)
      for (std::size_t l = 0; l < K; ++l) {
        const std::size_t r = w * K + l;
        const bool g = init.given[r] != 0;
        if (init.strategy == InitialError::kAssign) {
          if (em.present[r] && !g)
            throw InvalidArgument("consensus: initial_error (assign) has no row for worker index " + std::to_string(w) +
                                  ", label index " + std::to_string(l));
          rows[r] = g;
          for (std::size_t k = 0; k < K; ++k) cnt[r * K + k] = g ? given(w, l, k) : 0.0;
        } else {
          rows[r] = g || em.present[r];
          if (g) for (std::size_t k = 0; k < K; ++k) cnt[r * K + k] += given(w, l, k);
        }
      }
    em.normalize(cnt, rows);
  });
}

Result one_coin_dawid_skene_crowdkit(const AnswersView& a, const Options& opt) {
  check(a, opt);
  Em em(a, opt);
  const std::int32_t K = a.n_labels, W = a.n_workers;
  std::vector<double> skills(static_cast<std::size_t>(W), 0.0);
  Result r = em.run([&](bool) {
    std::vector<double> sum(static_cast<std::size_t>(W), 0.0), n(static_cast<std::size_t>(W), 0.0);
    for (std::int32_t t = 0; t < a.n_tasks; ++t)
      for (std::int64_t j = em.c.begin(t); j < em.c.end(t); ++j) {
        sum[static_cast<std::size_t>(em.c.worker[j])] += em.probas[static_cast<std::size_t>(t) * K + em.c.label[j]];
        n[static_cast<std::size_t>(em.c.worker[j])] += 1.0;
      }
    for (std::int32_t w = 0; w < W; ++w) {
      const std::size_t ws = static_cast<std::size_t>(w);
      skills[ws] = n[ws] > 0 ? sum[ws] / n[ws] : std::numeric_limits<double>::quiet_NaN();
      for (std::int32_t l = 0; l < K; ++l) {
        const std::size_t rr = ws * K + l;
        for (std::int32_t k = 0; k < K; ++k) {
          double v = k == l ? skills[ws] : (1.0 - skills[ws]) / (K - 1);
          em.err[rr * K + k] = em.present[rr] ? std::clamp(v, kEps, 1.0 - kEps) : std::numeric_limits<double>::quiet_NaN();
        }
      }
    }
  });
  r.skills = std::move(skills);
  return r;
}

namespace {
// numpy's legacy RandomState(seed): MT19937 (init_genrand), 53-bit doubles
// (genrand_res53) and the polar-method gauss with its cached second value.
struct LegacyNormal {
  std::mt19937 gen;
  bool has = false;
  double cached = 0;
  explicit LegacyNormal(std::uint64_t seed) : gen(static_cast<std::uint32_t>(seed)) {}
  double uniform() {
    const double x = static_cast<double>(gen() >> 5), y = static_cast<double>(gen() >> 6);
    return (x * 67108864.0 + y) / 9007199254740992.0;
  }
  double gauss() {
    if (has) { has = false; return cached; }
    double x1, x2, r2;
    do {
      x1 = 2.0 * uniform() - 1.0;
      x2 = 2.0 * uniform() - 1.0;
      r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1.0 || r2 == 0.0);
    const double f = std::sqrt(-2.0 * std::log(r2) / r2);
    cached = f * x1;
    has = true;
    return f * x2;
  }
};
}  // namespace

Result kos(const AnswersView& a, std::int32_t positive, const Options& opt) {
  validate(a);
  detail::check_options(a, opt);
  if (a.n_labels != 2) throw InvalidArgument("consensus: KOS is for binary labels only, got " + std::to_string(a.n_labels));
  if (positive < 0 || positive > 1) throw InvalidArgument("consensus: KOS positive label index must be 0 or 1");
  const std::size_t n = a.n;
  std::vector<double> A(n), rel(n), inferred(n), mult(n);
  LegacyNormal rng(opt.seed);
  for (std::size_t j = 0; j < n; ++j) {
    A[j] = a.label[j] == positive ? 1.0 : -1.0;
    rel[j] = 1.0 + rng.gauss();
  }
  std::vector<double> by_task(static_cast<std::size_t>(a.n_tasks)), by_worker(static_cast<std::size_t>(a.n_workers));
  constexpr double kMax = 1e300;
  std::int32_t it = 0;
  for (; it < opt.n_iter; ++it) {
    std::fill(by_task.begin(), by_task.end(), 0.0);
    for (std::size_t j = 0; j < n; ++j) { mult[j] = A[j] * rel[j]; by_task[static_cast<std::size_t>(a.task[j])] += mult[j]; }
    bool over = false;
    for (std::size_t j = 0; j < n; ++j) over |= std::abs(by_task[static_cast<std::size_t>(a.task[j])]) > kMax;
    if (over) break;
    for (std::size_t j = 0; j < n; ++j) inferred[j] = by_task[static_cast<std::size_t>(a.task[j])] - mult[j];
    std::fill(by_worker.begin(), by_worker.end(), 0.0);
    for (std::size_t j = 0; j < n; ++j) { mult[j] = A[j] * inferred[j]; by_worker[static_cast<std::size_t>(a.worker[j])] += mult[j]; }
    for (std::size_t j = 0; j < n; ++j) over |= std::abs(by_worker[static_cast<std::size_t>(a.worker[j])]) > kMax;
    if (over) break;
    for (std::size_t j = 0; j < n; ++j) rel[j] = by_worker[static_cast<std::size_t>(a.worker[j])] - mult[j];
    if (!detail::report(opt, it + 1, 0.0, 0.0)) { ++it; break; }
  }
  std::fill(by_task.begin(), by_task.end(), 0.0);
  std::vector<std::uint8_t> seen(static_cast<std::size_t>(a.n_tasks), 0);
  for (std::size_t j = 0; j < n; ++j) {
    by_task[static_cast<std::size_t>(a.task[j])] += A[j] * rel[j];
    seen[static_cast<std::size_t>(a.task[j])] = 1;
  }
  Result r = detail::make_result(a);
  for (std::int32_t t = 0; t < a.n_tasks; ++t) {
    const std::size_t ts = static_cast<std::size_t>(t);
    std::int32_t g;
    if (detail::gold_of(opt, t, &g)) r.labels[ts] = g;
    else if (!seen[ts]) { r.labels[ts] = -1; r.probas[ts * 2] = r.probas[ts * 2 + 1] = 0.5; continue; }
    else r.labels[ts] = by_task[ts] < 0 ? 1 - positive : positive;
    r.probas[ts * 2 + static_cast<std::size_t>(r.labels[ts])] = 1.0;
  }
  r.n_iter = it;
  r.converged = true;
  return r;
}

}  // namespace tagger::consensus
