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
//  * A persistent team of threads (team.h) runs every pass; each thread
//    (slot) owns a copy of the table and sums its counts in 64-bit fixed point
//    (common.h): integer addition is associative, so the totals - and every
//    result - do not depend on the thread count or on which thread took which
//    block of tasks (blocks are claimed dynamically: on a shared machine a
//    stalled thread costs nothing). A table is written only by its owner, which
//    refreshes it (new confusion values, zero counts) at its first block of a
//    pass; the M-step only reads the tables, so each stays in its core's cache.
//  * For K <= 8 a task's K values live in vector registers (GCC/Clang vector
//    extensions), compiled for the baseline ISA and for AVX2, chosen at run
//    time (no FMA: both give identical bits).
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
#include <cstring>
#include <limits>
#include <memory>
#include <string>

#if defined(__x86_64__) && defined(__SSE2__)
#include <immintrin.h>
#endif

#include "consensus/common.h"
#include "consensus/dispatch.h"
#include "consensus/team.h"
#include "tagger/consensus_shard.h"
#include "tagger/errors.h"
#include "util/det_math.h"
#include "tagger/huge_array.h"

namespace tagger::consensus {
namespace {

// Answers multiplied into a posterior between rescalings. A used confusion row
// has an entry >= 1 / (K * answers of the worker) and every entry >= 1e-10 /
// (answers + L), so 8 factors stay far above the smallest normal double.
constexpr std::int64_t kRescaleEvery = 8;
// Tasks whose log-likelihood mantissas share one log.
constexpr std::size_t kLogGroup = 32;
// Answers ahead whose table row is prefetched (the rows are random accesses
// into a table of a few MiB; the codes are read sequentially). 8-32 measured
// within noise of each other on the 1M benchmark; no prefetch was 25% slower.
constexpr std::int64_t kPrefetchAhead = 16;
// Blocks of kBlockTasks tasks claimed at a time by a thread of a pass.
constexpr std::size_t kClaim = 2;
constexpr double kLn2 = 0.693147180559945309417232121458176568;

// Row width (in 8-byte words) of one (worker, label) entry of a slot table:
// K confusion values (as double bits), then K fixed-point counts.
inline std::size_t row_words(std::size_t k) { return 2 * k; }

// Zero-initialized array of 64-bit words whose start is 64-byte aligned (on
// huge pages when large: each slot's table is megabytes, read at random).
class Table {
 public:
  void assign(std::size_t n) { buf_.reset(n, util::HugeArray<std::int64_t>::kZero); }
  std::int64_t* data() { return buf_.data(); }
  const std::int64_t* data() const { return buf_.data(); }

 private:
  util::HugeArray<std::int64_t> buf_;
};

// What one thread (slot) of the fused pass owns.
struct Slot {
  Table tab;                        // [W * L * R]: e bits at r*R + k, counts at r*R + K + k, r = w*L + l
  std::vector<std::int64_t> prior;  // [K] fixed-point prior counts
  std::int32_t epoch = 0;           // the pass whose parameters and counts the table holds
};

// Answers grouped by task (a stable counting sort unless already sorted),
// each re-coded as worker * L + label.
struct Layout {
  std::int32_t n_tasks = 0, n_workers = 0, n_labels = 0;
  util::HugeArray<std::int64_t> task_offset;  // [n_tasks + 1]
  util::HugeArray<std::uint32_t> code;        // [n + kPrefetchAhead], padded with 0: the pass reads ahead
};

struct Shared {
  const Layout* c = nullptr;
  const std::uint32_t* code = nullptr;
  const Options* opt = nullptr;
  std::size_t R = 0;          // words per table row
  std::vector<double> prior;  // [K] current class prior
  std::vector<double> e;      // [W * L * K] current confusion values, (w * L + l) * K + k
  std::int32_t epoch = 0;     // current pass: 0 = the EM start, then the iteration
  std::vector<Slot> slots;    // one per team slot
  detail::Team* team = nullptr;
  std::int32_t* labels = nullptr;  // [T] written (argmax, gold, -1) wherever probas are
  double floor = 0;  // posteriors written for answered tasks are at least this (set_posterior_floor)
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

// Posterior (fixed point) of a task: round(p * 2^30), ties to even, computed
// as the bits of p * 2^30 + 2^52 minus those of 2^52 (exact for p in [0, 1]:
// the product is exact and 2^52 has an ulp of 1), so the vector code below
// gets the same integers as the scalar code without a double->int64 instruction.
constexpr double kFixMagic = 4503599627370496.0;  // 2^52
inline std::int64_t fix_of(double p) {
  return std::bit_cast<std::int64_t>(p * detail::kFixScale + kFixMagic) - std::bit_cast<std::int64_t>(kFixMagic);
}

#define TAGGER_INLINE inline __attribute__((always_inline))

// Writes a task's posteriors and label with non-temporal stores: the 80 MB of
// posteriors at 10M answers are written once and not read again here, so
// streaming them skips the read-for-ownership of every line (consecutive tasks
// fill whole lines in the write-combining buffers). Bits are those of src.
// A pass that streams calls stream_fence() before its results are used.
TAGGER_INLINE void stream_out(double* dst, const double* src, int k, std::int32_t* label_dst, std::int32_t label) {
#if defined(__x86_64__) && defined(__SSE2__)
  for (int i = 0; i < k; ++i) _mm_stream_si64(reinterpret_cast<long long*>(dst + i), std::bit_cast<long long>(src[i]));
  _mm_stream_si32(label_dst, label);
#else
  std::memcpy(dst, src, static_cast<std::size_t>(k) * sizeof(double));
  *label_dst = label;
#endif
}
TAGGER_INLINE void stream_fence() {
#if defined(__x86_64__) && defined(__SSE2__)
  _mm_sfence();
#endif
}

// Index of the largest value; ties go to the smallest index (the MV rule).
TAGGER_INLINE std::int32_t argmax(const double* row, int k) {
  std::int32_t best = 0;
  for (int j = 1; j < k; ++j)
    if (row[j] > row[best]) best = j;
  return best;
}

// K values held in vector registers for a compile-time K: chunks of 4, then
// 2, then 1 lanes (GCC/Clang vector extensions: SSE2 pairs by default, one
// ymm register per chunk of 4 in the AVX2 instantiation). Every operation is
// lane-wise, and sums run over k in order, so both give identical results.
typedef double D4 __attribute__((vector_size(32)));
typedef double D2 __attribute__((vector_size(16)));
typedef std::int64_t I4 __attribute__((vector_size(32)));
typedef std::int64_t I2 __attribute__((vector_size(16)));

template <int KC>
struct Ints {  // K fixed-point values
  static constexpr int N4 = KC / 4, N2 = (KC % 4) / 2, N1 = KC % 2;
  std::array<I4, N4> a;
  std::array<I2, N2> b;
  std::array<std::int64_t, N1> c;
  TAGGER_INLINE void zero() {
    for (auto& x : a) x = I4{};
    for (auto& x : b) x = I2{};
    for (auto& x : c) x = 0;
  }
  TAGGER_INLINE void add(const Ints& o) {
    for (int i = 0; i < N4; ++i) a[i] += o.a[i];
    for (int i = 0; i < N2; ++i) b[i] += o.b[i];
    for (int i = 0; i < N1; ++i) c[i] += o.c[i];
  }
  TAGGER_INLINE void add_to(std::int64_t* p) const {  // p[k] += value k
    for (int i = 0; i < N4; ++i) {
      I4 x;
      std::memcpy(&x, p + 4 * i, sizeof x);
      x += a[i];
      std::memcpy(p + 4 * i, &x, sizeof x);
    }
    for (int i = 0; i < N2; ++i) {
      I2 x;
      std::memcpy(&x, p + 4 * N4 + 2 * i, sizeof x);
      x += b[i];
      std::memcpy(p + 4 * N4 + 2 * i, &x, sizeof x);
    }
    if constexpr (N1 > 0) p[4 * N4 + 2 * N2] += c[0];
  }
  TAGGER_INLINE void store(std::int64_t* p) const {
    for (int i = 0; i < N4; ++i) std::memcpy(p + 4 * i, &a[i], sizeof(I4));
    for (int i = 0; i < N2; ++i) std::memcpy(p + 4 * N4 + 2 * i, &b[i], sizeof(I2));
    if constexpr (N1 > 0) p[4 * N4 + 2 * N2] = c[0];
  }
};

template <int KC>
struct Lanes {  // K doubles
  static constexpr int N4 = KC / 4, N2 = (KC % 4) / 2, N1 = KC % 2;
  std::array<D4, N4> a;
  std::array<D2, N2> b;
  std::array<double, N1> c;
  TAGGER_INLINE void load(const double* p) {
    for (int i = 0; i < N4; ++i) std::memcpy(&a[i], p + 4 * i, sizeof(D4));
    for (int i = 0; i < N2; ++i) std::memcpy(&b[i], p + 4 * N4 + 2 * i, sizeof(D2));
    if constexpr (N1 > 0) c[0] = p[4 * N4 + 2 * N2];
  }
  TAGGER_INLINE void store(double* p) const {
    for (int i = 0; i < N4; ++i) std::memcpy(p + 4 * i, &a[i], sizeof(D4));
    for (int i = 0; i < N2; ++i) std::memcpy(p + 4 * N4 + 2 * i, &b[i], sizeof(D2));
    if constexpr (N1 > 0) p[4 * N4 + 2 * N2] = c[0];
  }
  TAGGER_INLINE void mul_bits(const std::int64_t* p) {  // *= the doubles whose bits p holds
    for (int i = 0; i < N4; ++i) {
      D4 x;
      std::memcpy(&x, p + 4 * i, sizeof x);
      a[i] *= x;
    }
    for (int i = 0; i < N2; ++i) {
      D2 x;
      std::memcpy(&x, p + 4 * N4 + 2 * i, sizeof x);
      b[i] *= x;
    }
    if constexpr (N1 > 0) c[0] *= std::bit_cast<double>(p[4 * N4 + 2 * N2]);
  }
  TAGGER_INLINE void zero() {
    for (auto& x : a) x = D4{};
    for (auto& x : b) x = D2{};
    for (auto& x : c) x = 0;
  }
  // += the one-hot vector of index l, with lane compares: counting votes in
  // registers, not through a stack array (a store-to-load chain of ~10 cycles
  // per answer when a task's answers agree). Counts are exact small integers.
  TAGGER_INLINE void add_one_hot(double l) {
    constexpr std::int64_t kOne = 0x3ff0000000000000LL;  // bits of 1.0
    for (int i = 0; i < N4; ++i) {
      const D4 idx = D4{0, 1, 2, 3} + 4.0 * i;
      const I4 hit = (idx == l) & kOne;  // compare lanes: all ones where equal
      D4 add;
      std::memcpy(&add, &hit, sizeof add);
      a[i] += add;
    }
    for (int i = 0; i < N2; ++i) {
      const D2 idx = D2{0, 1} + static_cast<double>(4 * N4 + 2 * i);
      const I2 hit = (idx == l) & kOne;
      D2 add;
      std::memcpy(&add, &hit, sizeof add);
      b[i] += add;
    }
    if constexpr (N1 > 0) c[0] += l == 4 * N4 + 2 * N2 ? 1.0 : 0.0;
  }
  TAGGER_INLINE void scale(double f) {
    for (auto& x : a) x *= f;
    for (auto& x : b) x *= f;
    for (auto& x : c) x *= f;
  }
  TAGGER_INLINE void to_array(double* out) const { store(out); }
  TAGGER_INLINE Ints<KC> fix() const {  // fix_of, lane-wise
    Ints<KC> r;
    const std::int64_t magic = std::bit_cast<std::int64_t>(kFixMagic);
    for (int i = 0; i < N4; ++i) {
      const D4 y = a[i] * detail::kFixScale + kFixMagic;
      std::memcpy(&r.a[i], &y, sizeof y);
      r.a[i] -= magic;
    }
    for (int i = 0; i < N2; ++i) {
      const D2 y = b[i] * detail::kFixScale + kFixMagic;
      std::memcpy(&r.b[i], &y, sizeof y);
      r.b[i] -= magic;
    }
    if constexpr (N1 > 0) r.c[0] = fix_of(c[0]);
    return r;
  }
};

// One pass over the tasks of blocks [b0, b1) in slot `slot`: the specialised
// kernel for a compile-time K (vector registers), instantiated for the
// baseline ISA and for AVX2 (picked at run time).
template <int KC, Mode M>
TAGGER_INLINE void pass_blocks_fixed(Shared& sh, std::size_t b0, std::size_t b1, std::size_t slot, double* probas,
                                     double* block_ll) {
  constexpr int K = KC;
  const Layout& c = *sh.c;
  const Options& opt = *sh.opt;
  constexpr std::size_t R = 2 * KC;  // row_words(K), known at compile time (no imul per answer)
  const std::size_t T = static_cast<std::size_t>(c.n_tasks);
  const std::uint32_t* code = sh.code;
  const std::int64_t* offset = c.task_offset.data();
  std::int64_t* tab = sh.slots[slot].tab.data();
  Lanes<K> prior;
  if constexpr (M != Mode::kStart) prior.load(sh.prior.data());
  Ints<K> pcount;  // local: the slots' prior vectors may share a cache line
  pcount.zero();
  alignas(64) double tmp[K];
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
          sh.labels[t] = is_gold ? g : -1;
          double* row = probas + t * K;
          if (is_gold) detail::one_hot(row, K, g);
          else if constexpr (M == Mode::kStart) for (int k = 0; k < K; ++k) row[k] = 1.0 / K;
          else prior.store(row);
        }
        continue;
      }
      Lanes<K> v;
      if constexpr (M == Mode::kStart) {
        v.zero();
        for (std::int64_t p = p0; p < p1; ++p) {
          const std::int64_t* ahead = tab + static_cast<std::size_t>(code[p + kPrefetchAhead]) * R;
          __builtin_prefetch(ahead + K, 1);
          __builtin_prefetch(ahead + R - 1, 1);
          v.add_one_hot(static_cast<double>(code[p] % K));
        }
        v.scale(1.0 / static_cast<double>(p1 - p0));
      } else {
        v = prior;
        int scale = 0;
        for (std::int64_t q0 = p0; q0 < p1; q0 += kRescaleEvery) {
          const std::int64_t q1 = std::min(p1, q0 + kRescaleEvery);
          for (std::int64_t p = q0; p < q1; ++p) {
            // The code array is padded, so reading ahead never leaves it.
            const std::int64_t* ahead = tab + static_cast<std::size_t>(code[p + kPrefetchAhead]) * R;
            __builtin_prefetch(ahead, 1);
            __builtin_prefetch(ahead + R - 1, 1);
            v.mul_bits(tab + static_cast<std::size_t>(code[p]) * R);
          }
          if (q1 < p1) {  // long task: renormalize by a power of two (exact)
            v.to_array(tmp);
            double m = tmp[0];
            for (int k = 1; k < K; ++k) m = std::max(m, tmp[k]);
            const int x = exponent_of(m);
            v.scale(pow2(-x));
            scale += x;
          }
        }
        v.to_array(tmp);
        double s = 0;
        for (int k = 0; k < K; ++k) s += tmp[k];
        if constexpr (M == Mode::kEm) {
          if (s >= DBL_MIN) {
            mant *= mantissa_of(s);
            expo += exponent_of(s) + scale;
          } else {  // cannot happen with the rescaling above; kept exact anyway
            ll += util::det::log(s) + scale * kLn2;
          }
          if (++in_group == kLogGroup) {
            ll += util::det::log(mant) + static_cast<double>(expo) * kLn2;
            mant = 1;
            expo = 0;
            in_group = 0;
          }
        }
        v.scale(1.0 / s);
      }
      if (is_gold) {
        detail::one_hot(tmp, K, g);
        v.load(tmp);
      }
      if (probas) {
        v.to_array(tmp);
        const std::int32_t label = is_gold ? g : argmax(tmp, K);
        for (int k = 0; k < K; ++k) tmp[k] = std::max(tmp[k], sh.floor);  // the largest is >= 1/K: label stands
        stream_out(probas + t * K, tmp, K, sh.labels + t, label);
      }
      if constexpr (M != Mode::kPosteriors) {
        const Ints<K> fix = v.fix();
        pcount.add(fix);
        for (std::int64_t p = p0; p < p1; ++p) fix.add_to(tab + static_cast<std::size_t>(code[p]) * R + K);
      }
    }
    if constexpr (M == Mode::kEm) block_ll[b] = ll + util::det::log(mant) + static_cast<double>(expo) * kLn2;
  }
  if constexpr (M != Mode::kPosteriors) {
    std::int64_t pc[K];
    pcount.store(pc);
    for (int k = 0; k < K; ++k) sh.slots[slot].prior[static_cast<std::size_t>(k)] += pc[k];
  }
  if (probas) stream_fence();  // the streamed rows are visible before the team joins
}

// The same pass for any K (scalar loops over K).
template <Mode M>
void pass_blocks_any(Shared& sh, std::size_t b0, std::size_t b1, std::size_t slot, double* probas, double* block_ll) {
  const Layout& c = *sh.c;
  const Options& opt = *sh.opt;
  const int K = c.n_labels;
  const std::size_t R = sh.R;
  const std::size_t T = static_cast<std::size_t>(c.n_tasks);
  const std::uint32_t* code = sh.code;
  const std::int64_t* offset = c.task_offset.data();
  const double* prior = sh.prior.data();
  std::int64_t* tab = sh.slots[slot].tab.data();
  std::vector<double> v(static_cast<std::size_t>(K));
  std::vector<std::int64_t> fix(static_cast<std::size_t>(K)), pcount(static_cast<std::size_t>(K), 0);
  for (std::size_t b = b0; b < b1; ++b) {
    double ll = 0, mant = 1;
    std::int64_t expo = 0;
    std::size_t in_group = 0;
    const std::size_t t_end = std::min(T, (b + 1) * detail::kBlockTasks);
    for (std::size_t t = b * detail::kBlockTasks; t < t_end; ++t) {
      const std::int64_t p0 = offset[t], p1 = offset[t + 1];
      std::int32_t g = -1;
      const bool is_gold = detail::gold_of(opt, static_cast<std::int32_t>(t), &g);
      if (p0 == p1) {
        if (probas) {
          sh.labels[t] = is_gold ? g : -1;
          double* row = probas + t * K;
          if (is_gold) detail::one_hot(row, K, g);
          else for (int k = 0; k < K; ++k) row[k] = M == Mode::kStart ? 1.0 / K : prior[k];
        }
        continue;
      }
      if constexpr (M == Mode::kStart) {
        std::fill(v.begin(), v.end(), 0.0);
        for (std::int64_t p = p0; p < p1; ++p) {
          __builtin_prefetch(tab + static_cast<std::size_t>(code[p + kPrefetchAhead]) * R + K, 1);
          v[code[p] % static_cast<std::uint32_t>(K)] += 1.0;
        }
        const double inv = 1.0 / static_cast<double>(p1 - p0);
        for (int k = 0; k < K; ++k) v[k] *= inv;
      } else {
        for (int k = 0; k < K; ++k) v[k] = prior[k];
        int scale = 0;
        for (std::int64_t q0 = p0; q0 < p1; q0 += kRescaleEvery) {
          const std::int64_t q1 = std::min(p1, q0 + kRescaleEvery);
          for (std::int64_t p = q0; p < q1; ++p) {
            const std::int64_t* ahead = tab + static_cast<std::size_t>(code[p + kPrefetchAhead]) * R;
            __builtin_prefetch(ahead, 1);
            __builtin_prefetch(ahead + R - 1, 1);
            const std::int64_t* row = tab + static_cast<std::size_t>(code[p]) * R;
            for (int k = 0; k < K; ++k) v[k] *= std::bit_cast<double>(row[k]);
          }
          if (q1 < p1) {
            const int x = exponent_of(*std::max_element(v.begin(), v.end()));
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
          } else {
            ll += util::det::log(s) + scale * kLn2;
          }
          if (++in_group == kLogGroup) {
            ll += util::det::log(mant) + static_cast<double>(expo) * kLn2;
            mant = 1;
            expo = 0;
            in_group = 0;
          }
        }
        const double inv = 1.0 / s;
        for (int k = 0; k < K; ++k) v[k] *= inv;
      }
      if (is_gold) detail::one_hot(v.data(), K, g);
      if (probas) {
        sh.labels[t] = is_gold ? g : argmax(v.data(), K);
        for (int k = 0; k < K; ++k) probas[t * K + static_cast<std::size_t>(k)] = std::max(v[k], sh.floor);
      }
      if constexpr (M != Mode::kPosteriors) {
        for (int k = 0; k < K; ++k) {
          fix[k] = fix_of(v[k]);
          pcount[k] += fix[k];
        }
        for (std::int64_t p = p0; p < p1; ++p) {
          std::int64_t* cell = tab + static_cast<std::size_t>(code[p]) * R + K;
          for (int k = 0; k < K; ++k) cell[k] += fix[k];
        }
      }
    }
    if constexpr (M == Mode::kEm) block_ll[b] = ll + util::det::log(mant) + static_cast<double>(expo) * kLn2;
  }
  if constexpr (M != Mode::kPosteriors)
    for (int k = 0; k < K; ++k) sh.slots[slot].prior[static_cast<std::size_t>(k)] += pcount[k];
}

using PassFn = void (*)(Shared&, std::size_t, std::size_t, std::size_t, double*, double*);

template <int KC, Mode M>
void pass_base(Shared& sh, std::size_t b0, std::size_t b1, std::size_t slot, double* probas, double* block_ll) {
  if constexpr (KC > 0) pass_blocks_fixed<KC, M>(sh, b0, b1, slot, probas, block_ll);
  else pass_blocks_any<M>(sh, b0, b1, slot, probas, block_ll);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// The same code compiled for AVX2 (no FMA: the results stay bit-identical to
// the baseline instantiation); chosen at run time when the CPU has it.
template <int KC, Mode M>
__attribute__((target("avx2"))) void pass_avx2(Shared& sh, std::size_t b0, std::size_t b1, std::size_t slot, double* probas,
                                               double* block_ll) {
  pass_blocks_fixed<KC, M>(sh, b0, b1, slot, probas, block_ll);
}
bool cpu_has_avx2() {
  static const bool has = [] {
    __builtin_cpu_init();  // needed when called from a static initializer of a shared object; idempotent
    return __builtin_cpu_supports("avx2") != 0;
  }();
  return has;
}
#endif

template <int KC, Mode M>
PassFn pick_pass() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if constexpr (KC > 0)
    if (cpu_has_avx2() && detail::avx2_allowed()) return &pass_avx2<KC, M>;
#endif
  return &pass_base<KC, M>;
}
// Brings slot s's table to the current parameters with zero counts. Only the
// thread working as slot s calls it (at its first block of a pass), so a
// table stays in the cache of the core that uses it; the M-step only reads
// the tables.
// KC = K known at compile time (the row is copied by a few moves: a memcpy
// and a memset call per row were ~6% of a 1M-answer fit), or 0.
template <int KC = 0>
void refresh(Shared& sh, Slot& slot) {
  const std::size_t K = KC > 0 ? static_cast<std::size_t>(KC) : static_cast<std::size_t>(sh.c->n_labels), R = sh.R;
  const std::size_t rows = static_cast<std::size_t>(sh.c->n_workers) * K;
  std::int64_t* tab = slot.tab.data();
  const double* e = sh.e.data();
  for (std::size_t r = 0; r < rows; ++r) {
    std::int64_t* row = tab + r * R;
    const double* er = e + r * K;
    for (std::size_t k = 0; k < K; ++k) {
      row[k] = std::bit_cast<std::int64_t>(er[k]);  // e bits
      row[K + k] = 0;
    }
  }
  std::fill(slot.prior.begin(), slot.prior.end(), 0);
  slot.epoch = sh.epoch;
}

template <int KC, Mode M>
void run_pass_k(Shared& sh, double* probas, std::vector<double>* block_ll) {
  const std::size_t T = static_cast<std::size_t>(sh.c->n_tasks);
  const std::size_t nb = (T + detail::kBlockTasks - 1) / detail::kBlockTasks;
  if (block_ll) block_ll->assign(nb, 0.0);
  const PassFn fn = pick_pass<KC, M>();
  // Blocks are claimed dynamically: which slot sums which block does not
  // change the integer totals, and per-block log-likelihoods are summed in
  // block order afterwards. A slot whose thread took no block in a pass keeps
  // stale counts and is left out of the next M-step (its epoch tells).
  std::atomic<std::size_t> next{0};
  sh.team->run([&](unsigned s) {
    std::size_t b = next.fetch_add(kClaim);
    if (b >= nb) return;
    if (sh.slots[s].epoch != sh.epoch) refresh<KC>(sh, sh.slots[s]);
    for (; b < nb; b = next.fetch_add(kClaim))
      fn(sh, b, std::min(nb, b + kClaim), s, probas, block_ll ? block_ll->data() : nullptr);
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
    case 7: return run_pass_k<7, M>(sh, probas, block_ll);
    case 8: return run_pass_k<8, M>(sh, probas, block_ll);
    default: return run_pass_k<0, M>(sh, probas, block_ll);
  }
}

// M-step for workers [w0, w1): confusion rows P(. | true k) from the expected
// counts (total(w, l, out) writes the K fixed-point totals of row (w, l)),
// floored at kProbFloor before normalizing (as crowd-kit), into e [W * L * K].
// The single-process fit sums its slot tables here; the sharded fit passes
// the counts summed over shards (the same integers), so both run this code.
template <int KC, class Total>
void m_step_rows(std::size_t L, double smoothing, Total&& total_of, double* e_all, std::size_t w0, std::size_t w1) {
  const std::size_t K = KC > 0 ? KC : L;
  Scratch<double, KC * KC> cb(static_cast<int>(K * K));
  Scratch<double, KC> sb(static_cast<int>(K));
  Scratch<std::int64_t, KC> tb(static_cast<int>(K));
  double* cnt = cb.data();
  double* sum = sb.data();
  std::int64_t* total = tb.data();
  for (std::size_t w = w0; w < w1; ++w) {
    for (std::size_t k = 0; k < K; ++k) sum[k] = 0;
    for (std::size_t l = 0; l < L; ++l) {
      total_of(w, l, total);
      for (std::size_t k = 0; k < K; ++k) {
        cnt[l * K + k] = std::max(detail::from_fix(total[k]) + smoothing, detail::kProbFloor);
        sum[k] += cnt[l * K + k];
      }
    }
    double* e = e_all + w * L * K;
    for (std::size_t l = 0; l < L; ++l)
      for (std::size_t k = 0; k < K; ++k) e[l * K + k] = cnt[l * K + k] / sum[k];
  }
}

template <class Total>
void m_step_rows_any(std::size_t L, double smoothing, Total&& total_of, double* e_all, std::size_t w0, std::size_t w1) {
  switch (L) {
    case 2: return m_step_rows<2>(L, smoothing, total_of, e_all, w0, w1);
    case 3: return m_step_rows<3>(L, smoothing, total_of, e_all, w0, w1);
    case 4: return m_step_rows<4>(L, smoothing, total_of, e_all, w0, w1);
    case 5: return m_step_rows<5>(L, smoothing, total_of, e_all, w0, w1);
    case 6: return m_step_rows<6>(L, smoothing, total_of, e_all, w0, w1);
    case 7: return m_step_rows<7>(L, smoothing, total_of, e_all, w0, w1);
    case 8: return m_step_rows<8>(L, smoothing, total_of, e_all, w0, w1);
    default: return m_step_rows<0>(L, smoothing, total_of, e_all, w0, w1);
  }
}

// Class prior from the fixed-point class totals (or the given priors).
void prior_step(const Options& opt, const std::vector<std::int64_t>& ptotal, std::vector<double>& prior) {
  const std::size_t K = ptotal.size();
  prior.resize(K);
  if (!opt.class_priors.empty()) {
    double s = 0;
    for (double p : opt.class_priors) s += p;
    for (std::size_t k = 0; k < K; ++k) prior[k] = opt.class_priors[k] / s;
  } else {
    double s = 0;
    for (std::size_t k = 0; k < K; ++k) s += detail::from_fix(ptotal[k]) + opt.smoothing;
    for (std::size_t k = 0; k < K; ++k)
      prior[k] = std::max((detail::from_fix(ptotal[k]) + opt.smoothing) / s, detail::kProbFloor);
  }
}

// M-step: every worker's confusion rows (claimed in chunks), then the priors.
void m_step(Shared& sh) {
  const Options& opt = *sh.opt;
  const std::size_t W = static_cast<std::size_t>(sh.c->n_workers), K = static_cast<std::size_t>(sh.c->n_labels);
  const std::size_t R = sh.R;
  std::vector<const std::int64_t*> tabs;
  std::vector<std::int64_t> ptotal(K, 0);
  for (const Slot& s : sh.slots)
    if (s.epoch == sh.epoch) {
      tabs.push_back(s.tab.data());
      for (std::size_t k = 0; k < K; ++k) ptotal[k] += s.prior[k];
    }
  auto total_of = [&](std::size_t w, std::size_t l, std::int64_t* total) {
    const std::size_t at = (w * K + l) * R + K;
    for (std::size_t k = 0; k < K; ++k) total[k] = 0;
    for (const std::int64_t* tab : tabs)
      for (std::size_t k = 0; k < K; ++k) total[k] += tab[at + k];
  };
  constexpr std::size_t kChunk = 512;
  std::atomic<std::size_t> next{0};
  sh.team->run([&](unsigned) {
    for (std::size_t w = next.fetch_add(kChunk); w < W; w = next.fetch_add(kChunk))
      m_step_rows_any(K, opt.smoothing, total_of, sh.e.data(), w, std::min(W, w + kChunk));
  });
  prior_step(opt, ptotal, sh.prior);
}

double ordered_sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

// Answers of [i0, i1): codes, index ranges, and - when the tasks are
// non-decreasing there - the task offsets of the task boundaries that fall in
// the range (offset[t] = first answer of task t for every t in (task[i-1],
// task[i]]). Boundaries belong to exactly one range, so ranges write disjoint
// offsets; writes are bounds-checked because the indices are not validated yet.
struct LayoutChunk {
  bool out_of_range = false;   // some index of the range is outside its bound
  bool sorted = true;          // task ids non-decreasing (from the answer before the range)
  std::int32_t last_task = -1;  // task of the range's last answer
};
LayoutChunk layout_range(const AnswersView& a, std::size_t i0, std::size_t i1, std::uint32_t* code, std::int64_t* offset) {
  LayoutChunk r;
  const std::uint32_t L = static_cast<std::uint32_t>(a.n_labels);
  std::int32_t wlo = std::numeric_limits<std::int32_t>::max(), whi = std::numeric_limits<std::int32_t>::min();
  std::int32_t llo = wlo, lhi = whi, tlo = wlo, thi = whi;
  std::int32_t prev = i0 == 0 ? -1 : a.task[i0 - 1];
  for (std::size_t i = i0; i < i1; ++i) {
    const std::int32_t t = a.task[i], w = a.worker[i], l = a.label[i];
    tlo = std::min(tlo, t);
    thi = std::max(thi, t);
    wlo = std::min(wlo, w);
    whi = std::max(whi, w);
    llo = std::min(llo, l);
    lhi = std::max(lhi, l);
    code[i] = static_cast<std::uint32_t>(w) * L + static_cast<std::uint32_t>(l);
    if (t != prev) {
      if (t < prev) r.sorted = false;
      else if (r.sorted && t < a.n_tasks)
        for (std::int32_t u = std::max(prev, -1) + 1; u <= t; ++u) offset[u] = static_cast<std::int64_t>(i);
      prev = t;
    }
  }
  // One combined range test: lo < 0 or hi >= bound for any column.
  const bool in_range = tlo >= 0 && wlo >= 0 && llo >= 0 && thi < a.n_tasks && whi < a.n_workers && lhi < a.n_labels;
  r.out_of_range = i1 > i0 && !in_range;
  r.last_task = i1 > i0 ? a.task[i1 - 1] : -1;
  return r;
}

// Validates the indices (validate() supplies the exact message), re-codes the
// answers and groups them by task: a parallel pass that also finds task
// offsets when the input is grouped by task with non-decreasing task ids (the
// usual case), else a serial stable counting sort.
Layout build_layout(const AnswersView& a, detail::Team& team) {
  Layout c;
  c.n_tasks = a.n_tasks;
  c.n_workers = a.n_workers;
  c.n_labels = a.n_labels;
  c.task_offset.reset(static_cast<std::size_t>(a.n_tasks) + 1, util::HugeArray<std::int64_t>::kZero);
  c.code.reset(a.n + kPrefetchAhead, util::HugeArray<std::uint32_t>::kUninit);
  std::uint32_t* code = c.code.data();
  std::fill(code + a.n, code + a.n + kPrefetchAhead, 0u);
  constexpr std::size_t kChunk = std::size_t{1} << 18;
  const std::size_t n_chunks = (a.n + kChunk - 1) / kChunk;
  std::vector<LayoutChunk> parts(n_chunks);
  std::atomic<std::size_t> next{0};
  team.run([&](unsigned) {
    for (std::size_t ch = next.fetch_add(1); ch < n_chunks; ch = next.fetch_add(1))
      parts[ch] = layout_range(a, ch * kChunk, std::min(a.n, (ch + 1) * kChunk), code, c.task_offset.data());
  });
  bool sorted = true;
  std::int32_t last = -1;
  for (const LayoutChunk& p : parts) {
    if (p.out_of_range) {
      validate(a);  // throws, naming the first bad index
      throw InvalidArgument("dawid_skene: answer index out of range");  // not reached
    }
    sorted &= p.sorted;
  }
  if (a.n) last = parts.back().last_task;
  if (sorted) {  // boundaries are filled; tasks after the last answered one end at n
    for (std::int64_t u = static_cast<std::int64_t>(last) + 1; u <= a.n_tasks; ++u)
      c.task_offset[static_cast<std::size_t>(u)] = static_cast<std::int64_t>(a.n);
    return c;
  }
  // Stable counting sort: inside a task, answers keep their input order.
  std::fill(c.task_offset.begin(), c.task_offset.end(), 0);
  std::int64_t* count = c.task_offset.data() + 1;
  for (std::size_t i = 0; i < a.n; ++i) ++count[a.task[i]];
  for (std::size_t t = 0; t < static_cast<std::size_t>(a.n_tasks); ++t) c.task_offset[t + 1] += c.task_offset[t];
  util::HugeArray<std::uint32_t> moved(a.n + kPrefetchAhead, util::HugeArray<std::uint32_t>::kUninit);
  std::fill(moved.data() + a.n, moved.data() + a.n + kPrefetchAhead, 0u);
  std::vector<std::int64_t> cursor(c.task_offset.begin(), c.task_offset.end() - 1);
  for (std::size_t i = 0; i < a.n; ++i) moved[static_cast<std::size_t>(cursor[static_cast<std::size_t>(a.task[i])]++)] = code[i];
  c.code = std::move(moved);
  return c;
}

}  // namespace

Result dawid_skene(const AnswersView& a, const Options& opt) {
  detail::check_options_except_indices(a, opt);  // build_layout range-checks the indices
  const std::size_t W = static_cast<std::size_t>(a.n_workers), L = static_cast<std::size_t>(a.n_labels);
  if (a.n && static_cast<double>(W) * static_cast<double>(L) >= 4294967296.0)
    throw InvalidArgument("dawid_skene: n_workers * n_labels must be < 2^32");
  const std::size_t K = L;
  const std::size_t n_blocks = (static_cast<std::size_t>(a.n_tasks) + detail::kBlockTasks - 1) / detail::kBlockTasks;
  const std::size_t n_slots = std::max<std::size_t>(
      1, std::min<std::size_t>(detail::threads_for_buffers(opt.threads, W * L * row_words(K) * 8), n_blocks));
  detail::Team team(static_cast<unsigned>(n_slots));
  Layout c = build_layout(a, team);
  Result r = detail::make_result(a);

  Shared sh;
  sh.c = &c;
  sh.code = c.code.data();
  sh.labels = r.labels.data();
  sh.opt = &opt;
  sh.R = row_words(K);
  sh.team = &team;
  sh.slots.resize(n_slots);
  for (Slot& s : sh.slots) {
    s.tab.assign(W * L * sh.R);  // zero counts: ready for the start pass (epoch 0)
    s.prior.assign(K, 0);
  }
  sh.e.resize(W * L * K);
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
    sh.epoch = it;
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
  r.priors = sh.prior;
  r.errors.resize(W * K * L);
  r.skills.assign(W, 0.0);
  for (std::size_t w = 0; w < W; ++w)
    for (std::size_t k = 0; k < K; ++k) {
      for (std::size_t l = 0; l < L; ++l) r.errors[(w * K + k) * L + l] = sh.e[(w * L + l) * K + k];
      r.skills[w] += r.priors[k] * r.errors[(w * K + k) * L + k];
    }
  return r;
}

// ---- Sharded EM (consensus_shard.h) ----------------------------------------

static_assert(kShardTaskAlign == static_cast<std::int32_t>(detail::kBlockTasks),
              "shards must start on a block of the log-likelihood sum");

struct DawidSkeneShard::Impl {
  std::vector<std::int32_t> gold;
  Options opt;
  std::unique_ptr<detail::Team> team;
  Layout c;
  Shared sh;
  std::size_t n = 0;
  std::size_t cap = 0;     // streaming: answers the code buffer holds
  int stream_mode = 0;     // streaming: 0 start, 1 E-step, 2 posteriors

  // Points the pass state at this shard's layout and gives each of n_slots
  // threads its own count tables.
  void share(std::size_t W, std::size_t L, std::size_t n_slots) {
    sh.c = &c;
    sh.code = c.code.data();
    sh.opt = &opt;
    sh.R = row_words(L);
    sh.team = team.get();
    sh.slots.resize(n_slots);
    for (Slot& s : sh.slots) {
      s.tab.assign(W * L * sh.R);
      s.prior.assign(L, 0);
      s.epoch = -1;  // every pass refreshes the tables it uses
    }
    sh.e.assign(W * L * L, 0.0);
    sh.prior.assign(L, 0.0);
  }

  ShardStats collect(std::vector<double>* block_ll) {
    ShardStats st;
    collect_into(block_ll, st, {});
    return st;
  }
  void collect_into(std::vector<double>* block_ll, ShardStats& st, const WorkerChunkFn& per_workers) {
    const std::size_t W = static_cast<std::size_t>(c.n_workers), K = static_cast<std::size_t>(c.n_labels), R = sh.R;
    std::vector<const std::int64_t*> tabs;
    st.prior.assign(K, 0);
    for (const Slot& s : sh.slots) {
      if (s.epoch != sh.epoch) continue;  // took no block in this pass
      tabs.push_back(s.tab.data());
      for (std::size_t k = 0; k < K; ++k) st.prior[k] += s.prior[k];
    }
    // On the team, a chunk of workers per claim: a caller that iterates
    // (crowd-kit's EM) collects every pass, and the tables are megabytes.
    // Integer sums, so the chunking cannot change a bit.
    st.counts.resize(W * K * K);  // every cell is written below
    std::int64_t* out = st.counts.data();
    constexpr std::size_t kChunk = 512;
    std::atomic<std::size_t> next{0};
    team->run([&](unsigned) {
      for (std::size_t w0 = next.fetch_add(kChunk); w0 < W; w0 = next.fetch_add(kChunk)) {
        const std::size_t w1 = std::min(W, w0 + kChunk);
        for (std::size_t r = w0 * K, r1 = w1 * K; r < r1; ++r) {
          std::int64_t* o = out + r * K;
          const std::size_t at = r * R + K;
          if (tabs.size() == 2) {  // the common case (two cores): a loop the compiler vectorizes
            const std::int64_t *x = tabs[0] + at, *y = tabs[1] + at;
            for (std::size_t k = 0; k < K; ++k) o[k] = x[k] + y[k];
            continue;
          }
          for (std::size_t k = 0; k < K; ++k) {
            std::int64_t v = 0;
            for (const std::int64_t* tab : tabs) v += tab[at + k];
            o[k] = v;
          }
        }
        if (per_workers) per_workers(w0, w1);
      }
    });
    if (block_ll) st.block_ll = std::move(*block_ll);
  }
  void check(const DsParams& p) const {
    const std::size_t W = static_cast<std::size_t>(c.n_workers), K = static_cast<std::size_t>(c.n_labels);
    if (p.e.size() != W * K * K || p.prior.size() != K)
      throw InvalidArgument("dawid_skene shard: parameters must have n_workers * n_labels^2 confusion values and n_labels priors");
  }
  void set(const DsParams& p) {
    check(p);
    sh.e = p.e;
    sh.prior = p.prior;
  }
};

DawidSkeneShard::DawidSkeneShard(const AnswersView& a, std::span<const std::int32_t> gold, unsigned threads)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.gold.assign(gold.begin(), gold.end());
  m.opt.gold = m.gold;
  m.opt.threads = threads;
  detail::check_options_except_indices(a, m.opt);
  const std::size_t W = static_cast<std::size_t>(a.n_workers), L = static_cast<std::size_t>(a.n_labels);
  if (a.n && static_cast<double>(W) * static_cast<double>(L) >= 4294967296.0)
    throw InvalidArgument("dawid_skene: n_workers * n_labels must be < 2^32");
  const std::size_t n_blocks = (static_cast<std::size_t>(a.n_tasks) + detail::kBlockTasks - 1) / detail::kBlockTasks;
  const std::size_t n_slots = std::max<std::size_t>(
      1, std::min<std::size_t>(detail::threads_for_buffers(threads, W * L * row_words(L) * 8), n_blocks));
  m.team = std::make_unique<detail::Team>(static_cast<unsigned>(n_slots));
  m.c = build_layout(a, *m.team);
  m.n = a.n;
  m.share(W, L, n_slots);
}

DawidSkeneShard::~DawidSkeneShard() = default;

ShardStats DawidSkeneShard::start() {
  Impl& m = *impl_;
  ++m.sh.epoch;
  run_pass<Mode::kStart>(m.sh, nullptr, nullptr);
  return m.collect(nullptr);
}

ShardStats DawidSkeneShard::e_step(const DsParams& p) {
  DsParams copy = p;
  ShardStats st;
  e_step_swap(copy, st);
  return st;
}

void DawidSkeneShard::e_step_swap(DsParams& p, ShardStats& into, const WorkerChunkFn& per_workers, double* probas,
                                  std::int32_t* labels) {
  Impl& m = *impl_;
  m.check(p);
  if ((probas == nullptr) != (labels == nullptr))
    throw InvalidArgument("dawid_skene shard: posteriors need both the probas and the labels buffer");
  m.sh.e.swap(p.e);
  m.sh.prior = p.prior;
  ++m.sh.epoch;
  std::vector<double> block_ll = std::move(into.block_ll);
  m.sh.labels = labels;
  run_pass<Mode::kEm>(m.sh, probas, &block_ll);
  m.sh.labels = nullptr;
  m.collect_into(&block_ll, into, per_workers);
}

void DawidSkeneShard::set_posterior_floor(double floor) {
  if (!(floor >= 0 && floor < 1)) throw InvalidArgument("dawid_skene shard: posterior floor must be in [0, 1)");
  impl_->sh.floor = floor;
}

void DawidSkeneShard::posteriors_current(double* probas, std::int32_t* labels) {
  Impl& m = *impl_;
  m.sh.labels = labels;
  ++m.sh.epoch;
  run_pass<Mode::kPosteriors>(m.sh, probas, nullptr);
  m.sh.labels = nullptr;
}

void DawidSkeneShard::posteriors(const DsParams* p, double* probas, std::int32_t* labels) {
  Impl& m = *impl_;
  if (p) {
    m.set(*p);
    posteriors_current(probas, labels);
    return;
  }
  m.sh.labels = labels;
  ++m.sh.epoch;
  run_pass<Mode::kStart>(m.sh, probas, nullptr);
  m.sh.labels = nullptr;
}

DawidSkeneShard::DawidSkeneShard(std::int32_t n_workers, std::int32_t n_labels, unsigned threads)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  if (n_workers < 0 || n_labels < 1) throw InvalidArgument("dawid_skene shard: n_workers >= 0 and n_labels >= 1 required");
  const std::size_t W = static_cast<std::size_t>(n_workers), L = static_cast<std::size_t>(n_labels);
  if (static_cast<double>(W) * static_cast<double>(L) >= 4294967296.0)
    throw InvalidArgument("dawid_skene: n_workers * n_labels must be < 2^32");
  m.opt.threads = threads;
  const std::size_t n_slots = std::max<std::size_t>(1, detail::threads_for_buffers(threads, W * L * row_words(L) * 8));
  m.team = std::make_unique<detail::Team>(static_cast<unsigned>(n_slots));
  m.c.n_workers = n_workers;
  m.c.n_labels = n_labels;
  m.c.task_offset.reset(1, util::HugeArray<std::int64_t>::kZero);
  m.c.code.reset(kPrefetchAhead, util::HugeArray<std::uint32_t>::kZero);
  m.share(W, L, n_slots);
}

void DawidSkeneShard::load(std::int32_t n_tasks, std::size_t n,
                           const std::function<void(std::int64_t*, std::uint32_t*)>& fill) {
  Impl& m = *impl_;
  if (n_tasks < 0) throw InvalidArgument("dawid_skene shard: n_tasks must be >= 0");
  if (n > m.cap) {  // grows to the largest chunk, then is reused
    m.c.code.reset(n + kPrefetchAhead, util::HugeArray<std::uint32_t>::kUninit);
    m.cap = n;
  }
  m.c.n_tasks = n_tasks;
  // fill() writes every offset; like the codes, the array grows to the largest chunk.
  if (m.c.task_offset.size() < static_cast<std::size_t>(n_tasks) + 1)
    m.c.task_offset.reset(static_cast<std::size_t>(n_tasks) + 1, util::HugeArray<std::int64_t>::kUninit);
  fill(m.c.task_offset.data(), m.c.code.data());
  std::fill(m.c.code.data() + n, m.c.code.data() + n + kPrefetchAhead, 0u);
  m.sh.code = m.c.code.data();
  m.n = n;
}

void DawidSkeneShard::begin(const DsParams* p, bool posteriors) {
  Impl& m = *impl_;
  if (p) m.set(*p);
  m.stream_mode = p == nullptr ? 0 : posteriors ? 2 : 1;
  ++m.sh.epoch;
}

void DawidSkeneShard::run(std::vector<double>* block_ll, double* probas, std::int32_t* labels) {
  Impl& m = *impl_;
  m.sh.labels = labels;
  if (m.stream_mode == 0) run_pass<Mode::kStart>(m.sh, probas, nullptr);
  else if (m.stream_mode == 2) run_pass<Mode::kPosteriors>(m.sh, probas, nullptr);
  else run_pass<Mode::kEm>(m.sh, nullptr, block_ll);
  m.sh.labels = nullptr;
}

ShardStats DawidSkeneShard::end() { return impl_->collect(nullptr); }

std::int32_t DawidSkeneShard::n_tasks() const { return impl_->c.n_tasks; }
std::size_t DawidSkeneShard::n_answers() const { return impl_->n; }

DsParams dawid_skene_m_step(std::span<const std::int64_t> counts, std::span<const std::int64_t> prior,
                            std::int32_t n_workers, std::int32_t n_labels, const Options& opt) {
  const std::size_t W = static_cast<std::size_t>(n_workers), K = static_cast<std::size_t>(n_labels);
  if (n_workers < 0 || n_labels < 1 || counts.size() != W * K * K || prior.size() != K)
    throw InvalidArgument("dawid_skene_m_step: counts must be [n_workers * n_labels^2] and prior [n_labels]");
  if (!opt.class_priors.empty() && opt.class_priors.size() != K)
    throw InvalidArgument("dawid_skene_m_step: class_priors must have n_labels entries");
  DsParams p;
  p.e.resize(W * K * K);
  auto total_of = [&](std::size_t w, std::size_t l, std::int64_t* total) {
    for (std::size_t k = 0; k < K; ++k) total[k] = counts[(w * K + l) * K + k];
  };
  m_step_rows_any(K, opt.smoothing, total_of, p.e.data(), 0, W);
  prior_step(opt, std::vector<std::int64_t>(prior.begin(), prior.end()), p.prior);
  return p;
}

}  // namespace tagger::consensus
