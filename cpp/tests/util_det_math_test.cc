// util::det: the ledger's elementary functions are accurate (against long
// double) and their bits are pinned, so a build, compiler or CPU that computed
// them differently fails here instead of forking the ledger.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#include "util/det_math.h"

namespace tagger::util::det {
namespace {

// |y - exact| in units of the last place of the exact value rounded to double.
double ulps(double y, long double exact) {
  const double r = static_cast<double>(exact);
  const double a = std::fabs(r);
  const double ulp = a == 0 ? std::numeric_limits<double>::denorm_min()
                            : std::nextafter(a, std::numeric_limits<double>::infinity()) - a;
  return static_cast<double>(std::fabs(static_cast<long double>(y) - exact) / ulp);
}

double random_positive(std::mt19937_64& rng) {  // every binade, subnormals included
  for (;;) {
    const double x = std::bit_cast<double>(rng() & 0x7fefffffffffffffULL);
    if (x > 0) return x;
  }
}

TEST(DetMath, ExpIsWithinOneUlp) {
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> wide(-745.0, 709.7), narrow(-2.0, 2.0), tiny(-1e-7, 1e-7);
  double worst = 0;
  for (int i = 0; i < 200000; ++i) {
    for (double x : {wide(rng), narrow(rng), tiny(rng)}) {
      const double y = exp(x);
      const long double ref = std::exp(static_cast<long double>(x));
      if (std::fabs(y) < std::numeric_limits<double>::min()) continue;  // subnormal results: checked below
      worst = std::max(worst, ulps(y, ref));
    }
  }
  EXPECT_LE(worst, 1.0);
}

TEST(DetMath, ExpEdges) {
  EXPECT_EQ(exp(0.0), 1.0);
  EXPECT_EQ(exp(-0.0), 1.0);
  EXPECT_TRUE(std::isnan(exp(std::numeric_limits<double>::quiet_NaN())));
  EXPECT_EQ(exp(std::numeric_limits<double>::infinity()), std::numeric_limits<double>::infinity());
  EXPECT_EQ(exp(-std::numeric_limits<double>::infinity()), 0.0);
  EXPECT_EQ(exp(710.0), std::numeric_limits<double>::infinity());
  EXPECT_EQ(exp(-746.0), 0.0);
  EXPECT_TRUE(std::isfinite(exp(709.78)));  // k = 1024 in the reduction
  EXPECT_NEAR(exp(709.78) / 1.7928227943945155e308, 1.0, 1e-15);
  EXPECT_GT(exp(-740.0), 0.0);  // subnormal
  EXPECT_NEAR(exp(-740.0) / 4.1995579896506e-322, 1.0, 0.02);
  EXPECT_LE(ulps(exp(1.0), 2.718281828459045235360287471352662L), 1.0);
}

TEST(DetMath, LogIsWithinOneUlp) {
  std::mt19937_64 rng(2);
  std::uniform_real_distribution<double> near_one(0.5, 2.0);
  double worst = 0;
  for (int i = 0; i < 200000; ++i) {
    for (double x : {random_positive(rng), near_one(rng), 1.0 + near_one(rng) * 1e-7}) {
      const long double ref = std::log(static_cast<long double>(x));
      worst = std::max(worst, ulps(log(x), ref));
    }
  }
  EXPECT_LE(worst, 1.0);
}

TEST(DetMath, LogEdges) {
  EXPECT_EQ(log(1.0), 0.0);
  EXPECT_EQ(log(0.0), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(log(-0.0), -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(log(-1.0)));
  EXPECT_TRUE(std::isnan(log(std::numeric_limits<double>::quiet_NaN())));
  EXPECT_EQ(log(std::numeric_limits<double>::infinity()), std::numeric_limits<double>::infinity());
  EXPECT_NEAR(log(std::numeric_limits<double>::denorm_min()), -744.4400719213812, 1e-12);
  EXPECT_LE(ulps(log(2.0), 0.693147180559945309417232121458176568L), 1.0);
}

TEST(DetMath, Log1pIsWithinThreeUlps) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> unit(-0.999999, 1.0), big(1.0, 1e6);
  double worst = 0;
  for (int i = 0; i < 200000; ++i) {
    const double small = std::ldexp(unit(rng), -static_cast<int>(rng() % 60));
    for (double x : {unit(rng), big(rng), small}) {
      const long double ref = std::log1p(static_cast<long double>(x));
      worst = std::max(worst, ulps(log1p(x), ref));
    }
  }
  EXPECT_LE(worst, 3.0);
  EXPECT_EQ(log1p(0.0), 0.0);
  EXPECT_EQ(log1p(1e-300), 1e-300);
  EXPECT_EQ(log1p(-1.0), -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(log1p(-2.0)));
}

TEST(DetMath, LgammaOfCounts) {
  double worst = 0;
  for (double x = 1; x < 3000; x += 1) worst = std::max(worst, ulps(lgamma(x), std::lgamma(static_cast<long double>(x))));
  std::mt19937_64 rng(4);
  std::uniform_real_distribution<double> u(1.0, 1e7);
  for (int i = 0; i < 100000; ++i) {
    const double x = std::floor(u(rng));
    worst = std::max(worst, ulps(lgamma(x), std::lgamma(static_cast<long double>(x))));
  }
  EXPECT_LE(worst, 4.0);
  EXPECT_EQ(lgamma(1.0), 0.0);
  EXPECT_EQ(lgamma(2.0), 0.0);
  EXPECT_TRUE(std::isnan(lgamma(0.5)));
  EXPECT_TRUE(std::isnan(lgamma(2.5)));  // fractions are refused: the series is for counts
  EXPECT_TRUE(std::isnan(lgamma(1e6 + 0.5)));
  EXPECT_EQ(lgamma(std::numeric_limits<double>::infinity()), std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isfinite(lgamma(1e300)));
}

// The bits themselves: a fixed sweep hashed. Every build .ci/run makes
// (Release, the ASan and TSan builds) must agree, and so must any machine.
TEST(DetMath, BitsArePinned) {
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a over the result bits
  auto mix = [&](double y) {
    std::uint64_t b = std::bit_cast<std::uint64_t>(y);
    for (int i = 0; i < 8; ++i) {
      h ^= (b >> (8 * i)) & 0xff;
      h *= 1099511628211ULL;
    }
  };
  // Inputs from the generator's bits alone (no library distribution or libm
  // call, whose bits could differ where these must not).
  std::mt19937_64 rng(5);
  auto unit = [&] { return std::bit_cast<double>((rng() >> 12) | 0x3ff0000000000000ULL) - 1.0; };  // [0, 1)
  for (int i = 0; i < 100000; ++i) {
    mix(exp(-745.0 + 1454.7 * unit()));
    const double x = std::bit_cast<double>((rng() >> 12) | (static_cast<std::uint64_t>(998 + rng() % 50) << 52));
    mix(log(x));                            // x in [2^-25, 2^25)
    mix(log1p(x - 0.5));
    mix(lgamma(static_cast<double>(rng() % 100000) + 1.0));
  }
  EXPECT_EQ(h, 0xfe8738fc58b8641bULL) << "bits changed: 0x" << std::hex << h;
}

}  // namespace
}  // namespace tagger::util::det
