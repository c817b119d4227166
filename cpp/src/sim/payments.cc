// Integer payout, reputation and slashing rules. Exact integer arithmetic
// (128-bit intermediates) so that sums provably stay within the budget.
#include <cmath>
#include <string>

#include "tagger/errors.h"
#include "tagger/sim.h"

namespace tagger::sim {

using u128 = unsigned __int128;

std::vector<std::uint64_t> to_amounts(std::span<const double> score, std::span<const std::int64_t> n_answers,
                                      double base, double rate, std::uint64_t budget) {
  if (score.size() != n_answers.size())
    throw InvalidArgument("score has " + std::to_string(score.size()) + " values but n_answers has " +
                          std::to_string(n_answers.size()));
  if (!std::isfinite(base) || !std::isfinite(rate)) throw InvalidArgument("base and rate must be finite");
  constexpr double kSaturate = 4611686018427387904.0;  // 2^62: sums of a few such stay in u128 easily
  std::vector<std::uint64_t> out(score.size());
  u128 sum = 0;
  for (std::size_t w = 0; w < score.size(); ++w) {
    if (!std::isfinite(score[w])) throw InvalidArgument("score of worker " + std::to_string(w) + " is not finite");
    if (n_answers[w] < 0) throw InvalidArgument("n_answers must be >= 0");
    double raw = base * static_cast<double>(n_answers[w]) + rate * score[w];
    double f = raw > 0 ? std::floor(std::min(raw, kSaturate)) : 0.0;
    out[w] = static_cast<std::uint64_t>(f);
    sum += out[w];
  }
  if (sum > budget)
    for (auto& v : out) v = static_cast<std::uint64_t>(static_cast<u128>(v) * budget / sum);
  return out;
}

std::vector<std::uint64_t> scale_floor(std::span<const std::uint64_t> numer, std::uint64_t mult, std::uint64_t denom) {
  if (denom == 0) throw InvalidArgument("scale_floor: denominator is 0");
  std::vector<std::uint64_t> out(numer.size());
  for (std::size_t i = 0; i < numer.size(); ++i) {
    u128 v = static_cast<u128>(numer[i]) * mult / denom;
    if (v > ~std::uint64_t{0}) throw InvalidArgument("scale_floor: result does not fit in 64 bits");
    out[i] = static_cast<std::uint64_t>(v);
  }
  return out;
}

void update_reputation(std::span<std::uint64_t> alpha, std::span<std::uint64_t> beta,
                       std::span<const std::uint64_t> correct, std::span<const std::uint64_t> incorrect,
                       std::uint32_t decay_bps) {
  std::size_t n = alpha.size();
  if (beta.size() != n || correct.size() != n || incorrect.size() != n)
    throw InvalidArgument("alpha, beta, correct and incorrect must have the same length");
  if (decay_bps > 10000) throw InvalidArgument("decay_bps must be in [0, 10000]");
  for (std::size_t i = 0; i < n; ++i) {
    u128 a = static_cast<u128>(alpha[i]) * decay_bps / 10000 + correct[i];
    u128 b = static_cast<u128>(beta[i]) * decay_bps / 10000 + incorrect[i];
    if (a > ~std::uint64_t{0} || b > ~std::uint64_t{0}) throw InvalidArgument("reputation counts overflow 64 bits");
    alpha[i] = static_cast<std::uint64_t>(a);
    beta[i] = static_cast<std::uint64_t>(b);
  }
}

std::uint32_t reputation_bps(std::uint64_t alpha, std::uint64_t beta) {
  return static_cast<std::uint32_t>((static_cast<u128>(alpha) + 1) * 10000 / (static_cast<u128>(alpha) + beta + 2));
}

std::uint64_t slash_amount(std::uint64_t stake, std::uint64_t correct, std::uint64_t total,
                           std::uint32_t threshold_bps, std::uint32_t share_bps, std::uint64_t min_control) {
  if (threshold_bps > 10000 || share_bps > 10000) throw InvalidArgument("threshold_bps and share_bps must be in [0, 10000]");
  if (correct > total) throw InvalidArgument("correct exceeds total");
  if (total == 0 || total < min_control) return 0;
  if (static_cast<u128>(correct) * 10000 >= static_cast<u128>(threshold_bps) * total) return 0;
  return static_cast<std::uint64_t>(static_cast<u128>(stake) * share_bps / 10000);
}

}  // namespace tagger::sim
