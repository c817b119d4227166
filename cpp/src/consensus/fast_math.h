// Branch-free elementary functions for loops the compiler vectorizes (the
// cell loops in fast_math.cc are also cloned for AVX2 and AVX-512). The
// operations are elementwise with no fused multiply-add (-ffp-contract=off),
// so every clone, and every thread count, gives the same bits.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

namespace tagger::consensus::detail {

// ln x for a positive normal x, within a few ulp: x = m 2^e with m in
// [sqrt(1/2), sqrt(2)), ln m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172,
// by its series to s^21 (the next term is below 1e-17).
inline double fast_log(double x) {
  constexpr double kLn2 = 0.69314718055994530942;
  const std::uint64_t bits = std::bit_cast<std::uint64_t>(x);
  // Integer arithmetic only (no branch, no int->double instruction), so a loop
  // of these vectorizes: u >> 52 is the exponent plus 1024 after shifting x's
  // bits so that mantissas from sqrt(1/2) up land in one binade.
  const std::uint64_t u = bits + ((std::uint64_t{1} << 62) - 0x3FE6A09E667F3BCDULL);  // bits of sqrt(1/2)
  const std::uint64_t biased = u >> 52;
  const double m = std::bit_cast<double>(bits - (biased << 52) + (std::uint64_t{1024} << 52));  // [sqrt(1/2), sqrt(2))
  const double e = std::bit_cast<double>(biased | 0x4330000000000000ULL) - (4503599627370496.0 + 1024.0);
  const double s = (m - 1.0) / (m + 1.0), s2 = s * s;
  double poly = 1.0 / 21;
  poly = poly * s2 + 1.0 / 19;
  poly = poly * s2 + 1.0 / 17;
  poly = poly * s2 + 1.0 / 15;
  poly = poly * s2 + 1.0 / 13;
  poly = poly * s2 + 1.0 / 11;
  poly = poly * s2 + 1.0 / 9;
  poly = poly * s2 + 1.0 / 7;
  poly = poly * s2 + 1.0 / 5;
  poly = poly * s2 + 1.0 / 3;
  poly = poly * s2 + 1.0;
  return 2.0 * s * poly + e * kLn2;
}

// psi(x) for 0 < x <= 1e40: psi(x) = psi(x + 6) - sum_{i<6} 1/(x + i) for
// every x (no branch on x; the six reciprocals summed as one fraction, so two
// divisions in all), then the asymptotic series at z = x + 6 >= 6 to its
// z^-14 term (the first left out is below 2e-13 at z = 6) with fast_log.
// Within 1e-13 of psi absolutely or relatively, whichever is larger (tested).
inline double fast_digamma(double x) {
  double num = 1.0, den = x;  // sum_{j<i} 1/(x + j) = num / den
  for (int i = 1; i < 6; ++i) {
    const double y = x + i;
    num = num * y + den;
    den *= y;
  }
  const double z = x + 6.0, inv = 1.0 / z, f = inv * inv;
  const double series =
      f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132 - f * (691.0 / 32760 - f / 12))))));
  return fast_log(z) - 0.5 * inv - series - num / den;
}

// ln Gamma(x) for 0 < x <= 1e40: ln Gamma(x + 6) - ln(x (x + 1) ... (x + 5)),
// the first by Stirling's series at z = x + 6 >= 6 to its z^-13 term (the
// first left out is below 1e-12 / z^2 ... 3e-14 at z = 6). Within 1e-13 of
// ln Gamma absolutely or relatively, whichever is larger (tested).
inline double fast_log_gamma(double x) {
  double den = x;
  for (int i = 1; i < 6; ++i) den *= x + i;
  const double z = x + 6.0, inv = 1.0 / z, f = inv * inv;
  const double series =
      inv * (1.0 / 12 - f * (1.0 / 360 - f * (1.0 / 1260 - f * (1.0 / 1680 - f * (1.0 / 1188 - f * (691.0 / 360360 - f / 156))))));
  return (z - 0.5) * fast_log(z) - z + 0.91893853320467274178 + series - fast_log(den);  // 0.9189... = ln sqrt(2 pi)
}

// out[i] = fast_digamma(x[i]) / fast_log_gamma(x[i]) over a table (vector
// lanes where the CPU has them).
void digamma_cells(const double* __restrict x, double* __restrict out, std::size_t n);
// ln of a table of probabilities, cells that are not positive (NaN: a row a
// worker never gave) -> 0.
void log_cells(const double* __restrict e, double* __restrict ln, std::size_t n);
void log_gamma_cells(const double* __restrict x, double* __restrict out, std::size_t n);

}  // namespace tagger::consensus::detail
