// Task settlement: the deterministic function the ledger re-executes at
// finalize (tagger::ledger::settle). Given a task's published terms and the
// answers recorded on the ledger, it computes the consensus, every worker's
// payout, reputation counts and slash. The requester's client calls the same
// function to build its finalize transaction; the ledger calls it again on
// apply (and verify() on replay) and refuses a finalize whose lists differ.
//
// Determinism contract (the ledger's state root depends on it): the output is
// a pure function of the input bytes. Consensus runs on one thread with the
// library's fixed-order reductions; every float that reaches money is first
// floored to an integer (parts per million of a posterior, basis points), and
// all token arithmetic is integer. The code is compiled with
// -ffp-contract=off, and the AVX2 and baseline paths of the consensus
// kernels are bit-identical (tests compare them).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "tagger/ledger.h"

namespace tagger::ledger {

// Consensus methods the ledger can re-execute, by their tg.consensus names:
// "majority_vote", "weighted_majority_vote", "dawid_skene",
// "one_coin_dawid_skene", "glad", "mace", "wawa", "zero_based_skill".
const std::vector<std::string>& settle_methods();
// Reward policies the ledger can re-execute: "flat", "consensus_accuracy",
// "gold_standard", and the mechanisms of tagger::sim ("output_agreement",
// "peer_prediction", "peer_truth_serum", "correlated_agreement", "dmi").
// "discretionary" means the owner's own client decides; the ledger then checks
// only the budget and payee rules.
const std::vector<std::string>& settle_policies();

// A task's published rules, recorded on the ledger when the task is published
// (kind `publish`, docs/ledger.md) so workers see them before they stake.
struct TaskTerms {
  std::uint64_t n_items = 0;
  std::uint64_t n_labels = 0;       // 0 for a collection task (uploads, no labels)
  std::uint64_t overlap = 1;        // answers wanted per item; the ledger refuses more
  std::uint64_t rate = 0;           // base units per answer (or accepted upload), the published price
  std::string method;               // a settle_methods() name; "" for collection tasks
  std::uint64_t n_iter = 0;         // 0: the method's default
  std::uint64_t tol_e9 = 0;         // convergence tolerance in 1e-9 units; 0: the method's default
  std::uint64_t seed = 0;           // MACE restarts
  std::string policy;               // a settle_policies() name
  std::uint64_t policy_threshold_bps = 0;  // gold_standard: accuracy below this earns nothing
  std::uint64_t policy_no_control_bps = 0; // gold_standard: accuracy credited without control answers
  std::uint64_t policy_base = 0;           // mechanisms: base units per answer on top of rate * score
  bool slashing = false;            // slash workers whose control accuracy is too low
  std::uint64_t slash_threshold_bps = 6000;
  std::uint64_t slash_share_bps = 5000;
  std::uint64_t slash_min_control = 3;
  Hash32 gold_commitment{};         // SHA-256 of the gold reveal (gold_commitment()); zero: no control items
  std::uint64_t deadline_height = 0;       // 0: no deadline
  std::uint64_t expiry_slash_bps = 0;      // share of its stake a worker loses per expired slot batch (reassign)
  // Anti-fraud screen (tagger/fraud.h) at this family-wise level, in parts per
  // million; 0: none. A worker flagged as a spammer, a colluder or failing
  // the control items earns nothing and its answers count as incorrect for
  // reputation. Encoded as a 20th field only when set, so terms published
  // before it keep their bytes.
  std::uint64_t fraud_alpha_ppm = 0;
  // Fields 21-23 follow the same rule: encoded only up to the last one that
  // is set, so terms that use none of them keep their 19- or 20-field bytes.
  //
  // Assignment floor: a worker whose reputation mean (alpha + 1) / (alpha +
  // beta + 2), in basis points, is below this is refused slots and answers.
  std::uint64_t min_reputation_bps = 0;
  // The AI copilot: an account of the owner's that answers every item it
  // wants with a confidence, outside the assignment and the overlap. Its
  // answers enter the consensus as one more annotator whose reliability the
  // method estimates; it is never paid, slashed, screened or given reputation.
  // All zero: no copilot.
  Address copilot{};
  // Adaptive overlap (needs a copilot): an item is complete with fewer than
  // `overlap` human answers when the copilot answered it with a confidence of
  // at least this many parts per million and every human answer agrees with
  // the copilot's label. 0: every item wants `overlap` human answers.
  std::uint64_t adaptive_ppm = 0;
  bool has_copilot() const { return copilot != Address{}; }
};

// An answer's response time as the worker signed it, in milliseconds;
// kNoDuration when the worker did not give one.
inline constexpr std::uint32_t kNoDuration = 0xffffffffu;
inline constexpr std::uint32_t kMaxDurationMs = 86'400'000;  // one day

// Adaptive overlap's rule (terms.adaptive_ppm), as settle() applies it: per
// item, 1 when the copilot suggested a label with confidence >= adaptive_ppm
// (suggestion[i] >= 0) and every human answer of the item (at least one)
// equals it. human_item and human_label list the human answers.
std::vector<std::uint8_t> settled_early(std::uint64_t adaptive_ppm, std::span<const std::int32_t> suggestion,
                                        std::span<const std::uint32_t> confidence_ppm,
                                        std::span<const std::int32_t> human_item, std::span<const std::int32_t> human_label);

// One answer recorded on the ledger: item index, worker (index into the
// sorted worker list of SettleInput), label index in the task's label list.
struct SettleAnswer {
  std::uint32_t item = 0;
  std::uint32_t worker = 0;
  std::uint32_t label = 0;
  std::uint32_t duration_ms = kNoDuration;  // signed response time
  std::uint32_t confidence_ppm = 0;         // the copilot's confidence; 0 for human answers
};

// Gold commitment: SHA-256("tagger/gold/v1" || 0x00 || salt(32) || canonical
// msgpack of [[item u64, label u64], ...] sorted by item). Workers cannot read
// the control answers before finalize, which reveals salt and list.
Hash32 gold_commitment(const Hash32& salt, const std::vector<std::pair<std::uint64_t, std::uint64_t>>& gold);

struct SettleInput {
  const TaskTerms* terms = nullptr;
  std::vector<Address> workers;             // every worker that answered, sorted by address, unique
  std::vector<SettleAnswer> answers;        // in ledger order
  std::vector<std::pair<std::uint64_t, std::uint64_t>> gold;  // revealed (item, label), sorted by item
  std::vector<std::uint64_t> stakes;        // [workers] stake bound to the task now (0 if none)
  std::uint64_t escrow = 0;                 // escrow left (before slashes)
  std::vector<std::uint64_t> extra;         // empty, or [n_items] answers wanted beyond overlap (kind `extend`)
  bool partial = false;                     // settle the answered items only
};

struct SettleOutput {
  std::vector<std::int32_t> labels;         // [n_items] consensus label index, -1 = no answer
  std::vector<std::uint32_t> posterior_ppm; // [n_items * n_labels] floor(1e6 * P(label)); rows of unanswered items are 0
  std::vector<std::pair<Address, std::uint64_t>> payouts;                      // > 0 only, sorted by address
  std::vector<std::tuple<Address, std::uint64_t, std::uint64_t>> reputation;  // (worker, correct, incorrect), sorted
  std::vector<std::pair<Address, std::uint64_t>> slashes;                      // > 0 only, sorted
  std::uint64_t n_answered_items = 0;
  std::vector<Address> flagged;             // workers the fraud screen flagged (terms.fraud_alpha_ppm), sorted
  Hash32 result_hash{};  // SHA-256("tagger/result/v1" || 0x00 || msgpack [method, labels, posterior_ppm, payouts, reputation, slashes])
};

// Collection tasks (terms.n_labels == 0): each answer is one accepted upload
// (label 0); labels[i] is 0 for an uploaded item and -1 otherwise, the policy
// is "flat" (rate per upload) or "discretionary", and every upload counts as
// one correct answer for reputation.
//
// Policies pay at most the published rate per answer: flat n_w * rate;
// consensus_accuracy floor(rate * sum_a ppm_a / 1e6); gold_standard
// floor(rate * n_w * acc_bps_w / 1e4) (0 below the threshold); mechanisms
// sim::to_amounts(score, n, base, rate, budget = rate * n_answers). The total
// is then capped at the escrow (never reached under the ledger's overlap cap).
// Reputation: an answer on a revealed control item is judged against gold,
// any other against the consensus label. Slashing (terms.slashing):
// sim::slash_amount on the stake with the control counts. Fraud screen
// (terms.fraud_alpha_ppm): consensus::screen_fraud with the consensus labels
// and the revealed gold, default thresholds and alpha = fraud_alpha_ppm / 1e6;
// a flagged worker (spammer, colluder, control_fail, and fast when its
// answers carry signed durations) is paid 0 and every one of its answers
// counts as incorrect.
//
// Copilot (terms.copilot): its answers count in the result's consensus only.
// It gets no payout, reputation, slash or fraud flag, its answers take no
// overlap slot, and workers are judged (reputation, consensus_accuracy, the
// screen) against a second consensus of the human answers alone, and scored
// by the mechanisms against human peers: the copilot is the owner's account,
// so it shapes the labels but never decides a worker's pay. With
// terms.adaptive_ppm an item whose human answers all agree with a confident
// copilot is complete with fewer than `overlap` of them (at least one).
//
// InvalidArgument / RuleViolation on a malformed input (answer out of range,
// unknown method or policy, gold outside the label set); IncompleteTask when
// !partial and an item has fewer than `overlap` (+ its `extra`) answers.
SettleOutput settle(const SettleInput& in);

}  // namespace tagger::ledger
