// Gibberish and relevance scores through the matching module's models.
#include <cmath>

#include "tagger/errors.h"
#include "tagger/match.h"
#include "tagger/static_embedding.h"
#include "tagger/verify.h"
#include "util/parallel.h"
#include "verify/utf8.h"

namespace tagger::verify {

struct TextModel::Impl {
  match::Tokenizer tokenizer;
  match::Embedder embedder;
  std::shared_ptr<const match::StaticEmbedding> dense;
  double dense_share = 0;
  explicit Impl(match::Tokenizer t) : tokenizer(t), embedder(t) {}
};

TextModel::TextModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TextModel::TextModel(TextModel&&) noexcept = default;
TextModel& TextModel::operator=(TextModel&&) noexcept = default;
TextModel::~TextModel() = default;

TextModel TextModel::from_bytes(std::string_view model_bytes) {
  return TextModel(std::make_unique<Impl>(match::Tokenizer::from_bytes(model_bytes)));
}

TextModel TextModel::from_bytes(std::string_view model_bytes, std::shared_ptr<const match::StaticEmbedding> dense,
                                double dense_share) {
  if (!(dense_share >= 0 && dense_share <= 1))
    throw InvalidArgument("dense_share must be in [0, 1], got " + std::to_string(dense_share));
  auto impl = std::make_unique<Impl>(match::Tokenizer::from_bytes(model_bytes));
  impl->dense = std::move(dense);
  impl->dense_share = impl->dense ? dense_share : 0;
  return TextModel(std::move(impl));
}

namespace {

struct References {
  std::vector<match::SparseVector> sparse;
  std::vector<float> dense;  // sparse.size() rows of the dense model's dim, when there is one
};

References embed_references(const TextModel::Impl& m, const std::vector<std::string_view>& refs) {
  References out;
  std::vector<std::string_view> kept;
  for (auto r : refs)
    if (!r.empty()) out.sparse.push_back(m.embedder.embed(r)), kept.push_back(r);
  if (m.dense) out.dense = m.dense->embed_batch(kept, 1);
  return out;
}

TextScores score_one(const TextModel::Impl& m, std::string_view text, const References& refs) {
  const auto& tok = m.tokenizer;
  const auto& emb = m.embedder;
  TextScores s;
  std::size_t chars = 0, pos = 0;
  while (pos < text.size()) {
    char32_t c = utf8::next(text, pos);
    if (c == utf8::kInvalid) return s;  // the UTF-8 check reports it; no model scores
    if (!is_unicode_space(c)) ++chars;
  }
  if (chars == 0) return s;
  auto ids = tok.encode_ids(text);
  double sum = 0;
  std::size_t unknown = 0;
  for (int id : ids) {
    // Unknown pieces get a fixed penalty below any real piece's log-probability.
    if (tok.is_unknown(id)) { ++unknown; sum += -20.0; }
    else sum += tok.piece_score(id);
  }
  s.pieces = ids.size();
  if (!ids.empty()) {
    s.mean_log_prob = sum / static_cast<double>(ids.size());
    s.unknown_share = static_cast<double>(unknown) / static_cast<double>(ids.size());
  }
  s.log_prob_per_char = sum / static_cast<double>(chars);
  if (!refs.sparse.empty()) {
    auto v = emb.embed(text);
    for (const auto& r : refs.sparse)
      s.relevance_sparse = std::max(s.relevance_sparse, static_cast<double>(match::Embedder::similarity(v, r)));
    s.relevance = s.relevance_sparse;
    if (m.dense) {
      const std::size_t d = m.dense->dim();
      std::vector<float> q(d);
      m.dense->embed_into(text, q.data());
      for (std::size_t r = 0; r < refs.sparse.size(); ++r) {
        double dot = 0;
        for (std::size_t j = 0; j < d; ++j) dot += static_cast<double>(q[j]) * refs.dense[r * d + j];
        s.relevance_dense = std::max(s.relevance_dense, dot);
      }
      s.relevance = (1 - m.dense_share) * s.relevance_sparse + m.dense_share * s.relevance_dense;
    }
  }
  return s;
}

}  // namespace

TextScores TextModel::score(std::string_view text, const std::vector<std::string_view>& references) const {
  return score_one(*impl_, text, embed_references(*impl_, references));
}

std::vector<TextScores> TextModel::score_many(const std::vector<std::string_view>& texts,
                                              const std::vector<std::string_view>& references, unsigned threads) const {
  auto ref = embed_references(*impl_, references);
  std::vector<TextScores> out(texts.size());
  util::parallel_for(texts.size(), threads, 64, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i) out[i] = score_one(*impl_, texts[i], ref);
  });
  return out;
}

}  // namespace tagger::verify
