#include "consensus/common.h"

#include <algorithm>
#include <limits>
#include <cstdint>
#include <string>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "tagger/errors.h"

namespace tagger::consensus {

namespace {
// Everything validate() checks except the index ranges; true when there are answers.
bool validate_shape(const AnswersView& a) {
  if (a.n_tasks < 0 || a.n_workers < 0 || a.n_labels < 0)
    throw InvalidArgument("consensus: n_tasks, n_workers and n_labels must be >= 0");
  if (a.n == 0) return false;
  if (!a.task || !a.worker || !a.label) throw InvalidArgument("consensus: answer arrays must not be null");
  if (a.n_labels < 1) throw InvalidArgument("consensus: n_labels must be >= 1 when there are answers");
  return true;
}
}  // namespace

void validate(const AnswersView& a) {
  if (!validate_shape(a)) return;
  auto check = [&](const std::int32_t* v, std::int32_t bound, const char* what) {
    // A branch-free min/max pass, then a second pass only to locate the culprit.
    std::int32_t lo = std::numeric_limits<std::int32_t>::max(), hi = std::numeric_limits<std::int32_t>::min();
    for (std::size_t i = 0; i < a.n; ++i) { lo = std::min(lo, v[i]); hi = std::max(hi, v[i]); }
    if (lo >= 0 && hi < bound) return;
    for (std::size_t i = 0; i < a.n; ++i)
      if (v[i] < 0 || v[i] >= bound)
        throw InvalidArgument(std::string("consensus: ") + what + " index " + std::to_string(v[i]) + " at answer " +
                              std::to_string(i) + " is outside [0, " + std::to_string(bound) + ")");
  };
  check(a.task, a.n_tasks, "task");
  check(a.worker, a.n_workers, "worker");
  check(a.label, a.n_labels, "label");
}

void validate(const ContinuousView& a) {
  if (a.n_tasks < 0 || a.n_workers < 0) throw InvalidArgument("consensus: n_tasks and n_workers must be >= 0");
  if (a.n == 0) return;
  if (!a.task || !a.worker || !a.value) throw InvalidArgument("consensus: answer arrays must not be null");
  for (std::size_t i = 0; i < a.n; ++i) {
    if (a.task[i] < 0 || a.task[i] >= a.n_tasks)
      throw InvalidArgument("consensus: task index " + std::to_string(a.task[i]) + " at answer " + std::to_string(i) +
                            " is outside [0, " + std::to_string(a.n_tasks) + ")");
    if (a.worker[i] < 0 || a.worker[i] >= a.n_workers)
      throw InvalidArgument("consensus: worker index " + std::to_string(a.worker[i]) + " at answer " +
                            std::to_string(i) + " is outside [0, " + std::to_string(a.n_workers) + ")");
    if (!std::isfinite(a.value[i]))
      throw InvalidArgument("consensus: value at answer " + std::to_string(i) + " is not finite");
  }
}

namespace detail {

void check_options(const AnswersView& a, const Options& opt) {
  validate(a);
  check_options_except_indices(a, opt);
}

void check_options_except_indices(const AnswersView& a, const Options& opt) {
  validate_shape(a);
  if (opt.n_iter < 0) throw InvalidArgument("consensus: n_iter must be >= 0");
  if (!(opt.tol >= 0)) throw InvalidArgument("consensus: tol must be >= 0");
  if (!(opt.smoothing >= 0) || !std::isfinite(opt.smoothing)) throw InvalidArgument("consensus: smoothing must be finite and >= 0");
  if (!opt.gold.empty()) {
    if (opt.gold.size() != static_cast<std::size_t>(a.n_tasks))
      throw InvalidArgument("consensus: gold has " + std::to_string(opt.gold.size()) + " entries, expected n_tasks = " +
                            std::to_string(a.n_tasks));
    for (std::size_t t = 0; t < opt.gold.size(); ++t)
      if (opt.gold[t] < -1 || opt.gold[t] >= a.n_labels)
        throw InvalidArgument("consensus: gold label " + std::to_string(opt.gold[t]) + " of task " + std::to_string(t) +
                              " is outside the label set [0, " + std::to_string(a.n_labels) + ") (-1 = no gold)");
  }
  if (!opt.class_priors.empty()) {
    if (opt.class_priors.size() != static_cast<std::size_t>(a.n_labels))
      throw InvalidArgument("consensus: class_priors has " + std::to_string(opt.class_priors.size()) +
                            " entries, expected n_labels = " + std::to_string(a.n_labels));
    for (double p : opt.class_priors)
      if (!(p > 0) || !std::isfinite(p)) throw InvalidArgument("consensus: class_priors must be finite and > 0");
  }
}

Csr build_csr(const AnswersView& a, bool with_worker_index) {
  Csr c;
  c.n_tasks = a.n_tasks;
  c.n_workers = a.n_workers;
  c.n_labels = a.n_labels;
  c.n = a.n;
  c.task_offset.assign(static_cast<std::size_t>(a.n_tasks) + 1, 0);
  bool sorted = true;
  for (std::size_t i = 0; i < a.n; ++i) {
    ++c.task_offset[static_cast<std::size_t>(a.task[i]) + 1];
    if (i && a.task[i] < a.task[i - 1]) sorted = false;
  }
  for (std::size_t t = 0; t < static_cast<std::size_t>(a.n_tasks); ++t) c.task_offset[t + 1] += c.task_offset[t];
  if (sorted) {
    c.worker = a.worker;
    c.label = a.label;
  } else {
    // Stable counting sort: inside a task, answers keep their input order.
    c.worker_own.resize(a.n);
    c.label_own.resize(a.n);
    std::vector<std::int64_t> cursor(c.task_offset.begin(), c.task_offset.end() - 1);
    for (std::size_t i = 0; i < a.n; ++i) {
      std::int64_t p = cursor[static_cast<std::size_t>(a.task[i])]++;
      c.worker_own[p] = a.worker[i];
      c.label_own[p] = a.label[i];
    }
    c.worker = c.worker_own.data();
    c.label = c.label_own.data();
  }
  if (with_worker_index) build_worker_index(c);
  return c;
}

void build_worker_index(Csr& c) {
  if (!c.by_worker.empty() || c.n == 0) {
    if (c.worker_offset.empty()) c.worker_offset.assign(static_cast<std::size_t>(c.n_workers) + 1, 0);
    return;
  }
  c.worker_offset.assign(static_cast<std::size_t>(c.n_workers) + 1, 0);
  for (std::size_t p = 0; p < c.n; ++p) ++c.worker_offset[static_cast<std::size_t>(c.worker[p]) + 1];
  for (std::size_t w = 0; w < static_cast<std::size_t>(c.n_workers); ++w) c.worker_offset[w + 1] += c.worker_offset[w];
  c.by_worker.resize(c.n);
  c.task_of.resize(c.n);
  std::vector<std::int64_t> cursor(c.worker_offset.begin(), c.worker_offset.end() - 1);
  for (std::int32_t t = 0; t < c.n_tasks; ++t)
    for (std::int64_t p = c.begin(t); p < c.end(t); ++p) {
      c.task_of[p] = t;
      c.by_worker[cursor[static_cast<std::size_t>(c.worker[p])]++] = p;
    }
}

void advise_huge_pages(void* p, std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr std::uintptr_t kHuge = std::uintptr_t{2} << 20;
  if (bytes < 2 * kHuge) return;
  const auto begin = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t lo = (begin + kHuge - 1) & ~(kHuge - 1), hi = (begin + bytes) & ~(kHuge - 1);
  if (hi > lo) (void)madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);  // advice only: failure is harmless
#else
  (void)p;
  (void)bytes;
#endif
}

Result make_result(const AnswersView& a) {
  Result r;
  r.n_tasks = a.n_tasks;
  r.n_workers = a.n_workers;
  r.n_labels = a.n_labels;
  const std::size_t nt = static_cast<std::size_t>(a.n_tasks), cells = nt * static_cast<std::size_t>(a.n_labels);
  // reserve() allocates without touching; assign() within the capacity then
  // fills in place, after the advice.
  r.probas.reserve(cells);
  advise_huge_pages(r.probas.data(), cells * sizeof(double));
  r.probas.assign(cells, 0.0);
  r.labels.reserve(nt);
  advise_huge_pages(r.labels.data(), nt * sizeof(std::int32_t));
  r.labels.assign(nt, -1);
  return r;
}

void finish_labels(Result& r, const Csr& c, const Options& opt) {
  const std::int32_t K = r.n_labels;
  util::parallel_for(static_cast<std::size_t>(r.n_tasks), opt.threads, 1 << 14, [&](std::size_t b, std::size_t e) {
    for (std::size_t t = b; t < e; ++t) {
      std::int32_t g = -1;
      const double* row = r.probas.data() + t * K;
      if (gold_of(opt, static_cast<std::int32_t>(t), &g)) {
        r.labels[t] = g;
      } else if (c.count(static_cast<std::int32_t>(t)) == 0) {
        r.labels[t] = -1;
      } else {
        std::int32_t best = 0;
        for (std::int32_t k = 1; k < K; ++k)
          if (row[k] > row[best]) best = k;  // strict: ties keep the smaller index
        r.labels[t] = best;
      }
    }
  });
}

std::vector<double> agreement(const Csr& c, const std::int32_t* labels, unsigned threads) {
  std::vector<double> hit(c.n);
  util::parallel_for(static_cast<std::size_t>(c.n_tasks), threads, 1 << 12, [&](std::size_t b, std::size_t e) {
    for (std::size_t t = b; t < e; ++t)
      for (std::int64_t p = c.task_offset[t]; p < c.task_offset[t + 1]; ++p)
        hit[p] = labels[t] < 0 ? std::numeric_limits<double>::quiet_NaN() : (c.label[p] == labels[t] ? 1.0 : 0.0);
  });
  // Counts of 0/1 are exact in double, so any order would do; NaN marks skipped answers.
  std::vector<double> out(static_cast<std::size_t>(c.n_workers), std::numeric_limits<double>::quiet_NaN());
  std::vector<std::int64_t> num(static_cast<std::size_t>(c.n_workers), 0), den(static_cast<std::size_t>(c.n_workers), 0);
  for (std::size_t p = 0; p < c.n; ++p) {
    if (std::isnan(hit[p])) continue;
    auto w = static_cast<std::size_t>(c.worker[p]);
    den[w] += 1;
    num[w] += hit[p] > 0.5;
  }
  for (std::size_t w = 0; w < out.size(); ++w)
    if (den[w]) out[w] = static_cast<double>(num[w]) / static_cast<double>(den[w]);
  return out;
}

void worker_sums(const Csr& c, const double* per_answer, double* out, unsigned threads) {
  util::parallel_for(static_cast<std::size_t>(c.n_workers), threads, 256, [&](std::size_t b, std::size_t e) {
    for (std::size_t w = b; w < e; ++w) {
      double s = 0;
      for (std::int64_t i = c.worker_offset[w]; i < c.worker_offset[w + 1]; ++i) s += per_answer[c.by_worker[i]];
      out[w] = s;
    }
  });
}

bool report(const Options& opt, std::int32_t iteration, double objective, double change) {
  if (!opt.on_iteration) return true;
  return opt.on_iteration(IterationInfo{iteration, opt.n_iter, objective, change});
}

bool checkpoint(const Options& opt, std::int32_t iteration) {
  if (!opt.on_iteration) return true;
  IterationInfo info{iteration, opt.n_iter, 0.0, 0.0};
  info.within = true;
  return opt.on_iteration(info);
}

void weighted_vote(const Csr& c, const double* weights, const Options& opt, Result& r) {
  const std::int32_t K = c.n_labels;
  util::parallel_for(static_cast<std::size_t>(c.n_tasks), opt.threads, 1 << 12, [&](std::size_t b, std::size_t e) {
    for (std::size_t t = b; t < e; ++t) {
      double* row = r.probas.data() + t * K;
      std::int32_t g = -1;
      if (gold_of(opt, static_cast<std::int32_t>(t), &g)) { one_hot(row, K, g); continue; }
      double total = 0;
      for (std::int64_t p = c.task_offset[t]; p < c.task_offset[t + 1]; ++p) {
        double wgt = weights ? weights[c.worker[p]] : 1.0;
        row[c.label[p]] += wgt;
        total += wgt;
      }
      if (total > 0) {
        for (std::int32_t k = 0; k < K; ++k) row[k] /= total;
      } else {
        for (std::int32_t k = 0; k < K; ++k) row[k] = 1.0 / K;
      }
    }
  });
  finish_labels(r, c, opt);
}

unsigned threads_for_buffers(unsigned threads, std::size_t buffer_bytes) {
  unsigned t = util::resolve_threads(threads);
  constexpr std::size_t kBudget = std::size_t{512} << 20;
  std::size_t cap = std::max<std::size_t>(1, kBudget / std::max<std::size_t>(1, buffer_bytes));
  return static_cast<unsigned>(std::min<std::size_t>(t, cap));
}

}  // namespace detail
}  // namespace tagger::consensus
