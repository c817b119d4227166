// Reward-scheme research kit (tagger::sim): payment mechanisms over crowd
// answers, integer payout rules, and a seeded simulator of worker populations.
//
// Answers use consensus::AnswersView (three parallel int32 arrays task, worker,
// label), so the same arrays feed truth inference and payments without copies.
//
// Contracts:
//  * Every function validates its inputs first and throws InvalidArgument with
//    the exact reason; nothing is computed on a bad input.
//  * Scores are deterministic: the reductions run in a fixed order, so results
//    do not depend on the thread count.
//  * Token amounts are unsigned integers; every allocation function returns
//    amounts whose sum never exceeds the budget it was given.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tagger/consensus.h"

namespace tagger::sim {

using consensus::AnswersView;

// ---- Mechanisms -----------------------------------------------------------
// Formulas and sources: docs/rewards.md. "Peers" of an answer are the other
// workers' answers on the same task.

enum class Mechanism : std::int32_t {
  kOutputAgreement = 0,      // mean over peers of 1[l_w == l_p]
  kPeerPrediction = 1,       // Miller, Resnick & Zeckhauser (2005): proper score of the peer's report
  kPeerTruthSerum = 2,       // Radanovic, Faltings & Jurca (2016): 1[l_w == l_p] / R_{-w}(l_w) - 1
  kCorrelatedAgreement = 3,  // Shnayder, Agarwal, Frongillo & Parkes (2016): bonus - expected penalty
  kDmi = 4,                  // Kong (2020): det(M1) det(M2) over each pair's shared tasks
  kBts = 5,                  // Prelec (2004): information score + alpha * prediction score
  kGoldStandard = 6,         // accuracy on control tasks, paid on every answer
  kConsensusAccuracy = 7,    // posterior probability of the given label
};
inline constexpr int kNumMechanisms = 8;

// Canonical snake_case names ("output_agreement", ...), indexed by Mechanism.
const std::vector<std::string>& mechanism_names();
Mechanism mechanism_from_name(std::string_view name);  // InvalidArgument lists the names

enum class ScoringRule : std::int32_t { kQuadratic = 0, kLog = 1 };

// Side inputs; each mechanism reads only the fields it documents.
struct MechanismInputs {
  std::span<const std::int32_t> gold;        // GoldStandard: [n_tasks], -1 = not a control task
  std::span<const double> posterior;         // ConsensusAccuracy: [n_tasks * n_labels], rows sum to 1
  std::span<const double> predictions;       // BTS: [n * n_labels], each row a distribution over labels
  std::span<const double> signal_model;      // PeerPrediction: [L*L] P(peer = j | own = i); empty = estimated
  std::span<const double> score_matrix;      // CorrelatedAgreement: [L*L] S(x, y); empty = sign(Delta) estimated
  ScoringRule scoring_rule = ScoringRule::kQuadratic;  // PeerPrediction
  double bts_alpha = 1.0;                    // BTS weight of the prediction score
  double eps = 1e-3;                         // floor for probabilities under a log (PP log rule, BTS)
};

// Per-worker result of a mechanism. score[w] sums the worker's per-answer (or,
// for DMI, per-pair) scores; n_scored[w] counts the answers that received a
// score (an answer with no peer, a worker with no control task, ... gets none).
struct Scores {
  std::vector<double> score;            // [n_workers]
  std::vector<std::int64_t> n_scored;   // [n_workers]
  std::vector<std::int64_t> n_answers;  // [n_workers]
};

// One pass over the answers (after an O(n) counting sort by task). DMI also
// sorts the worker pairs of each task.
Scores score(Mechanism m, const AnswersView& a, const MechanismInputs& in = {});

// The statistics the detail-free mechanisms estimate from the reports, exposed
// so tests and notebooks can inspect them.
// Symmetrised joint distribution of ordered peer pairs on the same task, [L*L].
std::vector<double> peer_joint(const AnswersView& a);
// Correlated Agreement's S = 1[Delta > 0], Delta = P(x, y) - P(x) P(y), [L*L].
std::vector<double> ca_score_matrix(const AnswersView& a);

// ---- Integer payouts --------------------------------------------------------

// amount_w = floor(max(0, base * n_answers[w] + rate * score[w])) as an integer
// (values above 2^62 saturate), then, if the amounts sum to more than
// `budget`, each is scaled to floor(amount_w * budget / sum) in exact 128-bit
// arithmetic. The sum never exceeds `budget`; the remainder stays unspent.
std::vector<std::uint64_t> to_amounts(std::span<const double> score, std::span<const std::int64_t> n_answers,
                                      double base, double rate, std::uint64_t budget);

// out_w = floor(numer[w] * mult / denom), exact in 128-bit arithmetic. Throws
// AmountOverflow-free InvalidArgument if denom == 0 or a result exceeds 2^64-1.
std::vector<std::uint64_t> scale_floor(std::span<const std::uint64_t> numer, std::uint64_t mult, std::uint64_t denom);

// Reputation as integer Beta-posterior counts: alpha' = alpha * decay_bps /
// 10000 + correct (floor), beta' likewise with incorrect.
void update_reputation(std::span<std::uint64_t> alpha, std::span<std::uint64_t> beta,
                       std::span<const std::uint64_t> correct, std::span<const std::uint64_t> incorrect,
                       std::uint32_t decay_bps = 10000);
// Posterior mean with a Beta(1, 1) prior, in basis points: floor(10000 (alpha + 1) / (alpha + beta + 2)).
std::uint32_t reputation_bps(std::uint64_t alpha, std::uint64_t beta);

// Slashing: a worker with total >= min_control control answers and
// correct * 10000 < threshold_bps * total loses floor(stake * share_bps / 10000).
std::uint64_t slash_amount(std::uint64_t stake, std::uint64_t correct, std::uint64_t total,
                           std::uint32_t threshold_bps, std::uint32_t share_bps, std::uint64_t min_control);

// ---- Worker and item models -------------------------------------------------

enum class Strategy : std::uint8_t {
  kHonest = 0,       // reports its signal: confusion row (or one-coin skill) of the true label
  kEffort = 1,       // with probability effort works as Honest, else guesses uniformly; cost ~ effort
  kRandom = 2,       // uniform random label
  kConstant = 3,     // always `target`
  kAdversarial = 4,  // honest signal, but reports `target` with probability `flip`
  kColluder = 5,     // the group's shared label: `target` if >= 0, else a hash of (group, task, round)
};
inline constexpr int kNumStrategies = 6;
const std::vector<std::string>& strategy_names();  // "honest", "effort", "random", "constant", "adversarial", "colluder"

// Per-worker parameters, every vector of size n_workers (confusion: empty or
// [n_workers * L * L], row-stochastic; it overrides the one-coin skill).
struct Population {
  std::vector<std::uint8_t> strategy;
  std::vector<double> skill;          // P(signal == truth) for the one-coin model
  std::vector<double> effort;         // [0, 1]: share of answers worked on (Effort); others ignore it
  std::vector<std::int32_t> target;   // label for Constant / Adversarial / Colluder (Colluder: -1 = shared hash)
  std::vector<double> flip;           // Adversarial: P(report target)
  std::vector<std::int32_t> group;    // Colluder group id
  std::vector<double> confusion;      // optional full confusion matrices
  std::size_t size() const { return strategy.size(); }
};

enum class Assignment : std::int32_t {
  kRandom = 0,  // each task gets `overlap` distinct workers from a shuffled capacity-slot deck
  kBlocks = 1,  // workers form teams of `overlap` each round; tasks are dealt to teams round-robin
};

enum class Adaptation : std::int32_t { kNone = 0, kReplicator = 1, kBestResponse = 2 };

struct SimConfig {
  std::int32_t n_labels = 2;
  std::vector<double> prior;            // [n_labels] class prior of the true labels (empty = uniform)
  double difficulty_a = 0.0;            // task difficulty d ~ Beta(a, b): with prob d a worker guesses
  double difficulty_b = 0.0;            //   uniformly; a == 0 means every d = 0
  std::int32_t n_tasks = 100;           // tasks per round
  std::int32_t overlap = 3;             // answers per task
  std::int32_t capacity = 0;            // max tasks per worker per round; 0 = unlimited
  Assignment assignment = Assignment::kRandom;
  double gold_fraction = 0.0;           // share of tasks that are control tasks (truth known to the requester)
  bool clamp_gold = true;               // consensus treats control tasks as known
  std::string consensus = "majority_vote";  // a consensus::fit method name, or "external"
  std::int32_t consensus_iter = 50;
  Mechanism mechanism = Mechanism::kOutputAgreement;
  MechanismInputs mechanism_inputs;     // only the scalar fields and optional matrices are used
  std::uint64_t budget = 0;             // per round, base units
  double base = 0.0;                    // base units per answer
  double rate = 0.0;                    // base units per unit of score
  double effort_cost = 0.0;             // base units per answer of full effort (utility, not paid)
  std::uint64_t initial_stake = 0;      // per worker
  std::uint64_t min_stake = 0;          // below it a worker is no longer assigned
  bool slashing = false;
  std::uint32_t slash_threshold_bps = 6000, slash_share_bps = 5000;
  std::uint64_t slash_min_control = 3;
  std::uint32_t reputation_decay_bps = 10000;
  Adaptation adaptation = Adaptation::kNone;
  double learning_rate = 0.1;           // replicator step / share of workers revising per round
  std::uint64_t seed = 0;
  unsigned threads = 0;                 // results do not depend on it
};

// Per-round answers, kept for inspection and for external consensus.
struct RoundData {
  std::int32_t round = 0;
  std::vector<std::int32_t> task, worker, label;  // [n] answers, grouped by task
  std::vector<double> predictions;                // [n * L] when the mechanism is BTS
  std::vector<std::int32_t> truth;                // [n_tasks]
  std::vector<std::int32_t> gold;                 // [n_tasks], -1 = not a control task
  std::vector<double> difficulty;                 // [n_tasks]
  AnswersView view(std::int32_t n_workers, std::int32_t n_labels) const;
};

struct RoundStats {
  std::int32_t round = 0;
  std::int64_t n_answers = 0, n_active = 0;
  double accuracy = 0.0;          // consensus label == truth, over tasks with answers
  std::uint64_t paid = 0;         // tokens paid this round
  std::int64_t n_correct = 0;     // tasks whose consensus label is right
  // Per strategy, indexed by Strategy:
  std::array<std::int64_t, kNumStrategies> workers{}, answers{}, correct_answers{};
  std::array<std::uint64_t, kNumStrategies> earnings{}, stake_lost{};
  std::array<double, kNumStrategies> effort_cost{}, score{}, reputation_bps{};
};

// Rounds of: tasks (truth ~ prior, difficulty), assignment, answers, consensus,
// payments, reputation, slashing, then optional strategy adaptation. All
// randomness comes from counter-based hashes of (seed, round, stream, index),
// so a run is bit-for-bit reproducible and independent of `threads`.
class Simulator {
 public:
  Simulator(SimConfig config, Population population);

  // Draws tasks, assigns active workers and generates their answers.
  const RoundData& generate();
  // Runs config.consensus on the current round (unless "external").
  void infer();
  // Sets the posterior from an external estimator, [n_tasks * n_labels].
  void set_posterior(std::span<const double> posterior);
  // Payments, reputation, slashing, adaptation; returns the round's stats and advances the round.
  RoundStats settle();
  // generate + infer + settle.
  RoundStats step();

  const SimConfig& config() const { return config_; }
  const Population& population() const { return pop_; }
  std::int32_t round() const { return round_; }
  const RoundData& data() const { return data_; }
  const std::vector<double>& posterior() const { return posterior_; }
  const std::vector<std::int32_t>& consensus_labels() const { return labels_; }
  const std::vector<std::uint64_t>& earnings() const { return earnings_; }   // cumulative per worker
  const std::vector<std::uint64_t>& last_payments() const { return last_pay_; }
  const std::vector<std::uint64_t>& stake() const { return stake_; }
  const std::vector<std::uint64_t>& alpha() const { return alpha_; }
  const std::vector<std::uint64_t>& beta() const { return beta_; }

 private:
  void assign_tasks(std::vector<std::int32_t>& task, std::vector<std::int32_t>& worker);
  void adapt(const RoundStats& st);

  SimConfig config_;
  Population pop_;
  std::int32_t round_ = 0;
  int phase_ = 0;  // 0: next is generate, 1: infer/set_posterior, 2: settle
  RoundData data_;
  std::vector<double> posterior_;
  std::vector<std::int32_t> labels_;
  std::vector<std::uint64_t> earnings_, last_pay_, stake_, alpha_, beta_;
  std::vector<double> bts_table_;  // [L*L] honest prediction given own report
  std::vector<bool> present_;      // strategies present at the start (the adaptation's strategy set)
};

void validate(const Population& p, std::int32_t n_labels);

}  // namespace tagger::sim
