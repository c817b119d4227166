// Truth inference over redundant crowd answers (tagger::consensus).
//
// Answers are three parallel int32 arrays (task, worker, label), each value an
// index in [0, n_tasks), [0, n_workers), [0, n_labels). The functions take a
// non-owning AnswersView, so numpy arrays, std::vectors and mmapped files pass
// without copies. Every method returns a Result with the same shapes; fields a
// method does not estimate are left empty.
//
// Contracts shared by every method:
//  * Input is validated first (sizes, index ranges, gold and priors); on a bad
//    input InvalidArgument is thrown and nothing is computed.
//  * A (task, worker) pair may appear more than once; each occurrence counts as
//    one answer here. The Python layer applies the documented dedup rule
//    (keep the last answer, or raise) before calling in.
//  * Tasks with no answer (possible when n_tasks exceeds the largest index)
//    get label -1 and the class prior as their probas row (uniform for the
//    voting methods), unless a gold label is given for them.
//  * Gold labels (task -> label, -1 = unknown) are clamped: the posterior of a
//    gold task is one-hot during every iteration and in the result.
//  * Results do not depend on Options::threads: every reduction across tasks
//    or workers is either owned by one thread in a fixed order or done in
//    64-bit fixed point, whose addition is associative.
//  * Ties in any argmax (MV and every probas -> labels step) go to the smallest
//    label index. The Python layer orders label indices by sorting the label
//    values, so ties go to the smallest label value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tagger/huge_array.h"

namespace tagger::consensus {

// Non-owning view of categorical answers. The arrays must outlive the call.
struct AnswersView {
  const std::int32_t* task = nullptr;    // [n] task index of each answer
  const std::int32_t* worker = nullptr;  // [n] worker index
  const std::int32_t* label = nullptr;   // [n] label index
  std::size_t n = 0;                     // number of answers
  std::int32_t n_tasks = 0;
  std::int32_t n_workers = 0;
  std::int32_t n_labels = 0;
};

// Non-owning view of continuous answers (Median, TrimmedMean).
struct ContinuousView {
  const std::int32_t* task = nullptr;  // [n]
  const std::int32_t* worker = nullptr;  // [n]
  const double* value = nullptr;       // [n] finite values
  std::size_t n = 0;
  std::int32_t n_tasks = 0;
  std::int32_t n_workers = 0;
};

// Reported after every iteration of an iterative method.
struct IterationInfo {
  std::int32_t iteration = 0;  // 1-based
  std::int32_t n_iter = 0;     // the maximum
  double objective = 0.0;      // method's objective per answer (log-likelihood or ELBO), higher is better
  double change = 0.0;         // |objective - previous objective|
  // True for a check inside an iteration (detail::checkpoint): only whether to cancel, with no
  // progress to report (iteration is the last finished one; objective and change are 0). A
  // method whose iterations take seconds (crowd-kit's GLAD M-step) asks it between the steps of
  // one; a hook that stops on its own convergence test must return true for these calls.
  bool within = false;
};

// Returns false to stop early (the Result then has converged == false). It is
// called on the thread that called the method, never concurrently.
using IterationCallback = std::function<bool(const IterationInfo&)>;

// Options common to every method; those a method has no use for are ignored.
struct Options {
  std::int32_t n_iter = 100;        // maximum iterations (EM, gradient steps)
  double tol = 1e-5;                // stop when the objective per answer changes by less
  double smoothing = 0.0;           // Laplace pseudo-count added to every confusion/prior count (DS, 1-coin DS)
  std::span<const std::int32_t> gold;      // empty, or [n_tasks]: gold label index, -1 = none
  std::span<const double> class_priors;    // empty (estimated), or [n_labels], positive, fixed during inference
  unsigned threads = 0;             // 0 = all hardware threads; results do not depend on it
  std::uint64_t seed = 0;           // for methods with random restarts (MACE)
  IterationCallback on_iteration;   // optional progress / cancellation hook
};

struct GladOptions {
  std::int32_t m_steps = 25;    // maximum block-Newton rounds per M-step (alphas, then log-betas)
  double m_tol = 1e-2;          // M-step stops when no parameter moves by more than this
  double alpha_prior = 1.0;     // Gaussian prior N(alpha_prior, 1) on worker ability alpha_w
  double beta_prior = 1.0;      // Gaussian prior N(beta_prior, 1) on log task difficulty log(beta_t)
};

struct MaceOptions {
  std::int32_t n_restarts = 10;  // random restarts from seed, seed+1, ...; the best log marginal likelihood wins
  bool variational = true;       // true: variational Bayes (Beta/Dirichlet priors); false: plain EM
  double alpha = 0.5;            // Beta prior pseudo-count on spamming (VB)
  double beta = 0.5;             // Beta prior pseudo-count on knowing, i.e. answering the truth (VB)
  double strategy_prior = 10.0;  // symmetric Dirichlet pseudo-count on the spam strategy theta_w (VB)
  double smoothing = -1.0;       // EM pseudo-count on expected counts; < 0 means 0.01 / n_labels
  double default_noise = 0.5;    // initial parameters are drawn from U(1, 2 + default_noise) (scipy uniform(loc=1, scale=1 + noise), as crowd-kit), then normalized
};

struct ZeroBasedSkillOptions {
  double lr_init = 1.0;                  // learning rate of the skill update
  std::int32_t lr_steps_to_reduce = 20;  // every this many iterations the rate is multiplied by...
  double lr_reduce_factor = 0.5;         // ...this factor
  double eps = 1e-5;                     // skills start at 1/n_labels + eps; stop when no skill moves by more than eps
};

struct Result {
  std::int32_t n_tasks = 0, n_workers = 0, n_labels = 0;
  std::vector<double> probas;        // [n_tasks * n_labels] row-major posterior P(z_t = k)
  std::vector<std::int32_t> labels;  // [n_tasks] argmax of probas (ties: smallest index), -1 = no answers
  std::vector<double> priors;        // [n_labels] class prior used at the end (estimated or given)
  std::vector<double> skills;        // [n_workers] P(worker answers correctly) under the model; empty if none
  std::vector<double> errors;        // DS: [n_workers * n_labels * n_labels], errors[(w*L + true)*L + observed]
                                     // = P(worker w answers `observed` | truth `true`); each row sums to 1
  std::vector<double> difficulties;  // GLAD: [n_tasks] beta_t = exp(b_t) > 0, larger = easier; others: empty
  std::vector<double> abilities;     // GLAD: [n_workers] alpha_w
  std::vector<double> spamming;      // MACE: [n_workers] posterior P(worker spams on an answer)
  std::vector<double> strategies;    // MACE: [n_workers * n_labels] spam label distribution theta_w
  double model_weight = 0.0;         // CROWDLAB: weight of the model as an annotator
  std::vector<double> communities;       // CBCC: [n_workers * n_communities] posterior P(worker in community m)
  std::vector<double> community_errors;  // CBCC: [n_communities * n_labels * n_labels], row (m, true) of
                                         // P(observed | true) for community m; each row sums to 1
  std::vector<double> objective_history;  // objective per answer after each iteration
  std::int32_t n_iter = 0;           // iterations run
  bool converged = false;            // the tol criterion was met (always true for one-shot methods)
};

struct ContinuousResult {
  std::int32_t n_tasks = 0;
  std::vector<double> values;  // [n_tasks], NaN for tasks with no answers
};

// Majority vote. probas[t] = vote shares; label = most voted, ties to the
// smallest label index (deterministic, documented). Skills = each worker's
// agreement with the MV label over its answers.
Result majority_vote(const AnswersView& a, const Options& opt = {});

// Weighted majority vote: each answer of worker w counts skills[w] (>= 0).
// Empty skills: estimated as in Wawa (agreement with MV). Ties as in MV.
Result weighted_majority_vote(const AnswersView& a, std::span<const double> skills, const Options& opt = {});

// Dawid & Skene (1979): full per-worker confusion matrices, EM initialised by
// the MV vote shares. Objective: observed-data log-likelihood per answer.
Result dawid_skene(const AnswersView& a, const Options& opt = {});

// One-coin DS: each worker has one accuracy p_w; errors spread uniformly.
Result one_coin_dawid_skene(const AnswersView& a, const Options& opt = {});

// GLAD (Whitehill et al., 2009): P(correct) = sigmoid(alpha_w * beta_t).
Result glad(const AnswersView& a, const Options& opt = {}, const GladOptions& g = {});

// MACE (Hovy et al., 2013): each answer is honest with prob 1 - spam_w, else
// drawn from the worker's strategy theta_w. Best of n_restarts (seeded).
Result mace(const AnswersView& a, const Options& opt = {}, const MaceOptions& m = {});

// Wawa: MV, skills = agreement with MV, then a weighted MV with those skills.
Result wawa(const AnswersView& a, const Options& opt = {});

// Zero-based skill: skills start at 1/n_labels + eps and move toward their
// agreement with the current weighted MV at rate lr (decayed in steps).
Result zero_based_skill(const AnswersView& a, const Options& opt = {}, const ZeroBasedSkillOptions& z = {});

// CROWDLAB (Goh, Tkachenko & Mueller, 2022): the model's predicted class
// probabilities [n_tasks * n_labels] act as one more annotator, weighted by its
// accuracy against the round's consensus relative to always guessing the majority
// class, alongside the workers weighted the same way. model_weight is set. The
// majority vote breaks ties as cleanlab's get_majority_vote_label (model, least
// given label, annotators' agreement, then the smallest index where it draws).
// The consensus is cleanlab's consensus_method: kBestQuality (its default) labels
// each task by the ensemble's argmax (a tie to the majority vote) and computes the
// weights and the ensemble once more against those labels; kMajorityVote keeps the
// majority vote as the labels and the first weights and ensemble.
enum class CrowdlabConsensus { kBestQuality, kMajorityVote };
Result crowdlab(const AnswersView& a, std::span<const double> model_probas, const Options& opt = {},
                CrowdlabConsensus method = CrowdlabConsensus::kBestQuality);

// Runs a method by name: "majority_vote", "weighted_majority_vote" (skills
// estimated), "dawid_skene", "one_coin_dawid_skene", "glad", "mace", "wawa",
// "zero_based_skill", with default method-specific options. InvalidArgument
// for an unknown name (the message lists the known ones).
Result fit(std::string_view method, const AnswersView& a, const Options& opt = {});
const std::vector<std::string>& method_names();

// Continuous answers: per-task median (mean of the two middle values for an
// even count) and the mean after dropping floor(trim * count) values at each
// end (0 <= trim < 0.5).
ContinuousResult median(const ContinuousView& a, const Options& opt = {});
ContinuousResult trimmed_mean(const ContinuousView& a, double trim = 0.1, const Options& opt = {});

// ---- Label-quality detection -------------------------------------------

struct Detection {
  std::vector<double> task_entropy;   // [n_tasks] -sum p log p of the posterior, nats
  std::vector<double> task_margin;    // [n_tasks] p(top-1) - p(top-2); 1 for a single class
  std::vector<double> answer_error;   // [n] P(truth != given label) = 1 - probas[task, label]
  std::vector<std::int64_t> worker_n_answers;  // [n_workers]
  std::vector<double> worker_agreement;        // [n_workers] share of answers equal to the consensus label (NaN if none)
  std::vector<double> worker_accuracy;         // [n_workers] expected accuracy: mean of probas[task, label]
  std::vector<double> worker_accuracy_low;     // [n_workers] Wilson score interval at `confidence`
  std::vector<double> worker_accuracy_high;
};

// Per-task, per-answer and per-worker quality from a fitted Result.
Detection detect(const AnswersView& a, const Result& r, double confidence = 0.95, unsigned threads = 0);

// ---- Input preparation (the Python layer's factorization) -----------------

// Integer ids to dense codes in O(n): code = the index of a value among the
// distinct values, numbered in order of first appearance (sorted = false, as
// pandas.factorize) or in increasing order (sorted = true). A direct table is
// used when the values span at most 2n + 2^16 integers, else an
// open-addressing hash table.
struct Codes {
  std::vector<std::int64_t> uniques;    // distinct values in code order
  util::HugeArray<std::int32_t> codes;  // [n], always a new array (the values copied when they already
                                        // are the codes: the fit must not see the caller's later edits)
};
Codes factorize(std::span<const std::int64_t> values, bool sorted);
Codes factorize(std::span<const std::int32_t> values, bool sorted);

// String ids (the common case in real data) to dense codes in order of first
// appearance, as pandas.factorize(sort=False): equal bytes, equal code. One
// pass over an open-addressing table of (hash, code); the hash is seeded per
// call, so crafted ids cannot force collisions, and the codes do not depend on it.
struct StringCodes {
  std::unique_ptr<std::int32_t[]> codes;  // [n]
  std::vector<std::int64_t> first_rows;   // [n_codes] the row where each code first appears
};
StringCodes factorize(std::span<const std::string_view> values);

// Rows whose (task, worker) pair occurs again at a later row, ascending: the
// rows the "keep the last answer" rule drops. Labels are not read (may be
// null); task/worker indices are validated as in validate(). O(n + n_tasks +
// n_workers), no sort when the rows are grouped by task.
std::vector<std::int64_t> superseded_answers(const AnswersView& a);

// Throws InvalidArgument with the exact reason when `a` is malformed.
void validate(const AnswersView& a);
void validate(const ContinuousView& a);

// ---- Bayesian methods ------------------------------------------------------

struct BwaOptions {
  double a = 1.0;        // Gamma(a, b) prior on each worker's precision v_w
  double b = 1.0;
  double lambda0 = 1.0;  // prior precision (in answers) of a task's mean around mu0, the label shares
};

// BWA, Bayesian weighted average (Li, Rubinstein & Cohn, WWW 2019): one-hot
// answers y_j ~ N(z_t, I / v_w), z_t ~ N(mu0, I / lambda0), v_w ~ Gamma(a, b);
// mean-field updates from the vote shares until no posterior moves by tol:
//   E[v_w] = (a + n_w K / 2) / (b + 1/2 sum_{j of w} (||y_j - m_t||^2 + K s_t)),
//   m_t = (lambda0 mu0 + sum_{j in t} E[v_w] y_j) / (lambda0 + sum_{j in t} E[v_w]),
//   s_t = 1 / (lambda0 + sum_{j in t} E[v_w]).
// probas = m_t (non-negative, sums to 1), skills = mean m_t[y_j] over the
// worker's answers, priors = mu0 (label shares, or the given class priors).
// Single-threaded in task order: deterministic.
Result bwa(const AnswersView& a, const Options& opt = {}, const BwaOptions& o = {});

struct EbccOptions {
  std::int32_t n_groups = 10;  // M, subtypes per class (worker correlation is modelled through them)
  double a_pi = 0.1;           // Dirichlet(a_pi / M) prior on the subtype shares pi_k
  double alpha = 1.0;          // Dirichlet(alpha) prior on the class shares tau
  double a_v = 4.0;            // Dirichlet prior of a worker's answer row for subtype (k, m): a_v on label k,
  double b_v = 1.0;            //   b_v on every other label
};

// EBCC (Li, Rubinstein & Cohn, ICML 2019): each task has a class k ~ tau and a
// subtype m ~ pi_k; worker w answers with the row v_{w,k,m,.} ~ Dir(beta_k).
// Mean-field VB: q(z_t = k, g_t = m) ∝ exp(E log pi_km + E log tau_k +
// sum_{j in t} E log v_{w_j,k,m,y_j}), with E log of Dirichlet(x) = psi(x_i) -
// psi(sum x), eta_km = a_pi / M + sum_t q_tkm, nu_k = alpha + sum_t q_tk,
// mu_{w,k,m,l} = beta_kl + sum_{j of w, y_j = l} q_{t_j,k,m}; started from the
// vote shares split over subtypes by Dirichlet(1) draws (seed = Options.seed),
// stopped when no q_tk moves by tol. probas = q_tk; priors = E[tau];
// class_priors are refused (tau is inferred). Single-threaded: deterministic.
Result ebcc(const AnswersView& a, const Options& opt = {}, const EbccOptions& e = {});

struct CbccOptions {
  std::int32_t n_communities = 3;  // M, communities of workers sharing a confusion matrix
  double strength = 5.0;           // s: pseudo-answers per row a worker's matrix borrows from its community
  double alpha = 1.0;              // Dirichlet(alpha) prior on the class shares tau
  double gamma = 1.0;              // Dirichlet(gamma) prior on the community shares h
  double a_v = 4.0;                // Dirichlet prior of a community row k: a_v on label k,
  double b_v = 1.0;                //   b_v on every other label
};

// Community BCC (Venanzi, Guiver, Kazai, Kohli & Shokouhi, WWW 2014, on the
// iBCC of Kim & Ghahramani 2012), in a Dirichlet form that VB can handle
// exactly where Venanzi's softmax-Gaussian one needs EP: task class
// z_t ~ tau, worker community c_w ~ h, worker row pi_{w,k} ~ Dir(s Pi_{c_w,k}),
// y_j ~ pi_{w_j, z_t}. Structured mean field q(z) q(tau) prod_w q(c_w, pi_w):
//   N_wkl = sum_{j of w, y_j = l} q(z_{t_j} = k),
//   q(c_w = m) ∝ exp(E log h_m) prod_k B(s Pi_mk + N_wk) / B(s Pi_mk),
//   E log pi_wkl = sum_m q(c_w = m) [psi(s Pi_mkl + N_wkl) - psi(s + N_wk)],
//   q(z_t = k) ∝ exp(E log tau_k + sum_{j in t} E log pi_{w_j,k,y_j});
// the community rows are point estimates (VB-EM): each round moves Pi_mk
// towards the MAP of the bound under Dir(beta_k) by up to 10 steps of Minka's
// fixed point, Pi_mkl ∝ Pi_mkl s sum_w q(c_w = m) [psi(s Pi_mkl + N_wkl) -
// psi(s Pi_mkl)] + beta_kl - 1, from the pooled mean (beta_kl + sum_w
// q(c_w = m) N_wkl) / norm on the first round. Started
// from the vote shares with workers split into M equal bands by their
// agreement with them (no random draw), stopped when no q(z_t) moves by tol.
// probas = q(z), errors = E[pi_w], communities = q(c_w), community_errors = Pi;
// class_priors are refused (tau is inferred). Needs answers, >= 2 workers and
// >= 2 labels. Threaded per worker and per task; the same bits for any thread count.
Result cbcc(const AnswersView& a, const Options& opt = {}, const CbccOptions& o = {});

// ---- Agreement and uncertainty metrics (metrics.cc) -----------------------

// Krippendorff's alpha levels of measurement (distance between values c, k):
// nominal [c != k]; ordinal (sum_{g=c..k} n_g - (n_c + n_k) / 2)^2 over the
// value order, n_g = pairable values equal to g; interval (v_c - v_k)^2;
// ratio ((v_c - v_k) / (v_c + v_k))^2 (0 when v_c + v_k = 0).
enum class AlphaLevel : std::uint8_t { Nominal = 0, Ordinal = 1, Interval = 2, Ratio = 3 };

// Krippendorff's alpha = 1 - sum(o * d) / sum(e * d), with the coincidence
// matrix o[c][k] = sum_u n_uc (n_uk - [c == k]) / (n_u - 1) over units with
// n_u >= 2 values, n_c = sum_k o[c][k], n = sum_c n_c and the expected
// coincidences e[c][k] = (n_c n_k - [c == k] n_c) / (n - 1), as the
// `krippendorff` package (0.9) defines them, computed without the V x V
// matrices (memory O(nonzero counts + V); time O(V^2) for ratio only, over
// the values some pairable answer takes). `value_counts` is
// [n_units * values.size()] row-major, finite and >= 0; `values` the ordered
// value domain (its numbers are read by interval and ratio only).
// InvalidArgument on a bad shape or count, a domain of fewer than 2 values,
// unordered values for ordinal/interval/ratio, or no pairable variation
// (fewer than 2 pairable values, or every pairable value the same: alpha is
// undefined there).
double krippendorff_alpha(std::span<const double> value_counts, std::size_t n_units, std::span<const double> values,
                          AlphaLevel level);
// The same from answers: unit = task, value = label index (values[label] its
// number); a worker's answers count once per answer.
double krippendorff_alpha(const AnswersView& a, std::span<const double> values, AlphaLevel level);

// Fleiss' kappa over tasks with >= 2 answers: P_t = sum_k n_tk (n_tk - 1) /
// (n_t (n_t - 1)), P_o = mean_t P_t, p_k = sum_t n_tk / sum_t n_t over those
// tasks, P_e = sum_k p_k^2, kappa = (P_o - P_e) / (1 - P_e). With the same
// number of answers on every task this is Fleiss (1971); otherwise it is the
// usual unweighted generalization. InvalidArgument when no task has 2 answers
// or P_e = 1 (a single label used: kappa undefined).
double fleiss_kappa(const AnswersView& a);

// Per task: Shannon entropy (nats) of the answers' label distribution, each
// answer weighted by weights[worker] (empty: 1 each; >= 0, finite). NaN for a
// task with no answer (or zero total weight).
std::vector<double> answer_entropy(const AnswersView& a, std::span<const double> weights);

}  // namespace tagger::consensus
