// tagger::consensus against brute-force references and known answers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "tagger/consensus.h"
#include "tagger/errors.h"

namespace cs = tagger::consensus;

namespace {

struct Data {
  std::vector<std::int32_t> task, worker, label;
  std::int32_t n_tasks = 0, n_workers = 0, n_labels = 0;
  std::vector<std::int32_t> truth;
  cs::AnswersView view() const {
    return {task.data(), worker.data(), label.data(), task.size(), n_tasks, n_workers, n_labels};
  }
};

// Workers with a fixed per-worker accuracy; errors uniform over other labels.
Data simulate(std::uint32_t seed, std::int32_t T, std::int32_t W, std::int32_t K, std::int32_t overlap) {
  std::mt19937 rng(seed);
  Data d;
  d.n_tasks = T; d.n_workers = W; d.n_labels = K;
  std::vector<double> acc(W);
  std::uniform_real_distribution<double> u(0, 1);
  for (auto& a : acc) a = 0.4 + 0.55 * u(rng);
  for (std::int32_t t = 0; t < T; ++t) {
    std::int32_t z = static_cast<std::int32_t>(rng() % K);
    d.truth.push_back(z);
    std::vector<std::int32_t> ws(W);
    std::iota(ws.begin(), ws.end(), 0);
    std::shuffle(ws.begin(), ws.end(), rng);
    for (std::int32_t j = 0; j < overlap; ++j) {
      std::int32_t w = ws[j], y = z;
      if (u(rng) > acc[w]) y = static_cast<std::int32_t>((z + 1 + rng() % (K - 1)) % K);
      d.task.push_back(t); d.worker.push_back(w); d.label.push_back(y);
    }
  }
  return d;
}

double accuracy(const std::vector<std::int32_t>& labels, const std::vector<std::int32_t>& truth) {
  double hit = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) hit += labels[i] == truth[i];
  return hit / static_cast<double>(truth.size());
}

}  // namespace

TEST(ConsensusMajorityVote, MatchesBruteForceAndBreaksTiesToSmallestLabel) {
  Data d = simulate(1, 300, 12, 4, 4);
  cs::Result r = cs::majority_vote(d.view());
  for (std::int32_t t = 0; t < d.n_tasks; ++t) {
    std::vector<int> votes(d.n_labels, 0);
    for (std::size_t i = 0; i < d.task.size(); ++i)
      if (d.task[i] == t) ++votes[d.label[i]];
    const auto best = static_cast<std::int32_t>(std::max_element(votes.begin(), votes.end()) - votes.begin());
    EXPECT_EQ(r.labels[t], best);  // max_element returns the first maximum = smallest label
    EXPECT_DOUBLE_EQ(r.probas[t * d.n_labels + best], votes[best] / 4.0);
  }
}

TEST(ConsensusMajorityVote, TaskWithoutAnswersGetsMinusOne) {
  std::vector<std::int32_t> t{0, 0}, w{0, 1}, l{1, 0};
  cs::AnswersView a{t.data(), w.data(), l.data(), 2, 2, 2, 2};
  cs::Result r = cs::majority_vote(a);
  EXPECT_EQ(r.labels[0], 0);  // 1-1 tie: smallest label
  EXPECT_EQ(r.labels[1], -1);
}

TEST(ConsensusDawidSkene, BeatsMajorityVoteAndIsThreadCountIndependent) {
  Data d = simulate(2, 3000, 30, 3, 5);
  cs::Options one, many;
  one.threads = 1; many.threads = 5;
  cs::Result a = cs::dawid_skene(d.view(), one), b = cs::dawid_skene(d.view(), many);
  EXPECT_EQ(a.probas, b.probas);  // bit-identical
  EXPECT_EQ(a.errors, b.errors);
  EXPECT_EQ(a.n_iter, b.n_iter);
  EXPECT_GT(accuracy(a.labels, d.truth), accuracy(cs::majority_vote(d.view()).labels, d.truth));
  for (std::int32_t w = 0; w < d.n_workers; ++w)
    for (std::int32_t k = 0; k < d.n_labels; ++k) {
      double s = 0;
      for (std::int32_t l = 0; l < d.n_labels; ++l) s += a.errors[(w * d.n_labels + k) * d.n_labels + l];
      EXPECT_NEAR(s, 1.0, 1e-9);
    }
}

TEST(ConsensusDawidSkene, UnsortedInputGivesTheSameResultAsSorted) {
  Data d = simulate(3, 500, 10, 3, 4);
  Data s = d;
  std::vector<std::size_t> perm(d.task.size());
  std::iota(perm.begin(), perm.end(), 0);
  std::reverse(perm.begin(), perm.end());
  for (std::size_t i = 0; i < perm.size(); ++i) {
    s.task[i] = d.task[perm[i]]; s.worker[i] = d.worker[perm[i]]; s.label[i] = d.label[perm[i]];
  }
  cs::Result a = cs::dawid_skene(d.view()), b = cs::dawid_skene(s.view());
  EXPECT_EQ(a.labels, b.labels);
  for (std::size_t i = 0; i < a.probas.size(); ++i) EXPECT_NEAR(a.probas[i], b.probas[i], 1e-9);
}

TEST(ConsensusDawidSkene, GoldIsClampedAndCallbackCanStop) {
  Data d = simulate(4, 200, 8, 2, 3);
  std::vector<std::int32_t> gold(d.n_tasks, -1);
  gold[0] = 1 - d.truth[0];  // even a wrong gold label wins: it is clamped
  cs::Options o;
  o.gold = gold;
  int calls = 0;
  o.on_iteration = [&](const cs::IterationInfo& i) { ++calls; return i.iteration < 2; };
  cs::Result r = cs::dawid_skene(d.view(), o);
  EXPECT_EQ(r.labels[0], gold[0]);
  EXPECT_EQ(r.probas[gold[0]], 1.0);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(r.n_iter, 2);
  EXPECT_FALSE(r.converged);
}

TEST(ConsensusMethods, AllRecoverTruthOnEasyData) {
  Data d = simulate(5, 1000, 20, 3, 7);
  const double mv = accuracy(cs::majority_vote(d.view()).labels, d.truth);
  for (const auto& name : cs::method_names()) {
    cs::Result r = cs::fit(name, d.view());
    EXPECT_GE(accuracy(r.labels, d.truth), mv - 0.01) << name;
    EXPECT_EQ(r.skills.size(), static_cast<std::size_t>(d.n_workers)) << name;
  }
  EXPECT_THROW(cs::fit("nope", d.view()), tagger::InvalidArgument);
}

TEST(ConsensusValidation, RejectsOutOfRangeIndicesGoldAndPriors) {
  std::vector<std::int32_t> t{0, 3}, w{0, 0}, l{0, 1};
  cs::AnswersView bad{t.data(), w.data(), l.data(), 2, 2, 1, 2};
  EXPECT_THROW(cs::dawid_skene(bad), tagger::InvalidArgument);
  t[1] = 1;
  cs::AnswersView ok{t.data(), w.data(), l.data(), 2, 2, 1, 2};
  std::vector<std::int32_t> gold{0, 2};
  cs::Options o;
  o.gold = gold;
  EXPECT_THROW(cs::glad(ok, o), tagger::InvalidArgument);
  std::vector<double> pri{1.0};
  cs::Options p;
  p.class_priors = pri;
  EXPECT_THROW(cs::mace(ok, p), tagger::InvalidArgument);
  cs::AnswersView nulls{nullptr, nullptr, nullptr, 1, 1, 1, 1};
  EXPECT_THROW(cs::majority_vote(nulls), tagger::InvalidArgument);
}

TEST(ConsensusContinuous, MedianAndTrimmedMean) {
  std::vector<std::int32_t> t{0, 0, 0, 0, 1}, w{0, 1, 2, 3, 0};
  std::vector<double> v{4, 1, 3, 100, 7};
  cs::ContinuousView a{t.data(), w.data(), v.data(), 5, 3, 4};
  cs::ContinuousResult m = cs::median(a);
  EXPECT_DOUBLE_EQ(m.values[0], 3.5);
  EXPECT_DOUBLE_EQ(m.values[1], 7);
  EXPECT_TRUE(std::isnan(m.values[2]));
  EXPECT_DOUBLE_EQ(cs::trimmed_mean(a, 0.25).values[0], 3.5);
}

TEST(ConsensusDetection, EntropyMarginAndWilsonInterval) {
  Data d = simulate(6, 400, 10, 2, 5);
  cs::Result r = cs::dawid_skene(d.view());
  cs::Detection q = cs::detect(d.view(), r);
  for (std::int32_t t = 0; t < d.n_tasks; ++t) {
    const double p = r.probas[t * 2], h = -(p > 0 ? p * std::log(p) : 0) - (p < 1 ? (1 - p) * std::log(1 - p) : 0);
    EXPECT_NEAR(q.task_entropy[t], h, 1e-12);
    EXPECT_NEAR(q.task_margin[t], std::abs(2 * p - 1), 1e-12);
  }
  for (std::int32_t w = 0; w < d.n_workers; ++w) {
    EXPECT_LE(q.worker_accuracy_low[w], q.worker_accuracy[w]);
    EXPECT_GE(q.worker_accuracy_high[w], q.worker_accuracy[w]);
  }
}
