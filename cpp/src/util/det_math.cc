// The definitions of det_math.h; the notice there covers exp and log (fdlibm).
#include "util/det_math.h"

#include <bit>
#include <cstdint>
#include <limits>

namespace tagger::util::det {

namespace {
std::uint32_t high_word(double x) { return static_cast<std::uint32_t>(std::bit_cast<std::uint64_t>(x) >> 32); }
std::uint32_t low_word(double x) { return static_cast<std::uint32_t>(std::bit_cast<std::uint64_t>(x)); }
double with_high_word(double x, std::uint32_t hi) {
  return std::bit_cast<double>((static_cast<std::uint64_t>(hi) << 32) | low_word(x));
}
// 2^k for -1022 <= k <= 1023, exactly.
double pow2(int k) { return std::bit_cast<double>(static_cast<std::uint64_t>(k + 1023) << 52); }

constexpr double kLn2Hi = 6.93147180369123816490e-01;  // the top 32 bits of ln 2: k * kLn2Hi is exact
constexpr double kLn2Lo = 1.90821492927058770002e-10;  // ln 2 - kLn2Hi
}  // namespace

// e^x, within 1 ulp. exp(NaN) = NaN, overflow gives +inf, underflow 0.
double exp(double x) {
  constexpr double kInvLn2 = 1.44269504088896338700e+00;
  constexpr double kOverflow = 7.09782712893383973096e+02;
  constexpr double kUnderflow = -7.45133219101941108420e+02;
  constexpr double P1 = 1.66666666666666019037e-01, P2 = -2.77777777770155933842e-03,
                   P3 = 6.61375632143793436117e-05, P4 = -1.65339022054652515390e-06,
                   P5 = 4.13813679705723846039e-08;
  if (x != x) return x;
  if (x > kOverflow) return std::numeric_limits<double>::infinity();
  if (x < kUnderflow) return 0.0;
  const std::uint32_t hx = high_word(x) & 0x7fffffffu;
  const bool negative = x < 0;
  double hi = 0, lo = 0;
  int k = 0;
  if (hx > 0x3fd62e42u) {  // |x| > 0.5 ln 2: x = k ln 2 + r, |r| <= 0.5 ln 2
    if (hx < 0x3ff0a2b2u) {  // |x| < 1.5 ln 2
      k = negative ? -1 : 1;
      hi = negative ? x + kLn2Hi : x - kLn2Hi;
      lo = negative ? -kLn2Lo : kLn2Lo;
    } else {
      k = static_cast<int>(kInvLn2 * x + (negative ? -0.5 : 0.5));
      const double t = k;
      hi = x - t * kLn2Hi;
      lo = t * kLn2Lo;
    }
    x = hi - lo;
  } else if (hx < 0x3e300000u) {  // |x| < 2^-28: e^x rounds to 1 + x
    return 1.0 + x;
  }
  const double t = x * x;
  const double c = x - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
  if (k == 0) return 1.0 - ((x * c) / (c - 2.0) - x);
  const double y = 1.0 - ((lo - (x * c) / (2.0 - c)) - hi);
  if (k >= -1021) return k == 1024 ? y * 2.0 * pow2(1023) : y * pow2(k);
  return y * pow2(k + 1000) * pow2(-1000);  // a subnormal result: scale in two steps
}

// ln x, within 1 ulp. log(0) = -inf, log(x < 0) = NaN, log(inf) = inf.
double log(double x) {
  constexpr double kTwo54 = 1.80143985094819840000e+16;
  constexpr double Lg1 = 6.666666666666735130e-01, Lg2 = 3.999999999940941908e-01, Lg3 = 2.857142874366239149e-01,
                   Lg4 = 2.222219843214978396e-01, Lg5 = 1.818357216161805012e-01, Lg6 = 1.531383769920937332e-01,
                   Lg7 = 1.479819860511658591e-01;
  std::int32_t hx = static_cast<std::int32_t>(high_word(x));
  const std::uint32_t lx = low_word(x);
  int k = 0;
  if (hx < 0x00100000) {  // x < 2^-1022
    if (((hx & 0x7fffffff) | static_cast<std::int32_t>(lx)) == 0) return -std::numeric_limits<double>::infinity();
    if (hx < 0) return std::numeric_limits<double>::quiet_NaN();
    k -= 54;  // subnormal: scale up
    x *= kTwo54;
    hx = static_cast<std::int32_t>(high_word(x));
  }
  if (hx >= 0x7ff00000) return x + x;  // inf or NaN
  k += (hx >> 20) - 1023;
  hx &= 0x000fffff;
  const std::int32_t i = (hx + 0x95f64) & 0x100000;
  x = with_high_word(x, static_cast<std::uint32_t>(hx | (i ^ 0x3ff00000)));  // x or x/2 in [sqrt(2)/2, sqrt(2))
  k += i >> 20;
  const double f = x - 1.0;
  const double dk = k;
  if ((0x000fffff & (2 + hx)) < 3) {  // -2^-20 <= f < 2^-20
    if (f == 0.0) return k == 0 ? 0.0 : dk * kLn2Hi + dk * kLn2Lo;
    const double r = f * f * (0.5 - 0.33333333333333333 * f);
    return k == 0 ? f - r : dk * kLn2Hi - ((r - dk * kLn2Lo) - f);
  }
  const double s = f / (2.0 + f);
  const double z = s * s;
  const double w = z * z;
  const double t1 = w * (Lg2 + w * (Lg4 + w * Lg6));
  const double t2 = z * (Lg1 + w * (Lg3 + w * (Lg5 + w * Lg7)));
  const double r = t2 + t1;
  if (((hx - 0x6147a) | (0x6b851 - hx)) > 0) {
    const double hfsq = 0.5 * f * f;
    return k == 0 ? f - (hfsq - s * (hfsq + r)) : dk * kLn2Hi - ((hfsq - (s * (hfsq + r) + dk * kLn2Lo)) - f);
  }
  return k == 0 ? f - s * (f - r) : dk * kLn2Hi - ((s * (f - r) - dk * kLn2Lo) - f);
}

// ln(1 + x), within a few ulp, for x >= -1: u = 1 + x rounded, then
// ln u * x / (u - 1) corrects the rounding of u (Goldberg, "What every computer
// scientist should know about floating-point arithmetic", 1991, Theorem 4).
double log1p(double x) {
  if (x != x) return x;
  const double u = 1.0 + x;
  if (u == 1.0) return x;
  if (u == std::numeric_limits<double>::infinity()) return u;
  return log(u) * (x / (u - 1.0));
}

// ln Gamma(x) = ln (x - 1)! for a whole number x >= 1 (the log-factorials of
// counts), NaN for any other x, inf for inf. Up to 23, the log of the factorial,
// which is exact in double. From 24 on, ln Gamma(x + 8) by Stirling's series to
// its z^-15 term (the next is below 2e-17 at z = 32), minus ln(x (x + 1) ...
// (x + 7)) taken as one product below 1e36 (x < 1e4) and as a sum of logs
// above: the two parts cancel little there, within about 3 ulp. (Not for
// fractions: the same series loses thousands of ulp between 1 and 3.)
double lgamma(double x) {
  if (x != x) return x;
  if (x == std::numeric_limits<double>::infinity()) return x;
  if (x < 1.0) return std::numeric_limits<double>::quiet_NaN();
  // A fraction is NaN (doubles from 2^52 on are all whole numbers).
  if (x < 4503599627370496.0 && x != static_cast<double>(static_cast<std::int64_t>(x))) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  if (x <= 23.0) {
    double factorial = 1.0;
    for (int j = 2; j < static_cast<int>(x); ++j) factorial *= j;
    return log(factorial);
  }
  constexpr double kHalfLn2Pi = 0.91893853320467274178;
  const double z = x + 8.0;
  const double inv = 1.0 / z, f = inv * inv;
  const double series =
      inv * (1.0 / 12 - f * (1.0 / 360 - f * (1.0 / 1260 - f * (1.0 / 1680 - f * (1.0 / 1188 - f * (691.0 / 360360 -
                                                                                          f * (1.0 / 156 - f * (3617.0 / 122400))))))));
  const double stirling = (z - 0.5) * log(z) - z + kHalfLn2Pi + series;
  double shift = 0.0;
  if (x < 1e4) {
    double prod = x;
    for (int j = 1; j < 8; ++j) prod *= x + j;
    shift = log(prod);
  } else {
    for (int j = 0; j < 8; ++j) shift += log(x + j);
  }
  return stirling - shift;
}

}  // namespace tagger::util::det
