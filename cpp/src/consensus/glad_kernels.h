// GLAD's E-step, M-step halves and objective (glad.cc), shared by the
// single-process fit and its shards (glad_shard.cc): one copy of the
// arithmetic, so the sharded fit is bit-identical by construction.
#pragma once

#include <vector>

#include "consensus/common.h"

namespace tagger::consensus::detail::glad {

struct State {
  std::vector<double> alpha, b;  // [W], [T]
  std::vector<double> log_prior; // [K]
  std::vector<double> p_right;   // [n] task-major: posterior that the answer is the truth
};

// Task posteriors into probas [T * K] and P(answer right) into s.p_right.
void e_step(const Csr& c, const Options& opt, State& s, double* probas);
// Continues each worker's Fisher-scoring sums over its answers (in the worker
// index order): grad[w] += (p - sg) * beta, info[w] += sg (1 - sg) beta^2.
// The caller starts them at -(alpha - alpha_prior) and 1.
void alpha_sums(const Csr& c, const Options& opt, const State& s, double* grad, double* info);
// alpha += clamp(grad / info); returns the largest |step| (0 if none).
double alpha_update(const double* grad, const double* info, std::vector<double>& alpha);
// The b half of one Fisher round, with the current alphas; returns the largest |step|.
double b_step(const Csr& c, const Options& opt, const GladOptions& g, State& s);
// The objective's part of each block of kBlockTasks tasks (answers and b priors).
std::vector<double> q_blocks(const Csr& c, const Options& opt, const GladOptions& g, const State& s);
// The objective from its block parts (summed in block order) and the alpha priors.
double q_total(const std::vector<double>& parts, const std::vector<double>& alpha, double alpha_prior);
// Continues each worker's sum of sigmoid(alpha * beta_t) over its answers (the reported skills).
void skill_sums(const Csr& c, const State& s, double* sums);

}  // namespace tagger::consensus::detail::glad
