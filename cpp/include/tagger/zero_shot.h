// tagger::match — zero-shot scoring of texts against categories that are
// given by a few texts each (the catalog: an id, a description and ~4 task
// phrasings per category; docs/matching.md, "Zero-shot catalog matching").
//
// Too few texts per category for a classifier to learn which words matter, so
// the query is compared with the texts directly:
//   alignment  BERTScore-style recall over the static token vectors: each query
//              token is matched to its most similar token of a catalog text
//              (cosine), averaged with weight ||row|| * idf^p (idf over the
//              categories whose texts hold the token); a category scores its
//              best text (or, `pooled`, all its texts' tokens at once)
//   dense      the mean cosine of the query's sentence vector to the
//              category's texts' vectors
// Both are z-scored over the categories of each query and added (weighted);
// probabilities are softmax(score / temperature).
//
// Everything is computed in double from the float32 table. A query's scores
// depend only on the query (not on the batch it came in, nor on the thread
// count): each token's similarities are computed on their own, in a fixed
// order, and summed in the query's token order.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace tagger::match {

class StaticEmbedding;  // tagger/static_embedding.h

struct ZeroShotConfig {
  double idf_power = 2.0;         // token weight ||row|| * idf^idf_power
  bool pooled = false;            // a category's texts as one bag of tokens (else its best text)
  double precision_weight = 0.0;  // alignment = (1 - pw) * recall + pw * precision (catalog tokens -> query)
  double align_weight = 1.0;      // score = align_weight * z(alignment) + dense_weight * z(dense)
  double dense_weight = 1.0;
  bool dense_max = false;         // dense: the best text's cosine instead of the mean over the category's texts
  // Query tokens: df = max(df, unseen_df), so that a word no category uses is
  // not the heaviest of the query (0: the plain df).
  double unseen_df = 0.0;
  // > 0: a query token's df is soft, sum over categories of max(0, its best
  // cosine to the category's tokens)^soft_df_power (a word close to words of
  // many categories counts little, seen or not).
  double soft_df_power = 0.0;
};

class ZeroShotScorer {
 public:
  // texts[i] belongs to category labels[i] in [0, n_categories). Throws
  // InvalidArgument on mismatched sizes, a label out of range, no categories,
  // a category without texts or a non-finite / negative setting.
  static ZeroShotScorer build(std::shared_ptr<const StaticEmbedding> embedding, const std::vector<std::string>& texts,
                              const std::vector<int>& labels, int n_categories, ZeroShotConfig config = {},
                              unsigned threads = 0);

  int n_categories() const;
  const ZeroShotConfig& config() const;

  // [texts.size() * n_categories] row-major scores; a row of zeros for a text
  // with no known token. threads = 0 uses every core.
  std::vector<double> scores(const std::vector<std::string>& texts, unsigned threads = 0) const;
  // softmax(scores / temperature) per row, float32; uniform for a zero row.
  std::vector<float> predict_proba(const std::vector<std::string>& texts, double temperature = 1.0,
                                   unsigned threads = 0) const;

  struct Impl;

 private:
  explicit ZeroShotScorer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace tagger::match
