// The chaotic map bank in 64-bit fixed point, integer arithmetic only.
//
// A state x in [0, 2^64) stands for the real x / 2^64 in [0, 1) (Q0.64). Every
// map is written without branches on x: piecewise definitions select their
// piece with masks built from sign bits, so timing does not depend on the
// (secret) state. These functions are also compiled into the tests without
// -mgeneral-regs-only; they contain no floating point anywhere.
//
// Orbits of a chaotic map computed in finite precision fall into short cycles
// or fixed points (the tent map reaches 0 in at most 64 steps, since each step
// shifts one bit out); Generator therefore perturbs every step with a keyed
// Weyl sequence, whose period 2^64 is also a lower bound on the period of the
// generator's full state (x, w).
#pragma once

#include <cstdint>

namespace tagger::crypto::chaotic {

using u64 = std::uint64_t;
using u128 = unsigned __int128;

inline u64 mulhi(u64 a, u64 b) { return static_cast<u64>((static_cast<u128>(a) * b) >> 64); }
inline u64 rotl(u64 v, unsigned r) { return (v << r) | (v >> ((64 - r) & 63)); }
// All ones when the top bit of v is set, else zero.
// (Arithmetic right shift of a negative value is defined since C++20.)
inline u64 top_mask(u64 v) { return static_cast<u64>(static_cast<std::int64_t>(v) >> 63); }

// Tent map T(x) = 2x (x < 1/2), 2(1 - x) (x >= 1/2). Folding with the top-bit
// mask maps x >= 1/2 to 1 - 2^-64 - x.
inline u64 tent(u64 x) { return (x ^ top_mask(x)) << 1; }

// Logistic map L(x) = 4x(1 - x), r = 4: floor(X (2^64 - X) / 2^64) * 4.
// (At X = 2^63 the exact value 1 wraps to 0; the perturbation moves it on.)
inline u64 logistic(u64 x) { return mulhi(x, u64{0} - x) << 2; }

// Sine-like map S(x) ~ sin(pi x), as a quadratic in u = 4x(1 - x):
// S = u - c u (1 - u) with c = 0.224839 (least-squares fit; |S - sin(pi x)| <
// 1.1e-3 on [0, 1]), so S keeps sin's derivative 1 - c ~ pi/4 at u = 0.
constexpr u64 kSineC = 0x398F0E2B2F9CE000ULL;  // c * 2^64
inline u64 sine_from_u(u64 u) { return u - mulhi(mulhi(u, u64{0} - u), kSineC); }
inline u64 sine(u64 x) { return sine_from_u(logistic(x)); }

// Piecewise-linear chaotic map (PWLCM) with p = 3/8:
//   F(x) = x / p on [0, p), (x - p) / (1/2 - p) on [p, 1/2), F(1 - x) on [1/2, 1).
// 1/p = 8/3 = (2/3) * 4 and 1/(1/2 - p) = 8, so both pieces are exact
// multiply-high / shift operations.
constexpr u64 kPwlcmP = 3ULL << 61;                     // 3/8 * 2^64
constexpr u64 kTwoThirds = 0xAAAAAAAAAAAAAAAAULL;       // floor(2/3 * 2^64)
inline u64 pwlcm(u64 x) {
  u64 xf = x ^ top_mask(x);                             // fold into [0, 1/2)
  u64 low = mulhi(xf, kTwoThirds) << 2;                 // xf / p
  u64 high = (xf - kPwlcmP) << 3;                       // (xf - p) * 8
  u64 below = top_mask(xf - kPwlcmP);                   // xf < p (both < 2^63)
  return high ^ ((low ^ high) & below);
}

// Branch-free selection, two spellings with one interface:
//   on_bit<B>(x, a, r):           r = (bit B of x) ? a : r
//   on_bit2<B>(x, a1, r1, a2, r2): the same for two pairs, one bit test
//   below(v, lim, a, r):          r = (v < lim) ? a : r   (v, lim < 2^63)
// MaskSelect is portable: r ^ ((r ^ a) & m), three ALU operations plus the mask.
// CmovSelect (x86-64, GCC/Clang) is bt/cmp + cmov, one operation per select,
// and as inline assembly no optimisation level can turn it into a branch on
// the secret state (a ternary could become one).
struct MaskSelect {
  template <unsigned B>
  static void on_bit(u64 x, u64 a, u64& r) { r ^= (r ^ a) & top_mask(x << (63 - B)); }
  template <unsigned B>
  static void on_bit2(u64 x, u64 a1, u64& r1, u64 a2, u64& r2) {
    u64 m = top_mask(x << (63 - B));
    r1 ^= (r1 ^ a1) & m;
    r2 ^= (r2 ^ a2) & m;
  }
  // v - lim borrows iff v < lim; with both below 2^63 the sign bit says so.
  static void below(u64 v, u64 lim, u64 a, u64& r) { r ^= (r ^ a) & top_mask(v - lim); }
};
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
struct CmovSelect {
  template <unsigned B>
  static void on_bit(u64 x, u64 a, u64& r) {
    asm("bt %[b], %[x]\n\tcmovc %[a], %[r]" : [r] "+r"(r) : [x] "r"(x), [b] "i"(B), [a] "r"(a) : "cc");
  }
  template <unsigned B>
  static void on_bit2(u64 x, u64 a1, u64& r1, u64 a2, u64& r2) {
    asm("bt %[b], %[x]\n\tcmovc %[a1], %[r1]\n\tcmovc %[a2], %[r2]"
        : [r1] "+r"(r1), [r2] "+r"(r2) : [x] "r"(x), [b] "i"(B), [a1] "r"(a1), [a2] "r"(a2) : "cc");
  }
  static void below(u64 v, u64 lim, u64 a, u64& r) {
    asm("cmp %[lim], %[v]\n\tcmovb %[a], %[r]" : [r] "+r"(r) : [v] "r"(v), [lim] "r"(lim), [a] "r"(a) : "cc");
  }
};
using Select = CmovSelect;
#else
using Select = MaskSelect;
#endif

// The dynamic mix: all four maps are evaluated and one is kept by bits 32-33 of
// the state (0 tent, 1 logistic, 2 sine, 3 PWLCM) through branch-free selects,
// so which map ran leaves no branch or timing trace. Written out rather than
// as calls to the four functions above so the shared pieces are computed once:
// the fold xf serves tent and PWLCM, u = logistic(x) serves sine, and PWLCM's
// upper piece (xf - p) << 3 is xf << 3, since p << 3 = 3 * 2^64 = 0 mod 2^64.
// Equal to the four functions with either Sel (ChaoticMaps.MixedMapIsTheSelectedMap).
template <class Sel>
inline u64 mixed_map_with(u64 x) {
  u64 xf = x ^ top_mask(x);
  u64 t = xf << 1;                                     // tent
  u64 l = logistic(x);
  u64 s = sine_from_u(l);
  u64 p = xf << 3;                                     // PWLCM on [p, 1/2) (folded)
  Sel::below(xf, kPwlcmP, mulhi(xf, kTwoThirds) << 2, p);  // PWLCM on [0, p)
  Sel::template on_bit2<32>(x, l, t, p, s);            // bit 32: logistic over tent, PWLCM over sine
  Sel::template on_bit<33>(x, s, t);                   // bit 33: the (sine, PWLCM) pair
  return t;
}
inline u64 mixed_map(u64 x) { return mixed_map_with<Select>(x); }

// Bijective 64-bit finaliser (MurmurHash3 fmix64), used to spread seeds.
inline u64 fmix64(u64 k) {
  k ^= k >> 33;
  k *= 0xFF51AFD7ED558CCDULL;
  k ^= k >> 33;
  k *= 0xC4CEB9FE1A85EC53ULL;
  k ^= k >> 33;
  return k;
}

// One orbit: x_{n+1} = M(x_n) xor (w_{n+1} >> 40), w_{n+1} = w_n + K (K odd,
// top bit set, so the 24-bit perturbation changes by >= 2^23 each step).
// The output word is the state through a bijective xorshift-multiply, the
// integer analogue of the usual "floor(x * 10^k) mod 256" digit extraction.
// orbit_step takes the already advanced counter w_{n+1}, so that several
// orbits can share one counter (LaneSet in chaotic.cc).
inline u64 orbit_step(u64& x, u64 w) {
  x = mixed_map(x) ^ (w >> 40);
  u64 z = (x ^ (x >> 31)) * 0x9E3779B97F4A7C15ULL;
  return z ^ (z >> 29);
}
struct Orbit {
  u64 x, w, k;
  u64 step() {
    w += k;
    return orbit_step(x, w);
  }
};

}  // namespace tagger::crypto::chaotic
