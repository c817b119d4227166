// Payment mechanisms over categorical answers. Each is a single pass over the
// answers grouped by task (an O(n) counting sort builds the grouping), with
// per-worker sums accumulated in task order so results are deterministic.
// Formulas and sources: docs/rewards.md.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "tagger/errors.h"
#include "tagger/sim.h"
#include "util/det_math.h"

namespace tagger::sim {
namespace {

void check_view(const AnswersView& a) {
  if (a.n_tasks < 0 || a.n_workers < 0) throw InvalidArgument("n_tasks and n_workers must be >= 0");
  if (a.n_labels < 1) throw InvalidArgument("n_labels must be >= 1, got " + std::to_string(a.n_labels));
  if (a.n > 0 && (!a.task || !a.worker || !a.label)) throw InvalidArgument("answer arrays must not be null");
  for (std::size_t i = 0; i < a.n; ++i) {
    if (a.task[i] < 0 || a.task[i] >= a.n_tasks)
      throw InvalidArgument("answer " + std::to_string(i) + ": task " + std::to_string(a.task[i]) +
                            " out of range [0, " + std::to_string(a.n_tasks) + ")");
    if (a.worker[i] < 0 || a.worker[i] >= a.n_workers)
      throw InvalidArgument("answer " + std::to_string(i) + ": worker " + std::to_string(a.worker[i]) +
                            " out of range [0, " + std::to_string(a.n_workers) + ")");
    if (a.label[i] < 0 || a.label[i] >= a.n_labels)
      throw InvalidArgument("answer " + std::to_string(i) + ": label " + std::to_string(a.label[i]) +
                            " out of range [0, " + std::to_string(a.n_labels) + ")");
  }
}

void check_size(std::size_t got, std::size_t want, const char* what) {
  if (got != want)
    throw InvalidArgument(std::string(what) + " has " + std::to_string(got) + " values, expected " + std::to_string(want));
}

void check_matrix(std::span<const double> m, std::size_t L, const char* what, bool stochastic) {
  check_size(m.size(), L * L, what);
  for (std::size_t i = 0; i < L; ++i) {
    double s = 0;
    for (std::size_t j = 0; j < L; ++j) {
      double v = m[i * L + j];
      if (!std::isfinite(v)) throw InvalidArgument(std::string(what) + " has a non-finite entry");
      if (stochastic && v < 0) throw InvalidArgument(std::string(what) + " has a negative entry");
      s += v;
    }
    if (stochastic && std::abs(s - 1.0) > 1e-6)
      throw InvalidArgument(std::string(what) + " row " + std::to_string(i) + " sums to " + std::to_string(s) + ", not 1");
  }
}

// Answers grouped by task: order[offset[t] .. offset[t+1]) are task t's answers
// in their input order (a stable counting sort).
struct ByTask {
  std::vector<std::size_t> offset, order;
  explicit ByTask(const AnswersView& a) : offset(static_cast<std::size_t>(a.n_tasks) + 1, 0), order(a.n) {
    for (std::size_t i = 0; i < a.n; ++i) ++offset[static_cast<std::size_t>(a.task[i]) + 1];
    std::partial_sum(offset.begin(), offset.end(), offset.begin());
    std::vector<std::size_t> pos(offset.begin(), offset.end() - 1);
    for (std::size_t i = 0; i < a.n; ++i) order[pos[static_cast<std::size_t>(a.task[i])]++] = i;
  }
};

// Per-worker label counts [n_workers * L].
std::vector<std::int64_t> worker_label_counts(const AnswersView& a) {
  std::vector<std::int64_t> c(static_cast<std::size_t>(a.n_workers) * a.n_labels, 0);
  for (std::size_t i = 0; i < a.n; ++i) ++c[static_cast<std::size_t>(a.worker[i]) * a.n_labels + a.label[i]];
  return c;
}

Scores empty_scores(const AnswersView& a) {
  Scores s;
  s.score.assign(static_cast<std::size_t>(a.n_workers), 0.0);
  s.n_scored.assign(static_cast<std::size_t>(a.n_workers), 0);
  s.n_answers.assign(static_cast<std::size_t>(a.n_workers), 0);
  for (std::size_t i = 0; i < a.n; ++i) ++s.n_answers[static_cast<std::size_t>(a.worker[i])];
  return s;
}

// Generic "mean over peers of f(answer, peer)" pass, shared by OA, PP, PTS, CA.
template <class F>
void peer_pass(const AnswersView& a, const ByTask& g, Scores& s, F&& f) {
  for (std::int32_t t = 0; t < a.n_tasks; ++t) {
    std::size_t b = g.offset[t], e = g.offset[t + 1];
    for (std::size_t x = b; x < e; ++x) {
      std::size_t i = g.order[x];
      double sum = 0;
      std::int64_t peers = 0;
      for (std::size_t y = b; y < e; ++y) {
        std::size_t j = g.order[y];
        if (a.worker[j] == a.worker[i]) continue;
        double v;
        if (!f(i, j, v)) continue;
        sum += v;
        ++peers;
      }
      if (peers > 0) {
        auto w = static_cast<std::size_t>(a.worker[i]);
        s.score[w] += sum / static_cast<double>(peers);
        ++s.n_scored[w];
      }
    }
  }
}

double det(std::vector<double> m, std::size_t n) {  // Gaussian elimination, partial pivoting
  double d = 1.0;
  for (std::size_t c = 0; c < n; ++c) {
    std::size_t p = c;
    for (std::size_t r = c + 1; r < n; ++r)
      if (std::abs(m[r * n + c]) > std::abs(m[p * n + c])) p = r;
    if (m[p * n + c] == 0.0) return 0.0;
    if (p != c) {
      for (std::size_t k = 0; k < n; ++k) std::swap(m[p * n + k], m[c * n + k]);
      d = -d;
    }
    d *= m[c * n + c];
    for (std::size_t r = c + 1; r < n; ++r) {
      double f = m[r * n + c] / m[c * n + c];
      if (f == 0.0) continue;
      for (std::size_t k = c; k < n; ++k) m[r * n + k] -= f * m[c * n + k];
    }
  }
  return d;
}

Scores dmi(const AnswersView& a, const ByTask& g) {
  Scores s = empty_scores(a);
  const std::size_t L = static_cast<std::size_t>(a.n_labels);
  struct Rec { std::int32_t w, p, t, lw, lp; };
  std::vector<Rec> recs;
  for (std::int32_t t = 0; t < a.n_tasks; ++t)
    for (std::size_t x = g.offset[t]; x < g.offset[t + 1]; ++x)
      for (std::size_t y = x + 1; y < g.offset[t + 1]; ++y) {
        std::size_t i = g.order[x], j = g.order[y];
        if (a.worker[i] == a.worker[j]) continue;
        if (a.worker[i] > a.worker[j]) std::swap(i, j);
        recs.push_back({a.worker[i], a.worker[j], t, a.label[i], a.label[j]});
      }
  std::stable_sort(recs.begin(), recs.end(), [](const Rec& u, const Rec& v) {
    return u.w != v.w ? u.w < v.w : u.p != v.p ? u.p < v.p : u.t < v.t;
  });
  double scale = 1.0;  // L^(2L) by products, not std::pow: the ledger re-executes this (util/det_math.h)
  for (std::size_t i = 0; i < 2 * L; ++i) scale *= static_cast<double>(L);
  std::vector<double> m1(L * L), m2(L * L);
  for (std::size_t b = 0; b < recs.size();) {
    std::size_t e = b;
    while (e < recs.size() && recs[e].w == recs[b].w && recs[e].p == recs[b].p) ++e;
    std::size_t m = e - b, n1 = (m + 1) / 2, n2 = m / 2;
    if (n2 >= L) {
      std::fill(m1.begin(), m1.end(), 0.0);
      std::fill(m2.begin(), m2.end(), 0.0);
      for (std::size_t k = b; k < e; ++k) {
        auto& mm = ((k - b) % 2 == 0) ? m1 : m2;
        mm[static_cast<std::size_t>(recs[k].lw) * L + recs[k].lp] += 1.0;
      }
      for (auto& v : m1) v /= static_cast<double>(n1);
      for (auto& v : m2) v /= static_cast<double>(n2);
      double v = static_cast<double>(m) * scale * det(m1, L) * det(m2, L);
      auto w = static_cast<std::size_t>(recs[b].w), p = static_cast<std::size_t>(recs[b].p);
      s.score[w] += v;
      s.score[p] += v;
      s.n_scored[w] += static_cast<std::int64_t>(m);
      s.n_scored[p] += static_cast<std::int64_t>(m);
    }
    b = e;
  }
  return s;
}

Scores bts(const AnswersView& a, const ByTask& g, const MechanismInputs& in) {
  const std::size_t L = static_cast<std::size_t>(a.n_labels);
  check_size(in.predictions.size(), a.n * L, "predictions");
  for (double v : in.predictions)
    if (!std::isfinite(v) || v < 0) throw InvalidArgument("predictions must be finite and >= 0");
  Scores s = empty_scores(a);
  std::vector<double> cnt(L), logy(L), xbar(L);
  for (std::int32_t t = 0; t < a.n_tasks; ++t) {
    std::size_t b = g.offset[t], e = g.offset[t + 1], n = e - b;
    if (n < 2) continue;  // a lone answer carries no information about the others
    std::fill(cnt.begin(), cnt.end(), 0.0);
    std::fill(logy.begin(), logy.end(), 0.0);
    for (std::size_t x = b; x < e; ++x) {
      std::size_t i = g.order[x];
      cnt[static_cast<std::size_t>(a.label[i])] += 1.0;
      for (std::size_t k = 0; k < L; ++k) logy[k] += util::det::log(std::max(in.predictions[i * L + k], in.eps));
    }
    for (std::size_t k = 0; k < L; ++k) {
      xbar[k] = cnt[k] / static_cast<double>(n);
      logy[k] /= static_cast<double>(n);
    }
    for (std::size_t x = b; x < e; ++x) {
      std::size_t i = g.order[x];
      auto k = static_cast<std::size_t>(a.label[i]);
      double info = util::det::log(xbar[k]) - logy[k];
      double pred = 0;
      for (std::size_t j = 0; j < L; ++j)
        if (xbar[j] > 0) pred += xbar[j] * (util::det::log(std::max(in.predictions[i * L + j], in.eps)) - util::det::log(xbar[j]));
      auto w = static_cast<std::size_t>(a.worker[i]);
      s.score[w] += info + in.bts_alpha * pred;
      ++s.n_scored[w];
    }
  }
  return s;
}

}  // namespace

const std::vector<std::string>& mechanism_names() {
  static const std::vector<std::string> names = {
      "output_agreement", "peer_prediction", "peer_truth_serum", "correlated_agreement",
      "dmi", "bts", "gold_standard", "consensus_accuracy"};
  return names;
}

Mechanism mechanism_from_name(std::string_view name) {
  const auto& n = mechanism_names();
  for (std::size_t i = 0; i < n.size(); ++i)
    if (n[i] == name) return static_cast<Mechanism>(i);
  std::string known;
  for (const auto& k : n) known += (known.empty() ? "" : ", ") + k;
  throw InvalidArgument("unknown mechanism '" + std::string(name) + "' (known: " + known + ")");
}

namespace {
// Counts of ordered (own, peer) label pairs of distinct workers on one task.
std::vector<double> peer_counts(const AnswersView& a, const ByTask& g) {
  const std::size_t L = static_cast<std::size_t>(a.n_labels);
  std::vector<double> j(L * L, 0.0);
  for (std::int32_t t = 0; t < a.n_tasks; ++t)
    for (std::size_t x = g.offset[t]; x < g.offset[t + 1]; ++x)
      for (std::size_t y = g.offset[t]; y < g.offset[t + 1]; ++y) {
        std::size_t i = g.order[x], k = g.order[y];
        if (a.worker[i] == a.worker[k]) continue;
        j[static_cast<std::size_t>(a.label[i]) * L + a.label[k]] += 1.0;
      }
  return j;
}
}  // namespace

std::vector<double> peer_joint(const AnswersView& a) {
  check_view(a);
  ByTask g(a);
  std::vector<double> j = peer_counts(a, g);
  double total = std::accumulate(j.begin(), j.end(), 0.0);
  if (total > 0)
    for (auto& v : j) v /= total;
  return j;
}

std::vector<double> ca_score_matrix(const AnswersView& a) {
  const std::size_t L = static_cast<std::size_t>(a.n_labels);
  std::vector<double> j = peer_joint(a), marg(L, 0.0), s(L * L, 0.0);
  for (std::size_t x = 0; x < L; ++x)
    for (std::size_t y = 0; y < L; ++y) marg[x] += j[x * L + y];
  for (std::size_t x = 0; x < L; ++x)
    for (std::size_t y = 0; y < L; ++y) s[x * L + y] = (j[x * L + y] - marg[x] * marg[y] > 0) ? 1.0 : 0.0;
  return s;
}

Scores score(Mechanism m, const AnswersView& a, const MechanismInputs& in) {
  check_view(a);
  if (!(in.eps > 0 && in.eps < 1)) throw InvalidArgument("eps must be in (0, 1)");
  if (!std::isfinite(in.bts_alpha)) throw InvalidArgument("bts_alpha must be finite");
  const std::size_t L = static_cast<std::size_t>(a.n_labels);
  ByTask g(a);
  Scores s = empty_scores(a);
  switch (m) {
    case Mechanism::kOutputAgreement:
      peer_pass(a, g, s, [&](std::size_t i, std::size_t j, double& v) {
        v = a.label[i] == a.label[j] ? 1.0 : 0.0;
        return true;
      });
      return s;
    case Mechanism::kPeerPrediction: {
      std::vector<double> model;
      if (!in.signal_model.empty()) {
        check_matrix(in.signal_model, L, "signal_model", true);
        model.assign(in.signal_model.begin(), in.signal_model.end());
      } else {
        // Detail-free variant: P(peer = j | own = i) from the reports, Laplace-smoothed.
        std::vector<double> c = peer_counts(a, g);
        model.assign(L * L, 0.0);
        for (std::size_t i = 0; i < L; ++i) {
          double row = 0;
          for (std::size_t j = 0; j < L; ++j) row += c[i * L + j] + 1.0;
          for (std::size_t j = 0; j < L; ++j) model[i * L + j] = (c[i * L + j] + 1.0) / row;
        }
      }
      std::vector<double> table(L * L);  // score of own report i when the peer reports j
      for (std::size_t i = 0; i < L; ++i) {
        double sq = 0;
        for (std::size_t j = 0; j < L; ++j) sq += model[i * L + j] * model[i * L + j];
        for (std::size_t j = 0; j < L; ++j)
          table[i * L + j] = in.scoring_rule == ScoringRule::kQuadratic ? 2.0 * model[i * L + j] - sq
                                                                         : util::det::log(std::max(model[i * L + j], in.eps));
      }
      peer_pass(a, g, s, [&](std::size_t i, std::size_t j, double& v) {
        v = table[static_cast<std::size_t>(a.label[i]) * L + a.label[j]];
        return true;
      });
      return s;
    }
    case Mechanism::kPeerTruthSerum: {
      auto wc = worker_label_counts(a);
      std::vector<std::int64_t> total(L, 0);
      for (std::size_t i = 0; i < a.n; ++i) ++total[static_cast<std::size_t>(a.label[i])];
      peer_pass(a, g, s, [&](std::size_t i, std::size_t j, double& v) {
        auto w = static_cast<std::size_t>(a.worker[i]);
        auto x = static_cast<std::size_t>(a.label[i]);
        // R_{-w}(x): the other workers' report frequency, Laplace-smoothed.
        double others = static_cast<double>(a.n) - static_cast<double>(s.n_answers[w]);
        double r = (static_cast<double>(total[x] - wc[w * L + x]) + 1.0) / (others + static_cast<double>(L));
        v = (a.label[i] == a.label[j] ? 1.0 / r : 0.0) - 1.0;
        return true;
      });
      return s;
    }
    case Mechanism::kCorrelatedAgreement: {
      std::vector<double> S;
      if (!in.score_matrix.empty()) {
        check_matrix(in.score_matrix, L, "score_matrix", false);
        S.assign(in.score_matrix.begin(), in.score_matrix.end());
      } else {
        S = ca_score_matrix(a);
      }
      auto wc = worker_label_counts(a);
      std::vector<double> fw(L), sfp(L);
      peer_pass(a, g, s, [&](std::size_t i, std::size_t j, double& v) {
        auto w = static_cast<std::size_t>(a.worker[i]), p = static_cast<std::size_t>(a.worker[j]);
        std::int64_t nw = s.n_answers[w] - 1, np = s.n_answers[p] - 1;
        if (nw <= 0 || np <= 0) return false;  // no other task to draw the penalty from
        // Expected penalty S(r_w,t', r_p,t'') over the workers' reports on other tasks.
        for (std::size_t y = 0; y < L; ++y)
          sfp[y] = static_cast<double>(wc[p * L + y] - (static_cast<std::size_t>(a.label[j]) == y)) / static_cast<double>(np);
        double pen = 0;
        for (std::size_t x = 0; x < L; ++x) {
          double f = static_cast<double>(wc[w * L + x] - (static_cast<std::size_t>(a.label[i]) == x)) / static_cast<double>(nw);
          if (f == 0) continue;
          double row = 0;
          for (std::size_t y = 0; y < L; ++y) row += S[x * L + y] * sfp[y];
          pen += f * row;
        }
        v = S[static_cast<std::size_t>(a.label[i]) * L + a.label[j]] - pen;
        return true;
      });
      return s;
    }
    case Mechanism::kDmi:
      return dmi(a, g);
    case Mechanism::kBts:
      return bts(a, g, in);
    case Mechanism::kGoldStandard: {
      check_size(in.gold.size(), static_cast<std::size_t>(a.n_tasks), "gold");
      for (auto v : in.gold)
        if (v < -1 || v >= a.n_labels) throw InvalidArgument("gold label " + std::to_string(v) + " out of range");
      std::vector<std::int64_t> correct(static_cast<std::size_t>(a.n_workers), 0), seen(correct.size(), 0);
      for (std::size_t i = 0; i < a.n; ++i) {
        std::int32_t gl = in.gold[static_cast<std::size_t>(a.task[i])];
        if (gl < 0) continue;
        auto w = static_cast<std::size_t>(a.worker[i]);
        ++seen[w];
        correct[w] += a.label[i] == gl;
      }
      for (std::size_t w = 0; w < correct.size(); ++w)
        if (seen[w] > 0) {
          s.score[w] = static_cast<double>(s.n_answers[w]) * static_cast<double>(correct[w]) / static_cast<double>(seen[w]);
          s.n_scored[w] = s.n_answers[w];
        }
      return s;
    }
    case Mechanism::kConsensusAccuracy: {
      check_size(in.posterior.size(), static_cast<std::size_t>(a.n_tasks) * L, "posterior");
      for (double v : in.posterior)
        if (!std::isfinite(v) || v < 0 || v > 1 + 1e-9) throw InvalidArgument("posterior values must be in [0, 1]");
      for (std::size_t i = 0; i < a.n; ++i) {
        auto w = static_cast<std::size_t>(a.worker[i]);
        s.score[w] += in.posterior[static_cast<std::size_t>(a.task[i]) * L + a.label[i]];
        ++s.n_scored[w];
      }
      return s;
    }
  }
  throw InvalidArgument("unknown mechanism id " + std::to_string(static_cast<int>(m)));
}

}  // namespace tagger::sim
