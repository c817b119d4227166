// Sharded EM for the Dawid-Skene family (tagger::consensus): the E-step of one
// shard of answers, and the M-step as a function of summed sufficient
// statistics. A driver (tagger.consensus.distributed: in process, on Ray, or
// streaming Parquet batches) holds the parameters, asks every shard for its
// statistics, sums them and runs the M-step.
//
// Identity with the single-process fit is by construction, not tolerance:
//  * expected counts are 64-bit fixed point (as inside dawid_skene()), so the
//    sum over shards is the same integer whatever the partition;
//  * the log-likelihood is returned per block of kShardTaskAlign tasks, and
//    shards start at multiples of kShardTaskAlign tasks, so the driver sums
//    the same block values in the same order as the single-process fit;
//  * the M-step below is the code dawid_skene() itself runs.
// So labels, posteriors, confusion matrices and iteration counts are bit-equal
// to dawid_skene() / one_coin_dawid_skene() on the concatenated answers.
//
// A shard holds tasks [t0, t0 + n_tasks) of the global numbering, re-indexed
// from 0; workers and labels keep their global codes (n_workers, n_labels are
// the global counts). The shard copies its answers: the arrays passed in may
// be freed after construction.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "tagger/consensus.h"

namespace tagger::consensus {

// Shards must start at a multiple of this many (global) tasks.
inline constexpr std::int32_t kShardTaskAlign = 2048;

// What a shard sends back for one E-step.
struct ShardStats {
  std::vector<std::int64_t> counts;    // DS: [W * L * K] expected counts at (w * L + l) * K + k, fixed point
                                       // 1-coin: [W] expected right answers, fixed point
  std::vector<std::int64_t> prior;     // [K] expected class counts, fixed point
  std::vector<double> block_ll;        // [ceil(n_tasks / kShardTaskAlign)] log-likelihood per block (empty at the start)
  std::vector<std::int64_t> n_answers; // 1-coin start only: [W] answers per worker
};

// Parameters broadcast to every shard.
struct DsParams {
  std::vector<double> e;      // [W * L * K] P(label l | truth k) at (w * L + l) * K + k
  std::vector<double> prior;  // [K]
};
struct OneCoinParams {
  std::vector<double> log_right, log_wrong;  // [W]
  std::vector<double> log_prior;             // [K]
  std::vector<double> skills;                // [W] (before clamping), reported as skills
};

class DawidSkeneShard {
 public:
  // gold: empty or [n_tasks] (shard-local); threads: 0 = all.
  DawidSkeneShard(const AnswersView& a, std::span<const std::int32_t> gold, unsigned threads = 0);
  ~DawidSkeneShard();
  DawidSkeneShard(const DawidSkeneShard&) = delete;
  DawidSkeneShard& operator=(const DawidSkeneShard&) = delete;

  // Counts of the EM start (majority-vote shares).
  ShardStats start();
  // E-step with p: counts and per-block log-likelihood.
  ShardStats e_step(const DsParams& p);
  // Posteriors [n_tasks * K] and labels [n_tasks] under p; p == nullptr: the
  // start (vote shares), as dawid_skene() with n_iter = 0.
  void posteriors(const DsParams* p, double* probas, std::int32_t* labels);
  std::int32_t n_tasks() const;
  std::size_t n_answers() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The M-step of dawid_skene() from summed statistics. opt: smoothing and
// class_priors are read.
DsParams dawid_skene_m_step(std::span<const std::int64_t> counts, std::span<const std::int64_t> prior,
                            std::int32_t n_workers, std::int32_t n_labels, const Options& opt);

class OneCoinShard {
 public:
  OneCoinShard(const AnswersView& a, std::span<const std::int32_t> gold, unsigned threads = 0);
  ~OneCoinShard();
  OneCoinShard(const OneCoinShard&) = delete;
  OneCoinShard& operator=(const OneCoinShard&) = delete;

  ShardStats start();  // also fills n_answers
  ShardStats e_step(const OneCoinParams& p);
  // p == nullptr: the start (vote shares).
  void posteriors(const OneCoinParams* p, double* probas, std::int32_t* labels);
  std::int32_t n_tasks() const;
  std::size_t n_answers() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The M-step of one_coin_dawid_skene() from summed statistics.
OneCoinParams one_coin_m_step(std::span<const std::int64_t> n_answers, std::span<const std::int64_t> right,
                              std::span<const std::int64_t> prior, std::int32_t n_labels, const Options& opt);

}  // namespace tagger::consensus
