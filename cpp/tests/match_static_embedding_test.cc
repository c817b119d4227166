// WordPiece on a hand-made vocabulary, and the shipped static embedding.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "tagger/errors.h"
#include "tagger/static_embedding.h"

namespace tagger::match {
namespace {

WordPiece tiny() {
  return WordPiece::from_vocab({"[PAD]", "[UNK]", "un", "##aff", "##able", "cafe", "!", "?", ",", "a", "##b", "ab",
                                "naive", "中", "x"});
}

std::vector<std::string> toks(const WordPiece& wp, std::string_view text) { return wp.tokenize(text); }

TEST(WordPiece, GreedyLongestMatchFirst) {
  auto wp = tiny();
  EXPECT_EQ(toks(wp, "unaffable"), (std::vector<std::string>{"un", "##aff", "##able"}));
  // "ab" is a whole word; "abb" is ab + ##b; "unx" has no continuation "x": the whole word is [UNK].
  EXPECT_EQ(toks(wp, "ab abb unx"), (std::vector<std::string>{"ab", "ab", "##b", "[UNK]"}));
}

TEST(WordPiece, LowercasesStripsAccentsAndSplitsPunctuation) {
  auto wp = tiny();
  EXPECT_EQ(toks(wp, "UNAFFABLE, Café!"), (std::vector<std::string>{"un", "##aff", "##able", ",", "cafe", "!"}));
  EXPECT_EQ(toks(wp, "NAÏVE?"), (std::vector<std::string>{"naive", "?"}));
  // Combining marks are dropped (NFD "e" + U+0301), CJK characters are words of their own.
  EXPECT_EQ(toks(wp, "cafe\xcc\x81 x\xe4\xb8\xad" "x"), (std::vector<std::string>{"cafe", "x", "中", "x"}));
}

TEST(WordPiece, OddInputNeverThrows) {
  auto wp = tiny();
  EXPECT_TRUE(wp.encode("").empty());
  EXPECT_TRUE(wp.encode(" \t\n\x01").empty());
  EXPECT_EQ(wp.encode("\xff\xfe x"), (std::vector<int>{14}));  // invalid bytes dropped
  EXPECT_EQ(wp.encode(std::string(300, 'a')), (std::vector<int>{1}));  // > 100 characters: [UNK]
  EXPECT_THROW(WordPiece::from_vocab({"a", "b"}), InvalidArgument);
  EXPECT_THROW(WordPiece::from_vocab({}), InvalidArgument);
  EXPECT_THROW(wp.token(99), InvalidArgument);
}

std::string shipped_bytes() {
  std::ifstream f(TAGGER_SOURCE_DIR "/python/tagger/data/static_embedding.bin", std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

TEST(StaticEmbedding, ShippedTableGivesUnitVectorsThatRankMeaning) {
  auto bytes = shipped_bytes();
  ASSERT_FALSE(bytes.empty());
  auto e = StaticEmbedding::from_bytes(bytes);
  ASSERT_EQ(e.tokenizer().token(e.tokenizer().unk_id()), "[UNK]");
  auto a = e.embed("my card has not arrived yet");
  auto b = e.embed("when will my new card be delivered");
  auto c = e.embed("the best recipe for banana bread");
  auto dot = [&](const std::vector<float>& x, const std::vector<float>& y) {
    double s = 0;
    for (std::size_t i = 0; i < x.size(); ++i) s += x[i] * y[i];
    return s;
  };
  EXPECT_NEAR(dot(a, a), 1.0, 1e-5);
  EXPECT_GT(dot(a, b), dot(a, c) + 0.1);
  auto none = e.embed("");
  EXPECT_EQ(dot(none, none), 0.0);
  std::vector<std::string> texts{"my card has not arrived yet", "", "the best recipe for banana bread"};
  auto batch = e.embed_batch(texts, 2);
  ASSERT_EQ(batch.size(), 3 * e.dim());
  EXPECT_EQ(std::memcmp(batch.data(), a.data(), e.dim() * sizeof(float)), 0);
}

TEST(StaticEmbedding, CorruptFilesAreRejected) {
  auto bytes = shipped_bytes();
  EXPECT_THROW(StaticEmbedding::from_bytes("TGSE"), InvalidArgument);
  EXPECT_THROW(StaticEmbedding::from_bytes(std::string_view(bytes).substr(0, bytes.size() - 1)), InvalidArgument);
  auto bad = bytes;
  bad[0] = 'X';
  EXPECT_THROW(StaticEmbedding::from_bytes(bad), InvalidArgument);
  EXPECT_THROW(StaticEmbedding::from_file("/nonexistent/static_embedding.bin"), InvalidArgument);
}

}  // namespace
}  // namespace tagger::match
