// tagger::consensus families (pairwise, segmentation, embeddings, ROVER,
// boxes) against hand-checked answers, optimality checks and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "tagger/consensus_families.h"
#include "tagger/errors.h"

namespace cs = tagger::consensus;

namespace {

struct Pairs {
  std::vector<std::int32_t> left, right, worker;
  std::vector<std::uint8_t> won;
};

Pairs simulate_pairs(std::uint32_t seed, std::int32_t n_items, std::int32_t n_workers, int n) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  Pairs p;
  for (int k = 0; k < n; ++k) {
    const auto a = static_cast<std::int32_t>(rng() % static_cast<std::uint32_t>(n_items));
    auto b = static_cast<std::int32_t>(rng() % static_cast<std::uint32_t>(n_items - 1));
    if (b >= a) ++b;
    const double pa = 1 / (1 + std::exp(-(a - b) * 0.4));  // higher code = stronger
    p.left.push_back(a);
    p.right.push_back(b);
    p.worker.push_back(static_cast<std::int32_t>(rng() % static_cast<std::uint32_t>(n_workers)));
    p.won.push_back(u(rng) < pa);
  }
  return p;
}

}  // namespace

TEST(ConsensusFamilies, BradleyTerryReachesTheMmFixedPoint) {
  const Pairs p = simulate_pairs(1, 6, 3, 400);
  const auto r = cs::bradley_terry(p.left, p.right, p.won, 6, 10000, 1e-13);
  ASSERT_TRUE(r.converged);
  // At the MLE, each item's wins equal its expected wins.
  std::vector<double> wins(6, 0), expected(6, 0);
  for (std::size_t k = 0; k < p.left.size(); ++k) {
    const auto a = static_cast<std::size_t>(p.left[k]), b = static_cast<std::size_t>(p.right[k]);
    wins[p.won[k] ? a : b] += 1;
    expected[a] += r.scores[a] / (r.scores[a] + r.scores[b]);
    expected[b] += r.scores[b] / (r.scores[a] + r.scores[b]);
  }
  for (std::size_t i = 0; i < 6; ++i) EXPECT_NEAR(wins[i], expected[i], 1e-6) << i;
  for (std::size_t i = 1; i < 6; ++i) EXPECT_GT(r.scores[i], r.scores[i - 1]);
}

TEST(ConsensusFamilies, NoisyBradleyTerryEndsAtALocalMinimum) {
  const Pairs p = simulate_pairs(2, 5, 4, 300);
  const std::size_t n = 1 + 5 + 2 * 4;
  std::vector<double> x0(n);
  std::mt19937 rng(3);
  for (auto& v : x0) v = std::uniform_real_distribution<double>(0, 1)(rng);
  const auto r = cs::noisy_bradley_terry(p.left, p.right, p.won, p.worker, 5, 4, x0, 500, 1e-12, 1e-5);
  std::vector<double> x{0.0};
  auto logit = [](double q) { return std::log(q) - std::log1p(-q); };
  for (double s : r.scores) x.push_back(logit(s));
  for (double b : r.biases) x.push_back(logit(b));
  for (double g : r.skills) x.push_back(logit(g));
  // x_0 is not returned: search it on a grid; the minimum over x_0 must not be
  // improved by moving any single coordinate a little.
  double best = INFINITY, bx = 0;
  for (double t = -3; t <= 3; t += 0.01) {
    x[0] = t;
    const double f = cs::noisy_bradley_terry_objective(p.left, p.right, p.won, p.worker, 5, 4, x, 1e-5);
    if (f < best) { best = f; bx = t; }
  }
  x[0] = bx;
  EXPECT_LT(best, cs::noisy_bradley_terry_objective(p.left, p.right, p.won, p.worker, 5, 4, x0, 1e-5));
  for (std::size_t i = 1; i < n; ++i)
    for (double h : {-1e-3, 1e-3}) {
      auto y = x;
      y[i] += h;
      EXPECT_GE(cs::noisy_bradley_terry_objective(p.left, p.right, p.won, p.worker, 5, 4, y, 1e-5), best - 1e-6) << i;
    }
  for (std::size_t i = 1; i < 5; ++i) EXPECT_GT(r.scores[i], r.scores[i - 1]);
}

TEST(ConsensusFamilies, PairwiseRejectsBadSizes) {
  std::vector<std::int32_t> l{0}, r{1}, w{0};
  std::vector<std::uint8_t> won{1, 0};
  EXPECT_THROW(cs::bradley_terry(l, r, won, 2, 10, 1e-5), tagger::InvalidArgument);
  won = {1};
  EXPECT_THROW(cs::bradley_terry(l, r, won, 1, 10, 1e-5), tagger::InvalidArgument);  // code 1 out of range
  std::vector<double> x0(3);
  EXPECT_THROW(cs::noisy_bradley_terry(l, r, won, w, 2, 1, x0, 10, 1e-5, 1e-5), tagger::InvalidArgument);
}

TEST(ConsensusFamilies, SegmentationVotes) {
  // One task, three 2x2 masks.
  std::vector<std::uint8_t> px{1, 1, 0, 0, /**/ 1, 0, 1, 0, /**/ 1, 1, 1, 0};
  std::vector<std::int64_t> start{0, 3}, pixels{4};
  const cs::MaskBatch b{px, start, pixels};
  std::vector<double> w{1, 1, 1};
  EXPECT_EQ(cs::segmentation_majority_vote(b, w).masks, (std::vector<std::uint8_t>{1, 1, 1, 0}));
  w = {0.1, 0.1, 1};
  EXPECT_EQ(cs::segmentation_majority_vote(b, w).masks, (std::vector<std::uint8_t>{1, 1, 1, 0}));
  EXPECT_EQ(cs::segmentation_rasa(b, 10, 1e-5).masks, (std::vector<std::uint8_t>{1, 1, 1, 0}));
  EXPECT_EQ(cs::segmentation_em(b, 10, 1e-5, 1e-15).masks, (std::vector<std::uint8_t>{1, 1, 1, 0}));
  std::vector<std::int64_t> bad_start{0, 4};
  EXPECT_THROW(cs::segmentation_rasa({px, bad_start, pixels}, 10, 1e-5), tagger::InvalidArgument);
}

TEST(ConsensusFamilies, RoverVotesAlignedWords) {
  // "a b c", "a c", "a b d" -> slots a | b/"" | c/d ; codes: a=1 b=2 c=3 d=4
  std::vector<std::int32_t> tokens{1, 2, 3, 1, 3, 1, 2, 4};
  std::vector<std::int64_t> hyp{0, 3, 5, 8}, task{0, 3}, rank{0, 1, 2, 3, 4};
  const auto r = cs::rover(tokens, hyp, task, rank);
  EXPECT_EQ(r.tokens, (std::vector<std::int32_t>{1, 2, 3}));
  EXPECT_EQ(r.out_start, (std::vector<std::int64_t>{0, 3}));
  std::vector<std::int64_t> bad_task{0, 4};
  EXPECT_THROW(cs::rover(tokens, hyp, bad_task, rank), tagger::InvalidArgument);
}

TEST(ConsensusFamilies, RasaDownweightsTheOutlier) {
  // Two tasks, three workers; worker 2 is far off on both.
  std::vector<double> emb{1, 0, 1.1, 0, 5, 5, /**/ 0, 1, 0, 1.1, -4, 3};
  std::vector<std::int32_t> task{0, 0, 0, 1, 1, 1}, worker{0, 1, 2, 0, 1, 2};
  std::vector<double> prior{1, 1, 1}, none;
  std::vector<std::uint8_t> no_mask;
  const auto r = cs::embeddings_rasa(emb, 2, task, worker, 2, 3, prior, none, none, none, no_mask, 100, 1e-12);
  EXPECT_LT(r.skills[2] * 100, r.skills[0]);
  EXPECT_NEAR(r.aggregated[0], 1.05, 0.05);
  EXPECT_THROW(cs::embeddings_rasa(emb, 3, task, worker, 2, 3, prior, none, none, none, no_mask, 100, 1e-12), tagger::InvalidArgument);
}

TEST(ConsensusFamilies, BoxesClusterByIou) {
  // Task 0: three workers agree on one box, one adds a stray box.
  std::vector<double> boxes{0, 0, 10, 10, 1, 1, 11, 11, 0, 1, 10, 11, 50, 50, 60, 60};
  std::vector<std::int32_t> task{0, 0, 0, 0}, worker{0, 1, 2, 2}, label{0, 0, 0, 0};
  const auto r = cs::bbox_aggregate(boxes, task, worker, label, 1, 0.5, 0.5, false);
  ASSERT_EQ(r.task.size(), 1u);
  EXPECT_EQ(r.support[0], 3);
  EXPECT_NEAR(r.boxes[0], 1.0 / 3, 1e-12);
  EXPECT_EQ(r.cluster, (std::vector<std::int32_t>{0, 0, 0, -1}));
  boxes[2] = -1;  // x_max < x_min
  EXPECT_THROW(cs::bbox_aggregate(boxes, task, worker, label, 1, 0.5, 0.5, false), tagger::InvalidArgument);
}
