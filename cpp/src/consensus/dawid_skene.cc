// Dawid & Skene (1979): per-worker confusion matrices by EM.
//
// Speed comes from doing no transcendental function per answer or per cell:
//  * The E-step works in probability space: a task's unnormalized posterior is
//    prior[k] * prod_j e[w_j][y_j][k], multiplied out answer by answer and
//    rescaled by an exact power of two every kRescaleEvery answers so it can
//    neither underflow nor lose precision. Mathematically this is the usual
//    log-space exp(log prior + sum log e); it needs no exp per task-class and
//    the M-step no log per confusion cell (together 2/3 of the time before).
//  * Answers are re-coded task-major as code = worker * L + label. The table of
//    a (worker, label) row holds the K confusion values P(label | true k)
//    followed by the K expected counts of the row, so an answer reads its
//    confusion row and updates its count row in one contiguous stretch of
//    memory; the E-step of iteration i and the M-step counts for iteration i+1
//    are one fused pass. Rows of answers a few positions ahead are prefetched.
//  * Each thread (slot) owns a copy of the table and sums its counts in 64-bit
//    fixed point (common.h): integer addition is associative, so the totals -
//    and every result - do not depend on the thread count or the partition of
//    tasks among slots. The M-step adds the slots' counts, zeroes them for the
//    next pass and writes the new confusion values into every copy.
//  * The log-likelihood (the convergence criterion) takes one log per
//    kLogGroup tasks: log s_t = log(mantissa) + exponent * ln 2, and the
//    mantissas (each in [1, 2)) are multiplied over the group before one log.
//  * The posteriors reported are those of the last E-step, written during the
//    final pass (one extra E-step only when the run stops early).
#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "consensus/common.h"
#include "tagger/errors.h"

namespace tagger::consensus {
namespace {

using detail::Csr;

// Answers multiplied into a posterior between rescalings. A used confusion row
// has an entry >= 1 / (K * answers of the worker) and every entry >= 1e-10 /
// (answers + L), so 8 factors stay far above the smallest normal double.
constexpr std::int64_t kRescaleEvery = 8;
// Tasks whose log-likelihood mantissas share one log.
constexpr std::size_t kLogGroup = 32;
#ifndef PF
#define PF 16
#endif
// Answers ahead whose table row is prefetched (the rows are random accesses
// into a table of a few MiB; the codes are read sequentially).
constexpr std::int64_t kPrefetchAhead = PF;
// Blocks of kBlockTasks tasks claimed at a time by a thread of a pass.
constexpr std::size_t kClaim = 2;
constexpr double kLn2 = 0.693147180559945309417232121458176568;

// Row width (in 8-byte words) of one (worker, label) entry of a slot table:
// K confusion values (as double bits), then K fixed-point counts.
inline std::size_t row_words(std::size_t k) { return 2 * k; }

// Zero-initialized array of 64-bit words whose start is 64-byte aligned.
class Table {
 public:
  void assign(std::size_t n) {
    buf_.assign(n + 8, 0);
    const auto addr = reinterpret_cast<std::uintptr_t>(buf_.data());
    p_ = buf_.data() + ((64 - addr % 64) % 64) / 8;
  }
  std::int64_t* data() { return p_; }
  const std::int64_t* data() const { return p_; }

 private:
  std::vector<std::int64_t> buf_;
  std::int64_t* p_ = nullptr;
};

// What one thread (slot) of the fused pass owns.
struct Slot {
  Table tab;                        // [W * L * R]: e bits at r*R + k, counts at r*R + K + k, r = w*L + l
  std::vector<std::int64_t> prior;  // [K] fixed-point prior counts
};

struct Shared {
  const Csr* c = nullptr;
  const std::uint32_t* code = nullptr;
  const Options* opt = nullptr;
  std::size_t R = 0;          // words per table row
  std::vector<double> prior;  // [K] current class prior
  std::vector<Slot> slots;
};

// Binary exponent of a positive normal double (floor(log2 x)).
inline int exponent_of(double x) { return static_cast<int>((std::bit_cast<std::uint64_t>(x) >> 52) & 0x7ff) - 1023; }
// 2^e for e in [-1022, 1023], exactly.
inline double pow2(int e) { return std::bit_cast<double>(static_cast<std::uint64_t>(e + 1023) << 52); }
// x / 2^exponent_of(x), in [1, 2), exactly.
inline double mantissa_of(double x) {
  return std::bit_cast<double>((std::bit_cast<std::uint64_t>(x) & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL);
}

// Scratch of K values: on the stack for specialised K, else on the heap.
template <class T, int KC>
struct Scratch {
  std::array<T, KC> a{};
  explicit Scratch(int) {}
  T* data() { return a.data(); }
};
template <class T>
struct Scratch<T, 0> {
  std::vector<T> a;
  explicit Scratch(int k) : a(static_cast<std::size_t>(k)) {}
  T* data() { return a.data(); }
};

enum class Mode {
  kStart,       // posteriors = vote shares, counts accumulated (the EM start)
  kEm,          // E-step with the slot's confusion table; counts and log-likelihood
  kPosteriors,  // E-step writing probas only
};

// One pass over the tasks of blocks [b0, b1) in slot `slot`.
template <int KC, Mode M>
void pass_blocks(Shared& sh, std::size_t b0, std::size_t b1, std::size_t slot, double* probas, double* block_ll) {
  const Csr& c = *sh.c;
  const Options& opt = *sh.opt;
  const int K = KC > 0 ? KC : c.n_labels;
  const std::size_t R = sh.R;
  const std::uint32_t L = static_cast<std::uint32_t>(c.n_labels);
  const std::size_t T = static_cast<std::size_t>(c.n_tasks);
  const std::uint32_t* code = sh.code;
  const std::int64_t* offset = c.task_offset.data();
  const double* prior = sh.prior.data();
  std::int64_t* tab = sh.slots[slot].tab.data();
  Scratch<double, KC> vb(K);
  Scratch<std::int64_t, KC> fb(K), pb(K);
  std::int64_t* pcount = pb.data();  // local: the slots' prior vectors may share a cache line
  for (int k = 0; k < K; ++k) pcount[k] = 0;
  double* v = vb.data();
  std::int64_t* fix = fb.data();
  const std::int64_t p_stop = offset[std::min(T, b1 * detail::kBlockTasks)];
  for (std::size_t b = b0; b < b1; ++b) {
    double ll = 0, mant = 1;
    std::int64_t expo = 0;
    std::size_t in_group = 0;
    const std::size_t t_end = std::min(T, (b + 1) * detail::kBlockTasks);
    for (std::size_t t = b * detail::kBlockTasks; t < t_end; ++t) {
      const std::int64_t p0 = offset[t], p1 = offset[t + 1];
      std::int32_t g = -1;
      const bool is_gold = detail::gold_of(opt, static_cast<std::int32_t>(t), &g);
      if (p0 == p1) {  // no answers: the prior (or gold), no evidence, no counts
        if (probas) {
          double* row = probas + t * K;
          if (is_gold) detail::one_hot(row, K, g);
          else for (int k = 0; k < K; ++k) row[k] = M == Mode::kStart ? 1.0 / K : prior[k];
        }
        continue;
      }
      if constexpr (M == Mode::kStart) {
        for (int k = 0; k < K; ++k) v[k] = 0;
        for (std::int64_t p = p0; p < p1; ++p) v[code[p] % L] += 1.0;
        const double inv = 1.0 / static_cast<double>(p1 - p0);
        for (int k = 0; k < K; ++k) v[k] *= inv;
      } else {
        for (int k = 0; k < K; ++k) v[k] = prior[k];
        int scale = 0;
        for (std::int64_t q0 = p0; q0 < p1; q0 += kRescaleEvery) {
          const std::int64_t q1 = std::min(p1, q0 + kRescaleEvery);
          for (std::int64_t p = q0; p < q1; ++p) {
            if (p + kPrefetchAhead < p_stop) {
              const std::int64_t* ahead = tab + static_cast<std::size_t>(code[p + kPrefetchAhead]) * R;
              __builtin_prefetch(ahead, 1);
              __builtin_prefetch(ahead + R - 1, 1);
            }
            const std::int64_t* row = tab + static_cast<std::size_t>(code[p]) * R;
            for (int k = 0; k < K; ++k) v[k] *= std::bit_cast<double>(row[k]);
          }
          if (q1 < p1) {  // long task: renormalize by a power of two (exact)
            double m = v[0];
            for (int k = 1; k < K; ++k) m = std::max(m, v[k]);
            const int x = exponent_of(m);
            const double f = pow2(-x);
            for (int k = 0; k < K; ++k) v[k] *= f;
            scale += x;
          }
        }
        double s = 0;
        for (int k = 0; k < K; ++k) s += v[k];
        if constexpr (M == Mode::kEm) {
          if (s >= DBL_MIN) {
            mant *= mantissa_of(s);
            expo += exponent_of(s) + scale;
          } else {  // cannot happen with the rescaling above; kept exact anyway
            ll += std::log(s) + scale * kLn2;
          }
          if (++in_group == kLogGroup) {
            ll += std::log(mant) + static_cast<double>(expo) * kLn2;
            mant = 1;
            expo = 0;
            in_group = 0;
          }
        }
        const double inv = 1.0 / s;
        for (int k = 0; k < K; ++k) v[k] *= inv;
      }
      if (is_gold) detail::one_hot(v, K, g);
      if (probas) std::copy(v, v + K, probas + t * K);
      if constexpr (M != Mode::kPosteriors) {
        for (int k = 0; k < K; ++k) {
          fix[k] = detail::to_fix(v[k]);
          pcount[k] += fix[k];
        }
        for (std::int64_t p = p0; p < p1; ++p) {
          std::int64_t* cell = tab + static_cast<std::size_t>(code[p]) * R + K;
          for (int k = 0; k < K; ++k) cell[k] += fix[k];
        }
      }
    }
    if constexpr (M == Mode::kEm) block_ll[b] = ll + std::log(mant) + static_cast<double>(expo) * kLn2;
  }
  if constexpr (M != Mode::kPosteriors)
    for (int k = 0; k < K; ++k) sh.slots[slot].prior[static_cast<std::size_t>(k)] += pcount[k];
}

template <int KC, Mode M>
void run_pass_k(Shared& sh, double* probas, std::vector<double>* block_ll) {
  const std::size_t T = static_cast<std::size_t>(sh.c->n_tasks);
  const std::size_t nb = (T + detail::kBlockTasks - 1) / detail::kBlockTasks;
  if (block_ll) block_ll->assign(nb, 0.0);
  const std::size_t n = sh.slots.size();
  // Blocks are claimed dynamically (the machine may be shared, so a thread can
  // stall): which slot sums which block does not change the integer totals.
  std::atomic<std::size_t> next{0};
  util::parallel_for(n, static_cast<unsigned>(n), 1, [&](std::size_t s0, std::size_t s1) {
    for (std::size_t s = s0; s < s1; ++s)
      for (std::size_t b = next.fetch_add(kClaim); b < nb; b = next.fetch_add(kClaim))
        pass_blocks<KC, M>(sh, b, std::min(nb, b + kClaim), s, probas, block_ll ? block_ll->data() : nullptr);
  });
}

template <Mode M>
void run_pass(Shared& sh, double* probas, std::vector<double>* block_ll) {
  switch (sh.c->n_labels) {
    case 2: return run_pass_k<2, M>(sh, probas, block_ll);
    case 3: return run_pass_k<3, M>(sh, probas, block_ll);
    case 4: return run_pass_k<4, M>(sh, probas, block_ll);
    case 5: return run_pass_k<5, M>(sh, probas, block_ll);
    case 6: return run_pass_k<6, M>(sh, probas, block_ll);
    case 8: return run_pass_k<8, M>(sh, probas, block_ll);
    default: return run_pass_k<0, M>(sh, probas, block_ll);
  }
}

// M-step: confusion rows P(. | true k) of each worker from the expected counts
// summed over the slots (which are zeroed for the next pass), floored at
// kProbFloor before normalizing (as crowd-kit), written into every slot's
// table; then the class priors.
void m_step(Shared& sh) {
  const Csr& c = *sh.c;
  const Options& opt = *sh.opt;
  const std::size_t W = static_cast<std::size_t>(c.n_workers), L = static_cast<std::size_t>(c.n_labels), K = L;
  const std::size_t R = sh.R;
  util::parallel_for(W, opt.threads, 256, [&](std::size_t b, std::size_t e) {
    std::vector<double> cnt(L * K), sum(K);
    for (std::size_t w = b; w < e; ++w) {
      for (std::size_t l = 0; l < L; ++l) {
        const std::size_t row = (w * L + l) * R + K;
        for (std::size_t k = 0; k < K; ++k) {
          std::int64_t total = 0;
          for (Slot& s : sh.slots) {
            total += s.tab.data()[row + k];
            s.tab.data()[row + k] = 0;
          }
          cnt[l * K + k] = std::max(detail::from_fix(total) + opt.smoothing, detail::kProbFloor);
        }
      }
      std::fill(sum.begin(), sum.end(), 0.0);
      for (std::size_t l = 0; l < L; ++l)
        for (std::size_t k = 0; k < K; ++k) sum[k] += cnt[l * K + k];
      for (std::size_t l = 0; l < L; ++l)
        for (std::size_t k = 0; k < K; ++k) {
          const std::int64_t bits = std::bit_cast<std::int64_t>(cnt[l * K + k] / sum[k]);
          for (Slot& s : sh.slots) s.tab.data()[(w * L + l) * R + k] = bits;
        }
    }
  });
  std::vector<std::int64_t> ptotal(K, 0);
  for (Slot& s : sh.slots)
    for (std::size_t k = 0; k < K; ++k) {
      ptotal[k] += s.prior[k];
      s.prior[k] = 0;
    }
  sh.prior.resize(K);
  if (!opt.class_priors.empty()) {
    double s = 0;
    for (double p : opt.class_priors) s += p;
    for (std::size_t k = 0; k < K; ++k) sh.prior[k] = opt.class_priors[k] / s;
  } else {
    double s = 0;
    for (std::size_t k = 0; k < K; ++k) s += detail::from_fix(ptotal[k]) + opt.smoothing;
    for (std::size_t k = 0; k < K; ++k)
      sh.prior[k] = std::max((detail::from_fix(ptotal[k]) + opt.smoothing) / s, detail::kProbFloor);
  }
}

double ordered_sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

}  // namespace

Result dawid_skene(const AnswersView& a, const Options& opt) {
  detail::check_options(a, opt);
  const std::size_t W = static_cast<std::size_t>(a.n_workers), L = static_cast<std::size_t>(a.n_labels);
  if (a.n && static_cast<double>(W) * static_cast<double>(L) >= 4294967296.0)
    throw InvalidArgument("dawid_skene: n_workers * n_labels must be < 2^32");
  Csr c = detail::build_csr(a, false);
  Result r = detail::make_result(a);
  const std::size_t K = L;
  std::vector<std::uint32_t> code(a.n);
  util::parallel_for(a.n, opt.threads, 1 << 16, [&](std::size_t b, std::size_t e) {
    for (std::size_t p = b; p < e; ++p)
      code[p] = static_cast<std::uint32_t>(c.worker[p]) * static_cast<std::uint32_t>(L) + static_cast<std::uint32_t>(c.label[p]);
  });

  Shared sh;
  sh.c = &c;
  sh.code = code.data();
  sh.opt = &opt;
  sh.R = row_words(K);
  const std::size_t n_blocks = (static_cast<std::size_t>(a.n_tasks) + detail::kBlockTasks - 1) / detail::kBlockTasks;
  const std::size_t n_slots = std::max<std::size_t>(
      1, std::min<std::size_t>(detail::threads_for_buffers(opt.threads, W * L * sh.R * 8), n_blocks));
  sh.slots.resize(n_slots);
  for (Slot& s : sh.slots) {
    s.tab.assign(W * L * sh.R);
    s.prior.assign(K, 0);
  }

  run_pass<Mode::kStart>(sh, opt.n_iter == 0 ? r.probas.data() : nullptr, nullptr);
  m_step(sh);

  // Each iteration: E-step (+ counts) with the current parameters; the
  // convergence test and the callback; then the M-step. The posteriors
  // reported are those of the last E-step: written by the final pass when it
  // is known to be final, else by one extra E-step before the last M-step.
  std::vector<double> block_ll;
  const double n_ans = static_cast<double>(std::max<std::size_t>(a.n, 1));
  double last = -std::numeric_limits<double>::infinity();
  r.converged = opt.n_iter == 0;
  for (std::int32_t it = 1; it <= opt.n_iter; ++it) {
    const bool final_it = it == opt.n_iter;
    run_pass<Mode::kEm>(sh, final_it ? r.probas.data() : nullptr, &block_ll);
    const double obj = ordered_sum(block_ll) / n_ans;
    const double change = obj - last;
    r.objective_history.push_back(obj);
    r.n_iter = it;
    last = obj;
    bool stop = final_it;
    if (it > 1 && change < opt.tol) {
      r.converged = true;
      stop = true;
    } else if (!detail::report(opt, it, obj, std::abs(change))) {
      stop = true;
    }
    if (stop && !final_it) run_pass<Mode::kPosteriors>(sh, r.probas.data(), nullptr);
    m_step(sh);
    if (stop) break;
  }
  detail::finish_labels(r, c, opt);

  r.priors = sh.prior;
  r.errors.resize(W * K * L);
  r.skills.assign(W, 0.0);
  const std::int64_t* tab = sh.slots[0].tab.data();
  for (std::size_t w = 0; w < W; ++w)
    for (std::size_t k = 0; k < K; ++k) {
      for (std::size_t l = 0; l < L; ++l) r.errors[(w * K + k) * L + l] = std::bit_cast<double>(tab[(w * L + l) * sh.R + k]);
      r.skills[w] += r.priors[k] * r.errors[(w * K + k) * L + k];
    }
  return r;
}

}  // namespace tagger::consensus
