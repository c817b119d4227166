// Tokenizer (the shipped model), Embedder, validate_text and the few-shot index.
#include <gtest/gtest.h>

#include "tagger/errors.h"
#include "tagger/match.h"

namespace tagger::match {
namespace {

Tokenizer shipped() { return Tokenizer::from_file(TAGGER_SOURCE_DIR "/python/tagger/data/tokenizer.model"); }

TEST(MatchTokenizer, RoundTripsAndScores) {
  auto tok = shipped();
  for (std::string s : {"label the sentiment of reviews", "café naïve", "emoji 🙂 and 漢字 survive"}) {
    auto ids = tok.encode_ids(s);
    EXPECT_EQ(tok.decode(ids), s);
  }
  EXPECT_LT(tok.log_prob_per_char("qzxv kjwq pfzz"), tok.log_prob_per_char("please label these images") - 1.0);
  EXPECT_THROW(Tokenizer::from_bytes("garbage"), InvalidArgument);
  EXPECT_THROW(tok.piece_score(tok.vocab_size()), InvalidArgument);
}

TEST(MatchText, ValidateTextGivesTheReason) {
  EXPECT_NO_THROW(validate_text("Label reviews"));
  EXPECT_THROW(validate_text(""), InvalidArgument);
  EXPECT_THROW(validate_text("123 !!"), InvalidArgument);
  EXPECT_THROW(validate_text("\xff\xfe"), InvalidArgument);
  try {
    validate_text("Разметьте отзывы");
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("Cyrillic"), std::string::npos);
  }
}

TEST(MatchEmbedder, UnitVectorsAndCosine) {
  Embedder e(shipped());
  e.fit_idf({"label images of cats", "transcribe audio", "rate answers"});
  auto v = e.embed("label images of cats");
  double n2 = 0;
  for (float x : v.value) n2 += double(x) * x;
  EXPECT_NEAR(n2, 1.0, 1e-5);
  EXPECT_TRUE(std::is_sorted(v.index.begin(), v.index.end()));
  EXPECT_NEAR(Embedder::similarity(v, v), 1.0, 1e-5);
  EXPECT_GT(e.similarity("label cat images", "label images of cats"), e.similarity("label cat images", "transcribe audio"));
}

TEST(MatchCategoryIndex, FewShotSeparatesTwoTopics) {
  std::vector<std::string> texts = {"draw boxes around cars", "box the pedestrians", "bounding boxes for bikes",
                                    "transcribe the call", "write down the speech", "transcribe podcast audio"};
  std::vector<std::string> labels = {"det", "det", "det", "asr", "asr", "asr"};
  IndexConfig cfg;
  cfg.train.epochs = 20;
  auto idx = CategoryIndex::fit(texts, labels, shipped(), cfg);
  EXPECT_EQ(idx.top_k("draw boxes around trucks", 1)[0].category, "det");
  EXPECT_EQ(idx.top_k("transcribe this audio", 1)[0].category, "asr");
  auto p = idx.predict_proba({"boxes"});
  EXPECT_NEAR(p[0] + p[1], 1.0, 1e-5);
  EXPECT_THROW(CategoryIndex::from_catalog({}, shipped()), InvalidArgument);
}

}  // namespace
}  // namespace tagger::match
