// crowd-kit 1.4's classification models, step for step (tagger::consensus).
//
// The ledger re-executes tagger's own engines (consensus.h); these are the
// reference behaviour a crowd-kit user switching over expects, kept apart so
// that neither can change the other's bits. Same AnswersView/Options/Result
// contracts as consensus.h; every function here is deterministic: the same
// bits on any number of threads (both Dawid-Skene models and GLAD run on
// opt.threads, the rest on one).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "tagger/consensus.h"

namespace tagger::consensus {

// Worker error matrices known before the fit (crowd-kit's fit(initial_error=)).
struct InitialError {
  enum Strategy : std::int32_t { kNone = 0, kAssign = 1, kAddition = 2 };
  Strategy strategy = kNone;
  std::span<const double> values;        // [n_workers * n_labels(true) * n_labels(observed)], counts or probabilities
  std::span<const std::uint8_t> given;   // [n_workers * n_labels]: 1 where the (worker, observed) row is given
};

// Dawid-Skene as crowd-kit 1.4 runs it. Start: majority-vote shares (gold rows
// one-hot), priors = mean posterior. M-step over the (worker, observed label)
// rows that occur in the answers only: e = max(count, 1e-10) / (sum of the
// worker's clipped rows), so a label a worker never gave has probability 0 and
// a worker who gave one label only has P(that label | any truth) = 1. E-step in
// log2 with priors clipped at 1e-10. After each M-step the objective is the
// ELBO per answer, sum_j sum_k p_tk (ln e + ln prior_k) + H(p clipped at
// 1e-10), over n; it stops once that rises by less than tol. The initial error
// (strategy assign/addition) enters the first M-step only. probas are the last
// E-step's, clipped below at 1e-10 (as crowd-kit's in-place clip leaves them).
// errors: rows absent from the model are NaN.
Result dawid_skene_crowdkit(const AnswersView& a, const Options& opt = {}, const InitialError& init = {});

// One-coin Dawid-Skene as crowd-kit 1.4: skills s_w = mean posterior of the
// worker's own labels; error rows (only those that occur) are s_w on the
// diagonal and (1 - s_w) / (K - 1) elsewhere, clipped to [1e-10, 1 - 1e-10]
// and not renormalized. Objective and stopping as dawid_skene_crowdkit.
Result one_coin_dawid_skene_crowdkit(const AnswersView& a, const Options& opt = {});

// GLAD as crowd-kit 1.4 runs it: alpha_w = b_t = 1 at the start (whatever
// the prior means); E-step P(z_t = k) = softmax_k(ln prior_k + sum_j
// [y_j = k] ln s_j + [y_j != k] (ln(1 - s_j) - ln(K - 1))), s_j =
// sigmoid(alpha_w e^{b_t}), ln s by crowd-kit's softplus clipped at |x| > 30;
// M-step: scipy's minimize(method="CG") of -Q, Q = sum over (answer, label)
// of P(z = label) times that log term plus ln N(alpha - mu_a) and ln N(b -
// mu_b) (Polak-Ribiere+, the dcsrch line search with the Wolfe zoom as its
// fallback, gtol = m_step_tol on the largest gradient entry, at most
// m_step_max_iter steps). After each M-step the objective is Q over n K; EM
// stops once it rises by less than opt.tol (any number: a negative one runs
// all iterations, as crowd-kit's), the first iteration comparing
// with the start's Q *not* divided by n K (as crowd-kit). Sums run in
// crowd-kit's frame order (label_order, then answer order), so the
// trajectory follows scipy's to rounding. priors: opt.class_priors as given
// (not normalized, as crowd-kit's labels_priors), else 1/K. Gold tasks (a
// tagger extension) are one-hot in every E-step. Result: abilities = alpha,
// difficulties = e^b, skills = mean sigmoid(alpha_w e^{b_t}) over the
// worker's answers. The same bits on any number of threads.
struct GladCrowdkitOptions {
  std::span<const std::int32_t> label_order;  // crowd-kit's label order (label indices, each once); empty: 0..K-1
  double alpha_prior = 1.0;                    // mean of the N(., 1) prior on alpha_w
  double beta_prior = 1.0;                     // mean of the N(., 1) prior on b_t = ln beta_t
  std::int32_t m_step_max_iter = 25;           // CG iterations per M-step (scipy's maxiter)
  double m_step_tol = 1e-2;                    // CG's gtol: stop once max |gradient| <= it
};
Result glad_crowdkit(const AnswersView& a, const Options& opt = {}, const GladCrowdkitOptions& g = {});

// KOS (Karger, Oh & Shah, Operations Research 62(1), 2014), binary, as
// crowd-kit 1.4: A_j = +1 for label index `positive`, -1 for the other; answer
// reliabilities start at numpy RandomState(opt.seed).normal(1, 1, n) in answer
// order; each of opt.n_iter rounds sets x_j = sum_{j' in task(j), j' != j} A y
// and y_j = sum_{j' of worker(j), j' != j} A x, stopping early once a sum
// exceeds 1e300 in magnitude. label = sign(sum_{j in t} A_j y_j) (0: the
// positive label; crowd-kit raises KeyError there). probas are one-hot.
Result kos(const AnswersView& a, std::int32_t positive, const Options& opt = {});

// M-MSR (Ma & Olshevsky, "Adversarial Crowdsourcing Through Robust Rank-One
// Matrix Completion", NeurIPS 2020) as crowd-kit 1.4: the worker covariance
// C = (agreement share on common tasks) K/(K-1) - 1/(K-1) (pairs without a
// common task: 0 before the shift), then opt.n_iter rounds of the
// mean-subsequence-reduced rank-one fit |C| ~ u v^T over observed pairs,
// trimming F = floor(min observed pairs per worker / 2) - 1 values at each
// end, from u = v = numpy RandomState(opt.seed).random_sample(W), until the
// Frobenius change < opt.tol; signs from the eigenvector of the smallest
// eigenvalue of the signed-graph walk (dense, computed here by Eigen's
// symmetric solver on the similar symmetric matrix rather than ARPACK);
// skills = log((K-1) p / (1 - p)), p the clipped accuracy. Labels are then a
// weighted vote with these skills (in Python).
struct MmsrResult {
  std::vector<double> skills;        // [n_workers]
  std::vector<double> loss_history;  // Frobenius change per round
  std::int32_t n_iter = 0;
};
MmsrResult mmsr(const AnswersView& a, const Options& opt = {});

}  // namespace tagger::consensus
