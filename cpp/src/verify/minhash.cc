// Shingling, MinHash signatures and LSH banding for near-duplicate text.
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "tagger/errors.h"
#include "tagger/verify.h"
#include "util/parallel.h"
#include "verify/mix.h"
#include "verify/utf8.h"

namespace tagger::verify {
namespace {

// FNV-1a over a short byte window, then mixed (FNV's low bits alone are weak).
inline std::uint64_t hash_bytes(const char* p, std::size_t n) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::size_t i = 0; i < n; ++i) { h ^= static_cast<std::uint8_t>(p[i]); h *= 0x100000001b3ULL; }
  return mix64(h);
}

// The hot loop: sig[i] = min over shingles of ((a_i x + b_i) mod 2^64) >> 32.
// Lanes go in fixed blocks of 16 so the running minima and the block's a, b
// stay in vector registers across the whole shingle loop. Cloned for AVX-512
// and AVX2 so the lanes run 8 or 4 at a time where the CPU allows.
constexpr std::size_t kLaneBlock = 16;

// Under ThreadSanitizer the ifunc resolver that target_clones generates is
// instrumented but runs at load time, before TSan is initialized (a crash
// before main): the TSan build (make test-tsan) uses the portable clone only.
#if defined(__SANITIZE_THREAD__)
#define TAGGER_MINHASH_CLONES
#else
#define TAGGER_MINHASH_CLONES __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#endif

TAGGER_MINHASH_CLONES
void minhash_kernel(const std::uint64_t* shingles, std::size_t n, const std::uint64_t* a, const std::uint64_t* b,
                    std::size_t k, std::uint32_t* out) noexcept {
  std::size_t base = 0;
  for (; base + kLaneBlock <= k; base += kLaneBlock) {
    std::uint64_t acc[kLaneBlock], aa[kLaneBlock], bb[kLaneBlock];
    for (std::size_t i = 0; i < kLaneBlock; ++i) { acc[i] = 0xFFFFFFFFULL; aa[i] = a[base + i]; bb[i] = b[base + i]; }
    for (std::size_t s = 0; s < n; ++s) {
      const std::uint64_t x = shingles[s] & 0xFFFFFFFFULL;
      for (std::size_t i = 0; i < kLaneBlock; ++i) {
        const std::uint64_t v = (aa[i] * x + bb[i]) >> 32;
        acc[i] = v < acc[i] ? v : acc[i];
      }
    }
    for (std::size_t i = 0; i < kLaneBlock; ++i) out[base + i] = static_cast<std::uint32_t>(acc[i]);
  }
  for (std::size_t i = base; i < k; ++i) {  // num_perm not a multiple of the block
    std::uint64_t m = 0xFFFFFFFFULL;
    for (std::size_t s = 0; s < n; ++s) m = std::min<std::uint64_t>(m, (a[i] * (shingles[s] & 0xFFFFFFFFULL) + b[i]) >> 32);
    out[i] = static_cast<std::uint32_t>(m);
  }
}

}  // namespace

std::vector<std::uint64_t> shingle_hashes(std::string_view text, const ShingleOptions& opt) {
  if (opt.k < 1) throw InvalidArgument("shingle size k must be >= 1, got " + std::to_string(opt.k));
  // Normalise into a buffer, remembering where each code point starts.
  std::string norm;
  norm.reserve(text.size());
  std::vector<std::uint32_t> starts;
  starts.reserve(text.size() + 1);
  bool pending_space = false;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t s0 = pos;
    char32_t c = utf8::next(text, pos);
    if (c != utf8::kInvalid && is_unicode_space(c)) { pending_space = !norm.empty(); continue; }
    if (pending_space) { starts.push_back(static_cast<std::uint32_t>(norm.size())); norm.push_back(' '); pending_space = false; }
    starts.push_back(static_cast<std::uint32_t>(norm.size()));
    if (c == utf8::kInvalid) { norm.push_back(text[s0]); continue; }  // a stray byte is its own symbol
    for (std::size_t i = s0; i < pos; ++i) {
      char ch = text[i];
      if (opt.lowercase && ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
      norm.push_back(ch);
    }
  }
  starts.push_back(static_cast<std::uint32_t>(norm.size()));
  std::size_t n_cp = starts.size() - 1;
  std::vector<std::uint64_t> out;
  std::size_t k = static_cast<std::size_t>(opt.k);
  if (n_cp == 0) return out;
  if (n_cp <= k) {
    out.push_back(hash_bytes(norm.data(), norm.size()));
    return out;
  }
  out.reserve(n_cp - k + 1);
  for (std::size_t i = 0; i + k <= n_cp; ++i) out.push_back(hash_bytes(norm.data() + starts[i], starts[i + k] - starts[i]));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

double jaccard(const std::vector<std::uint64_t>& a, const std::vector<std::uint64_t>& b) noexcept {
  if (a.empty() && b.empty()) return 1.0;
  std::size_t i = 0, j = 0, inter = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i] < b[j]) ++i;
    else if (b[j] < a[i]) ++j;
    else { ++inter; ++i; ++j; }
  }
  return static_cast<double>(inter) / static_cast<double>(a.size() + b.size() - inter);
}

MinHasher::MinHasher(std::size_t num_perm, std::uint64_t seed, ShingleOptions shingles) : shingles_(shingles) {
  if (num_perm == 0 || num_perm > 4096) throw InvalidArgument("num_perm must be in [1, 4096], got " + std::to_string(num_perm));
  if (shingles.k < 1) throw InvalidArgument("shingle size k must be >= 1");
  std::mt19937_64 rng(seed);
  a_.resize(num_perm);
  b_.resize(num_perm);
  for (std::size_t i = 0; i < num_perm; ++i) {
    a_[i] = rng() | 1;  // odd multipliers
    b_[i] = rng();
  }
}

void MinHasher::signature(const std::vector<std::uint64_t>& shingles, std::uint32_t* out) const noexcept {
  minhash_kernel(shingles.data(), shingles.size(), a_.data(), b_.data(), a_.size(), out);
}

void MinHasher::text_signature(std::string_view text, std::uint32_t* out) const {
  signature(shingle_hashes(text, shingles_), out);
}

void MinHasher::text_signatures(const std::vector<std::string_view>& texts, std::uint32_t* out, unsigned threads) const {
  const std::size_t k = num_perm();
  util::parallel_for(texts.size(), threads, 256, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i) text_signature(texts[i], out + i * k);
  });
}

double estimate_jaccard(const std::uint32_t* a, const std::uint32_t* b, std::size_t num_perm) noexcept {
  std::size_t eq = 0;
  for (std::size_t i = 0; i < num_perm; ++i) eq += a[i] == b[i];
  return num_perm ? static_cast<double>(eq) / static_cast<double>(num_perm) : 0.0;
}

double LshParams::candidate_probability(double j) const noexcept {
  return 1.0 - std::pow(1.0 - std::pow(j, static_cast<double>(rows)), static_cast<double>(bands));
}

LshParams LshParams::choose(double cutoff, std::size_t num_perm, double min_recall) {
  if (!(cutoff > 0.0 && cutoff < 1.0)) throw InvalidArgument("LSH cutoff must be in (0, 1)");
  if (num_perm == 0) throw InvalidArgument("num_perm must be >= 1");
  LshParams best, fallback;
  double best_fp = std::numeric_limits<double>::infinity(), best_recall = -1.0;
  for (std::size_t r = 1; r <= num_perm; ++r) {
    for (std::size_t b = 1; b * r <= num_perm; ++b) {
      LshParams p{b, r};
      double recall = p.candidate_probability(cutoff);
      if (recall > best_recall) { best_recall = recall; fallback = p; }
      if (recall < min_recall) continue;
      // False-positive area by the midpoint rule (200 steps is plenty for a smooth curve).
      double fp = 0;
      constexpr int kSteps = 200;
      for (int i = 0; i < kSteps; ++i) fp += p.candidate_probability(cutoff * (i + 0.5) / kSteps);
      fp *= cutoff / kSteps;
      if (fp < best_fp) { best_fp = fp; best = p; }
      break;  // more bands at this r only add false positives
    }
  }
  return best.bands ? best : fallback;
}

MinHashLSH::MinHashLSH(std::size_t num_perm, double threshold, double cutoff, std::uint64_t seed)
    : hasher_(num_perm, seed), threshold_(threshold) {
  if (!(threshold > 0.0 && threshold < 1.0)) throw InvalidArgument("threshold must be in (0, 1)");
  cutoff_ = cutoff >= 0.0 ? cutoff : threshold - 2.0 * std::sqrt(threshold * (1.0 - threshold) / static_cast<double>(num_perm));
  if (!(cutoff_ > 0.0 && cutoff_ <= 1.0)) throw InvalidArgument("cutoff must be in (0, 1]");
  params_ = LshParams::choose(std::min(cutoff_, 0.999), num_perm);
}

std::uint64_t MinHashLSH::band_key(const std::uint32_t* sig, std::size_t band) const noexcept {
  std::uint64_t h = mix64(0x9e3779b97f4a7c15ULL * (band + 1));
  const std::uint32_t* p = sig + band * params_.rows;
  for (std::size_t i = 0; i < params_.rows; ++i) h = mix64(h ^ p[i]);
  return h;
}

void MinHashLSH::grow() {
  std::size_t cap = slot_key_.empty() ? 1024 : slot_key_.size() * 2;
  std::vector<std::uint64_t> keys(cap);
  std::vector<std::uint32_t> heads(cap, 0);
  for (std::size_t i = 0; i < slot_key_.size(); ++i) {
    if (!slot_head_[i]) continue;
    std::size_t j = slot_key_[i] & (cap - 1);
    while (heads[j]) j = (j + 1) & (cap - 1);
    keys[j] = slot_key_[i];
    heads[j] = slot_head_[i];
  }
  slot_key_.swap(keys);
  slot_head_.swap(heads);
}

std::uint32_t MinHashLSH::insert_signature(const std::uint32_t* sig) {
  const std::size_t k = hasher_.num_perm();
  if (count_ >= std::numeric_limits<std::uint32_t>::max() / (params_.bands + 1))
    throw InvalidArgument("MinHashLSH is full");
  auto id = static_cast<std::uint32_t>(count_++);
  signatures_.insert(signatures_.end(), sig, sig + k);
  for (std::size_t band = 0; band < params_.bands; ++band) {
    if (2 * (entry_id_.size() + 1) > slot_key_.size()) grow();
    const std::uint64_t key = band_key(sig, band);
    const std::size_t mask = slot_key_.size() - 1;
    std::size_t j = key & mask;
    while (slot_head_[j] && slot_key_[j] != key) j = (j + 1) & mask;
    entry_id_.push_back(id);
    entry_next_.push_back(slot_head_[j]);  // push-front onto the chain
    slot_key_[j] = key;
    slot_head_[j] = static_cast<std::uint32_t>(entry_id_.size());
  }
  return id;
}

std::vector<MinHashLSH::Match> MinHashLSH::query_signature(const std::uint32_t* sig) const {
  const std::size_t k = hasher_.num_perm();
  std::vector<std::uint32_t> cand;
  if (!slot_key_.empty()) {
    const std::size_t mask = slot_key_.size() - 1;
    for (std::size_t band = 0; band < params_.bands; ++band) {
      const std::uint64_t key = band_key(sig, band);
      std::size_t j = key & mask;
      while (slot_head_[j] && slot_key_[j] != key) j = (j + 1) & mask;
      for (std::uint32_t e = slot_head_[j]; e; e = entry_next_[e - 1]) cand.push_back(entry_id_[e - 1]);
    }
  }
  std::sort(cand.begin(), cand.end());
  cand.erase(std::unique(cand.begin(), cand.end()), cand.end());
  std::vector<Match> out;
  for (std::uint32_t id : cand) {
    double j = estimate_jaccard(sig, signatures_.data() + std::size_t{id} * k, k);
    if (j >= cutoff_) out.push_back({id, j});
  }
  std::sort(out.begin(), out.end(), [](const Match& x, const Match& y) { return x.jaccard > y.jaccard || (x.jaccard == y.jaccard && x.id < y.id); });
  return out;
}

std::uint32_t MinHashLSH::insert(std::string_view text) {
  std::vector<std::uint32_t> sig(hasher_.num_perm());
  hasher_.text_signature(text, sig.data());
  return insert_signature(sig.data());
}

std::vector<MinHashLSH::Match> MinHashLSH::query(std::string_view text) const {
  std::vector<std::uint32_t> sig(hasher_.num_perm());
  hasher_.text_signature(text, sig.data());
  return query_signature(sig.data());
}

std::vector<std::uint32_t> MinHashLSH::insert_many(const std::vector<std::string_view>& texts, unsigned threads) {
  const std::size_t k = hasher_.num_perm();
  std::vector<std::uint32_t> sigs(texts.size() * k);
  hasher_.text_signatures(texts, sigs.data(), threads);
  std::vector<std::uint32_t> ids(texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) ids[i] = insert_signature(sigs.data() + i * k);
  return ids;
}

std::vector<std::vector<MinHashLSH::Match>> MinHashLSH::query_many(const std::vector<std::string_view>& texts,
                                                                   unsigned threads) const {
  const std::size_t k = hasher_.num_perm();
  std::vector<std::uint32_t> sigs(texts.size() * k);
  hasher_.text_signatures(texts, sigs.data(), threads);
  std::vector<std::vector<Match>> out(texts.size());
  util::parallel_for(texts.size(), threads, 1024, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i) out[i] = query_signature(sigs.data() + i * k);
  });
  return out;
}

const std::uint32_t* MinHashLSH::signature_of(std::uint32_t id) const {
  if (id >= count_) throw InvalidArgument("no entry with id " + std::to_string(id));
  return signatures_.data() + std::size_t{id} * hasher_.num_perm();
}

}  // namespace tagger::verify
