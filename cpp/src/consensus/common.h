// Internal helpers shared by the consensus methods: validation, the task-major
// (CSR) layout of answers, deterministic reductions, and result finishing.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "tagger/consensus.h"
#include "util/det_math.h"
#include "util/parallel.h"

namespace tagger::consensus::detail {

// Posteriors are summed across threads in 64-bit fixed point: integer addition
// is associative, so the sum is bit-identical for any thread count or chunking.
// 2^30 keeps 1e-9 resolution and cannot overflow below 2^33 answers per cell.
inline constexpr double kFixScale = 1073741824.0;  // 2^30
inline std::int64_t to_fix(double p) { return static_cast<std::int64_t>(p * kFixScale + 0.5); }
inline double from_fix(std::int64_t v) { return static_cast<double>(v) / kFixScale; }

// Clip floor of probabilities before taking logs (as crowd-kit's _EPS).
inline constexpr double kProbFloor = 1e-10;

// Tasks per block for order-fixed partial sums (objective, priors).
inline constexpr std::size_t kBlockTasks = 2048;

// Answers grouped by task. When the input is already sorted by task the
// worker/label pointers borrow the caller's arrays (no copy).
struct Csr {
  std::int32_t n_tasks = 0, n_workers = 0, n_labels = 0;
  std::size_t n = 0;
  std::vector<std::int64_t> task_offset;  // [n_tasks + 1]
  const std::int32_t* worker = nullptr;   // [n] task-major
  const std::int32_t* label = nullptr;    // [n] task-major
  std::vector<std::int32_t> worker_own, label_own;
  // Optional worker index: positions (into the task-major arrays) grouped by
  // worker, ascending inside each worker; task_of[pos] is the task of a position.
  std::vector<std::int64_t> worker_offset;  // [n_workers + 1]
  std::vector<std::int64_t> by_worker;      // [n]
  std::vector<std::int32_t> task_of;        // [n]

  std::int64_t begin(std::int32_t t) const { return task_offset[t]; }
  std::int64_t end(std::int32_t t) const { return task_offset[t + 1]; }
  std::int64_t count(std::int32_t t) const { return task_offset[t + 1] - task_offset[t]; }
};

Csr build_csr(const AnswersView& a, bool with_worker_index);
void build_worker_index(Csr& c);

// Checks Options against the answers (gold range, priors shape and sign).
void check_options(const AnswersView& a, const Options& opt);
// check_options without the index-range scans of validate(), for a method that
// range-checks the indices during its own first pass over them (and calls
// validate() for the exact message when they are out of range).
void check_options_except_indices(const AnswersView& a, const Options& opt);

// Result with sizes set and probas/labels allocated.
Result make_result(const AnswersView& a);

// Asks the kernel to back the 2 MiB-aligned part of [p, p + bytes) with
// transparent huge pages (Linux madvise(MADV_HUGEPAGE); a no-op elsewhere or
// below 4 MiB). Call it before the memory is first touched: a first touch
// costs one page fault per 4 KiB page otherwise (~0.4 ms per MB measured on
// the dev box, more than the pass that writes it), and a table read at random
// needs far fewer TLB entries.
void advise_huge_pages(void* p, std::size_t bytes);

// labels[t] = argmax of probas row (ties: smallest index), -1 for tasks with no
// answers and no gold.
void finish_labels(Result& r, const Csr& c, const Options& opt);

// One-hot rows for gold tasks.
inline bool gold_of(const Options& opt, std::int32_t t, std::int32_t* g) {
  if (opt.gold.empty()) return false;
  *g = opt.gold[static_cast<std::size_t>(t)];
  return *g >= 0;
}
inline void one_hot(double* row, std::int32_t K, std::int32_t g) {
  for (std::int32_t k = 0; k < K; ++k) row[k] = 0.0;
  row[g] = 1.0;
}

// Share of each worker's answers equal to labels[task] (tasks with label -1
// are skipped); NaN for a worker with no such answer. Deterministic.
std::vector<double> agreement(const Csr& c, const std::int32_t* labels, unsigned threads);

// Per-worker sum of per-answer values (indexed by task-major position), each
// worker summed by one thread in ascending position order. Needs the worker index.
void worker_sums(const Csr& c, const double* per_answer, double* out, unsigned threads);

// Calls fn(block, begin, end) over fixed-size blocks of [0, n): the partition
// does not depend on the thread count, so per-block partials summed in block
// order are deterministic.
template <class Fn>
void for_blocks(std::size_t n, std::size_t block, unsigned threads, Fn&& fn) {
  std::size_t nb = (n + block - 1) / block;
  util::parallel_for(nb, threads, 1, [&](std::size_t b0, std::size_t b1) {
    for (std::size_t b = b0; b < b1; ++b) fn(b, b * block, std::min(n, (b + 1) * block));
  });
}

// Calls the progress hook; returns false when the caller asked to stop.
bool report(const Options& opt, std::int32_t iteration, double objective, double change);
// Whether to go on, asked inside a long iteration (IterationInfo::within): false to stop.
bool checkpoint(const Options& opt, std::int32_t iteration);

// Weighted vote over the CSR: probas = normalized weighted counts (uniform row
// if the weights sum to 0), labels by the MV tie rule, gold clamped. weights
// may be null (all 1).
void weighted_vote(const Csr& c, const double* weights, const Options& opt, Result& r);

// Fixed-point accumulator, one buffer per chunk, merged under a lock.
class FixAccumulator {
 public:
  explicit FixAccumulator(std::size_t size) : total_(size, 0) {}
  void merge(const std::vector<std::int64_t>& part) {
    std::lock_guard<std::mutex> lock(mu_);
    for (std::size_t i = 0; i < part.size(); ++i) total_[i] += part[i];
  }
  double get(std::size_t i) const { return from_fix(total_[i]); }
  std::size_t size() const { return total_.size(); }
  const std::vector<std::int64_t>& raw() const { return total_; }

 private:
  std::vector<std::int64_t> total_;
  std::mutex mu_;
};

// Threads for a pass whose per-chunk buffer is `buffer_bytes`: capped so all
// buffers together stay under 512 MiB (results do not depend on it).
unsigned threads_for_buffers(unsigned threads, std::size_t buffer_bytes);

// psi(x) for x > 0: recurrence up to x >= 6, then the asymptotic series (error < 1e-12).
inline double digamma(double x) {
  double r = 0;
  while (x < 6) {
    r -= 1 / x;
    x += 1;
  }
  const double f = 1 / (x * x);
  return r + util::det::log(x) - 0.5 / x -
         f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132)))));
}

inline double log_sigmoid(double x) {  // log(1 / (1 + e^-x)), stable
  return x >= 0 ? -util::det::log1p(util::det::exp(-x)) : x - util::det::log1p(util::det::exp(x));
}
inline double sigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + util::det::exp(-x));
  double e = util::det::exp(x);
  return e / (1.0 + e);
}

}  // namespace tagger::consensus::detail
