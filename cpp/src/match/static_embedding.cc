// StaticEmbedding: a table of token vectors; a text's vector is the
// normalized sum of its WordPiece tokens' rows.
//
// File format (little-endian), written by scripts/distill_embeddings.py:
//   "TGSE"  u32 version (1)  u32 vocab_size V  u32 dim D  u32 vocab_bytes
//   vocab   V tokens joined by '\n' (vocab_bytes bytes)
//   scale   V float32: row i = scale[i] / 127 * q[i]
//   q       V * D int8, row-major
// The frequency weight of each token (SIF) is folded into its scale, so the
// sum of rows is already the weighted sum; normalizing drops the denominator.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>

#include "tagger/errors.h"
#include "tagger/static_embedding.h"
#include "util/parallel.h"

namespace tagger::match {

struct StaticEmbedding::Impl {
  WordPiece tokenizer;
  std::size_t dim = 0;
  std::vector<float> table;  // V * dim, dequantized once: summing floats is the hot loop
};

namespace {

std::uint32_t read_u32(std::string_view data, std::size_t at) {
  std::uint32_t v;
  std::memcpy(&v, data.data() + at, 4);
  return v;
}

}  // namespace

StaticEmbedding StaticEmbedding::from_bytes(std::string_view data) {
  constexpr std::size_t kHeader = 20;
  if (data.size() < kHeader || data.substr(0, 4) != "TGSE")
    throw InvalidArgument("not a tagger static embedding file (no TGSE header)");
  if (read_u32(data, 4) != 1) throw InvalidArgument("unsupported static embedding version " + std::to_string(read_u32(data, 4)));
  const std::size_t v = read_u32(data, 8), d = read_u32(data, 12), vb = read_u32(data, 16);
  if (v == 0 || d == 0 || d > 4096) throw InvalidArgument("static embedding has a bad shape");
  const std::size_t need = kHeader + vb + 4 * v + v * d;
  if (data.size() != need)
    throw InvalidArgument("static embedding file has " + std::to_string(data.size()) + " bytes, its header says " +
                          std::to_string(need));
  std::vector<std::string> vocab;
  vocab.reserve(v);
  std::string_view words = data.substr(kHeader, vb);
  std::size_t start = 0;
  while (start <= words.size()) {
    std::size_t nl = words.find('\n', start);
    if (nl == std::string_view::npos) nl = words.size();
    vocab.emplace_back(words.substr(start, nl - start));
    start = nl + 1;
  }
  if (vocab.size() != v)
    throw InvalidArgument("static embedding vocabulary has " + std::to_string(vocab.size()) + " tokens, header says " +
                          std::to_string(v));
  auto impl = std::make_shared<Impl>(Impl{WordPiece::from_vocab(std::move(vocab)), d, {}});
  impl->table.resize(v * d);
  const char* scales = data.data() + kHeader + vb;
  const auto* q = reinterpret_cast<const std::int8_t*>(scales + 4 * v);
  for (std::size_t i = 0; i < v; ++i) {
    float s;
    std::memcpy(&s, scales + 4 * i, 4);
    // Beyond 1e30 a sum of a long text's rows (1e8 tokens) could leave float's range and the
    // normalized vector come out NaN (a scale of 3e38 loaded, and "hello world" embedded to NaN).
    if (!(std::fabs(s) <= 1e30f))
      throw InvalidArgument("static embedding row " + std::to_string(i) + " has a scale that is not a finite number "
                            "of magnitude <= 1e30");
    s /= 127.0f;
    for (std::size_t j = 0; j < d; ++j) impl->table[i * d + j] = s * static_cast<float>(q[i * d + j]);
  }
  return StaticEmbedding(std::move(impl));
}

StaticEmbedding StaticEmbedding::from_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw InvalidArgument("cannot open static embedding file: " + path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return from_bytes(ss.str());
}

std::size_t StaticEmbedding::dim() const { return impl_->dim; }
const WordPiece& StaticEmbedding::tokenizer() const { return impl_->tokenizer; }

const float* StaticEmbedding::row(int id) const {
  if (id < 0 || static_cast<std::size_t>(id) * impl_->dim >= impl_->table.size())
    throw InvalidArgument("token id " + std::to_string(id) + " is out of range");
  return impl_->table.data() + static_cast<std::size_t>(id) * impl_->dim;
}

std::size_t StaticEmbedding::embed_into(std::string_view text, float* out) const {
  const std::size_t d = impl_->dim;
  std::fill(out, out + d, 0.0f);
  auto ids = impl_->tokenizer.encode(text);
  for (int id : ids) {
    const float* row = impl_->table.data() + static_cast<std::size_t>(id) * d;
    for (std::size_t j = 0; j < d; ++j) out[j] += row[j];
  }
  double norm = 0;
  for (std::size_t j = 0; j < d; ++j) norm += static_cast<double>(out[j]) * out[j];
  if (norm > 0) {
    const auto inv = static_cast<float>(1.0 / std::sqrt(norm));
    for (std::size_t j = 0; j < d; ++j) out[j] *= inv;
  }
  return ids.size();
}

std::vector<float> StaticEmbedding::embed(std::string_view text) const {
  std::vector<float> out(impl_->dim);
  embed_into(text, out.data());
  return out;
}

namespace {

template <class Texts>
std::vector<float> embed_all(const StaticEmbedding& e, const Texts& texts, unsigned threads) {
  std::vector<float> out(texts.size() * e.dim());
  util::parallel_for(texts.size(), threads, 256, [&](std::size_t b, std::size_t end) {
    for (std::size_t i = b; i < end; ++i) e.embed_into(texts[i], out.data() + i * e.dim());
  });
  return out;
}

}  // namespace

std::vector<float> StaticEmbedding::embed_batch(std::span<const std::string> texts, unsigned threads) const {
  return embed_all(*this, texts, threads);
}

std::vector<float> StaticEmbedding::embed_batch(const std::vector<std::string_view>& texts, unsigned threads) const {
  return embed_all(*this, texts, threads);
}

}  // namespace tagger::match
