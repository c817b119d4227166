// String ids to dense codes. pandas hashes each id through Python objects
// (or Arrow's generic dictionary encoder); with the ids as raw bytes one
// flat table of (hash, code) does it in a pass, which is what made string
// ids cost half again as much as integer ids in a 1M-answer fit.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <span>
#include <string_view>
#include <vector>

#include "tagger/consensus.h"
#include "tagger/errors.h"

namespace tagger::consensus {
namespace {

using u128 = unsigned __int128;

std::uint64_t fold(std::uint64_t a, std::uint64_t b) {
  const u128 r = static_cast<u128>(a) * b;
  return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}

constexpr std::uint64_t k1 = 0xa0761d6478bd642fULL, k2 = 0xe7037ed1a0b428dbULL, k3 = 0x8ebc6af09c88c6e3ULL;
constexpr std::size_t kShort = 16;

std::uint64_t load64(const char* p) {
  std::uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}
std::uint64_t load32(const char* p) {
  std::uint32_t w;
  std::memcpy(&w, p, 4);
  return w;
}

// An id of at most 16 bytes as two zero-padded words: equal words and size
// mean equal ids, so short ids compare without memcmp. Whole-word loads that
// overlap, never a byte loop (which stalls on store forwarding).
struct Packed {
  std::uint64_t a = 0, b = 0;
};
Packed pack_short(const char* p, std::size_t n) {
  Packed w;
  if (n >= 8) {
    w.a = load64(p);
    if (n > 8) w.b = load64(p + n - 8) >> (8 * (16 - n));
  } else if (n >= 4) {
    w.a = load32(p) | ((load32(p + n - 4) >> (8 * (8 - n))) << 32);
  } else if (n > 0) {
    w.a = static_cast<std::uint8_t>(p[0]);
    if (n > 1) w.a |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(p[1])) << 8;
    if (n > 2) w.a |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(p[2])) << 16;
  }
  return w;
}

// The wyhash construction (multiply and fold the 128-bit product), seeded.
std::uint64_t hash_short(Packed w, std::size_t n, std::uint64_t seed) {
  return fold(fold(w.a ^ k1 ^ seed, w.b ^ k2) ^ k3, n ^ k1);
}
std::uint64_t hash_long(std::string_view s, std::uint64_t seed) {
  const char* p = s.data();
  std::size_t n = s.size();
  std::uint64_t h = seed ^ fold(n ^ k1, k2);
  for (; n > 8; n -= 8, p += 8) h = fold(load64(p) ^ k1, h ^ k2);
  return fold(load64(s.data() + s.size() - 8) ^ k3, h ^ k1);  // the last word, overlapping: size > 16
}

std::uint64_t random_seed() {
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

}  // namespace

StringCodes factorize(std::span<const std::string_view> values) {
  const std::size_t n = values.size();
  if (n > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
    throw InvalidArgument("consensus: more than 2^31 - 1 answers cannot be coded as int32");
  StringCodes out;
  out.codes = std::make_unique_for_overwrite<std::int32_t[]>(n);
  if (n == 0) return out;
  // The table holds 8-byte slots (a hash tag and the code), so growing it and
  // probing it stay cheap; each id is kept once, in code order, packed when
  // short, so confirming a match reads one more cache line and no bytes.
  struct Slot {
    std::uint32_t tag;  // low 32 bits of the hash: the slot position when the table grows
    std::int32_t code;  // -1: empty
  };
  struct Key {
    Packed packed;
    std::uint64_t size;
  };
  std::vector<Key> keys;
  std::vector<Slot> table(1024, Slot{0, -1});
  std::size_t mask = table.size() - 1;
  const std::uint64_t seed = random_seed();
  std::int32_t* codes = out.codes.get();
  std::vector<std::int64_t>& first = out.first_rows;
  Packed previous;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string_view v = values[i];
    const bool is_short = v.size() <= kShort;
    const Packed packed = is_short ? pack_short(v.data(), v.size()) : Packed{};
    // Answers grouped by task repeat the id row after row.
    const bool repeat = i > 0 && v.size() == values[i - 1].size() &&
                        (is_short ? packed.a == previous.a && packed.b == previous.b : v == values[i - 1]);
    previous = packed;
    if (repeat) {
      codes[i] = codes[i - 1];
      continue;
    }
    const auto tag = static_cast<std::uint32_t>(is_short ? hash_short(packed, v.size(), seed) : hash_long(v, seed));
    auto same = [&](std::int32_t code) {
      const Key& k = keys[static_cast<std::size_t>(code)];
      if (k.size != v.size()) return false;
      if (is_short) return k.packed.a == packed.a && k.packed.b == packed.b;
      return values[static_cast<std::size_t>(first[static_cast<std::size_t>(code)])] == v;
    };
    std::size_t s = tag & mask;
    while (table[s].code >= 0 && !(table[s].tag == tag && same(table[s].code))) s = (s + 1) & mask;
    if (table[s].code >= 0) {
      codes[i] = table[s].code;
      continue;
    }
    const auto code = static_cast<std::int32_t>(first.size());
    table[s] = Slot{tag, code};
    keys.push_back(Key{packed, v.size()});
    first.push_back(static_cast<std::int64_t>(i));
    codes[i] = code;
    if (first.size() * 2 > table.size()) {  // grow at half load: probes stay short
      if (table.size() > std::numeric_limits<std::uint32_t>::max()) throw InvalidArgument("consensus: too many distinct ids");
      std::vector<Slot> bigger(table.size() * 2, Slot{0, -1});
      const std::size_t bigger_mask = bigger.size() - 1;
      for (const Slot& old : table)
        if (old.code >= 0) {
          std::size_t j = old.tag & bigger_mask;
          while (bigger[j].code >= 0) j = (j + 1) & bigger_mask;
          bigger[j] = old;
        }
      table = std::move(bigger);
      mask = bigger_mask;
    }
  }
  return out;
}

}  // namespace tagger::consensus
