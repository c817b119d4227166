// EditIndex: near copies of stored texts by a few edits, from block hashes (tagger/verify.h).
// Short uploads need it: one changed letter alters up to five of the 5-grams of a 30-letter
// question, so MinHash's Jaccard misses such copies of another worker's upload.
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

constexpr std::size_t kWhole = 0xFF;  // the tag of a block's own hash (else: the deleted position)
constexpr std::size_t kNoSkip = std::numeric_limits<std::size_t>::max();
constexpr std::uint32_t kUnknown = std::numeric_limits<std::uint32_t>::max();

}  // namespace

EditIndex::EditIndex(double share, std::size_t min_length, std::size_t max_length, std::uint64_t seed)
    : share_(share), min_length_(min_length), max_length_(max_length), seed_(seed) {
  if (!(share >= 0.0 && share <= 0.15)) throw InvalidArgument("edit share must be in [0, 0.15], got " + std::to_string(share));
  if (min_length < 10 || min_length > max_length || max_length > 1024)
    throw InvalidArgument("edit lengths must satisfy 10 <= min_length <= max_length <= 1024, got " +
                          std::to_string(min_length) + " and " + std::to_string(max_length));
  // A copy is found by its intact full blocks: with cap(n) >= n / kBlock of them it could have none
  // (at share 0.2, texts of 10, 11 and 15 code points). Up to 0.15 this never happens from 10 on.
  for (std::size_t n = min_length; n <= max_length; ++n)
    if (cap(n) >= n / kBlock)
      throw InvalidArgument("edit share " + std::to_string(share) + " allows as many edits as a text of " +
                            std::to_string(n) + " code points has blocks: copies could not be found");
}

void EditIndex::forget(std::uint32_t id) {
  if (id >= length_.size()) throw InvalidArgument("no entry with id " + std::to_string(id));
  length_[id] = 0;  // its entries stay in the chains; a length of 0 is found by no query
}

std::size_t EditIndex::cap(std::size_t n) const noexcept {
  return std::max<std::size_t>(1, static_cast<std::size_t>(std::floor(share_ * static_cast<double>(n))));
}

std::uint64_t EditIndex::block_hash(const char32_t* cps, std::size_t len, std::size_t block, std::size_t tag,
                                    std::size_t skip) const noexcept {
  std::uint64_t h = mix64(seed_ ^ mix64((static_cast<std::uint64_t>(block) << 8) | tag));
  for (std::size_t i = 0; i < len; ++i)
    if (i != skip) h = mix64(h ^ (static_cast<std::uint64_t>(cps[i]) + 0x9e3779b97f4a7c15ULL));
  return mix64(h ^ (len - (skip < len)));  // the variant's length: "ab" + skip != "abc"'s prefix
}

std::uint32_t EditIndex::insert(std::string_view text) {
  if (length_.size() >= std::numeric_limits<std::uint32_t>::max()) throw InvalidArgument("EditIndex is full");
  const std::vector<char32_t> cps = utf8::code_points(text);
  const auto id = static_cast<std::uint32_t>(length_.size());
  const std::size_t n = cps.size();
  const bool indexed = n >= min_length_ && n <= max_length_;
  length_.push_back(indexed ? static_cast<std::uint32_t>(n) : 0);
  offset_.push_back(hashes_.size());
  if (!indexed) return id;
  for (std::size_t b = 0; b * kBlock < n; ++b) {
    const char32_t* at = cps.data() + b * kBlock;
    const std::size_t l = std::min(kBlock, n - b * kBlock);
    const std::uint64_t whole = block_hash(at, l, b, kWhole, kNoSkip);
    hashes_.push_back(whole);
    for (std::size_t j = 0; j < l; ++j) hashes_.push_back(block_hash(at, l, b, j, j));
    if (l == kBlock) {  // full blocks only are looked up (a last short one would need every length)
      auto [it, fresh] = head_.try_emplace(whole, 0);
      entry_id_.push_back(id);
      entry_next_.push_back(it->second);
      it->second = static_cast<std::uint32_t>(entry_id_.size());
    }
  }
  return id;
}

namespace {

// 0 when a query window of len code points is a stored block of l (whose hashes are h: the
// block's own, then each deletion j's), 1 when one edit away from it, 2 when one deletion and
// one insertion away (of the same length), else kUnknown. window(tag, skip) hashes the window
// less its code point `skip` (none: kNoSkip) as the block's variant `tag`.
template <class Window>
std::uint32_t block_cost(const std::uint64_t* h, std::size_t l, std::size_t len, Window&& window) {
  if (len == l) {
    if (window(kWhole, kNoSkip) == h[0]) return 0;
    for (std::size_t j = 0; j < l; ++j)  // u[j] substituted
      if (window(j, j) == h[1 + j]) return 1;
    // One code point deleted and another added: two letters swapped ("wlil" for "will") among them.
    for (std::size_t k = 0; k < l; ++k)
      for (std::size_t j = 0; j < l; ++j)
        if (j != k && window(k, j) == h[1 + k]) return 2;
  } else if (len + 1 == l) {
    for (std::size_t j = 0; j < l; ++j)  // the block's j-th code point deleted
      if (window(j, kNoSkip) == h[1 + j]) return 1;
  } else if (len == l + 1) {
    for (std::size_t j = 0; j < len; ++j)  // u[j] inserted
      if (window(kWhole, j) == h[0]) return 1;
  }
  return kUnknown;
}

}  // namespace

namespace {

// The query's side of block_cost for a full block, hashed once per (block, start) and compared
// with every candidate's: the candidates of a templated upload share most of them, and hashing
// them per candidate was most of a bound's cost.
//   [0]            u[a, a+4) whole                 (an intact block)
//   [1 + 4k + j]   u[a, a+4) less j, as deletion k (k == j: a substitution; else two letters moved)
//   [17 + j]       u[a, a+3) as deletion j          (a code point deleted)
//   [21 + j]       u[a, a+5) less j, whole          (a code point inserted)
constexpr std::size_t kProbes = 26;

}  // namespace

std::vector<EditIndex::Match> EditIndex::query(std::string_view text, std::size_t limit) const {
  const std::vector<char32_t> u = utf8::code_points(text);
  const std::size_t m = u.size();
  std::size_t cap_any = 0, n_max = 0;  // over the stored lengths a match can have
  for (std::size_t n = min_length_; n <= max_length_; ++n)
    if ((n > m ? n - m : m - n) <= cap(n)) { cap_any = std::max(cap_any, cap(n)); n_max = n; }
  std::vector<Match> out;
  if (n_max == 0 || m < kBlock) return out;
  // Candidates: texts with enough intact blocks found within cap_any of their place. The counts
  // live in per-thread arrays indexed by id, reset through the list of ids touched (a hash map
  // of the hits was most of a lookup's time: a common first block, "howd", chains a tenth of
  // the texts).
  thread_local std::vector<std::uint32_t> last_block, blocks_found, touched;
  if (last_block.size() < length_.size()) {
    last_block.resize(length_.size(), 0);
    blocks_found.resize(length_.size(), 0);
  }
  touched.clear();
  for (std::size_t b = 0; (b + 1) * kBlock <= n_max; ++b) {
    const std::size_t place = b * kBlock;
    const std::size_t lo = place > cap_any ? place - cap_any : 0, hi = std::min(place + cap_any, m - kBlock);
    for (std::size_t o = lo; o <= hi; ++o) {
      auto it = head_.find(block_hash(u.data() + o, kBlock, b, kWhole, kNoSkip));
      if (it == head_.end()) continue;
      for (std::uint32_t e = it->second; e != 0; e = entry_next_[e - 1]) {
        const std::uint32_t id = entry_id_[e - 1];
        if (last_block[id] == b + 1) continue;
        if (blocks_found[id] == 0) touched.push_back(id);
        last_block[id] = static_cast<std::uint32_t>(b + 1);
        ++blocks_found[id];
      }
    }
  }
  // The most intact blocks first, and at most kBoundedPerMatch * limit of them bounded: with many
  // near-identical texts stored (templated uploads: a sentence and an order number) each bound
  // that fails costs a pass over its blocks, and checking every one made registering N such
  // uploads O(N^2) (4,000 took 6 minutes). A copy has more intact blocks than its template's
  // other fillings, so it comes first.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> order;  // (blocks, id)
  for (std::uint32_t id : touched) {
    const std::size_t n = length_[id], c = cap(n), full = n / kBlock, found = blocks_found[id];
    if (n != 0 && (n > m ? n - m : m - n) <= c && found >= std::max<std::size_t>(1, full > c ? full - c : 1))
      order.emplace_back(static_cast<std::uint32_t>(found), id);
    last_block[id] = blocks_found[id] = 0;
  }
  const std::size_t bounded = std::min(order.size(), kBoundedPerMatch * limit);
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(bounded), order.end(),
                    [](const auto& x, const auto& y) { return x.first != y.first ? x.first > y.first : x.second < y.second; });
  constexpr std::uint32_t kOver = std::numeric_limits<std::uint32_t>::max() / 2;
  std::vector<std::uint32_t> prev(m + 1), cur(m + 1);
  const std::size_t width = 2 * cap_any + 1, blocks = (n_max + kBlock - 1) / kBlock;
  std::vector<std::uint64_t> probes(bounded ? blocks * width * kProbes : 0);
  std::vector<std::uint8_t> probed(bounded ? blocks * width : 0, 0);
  auto probe = [&](std::size_t b, std::size_t a) -> const std::uint64_t* {
    const std::size_t slot = b * width + (a + cap_any - b * kBlock);
    std::uint64_t* x = probes.data() + slot * kProbes;
    if (!probed[slot]) {
      probed[slot] = 1;
      const char32_t* at = u.data() + a;
      if (a + kBlock <= m) {
        x[0] = block_hash(at, kBlock, b, kWhole, kNoSkip);
        for (std::size_t k = 0; k < kBlock; ++k)
          for (std::size_t j = 0; j < kBlock; ++j) x[1 + kBlock * k + j] = block_hash(at, kBlock, b, k, j);
      }
      if (a + kBlock - 1 <= m)
        for (std::size_t j = 0; j < kBlock; ++j) x[17 + j] = block_hash(at, kBlock - 1, b, j, kNoSkip);
      if (a + kBlock + 1 <= m)
        for (std::size_t j = 0; j <= kBlock; ++j) x[21 + j] = block_hash(at, kBlock + 1, b, kWhole, j);
    }
    return x;
  };
  // The cost of a block against u[a, a + len): a full block's window hashes from the probes, a
  // last short block's computed (it is one per candidate).
  auto cost_at = [&](std::uint32_t id, std::size_t b, std::size_t l, std::size_t a, std::size_t len) -> std::uint32_t {
    const std::uint64_t* h = hashes_.data() + offset_[id] + b * (kBlock + 1);
    if (l != kBlock)
      return block_cost(h, l, len, [&](std::size_t tag, std::size_t skip) {
        return block_hash(u.data() + a, len, b, tag, skip);
      });
    const std::uint64_t* x = probe(b, a);
    return block_cost(h, l, len, [&](std::size_t tag, std::size_t skip) {
      if (len == kBlock) return tag == kWhole ? x[0] : x[1 + kBlock * tag + skip];
      return len < kBlock ? x[17 + tag] : x[21 + skip];
    });
  };
  for (std::size_t k = 0; k < bounded && out.size() < limit; ++k) {
    const std::uint32_t id = order[k].second;
    const std::size_t n = length_[id], c = cap(n);
    // prev[p]: the least bound for the blocks so far against u[0, p), within c of their end.
    std::fill(prev.begin(), prev.end(), kOver);
    prev[0] = 0;
    bool over = false;
    for (std::size_t b = 0; b * kBlock < n && !over; ++b) {
      const std::size_t start = b * kBlock, l = std::min(kBlock, n - start), end = start + l;
      std::fill(cur.begin(), cur.end(), kOver);
      const std::size_t a_lo = start > c ? start - c : 0, a_hi = std::min(m, start + c);
      const std::size_t e_lo = end > c ? end - c : 0, e_hi = std::min(m, end + c);
      for (std::size_t a = a_lo; a <= a_hi; ++a) {
        if (prev[a] > c) continue;
        for (std::size_t p = std::max(a, e_lo); p <= e_hi; ++p) {
          const std::size_t len = p - a;
          std::uint32_t cost = kUnknown;
          if (len + 1 >= l && len <= l + 1) cost = cost_at(id, b, l, a, len);
          if (cost == kUnknown) cost = static_cast<std::uint32_t>(std::max(l, len));  // every code point replaced
          cur[p] = std::min(cur[p], prev[a] + cost);
        }
      }
      over = *std::min_element(cur.begin() + static_cast<std::ptrdiff_t>(e_lo),
                               cur.begin() + static_cast<std::ptrdiff_t>(e_hi) + 1) > c;  // no path left within cap
      std::swap(prev, cur);
    }
    if (!over && prev[m] <= c) out.push_back({id, prev[m], static_cast<std::uint32_t>(n)});
  }
  std::sort(out.begin(), out.end(), [](const Match& x, const Match& y) {
    return x.edits != y.edits ? x.edits < y.edits : x.id < y.id;
  });
  return out;
}

}  // namespace tagger::verify
