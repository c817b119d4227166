// CROWDLAB (Goh, Tkachenko & Mueller, "CROWDLAB: Supervised learning to infer
// consensus labels and quality scores for data with multiple annotators",
// NeurIPS 2022 HCML workshop; cleanlab.multiannotator). A classifier's
// predicted probabilities join the annotators as one more voter:
//
//   P(z_t = k) ∝ w_M · p_M(k | t) + Σ_{answers j of t} w_{a_j} · L(k, y_j),
//   L(k, y) = P if y == k else (1 - P) / (K - 1),
//
// P = mean agreement among annotators on tasks with >= 2 answers;
// w_a = max(1 - err_a / err_0, eps), err_a = 1 - agreement of annotator a with
// the other annotators of its tasks, err_0 = 1 - share of the most common
// consensus class (the error of always guessing it);
// w_M = max(1 - err_M / err_0, eps) · sqrt(mean answers per task), err_M the
// model's disagreement with the initial majority-vote consensus (ties broken
// by the model).
#include <algorithm>
#include <cmath>
#include <string>

#include "consensus/common.h"
#include "tagger/errors.h"
#include "util/parallel.h"

namespace tagger::consensus {

namespace {

constexpr double kEps = 1e-6;  // cleanlab's CLIPPING_LOWER_BOUND

// What the ensemble takes from a consensus: the mean agreement P with it, and the weights.
struct Weights {
  double likelihood = 0, model_weight = 0;
  std::vector<double> annotator;
  std::vector<double> class_share;  // [K] of the consensus over every task (the priors)
};

std::size_t model_top(std::span<const double> model_probas, std::size_t t, std::size_t K) {
  std::size_t m_best = 0;
  for (std::size_t k = 1; k < K; ++k)
    if (model_probas[t * K + k] > model_probas[t * K + m_best]) m_best = k;
  return m_best;
}

// Agreement statistics against `consensus` (integer counts: exact, order-free).
// As cleanlab: the errors of the most common class and of the model are taken over the
// tasks with 2 or more answers (its mask num_annotations != 1), and an annotator's agreement
// with the others is their mean over its tasks weighted by (answers - 1); over every task and
// unweighted, the weights parted from cleanlab's wherever tasks had different answer counts.
// (With no such task, every task counts: cleanlab's numbers are undefined there.)
Weights weights_for(const detail::Csr& c, std::span<const double> model_probas, const std::vector<std::int32_t>& consensus,
                    std::size_t T, std::size_t W, std::size_t K) {
  std::vector<double> votes(K);
  double agree_sum = 0;
  std::int64_t multi_tasks = 0, answers_total = 0, answered_tasks = 0;
  std::vector<double> ann_num(W, 0.0);
  std::vector<std::int64_t> ann_den(W, 0);
  std::vector<std::int64_t> class_count(K, 0), class_count_multi(K, 0);
  std::int64_t model_wrong = 0, model_wrong_multi = 0;
  for (std::size_t t = 0; t < T; ++t) {
    const std::int64_t n_t = c.count(static_cast<std::int32_t>(t));
    class_count[consensus[t]] += 1;
    const bool model_is_wrong = static_cast<std::int32_t>(model_top(model_probas, t, K)) != consensus[t];
    model_wrong += model_is_wrong;
    if (n_t == 0) continue;
    answered_tasks += 1;
    answers_total += n_t;
    std::fill(votes.begin(), votes.end(), 0.0);
    for (std::int64_t p = c.task_offset[t]; p < c.task_offset[t + 1]; ++p) votes[c.label[p]] += 1;
    if (n_t < 2) continue;
    multi_tasks += 1;
    class_count_multi[consensus[t]] += 1;
    model_wrong_multi += model_is_wrong;
    agree_sum += votes[consensus[t]] / static_cast<double>(n_t);
    for (std::int64_t p = c.task_offset[t]; p < c.task_offset[t + 1]; ++p) {
      ann_num[c.worker[p]] += votes[c.label[p]] - 1;  // = its agreement (votes - 1) / (n - 1), times n - 1
      ann_den[c.worker[p]] += n_t - 1;
    }
  }
  Weights out;
  out.likelihood = multi_tasks ? agree_sum / static_cast<double>(multi_tasks) : 1.0 / static_cast<double>(K);
  const auto& counted = multi_tasks ? class_count_multi : class_count;
  const double n_counted = static_cast<double>(multi_tasks ? multi_tasks : static_cast<std::int64_t>(T));
  const std::int64_t top = *std::max_element(counted.begin(), counted.end());
  const double err0 = std::max(1.0 - static_cast<double>(top) / n_counted, kEps);
  const double err_model = static_cast<double>(multi_tasks ? model_wrong_multi : model_wrong) / n_counted;
  const double mean_answers = answered_tasks ? static_cast<double>(answers_total) / static_cast<double>(answered_tasks) : 0.0;
  out.model_weight = std::max(1 - err_model / err0, kEps) * std::sqrt(std::max(mean_answers, 1.0));
  out.annotator.resize(W);
  double mean_agree = 0;
  std::int64_t n_rated = 0;
  for (std::size_t w = 0; w < W; ++w)
    if (ann_den[w]) { mean_agree += ann_num[w] / static_cast<double>(ann_den[w]); ++n_rated; }
  mean_agree = n_rated ? mean_agree / static_cast<double>(n_rated) : out.likelihood;
  for (std::size_t w = 0; w < W; ++w) {
    // An annotator never seen beside another gets the mean agreement.
    const double agree = ann_den[w] ? ann_num[w] / static_cast<double>(ann_den[w]) : mean_agree;
    out.annotator[w] = std::max(1 - (1 - agree) / err0, kEps);
  }
  out.class_share.resize(K);
  for (std::size_t k = 0; k < K; ++k) out.class_share[k] = static_cast<double>(class_count[k]) / static_cast<double>(T);
  return out;
}

// The weighted ensemble into probas [T * K] (gold tasks one-hot).
void ensemble(const detail::Csr& c, std::span<const double> model_probas, const Weights& wt, const Options& opt,
              std::size_t T, std::size_t K, std::vector<double>& probas) {
  const double off = K > 1 ? (1 - wt.likelihood) / static_cast<double>(K - 1) : 0.0;
  util::parallel_for(T, opt.threads, 1 << 12, [&](std::size_t b, std::size_t e) {
    for (std::size_t t = b; t < e; ++t) {
      double* row = probas.data() + t * K;
      std::int32_t g = -1;
      if (detail::gold_of(opt, static_cast<std::int32_t>(t), &g)) { detail::one_hot(row, static_cast<std::int32_t>(K), g); continue; }
      double total = wt.model_weight;
      for (std::size_t k = 0; k < K; ++k) row[k] = wt.model_weight * model_probas[t * K + k];
      for (std::int64_t p = c.task_offset[t]; p < c.task_offset[t + 1]; ++p) {
        const double wgt = wt.annotator[c.worker[p]];
        total += wgt;
        for (std::size_t k = 0; k < K; ++k) row[k] += wgt * (static_cast<std::int32_t>(k) == c.label[p] ? wt.likelihood : off);
      }
      for (std::size_t k = 0; k < K; ++k) row[k] /= total;
    }
  });
}

}  // namespace

Result crowdlab(const AnswersView& a, std::span<const double> model_probas, const Options& opt, CrowdlabConsensus method) {
  detail::check_options(a, opt);
  const std::size_t T = static_cast<std::size_t>(a.n_tasks), W = static_cast<std::size_t>(a.n_workers);
  const std::size_t K = static_cast<std::size_t>(a.n_labels);
  if (model_probas.size() != T * K)
    throw InvalidArgument("crowdlab: model_probas has " + std::to_string(model_probas.size()) + " values, expected n_tasks * n_labels = " +
                          std::to_string(T * K));
  for (std::size_t t = 0; t < T; ++t) {
    double s = 0;
    for (std::size_t k = 0; k < K; ++k) {
      const double p = model_probas[t * K + k];
      if (!(p >= 0) || !std::isfinite(p)) throw InvalidArgument("crowdlab: model probability of task " + std::to_string(t) + " is negative or not finite");
      s += p;
    }
    if (std::abs(s - 1) > 1e-3) throw InvalidArgument("crowdlab: model probabilities of task " + std::to_string(t) + " sum to " + std::to_string(s) + ", not 1");
  }
  detail::Csr c = detail::build_csr(a, false);
  Result r = detail::make_result(a);
  if (T == 0) { r.converged = true; return r; }

  // 1. Majority-vote consensus with cleanlab's tie-breaks (get_majority_vote_label): the
  //    labels the model gives the highest probability; then the label least given over all the
  //    answers; then the label whose annotators agree most with the consensus of the untied
  //    tasks; then (cleanlab: at random) the smallest index.
  std::vector<std::int32_t> consensus(T, -1);
  std::vector<double> votes(K), class_freq(K, 0.0);
  for (std::size_t p = 0; p < c.n; ++p) class_freq[static_cast<std::size_t>(c.label[p])] += 1;
  std::vector<std::vector<std::int32_t>> tied(T);
  std::vector<std::uint8_t> untied(T, 0);  // one label has the most votes (before any tie-break)
  auto keep_best = [](std::vector<std::int32_t>& cand, auto&& score, bool highest) {
    double best = score(cand[0]);
    for (auto k : cand) best = highest ? std::max(best, score(k)) : std::min(best, score(k));
    std::erase_if(cand, [&](std::int32_t k) { return score(k) != best; });
  };
  for (std::size_t t = 0; t < T; ++t) {
    std::int32_t g = -1;
    if (detail::gold_of(opt, static_cast<std::int32_t>(t), &g)) { consensus[t] = g; continue; }
    std::fill(votes.begin(), votes.end(), 0.0);
    for (std::int64_t p = c.task_offset[t]; p < c.task_offset[t + 1]; ++p) votes[c.label[p]] += 1;
    const double top = *std::max_element(votes.begin(), votes.end());
    std::vector<std::int32_t> cand;
    for (std::size_t k = 0; k < K; ++k)
      if (votes[k] == top) cand.push_back(static_cast<std::int32_t>(k));
    untied[t] = cand.size() == 1;
    if (cand.size() > 1) keep_best(cand, [&](std::int32_t k) { return model_probas[t * K + static_cast<std::size_t>(k)]; }, true);
    if (cand.size() > 1) keep_best(cand, [&](std::int32_t k) { return class_freq[static_cast<std::size_t>(k)]; }, false);
    consensus[t] = cand[0];
    if (cand.size() > 1) tied[t] = std::move(cand);
  }
  bool any_tied = false;
  for (const auto& cand : tied) any_tied |= !cand.empty();
  if (any_tied) {
    // Each annotator's agreement with the consensus of the untied tasks (the mean over the
    // annotators that have some for those without).
    std::vector<double> agree_num(W, 0.0), agree_den(W, 0.0);
    for (std::size_t t = 0; t < T; ++t)
      if (untied[t])
        for (std::int64_t p = c.task_offset[t]; p < c.task_offset[t + 1]; ++p) {
          agree_den[c.worker[p]] += 1;
          agree_num[c.worker[p]] += c.label[p] == consensus[t];
        }
    double mean = 0;
    std::size_t rated = 0;
    for (std::size_t w = 0; w < W; ++w)
      if (agree_den[w] > 0) { mean += agree_num[w] / agree_den[w]; ++rated; }
    mean = rated ? mean / static_cast<double>(rated) : 0.0;
    std::vector<double> agreement(W);
    for (std::size_t w = 0; w < W; ++w) agreement[w] = agree_den[w] > 0 ? agree_num[w] / agree_den[w] : mean;
    for (std::size_t t = 0; t < T; ++t) {
      auto& cand = tied[t];
      if (cand.empty()) continue;
      keep_best(cand, [&](std::int32_t k) {
        double sum = 0, n = 0;
        for (std::int64_t p = c.task_offset[t]; p < c.task_offset[t + 1]; ++p)
          if (c.label[p] == k) { sum += agreement[c.worker[p]]; n += 1; }
        return n > 0 ? sum / n : -1.0;
      }, true);
      consensus[t] = cand[0];
    }
  }
  // 2. Weights against that consensus, 3. the ensemble.
  Weights wt = weights_for(c, model_probas, consensus, T, W, K);
  ensemble(c, model_probas, wt, opt, T, K, r.probas);
  // Labels: the ensemble's argmax, a tie going to the majority vote (cleanlab's best_quality
  // consensus; every task has the model's vote, so none is left unlabelled).
  for (std::size_t t = 0; t < T; ++t) {
    std::int32_t g = -1;
    if (detail::gold_of(opt, static_cast<std::int32_t>(t), &g)) { r.labels[t] = g; continue; }
    const double* row = r.probas.data() + t * K;
    std::size_t best = 0, n_best = 1;
    for (std::size_t k = 1; k < K; ++k) {
      if (row[k] > row[best]) { best = k; n_best = 1; }
      else if (row[k] == row[best]) ++n_best;
    }
    r.labels[t] = n_best == 1 ? static_cast<std::int32_t>(best) : consensus[t];
  }
  if (method == CrowdlabConsensus::kBestQuality) {
    // cleanlab's default: the weights and the ensemble once more, against those labels.
    wt = weights_for(c, model_probas, r.labels, T, W, K);
    ensemble(c, model_probas, wt, opt, T, K, r.probas);
  } else {
    for (std::size_t t = 0; t < T; ++t) r.labels[t] = consensus[t];  // cleanlab's majority_vote consensus
  }
  r.model_weight = wt.model_weight;
  r.skills = std::move(wt.annotator);
  r.priors = std::move(wt.class_share);
  r.converged = true;
  return r;
}

}  // namespace tagger::consensus
