// CategoryIndex::serialize / deserialize: a fitted index as canonical msgpack
// (tagger/codec.h), so a fitted index can be saved, pickled and loaded on
// another machine without its training texts.
//
//   ["TGCI", 1,
//    categories        [str ...]              (sorted, distinct: as fit makes them)
//    embedder          [hash_bits, char_ngram_min, char_ngram_max, piece_bigrams, word_unigrams, sublinear_tf]
//    idf               nil | [fill bits, positions bin u32[], values bin f32[]]
//    dense             nil | [dim, dense_weight bits]
//    require_latin     bool
//    temperature bits  uint
//    model             [n_classes, cols, feature_cols bin u32[], w bin f32[], b bin f32[]]]
//
// Floats travel as their IEEE-754 bit patterns (the codec has no floats, and
// a text form would not round-trip bit for bit); arrays of them as
// little-endian bins. The IDF table (2^hash_bits entries) is stored as the
// value of features never seen in training plus the entries that differ.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <unordered_map>

#include "tagger/codec.h"
#include "tagger/errors.h"
#include "tagger/match.h"
#include "tagger/static_embedding.h"

namespace tagger::match {
namespace {

static_assert(std::endian::native == std::endian::little, "saved indexes are little-endian");

constexpr std::uint64_t kVersion = 1;

template <class T>
void put_array(codec::Writer& w, const std::vector<T>& v) {
  w.bin(ByteView(reinterpret_cast<const std::uint8_t*>(v.data()), v.size() * sizeof(T)));
}

template <class T>
std::vector<T> get_array(codec::Reader& r, const char* what) {
  ByteView b = r.bin();
  if (b.size() % sizeof(T) != 0)
    throw DecodeError(std::string("saved index: ") + what + " has " + std::to_string(b.size()) +
                      " bytes, not a whole number of entries");
  std::vector<T> v(b.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), b.data(), b.size());
  return v;
}

float get_float(codec::Reader& r) {
  const std::uint64_t bits = r.uint();
  if (bits > 0xffffffffu) throw DecodeError("saved index: a float field is out of range");
  return std::bit_cast<float>(static_cast<std::uint32_t>(bits));
}

int get_int(codec::Reader& r, std::int64_t lo, std::int64_t hi, const char* what) {
  const std::int64_t v = r.sint();
  if (v < lo || v > hi) throw InvalidArgument(std::string("saved index: ") + what + " " + std::to_string(v) + " is out of range");
  return static_cast<int>(v);
}

}  // namespace

std::string CategoryIndex::serialize() const {
  Bytes out;
  codec::Writer w(out);
  w.array_header(9);
  w.str("TGCI");
  w.uint(kVersion);
  w.array_header(categories_.size());
  for (const auto& c : categories_) w.str(c);
  const EmbedderConfig& ec = embedder_->config();
  w.array_header(6);
  w.sint(ec.hash_bits);
  w.sint(ec.char_ngram_min);
  w.sint(ec.char_ngram_max);
  w.boolean(ec.piece_bigrams);
  w.boolean(ec.word_unigrams);
  w.boolean(ec.sublinear_tf);
  if (auto idf = embedder_->idf()) {
    // The most common value is that of features no training text has.
    std::unordered_map<std::uint32_t, std::size_t> count;
    for (float v : *idf) ++count[std::bit_cast<std::uint32_t>(v)];
    const std::uint32_t fill =
        std::max_element(count.begin(), count.end(), [](auto& a, auto& b) { return a.second < b.second || (a.second == b.second && a.first > b.first); })
            ->first;
    std::vector<std::uint32_t> at;
    std::vector<float> val;
    for (std::size_t i = 0; i < idf->size(); ++i)
      if (std::bit_cast<std::uint32_t>((*idf)[i]) != fill) at.push_back(static_cast<std::uint32_t>(i)), val.push_back((*idf)[i]);
    w.array_header(3);
    w.uint(fill);
    put_array(w, at);
    put_array(w, val);
  } else {
    w.nil();
  }
  if (dense_) {
    w.array_header(2);
    w.uint(dense_->dim());
    w.uint(std::bit_cast<std::uint32_t>(dense_weight_));
  } else {
    w.nil();
  }
  w.boolean(require_latin_);
  w.uint(std::bit_cast<std::uint32_t>(temperature_));
  const LinearModel::Parameters p = model_->parameters();
  w.array_header(5);
  w.uint(static_cast<std::uint64_t>(p.n_classes));
  w.uint(p.cols);
  put_array(w, p.feature_cols);
  put_array(w, p.w);
  put_array(w, p.b);
  return std::string(out.begin(), out.end());
}

CategoryIndex CategoryIndex::deserialize(std::string_view data, Tokenizer tokenizer,
                                         std::shared_ptr<const StaticEmbedding> dense) {
  codec::Limits limits;
  limits.max_length = std::size_t{1} << 31;  // the weight matrix of a large index
  codec::Reader r(as_bytes(data), limits);
  if (r.peek() != codec::Reader::Type::Array) throw DecodeError("not a saved tagger CategoryIndex");
  r.expect_array(9);
  if (r.peek() != codec::Reader::Type::Str || r.str() != "TGCI") throw DecodeError("not a saved tagger CategoryIndex (no TGCI tag)");
  const std::uint64_t version = r.uint();
  if (version != kVersion)
    throw DecodeError("saved CategoryIndex has format version " + std::to_string(version) + "; this tagger reads version " +
                      std::to_string(kVersion));
  std::vector<std::string> categories(r.array_header());
  for (auto& c : categories) c = std::string(r.str());
  if (categories.size() < 2) throw InvalidArgument("a saved index needs at least 2 categories");
  for (std::size_t i = 0; i < categories.size(); ++i)
    if (categories[i].empty() || (i && !(categories[i - 1] < categories[i])))
      throw InvalidArgument("a saved index's categories must be non-empty, sorted and distinct");

  r.expect_array(6);
  EmbedderConfig ec;
  ec.hash_bits = get_int(r, 8, 30, "hash_bits");
  ec.char_ngram_min = get_int(r, 0, 64, "char_ngram_min");
  ec.char_ngram_max = get_int(r, 0, 64, "char_ngram_max");
  ec.piece_bigrams = r.boolean();
  ec.word_unigrams = r.boolean();
  ec.sublinear_tf = r.boolean();
  Embedder embedder(std::move(tokenizer), ec);  // checks the n-gram range
  // The IDF is stored sparsely but held densely (2^hash_bits floats, up to 4 GiB): it is
  // expanded only once the whole file has been read and checked, so that a small damaged or
  // crafted file is refused before that allocation, not after it.
  bool has_idf = false;
  std::uint32_t idf_fill = 0;
  std::vector<std::uint32_t> idf_at;
  std::vector<float> idf_val;
  if (r.peek() == codec::Reader::Type::Nil) {
    r.nil();
  } else {
    r.expect_array(3);
    const std::uint64_t fill = r.uint();
    if (fill > 0xffffffffu) throw DecodeError("saved index: IDF fill value out of range");
    idf_fill = static_cast<std::uint32_t>(fill);
    idf_at = get_array<std::uint32_t>(r, "IDF positions");
    idf_val = get_array<float>(r, "IDF values");
    if (idf_at.size() != idf_val.size()) throw InvalidArgument("saved index: IDF positions and values differ in count");
    for (std::size_t i = 0; i < idf_at.size(); ++i)
      if (idf_at[i] >= embedder.dim() || (i && idf_at[i] <= idf_at[i - 1]))
        throw InvalidArgument("saved index: IDF positions must be increasing and below " + std::to_string(embedder.dim()));
    has_idf = true;
  }
  std::size_t dense_dim = 0;
  float dense_weight = 1.0f;
  if (r.peek() == codec::Reader::Type::Nil) {
    r.nil();
  } else {
    r.expect_array(2);
    dense_dim = r.uint();
    dense_weight = get_float(r);
    if (dense_dim == 0 || !std::isfinite(dense_weight)) throw InvalidArgument("saved index: bad dense block");
  }
  if (dense_dim && !dense)
    throw InvalidArgument("this index was saved with dense features: load it with its static embedding table");
  if (!dense_dim && dense) throw InvalidArgument("this index was saved without dense features: load it without a table");
  if (dense && dense->dim() != dense_dim)
    throw InvalidArgument("this index was saved with a " + std::to_string(dense_dim) + "-dimensional static embedding; "
                          "the table given has " + std::to_string(dense->dim()));
  const bool require_latin = r.boolean();
  const float temperature = get_float(r);

  r.expect_array(5);
  LinearModel::Parameters p;
  p.n_classes = get_int(r, 2, 1 << 24, "class count");
  p.cols = r.uint();
  p.feature_cols = get_array<std::uint32_t>(r, "feature columns");
  p.w = get_array<float>(r, "weights");
  p.b = get_array<float>(r, "biases");
  r.finish();
  if (static_cast<std::size_t>(p.n_classes) != categories.size())
    throw InvalidArgument("saved index: the model has " + std::to_string(p.n_classes) + " classes for " +
                          std::to_string(categories.size()) + " categories");
  if (p.cols != embedder.dim() + dense_dim)
    throw InvalidArgument("saved index: the model reads " + std::to_string(p.cols) + " columns, the features have " +
                          std::to_string(embedder.dim() + dense_dim));
  if (has_idf) {
    std::vector<float> idf(embedder.dim(), std::bit_cast<float>(idf_fill));
    for (std::size_t i = 0; i < idf_at.size(); ++i) idf[idf_at[i]] = idf_val[i];
    embedder.set_idf(std::move(idf));
  }
  CategoryIndex index(std::move(categories), std::move(embedder), LinearModel::from_parameters(std::move(p)));
  index.require_latin_ = require_latin;
  index.dense_ = std::move(dense);
  index.dense_weight_ = dense_weight;
  index.set_temperature(temperature);
  return index;
}

}  // namespace tagger::match
