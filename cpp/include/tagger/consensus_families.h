// Aggregation beyond classification, with crowd-kit 1.4.2's algorithms:
// pairwise comparisons (Bradley-Terry, noisy Bradley-Terry), image
// segmentations (majority vote, RASA, EM), embeddings (RASA), texts (ROVER's
// word alignment) and bounding boxes (IoU clustering). Inputs are integer
// codes and flat buffers prepared by python/tagger/consensus/*.py; every
// function checks sizes and throws InvalidArgument on a mismatch.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace tagger::consensus {

// ---- pairwise -------------------------------------------------------------

struct PairwiseResult {
  std::vector<double> scores;        // [n_items]
  std::vector<double> skills;        // [n_workers] (noisy BT: sigmoid(gamma))
  std::vector<double> biases;        // [n_workers] (noisy BT: sigmoid(q))
  std::vector<double> loss_history;  // per iteration
  std::int32_t n_iter = 0;
  bool converged = false;
};

// Hunter's MM algorithm: p_i <- w_i / sum_j T_ij / (p_i + p_j), normalised to
// sum 1, until sum |p_new - p_old| < tol. left_won[k] is 1 when the left item
// of comparison k won.
PairwiseResult bradley_terry(std::span<const std::int32_t> left, std::span<const std::int32_t> right,
                             std::span<const std::uint8_t> left_won, std::int32_t n_items, std::int32_t n_iter,
                             double tol);

// Noisy Bradley-Terry: P(answer y) = sig(g_w) sig(y (s_l - s_r)) + (1 - sig(g_w)) sig(y q_w),
// maximised by L-BFGS from x0 = [x_0, s (n_items), q (n_workers), g (n_workers)],
// with the penalty -reg * sum_i [log sig(x_0 - s_i) + log sig(s_i - x_0)].
PairwiseResult noisy_bradley_terry(std::span<const std::int32_t> left, std::span<const std::int32_t> right,
                                   std::span<const std::uint8_t> left_won, std::span<const std::int32_t> worker,
                                   std::int32_t n_items, std::int32_t n_workers, std::span<const double> x0,
                                   std::int32_t n_iter, double tol, double regularization);

// The noisy BT objective (what noisy_bradley_terry minimises) at x; for tests
// that compare optima.
double noisy_bradley_terry_objective(std::span<const std::int32_t> left, std::span<const std::int32_t> right,
                                     std::span<const std::uint8_t> left_won, std::span<const std::int32_t> worker,
                                     std::int32_t n_items, std::int32_t n_workers, std::span<const double> x,
                                     double regularization);

// ---- image segmentation ----------------------------------------------------

// Answers grouped by task: answers task_start[t] .. task_start[t+1]-1 belong to
// task t and each is a mask of task_pixels[t] bytes (0/1), stored one after the
// other in `pixels`. Output masks are concatenated the same way, one per task.
struct MaskBatch {
  std::span<const std::uint8_t> pixels;
  std::span<const std::int64_t> task_start;   // [n_tasks + 1]
  std::span<const std::int64_t> task_pixels;  // [n_tasks]
};

struct SegmentationResult {
  std::vector<std::uint8_t> masks;   // concatenated per task
  std::vector<double> weights;       // per answer (RASA: last weights; EM: worker P(correct))
  std::vector<double> loss_history;  // of the last task, as crowd-kit keeps it
};

// Pixel on iff 2 * sum(weight * mask) - sum(weight) >= 0.
SegmentationResult segmentation_majority_vote(const MaskBatch& b, std::span<const double> answer_weights);
SegmentationResult segmentation_rasa(const MaskBatch& b, std::int32_t n_iter, double tol);
SegmentationResult segmentation_em(const MaskBatch& b, std::int32_t n_iter, double tol, double eps);

// ---- embeddings --------------------------------------------------------------

struct EmbeddingRasaResult {
  std::vector<double> aggregated;    // [n_tasks, dim]
  std::vector<double> skills;        // [n_workers]
  std::vector<double> loss_history;
  std::int32_t n_iter = 0;
};

// RASA (Li & Fukumoto 2019): aggregated_t = sum_k b_k e_k / sum_k b_k over the
// answers of t; b_w = prior_w / max(eps, sum ||e - aggregated||^2) over w's
// answers, until the relative squared change of the aggregates is < tol.
// `answer_weight` (HRRASA's local skills; empty = 1) multiplies b_w in the
// average and divides the distances. `mean_weight` (empty = 1) multiplies an
// answer's weight in the average only: crowd-kit's HRRASA joins its weights on
// (task, worker), so each of a worker's k answers to one task counts k times in
// the average and once in the distances. Rows of `fixed` (true embeddings) with
// fixed_mask[t] = 1 replace the aggregate of task t.
EmbeddingRasaResult embeddings_rasa(std::span<const double> emb, std::int64_t dim, std::span<const std::int32_t> task,
                                    std::span<const std::int32_t> worker, std::int32_t n_tasks, std::int32_t n_workers,
                                    std::span<const double> prior, std::span<const double> answer_weight,
                                    std::span<const double> mean_weight, std::span<const double> fixed,
                                    std::span<const std::uint8_t> fixed_mask, std::int32_t n_iter, double tol);

// Per answer: the distance between its embedding and its task's reference row
// ("cosine": 1 - cos, inf when either vector is all zeros; "euclidean";
// "sqeuclidean").
std::vector<double> embedding_distances(std::span<const double> emb, std::int64_t dim, std::span<const std::int32_t> task,
                                        std::span<const double> reference, std::int32_t n_tasks, int metric);

// ---- texts --------------------------------------------------------------------

// ROVER: per task, aligns its token sequences into a word transition network
// (edit distance with unit costs and crowd-kit's tie order: match/substitute,
// then delete, then insert) and keeps the most voted token of each slot.
// Tokens are codes >= 1 (0 is the empty token); rank[code] orders codes by
// (length, string), the vote's tie-break. Hypotheses hyp_start[h] ..
// hyp_start[h+1]-1 of `tokens`; tasks task_start[t] .. task_start[t+1]-1 of
// the hypotheses. Out: the winning codes of every slot (0 included), task t's
// slots at out_start[t] .. out_start[t+1]-1.
struct RoverResult {
  std::vector<std::int32_t> tokens;
  std::vector<std::int64_t> out_start;
};
RoverResult rover(std::span<const std::int32_t> tokens, std::span<const std::int64_t> hyp_start,
                  std::span<const std::int64_t> task_start, std::span<const std::int64_t> rank);

// ---- bounding boxes -------------------------------------------------------------

struct BoxResult {
  std::vector<double> boxes;         // [n_out, 4] x_min, y_min, x_max, y_max
  std::vector<std::int32_t> task;    // [n_out]
  std::vector<std::int32_t> label;   // [n_out]
  std::vector<std::int32_t> support; // workers in the cluster
  std::vector<std::int32_t> cluster; // per input box: its output row, -1 if dropped
};

// Greedy IoU clustering per (task, label): boxes taken in order of decreasing
// agreement, a box joins the cluster whose seed overlaps it most (IoU >=
// iou_threshold, one box per worker per cluster); a cluster is kept when at
// least min_support (fraction of the task's workers) voted for it, and its box
// is the coordinate-wise mean (or median) of its members.
BoxResult bbox_aggregate(std::span<const double> boxes, std::span<const std::int32_t> task,
                         std::span<const std::int32_t> worker, std::span<const std::int32_t> label, std::int32_t n_tasks,
                         double iou_threshold, double min_support, bool median);

}  // namespace tagger::consensus
