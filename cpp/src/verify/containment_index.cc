// ContainmentIndex: copies of a stored text cut short, joined to another or wrapped in a few
// words (tagger/verify.h). The length changes, so Jaccard, edits and word sets all miss them.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "tagger/errors.h"
#include "tagger/verify.h"
#include "verify/mix.h"
#include "verify/utf8.h"

namespace tagger::verify {
namespace {

constexpr std::uint64_t kPrime = (1ULL << 61) - 1;

inline std::uint64_t mul_mod(std::uint64_t a, std::uint64_t b) noexcept {
  const unsigned __int128 x = static_cast<unsigned __int128>(a) * b;
  const std::uint64_t lo = static_cast<std::uint64_t>(x & kPrime), hi = static_cast<std::uint64_t>(x >> 61);
  const std::uint64_t r = lo + hi;
  return r >= kPrime ? r - kPrime : r;
}

inline std::uint64_t add_mod(std::uint64_t a, std::uint64_t b) noexcept {
  const std::uint64_t r = a + b;
  return r >= kPrime ? r - kPrime : r;
}

// Code points as digits: 0 never (a leading zero digit would not change the hash).
inline std::uint64_t digit(char32_t c) noexcept { return static_cast<std::uint64_t>(c) + 1; }

inline std::uint64_t key(std::uint64_t tag, std::uint64_t length, std::uint64_t hash) noexcept {
  return mix64(hash ^ mix64((tag << 32) | length));
}

constexpr std::uint64_t kWholeTag = 1, kPrefixTag = 2, kSuffixTag = 3, kGramTag = 4;

// The places of the winnowed grams: in every run of `count` consecutive gram hashes the least
// (the rightmost of equal ones), each place once. The same run of code points gives the same
// choice whatever text it sits in, which is what makes a contained part findable.
std::vector<std::size_t> winnow(const std::vector<std::uint64_t>& grams, std::size_t count) {
  std::vector<std::size_t> out;
  if (grams.size() < count) return out;
  for (std::size_t w = 0; w + count <= grams.size(); ++w) {
    std::size_t best = w;
    for (std::size_t k = w + 1; k < w + count; ++k)
      if (grams[k] <= grams[best]) best = k;
    if (out.empty() || out.back() != best) out.push_back(best);
  }
  return out;
}

}  // namespace

ContainmentIndex::ContainmentIndex(std::size_t min_length, std::size_t max_length, double inside_share,
                                   double part_share, std::uint64_t seed)
    : min_length_(min_length), max_length_(max_length), inside_share_(inside_share), part_share_(part_share),
      gram_(std::max<std::size_t>(6, 3 * min_length / 5)), gram_count_(min_length - gram_ + 1) {
  if (min_length < 10 || min_length > max_length || max_length > 4096)
    throw InvalidArgument("containment lengths must satisfy 10 <= min_length <= max_length <= 4096, got " +
                          std::to_string(min_length) + " and " + std::to_string(max_length));
  if (!(inside_share > 0.0 && inside_share <= 1.0) || !(part_share > 0.0 && part_share <= 1.0))
    throw InvalidArgument("containment shares must be in (0, 1]");
  base_ = mix64(seed ^ 0x6a09e667f3bcc909ULL) % (kPrime - 256) + 256;  // above every small digit
  power_.resize(2 * max_length_ + 2);
  power_[0] = 1;
  for (std::size_t k = 1; k < power_.size(); ++k) power_[k] = mul_mod(power_[k - 1], base_);
}

std::uint64_t ContainmentIndex::window_hash(const std::uint64_t* ph, std::size_t o, std::size_t len) const noexcept {
  const std::uint64_t whole = ph[o + len - 1];
  return o == 0 ? whole : add_mod(whole, kPrime - mul_mod(ph[o - 1], power_[len]));
}

std::vector<std::uint64_t> ContainmentIndex::gram_keys(const std::uint64_t* ph, std::size_t n) const {
  std::vector<std::uint64_t> grams(n - gram_ + 1);
  for (std::size_t i = 0; i < grams.size(); ++i) grams[i] = key(kGramTag, gram_, window_hash(ph, i, gram_));
  return grams;
}

std::uint32_t ContainmentIndex::insert(std::string_view text) {
  if (length_.size() >= std::numeric_limits<std::uint32_t>::max()) throw InvalidArgument("ContainmentIndex is full");
  const std::vector<char32_t> cps = utf8::code_points(text);
  const auto id = static_cast<std::uint32_t>(length_.size());
  const std::size_t n = cps.size();
  const bool indexed = n >= min_length_ && n <= max_length_;
  length_.push_back(indexed ? static_cast<std::uint32_t>(n) : 0);
  offset_.push_back(prefix_.size());
  if (!indexed) return id;
  std::uint64_t h = 0, g = 0;
  for (std::size_t k = 0; k < n; ++k) {
    h = add_mod(mul_mod(h, base_), digit(cps[k]));
    g = add_mod(mul_mod(g, base_), digit(cps[n - 1 - k]));  // of the reversed text: suffixes
    prefix_.push_back(h);
    suffix_.push_back(g);
  }
  whole_[key(kWholeTag, n, h)].push_back(id);
  const std::uint64_t* ph = prefix_.data() + offset_[id];
  const std::vector<std::uint64_t> grams = gram_keys(ph, n);
  for (std::size_t at : winnow(grams, gram_count_)) marks_[grams[at]].emplace_back(id, static_cast<std::uint32_t>(at));
  anchors_[key(kPrefixTag, min_length_, prefix_[offset_[id] + min_length_ - 1])].push_back(id);
  anchors_[key(kSuffixTag, min_length_, suffix_[offset_[id] + min_length_ - 1])].push_back(id);
  auto at = std::lower_bound(lengths_present_.begin(), lengths_present_.end(), static_cast<std::uint32_t>(n));
  if (at == lengths_present_.end() || *at != n) lengths_present_.insert(at, static_cast<std::uint32_t>(n));
  return id;
}

void ContainmentIndex::forget(std::uint32_t id) {
  if (id >= length_.size()) throw InvalidArgument("no entry with id " + std::to_string(id));
  length_[id] = 0;  // its hashes stay in the tables; a length of 0 is found by no query
}

std::vector<ContainmentIndex::Match> ContainmentIndex::query(std::string_view text, std::size_t limit) const {
  const std::vector<char32_t> u = utf8::code_points(text);
  const std::size_t m = u.size();
  std::vector<Match> out;
  if (m < min_length_ || limit == 0) return out;
  // Prefix hashes of the query, and of it reversed.
  std::vector<std::uint64_t> h(m + 1, 0), g(m + 1, 0);
  for (std::size_t k = 0; k < m; ++k) {
    h[k + 1] = add_mod(mul_mod(h[k], base_), digit(u[k]));
    g[k + 1] = add_mod(mul_mod(g[k], base_), digit(u[m - 1 - k]));
  }
  // kInside: every stored length L with inside_share * m <= L <= m, every window of it.
  {
    std::vector<std::uint32_t> seen;
    for (auto it = lengths_present_.rbegin(); it != lengths_present_.rend() && out.size() < limit; ++it) {
      const std::size_t len = *it;
      if (len > m) continue;
      if (static_cast<double>(len) < inside_share_ * static_cast<double>(m)) break;
      for (std::size_t o = 0; o + len <= m && out.size() < limit; ++o) {
        const std::uint64_t w = window_hash(h.data() + 1, o, len);
        auto found = whole_.find(key(kWholeTag, len, w));
        if (found == whole_.end()) continue;
        for (std::uint32_t id : found->second) {
          if (out.size() >= limit || length_[id] == 0 || std::find(seen.begin(), seen.end(), id) != seen.end()) continue;
          seen.push_back(id);
          out.push_back({id, Kind::kInside, static_cast<std::uint32_t>(len)});
        }
      }
    }
  }
  // kStart, kEnd: a stored text of n >= m that starts or ends with the query, m >= part_share * n.
  const auto part = [&](std::uint64_t tag, Kind kind, const std::vector<std::uint64_t>& mine,
                        const std::vector<std::uint64_t>& q) {
    auto found = anchors_.find(key(tag, min_length_, q[min_length_]));
    if (found == anchors_.end()) return;
    for (std::uint32_t id : found->second) {
      const std::size_t n = length_[id];
      if (out.size() >= limit || n <= m || static_cast<double>(m) < part_share_ * static_cast<double>(n)) continue;
      if (mine[offset_[id] + m - 1] != q[m]) continue;
      if (std::none_of(out.begin(), out.end(), [&](const Match& x) { return x.id == id; }))
        out.push_back({id, kind, static_cast<std::uint32_t>(n)});
    }
  };
  part(kPrefixTag, Kind::kStart, prefix_, h);
  part(kSuffixTag, Kind::kEnd, suffix_, g);
  // kMiddle: every winnowed gram of the query is one of each text that contains it; the rarest
  // one names the candidates, and its place the only alignment to test.
  if (out.size() < limit) {
    const std::vector<std::uint64_t> grams = gram_keys(h.data() + 1, m);
    const std::vector<std::pair<std::uint32_t, std::uint32_t>>* rarest = nullptr;
    std::size_t place = 0;
    for (std::size_t at : winnow(grams, gram_count_)) {
      auto found = marks_.find(grams[at]);
      if (found == marks_.end()) return out;  // no stored text holds this gram, so none holds the query
      if (rarest == nullptr || found->second.size() < rarest->size()) rarest = &found->second, place = at;
    }
    if (rarest == nullptr) return out;
    std::size_t checks = 0;
    for (const auto& mark : *rarest) {  // (no structured binding: clang cannot capture one)
      const std::uint32_t id = mark.first;
      const std::size_t at = mark.second;
      if (out.size() >= limit || ++checks > kMiddleChecks) break;
      const std::size_t n = length_[id];
      if (n <= m || at < place || static_cast<double>(m) < part_share_ * static_cast<double>(n)) continue;
      const std::size_t o = at - place;  // where the query would start in the stored text
      if (o == 0 || o + m >= n) continue;  // a start or an end: found above
      if (window_hash(prefix_.data() + offset_[id], o, m) != h[m]) continue;
      if (std::none_of(out.begin(), out.end(), [&](const Match& x) { return x.id == id; }))
        out.push_back({id, Kind::kMiddle, static_cast<std::uint32_t>(n)});
    }
  }
  return out;
}

}  // namespace tagger::verify
