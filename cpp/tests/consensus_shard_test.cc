// The streamed and sharded E-steps against the single-process fits: DsSpill
// (chunks read back from a file) and GladShard (alpha sums chained through
// the shards) must reproduce dawid_skene() / glad() bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <random>
#include <vector>

#include "tagger/consensus.h"
#include "tagger/consensus_shard.h"
#include "tagger/errors.h"

namespace cs = tagger::consensus;

namespace {

struct Data {
  std::vector<std::int32_t> t, w, l;
  std::int32_t T, W, K;
  cs::AnswersView view(std::size_t i0, std::size_t i1, std::int32_t t0, std::int32_t nt) {
    for (std::size_t i = i0; i < i1; ++i) local.push_back(t[i] - t0);
    cs::AnswersView a{local.data() + (local.size() - (i1 - i0)), w.data() + i0, l.data() + i0, i1 - i0, nt, W, K};
    return a;
  }
  std::vector<std::int32_t> local;
};

// Tasks grouped in order, 4 answers each from distinct workers of mixed skill.
Data make(std::int32_t T, std::int32_t W, std::int32_t K, unsigned seed) {
  Data d{{}, {}, {}, T, W, K, {}};
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> skill(W);
  for (auto& s : skill) s = 0.3 + 0.65 * u(rng);
  for (std::int32_t t = 0; t < T; ++t) {
    const std::int32_t truth = static_cast<std::int32_t>(rng() % K), w0 = static_cast<std::int32_t>(rng() % W);
    for (std::int32_t j = 0; j < 4; ++j) {
      const std::int32_t w = (w0 + 7 * j) % W;
      d.t.push_back(t);
      d.w.push_back(w);
      d.l.push_back(u(rng) < skill[w] ? truth : static_cast<std::int32_t>(rng() % K));
    }
  }
  d.local.reserve(d.t.size() * 2);
  return d;
}

cs::AnswersView all_of(Data& d) { return {d.t.data(), d.w.data(), d.l.data(), d.t.size(), d.T, d.W, d.K}; }

// A fixed number of EM iterations (tol 0: no early stop), as a driver runs them.
cs::Options iterations(std::int32_t n) {
  cs::Options opt;
  opt.n_iter = n;
  opt.tol = 0;
  return opt;
}

std::size_t first_answer_of(const Data& d, std::int32_t task) {
  return static_cast<std::size_t>(std::lower_bound(d.t.begin(), d.t.end(), task) - d.t.begin());
}

}  // namespace

TEST(ConsensusShard, SpilledStreamEqualsDawidSkene) {
  Data d = make(3 * cs::kShardTaskAlign + 123, 40, 3, 1);
  const cs::AnswersView all = all_of(d);
  cs::Options opt;
  opt.n_iter = 0;
  const cs::Result start = cs::dawid_skene(all, opt);
  cs::DsSpill spill(std::filesystem::temp_directory_path().string(), d.W, d.K, 2);
  for (std::int32_t t0 = 0; t0 < d.T; t0 += 2 * cs::kShardTaskAlign) {  // two chunks, the second short
    const std::int32_t t1 = std::min(d.T, t0 + 2 * cs::kShardTaskAlign);
    spill.append(d.view(first_answer_of(d, t0), first_answer_of(d, t1), t0, t1 - t0));
  }
  EXPECT_EQ(spill.n_chunks(), 2u);
  EXPECT_EQ(spill.bytes(), 4u * (d.t.size() + static_cast<std::size_t>(d.T)));
  std::vector<double> probas(static_cast<std::size_t>(d.T * d.K));
  std::vector<std::int32_t> labels(static_cast<std::size_t>(d.T));
  spill.posteriors(nullptr, probas.data(), labels.data());
  EXPECT_EQ(probas, start.probas);
  EXPECT_EQ(labels, start.labels);
  // A few EM iterations driven by hand: the same objective and posteriors.
  opt.n_iter = 4;
  opt.tol = 0;
  const cs::Result full = cs::dawid_skene(all, opt);
  cs::ShardStats st = spill.start();
  cs::DsParams p = cs::dawid_skene_m_step(st.counts, st.prior, d.W, d.K, opt);
  for (int it = 0; it < 4; ++it) {
    st = spill.e_step(p);
    double ll = 0;
    for (double v : st.block_ll) ll += v;
    EXPECT_EQ(ll / static_cast<double>(d.t.size()), full.objective_history[static_cast<std::size_t>(it)]);
    if (it < 3) p = cs::dawid_skene_m_step(st.counts, st.prior, d.W, d.K, opt);
  }
  spill.posteriors(&p, probas.data(), labels.data());
  EXPECT_EQ(probas, full.probas);
  EXPECT_EQ(labels, full.labels);
}

// The buffer-swapping E-step that crowd-kit's EM drives: the same counts,
// objective and posteriors as e_step() and dawid_skene(), on 1 and 3 threads
// (the shard sums its per-thread count tables on the team). Its per-worker
// hook sees every worker once, after that worker's counts are summed, and
// the last E-step writes the posteriors dawid_skene() reports.
TEST(ConsensusShard, SwappingEStepEqualsEStepOnAnyThreadCount) {
  Data d = make(5 * cs::kShardTaskAlign + 77, 60, 4, 2);
  const cs::AnswersView all = all_of(d);
  const cs::Options opt = iterations(5);
  const cs::Result full = cs::dawid_skene(all, opt);
  for (unsigned threads : {1u, 3u}) {
    cs::DawidSkeneShard copying(all, {}, threads), swapping(all, {}, threads);
    cs::ShardStats st = copying.start(), into = swapping.start();
    EXPECT_EQ(st.counts, into.counts);
    cs::DsParams p = cs::dawid_skene_m_step(st.counts, st.prior, d.W, d.K, opt);
    std::vector<double> probas(static_cast<std::size_t>(d.T * d.K));
    std::vector<std::int32_t> labels(static_cast<std::size_t>(d.T));
    const std::size_t per_worker = static_cast<std::size_t>(d.K * d.K);
    for (int it = 0; it < 5; ++it) {
      st = copying.e_step(p);
      cs::DsParams handed = p;
      std::vector<std::atomic<int>> visits(static_cast<std::size_t>(d.W));
      std::atomic<int> early{0};  // rows the hook saw before they were summed
      const bool last = it == 4;
      swapping.e_step_swap(
          handed, into,
          [&](std::size_t w0, std::size_t w1) {
            for (std::size_t w = w0; w < w1; ++w) {
              ++visits[w];
              for (std::size_t i = w * per_worker; i < (w + 1) * per_worker; ++i) early += into.counts[i] != st.counts[i];
            }
          },
          last ? probas.data() : nullptr, last ? labels.data() : nullptr);
      for (const auto& v : visits) EXPECT_EQ(v.load(), 1);
      EXPECT_EQ(early.load(), 0);
      EXPECT_EQ(handed.e.size(), p.e.size());
      EXPECT_EQ(into.counts, st.counts);
      EXPECT_EQ(into.prior, st.prior);
      EXPECT_EQ(into.block_ll, st.block_ll);
      double ll = 0;
      for (double v : into.block_ll) ll += v;
      EXPECT_EQ(ll / static_cast<double>(d.t.size()), full.objective_history[static_cast<std::size_t>(it)]);
      if (it < 4) p = cs::dawid_skene_m_step(st.counts, st.prior, d.W, d.K, opt);
    }
    EXPECT_EQ(probas, full.probas);
    EXPECT_EQ(labels, full.labels);
    std::fill(probas.begin(), probas.end(), 0.0);
    swapping.posteriors_current(probas.data(), labels.data());
    EXPECT_EQ(probas, full.probas);
    EXPECT_EQ(labels, full.labels);
  }
  // A table of the wrong size is refused before anything is swapped.
  cs::DawidSkeneShard shard(all, {}, 1);
  cs::ShardStats into = shard.start();
  cs::DsParams bad;
  bad.e.assign(3, 0.5);
  bad.prior.assign(static_cast<std::size_t>(d.K), 0.25);
  EXPECT_THROW(shard.e_step_swap(bad, into), tagger::InvalidArgument);
  EXPECT_EQ(bad.e.size(), 3u);
  // Posteriors need both buffers.
  cs::DsParams ok = cs::dawid_skene_m_step(into.counts, into.prior, d.W, d.K, opt);
  std::vector<double> probas(static_cast<std::size_t>(d.T * d.K));
  EXPECT_THROW(shard.e_step_swap(ok, into, {}, probas.data(), nullptr), tagger::InvalidArgument);
  EXPECT_EQ(ok.e.size(), static_cast<std::size_t>(d.W * d.K * d.K));
}

// The floor crowd-kit's fit needs (its ELBO clips the posteriors at 1e-10) is
// applied as the posteriors are written: max(p, floor) on answered tasks,
// the same labels, unanswered tasks untouched; K <= 8 and the any-K pass alike.
TEST(ConsensusShard, PosteriorFloorClipsAnsweredRowsAsWritten) {
  for (std::int32_t K : {3, 11}) {
    Data d = make(400, 40, K, 5);
    cs::AnswersView all = all_of(d);
    all.n_tasks = d.T + 3;  // three tasks without answers
    const cs::Options opt = iterations(8);
    cs::DawidSkeneShard plain(all, {}, 2), floored(all, {}, 2);
    cs::ShardStats st = plain.start();
    floored.start();
    cs::DsParams p = cs::dawid_skene_m_step(st.counts, st.prior, d.W, K, opt);
    for (int it = 0; it < 6; ++it) {  // sharpen: some posteriors fall below the floor
      st = plain.e_step(p);
      p = cs::dawid_skene_m_step(st.counts, st.prior, d.W, K, opt);
    }
    const std::size_t T = static_cast<std::size_t>(all.n_tasks), KK = static_cast<std::size_t>(K);
    std::vector<double> raw(T * KK, -1.0), clipped(T * KK, -1.0);
    std::vector<std::int32_t> raw_labels(T), clipped_labels(T);
    const double floor = 1e-3;
    plain.posteriors(&p, raw.data(), raw_labels.data());
    floored.set_posterior_floor(floor);
    floored.posteriors(&p, clipped.data(), clipped_labels.data());
    EXPECT_EQ(raw_labels, clipped_labels);
    std::size_t raised = 0;
    for (std::size_t t = 0; t < T; ++t)
      for (std::size_t k = 0; k < KK; ++k) {
        const double want = raw_labels[t] < 0 ? raw[t * KK + k] : std::max(raw[t * KK + k], floor);
        EXPECT_EQ(clipped[t * KK + k], want) << "task " << t << " class " << k;
        raised += raw_labels[t] >= 0 && raw[t * KK + k] < floor;
      }
    EXPECT_GT(raised, 0u) << "K = " << K << ": no posterior fell below the floor, the test saw nothing";
    EXPECT_THROW(floored.set_posterior_floor(-0.1), tagger::InvalidArgument);
    EXPECT_THROW(floored.set_posterior_floor(1.0), tagger::InvalidArgument);
  }
}

TEST(ConsensusShard, SpillRejectsUngroupedChunks) {
  cs::DsSpill spill(std::filesystem::temp_directory_path().string(), 2, 2, 1);
  std::vector<std::int32_t> t{1, 0}, w{0, 1}, l{0, 1};
  EXPECT_THROW(spill.append({t.data(), w.data(), l.data(), 2, 2, 2, 2}), tagger::InvalidArgument);
  EXPECT_THROW(cs::DsSpill("/nonexistent-dir-for-tagger", 2, 2), tagger::InvalidArgument);
}

TEST(ConsensusShard, ChainedGladShardsEqualGlad) {
  Data d = make(2 * cs::kShardTaskAlign + 77, 30, 2, 2);
  const cs::AnswersView all = all_of(d);
  const cs::Options opt = iterations(3);
  cs::GladOptions g;
  g.m_steps = 4;
  g.m_tol = 0;
  const cs::Result one = cs::glad(all, opt, g);
  std::vector<std::unique_ptr<cs::GladShard>> shards;
  const std::int32_t cut = cs::kShardTaskAlign;
  shards.push_back(std::make_unique<cs::GladShard>(d.view(0, first_answer_of(d, cut), 0, cut),
                                                   std::span<const std::int32_t>(), std::span<const double>(), g));
  shards.push_back(std::make_unique<cs::GladShard>(d.view(first_answer_of(d, cut), d.t.size(), cut, d.T - cut),
                                                   std::span<const std::int32_t>(), std::span<const double>(), g));
  const std::size_t W = static_cast<std::size_t>(d.W);
  std::vector<double> alpha(W, g.alpha_prior);
  double last = -1e300;
  int iters = 0;
  for (int it = 0; it < opt.n_iter; ++it) {
    for (auto& s : shards) s->e_step(alpha);
    for (int round = 0; round < g.m_steps; ++round) {
      std::vector<double> grad(W), info(W, 1.0);
      for (std::size_t w = 0; w < W; ++w) grad[w] = -(alpha[w] - g.alpha_prior);
      for (auto& s : shards) s->alpha_sums(alpha, grad.data(), info.data());
      cs::glad_alpha_update(grad, info, alpha);
      for (auto& s : shards) s->b_step(alpha);
    }
    std::vector<double> q;
    for (auto& s : shards) {
      std::vector<double> part = s->q_blocks(alpha);
      q.insert(q.end(), part.begin(), part.end());
    }
    const double obj = cs::glad_objective(q, alpha, g.alpha_prior) / static_cast<double>(d.t.size());
    ASSERT_LT(static_cast<std::size_t>(it), one.objective_history.size());
    EXPECT_EQ(obj, one.objective_history[static_cast<std::size_t>(it)]);
    iters = it + 1;
    if (it > 0 && obj - last < opt.tol) break;  // glad()'s stopping rule
    last = obj;
  }
  EXPECT_EQ(iters, one.n_iter);
  EXPECT_EQ(alpha, one.abilities);
  std::vector<double> probas(static_cast<std::size_t>(d.T * d.K)), diff(static_cast<std::size_t>(d.T));
  std::vector<std::int32_t> labels(static_cast<std::size_t>(d.T));
  shards[0]->posteriors(probas.data(), labels.data(), diff.data());
  const std::size_t K = static_cast<std::size_t>(d.K), c = static_cast<std::size_t>(cut);
  shards[1]->posteriors(probas.data() + c * K, labels.data() + c, diff.data() + c);
  EXPECT_EQ(probas, one.probas);
  EXPECT_EQ(labels, one.labels);
  EXPECT_EQ(diff, one.difficulties);
}
