// tagger::sim: mechanism invariants on hand-made answers, integer payout
// rules, and the simulator's reproducibility (Python tests compare every
// mechanism with a slow reference).
#include <gtest/gtest.h>

#include <numeric>

#include "tagger/errors.h"
#include "tagger/sim.h"

namespace tagger::sim {
namespace {

struct Answers {
  std::vector<std::int32_t> t, w, l;
  std::int32_t nt, nw, nl;
  AnswersView view() const { return {t.data(), w.data(), l.data(), t.size(), nt, nw, nl}; }
};

TEST(SimMechanisms, OutputAgreementCountsAgreeingPeers) {
  // Task 0: a, b say 1, c says 0. Task 1: all say 0.
  Answers a{{0, 0, 0, 1, 1, 1}, {0, 1, 2, 0, 1, 2}, {1, 1, 0, 0, 0, 0}, 2, 3, 2};
  Scores s = score(Mechanism::kOutputAgreement, a.view());
  EXPECT_DOUBLE_EQ(s.score[0], 0.5 + 1.0);
  EXPECT_DOUBLE_EQ(s.score[2], 0.0 + 1.0);
  EXPECT_EQ(s.n_scored[1], 2);
}

TEST(SimMechanisms, LoneAnswersGetNoPeerScore) {
  Answers a{{0, 1}, {0, 1}, {1, 0}, 2, 2, 2};
  for (auto m : {Mechanism::kOutputAgreement, Mechanism::kPeerTruthSerum, Mechanism::kCorrelatedAgreement}) {
    Scores s = score(m, a.view());
    EXPECT_EQ(s.n_scored[0], 0);
    EXPECT_EQ(s.n_answers[0], 1);
  }
}

TEST(SimMechanisms, RejectsOutOfRangeAnswers) {
  Answers a{{0, 2}, {0, 1}, {1, 0}, 2, 2, 2};
  EXPECT_THROW(score(Mechanism::kOutputAgreement, a.view()), InvalidArgument);
  Answers b{{0, 1}, {0, 1}, {1, 0}, 2, 2, 2};
  EXPECT_THROW(score(Mechanism::kGoldStandard, b.view()), InvalidArgument);  // gold missing
  EXPECT_THROW(mechanism_from_name("nope"), InvalidArgument);
}

TEST(SimPayments, AmountsNeverExceedBudget) {
  std::vector<double> sc = {1e9, 3.5, 0.2, -4, 7e18};
  std::vector<std::int64_t> n = {1, 2, 3, 4, 5};
  for (std::uint64_t budget : {0ull, 1ull, 17ull, 1000000ull, ~0ull >> 1}) {
    auto a = to_amounts(sc, n, 2.0, 1000.0, budget);
    unsigned __int128 sum = 0;
    for (auto v : a) sum += v;
    EXPECT_LE(sum, budget);
    EXPECT_EQ(a[3], 0u);  // negative raw amounts pay nothing
  }
  auto a = to_amounts(std::vector<double>{1, 2}, std::vector<std::int64_t>{0, 0}, 0, 10, 1000);
  EXPECT_EQ(a, (std::vector<std::uint64_t>{10, 20}));
}

TEST(SimPayments, ReputationAndSlashingRules) {
  std::vector<std::uint64_t> al = {10}, be = {4}, c = {3}, i = {1};
  update_reputation(al, be, c, i, 5000);
  EXPECT_EQ(al[0], 8u);
  EXPECT_EQ(be[0], 3u);
  EXPECT_EQ(reputation_bps(0, 0), 5000u);
  EXPECT_EQ(slash_amount(1000, 1, 4, 6000, 2500, 3), 250u);
  EXPECT_EQ(slash_amount(1000, 3, 4, 6000, 2500, 3), 0u);
  EXPECT_EQ(slash_amount(1000, 0, 2, 6000, 2500, 3), 0u);  // too few control answers to judge
  EXPECT_THROW(slash_amount(1000, 5, 4, 6000, 2500, 3), InvalidArgument);
}

Population mixed(std::size_t n) {
  Population p;
  for (std::size_t w = 0; w < n; ++w) {
    p.strategy.push_back(static_cast<std::uint8_t>(w % 3 == 0 ? Strategy::kRandom : Strategy::kHonest));
    p.skill.push_back(0.8);
    p.effort.push_back(1);
    p.target.push_back(0);
    p.flip.push_back(0);
    p.group.push_back(0);
  }
  return p;
}

TEST(SimSimulator, ReproducibleAndThreadIndependent) {
  SimConfig c;
  c.n_labels = 3;
  c.n_tasks = 50000;  // large enough that answer generation runs on several threads
  c.mechanism = Mechanism::kCorrelatedAgreement;
  c.rate = 1000;
  c.seed = 7;
  c.threads = 1;
  Simulator a(c, mixed(3000));
  c.threads = 4;
  Simulator b(c, mixed(3000));
  for (int r = 0; r < 2; ++r) {
    RoundStats x = a.step(), y = b.step();
    EXPECT_EQ(a.data().label, b.data().label);
    EXPECT_EQ(x.earnings, y.earnings);
    EXPECT_EQ(x.accuracy, y.accuracy);
  }
  EXPECT_EQ(a.earnings(), b.earnings());
}

TEST(SimSimulator, InfeasibleCapacityIsATypedError) {
  SimConfig c;
  c.n_tasks = 100;
  c.capacity = 1;
  Simulator s(c, mixed(10));
  EXPECT_THROW(s.step(), InfeasibleAssignment);
}

}  // namespace
}  // namespace tagger::sim
