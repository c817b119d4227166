// Anti-fraud rules (see tagger/fraud.h). One thread, input order: the flags
// are a pure function of the input.
#include "tagger/fraud.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <unordered_map>

#include "consensus/common.h"
#include "tagger/errors.h"
#include "util/det_math.h"

namespace tagger::consensus {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double log_pmf(std::int64_t i, std::int64_t n, double lp, double lq) {
  return util::det::lgamma(static_cast<double>(n) + 1) - util::det::lgamma(static_cast<double>(i) + 1) -
         util::det::lgamma(static_cast<double>(n - i) + 1) + static_cast<double>(i) * lp +
         static_cast<double>(n - i) * lq;
}

// Items of each task, as answer rows in input order (a counting sort).
struct ByTask {
  std::vector<std::size_t> start, rows;
  explicit ByTask(const AnswersView& a) : start(static_cast<std::size_t>(a.n_tasks) + 1, 0), rows(a.n) {
    for (std::size_t i = 0; i < a.n; ++i) ++start[static_cast<std::size_t>(a.task[i]) + 1];
    std::partial_sum(start.begin(), start.end(), start.begin());
    std::vector<std::size_t> fill(start.begin(), start.end() - 1);
    for (std::size_t i = 0; i < a.n; ++i) rows[fill[static_cast<std::size_t>(a.task[i])]++] = i;
  }
};

void validate_input(const FraudInput& in) {
  const AnswersView& a = in.answers;
  validate(a);
  const auto T = static_cast<std::size_t>(a.n_tasks), W = static_cast<std::size_t>(a.n_workers);
  if (in.consensus.size() != T)
    throw InvalidArgument("screen_fraud: consensus has " + std::to_string(in.consensus.size()) +
                          " labels for " + std::to_string(T) + " items");
  for (std::size_t t = 0; t < T; ++t)
    if (in.consensus[t] < 0 || in.consensus[t] >= a.n_labels)
      throw InvalidArgument("screen_fraud: the consensus label of item " + std::to_string(t) + " is out of range");
  if (!in.duration.empty()) {
    if (in.duration.size() != a.n)
      throw InvalidArgument("screen_fraud: " + std::to_string(in.duration.size()) + " durations for " +
                            std::to_string(a.n) + " answers");
    for (std::size_t i = 0; i < a.n; ++i)
      if (in.duration[i] < 0 || std::isinf(in.duration[i]))
        throw InvalidArgument("screen_fraud: the duration of answer " + std::to_string(i) +
                              " is negative or infinite (use NaN for unknown)");
  }
  if (!in.gold.empty()) {
    if (in.gold.size() != T) throw InvalidArgument("screen_fraud: gold must have one entry per item");
    for (std::size_t t = 0; t < T; ++t)
      if (in.gold[t] < -1 || in.gold[t] >= a.n_labels)
        throw InvalidArgument("screen_fraud: the control label of item " + std::to_string(t) + " is out of range");
  }
  if (!in.funder.empty() || !in.funded_at.empty()) {
    if (in.funder.size() != W || in.funded_at.size() != W)
      throw InvalidArgument("screen_fraud: funder and funded_at must have one entry per worker");
    for (std::size_t w = 0; w < W; ++w)
      if (in.funder[w] < -1) throw InvalidArgument("screen_fraud: funder indices are -1 or non-negative");
  }
}

void validate_options(const FraudOptions& o) {
  auto in01 = [](double x) { return x > 0 && x < 1; };
  if (!in01(o.alpha)) throw InvalidArgument("screen_fraud: alpha must be in (0, 1)");
  if (!in01(o.fast_ratio)) throw InvalidArgument("screen_fraud: fast_ratio must be in (0, 1)");
  if (!(o.fast_min_share >= 0 && o.fast_min_share <= 1)) throw InvalidArgument("screen_fraud: fast_min_share must be in [0, 1]");
  if (!(o.control_min_accuracy >= 0 && o.control_min_accuracy < 1))
    throw InvalidArgument("screen_fraud: control_min_accuracy must be in [0, 1) (0: relative to chance)");
  if (!(o.spam_margin >= 0 && o.spam_margin < 1)) throw InvalidArgument("screen_fraud: spam_margin must be in [0, 1)");
  if (!(o.constant_share > 0 && o.constant_share <= 1)) throw InvalidArgument("screen_fraud: constant_share must be in (0, 1]");
  if (o.min_item_durations < 1 || o.min_shared < 1 || o.min_answers < 1 || o.sybil_min_accounts < 2 || o.sybil_window < 0)
    throw InvalidArgument("screen_fraud: min_item_durations, min_shared, min_answers must be >= 1, "
                          "sybil_min_accounts >= 2 and sybil_window >= 0");
}

// Every per-worker rule ends the same way: Holm-adjust the tested entries of
// p (NaN = not tested) in place, and flag those below alpha.
std::vector<std::uint8_t> holm_flags(std::vector<double>& p, double alpha) {
  std::vector<double> tested;
  std::vector<std::size_t> where;
  for (std::size_t i = 0; i < p.size(); ++i)
    if (!std::isnan(p[i])) { tested.push_back(p[i]); where.push_back(i); }
  const std::vector<double> adj = holm(tested);
  std::vector<std::uint8_t> flag(p.size(), 0);
  for (std::size_t j = 0; j < where.size(); ++j) {
    p[where[j]] = adj[j];
    flag[where[j]] = adj[j] < alpha;
  }
  return flag;
}

void fast_rule(const FraudInput& in, const FraudOptions& o, const ByTask& by, FraudReport& r) {
  const AnswersView& a = in.answers;
  const auto W = static_cast<std::size_t>(a.n_workers);
  r.n_timed.assign(W, 0);
  r.n_fast.assign(W, 0);
  r.fast_p.assign(W, kNaN);
  r.fast.assign(W, 0);
  if (in.duration.empty()) return;
  std::vector<double> d;
  for (std::size_t t = 0; t + 1 < by.start.size(); ++t) {
    d.clear();
    for (std::size_t j = by.start[t]; j < by.start[t + 1]; ++j)
      if (!std::isnan(in.duration[by.rows[j]])) d.push_back(in.duration[by.rows[j]]);
    if (d.size() < static_cast<std::size_t>(o.min_item_durations)) continue;
    std::sort(d.begin(), d.end());
    const std::size_t m = d.size();
    const double median = m % 2 ? d[m / 2] : 0.5 * (d[m / 2 - 1] + d[m / 2]);
    for (std::size_t j = by.start[t]; j < by.start[t + 1]; ++j) {
      const std::size_t i = by.rows[j];
      if (std::isnan(in.duration[i])) continue;
      const auto w = static_cast<std::size_t>(a.worker[i]);
      ++r.n_timed[w];
      if (in.duration[i] < o.fast_ratio * median) ++r.n_fast[w];
    }
  }
  // The typical rate: the lower median of the workers' fast shares, robust to
  // fewer than half of the workers being bots; floored so that a population
  // that is never fast does not make one quick answer significant.
  std::vector<double> shares;
  for (std::size_t w = 0; w < W; ++w)
    if (r.n_timed[w] >= o.min_answers) shares.push_back(static_cast<double>(r.n_fast[w]) / r.n_timed[w]);
  if (shares.empty()) return;
  std::sort(shares.begin(), shares.end());
  r.fast_base_rate = std::max(shares[(shares.size() - 1) / 2], 0.01);
  for (std::size_t w = 0; w < W; ++w)
    if (r.n_timed[w] >= o.min_answers) r.fast_p[w] = binomial_upper(r.n_fast[w], r.n_timed[w], r.fast_base_rate);
  r.fast = holm_flags(r.fast_p, o.alpha);
  for (std::size_t w = 0; w < W; ++w) r.fast[w] = r.fast[w] && r.n_fast[w] >= o.fast_min_share * r.n_timed[w];
}

void control_rule(const FraudInput& in, const FraudOptions& o, FraudReport& r) {
  const AnswersView& a = in.answers;
  const auto W = static_cast<std::size_t>(a.n_workers);
  r.n_control.assign(W, 0);
  r.n_control_correct.assign(W, 0);
  r.control_p.assign(W, kNaN);
  r.control_fail.assign(W, 0);
  if (in.gold.empty()) return;
  for (std::size_t i = 0; i < a.n; ++i) {
    const std::int32_t g = in.gold[static_cast<std::size_t>(a.task[i])];
    if (g < 0) continue;
    const auto w = static_cast<std::size_t>(a.worker[i]);
    ++r.n_control[w];
    r.n_control_correct[w] += a.label[i] == g;
  }
  const double chance = 1.0 / a.n_labels;
  const double floor = o.control_min_accuracy > 0 ? o.control_min_accuracy : chance + o.spam_margin * (1 - chance);
  for (std::size_t w = 0; w < W; ++w)
    if (r.n_control[w] > 0) r.control_p[w] = binomial_lower(r.n_control_correct[w], r.n_control[w], floor);
  r.control_fail = holm_flags(r.control_p, o.alpha);
}

// Worker x consensus x label counts, the basis of the spam and collusion rules.
std::vector<std::int32_t> confusion_counts(const FraudInput& in) {
  const AnswersView& a = in.answers;
  const auto K = static_cast<std::size_t>(a.n_labels);
  std::vector<std::int32_t> c(static_cast<std::size_t>(a.n_workers) * K * K, 0);
  for (std::size_t i = 0; i < a.n; ++i) {
    const auto w = static_cast<std::size_t>(a.worker[i]);
    const auto k = static_cast<std::size_t>(in.consensus[static_cast<std::size_t>(a.task[i])]);
    ++c[(w * K + k) * K + static_cast<std::size_t>(a.label[i])];
  }
  return c;
}

void spam_rule(const FraudInput& in, const FraudOptions& o, const std::vector<std::int32_t>& conf, FraudReport& r) {
  const AnswersView& a = in.answers;
  const auto W = static_cast<std::size_t>(a.n_workers), K = static_cast<std::size_t>(a.n_labels);
  r.agreement.assign(W, kNaN);
  r.chance.assign(W, kNaN);
  r.spam_p.assign(W, kNaN);
  r.top_label_share.assign(W, kNaN);
  r.spammer.assign(W, 0);
  r.constant.assign(W, 0);
  std::vector<double> given(K), truth(K);
  for (std::size_t w = 0; w < W; ++w) {
    const std::int32_t n = r.n_answers[w];
    if (n == 0) continue;
    std::fill(given.begin(), given.end(), 0.0);
    std::fill(truth.begin(), truth.end(), 0.0);
    std::int64_t agree = 0;
    for (std::size_t k = 0; k < K; ++k)
      for (std::size_t l = 0; l < K; ++l) {
        const double x = conf[(w * K + k) * K + l];
        truth[k] += x;
        given[l] += x;
        if (k == l) agree += conf[(w * K + k) * K + l];
      }
    double chance = 0, top = 0;
    for (std::size_t k = 0; k < K; ++k) {
      chance += (given[k] / n) * (truth[k] / n);
      top = std::max(top, given[k] / n);
    }
    r.agreement[w] = static_cast<double>(agree) / n;
    r.chance[w] = chance;
    r.top_label_share[w] = top;
    if (n >= o.min_answers)
      r.spam_p[w] = binomial_lower(agree, n, chance + o.spam_margin * (1 - chance));
  }
  r.spammer = holm_flags(r.spam_p, o.alpha);
  for (std::size_t w = 0; w < W; ++w) r.constant[w] = r.spammer[w] && r.top_label_share[w] >= o.constant_share;
}

std::int32_t find_root(std::vector<std::int32_t>& parent, std::int32_t x) {
  while (parent[static_cast<std::size_t>(x)] != x) {
    parent[static_cast<std::size_t>(x)] = parent[static_cast<std::size_t>(parent[static_cast<std::size_t>(x)])];
    x = parent[static_cast<std::size_t>(x)];
  }
  return x;
}

void collusion_rule(const FraudInput& in, const FraudOptions& o, const ByTask& by,
                    const std::vector<std::int32_t>& conf, FraudReport& r) {
  const AnswersView& a = in.answers;
  const auto W = static_cast<std::size_t>(a.n_workers), K = static_cast<std::size_t>(a.n_labels);
  r.collusion_p.assign(W, kNaN);
  r.collusion_group.assign(W, -1);
  r.colluder.assign(W, 0);
  // Copying shows as the same wrong answers: honest workers agree on the
  // right label all the time, and conditioning on a consensus they made
  // themselves makes that agreement look dependent, but they rarely share a
  // wrong label. Under the null the two answer independently given the
  // consensus label k, each by its own confusion with consensus: the same
  // label l != k with probability sum_{l != k} P_a(l | k) P_b(l | k). Add-one
  // smoothing overstates the off-diagonal of a good worker's few errors,
  // which keeps the test conservative for honest pairs.
  std::vector<double> given(W * K * K);
  for (std::size_t w = 0; w < W; ++w)
    for (std::size_t k = 0; k < K; ++k) {
      double row = 0;
      for (std::size_t l = 0; l < K; ++l) row += conf[(w * K + k) * K + l];
      for (std::size_t l = 0; l < K; ++l)
        given[(w * K + k) * K + l] = (conf[(w * K + k) * K + l] + 1.0) / (row + static_cast<double>(K));
    }
  // Pairs in order of first co-occurrence: deterministic indices.
  std::unordered_map<std::uint64_t, std::int32_t> index;
  std::vector<std::int32_t> shared;
  std::vector<std::pair<std::int32_t, std::int32_t>> who;
  auto each_pair = [&](auto&& fn) {
    for (std::size_t t = 0; t + 1 < by.start.size(); ++t)
      for (std::size_t x = by.start[t]; x < by.start[t + 1]; ++x)
        for (std::size_t y = x + 1; y < by.start[t + 1]; ++y) {
          std::size_t i = by.rows[x], j = by.rows[y];
          if (a.worker[i] == a.worker[j]) continue;
          if (a.worker[i] > a.worker[j]) std::swap(i, j);
          fn(t, i, j);
        }
  };
  each_pair([&](std::size_t, std::size_t i, std::size_t j) {
    const std::uint64_t key = static_cast<std::uint64_t>(a.worker[i]) * W + static_cast<std::uint64_t>(a.worker[j]);
    auto [it, fresh] = index.try_emplace(key, static_cast<std::int32_t>(shared.size()));
    if (fresh) { shared.push_back(0); who.emplace_back(a.worker[i], a.worker[j]); }
    ++shared[static_cast<std::size_t>(it->second)];
  });
  // Tested pairs get a slot in a CSR of their items' null probabilities.
  const std::size_t P = shared.size();
  std::vector<std::int64_t> slot(P, -1);
  std::vector<std::size_t> start(1, 0);
  std::vector<std::size_t> tested;
  for (std::size_t p = 0; p < P; ++p)
    if (shared[p] >= o.min_shared) {
      slot[p] = static_cast<std::int64_t>(tested.size());
      tested.push_back(p);
      start.push_back(start.back() + static_cast<std::size_t>(shared[p]));
    }
  r.n_pairs_tested = static_cast<std::int64_t>(tested.size());
  std::vector<double> null(start.back());
  std::vector<std::size_t> fill(start.begin(), start.end() - 1);
  std::vector<std::int32_t> same(tested.size(), 0), same_wrong(tested.size(), 0);
  std::vector<double> expected(tested.size(), 0.0);
  each_pair([&](std::size_t t, std::size_t i, std::size_t j) {
    const std::uint64_t key = static_cast<std::uint64_t>(a.worker[i]) * W + static_cast<std::uint64_t>(a.worker[j]);
    const std::int64_t s = slot[static_cast<std::size_t>(index.at(key))];
    if (s < 0) return;
    const auto k = static_cast<std::size_t>(in.consensus[t]);
    const double* pi = &given[(static_cast<std::size_t>(a.worker[i]) * K + k) * K];
    const double* pj = &given[(static_cast<std::size_t>(a.worker[j]) * K + k) * K];
    double q = 0;
    for (std::size_t l = 0; l < K; ++l)
      if (l != k) q += pi[l] * pj[l];
    null[fill[static_cast<std::size_t>(s)]++] = q;
    expected[static_cast<std::size_t>(s)] += q;
    same[static_cast<std::size_t>(s)] += a.label[i] == a.label[j];
    same_wrong[static_cast<std::size_t>(s)] += a.label[i] == a.label[j] && static_cast<std::size_t>(a.label[i]) != k;
  });
  std::vector<double> p(tested.size());
  for (std::size_t s = 0; s < tested.size(); ++s)
    p[s] = poisson_binomial_upper(same_wrong[s], std::span<const double>(null.data() + start[s], start[s + 1] - start[s]));
  const std::vector<double> adj = holm(p);
  std::vector<std::int32_t> parent(W);
  std::iota(parent.begin(), parent.end(), 0);
  for (std::size_t s = 0; s < tested.size(); ++s) {
    const auto [wa, wb] = who[tested[s]];
    for (std::int32_t w : {wa, wb}) {
      double& best = r.collusion_p[static_cast<std::size_t>(w)];
      if (std::isnan(best) || adj[s] < best) best = adj[s];
    }
    if (!(adj[s] < o.alpha)) continue;
    r.pairs.push_back({wa, wb, shared[tested[s]], same[s], same_wrong[s], expected[s], p[s], adj[s]});
    r.colluder[static_cast<std::size_t>(wa)] = r.colluder[static_cast<std::size_t>(wb)] = 1;
    const std::int32_t ra = find_root(parent, wa), rb = find_root(parent, wb);
    if (ra != rb) parent[static_cast<std::size_t>(std::max(ra, rb))] = std::min(ra, rb);
  }
  // The root is the smallest index of its component: unions always keep the smaller root.
  for (std::size_t w = 0; w < W; ++w)
    if (r.colluder[w]) r.collusion_group[w] = find_root(parent, static_cast<std::int32_t>(w));
  std::stable_sort(r.pairs.begin(), r.pairs.end(), [](const CollusionPair& x, const CollusionPair& y) {
    return x.p_adjusted < y.p_adjusted;
  });
}

void sybil_rule(const FraudInput& in, const FraudOptions& o, FraudReport& r) {
  const auto W = static_cast<std::size_t>(in.answers.n_workers);
  r.sybil_funder.assign(W, -1);
  r.sybil.assign(W, 0);
  if (in.funder.empty()) return;
  std::vector<std::size_t> order;
  for (std::size_t w = 0; w < W; ++w)
    if (in.funder[w] >= 0 && r.n_answers[w] > 0) order.push_back(w);
  std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) {
    if (in.funder[x] != in.funder[y]) return in.funder[x] < in.funder[y];
    if (in.funded_at[x] != in.funded_at[y]) return in.funded_at[x] < in.funded_at[y];
    return x < y;
  });
  // A window of sybil_min_accounts consecutive fundings by one funder within
  // sybil_window blocks flags every account in it.
  const auto m = static_cast<std::size_t>(o.sybil_min_accounts);
  for (std::size_t i = 0; i + m <= order.size(); ++i) {
    const std::size_t first = order[i], last = order[i + m - 1];
    if (in.funder[first] != in.funder[last] || in.funded_at[last] - in.funded_at[first] > o.sybil_window) continue;
    for (std::size_t j = i; j < i + m; ++j) {
      r.sybil[order[j]] = 1;
      r.sybil_funder[order[j]] = in.funder[first];
    }
  }
}

}  // namespace

double binomial_upper(std::int64_t k, std::int64_t n, double p) {
  if (n < 0 || !(p >= 0 && p <= 1)) throw InvalidArgument("binomial_upper: needs n >= 0 and p in [0, 1]");
  if (k <= 0) return 1;
  if (k > n) return 0;
  if (p == 0) return 0;
  if (p == 1) return 1;
  const double lp = util::det::log(p), lq = util::det::log1p(-p);
  double s = 0;
  for (std::int64_t i = k; i <= n; ++i) s += util::det::exp(log_pmf(i, n, lp, lq));
  return std::min(s, 1.0);
}

double binomial_lower(std::int64_t k, std::int64_t n, double p) {
  if (n < 0 || !(p >= 0 && p <= 1)) throw InvalidArgument("binomial_lower: needs n >= 0 and p in [0, 1]");
  if (k < 0) return 0;
  if (k >= n) return 1;
  if (p == 0) return 1;
  if (p == 1) return 0;
  const double lp = util::det::log(p), lq = util::det::log1p(-p);
  double s = 0;
  for (std::int64_t i = 0; i <= k; ++i) s += util::det::exp(log_pmf(i, n, lp, lq));
  return std::min(s, 1.0);
}

double poisson_binomial_upper(std::int64_t k, std::span<const double> p) {
  if (k <= 0) return 1;
  if (static_cast<std::size_t>(k) > p.size()) return 0;
  // dist[j]: P(S = j) for j < k; dist[k] absorbs P(S >= k).
  std::vector<double> dist(static_cast<std::size_t>(k) + 1, 0.0);
  dist[0] = 1;
  for (double q : p) {
    if (!(q >= 0 && q <= 1)) throw InvalidArgument("poisson_binomial_upper: probabilities must be in [0, 1]");
    const auto K = static_cast<std::size_t>(k);
    dist[K] += dist[K - 1] * q;
    for (std::size_t j = K - 1; j > 0; --j) dist[j] = dist[j] * (1 - q) + dist[j - 1] * q;
    dist[0] *= 1 - q;
  }
  return std::min(dist.back(), 1.0);
}

std::vector<double> holm(std::span<const double> p) {
  const std::size_t m = p.size();
  std::vector<std::size_t> order(m);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return p[x] < p[y]; });
  std::vector<double> adj(m);
  double running = 0;
  for (std::size_t r = 0; r < m; ++r) {
    running = std::max(running, std::min(1.0, static_cast<double>(m - r) * p[order[r]]));
    adj[order[r]] = running;
  }
  return adj;
}

FraudReport screen_fraud(const FraudInput& in, const FraudOptions& opt) {
  validate_options(opt);
  validate_input(in);
  const AnswersView& a = in.answers;
  FraudReport r;
  r.n_answers.assign(static_cast<std::size_t>(a.n_workers), 0);
  for (std::size_t i = 0; i < a.n; ++i) ++r.n_answers[static_cast<std::size_t>(a.worker[i])];
  const ByTask by(a);
  const std::vector<std::int32_t> conf = confusion_counts(in);
  fast_rule(in, opt, by, r);
  control_rule(in, opt, r);
  spam_rule(in, opt, conf, r);
  collusion_rule(in, opt, by, conf, r);
  sybil_rule(in, opt, r);
  return r;
}

}  // namespace tagger::consensus
