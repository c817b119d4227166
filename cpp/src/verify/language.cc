// Gibberish and relevance scores through the matching module's models.
#include <cmath>

#include "tagger/errors.h"
#include "tagger/match.h"
#include "tagger/verify.h"
#include "util/parallel.h"
#include "verify/utf8.h"

namespace tagger::verify {

struct TextModel::Impl {
  match::Tokenizer tokenizer;
  match::Embedder embedder;
  explicit Impl(match::Tokenizer t) : tokenizer(t), embedder(t) {}
};

TextModel::TextModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TextModel::TextModel(TextModel&&) noexcept = default;
TextModel& TextModel::operator=(TextModel&&) noexcept = default;
TextModel::~TextModel() = default;

TextModel TextModel::from_bytes(std::string_view model_bytes) {
  return TextModel(std::make_unique<Impl>(match::Tokenizer::from_bytes(model_bytes)));
}

namespace {

std::vector<match::SparseVector> embed_references(const match::Embedder& e, const std::vector<std::string_view>& refs) {
  std::vector<match::SparseVector> out;
  for (auto r : refs)
    if (!r.empty()) out.push_back(e.embed(r));
  return out;
}

TextScores score_one(const match::Tokenizer& tok, const match::Embedder& emb, std::string_view text,
                     const std::vector<match::SparseVector>& refs) {
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
  if (!refs.empty()) {
    auto v = emb.embed(text);
    for (const auto& r : refs) s.relevance = std::max(s.relevance, static_cast<double>(match::Embedder::similarity(v, r)));
  }
  return s;
}

}  // namespace

TextScores TextModel::score(std::string_view text, const std::vector<std::string_view>& references) const {
  return score_one(impl_->tokenizer, impl_->embedder, text, embed_references(impl_->embedder, references));
}

std::vector<TextScores> TextModel::score_many(const std::vector<std::string_view>& texts,
                                              const std::vector<std::string_view>& references, unsigned threads) const {
  auto ref = embed_references(impl_->embedder, references);
  std::vector<TextScores> out(texts.size());
  util::parallel_for(texts.size(), threads, 64, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i) out[i] = score_one(impl_->tokenizer, impl_->embedder, texts[i], ref);
  });
  return out;
}

}  // namespace tagger::verify
