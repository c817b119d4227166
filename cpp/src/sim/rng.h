// Counter-based randomness for the simulator: every draw is a pure function of
// (seed, round, stream, index), so a run does not depend on the thread count
// or on the order in which answers are generated.
#pragma once

#include <cmath>
#include <cstdint>

namespace tagger::sim::rng {

inline std::uint64_t mix(std::uint64_t z) {  // splitmix64 finalizer
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

inline std::uint64_t hash(std::uint64_t seed, std::uint64_t round, std::uint64_t stream, std::uint64_t index) {
  return mix(mix(mix(seed ^ 0x243f6a8885a308d3ULL) ^ round) ^ (stream << 56 ^ index));
}

// Uniform in [0, 1) with 53 random bits.
inline double unit(std::uint64_t h) { return static_cast<double>(h >> 11) * 0x1.0p-53; }

// Unbiased-enough integer in [0, n) (Lemire's multiply-shift; bias < n / 2^64).
inline std::uint32_t below(std::uint64_t h, std::uint32_t n) {
  return static_cast<std::uint32_t>((static_cast<unsigned __int128>(h) * n) >> 64);
}

// Sequential generator (splitmix64 stream) for the shuffles, seeded per round.
class Stream {
 public:
  explicit Stream(std::uint64_t s) : s_(s) {}
  std::uint64_t next() { return mix(s_ += 0x9e3779b97f4a7c15ULL); }
  double unit() { return rng::unit(next()); }
  std::uint32_t below(std::uint32_t n) { return rng::below(next(), n); }
  double normal() {  // Box-Muller; one value per call keeps it simple and reproducible
    double u1 = 1.0 - unit(), u2 = unit();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  // Marsaglia & Tsang (2000) for shape >= 1; boosted by U^(1/shape) below 1.
  double gamma(double shape) {
    if (shape < 1.0) return gamma(shape + 1.0) * std::pow(1.0 - unit(), 1.0 / shape);
    double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
    for (;;) {
      double x = normal(), v = 1.0 + c * x;
      if (v <= 0) continue;
      v = v * v * v;
      double u = 1.0 - unit();
      if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
    }
  }
  double beta(double a, double b) {
    double x = gamma(a), y = gamma(b);
    return x / (x + y);
  }

 private:
  std::uint64_t s_;
};

}  // namespace tagger::sim::rng
