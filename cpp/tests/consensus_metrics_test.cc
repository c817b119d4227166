// Agreement metrics (metrics.cc): Fleiss' kappa on its textbook example,
// Krippendorff's alpha by hand on a tiny table and the same value from counts
// and from answers, the answer entropy, and the undefined cases.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "tagger/consensus.h"
#include "tagger/errors.h"

namespace cs = tagger::consensus;

namespace {

struct Answers {
  std::vector<std::int32_t> task, worker, label;
  cs::AnswersView view(std::int32_t nt, std::int32_t nw, std::int32_t nl) const {
    return {task.data(), worker.data(), label.data(), task.size(), nt, nw, nl};
  }
};

// One answer per (task, rater) from a task x label count table.
Answers from_table(const std::vector<std::vector<int>>& table) {
  Answers a;
  for (std::size_t t = 0; t < table.size(); ++t) {
    std::int32_t w = 0;
    for (std::size_t k = 0; k < table[t].size(); ++k)
      for (int i = 0; i < table[t][k]; ++i) {
        a.task.push_back(static_cast<std::int32_t>(t));
        a.worker.push_back(w++);
        a.label.push_back(static_cast<std::int32_t>(k));
      }
  }
  return a;
}

}  // namespace

TEST(ConsensusMetrics, FleissKappaTextbookExample) {
  // Fleiss (1971) as in the Wikipedia article: 10 subjects, 14 raters, 5 categories.
  Answers a = from_table({{0, 0, 0, 0, 14}, {0, 2, 6, 4, 2}, {0, 0, 3, 5, 6}, {0, 3, 9, 2, 0}, {2, 2, 8, 1, 1},
                          {7, 7, 0, 0, 0}, {3, 2, 6, 3, 0}, {2, 5, 3, 2, 2}, {6, 5, 2, 1, 0}, {0, 2, 2, 3, 7}});
  EXPECT_NEAR(cs::fleiss_kappa(a.view(10, 14, 5)), 0.20993, 1e-5);
}

TEST(ConsensusMetrics, AlphaByHandFromCountsAndFromAnswers) {
  // Units (0, 0), (0, 1), (1, 1, 1): unit 1 adds o00 = 2 * 1 / 1 = 2, unit 2 adds
  // o01 = o10 = 1, unit 3 adds o11 = 3 * 2 / 2 = 3.
  // n0 = 3, n1 = 4, n = 7; nominal D_o = 2, D_e = 2 * 3 * 4 / 6 = 4 -> alpha = 0.5.
  std::vector<double> counts = {2, 0, 1, 1, 0, 3};
  std::vector<double> values = {0, 1};
  EXPECT_NEAR(cs::krippendorff_alpha(counts, 3, values, cs::AlphaLevel::Nominal), 0.5, 1e-15);
  Answers a = from_table({{2, 0}, {1, 1}, {0, 3}});
  EXPECT_NEAR(cs::krippendorff_alpha(a.view(3, 3, 2), values, cs::AlphaLevel::Nominal), 0.5, 1e-15);
  // With two values interval (v0 - v1)^2 scales both sums: the same alpha.
  std::vector<double> far = {1, 5};
  EXPECT_NEAR(cs::krippendorff_alpha(counts, 3, far, cs::AlphaLevel::Interval), 0.5, 1e-15);
}

TEST(ConsensusMetrics, EntropyAndUndefinedCases) {
  Answers a = from_table({{1, 1}, {2, 0}, {0, 0}});
  std::vector<double> h = cs::answer_entropy(a.view(3, 2, 2), {});
  EXPECT_NEAR(h[0], std::log(2.0), 1e-15);
  EXPECT_EQ(h[1], 0.0);
  EXPECT_TRUE(std::isnan(h[2]));
  std::vector<double> values = {0, 1};
  Answers lone = from_table({{1, 0}, {0, 1}});  // no unit with two values
  EXPECT_THROW(cs::krippendorff_alpha(lone.view(2, 1, 2), values, cs::AlphaLevel::Nominal), tagger::InvalidArgument);
  EXPECT_THROW(cs::fleiss_kappa(lone.view(2, 1, 2)), tagger::InvalidArgument);
  Answers same = from_table({{2, 0}, {3, 0}});  // one value only
  EXPECT_THROW(cs::krippendorff_alpha(same.view(2, 3, 2), values, cs::AlphaLevel::Nominal), tagger::InvalidArgument);
  EXPECT_THROW(cs::fleiss_kappa(same.view(2, 3, 2)), tagger::InvalidArgument);
  std::vector<double> unordered = {1, 0};
  std::vector<double> counts = {2, 0, 1, 1};
  EXPECT_THROW(cs::krippendorff_alpha(counts, 2, unordered, cs::AlphaLevel::Ordinal), tagger::InvalidArgument);
  std::vector<double> wrong_size = {2, 0, 1};
  EXPECT_THROW(cs::krippendorff_alpha(wrong_size, 2, values, cs::AlphaLevel::Nominal), tagger::InvalidArgument);
  std::vector<double> negative = {-1.0, 1.0};
  EXPECT_THROW(cs::answer_entropy(a.view(3, 2, 2), negative), tagger::InvalidArgument);
}
