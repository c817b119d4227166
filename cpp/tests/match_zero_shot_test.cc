// ZeroShotScorer on a small hand-made catalog over the shipped static
// embedding (the numpy reference comparison is in tests/test_zero_shot.py).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "tagger/errors.h"
#include "tagger/static_embedding.h"
#include "tagger/zero_shot.h"

namespace tagger::match {
namespace {

std::shared_ptr<const StaticEmbedding> shipped() {
  static auto e = std::make_shared<const StaticEmbedding>(
      StaticEmbedding::from_file(TAGGER_SOURCE_DIR "/python/tagger/data/static_embedding.bin"));
  return e;
}

const std::vector<std::string> kTexts{
    "audio transcription", "write down what is said in recordings", "transcribe podcast episodes",
    "image object detection", "draw boxes around objects in photos", "box the cars in street images",
    "text translation", "translate sentences into another language", "translate product pages to German"};
const std::vector<int> kLabels{0, 0, 0, 1, 1, 1, 2, 2, 2};

int argmax(const std::vector<double>& s, std::size_t row, std::size_t n) {
  auto b = s.begin() + static_cast<std::ptrdiff_t>(row * n);
  return static_cast<int>(std::max_element(b, b + static_cast<std::ptrdiff_t>(n)) - b);
}

TEST(ZeroShotScorer, RanksTheMatchingCategoryFirstForEveryOption) {
  const std::vector<std::string> q{"transcribe interviews into text", "find every pedestrian in camera photos",
                                   "translate subtitles into Spanish"};
  for (bool pooled : {false, true})
    for (double pw : {0.0, 0.5}) {
      ZeroShotConfig cfg;
      cfg.pooled = pooled;
      cfg.precision_weight = pw;
      auto z = ZeroShotScorer::build(shipped(), kTexts, kLabels, 3, cfg, 1);
      auto s = z.scores(q, 1);
      ASSERT_EQ(s.size(), 9u);
      for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(argmax(s, i, 3), static_cast<int>(i)) << pooled << " " << pw;
      auto p = z.predict_proba(q, 0.5, 1);
      for (std::size_t i = 0; i < 3; ++i) EXPECT_NEAR(p[i * 3] + p[i * 3 + 1] + p[i * 3 + 2], 1.0, 1e-6);
    }
}

TEST(ZeroShotScorer, ScoresDoNotDependOnThreadsOrBatch) {
  auto z = ZeroShotScorer::build(shipped(), kTexts, kLabels, 3);
  std::vector<std::string> q;
  for (int r = 0; r < 300; ++r) q.push_back(kTexts[r % kTexts.size()] + " number " + std::to_string(r));
  q.push_back("");
  auto one = z.scores(q, 1), four = z.scores(q, 4);
  EXPECT_EQ(one, four);  // bit for bit
  auto alone = z.scores({q[123]}, 1);
  EXPECT_TRUE(std::equal(alone.begin(), alone.end(), one.begin() + 123 * 3));
  EXPECT_EQ(std::vector<double>(one.end() - 3, one.end()), std::vector<double>(3, 0.0));  // no known token
}

TEST(ZeroShotScorer, BadInputIsRejected) {
  EXPECT_THROW(ZeroShotScorer::build(nullptr, kTexts, kLabels, 3), InvalidArgument);
  EXPECT_THROW(ZeroShotScorer::build(shipped(), kTexts, {0, 1}, 3), InvalidArgument);
  EXPECT_THROW(ZeroShotScorer::build(shipped(), kTexts, kLabels, 4), InvalidArgument);  // category 3 has no texts
  ZeroShotConfig bad;
  bad.idf_power = std::nan("");
  EXPECT_THROW(ZeroShotScorer::build(shipped(), kTexts, kLabels, 3, bad), InvalidArgument);
  auto z = ZeroShotScorer::build(shipped(), kTexts, kLabels, 3);
  EXPECT_THROW(z.predict_proba({"x"}, -1.0), InvalidArgument);
}

}  // namespace
}  // namespace tagger::match
