// Community BCC: planted communities of honest and adversarial workers with a
// few answers each are recovered, and pooling by community beats per-worker
// BCC there; determinism, gold, and bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "tagger/consensus.h"
#include "tagger/errors.h"

namespace cs = tagger::consensus;

namespace {

struct Planted {
  std::vector<std::int32_t> task, worker, label, truth;
  std::vector<char> adversarial;  // [workers]
  std::int32_t n_tasks = 0, n_workers = 0;
  cs::AnswersView view() const {
    return {task.data(), worker.data(), label.data(), task.size(), n_tasks, n_workers, 2};
  }
};

// Binary tasks, 7 answers each; every worker answers 4 tasks; 30 % of the
// workers answer right 10 % of the time, the others 85 %.
Planted planted(std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  Planted p;
  p.n_tasks = 600;
  p.n_workers = p.n_tasks * 7 / 4;
  for (std::int32_t t = 0; t < p.n_tasks; ++t) p.truth.push_back(static_cast<std::int32_t>(rng() & 1U));
  for (std::int32_t w = 0; w < p.n_workers; ++w) p.adversarial.push_back(u(rng) < 0.3);
  std::vector<std::int32_t> slots;
  for (std::int32_t w = 0; w < p.n_workers; ++w)
    for (int i = 0; i < 4; ++i) slots.push_back(w);
  std::shuffle(slots.begin(), slots.end(), rng);
  for (std::int32_t t = 0; t < p.n_tasks; ++t) {
    std::vector<std::int32_t> ws(slots.begin() + t * 7, slots.begin() + (t + 1) * 7);
    std::sort(ws.begin(), ws.end());
    ws.erase(std::unique(ws.begin(), ws.end()), ws.end());
    for (std::int32_t w : ws) {
      const bool right = u(rng) < (p.adversarial[static_cast<std::size_t>(w)] ? 0.1 : 0.85);
      p.task.push_back(t);
      p.worker.push_back(w);
      p.label.push_back(right ? p.truth[static_cast<std::size_t>(t)] : 1 - p.truth[static_cast<std::size_t>(t)]);
    }
  }
  return p;
}

double accuracy(const cs::Result& r, const Planted& p) {
  std::size_t hit = 0;
  for (std::size_t t = 0; t < p.truth.size(); ++t) hit += r.labels[t] == p.truth[t];
  return static_cast<double>(hit) / static_cast<double>(p.truth.size());
}

}  // namespace

TEST(ConsensusCbcc, RecoversPlantedCommunitiesAndBeatsPerWorkerBcc) {
  const Planted p = planted(7);
  cs::CbccOptions o;
  o.n_communities = 2;
  const cs::Result r = cs::cbcc(p.view(), {}, o);
  ASSERT_TRUE(r.converged);
  ASSERT_EQ(r.communities.size(), static_cast<std::size_t>(p.n_workers) * 2);
  // The community the adversaries mostly fall in is the one whose matrix flips labels.
  std::size_t same = 0;
  for (std::int32_t w = 0; w < p.n_workers; ++w) {
    const auto i = static_cast<std::size_t>(w);
    same += (r.communities[i * 2 + 1] > r.communities[i * 2]) == static_cast<bool>(p.adversarial[i]);
  }
  const double purity = std::max(same, static_cast<std::size_t>(p.n_workers) - same) / static_cast<double>(p.n_workers);
  EXPECT_GE(purity, 0.9);
  const std::size_t adv = same * 2 >= static_cast<std::size_t>(p.n_workers) ? 1 : 0;
  EXPECT_LT(r.community_errors[adv * 4 + 0 * 2 + 0], 0.3);      // P(0 | truth 0) of the adversaries
  EXPECT_GT(r.community_errors[(1 - adv) * 4 + 0 * 2 + 0], 0.7);  // and of the honest workers
  cs::EbccOptions bcc;
  bcc.n_groups = 1;
  const double a_cbcc = accuracy(r, p), a_bcc = accuracy(cs::ebcc(p.view(), {}, bcc), p);
  EXPECT_GE(a_cbcc, 0.9);
  EXPECT_GE(a_cbcc, a_bcc + 0.05) << "cbcc " << a_cbcc << " bcc " << a_bcc;
  for (std::size_t i = 0; i < r.errors.size(); i += 2) EXPECT_NEAR(r.errors[i] + r.errors[i + 1], 1.0, 1e-12);
}

TEST(ConsensusCbcc, IsDeterministicAndClampsGold) {
  const Planted p = planted(11);
  cs::Options one, many;
  one.threads = 1;
  many.threads = 4;
  const cs::Result a = cs::cbcc(p.view(), one), b = cs::cbcc(p.view(), many);
  EXPECT_EQ(a.probas, b.probas);  // bit for bit
  EXPECT_EQ(a.communities, b.communities);
  std::vector<std::int32_t> gold(static_cast<std::size_t>(p.n_tasks), -1);
  gold[3] = 1 - p.truth[3];
  cs::Options g;
  g.gold = gold;
  const cs::Result c = cs::cbcc(p.view(), g);
  EXPECT_EQ(c.labels[3], 1 - p.truth[3]);
  EXPECT_EQ(c.probas[3 * 2 + static_cast<std::size_t>(1 - p.truth[3])], 1.0);
}

TEST(ConsensusCbcc, BadInputIsInvalidArgument) {
  const std::vector<std::int32_t> t{0, 0, 1}, w{0, 1, 0}, l{0, 1, 1}, one_worker{0, 0, 0};
  const cs::AnswersView ok{t.data(), w.data(), l.data(), 3, 2, 2, 2};
  EXPECT_NO_THROW(cs::cbcc(ok));
  EXPECT_THROW(cs::cbcc({t.data(), w.data(), l.data(), 0, 0, 0, 2}), tagger::InvalidArgument);           // empty
  EXPECT_THROW(cs::cbcc({t.data(), one_worker.data(), l.data(), 3, 2, 1, 2}), tagger::InvalidArgument);  // one worker
  const std::vector<std::int32_t> zeros{0, 0, 0};
  EXPECT_THROW(cs::cbcc({t.data(), w.data(), zeros.data(), 3, 2, 2, 1}), tagger::InvalidArgument);        // one class
  for (std::int32_t m : {0, -1, 1001}) {
    cs::CbccOptions o;
    o.n_communities = m;
    EXPECT_THROW(cs::cbcc(ok, {}, o), tagger::InvalidArgument);
  }
  cs::CbccOptions nan_strength;
  nan_strength.strength = std::nan("");
  EXPECT_THROW(cs::cbcc(ok, {}, nan_strength), tagger::InvalidArgument);
  const std::vector<double> priors{0.5, 0.5};
  cs::Options with_priors;
  with_priors.class_priors = priors;
  EXPECT_THROW(cs::cbcc(ok, with_priors), tagger::InvalidArgument);
  const std::vector<std::int32_t> out_of_range{0, 5, 1};
  EXPECT_THROW(cs::cbcc({t.data(), out_of_range.data(), l.data(), 3, 2, 2, 2}), tagger::InvalidArgument);
}
