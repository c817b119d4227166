// Label-quality detection from a fitted Result.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "consensus/common.h"
#include "tagger/errors.h"

namespace tagger::consensus {
namespace {

// Two-sided standard normal quantile z with P(|Z| <= z) = confidence, by
// bisection on erfc (exact to ~1e-12; called once).
double normal_quantile(double confidence) {
  double lo = 0, hi = 40;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (1 - std::erfc(mid / std::sqrt(2.0)) < confidence) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

}  // namespace

Detection detect(const AnswersView& a, const Result& r, double confidence, unsigned threads) {
  validate(a);
  if (r.n_tasks != a.n_tasks || r.n_workers != a.n_workers || r.n_labels != a.n_labels ||
      r.probas.size() != static_cast<std::size_t>(a.n_tasks) * static_cast<std::size_t>(a.n_labels) ||
      r.labels.size() != static_cast<std::size_t>(a.n_tasks))
    throw InvalidArgument("detect: the result was fitted on answers of another shape");
  if (!(confidence > 0 && confidence < 1)) throw InvalidArgument("detect: confidence must be in (0, 1)");
  const std::size_t T = static_cast<std::size_t>(a.n_tasks), W = static_cast<std::size_t>(a.n_workers);
  const std::size_t K = static_cast<std::size_t>(a.n_labels);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Detection d;
  d.task_entropy.resize(T);
  d.task_margin.resize(T);
  util::parallel_for(T, threads, 1 << 13, [&](std::size_t b, std::size_t e) {
    for (std::size_t t = b; t < e; ++t) {
      const double* row = r.probas.data() + t * K;
      double h = 0, top1 = 0, top2 = 0;
      for (std::size_t k = 0; k < K; ++k) {
        if (row[k] > 0) h -= row[k] * std::log(row[k]);
        if (row[k] > top1) { top2 = top1; top1 = row[k]; }
        else if (row[k] > top2) top2 = row[k];
      }
      d.task_entropy[t] = h;
      d.task_margin[t] = top1 - top2;
    }
  });
  d.answer_error.resize(a.n);
  util::parallel_for(a.n, threads, 1 << 15, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i)
      d.answer_error[i] = 1 - r.probas[static_cast<std::size_t>(a.task[i]) * K + static_cast<std::size_t>(a.label[i])];
  });
  // Per-worker sums in input order on one thread: deterministic.
  d.worker_n_answers.assign(W, 0);
  std::vector<std::int64_t> agree(W, 0), labelled(W, 0);
  std::vector<double> acc(W, 0.0);
  for (std::size_t i = 0; i < a.n; ++i) {
    const std::size_t w = static_cast<std::size_t>(a.worker[i]);
    const std::int32_t z = r.labels[static_cast<std::size_t>(a.task[i])];
    d.worker_n_answers[w] += 1;
    acc[w] += 1 - d.answer_error[i];
    if (z >= 0) { labelled[w] += 1; agree[w] += z == a.label[i]; }
  }
  const double z = normal_quantile(confidence), z2 = z * z;
  d.worker_agreement.assign(W, nan);
  d.worker_accuracy.assign(W, nan);
  d.worker_accuracy_low.assign(W, nan);
  d.worker_accuracy_high.assign(W, nan);
  for (std::size_t w = 0; w < W; ++w) {
    if (labelled[w]) d.worker_agreement[w] = static_cast<double>(agree[w]) / static_cast<double>(labelled[w]);
    const double n = static_cast<double>(d.worker_n_answers[w]);
    if (n == 0) continue;
    const double p = std::clamp(acc[w] / n, 0.0, 1.0);
    d.worker_accuracy[w] = p;
    // Wilson score interval, treating the expected number of correct answers as the count.
    const double center = (p + z2 / (2 * n)) / (1 + z2 / n);
    const double half = z / (1 + z2 / n) * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n));
    d.worker_accuracy_low[w] = std::max(0.0, center - half);
    d.worker_accuracy_high[w] = std::min(1.0, center + half);
  }
  return d;
}

}  // namespace tagger::consensus
