// The chaotic permutation-diffusion layer (docs/crypto.md, "Chaotic layer").
//
// Compiled with -mgeneral-regs-only (see CMakeLists.txt): any floating point
// here is a compile error, which is what makes the output bit-identical on
// every compiler and optimisation level.
//
// Per chunk of n <= 64 KiB bytes, viewed as m = n / 8 little-endian 64-bit
// words plus one partial word of r = n % 8 bytes (arithmetic on it is mod 2^(8r)):
//   1. permutation (Fridrich 1998): word i is taken from word pi[(i + delta) mod m],
//      pi a Fisher-Yates shuffle driven by a chaotic orbit, delta per chunk;
//   2. forward diffusion on 4 interleaved chains, with the chaotic keystream:
//      c_i = ((a_i xor k_i) + s_{i mod 4}) mod 2^64,  s_{i mod 4} <- h(c_i);
//   3. tail mix: two rounds of an invertible ARX mix over the last 4 words, so a
//      change anywhere in the chunk (which forward diffusion carried to the end
//      of its chain) reaches every chain;
//   4. backward diffusion: d_i = c_i + g(d_{i+4}) for i from the tail down to 0.
// Decryption undoes 4, 3, 2, 1; its chains run on known ciphertext words.
#include <algorithm>
#include <bit>
#include <cstring>
#include <mutex>

#include "crypto/chaotic/maps.h"
#include "tagger/crypto.h"
#include "tagger/errors.h"
#include "util/parallel.h"

namespace tagger::crypto {
using namespace chaotic;

namespace {

constexpr std::size_t kChunkWords = kChunkBytes / 8;
constexpr u64 kH = 0xD6E8FEB86659FD93ULL;      // odd multipliers of the chain functions
constexpr u64 kG = 0xA0761D6478BD642FULL;
constexpr u64 kPhi = 0xE7037ED1A0B428DBULL;    // odd; kPhi * kPhiInv = 1 mod 2^64
constexpr u64 kPermLane = 0xFFFFFFFFULL;       // lane id of the permutation orbit

constexpr u64 inverse_mod_2_64(u64 a) {        // Newton: each step doubles the correct bits
  u64 x = a;
  for (int i = 0; i < 6; ++i) x *= 2 - a * x;
  return x;
}
constexpr u64 kPhiInv = inverse_mod_2_64(kPhi);
static_assert(kPhi * kPhiInv == 1);

inline u64 load_le(const std::uint8_t* p) {
  u64 v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}
inline void store_le(std::uint8_t* p, u64 v) {
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
}
inline u64 load_partial(const std::uint8_t* p, std::size_t r) {
  u64 v = 0;
  for (std::size_t i = 0; i < r; ++i) v |= u64{p[i]} << (8 * i);
  return v;
}
inline void store_partial(std::uint8_t* p, std::size_t r, u64 v) {
  for (std::size_t i = 0; i < r; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

// Chain functions: xorshift then odd multiply (bits flow down, then up).
inline u64 h_fn(u64 c) { return (c ^ (c >> 31)) * kH; }
inline u64 g_fn(u64 d) { return (d ^ (d >> 29)) * kG; }

// Bijection on words of `bits` bits (8..64, multiple of 8): odd multiply, then
// xorshift by half the width (an involution, since 2 * shift >= bits).
inline u64 phi(u64 w, u64 mask, unsigned bits) {
  w = (w * kPhi) & mask;
  return w ^ (w >> (bits / 2));
}
inline u64 phi_inv(u64 w, u64 mask, unsigned bits) {
  w ^= w >> (bits / 2);
  return (w * kPhiInv) & mask;
}

struct Scratch {
  std::vector<u64> words = std::vector<u64>(kChunkWords + 1);
  std::vector<u64> input = std::vector<u64>(kChunkWords + 1);
  std::vector<std::uint16_t> perm = std::vector<std::uint16_t>(2 * kChunkWords);
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// The four orbits of one chunk; next() gives the next four keystream words
// (word i of the chunk comes from lane i mod 4). The orbits run in locals so
// their dependency chains (three multiplies deep per step) overlap. The lanes
// share K and their Weyl counters differ by constants (lane l starts at
// p1 + (l << 32) K), so one counter plus three offsets replaces four counters,
// which helps keep the state in registers.
struct LaneSet {
  u64 x0, x1, x2, x3, w, k, d1, d2, d3;
  explicit LaneSet(const Orbit* l)
      : x0(l[0].x), x1(l[1].x), x2(l[2].x), x3(l[3].x), w(l[0].w), k(l[0].k),
        d1(l[1].w - l[0].w), d2(l[2].w - l[0].w), d3(l[3].w - l[0].w) {}
  void next(u64& k0, u64& k1, u64& k2, u64& k3) {
    w += k;
    k0 = orbit_step(x0, w);
    k1 = orbit_step(x1, w + d1);
    k2 = orbit_step(x2, w + d2);
    k3 = orbit_step(x3, w + d3);
  }
};

}  // namespace

struct Keys {
  u64 p[8];        // HKDF output, see the constructor
  u64 k;           // Weyl increment: odd, top bit set
  u64 fwd_iv[kLanes], bwd_key, tail_key;
};

struct ChaoticCipher::State : Keys {
  std::once_flag full_perm_once;
  std::vector<std::uint16_t> full_perm;  // the permutation of full (8192-word) chunks, twice

  State() = default;
  explicit State(const Keys& keys) : Keys(keys) {}
  ~State() {
    secure_wipe(static_cast<Keys*>(this), sizeof(Keys));
    secure_wipe(full_perm.data(), full_perm.size() * sizeof(std::uint16_t));
  }

  LaneSet chunk_lanes(u64 index) const {
    Orbit lanes[kLanes] = {orbit(4 * index), orbit(4 * index + 1), orbit(4 * index + 2), orbit(4 * index + 3)};
    return LaneSet(lanes);
  }

  Orbit orbit(u64 lane) const {
    Orbit o{fmix64(p[0] ^ fmix64(p[7] + lane)), p[1] + (lane << 32) * k, k};
    for (int i = 0; i < 8; ++i) o.step();  // leave the seeding transient
    return o;
  }

  // Fisher-Yates over m words; the index in [0, i] is mulhi(z, i + 1), which
  // needs no division (bias < 2^-50). out gets 2m entries, pi followed by pi
  // again, so that pi[(i + delta) mod m] is out[i + delta] with no wrap-around
  // arithmetic per word.
  void make_perm(std::size_t m, std::uint16_t* out) const {
    for (std::size_t i = 0; i < m; ++i) out[i] = static_cast<std::uint16_t>(i);
    Orbit o{fmix64(p[3] ^ m), p[1] + (kPermLane << 32) * k, k};
    for (int i = 0; i < 8; ++i) o.step();
    for (std::size_t i = m; i-- > 1;) {
      std::size_t j = static_cast<std::size_t>(mulhi(o.step(), i + 1));
      std::swap(out[i], out[j]);
    }
    std::copy(out, out + m, out + m);
  }

  const std::uint16_t* perm_for(std::size_t m, Scratch& s) {
    if (m == kChunkWords) {
      std::call_once(full_perm_once, [&] {
        full_perm.resize(2 * kChunkWords);
        make_perm(kChunkWords, full_perm.data());
      });
      return full_perm.data();
    }
    make_perm(m, s.perm.data());
    return s.perm.data();
  }

  u64 shift_for(u64 index, std::size_t m) const { return mulhi(fmix64(p[6] + index), m); }

  void tail_mix(u64* v, std::size_t total, std::size_t r, bool forward) const {
    std::size_t len = std::min<std::size_t>(kLanes, total);
    u64* t = v + (total - len);
    auto mask_of = [&](std::size_t j) {
      return (j + 1 == len && r != 0) ? (u64{1} << (8 * r)) - 1 : ~u64{0};
    };
    auto bits_of = [&](std::size_t j) { return (j + 1 == len && r != 0) ? unsigned(8 * r) : 64u; };
    auto feed = [&](std::size_t j) { return len > 1 ? h_fn(t[(j + len - 1) % len]) : 0; };
    if (forward) {
      for (int round = 0; round < 2; ++round)
        for (std::size_t j = 0; j < len; ++j)
          t[j] = phi((t[j] + feed(j) + tail_key) & mask_of(j), mask_of(j), bits_of(j));
    } else {
      for (int round = 0; round < 2; ++round)
        for (std::size_t j = len; j-- > 0;)
          t[j] = (phi_inv(t[j], mask_of(j), bits_of(j)) - feed(j) - tail_key) & mask_of(j);
    }
  }
};

ChaoticCipher::ChaoticCipher(ByteView key, ByteView nonce) : s_(std::make_unique<State>()) {
  if (key.size() != kKeyBytes)
    throw InvalidKey("chaotic key must be 32 bytes, got " + std::to_string(key.size()));
  if (nonce.size() != kNonceBytes)
    throw InvalidArgument("chaotic nonce must be 16 bytes, got " + std::to_string(nonce.size()));
  SecretBytes okm = hkdf_sha256(key, nonce, as_bytes("tagger/chaotic/v1"), 64);
  for (int i = 0; i < 8; ++i) s_->p[i] = load_le(okm.data() + 8 * i);
  // p0 x seed, p1 w seed, p2 Weyl increment, p3 permutation seed,
  // p4 forward IVs, p5 backward key, p6 per-chunk shift, p7 lane seed.
  s_->k = s_->p[2] | (u64{1} << 63) | 1;
  for (std::size_t j = 0; j < kLanes; ++j) s_->fwd_iv[j] = fmix64(s_->p[4] + j);
  s_->bwd_key = fmix64(s_->p[5]);
  s_->tail_key = fmix64(s_->p[5] ^ 0x7461696CULL);
}

ChaoticCipher::ChaoticCipher(const ChaoticCipher& o)
    : s_(std::make_unique<State>(static_cast<const Keys&>(*o.s_))) {}
ChaoticCipher::ChaoticCipher(ChaoticCipher&&) noexcept = default;
ChaoticCipher& ChaoticCipher::operator=(ChaoticCipher&&) noexcept = default;
ChaoticCipher::~ChaoticCipher() = default;

static void check_chunk(std::uint64_t index, std::size_t n) {
  if (n > kChunkBytes)
    throw InvalidArgument("chaotic chunk of " + std::to_string(n) + " bytes exceeds 65536");
  if (index >= kMaxChunks) throw InvalidArgument("chaotic chunk index " + std::to_string(index) + " out of range");
}

void ChaoticCipher::encrypt_chunk(std::uint64_t index, const std::uint8_t* in, std::size_t n,
                                  std::uint8_t* out) const {
  check_chunk(index, n);
  if (n == 0) return;
  Scratch& sc = scratch();
  u64* v = sc.words.data();
  const std::size_t m = n / 8, r = n % 8, total = m + (r != 0);
  const std::uint16_t* pi = m ? s_->perm_for(m, sc) : nullptr;
  const u64 delta = m ? s_->shift_for(index, m) : 0;

  u64 s0 = s_->fwd_iv[0], s1 = s_->fwd_iv[1], s2 = s_->fwd_iv[2], s3 = s_->fwd_iv[3];
  // The permutation reads words in random order: copy the chunk first so those
  // reads hit cache rather than wait on memory one line at a time.
  const std::uint8_t* staged = reinterpret_cast<const std::uint8_t*>(sc.input.data());
  std::memcpy(sc.input.data(), in, n);
  const std::uint16_t* pd = pi + delta;  // pd[i] = pi[(i + delta) mod m]
  auto src = [&](std::size_t i) { return load_le(staged + 8 * pd[i]); };
  // Steps 1 + 2 with the keystream made on the fly (no keystream buffer), four
  // chains at a time so their latencies overlap.
  LaneSet ks = s_->chunk_lanes(index);
  std::size_t i = 0;
  for (; i + 4 <= m; i += 4) {
    u64 k0, k1, k2, k3;
    ks.next(k0, k1, k2, k3);
    u64 c0 = (src(i) ^ k0) + s0;
    u64 c1 = (src(i + 1) ^ k1) + s1;
    u64 c2 = (src(i + 2) ^ k2) + s2;
    u64 c3 = (src(i + 3) ^ k3) + s3;
    v[i] = c0, v[i + 1] = c1, v[i + 2] = c2, v[i + 3] = c3;
    s0 = h_fn(c0), s1 = h_fn(c1), s2 = h_fn(c2), s3 = h_fn(c3);
  }
  // At most 3 full words and the partial one remain: one more keystream step.
  u64 kt[kLanes];
  if (i < total) ks.next(kt[0], kt[1], kt[2], kt[3]);
  u64* chains[kLanes] = {&s0, &s1, &s2, &s3};
  for (; i < total; ++i) {
    bool partial = i == m;
    u64 mask = partial ? (u64{1} << (8 * r)) - 1 : ~u64{0};
    u64 a = partial ? load_partial(staged + 8 * m, r) : src(i);
    u64 c = ((a ^ kt[i & 3]) + *chains[i & 3]) & mask;
    v[i] = c;
    *chains[i & 3] = h_fn(c);
  }
  // Step 3 and 4.
  s_->tail_mix(v, total, r, true);
  // Backward chains in registers (through memory they would pay store-to-load
  // forwarding on every step); words past the tail go straight to `out`,
  // which no longer aliases anything still to be read.
  const u64 bk = s_->bwd_key;
  const std::size_t len = std::min<std::size_t>(kLanes, total), body = total - len;
  for (std::size_t j = body; j < m; ++j) store_le(out + 8 * j, v[j]);
  if (r) store_partial(out + 8 * m, r, v[m]);
  std::size_t j = body;
  if (j >= 4) {
    u64 d0 = v[j], d1 = v[j + 1], d2 = v[j + 2], d3 = v[j + 3];  // the tail block
    for (; j >= 4; j -= 4) {
      d3 = v[j - 1] + (g_fn(d3) ^ bk);
      d2 = v[j - 2] + (g_fn(d2) ^ bk);
      d1 = v[j - 3] + (g_fn(d1) ^ bk);
      d0 = v[j - 4] + (g_fn(d0) ^ bk);
      store_le(out + 8 * (j - 4), d0), store_le(out + 8 * (j - 3), d1);
      store_le(out + 8 * (j - 2), d2), store_le(out + 8 * (j - 1), d3);
    }
    v[j] = d0, v[j + 1] = d1, v[j + 2] = d2, v[j + 3] = d3;
  }
  for (; j-- > 0;) {
    v[j] += g_fn(v[j + 4]) ^ bk;
    store_le(out + 8 * j, v[j]);
  }
}

void ChaoticCipher::decrypt_chunk(std::uint64_t index, const std::uint8_t* in, std::size_t n,
                                  std::uint8_t* out) const {
  check_chunk(index, n);
  if (n == 0) return;
  Scratch& sc = scratch();
  u64* v = sc.words.data();
  const std::size_t m = n / 8, r = n % 8, total = m + (r != 0);
  // Undo step 4 straight from the input: every chain reads ciphertext only,
  // d_j = c_j + (g(d_{j+4}) xor key), so there is no order and no copy first.
  const u64 bk = s_->bwd_key;
  const std::size_t body = total - std::min<std::size_t>(kLanes, total);
  for (std::size_t j = body; j < m; ++j) v[j] = load_le(in + 8 * j);
  if (r) v[m] = load_partial(in + 8 * m, r);
  const std::size_t inner = body >= kLanes ? body - kLanes : 0;  // d_{j+4} is a whole word before the tail
  for (std::size_t j = 0; j < inner; ++j) v[j] = load_le(in + 8 * j) - (g_fn(load_le(in + 8 * (j + 4))) ^ bk);
  for (std::size_t j = inner; j < body; ++j) v[j] = load_le(in + 8 * j) - (g_fn(v[j + 4]) ^ bk);
  s_->tail_mix(v, total, r, false);

  // Undo steps 2 and 1 together, the keystream made on the fly: each plaintext
  // word goes straight to its place pi[(i + delta) mod m] in a cached staging
  // buffer, then one sequential copy out (scattered stores to `out` itself
  // would miss the cache when it is fresh memory).
  const std::uint16_t* pd = nullptr;
  if (m) pd = s_->perm_for(m, sc) + s_->shift_for(index, m);
  std::uint8_t* staged = reinterpret_cast<std::uint8_t*>(sc.input.data());
  u64 s0 = s_->fwd_iv[0], s1 = s_->fwd_iv[1], s2 = s_->fwd_iv[2], s3 = s_->fwd_iv[3];
  LaneSet ks = s_->chunk_lanes(index);
  std::size_t i = 0;
  for (; i + 4 <= m; i += 4) {
    u64 k0, k1, k2, k3;
    ks.next(k0, k1, k2, k3);
    u64 c0 = v[i], c1 = v[i + 1], c2 = v[i + 2], c3 = v[i + 3];
    store_le(staged + 8 * pd[i], (c0 - s0) ^ k0);
    store_le(staged + 8 * pd[i + 1], (c1 - s1) ^ k1);
    store_le(staged + 8 * pd[i + 2], (c2 - s2) ^ k2);
    store_le(staged + 8 * pd[i + 3], (c3 - s3) ^ k3);
    s0 = h_fn(c0), s1 = h_fn(c1), s2 = h_fn(c2), s3 = h_fn(c3);
  }
  u64 kt[kLanes];
  if (i < total) ks.next(kt[0], kt[1], kt[2], kt[3]);
  u64* chains[kLanes] = {&s0, &s1, &s2, &s3};
  for (; i < total; ++i) {
    u64 c = v[i];
    if (i < m) {
      store_le(staged + 8 * pd[i], (c - *chains[i & 3]) ^ kt[i & 3]);
    } else {  // the partial word, mod 2^(8r)
      u64 mask = (u64{1} << (8 * r)) - 1;
      store_partial(out + 8 * m, r, ((c - *chains[i & 3]) ^ kt[i & 3]) & mask);
    }
    *chains[i & 3] = h_fn(c);
  }
  std::memcpy(out, staged, 8 * m);
}

static void whole(const ChaoticCipher& c, ByteView data, std::uint8_t* out, unsigned threads, bool enc) {
  std::size_t chunks = (data.size() + kChunkBytes - 1) / kChunkBytes;
  if (chunks > kMaxChunks) throw InvalidArgument("input too large for one chaotic nonce");
  util::parallel_for(chunks, threads, 4, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i) {
      std::size_t off = i * kChunkBytes, n = std::min(kChunkBytes, data.size() - off);
      if (enc) c.encrypt_chunk(i, data.data() + off, n, out + off);
      else c.decrypt_chunk(i, data.data() + off, n, out + off);
    }
  });
}

void ChaoticCipher::encrypt_into(ByteView data, std::uint8_t* out, unsigned threads) const {
  whole(*this, data, out, threads, true);
}
void ChaoticCipher::decrypt_into(ByteView data, std::uint8_t* out, unsigned threads) const {
  whole(*this, data, out, threads, false);
}
Bytes ChaoticCipher::encrypt(ByteView data, unsigned threads) const {
  Bytes out(data.size());
  encrypt_into(data, out.data(), threads);
  return out;
}
Bytes ChaoticCipher::decrypt(ByteView data, unsigned threads) const {
  Bytes out(data.size());
  decrypt_into(data, out.data(), threads);
  return out;
}

std::vector<std::uint64_t> ChaoticCipher::keystream(std::uint64_t index, std::size_t words) const {
  std::vector<std::uint64_t> out(words);
  keystream_into(index, words, out.data());
  return out;
}

void ChaoticCipher::keystream_into(std::uint64_t index, std::size_t words, std::uint64_t* out) const {
  check_chunk(index, 0);
  const std::size_t whole = words & ~std::size_t{3};
  LaneSet ls = s_->chunk_lanes(index);
  for (std::size_t i = 0; i < whole; i += 4) ls.next(out[i], out[i + 1], out[i + 2], out[i + 3]);
  if (whole < words) {  // 1-3 words past the last group of four
    u64 kt[kLanes];
    ls.next(kt[0], kt[1], kt[2], kt[3]);
    std::copy(kt, kt + (words - whole), out + whole);
  }
}

}  // namespace tagger::crypto
