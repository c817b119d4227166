// The round loop of the reward-scheme simulator. Randomness: counter-based
// hashes (rng.h) for per-task and per-answer draws, so answer generation runs
// in parallel without changing results; sequential seeded streams for the
// shuffles, which run on one thread.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "sim/rng.h"
#include "tagger/errors.h"
#include "tagger/sim.h"
#include "util/parallel.h"

namespace tagger::sim {
namespace {

// Streams of the counter-based generator, one per kind of draw.
enum : std::uint64_t { kTruth = 1, kDifficulty = 2, kGold = 3, kAnswer = 4, kCollude = 5, kAssign = 6, kAdapt = 7 };

constexpr double kUninformedPrediction = 0.9;  // what uninformed strategies predict for their own report (BTS)

std::string sname(std::size_t s) { return strategy_names()[s]; }

}  // namespace

const std::vector<std::string>& strategy_names() {
  static const std::vector<std::string> names = {"honest", "effort", "random", "constant", "adversarial", "colluder"};
  return names;
}

void validate(const Population& p, std::int32_t n_labels) {
  std::size_t n = p.strategy.size();
  auto same = [&](std::size_t m, const char* what) {
    if (m != n) throw InvalidArgument(std::string("population.") + what + " has " + std::to_string(m) +
                                      " values, expected " + std::to_string(n));
  };
  same(p.skill.size(), "skill");
  same(p.effort.size(), "effort");
  same(p.target.size(), "target");
  same(p.flip.size(), "flip");
  same(p.group.size(), "group");
  auto L = static_cast<std::size_t>(n_labels);
  if (!p.confusion.empty() && p.confusion.size() != n * L * L)
    throw InvalidArgument("population.confusion has " + std::to_string(p.confusion.size()) + " values, expected " +
                          std::to_string(n * L * L));
  for (std::size_t w = 0; w < n; ++w) {
    auto bad = [&](const std::string& why) { throw InvalidArgument("worker " + std::to_string(w) + ": " + why); };
    if (p.strategy[w] >= kNumStrategies) bad("unknown strategy id " + std::to_string(p.strategy[w]));
    if (!(p.skill[w] >= 0 && p.skill[w] <= 1)) bad("skill must be in [0, 1]");
    if (!(p.effort[w] >= 0 && p.effort[w] <= 1)) bad("effort must be in [0, 1]");
    if (!(p.flip[w] >= 0 && p.flip[w] <= 1)) bad("flip must be in [0, 1]");
    if (p.target[w] < -1 || p.target[w] >= n_labels) bad("target label out of range");
    auto s = static_cast<Strategy>(p.strategy[w]);
    if ((s == Strategy::kConstant || s == Strategy::kAdversarial) && p.target[w] < 0)
      bad(sname(p.strategy[w]) + " needs a target label");
    if (!p.confusion.empty())
      for (std::size_t i = 0; i < L; ++i) {
        double sum = 0;
        for (std::size_t j = 0; j < L; ++j) {
          double v = p.confusion[(w * L + i) * L + j];
          if (!(v >= 0)) bad("confusion entries must be >= 0");
          sum += v;
        }
        if (std::abs(sum - 1) > 1e-6) bad("confusion row " + std::to_string(i) + " does not sum to 1");
      }
  }
}

AnswersView RoundData::view(std::int32_t n_workers, std::int32_t n_labels) const {
  AnswersView v;
  v.task = task.data();
  v.worker = worker.data();
  v.label = label.data();
  v.n = task.size();
  v.n_tasks = static_cast<std::int32_t>(truth.size());
  v.n_workers = n_workers;
  v.n_labels = n_labels;
  return v;
}

Simulator::Simulator(SimConfig config, Population population) : config_(std::move(config)), pop_(std::move(population)) {
  auto& c = config_;
  if (c.n_labels < 2) throw InvalidArgument("n_labels must be >= 2");
  auto L = static_cast<std::size_t>(c.n_labels);
  if (c.prior.empty()) c.prior.assign(L, 1.0 / static_cast<double>(L));
  if (c.prior.size() != L) throw InvalidArgument("prior must have n_labels values");
  double ps = 0;
  for (double v : c.prior) {
    if (!(v >= 0) || !std::isfinite(v)) throw InvalidArgument("prior values must be finite and >= 0");
    ps += v;
  }
  if (!(ps > 0)) throw InvalidArgument("prior must have a positive sum");
  for (double& v : c.prior) v /= ps;
  if (c.difficulty_a < 0 || c.difficulty_b < 0 || (c.difficulty_a > 0) != (c.difficulty_b > 0))
    throw InvalidArgument("difficulty Beta(a, b) needs a, b > 0 (or both 0 for no difficulty)");
  if (c.n_tasks < 1) throw InvalidArgument("n_tasks must be >= 1");
  if (c.overlap < 1) throw InvalidArgument("overlap must be >= 1");
  if (c.capacity < 0) throw InvalidArgument("capacity must be >= 0 (0 = unlimited)");
  if (!(c.gold_fraction >= 0 && c.gold_fraction <= 1)) throw InvalidArgument("gold_fraction must be in [0, 1]");
  if (!(c.learning_rate >= 0) || !std::isfinite(c.learning_rate)) throw InvalidArgument("learning_rate must be >= 0");
  if (!std::isfinite(c.effort_cost) || c.effort_cost < 0) throw InvalidArgument("effort_cost must be >= 0");
  if (c.slash_threshold_bps > 10000 || c.slash_share_bps > 10000 || c.reputation_decay_bps > 10000)
    throw InvalidArgument("basis points must be in [0, 10000]");
  if (c.consensus != "external") {
    const auto& names = consensus::method_names();
    if (std::find(names.begin(), names.end(), c.consensus) == names.end()) {
      std::string known = "external";
      for (const auto& k : names) known += ", " + k;
      throw InvalidArgument("unknown consensus method '" + c.consensus + "' (known: " + known + ")");
    }
  }
  if (pop_.size() == 0) throw InvalidArgument("population is empty");
  if (pop_.size() > static_cast<std::size_t>(INT32_MAX)) throw InvalidArgument("too many workers");
  validate(pop_, c.n_labels);
  std::size_t W = pop_.size();
  earnings_.assign(W, 0);
  last_pay_.assign(W, 0);
  stake_.assign(W, c.initial_stake);
  alpha_.assign(W, 0);
  beta_.assign(W, 0);
  present_.assign(kNumStrategies, false);
  for (auto s : pop_.strategy) present_[s] = true;
  if (c.mechanism == Mechanism::kBts) {
    // Honest prediction of a peer's report given one's own, under the common
    // prior and the honest workers' mean one-coin skill.
    double sk = 0;
    std::size_t k = 0;
    for (std::size_t w = 0; w < W; ++w)
      if (pop_.strategy[w] == static_cast<std::uint8_t>(Strategy::kHonest)) sk += pop_.skill[w], ++k;
    sk = k ? sk / static_cast<double>(k) : 0.7;
    auto like = [&](std::size_t obs, std::size_t truth) { return obs == truth ? sk : (1 - sk) / static_cast<double>(L - 1); };
    bts_table_.assign(L * L, 0.0);
    for (std::size_t own = 0; own < L; ++own) {
      std::vector<double> post(L);
      double z = 0;
      for (std::size_t t = 0; t < L; ++t) z += post[t] = c.prior[t] * like(own, t);
      for (std::size_t j = 0; j < L; ++j)
        for (std::size_t t = 0; t < L; ++t) bts_table_[own * L + j] += post[t] / z * like(j, t);
    }
  }
}

void Simulator::assign_tasks(std::vector<std::int32_t>& task, std::vector<std::int32_t>& worker) {
  const auto& c = config_;
  std::vector<std::int32_t> active;
  for (std::size_t w = 0; w < pop_.size(); ++w)
    if (stake_[w] >= c.min_stake) active.push_back(static_cast<std::int32_t>(w));
  auto o = static_cast<std::size_t>(c.overlap);
  auto n = static_cast<std::size_t>(c.n_tasks);
  if (active.size() < o)
    throw InfeasibleAssignment("round " + std::to_string(round_) + ": " + std::to_string(active.size()) +
                               " active workers, fewer than the overlap " + std::to_string(o));
  task.resize(n * o);
  worker.resize(n * o);
  rng::Stream rs(rng::hash(c.seed, static_cast<std::uint64_t>(round_), kAssign, 0));
  if (c.assignment == Assignment::kBlocks) {
    for (std::size_t i = active.size(); i > 1; --i) std::swap(active[i - 1], active[rs.below(static_cast<std::uint32_t>(i))]);
    std::size_t teams = active.size() / o;
    if (c.capacity > 0 && (n + teams - 1) / teams > static_cast<std::size_t>(c.capacity))
      throw InfeasibleAssignment("round " + std::to_string(round_) + ": " + std::to_string(teams) + " teams of " +
                                 std::to_string(o) + " cannot take " + std::to_string(n) + " tasks at capacity " +
                                 std::to_string(c.capacity));
    for (std::size_t t = 0; t < n; ++t)
      for (std::size_t k = 0; k < o; ++k) {
        task[t * o + k] = static_cast<std::int32_t>(t);
        worker[t * o + k] = active[(t % teams) * o + k];
      }
    return;
  }
  if (c.capacity > 0 && n * o > active.size() * static_cast<std::size_t>(c.capacity))
    throw InfeasibleAssignment("round " + std::to_string(round_) + ": " + std::to_string(n * o) + " answers needed but " +
                               std::to_string(active.size()) + " workers x capacity " + std::to_string(c.capacity) +
                               " available");
  // Uniform among the workers with capacity left; a full worker is swap-removed.
  std::vector<std::int32_t> left(pop_.size(), c.capacity);
  std::vector<std::int32_t> avail = active;
  for (std::size_t t = 0; t < n; ++t) {
    if (avail.size() < o)
      throw InfeasibleAssignment("round " + std::to_string(round_) + ": capacity is left with fewer than " +
                                 std::to_string(o) + " distinct workers at task " + std::to_string(t) +
                                 " (leave some slack in capacity)");
    for (std::size_t k = 0; k < o; ++k) {
      std::int32_t w;
      std::size_t pos;
      for (;;) {  // rejection of repeats; o is small, so this is a handful of draws
        pos = rs.below(static_cast<std::uint32_t>(avail.size()));
        w = avail[pos];
        bool dup = false;
        for (std::size_t q = 0; q < k; ++q) dup |= worker[t * o + q] == w;
        if (!dup) break;
      }
      task[t * o + k] = static_cast<std::int32_t>(t);
      worker[t * o + k] = w;
      if (c.capacity > 0 && --left[static_cast<std::size_t>(w)] == 0) {
        avail[pos] = avail.back();
        avail.pop_back();
      }
    }
  }
}

const RoundData& Simulator::generate() {
  if (phase_ != 0) throw InvalidArgument("generate() called twice without settle()");
  const auto& c = config_;
  const auto L = static_cast<std::size_t>(c.n_labels);
  const auto n = static_cast<std::size_t>(c.n_tasks);
  const auto r = static_cast<std::uint64_t>(round_);
  RoundData& d = data_;
  d.round = round_;
  d.truth.resize(n);
  d.gold.resize(n);
  d.difficulty.assign(n, 0.0);
  std::vector<double> cdf(L);
  std::partial_sum(c.prior.begin(), c.prior.end(), cdf.begin());
  for (std::size_t t = 0; t < n; ++t) {
    double u = rng::unit(rng::hash(c.seed, r, kTruth, t)) * cdf.back();
    std::size_t k = 0;
    while (k + 1 < L && u >= cdf[k]) ++k;
    d.truth[t] = static_cast<std::int32_t>(k);
    d.gold[t] = rng::unit(rng::hash(c.seed, r, kGold, t)) < c.gold_fraction ? d.truth[t] : -1;
  }
  if (c.difficulty_a > 0) {
    rng::Stream ds(rng::hash(c.seed, r, kDifficulty, 0));
    for (std::size_t t = 0; t < n; ++t) d.difficulty[t] = ds.beta(c.difficulty_a, c.difficulty_b);
  }
  assign_tasks(d.task, d.worker);
  const std::size_t m = d.task.size();
  d.label.resize(m);
  const bool bts = c.mechanism == Mechanism::kBts;
  d.predictions.assign(bts ? m * L : 0, 0.0);
  const auto& P = pop_;
  util::parallel_for(m, c.threads, 1 << 14, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i) {
      auto t = static_cast<std::size_t>(d.task[i]);
      auto w = static_cast<std::size_t>(d.worker[i]);
      auto truth = static_cast<std::size_t>(d.truth[t]);
      std::uint64_t h0 = rng::hash(c.seed, r, kAnswer, i), h1 = rng::mix(h0), h2 = rng::mix(h1), h3 = rng::mix(h2);
      auto signal = [&]() -> std::size_t {
        if (d.difficulty[t] > 0 && rng::unit(h0) < d.difficulty[t]) return rng::below(h1, static_cast<std::uint32_t>(L));
        double u = rng::unit(h2);
        if (!P.confusion.empty()) {
          const double* row = &P.confusion[(w * L + truth) * L];
          std::size_t k = 0;
          for (double acc = row[0]; k + 1 < L && u >= acc; acc += row[++k]) {}
          return k;
        }
        if (u < P.skill[w]) return truth;
        return (truth + 1 + rng::below(h1, static_cast<std::uint32_t>(L - 1))) % L;
      };
      std::size_t lab;
      bool informed = true;
      switch (static_cast<Strategy>(P.strategy[w])) {
        case Strategy::kHonest: lab = signal(); break;
        case Strategy::kEffort:
          if (rng::unit(h3) < P.effort[w]) lab = signal();
          else lab = rng::below(rng::mix(h3), static_cast<std::uint32_t>(L)), informed = false;
          break;
        case Strategy::kRandom: lab = rng::below(h3, static_cast<std::uint32_t>(L)), informed = false; break;
        case Strategy::kConstant: lab = static_cast<std::size_t>(std::max(0, P.target[w])), informed = false; break;
        case Strategy::kAdversarial:
          lab = rng::unit(h3) < P.flip[w] ? static_cast<std::size_t>(std::max(0, P.target[w])) : signal();
          break;
        case Strategy::kColluder:
          lab = P.target[w] >= 0 ? static_cast<std::size_t>(P.target[w])
                                 : rng::below(rng::hash(c.seed, r, kCollude,
                                                        (static_cast<std::uint64_t>(static_cast<std::uint32_t>(P.group[w])) << 32) | t),
                                              static_cast<std::uint32_t>(L));
          informed = false;
          break;
        default: lab = 0;
      }
      d.label[i] = static_cast<std::int32_t>(lab);
      if (bts) {
        double* row = &d.predictions[i * L];
        if (informed) {
          for (std::size_t j = 0; j < L; ++j) row[j] = bts_table_[lab * L + j];
        } else {
          for (std::size_t j = 0; j < L; ++j)
            row[j] = j == lab ? kUninformedPrediction : (1 - kUninformedPrediction) / static_cast<double>(L - 1);
        }
      }
    }
  });
  phase_ = 1;
  return d;
}

void Simulator::infer() {
  if (phase_ != 1) throw InvalidArgument("infer() needs a generated round that is not yet settled");
  if (config_.consensus == "external") throw InvalidArgument("consensus is 'external': call set_posterior()");
  consensus::Options opt;
  opt.n_iter = config_.consensus_iter;
  opt.threads = config_.threads;
  opt.seed = config_.seed ^ static_cast<std::uint64_t>(round_);
  if (config_.clamp_gold) opt.gold = data_.gold;
  auto res = consensus::fit(config_.consensus, data_.view(static_cast<std::int32_t>(pop_.size()), config_.n_labels), opt);
  posterior_ = std::move(res.probas);
  labels_ = std::move(res.labels);
  phase_ = 2;
}

void Simulator::set_posterior(std::span<const double> posterior) {
  if (phase_ != 1 && phase_ != 2) throw InvalidArgument("set_posterior() needs a generated round that is not yet settled");
  const auto L = static_cast<std::size_t>(config_.n_labels);
  const auto n = static_cast<std::size_t>(config_.n_tasks);
  if (posterior.size() != n * L)
    throw InvalidArgument("posterior has " + std::to_string(posterior.size()) + " values, expected " + std::to_string(n * L));
  for (double v : posterior)
    if (!std::isfinite(v) || v < 0 || v > 1 + 1e-9) throw InvalidArgument("posterior values must be in [0, 1]");
  posterior_.assign(posterior.begin(), posterior.end());
  labels_.assign(n, -1);
  for (std::size_t t = 0; t < n; ++t)
    labels_[t] = static_cast<std::int32_t>(std::max_element(&posterior_[t * L], &posterior_[t * L] + L) - &posterior_[t * L]);
  phase_ = 2;
}

RoundStats Simulator::settle() {
  if (phase_ != 2) throw InvalidArgument("settle() needs a round with a posterior (infer() or set_posterior())");
  const auto& c = config_;
  const std::size_t W = pop_.size();
  const auto L = static_cast<std::size_t>(c.n_labels);
  const RoundData& d = data_;
  AnswersView v = d.view(static_cast<std::int32_t>(W), c.n_labels);
  MechanismInputs in = c.mechanism_inputs;
  in.gold = d.gold;
  in.posterior = posterior_;
  in.predictions = d.predictions;
  Scores sc = score(c.mechanism, v, in);
  last_pay_ = to_amounts(sc.score, sc.n_answers, c.base, c.rate, c.budget);

  RoundStats st;
  st.round = round_;
  st.n_answers = static_cast<std::int64_t>(v.n);
  std::vector<std::uint64_t> correct(W, 0), incorrect(W, 0), gc(W, 0), gt(W, 0);
  for (std::size_t i = 0; i < v.n; ++i) {
    auto w = static_cast<std::size_t>(v.worker[i]);
    auto t = static_cast<std::size_t>(v.task[i]);
    std::int32_t ref = d.gold[t] >= 0 ? d.gold[t] : labels_[t];
    if (ref >= 0) (v.label[i] == ref ? correct[w] : incorrect[w])++;
    if (d.gold[t] >= 0) ++gt[w], gc[w] += v.label[i] == d.gold[t];
    st.correct_answers[pop_.strategy[w]] += v.label[i] == d.truth[t];
  }
  std::vector<bool> answered(static_cast<std::size_t>(c.n_tasks), false);
  for (std::size_t i = 0; i < v.n; ++i) answered[static_cast<std::size_t>(v.task[i])] = true;
  std::int64_t n_answered = 0;
  for (std::size_t t = 0; t < answered.size(); ++t)
    if (answered[t]) ++n_answered, st.n_correct += labels_[t] == d.truth[t];
  st.accuracy = n_answered ? static_cast<double>(st.n_correct) / static_cast<double>(n_answered) : 0.0;
  update_reputation(alpha_, beta_, correct, incorrect, c.reputation_decay_bps);
  for (std::size_t w = 0; w < W; ++w) {
    std::size_t s = pop_.strategy[w];
    bool active = stake_[w] >= c.min_stake;
    st.n_active += active;
    st.workers[s] += active;
    st.answers[s] += sc.n_answers[w];
    st.earnings[s] += last_pay_[w];
    st.paid += last_pay_[w];
    earnings_[w] += last_pay_[w];
    st.score[s] += sc.score[w];
    double effort = 0;
    switch (static_cast<Strategy>(s)) {
      case Strategy::kHonest: case Strategy::kAdversarial: effort = 1; break;
      case Strategy::kEffort: effort = pop_.effort[w]; break;
      default: break;
    }
    st.effort_cost[s] += c.effort_cost * effort * static_cast<double>(sc.n_answers[w]);
    if (c.slashing) {
      std::uint64_t cut = slash_amount(stake_[w], gc[w], gt[w], c.slash_threshold_bps, c.slash_share_bps, c.slash_min_control);
      stake_[w] -= cut;
      st.stake_lost[s] += cut;
    }
    st.reputation_bps[s] += reputation_bps(alpha_[w], beta_[w]);
  }
  std::array<std::int64_t, kNumStrategies> all{};
  for (auto s : pop_.strategy) ++all[s];
  for (int s = 0; s < kNumStrategies; ++s)
    if (all[s]) st.reputation_bps[s] /= static_cast<double>(all[s]);
  if (c.adaptation != Adaptation::kNone) adapt(st);
  ++round_;
  phase_ = 0;
  (void)L;
  return st;
}

RoundStats Simulator::step() {
  generate();
  infer();
  return settle();
}

void Simulator::adapt(const RoundStats& st) {
  const auto& c = config_;
  const std::size_t W = pop_.size();
  std::array<double, kNumStrategies> u{};
  std::array<std::int64_t, kNumStrategies> count{};
  for (auto s : pop_.strategy) ++count[s];
  for (int s = 0; s < kNumStrategies; ++s)
    if (st.workers[s] > 0) u[s] = (static_cast<double>(st.earnings[s]) - st.effort_cost[s]) / static_cast<double>(st.workers[s]);
  const auto r = static_cast<std::uint64_t>(round_);
  if (c.adaptation == Adaptation::kBestResponse) {
    int best = -1;
    for (int s = 0; s < kNumStrategies; ++s)
      if (present_[s] && (best < 0 || u[s] > u[best])) best = s;
    for (std::size_t w = 0; w < W; ++w)
      if (pop_.strategy[w] != best && rng::unit(rng::hash(c.seed, r, kAdapt, w)) < c.learning_rate)
        pop_.strategy[w] = static_cast<std::uint8_t>(best);
    return;
  }
  // Exponential replicator step: x'_s ~ x_s exp(eta (u_s - mean u) / scale),
  // utilities normalised by their largest deviation so eta is unit-free.
  double mean = 0, scale = 0;
  for (int s = 0; s < kNumStrategies; ++s) mean += static_cast<double>(count[s]) / static_cast<double>(W) * u[s];
  for (int s = 0; s < kNumStrategies; ++s)
    if (count[s]) scale = std::max(scale, std::abs(u[s] - mean));
  if (scale == 0) return;
  std::array<double, kNumStrategies> x{};
  double z = 0;
  for (int s = 0; s < kNumStrategies; ++s) {
    x[s] = static_cast<double>(count[s]) * std::exp(c.learning_rate * (u[s] - mean) / scale);
    z += x[s];
  }
  // Largest-remainder rounding of the new shares to worker counts.
  std::array<std::int64_t, kNumStrategies> want{};
  std::array<double, kNumStrategies> rem{};
  std::int64_t given = 0;
  for (int s = 0; s < kNumStrategies; ++s) {
    double q = x[s] / z * static_cast<double>(W);
    want[s] = static_cast<std::int64_t>(std::floor(q));
    rem[s] = q - std::floor(q);
    given += want[s];
  }
  while (given < static_cast<std::int64_t>(W)) {
    int best = 0;
    for (int s = 1; s < kNumStrategies; ++s)
      if (rem[s] > rem[best]) best = s;
    ++want[best], rem[best] = -1, ++given;
  }
  // Workers of shrinking strategies, in a seeded random order, move to growing ones.
  std::vector<std::size_t> order(W);
  std::iota(order.begin(), order.end(), 0);
  rng::Stream rs(rng::hash(c.seed, r, kAdapt, ~0ULL));
  for (std::size_t i = W; i > 1; --i) std::swap(order[i - 1], order[rs.below(static_cast<std::uint32_t>(i))]);
  for (std::size_t w : order) {
    int s = pop_.strategy[w];
    if (count[s] <= want[s]) continue;
    for (int s2 = 0; s2 < kNumStrategies; ++s2)
      if (count[s2] < want[s2]) {
        pop_.strategy[w] = static_cast<std::uint8_t>(s2);
        --count[s], ++count[s2];
        break;
      }
  }
}

}  // namespace tagger::sim
