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

TEST(MatchText, SignalNamesTheReasonWithoutThrowing) {
  EXPECT_EQ(text_signal("Label reviews"), TextSignal::ok);
  EXPECT_EQ(text_signal(""), TextSignal::empty);
  EXPECT_EQ(text_signal(" \n\t"), TextSignal::empty);
  EXPECT_EQ(text_signal("10-4"), TextSignal::no_letters);
  EXPECT_EQ(text_signal("\xF0\x9F\x99\x82"), TextSignal::no_letters);  // an emoji
  EXPECT_EQ(text_signal("\xff\xfe"), TextSignal::invalid_utf8);
  EXPECT_EQ(text_signal("Разметьте отзывы"), TextSignal::unsupported_script);
  EXPECT_EQ(text_signal("Разметьте отзывы", false), TextSignal::ok);
  EXPECT_STREQ(text_signal_name(TextSignal::unseen), "unseen");
}

TEST(MatchCategoryIndex, OddTextsGetAnAnswerAndASignal) {
  std::vector<std::string> texts = {"draw boxes around cars", "box the pedestrians", "transcribe the call",
                                    "write down the speech"};
  std::vector<std::string> labels = {"det", "det", "asr", "asr"};
  auto idx = CategoryIndex::fit(texts, labels, shipped());
  std::vector<TextSignal> sig;
  auto p = idx.predict_proba({"draw boxes", "", "10-4", "Разметьте отзывы", "qqqqqqqqqq"}, 1, &sig);
  ASSERT_EQ(p.size(), 10u);
  ASSERT_EQ(sig.size(), 5u);
  EXPECT_EQ(sig[0], TextSignal::ok);
  EXPECT_EQ(sig[1], TextSignal::empty);
  EXPECT_EQ(sig[2], TextSignal::no_letters);
  EXPECT_EQ(sig[3], TextSignal::unsupported_script);
  for (std::size_t r = 0; r < 5; ++r) EXPECT_NEAR(p[2 * r] + p[2 * r + 1], 1.0, 1e-5);
  // The empty text has no features: it scores the prior softmax(b).
  idx.set_temperature(2.0f);
  auto q = idx.predict_proba({""});
  EXPECT_NEAR(q[0] + q[1], 1.0, 1e-5);
  EXPECT_THROW(idx.set_temperature(0.0f), InvalidArgument);
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

TEST(MatchEmbedder, FitTransformEqualsFitThenEmbed) {
  std::vector<std::string> corpus = {"label images of cats", "transcribe audio", "rate answers", "", "10-4",
                                     "label the images again and again"};
  Embedder a(shipped()), b(shipped());
  auto rows = a.fit_transform(corpus, 2);
  b.fit_idf(corpus, 3);
  auto ref = b.embed_batch(corpus, 1);
  ASSERT_EQ(rows.size(), ref.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].index, ref[i].index);
    EXPECT_EQ(rows[i].value, ref[i].value);  // bit for bit
  }
  EXPECT_TRUE(a.has_idf());
  EXPECT_EQ(a.embed("transcribe audio").value, b.embed("transcribe audio").value);
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

TEST(MatchCategoryIndex, FoldModelsEqualSeparateFitsForAnyThreadCount) {
  std::vector<std::string> texts = {"draw boxes around cars", "box the pedestrians", "bounding boxes for bikes",
                                    "transcribe the call",    "write down the speech", "transcribe podcast audio",
                                    "rate the answers",       "which reply is better", "rank these responses"};
  std::vector<std::string> labels = {"det", "det", "det", "asr", "asr", "asr", "rlhf", "rlhf", "rlhf"};
  IndexConfig cfg;
  cfg.train.epochs = 5;
  // Fold 0 trains on the det and asr examples but one of each, fold 1 on everything.
  std::vector<CategoryIndex::Fold> folds = {{{0, 1, 3, 4}, {2, 5, 6}}, {{0, 1, 2, 3, 4, 5, 6, 7, 8}, {8}}};
  std::vector<std::vector<CategoryIndex::FoldScores>> runs;
  for (unsigned threads : {1u, 2u, 3u}) {
    cfg.train.threads = threads;
    std::vector<CategoryIndex::FoldScores> scores;
    auto idx = CategoryIndex::fit_with_folds(texts, labels, shipped(), cfg, folds, &scores);
    ASSERT_EQ(scores.size(), 2u);
    EXPECT_EQ(scores[0].categories, (std::vector<std::string>{"asr", "det"}));
    ASSERT_EQ(scores[0].proba.size(), 3u * 2u);
    // The shared featurization weighs each fold by its own IDF: the same bits as
    // fitting the fold's examples alone and scoring the held-out texts.
    auto alone = CategoryIndex::fit({texts[0], texts[1], texts[3], texts[4]}, {"det", "det", "asr", "asr"}, shipped(), cfg);
    EXPECT_EQ(scores[0].proba, alone.predict_proba({texts[2], texts[5], texts[6]}, 1));
    // The fold trained on everything is the full model.
    EXPECT_EQ(scores[1].proba, idx.predict_proba({texts[8]}, 1));
    EXPECT_EQ(idx.predict_proba(texts, 1), CategoryIndex::fit(texts, labels, shipped(), cfg).predict_proba(texts, 1));
    runs.push_back(std::move(scores));
  }
  for (const auto& r : runs) EXPECT_EQ(r[0].proba, runs[0][0].proba);
  EXPECT_THROW(CategoryIndex::fit_with_folds(texts, labels, shipped(), cfg, {{{0, 1}, {2}}}, nullptr), InvalidArgument);
  EXPECT_THROW(CategoryIndex::fit_with_folds(texts, labels, shipped(), cfg, {{{0, 3}, {99}}}, nullptr), InvalidArgument);
}

}  // namespace
}  // namespace tagger::match
