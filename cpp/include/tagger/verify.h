// Upload verification: the pure-computation checks behind tg.verify.
//
// Everything here is a function of its inputs (no I/O, no global state) so it
// is usable alone and safe to call from many threads. Bad *data* never throws:
// checks report a reason code (a stable snake_case string, documented in
// docs/verification.md) and the Python layer turns codes into a Verdict.
// Misuse of the API (a zero band count, a wrongly sized key) throws the typed
// errors of tagger/errors.h.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <unordered_map>
#include <vector>

#include "tagger/bytes.h"
#include "tagger/crypto.h"

namespace tagger::match {
class StaticEmbedding;  // tagger/static_embedding.h
}

namespace tagger::verify {

// ===================================================================== text

// Unicode scripts of letters, by code-point block. Digits, punctuation and
// spaces belong to no script ("Common") and are not counted.
enum class Script : std::uint8_t {
  Latin, Greek, Cyrillic, Armenian, Hebrew, Arabic, Devanagari, Bengali, Tamil, Thai,
  Georgian, Hangul, Hiragana, Katakana, Han, Ethiopic, Other,
};
inline constexpr std::size_t kScriptCount = static_cast<std::size_t>(Script::Other) + 1;
const char* script_name(Script s) noexcept;
Script script_from_name(std::string_view name);  // InvalidArgument for an unknown name

// Character statistics of one text, in a single pass over the bytes.
struct TextStats {
  bool valid_utf8 = true;
  std::size_t invalid_offset = 0;  // first byte of the first bad sequence (when !valid_utf8)
  std::size_t bytes = 0;
  std::size_t chars = 0;     // code points (0 when invalid)
  std::size_t letters = 0;   // code points with a script (Other included)
  std::size_t digits = 0;
  std::size_t spaces = 0;    // Unicode White_Space
  std::size_t controls = 0;  // C0/C1 controls except \t \n \r, and U+FFFD
  std::array<std::size_t, kScriptCount> script_letters{};

  Script dominant_script() const noexcept;  // Other when there are no letters
  // Share of letters whose script is in `allowed` (1.0 when there are no letters).
  double script_fraction(const std::vector<Script>& allowed) const noexcept;
};
TextStats text_stats(std::string_view text) noexcept;

// Language-model scores of a text under a sentencepiece unigram model (the
// matching module's Tokenizer) and its similarity to reference texts (the
// task's description and category, and example items) under the matching
// Embedder: relevance = max over references of the cosine similarity.
struct TextScores {
  double log_prob_per_char = 0;  // Σ log p(piece) / code points: the gibberish signal
  double mean_log_prob = 0;      // Σ log p(piece) / pieces
  double unknown_share = 0;      // pieces the model does not know
  std::size_t pieces = 0;
  double relevance = 0;          // max cosine similarity to the references, in [0, 1]; 0 without any
  // With a dense model, relevance = (1 - dense_share) * relevance_sparse +
  // dense_share * relevance_dense, each the max cosine over the references.
  double relevance_sparse = 0;
  double relevance_dense = 0;
};

class TextModel {
 public:
  // A serialized sentencepiece ModelProto; InvalidArgument if it is not one.
  static TextModel from_bytes(std::string_view model_bytes);
  // The same plus a static embedding whose cosine enters relevance with
  // weight dense_share in [0, 1] (InvalidArgument outside).
  static TextModel from_bytes(std::string_view model_bytes, std::shared_ptr<const match::StaticEmbedding> dense,
                              double dense_share);
  TextModel(TextModel&&) noexcept;
  TextModel& operator=(TextModel&&) noexcept;
  ~TextModel();
  // Empty or invalid UTF-8 text gives all-zero scores; no references skip relevance.
  TextScores score(std::string_view text, const std::vector<std::string_view>& references = {}) const;
  std::vector<TextScores> score_many(const std::vector<std::string_view>& texts,
                                     const std::vector<std::string_view>& references = {}, unsigned threads = 0) const;

  struct Impl;

 private:
  explicit TextModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ================================================================ near-dup text

// Text -> set of shingles: NFC-agnostic normalisation (ASCII lowercasing,
// every run of Unicode white space collapsed to one space, trimmed), then the
// k-grams of *code points*, each hashed to 64 bits. A text shorter than k
// code points is one shingle. Returned sorted and unique.
struct ShingleOptions {
  int k = 5;
  bool lowercase = true;
};
std::vector<std::uint64_t> shingle_hashes(std::string_view text, const ShingleOptions& opt = {});
// Exact Jaccard |A ∩ B| / |A ∪ B| of two sorted unique sets (1.0 for two empty sets).
double jaccard(const std::vector<std::uint64_t>& a, const std::vector<std::uint64_t>& b) noexcept;
// Levenshtein distance between the code points of two UTF-8 texts (insertions, deletions and
// substitutions of one code point each; an invalid byte is a unit of its own) when it is at
// most `cap`, else cap + 1: O(length * cap), for telling a text from a near copy of a short one.
std::size_t bounded_edit_distance(std::string_view a, std::string_view b, std::size_t cap);

// Near copies by edits, from hashes alone (no text is kept): a stored text of n code points
// (min_length <= n <= max_length) is found by a query within cap(n) = max(1, floor(share * n))
// Levenshtein edits of it when its blocks of `kBlock` code points each hold at most one edit,
// or two letters swapped (a copy with one letter changed, added or removed always is; two or
// three edits are unless two land in one block, whose bound is then its length). Kept per
// text: the 64-bit hash of each block and of each one-deletion variant of it, and its full
// blocks in a lookup table (about 23 bytes per code point in all). A block found intact in the
// query near its place (pigeonhole: at least blocks - cap are) makes the text a candidate, and a
// dynamic program over the blocks bounds the distance from above (0 for an intact block, 1 for
// one edit, 2 for one deletion and one insertion, its length otherwise). A match's `edits` is
// that bound: never below the true distance, at most cap. Hashes of 4-code-point blocks are no
// secret against a dictionary attack (neither are MinHash's 5-gram slots): "no text" means no
// text bytes, not irreversibility.
class EditIndex {
 public:
  static constexpr std::size_t kBlock = 4;
  struct Match {
    std::uint32_t id;
    std::uint32_t edits;   // an upper bound of the Levenshtein distance, <= cap(length)
    std::uint32_t length;  // code points of the stored text
  };
  // share in [0, 0.15]; 10 <= min_length <= max_length <= 1024. InvalidArgument otherwise.
  explicit EditIndex(double share = 0.05, std::size_t min_length = 10, std::size_t max_length = 256,
                     std::uint64_t seed = 1);
  double share() const noexcept { return share_; }
  std::size_t min_length() const noexcept { return min_length_; }
  std::size_t max_length() const noexcept { return max_length_; }
  std::size_t cap(std::size_t n) const noexcept;  // edits allowed from a stored text of n code points
  std::size_t size() const noexcept { return length_.size(); }
  // The new id (0, 1, ...); a text outside [min_length, max_length] code points takes an id and
  // is found by no query.
  std::uint32_t insert(std::string_view text);
  // Fewest edits first, then oldest; at most `limit` of them, found among the kBoundedPerMatch *
  // limit candidates with the most intact blocks.
  std::vector<Match> query(std::string_view text, std::size_t limit = 16) const;
  void forget(std::uint32_t id);  // found by no later query (InvalidArgument for an unknown id)
  static constexpr std::size_t kBoundedPerMatch = 8;

 private:
  // The hash of cps[0, len) without cps[skip] (none when skip >= len), as block `block` under `tag`.
  std::uint64_t block_hash(const char32_t* cps, std::size_t len, std::size_t block, std::size_t tag,
                           std::size_t skip) const noexcept;
  double share_;
  std::size_t min_length_, max_length_;
  std::uint64_t seed_;
  std::vector<std::uint32_t> length_;  // per id, 0 = not indexed
  std::vector<std::uint64_t> offset_;  // per id: its first hash in hashes_
  // Per indexed text, per block b of length l: hash of the block, then of its l one-deletion variants.
  std::vector<std::uint64_t> hashes_;
  // Intact full block (its index and hash) -> ids: a chained table in flat arrays.
  std::unordered_map<std::uint64_t, std::uint32_t> head_;  // key -> entry + 1
  std::vector<std::uint32_t> entry_id_, entry_next_;       // next: entry + 1, 0 = end
};

// Cut, joined and wrapped copies from hashes alone (no text is kept). For each stored text of n
// code points (min_length <= n <= max_length): the polynomial hash (mod 2^61 - 1) of the whole,
// and of each of its prefixes and suffixes (16 bytes per code point). A query finds
//   kInside: a stored text that is a contiguous part of the query and at least inside_share of
//            it (a worker's upload with a greeting added, or two uploads joined);
//   kStart, kEnd: a stored text whose start or end the query is, at least min_length code points
//            and part_share of it (an upload cut short).
// Exact on the code points given (the caller passes sketches: letters and digits, case-folded),
// up to hash collisions (about 2^-61 per comparison). The prefix hashes give a text back one
// code point at a time to whoever knows the seed: the index is as sensitive as the texts.
class ContainmentIndex {
 public:
  // kMiddle: the query is a part of a stored text that is neither its start nor its end.
  enum class Kind : std::uint8_t { kInside = 0, kStart = 1, kEnd = 2, kMiddle = 3 };
  struct Match {
    std::uint32_t id;
    Kind kind;
    std::uint32_t length;  // code points of the stored text
  };
  // 10 <= min_length <= max_length <= 4096; shares in (0, 1]. InvalidArgument otherwise.
  explicit ContainmentIndex(std::size_t min_length = 20, std::size_t max_length = 256, double inside_share = 0.5,
                            double part_share = 0.6, std::uint64_t seed = 1);
  std::size_t size() const noexcept { return length_.size(); }
  // The new id (0, 1, ...); a text outside [min_length, max_length] takes an id and is found by no query.
  std::uint32_t insert(std::string_view text);
  // kInside matches first (the longest stored text first), then kStart, kEnd, kMiddle; at most
  // `limit`. A kMiddle query reads at most kMiddleChecks candidate places.
  std::vector<Match> query(std::string_view text, std::size_t limit = 16) const;
  void forget(std::uint32_t id);  // found by no later query (InvalidArgument for an unknown id)

 private:
  std::size_t min_length_, max_length_;
  double inside_share_, part_share_;
  std::uint64_t base_;
  std::vector<std::uint64_t> power_;  // base^k mod p, k <= 2 * max_length
  std::vector<std::uint32_t> length_;  // per id, 0 = not indexed
  std::vector<std::uint64_t> offset_;  // per id: its first prefix hash in prefix_ (and suffix_)
  std::vector<std::uint64_t> prefix_, suffix_;  // hash of its first / last k + 1 code points
  // (length, whole hash) -> ids; (anchor tag, hash of the first / last min_length code points) -> ids.
  std::unordered_map<std::uint64_t, std::vector<std::uint32_t>> whole_, anchors_;
  std::vector<std::uint32_t> lengths_present_;  // sorted
  // Middle parts: the winnowed gram hashes of each stored text (Schleimer, Wilkerson, Aiken,
  // SIGMOD 2003: the least hash of every gram_count_ consecutive grams of gram_ code points, so
  // a part of min_length or more shares one with every text that contains it), as (id, place).
  std::size_t gram_, gram_count_;
  std::unordered_map<std::uint64_t, std::vector<std::pair<std::uint32_t, std::uint32_t>>> marks_;
  // The hash of code points [o, o + len) of a text whose prefix hashes start at ph (ph[k]: of
  // its first k + 1 code points), and the keys of its gram_-long windows (n >= gram_ code points).
  std::uint64_t window_hash(const std::uint64_t* ph, std::size_t o, std::size_t len) const noexcept;
  std::vector<std::uint64_t> gram_keys(const std::uint64_t* ph, std::size_t n) const;

 public:
  static constexpr std::size_t kMiddleChecks = 4096;
};

// Classic MinHash (Broder 1997) with num_perm hash functions from the strongly
// universal multiply-add-shift family h_i(x) = ((a_i x + b_i) mod 2^64) >> 32
// over the low 32 bits x of a shingle hash (Dietzfelbinger 1996). The share of
// equal slots of two signatures estimates their Jaccard similarity with
// standard error sqrt(J (1 - J) / num_perm).
class MinHasher {
 public:
  explicit MinHasher(std::size_t num_perm = 128, std::uint64_t seed = 1, ShingleOptions shingles = {});
  std::size_t num_perm() const noexcept { return a_.size(); }
  const ShingleOptions& shingle_options() const noexcept { return shingles_; }
  // out must hold num_perm values. An empty set gives all 0xFFFFFFFF.
  void signature(const std::vector<std::uint64_t>& shingles, std::uint32_t* out) const noexcept;
  void text_signature(std::string_view text, std::uint32_t* out) const;
  // Signatures of many texts into out[n * num_perm], on `threads` threads (0 = all cores).
  void text_signatures(const std::vector<std::string_view>& texts, std::uint32_t* out, unsigned threads = 0) const;

 private:
  std::vector<std::uint64_t> a_, b_;
  ShingleOptions shingles_;
};
double estimate_jaccard(const std::uint32_t* a, const std::uint32_t* b, std::size_t num_perm) noexcept;

// LSH banding: `bands` bands of `rows` slots; two signatures become candidates
// when any band matches, with probability 1 - (1 - J^rows)^bands.
struct LshParams {
  std::size_t bands = 0, rows = 0;
  // The (bands, rows) with bands*rows <= num_perm that minimises the expected
  // share of candidates below `cutoff` (the false-positive area
  // ∫_0^cutoff P(s) ds) subject to P(cutoff) >= min_recall.
  static LshParams choose(double cutoff, std::size_t num_perm, double min_recall = 0.995);
  double candidate_probability(double jaccard) const noexcept;
};

// The near-duplicate index: MinHash signatures kept in one flat array, band
// keys in one hash table. query() returns stored entries whose *estimated*
// Jaccard is >= cutoff, best first. With threshold t the default cutoff is
// t - 2 * sqrt(t (1 - t) / num_perm), so pairs at exactly J = t are found
// with probability ~0.98 (the estimate is approximately normal).
class MinHashLSH {
 public:
  struct Match {
    std::uint32_t id;
    double jaccard;  // estimate
  };
  MinHashLSH(std::size_t num_perm = 128, double threshold = 0.8, double cutoff = -1.0, std::uint64_t seed = 1);
  const MinHasher& hasher() const noexcept { return hasher_; }
  double threshold() const noexcept { return threshold_; }
  double cutoff() const noexcept { return cutoff_; }
  const LshParams& params() const noexcept { return params_; }
  std::size_t size() const noexcept { return count_; }

  std::uint32_t insert_signature(const std::uint32_t* sig);  // returns the new id (0, 1, ...)
  std::vector<Match> query_signature(const std::uint32_t* sig) const;
  std::uint32_t insert(std::string_view text);
  std::vector<Match> query(std::string_view text) const;
  // Batches: signatures on `threads` threads, then the (serial) table work.
  std::vector<std::uint32_t> insert_many(const std::vector<std::string_view>& texts, unsigned threads = 0);
  std::vector<std::vector<Match>> query_many(const std::vector<std::string_view>& texts, unsigned threads = 0) const;
  const std::uint32_t* signature_of(std::uint32_t id) const;  // InvalidArgument for an unknown id

 private:
  std::uint64_t band_key(const std::uint32_t* sig, std::size_t band) const noexcept;
  MinHasher hasher_;
  double threshold_, cutoff_;
  LshParams params_;
  std::size_t count_ = 0;
  void grow();
  std::vector<std::uint32_t> signatures_;  // count_ * num_perm
  // Band key -> chain of entries, in one open-addressing table (linear
  // probing, load <= 1/2) and flat arrays: no allocation per insert.
  std::vector<std::uint64_t> slot_key_;
  std::vector<std::uint32_t> slot_head_;   // entry index + 1; 0 = empty slot
  std::vector<std::uint32_t> entry_id_, entry_next_;  // next: entry index + 1; 0 = end
};

// ============================================================== image hashes

// A read-only view of 8-bit grayscale pixels with arbitrary strides (a numpy
// array is passed without copying).
struct GrayView {
  const std::uint8_t* data = nullptr;
  std::size_t rows = 0, cols = 0;
  std::ptrdiff_t row_stride = 0, col_stride = 1;  // in bytes
  std::uint8_t at(std::size_t r, std::size_t c) const noexcept {
    return data[static_cast<std::ptrdiff_t>(r) * row_stride + static_cast<std::ptrdiff_t>(c) * col_stride];
  }
};

// Area-average resampling (every source pixel weighted by the share of it an
// output cell covers): out[out_rows * out_cols], row-major.
void area_resize(const GrayView& img, std::size_t out_rows, std::size_t out_cols, double* out);

// pHash (Zauner 2010, the imagehash convention): area-resize to 32x32, 2-D
// DCT-II, the 8x8 lowest frequencies (DC included), bit = coefficient > their
// median; bit 63 is coefficient (0,0), row-major. dHash (Krawetz 2013):
// resize to 8 rows x 9 cols, bit = pixel(r, c+1) > pixel(r, c).
struct ImageHashes {
  std::uint64_t phash = 0, dhash = 0;
  double mean = 0, stddev = 0;  // of the full-resolution pixels
};
ImageHashes image_hashes(const GrayView& img);  // InvalidArgument for an empty view
std::array<double, 64> phash_coefficients(const GrayView& img);  // the 8x8 DCT block
inline int hamming(std::uint64_t a, std::uint64_t b) noexcept { return __builtin_popcountll(a ^ b); }

// Hamming-radius search over stored 64-bit hashes (a linear popcount scan:
// 10^6 hashes in about a millisecond, no index to tune).
class HashIndex {
 public:
  struct Match {
    std::uint32_t id;
    int distance;
  };
  std::uint32_t insert(std::uint64_t h);
  std::vector<Match> query(std::uint64_t h, int max_distance) const;  // nearest first
  std::size_t size() const noexcept { return hashes_.size(); }

 private:
  std::vector<std::uint64_t> hashes_;
};

// ===================================================================== audio

// RIFF/WAVE parsing. Bad bytes never throw: `reason` names the fault with a
// reason code ("" when the file is usable) and `detail` says where.
struct WavInfo {
  std::string reason, detail;
  std::uint16_t format = 0;  // 1 = integer PCM, 3 = IEEE float (WAVE_FORMAT_EXTENSIBLE resolved)
  std::uint16_t channels = 0;
  std::uint32_t sample_rate = 0;
  std::uint16_t bits_per_sample = 0;
  std::uint64_t frames = 0;       // whole frames actually present
  std::size_t data_offset = 0;    // of the first sample
  std::size_t data_bytes = 0;     // present (may be less than declared when truncated)
  double duration_s = 0;
};
WavInfo parse_wav(ByteView wav) noexcept;

// Loudness statistics over non-overlapping windows of window_ms (all channels
// mixed by taking the per-frame maximum |sample|, full scale = 1.0).
struct AudioStats {
  double silence_ratio = 0;   // share of windows whose RMS is below silence_dbfs
  double rms_dbfs = -200;     // whole file
  double peak_dbfs = -200;
  double clipping_ratio = 0;  // share of samples at >= 0.999 full scale
  std::uint64_t nonfinite = 0;  // float samples that are NaN or infinite (no sound: corrupt data)
};
AudioStats audio_stats(ByteView wav, const WavInfo& info, double window_ms = 20.0, double silence_dbfs = -50.0);

// =================================================================== receipt

// What the ledger records about one verified upload. Canonical bytes (see
// docs/verification.md): the codec array
//   [version=1, task_id, item_id, ciphertext_hash(32), status, [reasons...],
//    [[score_name, score_micro], ...], verifier_key(32), signature(64)]
// and the signature is Ed25519 over kReceiptDomain || the same array without
// its last field. Scores are fixed point (round(score * 1e6)), sorted by name,
// because canonical records hold no floats.
inline constexpr std::string_view kReceiptDomain = "tagger/verify-receipt/v1";
inline constexpr std::uint64_t kReceiptVersion = 1;

struct Receipt {
  std::string task_id, item_id;
  Hash32 ciphertext_hash{};
  std::string status;  // "accepted" | "needs_review" | "rejected"
  std::vector<std::string> reasons;
  std::vector<std::pair<std::string, std::int64_t>> scores_micro;
  crypto::PublicKey verifier{};
  crypto::Signature signature{};

  // Checks the fields (status, reason-code syntax, sorted unique score names)
  // and throws InvalidArgument naming the first bad one.
  void validate() const;
  Bytes signed_message() const;  // kReceiptDomain || array without the signature
  Bytes encode() const;
  static Receipt decode(ByteView bytes);  // DecodeError for anything malformed
  void sign(const crypto::SigningKey& key);  // sets verifier and signature
  // InvalidSignature when the signature does not verify, or (if `expected` is
  // given) the receipt names another verifier.
  void verify(const crypto::VerifyKey* expected = nullptr) const;
  bool operator==(const Receipt&) const = default;
};

bool valid_reason_code(std::string_view code) noexcept;  // [a-z0-9_.:-]{1,64}, starts with a letter

}  // namespace tagger::verify
