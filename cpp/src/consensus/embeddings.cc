// Embedding aggregation: the RASA / HRRASA reliability iteration (global
// worker reliabilities from chi-squared priors over squared distances to the
// weighted task means) and per-answer distances to a task's reference vector
// (ClosestToAverage's scores), on an [n, dim] row-major matrix.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "tagger/consensus_families.h"
#include "tagger/errors.h"

namespace tagger::consensus {
namespace {

void check_rows(std::span<const double> emb, std::int64_t dim, std::span<const std::int32_t> task, std::int32_t n_tasks,
                const char* who) {
  if (dim < 1) throw InvalidArgument(std::string(who) + ": embeddings need dim >= 1");
  if (emb.size() != task.size() * static_cast<std::size_t>(dim))
    throw InvalidArgument(std::string(who) + ": embeddings must be an [n_answers, dim] matrix");
  for (std::size_t k = 0; k < task.size(); ++k)
    if (task[k] < 0 || task[k] >= n_tasks) throw InvalidArgument(std::string(who) + ": task code out of range at row " + std::to_string(k));
}

}  // namespace

EmbeddingRasaResult embeddings_rasa(std::span<const double> emb, std::int64_t dim, std::span<const std::int32_t> task,
                                    std::span<const std::int32_t> worker, std::int32_t n_tasks, std::int32_t n_workers,
                                    std::span<const double> prior, std::span<const double> answer_weight,
                                    std::span<const double> mean_weight, std::span<const double> fixed,
                                    std::span<const std::uint8_t> fixed_mask, std::int32_t n_iter, double tol) {
  check_rows(emb, dim, task, n_tasks, "rasa");
  const std::size_t n = task.size(), D = static_cast<std::size_t>(dim), T = static_cast<std::size_t>(n_tasks),
                    W = static_cast<std::size_t>(n_workers);
  if (worker.size() != n) throw InvalidArgument("rasa: worker must have one code per answer");
  for (std::size_t k = 0; k < n; ++k)
    if (worker[k] < 0 || worker[k] >= n_workers) throw InvalidArgument("rasa: worker code out of range at row " + std::to_string(k));
  if (prior.size() != W) throw InvalidArgument("rasa: prior must have one value per worker");
  if (!answer_weight.empty() && answer_weight.size() != n) throw InvalidArgument("rasa: answer_weight must have one value per answer");
  if (!mean_weight.empty() && mean_weight.size() != n) throw InvalidArgument("rasa: mean_weight must have one value per answer");
  if (!fixed_mask.empty() && (fixed_mask.size() != T || fixed.size() != T * D))
    throw InvalidArgument("rasa: true embeddings must be an [n_tasks, dim] matrix with a mask per task");
  if (n_iter < 0) throw InvalidArgument("rasa: n_iter must be >= 0");
  EmbeddingRasaResult r;
  std::vector<double> skills(W, 1.0), agg(T * D), last, wsum(T), dist(W);
  auto aw = [&](std::size_t k) { return answer_weight.empty() ? 1.0 : answer_weight[k]; };
  auto aggregate = [&] {
    std::fill(agg.begin(), agg.end(), 0.0);
    std::fill(wsum.begin(), wsum.end(), 0.0);
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t t = static_cast<std::size_t>(task[k]);
      const double w = skills[static_cast<std::size_t>(worker[k])] * aw(k) * (mean_weight.empty() ? 1.0 : mean_weight[k]);
      // crowd-kit sums with pandas: a NaN weight (HRRASA's local skill of a zero embedding)
      // is skipped in the weight total but poisons its own task's weighted sum; other
      // tasks are untouched.
      if (!std::isnan(w)) wsum[t] += w;
      for (std::size_t d = 0; d < D; ++d) agg[t * D + d] += w * emb[k * D + d];
    }
    for (std::size_t t = 0; t < T; ++t) {
      if (!fixed_mask.empty() && fixed_mask[t]) {
        std::copy(fixed.begin() + static_cast<std::ptrdiff_t>(t * D), fixed.begin() + static_cast<std::ptrdiff_t>((t + 1) * D),
                  agg.begin() + static_cast<std::ptrdiff_t>(t * D));
        continue;
      }
      for (std::size_t d = 0; d < D; ++d) agg[t * D + d] /= wsum[t];
    }
  };
  auto update_skills = [&] {
    std::fill(dist.begin(), dist.end(), 0.0);
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t t = static_cast<std::size_t>(task[k]);
      double s = 0;
      for (std::size_t d = 0; d < D; ++d) { const double e = emb[k * D + d] - agg[t * D + d]; s += e * e; }
      // pandas' groupby sum skips NaN distances (answers of a task whose aggregate is NaN),
      // so one degenerate task does not turn every skill, and then every task, into NaN.
      const double term = s / aw(k);
      if (!std::isnan(term)) dist[static_cast<std::size_t>(worker[k])] += term;
    }
    for (std::size_t w = 0; w < W; ++w) skills[w] = prior[w] / std::max(dist[w], 1e-5);
  };
  for (std::int32_t it = 0; it < n_iter; ++it) {
    aggregate();
    update_skills();
    r.n_iter = it + 1;
    if (!last.empty()) {
      double num = 0, den = 0;
      for (std::size_t i = 0; i < agg.size(); ++i) { const double e = agg[i] - last[i]; num += e * e; den += agg[i] * agg[i]; }
      const double loss = num / den;
      r.loss_history.push_back(loss);
      if (loss < tol) break;
    }
    last = agg;
  }
  if (n_iter == 0) aggregate();
  r.aggregated = std::move(agg);
  r.skills = std::move(skills);
  return r;
}

std::vector<double> embedding_distances(std::span<const double> emb, std::int64_t dim, std::span<const std::int32_t> task,
                                        std::span<const double> reference, std::int32_t n_tasks, int metric) {
  check_rows(emb, dim, task, n_tasks, "embedding_distances");
  const std::size_t D = static_cast<std::size_t>(dim);
  if (reference.size() != static_cast<std::size_t>(n_tasks) * D)
    throw InvalidArgument("embedding_distances: reference must be an [n_tasks, dim] matrix");
  if (metric < 0 || metric > 2) throw InvalidArgument("embedding_distances: metric must be 0 (cosine), 1 (euclidean) or 2 (sqeuclidean)");
  std::vector<double> out(task.size());
  for (std::size_t k = 0; k < task.size(); ++k) {
    const double* a = emb.data() + k * D;
    const double* b = reference.data() + static_cast<std::size_t>(task[k]) * D;
    if (metric == 0) {
      double ab = 0, aa = 0, bb = 0;
      bool a_any = false, b_any = false;
      for (std::size_t d = 0; d < D; ++d) {
        ab += a[d] * b[d]; aa += a[d] * a[d]; bb += b[d] * b[d];
        a_any |= a[d] != 0; b_any |= b[d] != 0;
      }
      // crowd-kit: an all-zero vector is infinitely far; scipy clips 1 - cos to [0, 2].
      out[k] = (!a_any || !b_any) ? std::numeric_limits<double>::infinity()
                                  : std::clamp(1.0 - ab / std::sqrt(aa * bb), 0.0, 2.0);
    } else {
      double s = 0;
      for (std::size_t d = 0; d < D; ++d) { const double e = a[d] - b[d]; s += e * e; }
      out[k] = metric == 1 ? std::sqrt(s) : s;
    }
  }
  return out;
}

}  // namespace tagger::consensus
