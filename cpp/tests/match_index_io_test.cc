// CategoryIndex::serialize / deserialize: a read-back index predicts what the
// original does, bit for bit; damaged bytes are refused, never crash.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tagger/errors.h"
#include "tagger/match.h"
#include "tagger/static_embedding.h"

namespace tagger::match {
namespace {

Tokenizer shipped_tokenizer() {  // copies share one processor
  static const Tokenizer t = Tokenizer::from_file(TAGGER_SOURCE_DIR "/python/tagger/data/tokenizer.model");
  return t;
}

std::shared_ptr<const StaticEmbedding> shipped_table() {
  static auto e = std::make_shared<const StaticEmbedding>(
      StaticEmbedding::from_file(TAGGER_SOURCE_DIR "/python/tagger/data/static_embedding.bin"));
  return e;
}

const std::vector<std::string> kTexts{"my card has not arrived", "where is my new card", "card delivery is late",
                                      "top up failed", "my top-up did not work", "cannot add money",
                                      "i forgot my pin", "pin is blocked", "reset my pin code"};
const std::vector<std::string> kLabels{"card", "card", "card", "topup", "topup", "topup", "pin", "pin", "pin"};
const std::vector<std::string> kQueries{"the card never came", "top up declined", "unblock pin", "10-4", "", "zzqx"};

CategoryIndex fitted(bool dense) {
  IndexConfig cfg;
  cfg.train.epochs = 10;
  if (dense) cfg.dense = shipped_table(), cfg.dense_weight = 4.0f;
  auto ix = CategoryIndex::fit(kTexts, kLabels, shipped_tokenizer(), cfg);
  ix.set_temperature(0.7f);
  return ix;
}

TEST(CategoryIndexIO, RoundTripPredictsTheSameBitForBit) {
  for (bool dense : {false, true}) {
    const CategoryIndex ix = fitted(dense);
    const std::string bytes = ix.serialize();
    const CategoryIndex back = CategoryIndex::deserialize(bytes, shipped_tokenizer(), dense ? shipped_table() : nullptr);
    EXPECT_EQ(back.categories(), ix.categories());
    EXPECT_EQ(back.temperature(), 0.7f);
    EXPECT_EQ(back.has_dense(), dense);
    std::vector<TextSignal> s1, s2;
    EXPECT_EQ(back.predict_proba(kQueries, 1, &s2), ix.predict_proba(kQueries, 1, &s1));
    EXPECT_EQ(s1, s2);
    EXPECT_EQ(back.serialize(), bytes);  // canonical: the same fit, the same bytes
  }
}

TEST(CategoryIndexIO, TheDenseTableMustMatchHowTheIndexWasSaved) {
  const std::string with = fitted(true).serialize(), without = fitted(false).serialize();
  EXPECT_THROW(CategoryIndex::deserialize(with, shipped_tokenizer(), nullptr), InvalidArgument);
  EXPECT_THROW(CategoryIndex::deserialize(without, shipped_tokenizer(), shipped_table()), InvalidArgument);
}

TEST(CategoryIndexIO, DamagedBytesAreRefusedNeverCrash) {
  const std::string bytes = fitted(true).serialize();
  EXPECT_THROW(CategoryIndex::deserialize("", shipped_tokenizer(), shipped_table()), DecodeError);
  EXPECT_THROW(CategoryIndex::deserialize("not an index", shipped_tokenizer(), shipped_table()), Error);
  // Every truncation is an error (the codec knows each length); most byte flips are too,
  // and any that decodes is a consistent index that can answer a query.
  for (std::size_t n = 0; n < bytes.size(); n += 1 + n / 64)
    EXPECT_THROW(CategoryIndex::deserialize(bytes.substr(0, n), shipped_tokenizer(), shipped_table()), Error) << n;
  for (std::size_t at = 0; at < bytes.size(); at += 1 + at / 32) {
    std::string bad = bytes;
    bad[at] = static_cast<char>(bad[at] ^ 0x5a);
    try {
      const CategoryIndex ix = CategoryIndex::deserialize(bad, shipped_tokenizer(), shipped_table());
      EXPECT_EQ(ix.predict_proba(kQueries, 1).size(), kQueries.size() * ix.categories().size());
    } catch (const Error&) {
    }
  }
}

}  // namespace
}  // namespace tagger::match
