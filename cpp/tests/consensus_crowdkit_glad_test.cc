// tagger::consensus::glad_crowdkit (crowd-kit's GLAD with scipy's CG M-step):
// the CG port reaches a stationary point of crowd-kit's Q when allowed to,
// results do not depend on the thread count, and bad options are refused.
// Parity with crowd-kit itself is checked in tests/test_consensus_parity.py.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "tagger/consensus_crowdkit.h"
#include "tagger/errors.h"

namespace cs = tagger::consensus;

namespace {

struct Answers {
  std::vector<std::int32_t> task, worker, label;
  std::int32_t n_tasks, n_workers, n_labels;
  cs::AnswersView view() const {
    return {task.data(), worker.data(), label.data(), task.size(), n_tasks, n_workers, n_labels};
  }
};

Answers simulate(std::uint32_t seed, std::int32_t T, std::int32_t W, std::int32_t K, int per_task) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  Answers a{{}, {}, {}, T, W, K};
  std::vector<double> skill(static_cast<std::size_t>(W));
  for (double& s : skill) s = 0.4 + 0.55 * u(rng);
  for (std::int32_t t = 0; t < T; ++t) {
    const auto truth = static_cast<std::int32_t>(rng() % static_cast<std::uint32_t>(K));
    for (int r = 0; r < per_task; ++r) {
      const auto w = static_cast<std::int32_t>(rng() % static_cast<std::uint32_t>(W));
      a.task.push_back(t);
      a.worker.push_back(w);
      a.label.push_back(u(rng) < skill[static_cast<std::size_t>(w)] ? truth
                                                                    : static_cast<std::int32_t>(rng() % static_cast<std::uint32_t>(K)));
    }
  }
  return a;
}

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

}  // namespace

TEST(CrowdkitGlad, ConjugateGradientEndsAtAStationaryPointOfQ) {
  const Answers a = simulate(3, 60, 12, 3, 5);
  cs::Options opt;
  opt.n_iter = 1;  // one E-step (its posteriors are the ones returned), one M-step
  cs::GladCrowdkitOptions g;
  g.m_step_max_iter = 2000;
  g.m_step_tol = 1e-8;
  const cs::Result r = cs::glad_crowdkit(a.view(), opt, g);
  ASSERT_EQ(r.abilities.size(), 12u);
  // dQ/d alpha_w = sum_j (P(z = y_j) - s_j) beta_t - (alpha_w - 1), dQ/d b_t = sum_j (...) alpha beta - (b_t - 1).
  std::vector<double> ga(12), gb(60);
  for (std::size_t w = 0; w < 12; ++w) ga[w] = -(r.abilities[w] - 1.0);
  for (std::size_t t = 0; t < 60; ++t) gb[t] = -(std::log(r.difficulties[t]) - 1.0);
  for (std::size_t j = 0; j < a.task.size(); ++j) {
    const auto t = static_cast<std::size_t>(a.task[j]), w = static_cast<std::size_t>(a.worker[j]);
    const double beta = r.difficulties[t], s = sigmoid(r.abilities[w] * beta);
    const double e = r.probas[t * 3 + static_cast<std::size_t>(a.label[j])] - s;
    ga[w] += e * beta;
    gb[t] += e * r.abilities[w] * beta;
  }
  for (double v : ga) EXPECT_LT(std::abs(v), 1e-6);
  for (double v : gb) EXPECT_LT(std::abs(v), 1e-6);
  ASSERT_EQ(r.objective_history.size(), 1u);
  EXPECT_TRUE(std::isfinite(r.objective_history[0]));
}

TEST(CrowdkitGlad, SameBitsOnAnyNumberOfThreads) {
  const Answers a = simulate(5, 9000, 6000, 2, 3);  // more than one chunk of tasks, workers and answers
  cs::Options opt;
  opt.n_iter = 2;
  cs::GladCrowdkitOptions g;
  g.m_step_max_iter = 3;
  opt.threads = 1;
  const cs::Result one = cs::glad_crowdkit(a.view(), opt, g);
  for (unsigned threads : {2u, 3u}) {
    opt.threads = threads;
    const cs::Result other = cs::glad_crowdkit(a.view(), opt, g);
    EXPECT_EQ(one.probas, other.probas);
    EXPECT_EQ(one.abilities, other.abilities);
    EXPECT_EQ(one.difficulties, other.difficulties);
    EXPECT_EQ(one.objective_history, other.objective_history);
  }
}

TEST(CrowdkitGlad, RefusesBadOptions) {
  const Answers a = simulate(1, 10, 4, 3, 3);
  cs::GladCrowdkitOptions g;
  g.m_step_tol = -1;
  EXPECT_THROW(cs::glad_crowdkit(a.view(), {}, g), tagger::InvalidArgument);
  g = {};
  g.alpha_prior = NAN;
  EXPECT_THROW(cs::glad_crowdkit(a.view(), {}, g), tagger::InvalidArgument);
  const std::vector<std::int32_t> dup = {0, 0, 1}, short_order = {0, 1};
  g = {};
  g.label_order = dup;
  EXPECT_THROW(cs::glad_crowdkit(a.view(), {}, g), tagger::InvalidArgument);
  g.label_order = short_order;
  EXPECT_THROW(cs::glad_crowdkit(a.view(), {}, g), tagger::InvalidArgument);
  const std::vector<std::int32_t> order = {2, 0, 1};
  g.label_order = order;
  EXPECT_NO_THROW(cs::glad_crowdkit(a.view(), {}, g));
}
