// The branch-free log and digamma that the Bayesian methods evaluate a table
// at a time: accurate against the scalar references, and the cloned table
// loop gives the same bits as the inline function.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "consensus/common.h"
#include "consensus/fast_math.h"

namespace {

namespace d = tagger::consensus::detail;

std::vector<double> log_spaced(double lo, double hi, int n) {
  std::vector<double> x(static_cast<std::size_t>(n));
  const double a = std::log(lo), b = std::log(hi);
  for (int i = 0; i < n; ++i) x[static_cast<std::size_t>(i)] = std::exp(a + (b - a) * i / (n - 1.0));
  return x;
}

TEST(ConsensusFastMath, LogIsWithinAFewUlp) {
  for (double x : log_spaced(1e-300, 1e300, 20011)) {
    const double ref = std::log(x), ulp = std::nextafter(std::abs(ref), INFINITY) - std::abs(ref);
    EXPECT_LE(std::abs(d::fast_log(x) - ref), 4 * ulp) << "x = " << x;
  }
  EXPECT_EQ(d::fast_log(1.0), 0.0);
}

// psi in long double: shifted to x >= 40, where the series left out is below 1e-25.
long double digamma_reference(long double x) {
  long double r = 0;
  while (x < 40) {
    r -= 1 / x;
    x += 1;
  }
  const long double f = 1 / (x * x);
  return r + std::log(x) - 0.5L / x - f * (1.0L / 12 - f * (1.0L / 120 - f * (1.0L / 252 - f * (1.0L / 240 - f / 132))));
}

TEST(ConsensusFastMath, DigammaIsAccurateAndTheTableLoopGivesTheInlineBits) {
  std::vector<double> x = log_spaced(1e-12, 1e40, 40009);
  for (double v : {0.5, 1.0, 1.4616321449683623, 2.0, 5.999999, 6.0, 6.000001, 10.0})  // around the root and the shift
    x.push_back(v);
  std::vector<double> out(x.size());
  d::digamma_cells(x.data(), out.data(), x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double ref = static_cast<double>(digamma_reference(x[i]));
    EXPECT_LE(std::abs(out[i] - ref), 1e-13 * std::max(1.0, std::abs(ref))) << "x = " << x[i];
    // The scalar one (series to z^-10 from z >= 6) is within 2e-11 of both.
    EXPECT_LE(std::abs(d::digamma(x[i]) - ref), 2e-11 * std::max(1.0, std::abs(ref))) << "x = " << x[i];
    EXPECT_EQ(out[i], d::fast_digamma(x[i])) << "x = " << x[i];  // the clone in use = the inline function
  }
  EXPECT_NEAR(d::fast_digamma(1.0), -0.57721566490153286, 1e-13);  // -Euler's constant
}

TEST(ConsensusFastMath, LogGammaIsAccurateAndTheTableLoopGivesTheInlineBits) {
  std::vector<double> x = log_spaced(1e-12, 1e40, 40009);
  for (double v : {0.5, 1.0, 1.5, 2.0, 2.5, 5.999999, 6.0, 10.0})  // ln Gamma is 0 at 1 and 2
    x.push_back(v);
  std::vector<double> out(x.size());
  d::log_gamma_cells(x.data(), out.data(), x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double ref = static_cast<double>(std::lgammal(static_cast<long double>(x[i])));
    EXPECT_LE(std::abs(out[i] - ref), 1e-13 * std::max(1.0, std::abs(ref))) << "x = " << x[i];
    EXPECT_EQ(out[i], d::fast_log_gamma(x[i])) << "x = " << x[i];
  }
}

}  // namespace
