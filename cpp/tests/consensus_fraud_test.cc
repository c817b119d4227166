// tagger::consensus anti-fraud rules: the tail probabilities against brute
// force, Holm against its definition, and each rule on a flagged case beside
// a near miss.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "tagger/errors.h"
#include "tagger/fraud.h"

namespace cs = tagger::consensus;

namespace {

double choose(int n, int k) {
  double c = 1;
  for (int i = 1; i <= k; ++i) c = c * (n - k + i) / i;
  return c;
}

struct Data {
  std::vector<std::int32_t> task, worker, label, consensus;
  std::int32_t n_tasks = 0, n_workers = 0, n_labels = 0;
  void add(std::int32_t t, std::int32_t w, std::int32_t l) {
    task.push_back(t); worker.push_back(w); label.push_back(l);
  }
  cs::FraudInput input() const {
    cs::FraudInput in;
    in.answers = {task.data(), worker.data(), label.data(), task.size(), n_tasks, n_workers, n_labels};
    in.consensus = consensus;
    return in;
  }
};

// n_tasks items with truth t % K, answered by honest workers (accuracy acc)
// and, where given, by extra workers whose answer is chosen by `other`.
template <class Other>
Data population(int n_tasks, int n_honest, int overlap, double acc, int K, int n_other, Other other, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  Data d;
  d.n_tasks = n_tasks; d.n_labels = K; d.n_workers = n_honest + n_other;
  for (int t = 0; t < n_tasks; ++t) {
    const int truth = t % K;
    d.consensus.push_back(truth);
    for (int j = 0; j < overlap; ++j) {
      const int w = (t * overlap + j) % n_honest;
      const int l = u(rng) < acc ? truth : (truth + 1 + static_cast<int>(u(rng) * (K - 1))) % K;
      d.add(t, w, l);
    }
    for (int o = 0; o < n_other; ++o) d.add(t, n_honest + o, other(t, o, truth, rng));
  }
  return d;
}

}  // namespace

TEST(Fraud, BinomialTailsMatchTheirSums) {
  for (int n : {0, 1, 7, 30})
    for (double p : {0.0, 0.1, 0.5, 0.93, 1.0})
      for (int k = -1; k <= n + 1; ++k) {
        double up = 0, low = 0;
        for (int i = 0; i <= n; ++i) {
          const double pmf = choose(n, i) * std::pow(p, i) * std::pow(1 - p, n - i);
          if (i >= k) up += pmf;
          if (i <= k) low += pmf;
        }
        EXPECT_NEAR(cs::binomial_upper(k, n, p), std::min(up, 1.0), 1e-12) << n << " " << p << " " << k;
        EXPECT_NEAR(cs::binomial_lower(k, n, p), std::min(low, 1.0), 1e-12) << n << " " << p << " " << k;
      }
  EXPECT_THROW(cs::binomial_upper(1, 3, 1.5), tagger::InvalidArgument);
}

TEST(Fraud, PoissonBinomialTailMatchesEnumeration) {
  const std::vector<double> p = {0.1, 0.7, 0.35, 0.9, 0.02, 0.5};
  const int n = static_cast<int>(p.size());
  for (int k = 0; k <= n + 1; ++k) {
    double want = 0;
    for (int mask = 0; mask < (1 << n); ++mask) {
      double pr = 1;
      int s = 0;
      for (int i = 0; i < n; ++i) {
        const bool on = mask >> i & 1;
        pr *= on ? p[i] : 1 - p[i];
        s += on;
      }
      if (s >= k) want += pr;
    }
    EXPECT_NEAR(cs::poisson_binomial_upper(k, p), want, 1e-12) << k;
  }
}

TEST(Fraud, HolmIsTheStepDownMaximum) {
  const std::vector<double> p = {0.01, 0.04, 0.03, 0.005, 0.5};
  // Sorted: 0.005 (x5), 0.01 (x4), 0.03 (x3), 0.04 (x2), 0.5 (x1), running max.
  const std::vector<double> want = {0.04, 0.09, 0.09, 0.025, 0.5};
  const auto adj = cs::holm(p);
  for (std::size_t i = 0; i < p.size(); ++i) EXPECT_NEAR(adj[i], want[i], 1e-15) << i;
}

TEST(Fraud, SpammersAndConstantBotsAreFlaggedHonestWorkersAreNot) {
  // Worker 20 answers at random, worker 21 always 0, worker 22 is a weak but honest worker (0.7).
  Data d = population(400, 20, 3, 0.85, 4, 3, [](int, int o, int truth, std::mt19937& rng) {
    if (o == 0) return static_cast<int>(rng() % 4);
    if (o == 1) return 0;
    return std::uniform_real_distribution<double>(0, 1)(rng) < 0.7 ? truth : (truth + 1) % 4;
  }, 7);
  const cs::FraudReport r = cs::screen_fraud(d.input());
  for (int w = 0; w < 20; ++w) EXPECT_FALSE(r.spammer[w]) << w;
  EXPECT_TRUE(r.spammer[20]);
  EXPECT_FALSE(r.constant[20]);
  EXPECT_TRUE(r.spammer[21]);
  EXPECT_TRUE(r.constant[21]);
  EXPECT_FALSE(r.spammer[22]);
  EXPECT_NEAR(r.chance[21], 0.25, 1e-12);  // always 0, on items a quarter of which are 0
}

TEST(Fraud, ACopyingPairIsACollusionGroupAnIndependentPairIsNot) {
  // Workers 10 and 11 copy one shared random label; 12 and 13 are independent and weak.
  std::mt19937 shared_rng(99);
  std::vector<int> shared(300);
  for (int& s : shared) s = static_cast<int>(shared_rng() % 3);
  Data d = population(300, 10, 3, 0.8, 3, 4, [&](int t, int o, int truth, std::mt19937& rng) {
    if (o < 2) return shared[t];
    return std::uniform_real_distribution<double>(0, 1)(rng) < 0.6 ? truth : static_cast<int>(rng() % 3);
  }, 3);
  const cs::FraudReport r = cs::screen_fraud(d.input());
  EXPECT_TRUE(r.colluder[10]);
  EXPECT_TRUE(r.colluder[11]);
  EXPECT_EQ(r.collusion_group[10], 10);
  EXPECT_EQ(r.collusion_group[11], 10);
  for (int w = 0; w < 10; ++w) EXPECT_FALSE(r.colluder[w]) << w;
  EXPECT_FALSE(r.colluder[12]);
  EXPECT_FALSE(r.colluder[13]);
  ASSERT_EQ(r.pairs.size(), 1u);
  EXPECT_EQ(r.pairs[0].worker_a, 10);
  EXPECT_EQ(r.pairs[0].worker_b, 11);
  EXPECT_EQ(r.pairs[0].n_same, r.pairs[0].n_shared);
  EXPECT_GT(r.pairs[0].n_same_wrong, 3 * r.pairs[0].expected);
}

TEST(Fraud, FastAnswersAreFlaggedOnlyWhenMostAreFast) {
  Data d = population(200, 12, 4, 0.9, 2, 0, [](int, int, int, std::mt19937&) { return 0; }, 5);
  std::vector<double> duration(d.task.size());
  std::mt19937 rng(1);
  std::lognormal_distribution<double> honest(std::log(20.0), 0.3);
  for (std::size_t i = 0; i < duration.size(); ++i) {
    duration[i] = honest(rng);
    if (d.worker[i] == 3) duration[i] = 1.0;                    // a bot: every answer in a second
    if (d.worker[i] == 4 && i % 10 == 0) duration[i] = 1.0;     // one fast answer in ten: a near miss
    if (d.worker[i] == 5 && i % 7 == 0) duration[i] = std::nan("");  // unknown durations are skipped
  }
  cs::FraudInput in = d.input();
  in.duration = duration;
  const cs::FraudReport r = cs::screen_fraud(in);
  EXPECT_TRUE(r.fast[3]);
  EXPECT_FALSE(r.fast[4]);
  for (int w : {0, 1, 2, 5, 6, 7}) EXPECT_FALSE(r.fast[w]) << w;
  EXPECT_LT(r.n_timed[5], r.n_answers[5]);
  duration[0] = -1;
  in.duration = duration;
  EXPECT_THROW(cs::screen_fraud(in), tagger::InvalidArgument);
}

TEST(Fraud, ControlFailureNeedsEvidence) {
  Data d = population(300, 10, 3, 0.9, 2, 2, [](int t, int o, int truth, std::mt19937&) {
    if (o == 0) return 1 - truth;                // wrong on everything
    return (t / 10) % 5 == 0 ? 1 - truth : truth;  // wrong on one control item in five: a near miss
  }, 11);
  std::vector<std::int32_t> gold(d.n_tasks, -1);
  for (int t = 0; t < d.n_tasks; t += 10) gold[t] = t % 2;
  cs::FraudInput in = d.input();
  in.gold = gold;
  const cs::FraudReport r = cs::screen_fraud(in);
  EXPECT_TRUE(r.control_fail[10]);
  EXPECT_FALSE(r.control_fail[11]);
  for (int w = 0; w < 10; ++w) EXPECT_FALSE(r.control_fail[w]) << w;
  EXPECT_EQ(r.n_control[10], 30);
}

TEST(Fraud, SybilNeedsManyFundingsFromOneAccountInAWindow) {
  Data d = population(50, 10, 3, 0.9, 2, 0, [](int, int, int, std::mt19937&) { return 0; }, 2);
  // Accounts 0-3 funded by account 7 within 50 blocks; 4-6 by account 8 (three: a near miss);
  // 7-9 by account 9 but spread over 1,000 blocks.
  const std::vector<std::int32_t> funder = {7, 7, 7, 7, 8, 8, 8, 9, 9, 9};
  const std::vector<std::int64_t> at = {10, 20, 30, 60, 10, 11, 12, 0, 500, 1000};
  cs::FraudInput in = d.input();
  in.funder = funder;
  in.funded_at = at;
  const cs::FraudReport r = cs::screen_fraud(in);
  for (int w = 0; w < 4; ++w) {
    EXPECT_TRUE(r.sybil[w]) << w;
    EXPECT_EQ(r.sybil_funder[w], 7);
  }
  for (int w = 4; w < 10; ++w) EXPECT_FALSE(r.sybil[w]) << w;
}

TEST(Fraud, BadInputIsRefusedWithTheReason) {
  Data d = population(20, 4, 2, 0.9, 2, 0, [](int, int, int, std::mt19937&) { return 0; }, 2);
  cs::FraudInput in = d.input();
  std::vector<std::int32_t> short_consensus(d.consensus.begin(), d.consensus.end() - 1);
  in.consensus = short_consensus;
  EXPECT_THROW(cs::screen_fraud(in), tagger::InvalidArgument);
  in = d.input();
  cs::FraudOptions o;
  o.alpha = 0;
  EXPECT_THROW(cs::screen_fraud(in, o), tagger::InvalidArgument);
}

TEST(Fraud, TheSameInputGivesTheSameReport) {
  Data d = population(300, 15, 3, 0.75, 3, 2, [](int t, int, int, std::mt19937& rng) { return (t + static_cast<int>(rng() % 2)) % 3; }, 4);
  const auto a = cs::screen_fraud(d.input()), b = cs::screen_fraud(d.input());
  EXPECT_EQ(a.spam_p, b.spam_p);
  EXPECT_EQ(a.collusion_p.size(), b.collusion_p.size());
  for (std::size_t i = 0; i < a.collusion_p.size(); ++i)
    EXPECT_TRUE(a.collusion_p[i] == b.collusion_p[i] || (std::isnan(a.collusion_p[i]) && std::isnan(b.collusion_p[i])));
}
