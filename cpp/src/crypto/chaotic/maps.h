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

// The dynamic mix: all four maps are evaluated and one is kept by masks from
// bits 32-33 of the state, so which map ran leaves no branch or timing trace.
inline u64 mixed_map(u64 x) {
  u64 b0 = top_mask(x << 31), b1 = top_mask(x << 30);  // bits 32 and 33 as masks
  u64 l = logistic(x);
  u64 t = tent(x), s = sine_from_u(l), p = pwlcm(x);
  u64 y01 = t ^ ((t ^ l) & b0);   // sel 0: tent, 1: logistic
  u64 y23 = s ^ ((s ^ p) & b0);   // sel 2: sine, 3: pwlcm
  return y01 ^ ((y01 ^ y23) & b1);
}

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
struct Orbit {
  u64 x, w, k;
  u64 step() {
    w += k;
    x = mixed_map(x) ^ (w >> 40);
    u64 z = (x ^ (x >> 31)) * 0x9E3779B97F4A7C15ULL;
    return z ^ (z >> 29);
  }
};

}  // namespace tagger::crypto::chaotic
