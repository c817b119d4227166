// Anti-fraud rules: per-worker flags with their evidence, from a task's
// answers, its consensus, optional response times, control items and the
// accounts' funding history.
//
// Every rule is a one-sided test of an honest worker's null hypothesis, with
// Holm's correction over the workers (or pairs) it tests, so that a flag
// means "an honest worker would show this with probability below alpha,
// family-wise". All arithmetic runs on one thread in input order: the same
// input gives the same flags bit for bit (the ledger may re-execute it).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "tagger/consensus.h"

namespace tagger::consensus {

struct FraudOptions {
  double alpha = 0.01;  // family-wise error level of each rule

  // Response time: an answer is fast when it took less than fast_ratio times
  // the median duration of its item (items with fewer than
  // min_item_durations timed answers have no median). A worker is flagged
  // when at least fast_min_share of its timed answers are fast and that
  // count is improbable under the population's typical fast rate.
  double fast_ratio = 0.25;
  std::int32_t min_item_durations = 3;
  double fast_min_share = 0.3;

  // Control items: an honest worker is at least this accurate on them. 0:
  // relative to chance, 1/K + spam_margin * (1 - 1/K) for K labels, so a weak
  // but honest worker is not taken for a bot.
  double control_min_accuracy = 0;

  // Spam: an honest worker agrees with consensus at least
  // chance + spam_margin * (1 - chance), where chance is the agreement its
  // own label frequencies would reach at random.
  double spam_margin = 0.25;
  double constant_share = 0.9;  // a spammer whose top label has this share is a constant bot

  // Collusion: pairs sharing fewer items are not tested.
  std::int32_t min_shared = 5;

  // Rates are not tested for workers with fewer answers than this.
  std::int32_t min_answers = 8;

  // Sybil pressure: at least sybil_min_accounts answering accounts funded by
  // one account within sybil_window blocks.
  std::int32_t sybil_min_accounts = 4;
  std::int64_t sybil_window = 100;
};

struct FraudInput {
  AnswersView answers;
  std::span<const std::int32_t> consensus;    // [n_tasks] consensus label of each item
  std::span<const double> duration;           // [n] seconds per answer (NaN: unknown), or empty
  std::span<const std::int32_t> gold;         // [n_tasks] control label, -1 for none; or empty
  std::span<const std::int32_t> funder;       // [n_workers] index of the funding account, -1 unknown; or empty
  std::span<const std::int64_t> funded_at;    // [n_workers] block height of that funding
};

// A tested pair of workers whose same wrong answers (the same label, not the
// consensus) are improbable if each answers independently given the consensus.
struct CollusionPair {
  std::int32_t worker_a = 0, worker_b = 0;
  std::int32_t n_shared = 0;      // items both answered
  std::int32_t n_same = 0;        // items both answered with the same label
  std::int32_t n_same_wrong = 0;  // of which the label is not the consensus
  double expected = 0;            // expectation of n_same_wrong if the two answer independently
  double p_value = 1, p_adjusted = 1;
};

struct FraudReport {
  // Per worker [n_workers].
  std::vector<std::int32_t> n_answers;
  std::vector<std::int32_t> n_timed, n_fast;
  std::vector<double> fast_p;                       // Holm-adjusted; NaN if not tested
  std::vector<std::int32_t> n_control, n_control_correct;
  std::vector<double> control_p;
  std::vector<double> agreement, chance, spam_p;    // agreement with consensus; its chance level
  std::vector<double> top_label_share;
  std::vector<double> collusion_p;                  // smallest adjusted p over the worker's pairs
  std::vector<std::int32_t> collusion_group;        // -1: none; else the group's smallest worker index
  std::vector<std::int32_t> sybil_funder;           // -1: none
  std::vector<std::uint8_t> fast, control_fail, spammer, constant, colluder, sybil;
  double fast_base_rate = 0;                        // the typical fast rate the test used
  std::int64_t n_pairs_tested = 0;
  std::vector<CollusionPair> pairs;                 // flagged pairs, by adjusted p then index
};

FraudReport screen_fraud(const FraudInput& in, const FraudOptions& opt = {});

// Tails of the binomial and Poisson-binomial laws, exposed for tests.
double binomial_upper(std::int64_t k, std::int64_t n, double p);  // P(X >= k)
double binomial_lower(std::int64_t k, std::int64_t n, double p);  // P(X <= k)
double poisson_binomial_upper(std::int64_t k, std::span<const double> p);  // P(S >= k)
// Holm's step-down adjustment; ties keep input order.
std::vector<double> holm(std::span<const double> p);

}  // namespace tagger::consensus
