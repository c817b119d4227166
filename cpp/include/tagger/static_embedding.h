// tagger::match — dense sentence vectors at sparse speed.
//
//   WordPiece        BERT's tokenizer (lowercase, accents stripped, punctuation
//                    split, greedy longest-match-first with ## continuations)
//   StaticEmbedding  one vector per WordPiece token, distilled from
//                    all-MiniLM-L6-v2 (scripts/distill_embeddings.py): a text's
//                    vector is the L2-normalized sum of its tokens' vectors
//
// No transformer runs here: the token vectors were computed once, offline,
// reduced by PCA, weighted by token frequency and quantized to int8
// (docs/matching.md, "Dense features"). Copies share one immutable table, and
// every const method is safe to call from several threads.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tagger::match {

class WordPiece {
 public:
  // `vocab`: token i has id i; continuation pieces start with "##". Needs an
  // "[UNK]" token. Throws InvalidArgument on an empty vocabulary or without one.
  static WordPiece from_vocab(std::vector<std::string> vocab);

  // Token ids of `text`; words with no tokenization become [UNK]. Invalid
  // UTF-8 bytes count as U+FFFD and are dropped, as BERT's cleaner does.
  std::vector<int> encode(std::string_view text) const;
  std::vector<std::string> tokenize(std::string_view text) const;
  int vocab_size() const;
  int unk_id() const;
  const std::string& token(int id) const;  // InvalidArgument when out of range

  struct Impl;

 private:
  explicit WordPiece(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

class StaticEmbedding {
 public:
  // The file written by scripts/distill_embeddings.py ("TGSE" format, see
  // static_embedding.cc). Throws InvalidArgument when it is not one.
  static StaticEmbedding from_bytes(std::string_view data);
  static StaticEmbedding from_file(const std::string& path);

  std::size_t dim() const;
  const WordPiece& tokenizer() const;
  // Token `id`'s vector (dim floats, SIF weight folded in); InvalidArgument
  // when out of range.
  const float* row(int id) const;

  // Unit-norm vector of `text` written to out[0 .. dim); all zeros when the
  // text has no known token. Returns the number of tokens used.
  std::size_t embed_into(std::string_view text, float* out) const;
  std::vector<float> embed(std::string_view text) const;
  // rows * dim floats, row-major; threads = 0 uses every core.
  std::vector<float> embed_batch(std::span<const std::string> texts, unsigned threads = 0) const;
  std::vector<float> embed_batch(const std::vector<std::string_view>& texts, unsigned threads = 0) const;

  struct Impl;

 private:
  explicit StaticEmbedding(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace tagger::match
