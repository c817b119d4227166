// crowd-kit 1.4's Dawid-Skene, one-coin Dawid-Skene and KOS, step for step
// (see tagger/consensus_crowdkit.h for the rules reproduced). The ledger's
// engines (dawid_skene.cc, one_coin_dawid_skene.cc) are untouched by this file.
#include <algorithm>
#include <array>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "consensus/common.h"
#include "consensus/fast_math.h"
#include "tagger/consensus_crowdkit.h"
#include "tagger/consensus_shard.h"
#include "tagger/errors.h"
#include "tagger/huge_array.h"
#include "util/parallel.h"

namespace tagger::consensus {
namespace {

constexpr double kEps = 1e-10;  // crowd-kit's _EPS
constexpr std::size_t kTaskChunk = 8192;  // tasks per E-step chunk and per ELBO block

// Binary exponent of a positive normal double, 2^e exactly, and x / 2^exponent_of(x) in [1, 2).
inline int exponent_of(double x) { return static_cast<int>((std::bit_cast<std::uint64_t>(x) >> 52) & 0x7ff) - 1023; }
inline double pow2(int e) { return std::bit_cast<double>(static_cast<std::uint64_t>(e + 1023) << 52); }
inline double mantissa_of(double x) {
  return std::bit_cast<double>((std::bit_cast<std::uint64_t>(x) & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL);
}
constexpr double kLn2 = 0.69314718055994530942;
constexpr std::int64_t kRescaleEvery = 8;  // factors >= ~1e-20 each: 8 of them stay far above DBL_MIN
constexpr int kLogGroup = 16;               // tasks whose likelihood mantissas share one log
constexpr std::size_t kPrefetchAhead = 16;  // answers ahead whose posterior row the M-step prefetches

// N values (K or K * K): a fixed array when N is known at compile time (N > 0),
// else on the heap.
template <int KC>
struct Vals {
  std::array<double, KC> a;
  explicit Vals(int) {}
  double& operator[](int i) { return a[static_cast<std::size_t>(i)]; }
};
template <>
struct Vals<0> {
  std::vector<double> a;
  explicit Vals(int k) : a(static_cast<std::size_t>(k)) {}
  double& operator[](int i) { return a[static_cast<std::size_t>(i)]; }
};

// The ELBO's ln e only (the E-step multiplies e itself): a few ulp are far below any tol.
using detail::fast_log;
using detail::log_cells;

// ln x for a positive normal x within 5e-7 (exponent, then a least-squares
// fit m P(m) of ln(1 + m), m in [0, 1), P of degree 6): for the entropy of posteriors clipped at 1e-10,
// where p ln p itself is below 2.3e-9.
inline double rough_log(double x) {
  const double m = mantissa_of(x) - 1.0;
  const double lnm = m * (0.9999752 + m * (-0.49938371 + m * (0.32778508 + m * (-0.22478526 + m * (0.13329906 + m * (-0.05431442 + m * 0.0105717))))));
  return lnm + static_cast<double>(exponent_of(x)) * kLn2;
}

// e = max(v, eps) / sum over the worker's rows in `rows` of max(v, eps), per
// true label. KC = K known at compile time, or 0.
template <int KC = 0>
void normalize_worker(const double* v, const std::uint8_t* rows, std::int32_t k_run, double* e) {
  const int K = KC > 0 ? KC : k_run, KK = K * K;
  Vals<KC> s(K);
  Vals<KC * KC> den(KK), keep(KK);
  for (int k = 0; k < K; ++k) s[k] = 0.0;
  for (int l = 0; l < K; ++l) {
    const double use = rows[l] ? 1.0 : 0.0;  // a product, not a branch: the loop vectorizes
    for (int k = 0; k < K; ++k) s[k] += use * std::max(v[l * K + k], kEps);
  }
  // The divisions over the flat table, so that they run in vector lanes (a
  // row of K values alone fills them badly).
  for (int l = 0; l < K; ++l)
    for (int k = 0; k < K; ++k) {
      den[l * K + k] = s[k];
      keep[l * K + k] = rows[l] ? 0.0 : std::numeric_limits<double>::quiet_NaN();
    }
  int i = 0;
  if constexpr (KC > 0) {
    // Four lanes spelled out: e may alias nothing here, but the compiler cannot
    // know it and emitted one scalar division per cell (most of the M-step).
    // Division, max and + round per lane as in the scalar loop: the same bits.
    typedef double V4 __attribute__((vector_size(32)));
    constexpr V4 eps = {kEps, kEps, kEps, kEps};
    for (; i + 4 <= KK; i += 4) {
      V4 x, d, q;
      std::memcpy(&x, v + i, sizeof x);
      std::memcpy(&d, &den[i], sizeof d);
      std::memcpy(&q, &keep[i], sizeof q);
      const V4 r = (x < eps ? eps : x) / d + q;  // std::max(x, eps): x unless x < eps
      std::memcpy(e + i, &r, sizeof r);
    }
  }
  for (; i < KK; ++i) e[i] = std::max(v[i], kEps) / den[i] + keep[i];
}
// Runs fn.template operator()<KC>() with KC = K for K <= 8 (the loops over
// classes unroll into registers), else KC = 0 (K at run time).
template <class Fn>
decltype(auto) dispatch_k(std::int32_t K, Fn&& fn) {
  switch (K) {
    case 2: return fn.template operator()<2>();
    case 3: return fn.template operator()<3>();
    case 4: return fn.template operator()<4>();
    case 5: return fn.template operator()<5>();
    case 6: return fn.template operator()<6>();
    case 7: return fn.template operator()<7>();
    case 8: return fn.template operator()<8>();
    default: return fn.template operator()<0>();
  }
}

void normalize(std::size_t W, std::int32_t K, const double* v, const std::uint8_t* rows, double* err) {
  const std::size_t KK = static_cast<std::size_t>(K) * K;
  dispatch_k(K, [&]<int KC>() {
    for (std::size_t w = 0; w < W; ++w) normalize_worker<KC>(v + w * KK, rows + w * K, K, err + w * KK);
  });
}

// What one block of tasks of an E-step adds to the iteration's sums. Blocks
// are fixed (kTaskChunk tasks) and summed in order: the same bits on any
// number of threads.
struct BlockSums {
  double ll = 0;     // sum over non-gold tasks of ln z_t (z_t = sum_k prior_k prod_j e)
  double jgold = 0;  // sum over gold tasks of ln prior_g + sum_j ln e[row_j][g] (old parameters)
  double hclip = 0;  // entropy added by clipping posteriors below 1e-10 (non-gold tasks)
  std::vector<double> q, n;  // [K] sum_t p_tk and sum_t n_t p_tk (every task with answers)
};

// State shared by the two DS variants: answers task-major for the E-step and
// worker-major for the M-step, each answer's (worker, label) row, and which
// rows the model has.
//
// Speed without changing crowd-kit's arithmetic beyond rounding:
//  * The E-step multiplies confusion values (probability space, rescaled by a
//    power of two every kRescaleEvery answers) instead of summing logs and
//    exponentiating: no exp per task and class.
//  * The ELBO needs no log per task and class. With q the E-step's posterior
//    under the old parameters, H(q) = sum_t ln z_t - J_old, where J_old =
//    sum_{row,k} count * ln e_old + sum_k Q_k ln prior_old (Q_k = sum_t q_tk):
//    ln z comes from mantissas (one log per kLogGroup tasks), the counts are
//    the M-step's, and ln e is one log per table cell, kept from the previous
//    M-step. Gold tasks (one-hot q) and cells clipped at 1e-10 are added exactly.
//  * The M-step gathers each worker's counts from the posteriors in worker
//    order, one worker per thread at a time, so no two threads write one row
//    and the sums run in task order whatever the thread count.
struct Em {
  const AnswersView& a;
  const Options& opt;
  detail::Csr c;
  std::int32_t K;
  std::vector<std::int32_t> row;     // [n] task-major: worker * K + label
  std::vector<std::uint8_t> present; // [W * K] rows the error table holds
  std::vector<double> err;           // [W * K (observed) * K (true)] P(observed | true)
  std::vector<double> lnerr;         // [W * K * K] ln err on the rows present, from the last M-step
  std::vector<double> priors;        // [K]
  std::vector<double> probas;        // [T * K]
  std::vector<std::int64_t> w_offset;  // [W + 1] answers of the workers before w
  std::vector<double> cnt;            // [W * K * K] the M-step's expected counts
  std::int64_t tasks_with_answers = 0, gold_tasks = 0;

  Em(const AnswersView& a_, const Options& o) : a(a_), opt(o), c(detail::build_csr(a_, false)), K(a_.n_labels) {
    const std::size_t W = static_cast<std::size_t>(a.n_workers);
    // The row index (worker * K + label) is int32, read per answer in the E-step; beyond int32 it
    // wrapped negative and the constructor wrote out of bounds (a segfault at 100k workers x
    // 22,000 labels). Tables of workers x labels^2 cells that large cannot be held anyway.
    constexpr std::size_t kMaxIndex = static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max());
    if (W * static_cast<std::size_t>(K) > kMaxIndex || static_cast<std::size_t>(K) * static_cast<std::size_t>(K) > kMaxIndex)
      throw InvalidArgument("consensus: " + std::to_string(W) + " workers x " + std::to_string(K) + " labels is beyond "
                            "this engine's error tables (workers x labels^2 cells, and workers x labels < 2^31); "
                            "MajorityVote, Wawa or GLAD(variant='tagger') scale with the answers");
    row.assign(c.n + kPrefetchAhead, 0);  // padded: the E-step reads ahead
    present.assign(W * K, 0);
    w_offset.assign(W + 1, 0);
    for (std::size_t j = 0; j < c.n; ++j) {
      row[j] = c.worker[j] * K + c.label[j];
      present[static_cast<std::size_t>(row[j])] = 1;
      ++w_offset[static_cast<std::size_t>(c.worker[j]) + 1];
    }
    for (std::size_t w = 0; w < W; ++w) w_offset[w + 1] += w_offset[w];
    cnt.assign(W * K * K, 0.0);
    err.assign(W * K * K, 0.0);
    lnerr.assign(W * K * K, std::numeric_limits<double>::quiet_NaN());
    priors.assign(K, 0.0);
    probas.assign(static_cast<std::size_t>(a.n_tasks) * K, 0.0);
    for (std::int32_t t = 0; t < a.n_tasks; ++t) {
      std::int32_t g;
      tasks_with_answers += c.count(t) > 0;
      gold_tasks += c.count(t) > 0 && detail::gold_of(opt, t, &g);
    }
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
    std::vector<double> q(K, 0.0);
    for (std::int32_t t = 0; t < a.n_tasks; ++t)
      if (c.count(t) > 0)
        for (std::int32_t k = 0; k < K; ++k) q[k] += probas[static_cast<std::size_t>(t) * K + k];
    set_priors(q);
  }
  void set_priors(const std::vector<double>& q) {
    for (std::int32_t k = 0; k < K; ++k) priors[k] = tasks_with_answers ? q[k] / static_cast<double>(tasks_with_answers) : 1.0 / K;
  }

  // Expected counts per (worker, observed, true), for the first M-step only.
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

  // ln err where the model has the row (the E-step and ELBO read no other).
  void refresh_logs() {
    for (std::size_t r = 0; r < present.size(); ++r)
      for (std::int32_t k = 0; k < K; ++k) lnerr[r * K + k] = present[r] ? fast_log(err[r * K + k]) : std::numeric_limits<double>::quiet_NaN();
  }

  template <class Fn>
  decltype(auto) dispatch(Fn&& fn) const {
    return dispatch_k(K, fn);
  }

  // E-step with the current priors and error table: posteriors of every task
  // with answers (gold rows one-hot), and the sums the ELBO and priors need.
  BlockSums e_step() {
    const std::size_t T = static_cast<std::size_t>(a.n_tasks), blocks = (T + kTaskChunk - 1) / kTaskChunk;
    std::vector<double> pr(K), lnpr(K);
    for (std::int32_t k = 0; k < K; ++k) { pr[k] = std::max(priors[k], kEps); lnpr[k] = std::log(pr[k]); }
    std::vector<BlockSums> part(blocks);
    util::parallel_for(blocks, opt.threads, 1, [&](std::size_t b, std::size_t e) {
      for (std::size_t k = b; k < e; ++k)
        part[k] = dispatch([&]<int KC>() {
          return e_step_range<KC>(pr, lnpr, static_cast<std::int32_t>(k * kTaskChunk),
                                  static_cast<std::int32_t>(std::min(T, (k + 1) * kTaskChunk)));
        });
    });
    BlockSums total;
    total.q.assign(K, 0.0);
    total.n.assign(K, 0.0);
    for (const BlockSums& s : part) {
      total.ll += s.ll;
      total.jgold += s.jgold;
      total.hclip += s.hclip;
      for (std::int32_t k = 0; k < K; ++k) { total.q[k] += s.q[k]; total.n[k] += s.n[k]; }
    }
    return total;
  }

  template <int KC>
  BlockSums e_step_range(const std::vector<double>& prv, const std::vector<double>& lnpr, std::int32_t t0, std::int32_t t1) {
    const int K = KC > 0 ? KC : this->K;
    BlockSums s;
    s.q.assign(K, 0.0);
    s.n.assign(K, 0.0);
    const double clip_term = -kEps * std::log(kEps);
    Vals<KC> v(K), pr(K), q(K), nq(K);
    for (int k = 0; k < K; ++k) { pr[k] = prv[k]; q[k] = 0; nq[k] = 0; }
    double mant = 1;
    std::int64_t expo = 0;
    int in_group = 0;
    const double* e_tab = err.data();
    for (std::int32_t t = t0; t < t1; ++t) {
      const std::int64_t j0 = c.begin(t), j1 = c.end(t);
      if (j0 == j1) continue;
      double* p = &probas[static_cast<std::size_t>(t) * K];
      const double nt = static_cast<double>(j1 - j0);
      std::int32_t g;
      if (detail::gold_of(opt, t, &g)) {
        detail::one_hot(p, K, g);
        double jg = lnpr[g];
        for (std::int64_t j = j0; j < j1; ++j) jg += lnerr[static_cast<std::size_t>(row[j]) * K + g];
        s.jgold += jg;
        q[g] += 1.0;
        nq[g] += nt;
        continue;
      }
      for (int k = 0; k < K; ++k) v[k] = pr[k];
      int scale = 0;
      for (std::int64_t q0 = j0; q0 < j1; q0 += kRescaleEvery) {
        const std::int64_t q1 = std::min(j1, q0 + kRescaleEvery);
        for (std::int64_t j = q0; j < q1; ++j) {
          const double* ahead = e_tab + static_cast<std::size_t>(row[static_cast<std::size_t>(j) + kPrefetchAhead]) * K;
          __builtin_prefetch(ahead);
          __builtin_prefetch(ahead + K - 1);
          const double* r = e_tab + static_cast<std::size_t>(row[j]) * K;
          for (int k = 0; k < K; ++k) v[k] *= r[k];
        }
        if (q1 < j1) {  // long task: renormalize by a power of two (exact)
          double m = v[0];
          for (int k = 1; k < K; ++k) m = std::max(m, v[k]);
          const int x = exponent_of(m);
          const double f = pow2(-x);
          for (int k = 0; k < K; ++k) v[k] *= f;
          scale += x;
        }
      }
      double z = 0;
      for (int k = 0; k < K; ++k) z += v[k];
      mant *= mantissa_of(z);
      expo += exponent_of(z) + scale;
      if (++in_group == kLogGroup) {
        s.ll += std::log(mant) + static_cast<double>(expo) * kLn2;
        mant = 1;
        expo = 0;
        in_group = 0;
      }
      bool clipped = false;
      const double inv = 1.0 / z;
      for (int k = 0; k < K; ++k) {
        const double pk = v[k] * inv;
        p[k] = pk;
        q[k] += pk;
        nq[k] += nt * pk;
        clipped |= pk < kEps;
      }
      if (clipped)  // rare but for near-certain tasks: crowd-kit's entropy has max(p, eps) there
        for (int k = 0; k < K; ++k) {
          // For p < 1e-10, -p ln p is below 2.3e-9, so rough_log's 5e-7 is plenty
          // (for a subnormal or zero p, p * rough_log(p) is 0 or below 1e-305).
          const double fix = clip_term + p[k] * rough_log(p[k]);
          s.hclip += p[k] < kEps ? fix : 0.0;
        }
    }
    s.ll += std::log(mant) + static_cast<double>(expo) * kLn2;
    for (int k = 0; k < K; ++k) { s.q[k] = q[k]; s.n[k] = nq[k]; }
    return s;
  }

  // M-step: expected counts per (worker, observed, true), then fill(w, counts,
  // rows out) sets each worker's error rows; with the ELBO sums
  // sum count * ln e before (old) and after (new) the step. Each thread owns
  // the workers of one range (about equal answers) and scans every task in
  // order, adding only its own workers' answers: the posteriors are read in
  // sequence, no two threads write one row, and each count is summed in task
  // order whatever the number of threads.
  struct MSums { double j_old = 0, j_new = 0; };
  template <class Fill>
  MSums m_step(Fill&& fill) {
    const std::size_t W = static_cast<std::size_t>(a.n_workers);
    const std::size_t parts = std::max<std::size_t>(1, std::min<std::size_t>(util::resolve_threads(opt.threads), W));
    std::vector<std::size_t> bounds{0};
    for (std::size_t w = 0; w < W && bounds.size() < parts; ++w)
      if (static_cast<double>(w_offset[w + 1]) >= static_cast<double>(c.n) * static_cast<double>(bounds.size()) / static_cast<double>(parts))
        bounds.push_back(w + 1);
    if (bounds.back() != W) bounds.push_back(W);
    std::vector<double> j_old(W, 0.0), j_new(W, 0.0);
    util::parallel_for(bounds.size() - 1, static_cast<unsigned>(bounds.size() - 1), 1, [&](std::size_t b, std::size_t e) {
      for (std::size_t part = b; part < e; ++part)
        dispatch([&]<int KC>() { m_step_workers<KC>(bounds[part], bounds[part + 1], fill, j_old.data(), j_new.data()); });
    });
    MSums s;
    for (std::size_t w = 0; w < W; ++w) { s.j_old += j_old[w]; s.j_new += j_new[w]; }
    return s;
  }

  template <int KC, class Fill>
  void m_step_workers(std::size_t w0, std::size_t w1, Fill& fill, double* j_old, double* j_new) {
    const int K = KC > 0 ? KC : this->K;
    const std::size_t KK = static_cast<std::size_t>(K) * K;
    std::fill(cnt.begin() + static_cast<std::ptrdiff_t>(w0 * KK), cnt.begin() + static_cast<std::ptrdiff_t>(w1 * KK), 0.0);
    const bool all = w0 == 0 && w1 == static_cast<std::size_t>(a.n_workers);
    const std::int32_t lo = static_cast<std::int32_t>(w0), hi = static_cast<std::int32_t>(w1);
    double* tab = cnt.data();
    Vals<KC> pv(K);
    for (std::int32_t t = 0; t < a.n_tasks; ++t) {
      const std::int64_t j0 = c.begin(t), j1 = c.end(t);
      if (j0 == j1) continue;
      const double* p = &probas[static_cast<std::size_t>(t) * K];
      for (int k = 0; k < K; ++k) pv[k] = p[k];
      for (std::int64_t j = j0; j < j1; ++j) {
        const double* ahead = tab + static_cast<std::size_t>(row[static_cast<std::size_t>(j) + kPrefetchAhead]) * K;
        __builtin_prefetch(ahead, 1);
        __builtin_prefetch(ahead + K - 1, 1);
        if (!all && (c.worker[j] < lo || c.worker[j] >= hi)) continue;
        double* r = tab + static_cast<std::size_t>(row[j]) * K;
        for (int k = 0; k < K; ++k) r[k] += pv[k];
      }
    }
    std::vector<double> lnv(KK);
    for (std::size_t w = w0; w < w1; ++w) {
      const double* loc = &cnt[w * KK];
      const std::uint8_t* rows = &present[w * K];
      double* ln = &lnerr[w * KK];
      double* e = &err[w * KK];
      double jo = 0, jn = 0;
      for (int l = 0; l < K; ++l)
        if (rows[l]) for (int k = 0; k < K; ++k) jo += loc[l * K + k] * ln[l * K + k];
      fill.template operator()<KC>(w, loc, e);
      for (std::size_t i = 0; i < KK; ++i) lnv[i] = fast_log(e[i] > 0 ? e[i] : 1.0);  // NaN rows: not read
      for (int l = 0; l < K; ++l)
        for (int k = 0; k < K; ++k) {
          const std::size_t i = static_cast<std::size_t>(l) * K + k;
          ln[i] = rows[l] ? lnv[i] : std::numeric_limits<double>::quiet_NaN();
          if (rows[l]) jn += loc[i] * lnv[i];
        }
      j_old[w] = jo;
      j_new[w] = jn;
    }
  }

  // first_m_step(counts, rows, err) seeds the table from the majority-vote
  // shares' counts; fill() is the variant's M-step for one worker.
  template <class First, class Fill>
  Result run(First&& first_m_step, Fill&& fill) {
    Result r = detail::make_result(a);
    majority_shares();
    clamp_gold();
    mean_priors();
    {
      std::vector<double> start = counts();
      first_m_step(start.data(), present, err.data());
    }
    refresh_logs();
    const double clip_gold = static_cast<double>(gold_tasks) * (K - 1) * (-kEps * std::log(kEps));
    double loss = -std::numeric_limits<double>::infinity();
    bool converged = false;
    std::int32_t it = 0;
    while (it < opt.n_iter) {
      std::vector<double> lnpr_old(K);
      for (std::int32_t k = 0; k < K; ++k) lnpr_old[k] = std::log(std::max(priors[k], kEps));
      const BlockSums es = e_step();
      set_priors(es.q);
      const MSums ms = m_step(fill);
      double prior_old = 0, prior_new = 0;
      for (std::int32_t k = 0; k < K; ++k) {
        prior_old += lnpr_old[k] * es.q[k];
        prior_new += std::log(std::max(priors[k], kEps)) * es.n[k];
      }
      // H(q) = sum ln z - J_old over the non-gold tasks, plus the clipped cells.
      const double entropy = es.ll - (ms.j_old + prior_old - es.jgold) + es.hclip + clip_gold;
      const double next = (ms.j_new + prior_new + entropy) / static_cast<double>(a.n);
      ++it;
      r.objective_history.push_back(next);
      const double change = next - loss;
      if (!detail::report(opt, it, next, std::isfinite(change) ? std::abs(change) : 0.0)) break;
      if (change < opt.tol) { converged = true; break; }
      loss = next;
    }
    if (it > 0)  // crowd-kit's ELBO clips the posteriors in place
      for (std::int32_t t = 0; t < a.n_tasks; ++t)
        if (c.count(t) > 0)
          for (std::int32_t k = 0; k < K; ++k) probas[static_cast<std::size_t>(t) * K + k] = std::max(probas[static_cast<std::size_t>(t) * K + k], kEps);
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

// Everything but the answers' index ranges, which cost a pass over the
// answers each: the engine's layout checks them as it builds (run_em), Em's
// path and the callers that index by them first call validate.
void check(const AnswersView& a, const Options& opt) {
  Options checked = opt;
  checked.tol = 0.0;  // crowd-kit takes any tol (a negative one runs all n_iter iterations)
  detail::check_options_except_indices(a, checked);
  if (!opt.class_priors.empty())
    throw InvalidArgument("consensus: crowd-kit's Dawid-Skene estimates the class priors; class_priors are not taken");
}

// sum_i a[i] b[i] in four interleaved partial sums, added as (s0 + s1) +
// (s2 + s3): a fixed order, so the same bits however it is compiled, with four
// independent chains of additions instead of one.
inline double dot4(const double* a, const double* b, std::size_t n) {
  double s[4] = {0, 0, 0, 0};
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (std::size_t j = 0; j < 4; ++j) s[j] += a[i + j] * b[i + j];
  // At most 3 left (the loop above took every full group of 4); j < 4 says so to the compiler,
  // which otherwise warns of an out-of-bounds 5th iteration once n is a known constant.
  for (std::size_t j = 0; i < n && j < 4; ++i, ++j) s[j] += a[i] * b[i];
  return (s[0] + s[1]) + (s[2] + s[3]);
}

// The M-step of workers [w0, w1) from the engine's fixed-point counts, with
// each worker's share of the ELBO: sum count * ln e before (j_old) and after
// (j_new), and its counts per true class (n_of). The counts are converted
// once per kSub workers into a buffer that stays in cache for the three uses.
template <int KC, class Fill>
void engine_m_step(std::int32_t k_run, std::size_t w0, std::size_t w1, const std::int64_t* fixed,
                   double* err, double* lnerr, double* n_of, double* j_old, double* j_new, Fill& fill) {
  constexpr std::size_t kSub = 64;
  const int K = KC > 0 ? KC : k_run;
  const std::size_t KK = static_cast<std::size_t>(K) * K;
  std::conditional_t<(KC > 0), std::array<double, kSub * KC * KC>, std::vector<double>> buf{};
  if constexpr (KC == 0) buf.resize(kSub * KK);
  double* loc = buf.data();
  for (std::size_t s0 = w0; s0 < w1; s0 += kSub) {
    const std::size_t s1 = std::min(w1, s0 + kSub), cells = (s1 - s0) * KK;
    for (std::size_t i = 0; i < cells; ++i) loc[i] = detail::from_fix(fixed[s0 * KK + i]);
    for (std::size_t w = s0; w < s1; ++w) {
      // Rows the worker never gave have zero counts and ln e = 0 here, so the
      // sums need no test of `rows`.
      const double* c = loc + (w - s0) * KK;
      j_old[w] = dot4(c, lnerr + w * KK, KK);
      double* nw = n_of + w * K;
      for (int k = 0; k < K; ++k) nw[k] = 0;
      for (int l = 0; l < K; ++l)
        for (int k = 0; k < K; ++k) nw[k] += c[l * K + k];
      fill.template operator()<KC>(w, c, err + w * KK);
    }
    // The logs of the whole sub-block in one vector loop (a worker's table
    // alone is too short to fill the lanes).
    log_cells(err + s0 * KK, lnerr + s0 * KK, cells);
    for (std::size_t w = s0; w < s1; ++w) j_new[w] = dot4(loc + (w - s0) * KK, lnerr + w * KK, KK);
  }
}

// The same EM on the ledger engine's fused pass (DawidSkeneShard: the E-step
// and the expected counts in one pass over the answers, vector kernels, a
// persistent thread team), with crowd-kit's M-step and ELBO here. It differs
// from Em only by rounding: the counts are summed in 64-bit fixed point
// (2^-30 per answer and class, so any thread count gives the same bits), and
// the ELBO leaves out crowd-kit's clip of the entropy at posteriors below
// 1e-10 (at most (K - 1) * 2.3e-9 per answer; the engine does not see the
// posteriors of a pass). Gold tasks need the exact terms: Em runs those fits.
template <class First, class Fill>
Result run_on_engine(const AnswersView& a, const Options& opt, First&& first_m_step, Fill&& fill) {
  const std::size_t W = static_cast<std::size_t>(a.n_workers), K = static_cast<std::size_t>(a.n_labels), KK = K * K;
  const std::int32_t k32 = a.n_labels;
  DawidSkeneShard shard(a, {}, opt.threads);
  ShardStats st = shard.start();  // counts of the majority-vote shares
  // The per-fit tables of workers x labels^2 cells: from the kept mappings (tagger/huge_array.h).
  util::HugeArray<double> cnt(W * KK, util::HugeArray<double>::kUninit), lnerr(W * KK, util::HugeArray<double>::kUninit);
  std::vector<double> err(W * KK, std::numeric_limits<double>::quiet_NaN());
  std::vector<std::uint8_t> present(W * K, 0);
  for (std::size_t r = 0; r < W * K; ++r)
    for (std::size_t k = 0; k < K; ++k) {
      cnt[r * K + k] = detail::from_fix(st.counts[r * K + k]);
      present[r] |= st.counts[r * K + k] > 0;  // each answer adds shares summing to 1
    }
  std::int64_t answered = 0;  // tasks with answers: their shares sum to 1 each
  for (std::int64_t v : st.prior) answered += v;
  const double tasks_with_answers = std::round(detail::from_fix(answered));
  std::vector<double> priors(K);
  auto set_priors = [&](const std::vector<std::int64_t>& q) {
    for (std::size_t k = 0; k < K; ++k) priors[k] = detail::from_fix(q[k]) / tasks_with_answers;
  };
  set_priors(st.prior);
  first_m_step(cnt.data(), present, err.data());
  log_cells(err.data(), lnerr.data(), W * KK);

  Result r = detail::make_result(a);
  DsParams p;  // the parameters handed to the next E-step
  p.prior.resize(K);
  p.e.resize(W * KK);
  std::vector<double> j_old(W), j_new(W), n_of(W * K);
  double loss = -std::numeric_limits<double>::infinity();
  std::int32_t it = 0;
  bool have_posteriors = false;  // written by the last E-step
  r.converged = false;
  shard.set_posterior_floor(kEps);  // crowd-kit's ELBO clips the posteriors in place
  while (it < opt.n_iter) {
    std::vector<double> lnpr_old(K);
    for (std::size_t k = 0; k < K; ++k) {
      p.prior[k] = std::max(priors[k], kEps);
      lnpr_old[k] = std::log(p.prior[k]);
    }
    // The new parameters go to the shard by swapping buffers; p.e comes back
    // as the shard's old table, which the M-step overwrites entirely. The
    // M-step runs per worker on the shard's team as each chunk of counts is
    // summed; the ELBO's sums per worker are added below in worker order.
    // The last iteration's E-step writes the posteriors (no extra pass).
    p.e.swap(err);
    const bool last = it + 1 == opt.n_iter;
    shard.e_step_swap(
        p, st,
        [&](std::size_t w0, std::size_t w1) {
          dispatch_k(k32, [&]<int KC>() {
            engine_m_step<KC>(k32, w0, w1, st.counts.data(), p.e.data(), lnerr.data(), n_of.data(), j_old.data(),
                              j_new.data(), fill);
          });
        },
        last ? r.probas.data() : nullptr, last ? r.labels.data() : nullptr);
    have_posteriors = last;
    err.swap(p.e);
    double ll = 0;
    for (double v : st.block_ll) ll += v;
    set_priors(st.prior);
    double jo = 0, jn = 0, prior_old = 0, prior_new = 0;
    std::vector<double> nk(K, 0.0);
    for (std::size_t w = 0; w < W; ++w) {
      jo += j_old[w];
      jn += j_new[w];
      for (std::size_t k = 0; k < K; ++k) nk[k] += n_of[w * K + k];
    }
    for (std::size_t k = 0; k < K; ++k) {
      prior_old += lnpr_old[k] * detail::from_fix(st.prior[k]);
      prior_new += std::log(std::max(priors[k], kEps)) * nk[k];
    }
    const double entropy = ll - (jo + prior_old);  // H(q) = sum ln z - J_old
    const double next = (jn + prior_new + entropy) / static_cast<double>(a.n);
    ++it;
    r.objective_history.push_back(next);
    const double change = next - loss;
    if (!detail::report(opt, it, next, std::isfinite(change) ? std::abs(change) : 0.0)) break;
    if (change < opt.tol) { r.converged = true; break; }
    loss = next;
  }
  // The posteriors of the last E-step, clipped as they were written (the
  // majority-vote shares, unclipped, before any).
  if (it == 0) {
    shard.set_posterior_floor(0.0);
    shard.posteriors(nullptr, r.probas.data(), r.labels.data());
  } else if (!have_posteriors) {
    shard.posteriors_current(r.probas.data(), r.labels.data());
  }
  for (auto& v : priors) v = std::max(v, kEps);
  // The engine labels tasks without answers -1; they get the priors.
  for (std::int32_t t = 0; t < a.n_tasks; ++t)
    if (r.labels[static_cast<std::size_t>(t)] < 0)
      std::copy(priors.begin(), priors.end(), r.probas.begin() + static_cast<std::ptrdiff_t>(t) * k32);
  r.n_iter = it;
  r.priors = priors;
  r.errors.assign(W * KK, 0.0);
  for (std::size_t w = 0; w < W; ++w)
    for (std::size_t l = 0; l < K; ++l)
      for (std::size_t k = 0; k < K; ++k) r.errors[(w * K + k) * K + l] = err[(w * K + l) * K + k];
  return r;
}

// Below this many answers the fit runs on Em, crowd-kit's arithmetic exactly:
// there the engine's fixed-point counts (2^-30 per answer and class, coarser
// than crowd-kit's 1e-10 clip) can grow over EM's iterations into other
// labels (workers with a handful of answers, tables near the clip), and Em
// costs milliseconds anyway (100k answers, 20 iterations: ~0.1 s).
constexpr std::size_t kEngineMinAnswers = 200'000;

// Runs the fit on the engine where it applies (many answers, no gold), else on Em.
// `validated`: the caller has range-checked the answers already.
template <class First, class Fill>
Result run_em(const AnswersView& a, const Options& opt, First&& first_m_step, Fill&& fill, bool validated = false) {
  if (a.n >= kEngineMinAnswers && opt.gold.empty()) return run_on_engine(a, opt, first_m_step, fill);
  if (!validated) validate(a);
  Em em(a, opt);
  return em.run([&](double* cnt, const std::vector<std::uint8_t>& rows, double* err) {
    first_m_step(cnt, rows, err);
  }, fill);
}

// Answers per worker and which (worker, label) rows occur.
struct Rows {
  std::vector<std::int64_t> per_worker;  // [W]
  std::vector<std::uint8_t> present;     // [W * K]
};
Rows rows_of(const AnswersView& a) {
  Rows r;
  r.per_worker.assign(static_cast<std::size_t>(a.n_workers), 0);
  r.present.assign(static_cast<std::size_t>(a.n_workers) * static_cast<std::size_t>(a.n_labels), 0);
  for (std::size_t j = 0; j < a.n; ++j) {
    ++r.per_worker[static_cast<std::size_t>(a.worker[j])];
    r.present[static_cast<std::size_t>(a.worker[j]) * static_cast<std::size_t>(a.n_labels) + static_cast<std::size_t>(a.label[j])] = 1;
  }
  return r;
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
  const std::int32_t k32 = a.n_labels;
  std::vector<std::uint8_t> used;  // the rows the model has: set by the start
  auto first = [&](double* cnt, const std::vector<std::uint8_t>& present, double* err) {
    used = present;
    if (init.strategy == InitialError::kNone) return normalize(W, k32, cnt, present.data(), err);
    // init.values are [w][true][observed]; the table is [w][observed][true].
    auto given = [&](std::size_t w, std::size_t l, std::size_t k) { return init.values[(w * K + k) * K + l]; };
    std::vector<std::uint8_t> rows(W * K, 0);
    for (std::size_t w = 0; w < W; ++w)
      for (std::size_t l = 0; l < K; ++l) {
        const std::size_t r = w * K + l;
        const bool g = init.given[r] != 0;
        if (init.strategy == InitialError::kAssign) {
          if (present[r] && !g)
            throw InvalidArgument("consensus: initial_error (assign) has no row for worker index " + std::to_string(w) +
                                  ", label index " + std::to_string(l));
          rows[r] = g;
          for (std::size_t k = 0; k < K; ++k) cnt[r * K + k] = g ? given(w, l, k) : 0.0;
        } else {
          rows[r] = g || present[r];
          if (g) for (std::size_t k = 0; k < K; ++k) cnt[r * K + k] += given(w, l, k);
        }
      }
    normalize(W, k32, cnt, rows.data(), err);
  };
  return run_em(a, opt, first, [&]<int KC>(std::size_t w, const double* counts, double* e) {
    normalize_worker<KC>(counts, &used[w * K], k32, e);
  });
}

Result one_coin_dawid_skene_crowdkit(const AnswersView& a, const Options& opt) {
  check(a, opt);
  validate(a);  // rows_of indexes by worker and label
  const Rows rows = rows_of(a);
  const std::int32_t K = a.n_labels;
  std::vector<double> skills(static_cast<std::size_t>(a.n_workers), std::numeric_limits<double>::quiet_NaN());
  // s_w = mean posterior of the worker's own labels = the diagonal of its counts over its answers.
  auto fill = [&]<int KC = 0>(std::size_t w, const double* counts, double* e) {
    const std::int64_t n = rows.per_worker[w];
    double sum = 0;
    for (std::int32_t l = 0; l < K; ++l) sum += counts[l * K + l];
    skills[w] = n > 0 ? sum / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
    for (std::int32_t l = 0; l < K; ++l)
      for (std::int32_t k = 0; k < K; ++k) {
        const double v = k == l ? skills[w] : (1.0 - skills[w]) / (K - 1);
        e[l * K + k] = rows.present[w * K + l] ? std::clamp(v, kEps, 1.0 - kEps) : std::numeric_limits<double>::quiet_NaN();
      }
  };
  const std::size_t KK = static_cast<std::size_t>(K) * K;
  Result r = run_em(a, opt, [&](double* cnt, const std::vector<std::uint8_t>&, double* err) {
    for (std::size_t w = 0; w < static_cast<std::size_t>(a.n_workers); ++w) fill.template operator()<0>(w, &cnt[w * KK], &err[w * KK]);
  }, fill, /*validated=*/true);
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
