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
#include <functional>
#include <memory>
#include <string>
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
  // exp of the three above, as the local fit reports them (errors_ and priors_): computed
  // here so that a sharded fit's report is the local one's bits (numpy's exp may round
  // otherwise).
  std::vector<double> right, wrong, prior;
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
  // The same for a caller that iterates: p.e is swapped into the shard rather
  // than copied (p.e comes back holding the shard's previous buffer, of the
  // same size but unspecified contents), and the results go into `into`,
  // whose buffers are reused. posteriors_current() then uses these parameters.
  // per_workers (optional) is a caller's M-step: it runs on the shard's thread
  // team as soon as the counts of workers [w0, w1) are summed into
  // into.counts, while they are in cache (disjoint chunks covering all
  // workers, in any order on any thread; p.e already holds the previous
  // buffer, which it may overwrite). probas/labels (optional): this E-step's
  // posteriors, as posteriors_current() would write them, without its pass.
  using WorkerChunkFn = std::function<void(std::size_t w0, std::size_t w1)>;
  void e_step_swap(DsParams& p, ShardStats& into, const WorkerChunkFn& per_workers = {}, double* probas = nullptr,
                   std::int32_t* labels = nullptr);
  void posteriors_current(double* probas, std::int32_t* labels);
  // Posteriors written from now on for tasks with answers are max(p, floor)
  // (crowd-kit clips them at 1e-10 after its fit; 0, the default, leaves them):
  // in the pass that writes them, not a second pass over [n_tasks * K].
  // The labels are the unclipped argmax, which the clip cannot move.
  void set_posterior_floor(double floor);
  // Posteriors [n_tasks * K] and labels [n_tasks] under p; p == nullptr: the
  // start (vote shares), as dawid_skene() with n_iter = 0.
  void posteriors(const DsParams* p, double* probas, std::int32_t* labels);
  std::int32_t n_tasks() const;
  std::size_t n_answers() const;

  // Streaming (DsSpill): a shard with no answers whose layout is replaced in
  // place, chunk after chunk, in one pass. threads: 0 = all.
  DawidSkeneShard(std::int32_t n_workers, std::int32_t n_labels, unsigned threads);
  // Replaces the answers by n answers of n_tasks tasks, already task-major:
  // fill(offsets [n_tasks + 1] from 0, codes [n] = worker * n_labels + label)
  // writes them into buffers kept across calls (no layout build, no page
  // faults after the largest chunk). The codes are trusted (DsSpill checks
  // them when it writes them).
  void load(std::int32_t n_tasks, std::size_t n, const std::function<void(std::int64_t*, std::uint32_t*)>& fill);
  // One pass over several loads: begin(p, with_posteriors), then run() after
  // each load, then end(). The expected counts are summed in the shard's
  // tables across the loads (integers, so any chunking gives the same sums).
  // p == nullptr: the start (vote shares).
  void begin(const DsParams* p, bool posteriors);
  // block_ll: this load's per-block log-likelihood (EM pass); probas/labels:
  // this load's rows (posteriors pass), else nullptr.
  void run(std::vector<double>* block_ll, double* probas, std::int32_t* labels);
  ShardStats end();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// GLAD over shards. Its M-step is not a function of summed statistics: the
// alpha half of each Fisher round needs, per worker, a float sum over all of
// the worker's answers. The driver starts each worker's (grad, info) and
// passes them through the shards in task order, each shard continuing them
// over its answers (alpha_sums): the additions happen in the single-process
// order, so the sums are the same doubles. The b half and the E-step are
// per task (each shard alone); the objective is summed per 2048-task block.
// The driver's steps (glad_alpha_update, glad_objective) are glad()'s code.
class GladShard {
 public:
  // gold: empty or [n_tasks]; class_priors: empty (uniform) or [n_labels].
  GladShard(const AnswersView& a, std::span<const std::int32_t> gold, std::span<const double> class_priors,
            const GladOptions& g, unsigned threads = 0);
  ~GladShard();
  GladShard(const GladShard&) = delete;
  GladShard& operator=(const GladShard&) = delete;

  // Back to glad()'s initial state (b, posteriors): each fit on a ShardSet kept warm across fits
  // starts where a fresh shard does (it used to continue from the previous fit's b).
  void start();
  // Posteriors (kept) and P(answer right) under alpha and the shard's b.
  void e_step(std::span<const double> alpha);
  // Continues grad[w], info[w] ([n_workers] each) over this shard's answers.
  void alpha_sums(std::span<const double> alpha, double* grad, double* info);
  // The b half of a Fisher round under the updated alpha; largest |step|.
  double b_step(std::span<const double> alpha);
  // The objective's part per block of kShardTaskAlign tasks under alpha.
  std::vector<double> q_blocks(std::span<const double> alpha);
  // Continues sums[w] of sigmoid(alpha_w * beta_t) over the worker's answers.
  void skill_sums(std::span<const double> alpha, double* sums);
  std::vector<std::int64_t> answers_per_worker() const;
  std::vector<double> priors() const;  // the class priors (fixed in GLAD), as glad() reports them
  // The last E-step's posteriors [n_tasks * K], labels [n_tasks] and
  // difficulties exp(b_t) [n_tasks].
  void posteriors(double* probas, std::int32_t* labels, double* difficulties);
  std::int32_t n_tasks() const;
  std::size_t n_answers() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// glad()'s alpha update from the summed (grad, info): alpha += clamp(grad /
// info, -2, 2); returns the largest |step|.
double glad_alpha_update(std::span<const double> grad, std::span<const double> info, std::span<double> alpha);
// glad()'s objective from the block parts (in block order) and the alphas.
double glad_objective(std::span<const double> block_q, std::span<const double> alpha, double alpha_prior);

// Answers of a stream kept between the passes of an EM in a temporary file in
// the Dawid-Skene layout (4 bytes per answer and 4 per task), written chunk by
// chunk during the stream's first pass and read back each pass with pread()
// into one chunk's buffers: resident memory is one chunk, whatever the file
// size. The file is unlinked as soon as it is created, so it disappears when
// the object is destroyed or the process ends, however it ends.
class DsSpill {
 public:
  // dir: an existing directory for the file; threads: 0 = all.
  DsSpill(const std::string& dir, std::int32_t n_workers, std::int32_t n_labels, unsigned threads = 0);
  ~DsSpill();
  DsSpill(const DsSpill&) = delete;
  DsSpill& operator=(const DsSpill&) = delete;

  // Appends tasks [n_tasks(), n_tasks() + chunk_tasks): a.task holds chunk-local
  // task codes, non-decreasing (grouped by task), a.n_tasks the chunk's task
  // count; workers and labels are range-checked against the spill's counts
  // (a.n_workers and a.n_labels are not read).
  void append(const AnswersView& a);
  ShardStats start();
  ShardStats e_step(const DsParams& p);
  // probas [n_tasks() * n_labels], labels [n_tasks()]; p == nullptr: the start.
  void posteriors(const DsParams* p, double* probas, std::int32_t* labels);
  std::int32_t n_tasks() const;
  std::size_t n_answers() const;
  std::uint64_t bytes() const;  // file size
  std::size_t n_chunks() const;

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
