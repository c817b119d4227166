// Embedder: hashed bag of sentencepiece pieces, piece bigrams, words and
// character n-grams (Weinberger et al. 2009 feature hashing), weighted by
// sublinear tf * smoothed idf and L2-normalized — the representation of
// scikit-learn's TfidfVectorizer, computed without a vocabulary.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>

#include "tagger/errors.h"
#include "tagger/match.h"
#include "util/parallel.h"

namespace tagger::match {

namespace {
// fit_idf may run (GIL released) while other threads embed with the same
// Embedder: the table is swapped atomically and each embed keeps the table it
// loaded alive, so a refit never frees weights under a reader.
struct IdfSlot {
  std::atomic<std::shared_ptr<const std::vector<float>>> p;
  IdfSlot(std::nullptr_t = nullptr) {}
  IdfSlot(std::shared_ptr<const std::vector<float>> v) : p(std::move(v)) {}
  IdfSlot(const IdfSlot& o) : p(o.p.load()) {}
  IdfSlot& operator=(const IdfSlot& o) {
    p.store(o.p.load());
    return *this;
  }
};
}  // namespace

struct Embedder::Impl {
  Tokenizer tokenizer;
  EmbedderConfig config;
  IdfSlot idf;  // dim() entries, or null before fit_idf
  std::shared_ptr<const std::vector<std::string>> pieces;  // id -> piece text, to rebuild words

  std::uint32_t dim_mask() const { return (std::uint32_t{1} << config.hash_bits) - 1; }
  void features(std::string_view text, std::vector<std::uint32_t>& out) const;
};

namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581, sentencepiece's word-start mark

// Feature kinds are folded into the hash seed so equal strings of different
// kinds (the piece "ing" and the n-gram "ing") land in unrelated buckets.
enum : std::uint64_t { kPiece = 0x9e3779b97f4a7c15ull, kBigram = 0xc2b2ae3d27d4eb4full, kWord = 0x165667b19e3779f9ull,
                       kCharGram = 0x27d4eb2f165667c5ull };

inline std::uint64_t mix(std::uint64_t x) {  // splitmix64 finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

inline std::uint64_t hash_bytes(std::uint64_t seed, const char* p, std::size_t n) {
  std::uint64_t h = 0xcbf29ce484222325ull ^ seed;  // FNV-1a, then mixed
  for (std::size_t i = 0; i < n; ++i) h = (h ^ static_cast<unsigned char>(p[i])) * 0x100000001b3ull;
  return mix(h);
}

}  // namespace

constexpr std::size_t kMaxGramBytes = 1024;

void Embedder::Impl::features(std::string_view text, std::vector<std::uint32_t>& out) const {
  out.clear();
  const std::uint32_t mask = dim_mask();
  auto ids = tokenizer.encode_ids(text);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    out.push_back(static_cast<std::uint32_t>(mix(kPiece ^ static_cast<std::uint64_t>(ids[i]))) & mask);
    if (config.piece_bigrams && i + 1 < ids.size()) {
      std::uint64_t pair = (static_cast<std::uint64_t>(ids[i]) << 32) | static_cast<std::uint32_t>(ids[i + 1]);
      out.push_back(static_cast<std::uint32_t>(mix(kBigram ^ mix(pair))) & mask);
    }
  }
  if (!config.word_unigrams && config.char_ngram_max == 0) return;
  // Words are rebuilt from the normalized (case-folded) pieces.
  std::string word = "<";
  auto flush = [&] {
    if (word.size() > 1) {
      word.push_back('>');
      if (config.word_unigrams) out.push_back(static_cast<std::uint32_t>(hash_bytes(kWord, word.data(), word.size())) & mask);
      // Character n-grams of a word's first kMaxGramBytes bytes only (and its "<" marker; a
      // word of at most that many bytes keeps all its n-grams): a base64 blob or a long run of
      // one letter is one "word", and its n-grams (four per byte) cost more memory than the
      // rest of a batch (no word of any language is this long).
      const std::size_t span = std::min(word.size(), kMaxGramBytes + 2);
      for (int n = config.char_ngram_min; n <= config.char_ngram_max; ++n) {
        if (static_cast<std::size_t>(n) > span) break;
        for (std::size_t s = 0; s + n <= span; ++s)
          out.push_back(static_cast<std::uint32_t>(hash_bytes(kCharGram + n, word.data() + s, n)) & mask);
      }
    }
    word.clear();
    word.push_back('<');
  };
  const auto& table = *pieces;
  for (int id : ids) {
    std::string_view p = table[static_cast<std::size_t>(id)];
    if (p.starts_with(kSpaceMark)) {
      flush();
      p.remove_prefix(kSpaceMark.size());
    }
    word.append(p);
  }
  flush();
}

Embedder::Embedder(Tokenizer tokenizer, EmbedderConfig config) {
  if (config.hash_bits < 8 || config.hash_bits > 30)
    throw InvalidArgument("hash_bits must be in [8, 30], got " + std::to_string(config.hash_bits));
  if (config.char_ngram_max != 0 && (config.char_ngram_min < 1 || config.char_ngram_max < config.char_ngram_min))
    throw InvalidArgument("character n-gram range must satisfy 1 <= min <= max (or max = 0 to disable)");
  auto table = std::make_shared<std::vector<std::string>>(tokenizer.vocab_size());
  for (int id = 0; id < tokenizer.vocab_size(); ++id)
    if (tokenizer.is_byte(id)) {  // "<0xC3>" stands for that byte of the text
      (*table)[id] = std::string(1, static_cast<char>(std::stoi(tokenizer.id_to_piece(id).substr(3, 2), nullptr, 16)));
    } else if (!tokenizer.is_unknown(id) && !tokenizer.is_control(id)) {
      (*table)[id] = tokenizer.id_to_piece(id);
    }
  impl_ = std::make_unique<Impl>(Impl{std::move(tokenizer), config, nullptr, std::move(table)});
}
Embedder::Embedder(const Embedder& o) : impl_(std::make_unique<Impl>(*o.impl_)) {}
Embedder& Embedder::operator=(const Embedder& o) {
  if (this != &o) impl_ = std::make_unique<Impl>(*o.impl_);
  return *this;
}
Embedder::Embedder(Embedder&&) noexcept = default;
Embedder& Embedder::operator=(Embedder&&) noexcept = default;
Embedder::~Embedder() = default;

void Embedder::fit_idf(const std::vector<std::string>& corpus, unsigned threads) {
  if (corpus.empty()) throw InvalidArgument("fit_idf needs at least one document");
  const std::size_t d = dim();
  // Each part is a count table of dim() entries (4 MB at 2^20, 4 GB at 2^30): at most one per
  // document, per core, and as many as fit in 256 MB together (at least one). 200 threads on 2
  // documents took 846 MB; threads=300 on 2,000 took 1.2 GB, and hash_bits=26 on 16 threads
  // 4.4 GB, for counts that are the same integers however the work is split.
  const std::size_t table_bytes = d * sizeof(std::uint32_t);
  threads = static_cast<unsigned>(std::min<std::size_t>(
      {util::resolve_threads(threads), util::resolve_threads(0), corpus.size(),
       std::max<std::size_t>(1, (std::size_t{256} << 20) / std::max<std::size_t>(1, table_bytes))}));
  std::vector<std::vector<std::uint32_t>> df_parts(threads);
  std::size_t chunk = (corpus.size() + threads - 1) / threads;
  util::parallel_for(threads, threads, 1, [&](std::size_t tb, std::size_t te) {
    std::vector<std::uint32_t> feats;
    for (std::size_t t = tb; t < te; ++t) {
      auto& df = df_parts[t];
      df.assign(d, 0);
      for (std::size_t i = t * chunk; i < std::min(corpus.size(), (t + 1) * chunk); ++i) {
        impl_->features(corpus[i], feats);
        std::sort(feats.begin(), feats.end());
        feats.erase(std::unique(feats.begin(), feats.end()), feats.end());
        for (auto f : feats) ++df[f];
      }
    }
  });
  auto idf = std::make_shared<std::vector<float>>(d);
  const double n = static_cast<double>(corpus.size());
  for (std::size_t f = 0; f < d; ++f) {
    std::uint64_t df = 0;
    for (const auto& part : df_parts)
      if (!part.empty()) df += part[f];
    (*idf)[f] = static_cast<float>(std::log((1.0 + n) / (1.0 + static_cast<double>(df))) + 1.0);
  }
  impl_->idf.p.store(std::move(idf));
}

namespace {

// Sorted hashed features -> sublinear tf * idf, L2-normalized.
SparseVector weigh_sorted(const std::vector<std::uint32_t>& feats, const float* idf, bool sublinear) {
  SparseVector v;
  double norm2 = 0;
  for (std::size_t i = 0; i < feats.size();) {
    std::size_t j = i;
    while (j < feats.size() && feats[j] == feats[i]) ++j;
    double tf = static_cast<double>(j - i);
    double w = sublinear ? 1.0 + std::log(tf) : tf;
    if (idf) w *= idf[feats[i]];
    v.index.push_back(feats[i]);
    v.value.push_back(static_cast<float>(w));
    norm2 += w * w;
    i = j;
  }
  if (norm2 > 0) {
    float inv = static_cast<float>(1.0 / std::sqrt(norm2));
    for (auto& x : v.value) x *= inv;
  }
  return v;
}

}  // namespace

SparseVector Embedder::embed(std::string_view text) const {
  std::vector<std::uint32_t> feats;
  impl_->features(text, feats);
  std::sort(feats.begin(), feats.end());
  return weigh(feats);
}

std::vector<std::vector<std::uint32_t>> Embedder::features_batch(std::span<const std::string> texts,
                                                                 unsigned threads) const {
  std::vector<std::vector<std::uint32_t>> feats(texts.size());
  util::parallel_for(texts.size(), threads, 128, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i) {
      impl_->features(texts[i], feats[i]);
      std::sort(feats[i].begin(), feats[i].end());
    }
  });
  return feats;
}

void Embedder::fit_idf_features(const std::vector<std::vector<std::uint32_t>>& features,
                                const std::vector<std::uint32_t>* rows) {
  const std::size_t n_docs = rows ? rows->size() : features.size();
  if (n_docs == 0) throw InvalidArgument("fit_idf needs at least one document");
  // Document frequencies are integer counts: the same for any split of the work.
  std::vector<std::uint32_t> df(dim(), 0);
  auto count = [&](const std::vector<std::uint32_t>& f) {  // sorted: each distinct feature once
    for (std::size_t i = 0; i < f.size(); ++i)
      if (i == 0 || f[i] != f[i - 1]) ++df[f[i]];
  };
  if (rows) {
    for (auto r : *rows) count(features.at(r));
  } else {
    for (const auto& f : features) count(f);
  }
  auto idf = std::make_shared<std::vector<float>>(dim());
  const double n = static_cast<double>(n_docs);
  for (std::size_t f = 0; f < df.size(); ++f)
    (*idf)[f] = static_cast<float>(std::log((1.0 + n) / (1.0 + static_cast<double>(df[f]))) + 1.0);
  impl_->idf.p.store(std::move(idf));
}

SparseVector Embedder::weigh(const std::vector<std::uint32_t>& sorted_features) const {
  std::shared_ptr<const std::vector<float>> idf_table = impl_->idf.p.load();
  return weigh_sorted(sorted_features, idf_table ? idf_table->data() : nullptr, impl_->config.sublinear_tf);
}

std::vector<SparseVector> Embedder::fit_transform(const std::vector<std::string>& corpus, unsigned threads) {
  if (corpus.empty()) throw InvalidArgument("fit_idf needs at least one document");
  const auto feats = features_batch(corpus, threads);
  fit_idf_features(feats);
  std::shared_ptr<const std::vector<float>> idf = impl_->idf.p.load();
  const float* table = idf->data();
  std::vector<SparseVector> out(corpus.size());
  util::parallel_for(corpus.size(), threads, 128, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i) out[i] = weigh_sorted(feats[i], table, impl_->config.sublinear_tf);
  });
  return out;
}

std::vector<SparseVector> Embedder::embed_batch(const std::vector<std::string>& texts, unsigned threads) const {
  // One IDF table for the whole batch: loaded per text, a refit in another thread gave some rows
  // the old weights and some the new.
  const std::shared_ptr<const std::vector<float>> idf = impl_->idf.p.load();
  const float* table = idf ? idf->data() : nullptr;
  std::vector<SparseVector> out(texts.size());
  util::parallel_for(texts.size(), threads, 128, [&](std::size_t b, std::size_t e) {
    std::vector<std::uint32_t> feats;
    for (std::size_t i = b; i < e; ++i) {
      impl_->features(texts[i], feats);
      std::sort(feats.begin(), feats.end());
      out[i] = weigh_sorted(feats, table, impl_->config.sublinear_tf);
    }
  });
  return out;
}

float Embedder::similarity(const SparseVector& a, const SparseVector& b) {
  double dot = 0;
  std::size_t i = 0, j = 0;
  while (i < a.index.size() && j < b.index.size()) {
    if (a.index[i] < b.index[j]) ++i;
    else if (a.index[i] > b.index[j]) ++j;
    else dot += static_cast<double>(a.value[i++]) * b.value[j++];
  }
  return static_cast<float>(dot);
}

float Embedder::similarity(std::string_view a, std::string_view b) const {
  const auto both = embed_batch({std::string(a), std::string(b)}, 1);  // both under one IDF table
  return similarity(both[0], both[1]);
}

std::size_t Embedder::dim() const { return std::size_t{1} << impl_->config.hash_bits; }
bool Embedder::has_idf() const { return impl_->idf.p.load() != nullptr; }
std::shared_ptr<const std::vector<float>> Embedder::idf() const { return impl_->idf.p.load(); }

void Embedder::set_idf(std::vector<float> idf) {
  if (idf.size() != dim())
    throw InvalidArgument("IDF table has " + std::to_string(idf.size()) + " entries, the embedder " + std::to_string(dim()));
  for (float v : idf)
    if (!std::isfinite(v) || v < 1.0f) throw InvalidArgument("IDF entries must be finite and >= 1");
  impl_->idf.p.store(std::make_shared<const std::vector<float>>(std::move(idf)));
}
const EmbedderConfig& Embedder::config() const { return impl_->config; }
const Tokenizer& Embedder::tokenizer() const { return impl_->tokenizer; }

}  // namespace tagger::match
