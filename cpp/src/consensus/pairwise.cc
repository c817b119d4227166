// Bradley-Terry by Hunter's MM iteration and noisy Bradley-Terry by L-BFGS.
// crowd-kit 1.4.2 differs on purpose here (docs/consensus.md, "Pairwise"):
// its BT loop compares p_new with itself (p_old aliases p_new) and so always
// stops after two iterations, and its noisy BT gradient writes the worker
// terms one slot off; both converge here. Two MM iterations reproduce
// crowd-kit's BT scores exactly.
#include <algorithm>
#include <cmath>
#include <deque>
#include <string>

#include "tagger/consensus_families.h"
#include "tagger/errors.h"

namespace tagger::consensus {
namespace {

void check_pairs(std::span<const std::int32_t> left, std::span<const std::int32_t> right,
                 std::span<const std::uint8_t> left_won, std::int32_t n_items) {
  if (right.size() != left.size() || left_won.size() != left.size())
    throw InvalidArgument("pairwise: left, right and left_won must have the same length");
  if (n_items < 0) throw InvalidArgument("pairwise: n_items must be >= 0");
  for (std::size_t k = 0; k < left.size(); ++k)
    if (left[k] < 0 || left[k] >= n_items || right[k] < 0 || right[k] >= n_items)
      throw InvalidArgument("pairwise: item code out of range at row " + std::to_string(k));
}

double sigmoid(double z) { return z >= 0 ? 1.0 / (1.0 + std::exp(-z)) : std::exp(z) / (1.0 + std::exp(z)); }
// log(sigmoid(z)) without overflow.
double log_sigmoid(double z) { return z >= 0 ? -std::log1p(std::exp(-z)) : z - std::log1p(std::exp(z)); }

struct NoisyData {
  std::span<const std::int32_t> left, right, worker;
  std::span<const std::uint8_t> left_won;
  std::int32_t n_items, n_workers;
  double reg;
};

// Objective and gradient of the noisy BT negative log-likelihood plus penalty.
double noisy_eval(const NoisyData& d, const std::vector<double>& x, std::vector<double>* grad) {
  const std::size_t L = static_cast<std::size_t>(d.n_items), W = static_cast<std::size_t>(d.n_workers);
  if (grad) std::fill(grad->begin(), grad->end(), 0.0);
  double f = 0;
  for (std::size_t k = 0; k < d.left.size(); ++k) {
    const std::size_t i = 1 + static_cast<std::size_t>(d.left[k]), j = 1 + static_cast<std::size_t>(d.right[k]);
    const std::size_t w = static_cast<std::size_t>(d.worker[k]);
    const double y = d.left_won[k] ? 1.0 : -1.0;
    const std::size_t qi = 1 + L + w, gi = 1 + L + W + w;
    const double a = sigmoid(x[gi]), b = sigmoid(y * (x[i] - x[j])), c = sigmoid(y * x[qi]);
    const double lik = a * b + (1 - a) * c;
    f -= std::log(lik);
    if (grad) {
      auto& g = *grad;
      const double dd = a * b * (1 - b) * y / lik;
      g[i] -= dd;
      g[j] += dd;
      g[qi] -= (1 - a) * c * (1 - c) * y / lik;
      g[gi] -= a * (1 - a) * (b - c) / lik;
    }
  }
  for (std::size_t i = 1; i <= L; ++i) {
    const double z = x[i] - x[0];
    f -= d.reg * (log_sigmoid(-z) + log_sigmoid(z));
    if (grad) {
      const double t = d.reg * std::tanh(z / 2);
      (*grad)[i] += t;
      (*grad)[0] -= t;
    }
  }
  return f;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Unbounded L-BFGS (10 corrections, as scipy's default) with a backtracking
// Armijo line search; stops as scipy's L-BFGS-B does: relative decrease
// <= ftol, or max |gradient| <= 1e-5, or n_iter iterations.
template <class F>
std::vector<double> lbfgs(F&& eval, std::vector<double> x, std::int32_t n_iter, double ftol, PairwiseResult& r) {
  const std::size_t n = x.size(), m = 10;
  std::vector<double> g(n), g_new(n), dir(n), x_new(n);
  double f = eval(x, &g);
  std::deque<std::vector<double>> S, Y;
  std::deque<double> rho;
  std::vector<double> alpha(m);
  for (std::int32_t it = 0; it < n_iter; ++it) {
    double gmax = 0;
    for (double v : g) gmax = std::max(gmax, std::abs(v));
    if (gmax <= 1e-5) { r.converged = true; break; }
    // Two-loop recursion: dir = -H g.
    dir = g;
    for (std::size_t k = S.size(); k-- > 0;) {
      alpha[k] = rho[k] * dot(S[k], dir);
      for (std::size_t i = 0; i < n; ++i) dir[i] -= alpha[k] * Y[k][i];
    }
    const double gamma = S.empty() ? 1.0 / std::max(1.0, std::sqrt(dot(g, g))) : dot(S.back(), Y.back()) / dot(Y.back(), Y.back());
    for (double& v : dir) v *= gamma;
    for (std::size_t k = 0; k < S.size(); ++k) {
      const double beta = rho[k] * dot(Y[k], dir);
      for (std::size_t i = 0; i < n; ++i) dir[i] += S[k][i] * (alpha[k] - beta);
    }
    for (double& v : dir) v = -v;
    double slope = dot(g, dir);
    if (slope >= 0) {  // not a descent direction: restart from steepest descent
      S.clear(); Y.clear(); rho.clear();
      for (std::size_t i = 0; i < n; ++i) dir[i] = -g[i];
      slope = -dot(g, g);
    }
    double step = 1.0, f_new = 0;
    bool ok = false;
    for (int ls = 0; ls < 40; ++ls) {
      for (std::size_t i = 0; i < n; ++i) x_new[i] = x[i] + step * dir[i];
      f_new = eval(x_new, &g_new);
      if (std::isfinite(f_new) && f_new <= f + 1e-4 * step * slope) { ok = true; break; }
      step *= 0.5;
    }
    r.n_iter = it + 1;
    if (!ok) { r.converged = true; break; }  // no decrease possible at machine precision
    std::vector<double> s(n), y(n);
    for (std::size_t i = 0; i < n; ++i) { s[i] = x_new[i] - x[i]; y[i] = g_new[i] - g[i]; }
    const double sy = dot(s, y);
    if (sy > 1e-10 * dot(y, y)) {
      if (S.size() == m) { S.pop_front(); Y.pop_front(); rho.pop_front(); }
      S.push_back(std::move(s)); Y.push_back(std::move(y)); rho.push_back(1.0 / sy);
    }
    const double f_old = f;
    x.swap(x_new);
    g.swap(g_new);
    f = f_new;
    r.loss_history.push_back(f);
    if ((f_old - f) / std::max({std::abs(f_old), std::abs(f), 1.0}) <= ftol) { r.converged = true; break; }
  }
  return x;
}

NoisyData noisy_data(std::span<const std::int32_t> left, std::span<const std::int32_t> right,
                     std::span<const std::uint8_t> left_won, std::span<const std::int32_t> worker, std::int32_t n_items,
                     std::int32_t n_workers, std::size_t x_size, double reg) {
  check_pairs(left, right, left_won, n_items);
  if (worker.size() != left.size()) throw InvalidArgument("noisy_bradley_terry: worker must have one code per comparison");
  if (n_workers < 0) throw InvalidArgument("noisy_bradley_terry: n_workers must be >= 0");
  for (std::size_t k = 0; k < worker.size(); ++k)
    if (worker[k] < 0 || worker[k] >= n_workers)
      throw InvalidArgument("noisy_bradley_terry: worker code out of range at row " + std::to_string(k));
  const std::size_t want = 1 + static_cast<std::size_t>(n_items) + 2 * static_cast<std::size_t>(n_workers);
  if (x_size != want)
    throw InvalidArgument("noisy_bradley_terry: x must have 1 + n_items + 2 n_workers = " + std::to_string(want) + " values");
  return {left, right, worker, left_won, n_items, n_workers, reg};
}

}  // namespace

PairwiseResult bradley_terry(std::span<const std::int32_t> left, std::span<const std::int32_t> right,
                             std::span<const std::uint8_t> left_won, std::int32_t n_items, std::int32_t n_iter,
                             double tol) {
  check_pairs(left, right, left_won, n_items);
  if (n_iter < 0) throw InvalidArgument("bradley_terry: n_iter must be >= 0");
  PairwiseResult r;
  const std::size_t n = static_cast<std::size_t>(n_items);
  r.scores.assign(n, n ? 1.0 / static_cast<double>(n) : 0.0);
  if (n == 0) return r;
  // Sparse T_ij = comparisons between i and j (either order), w_i = wins of i.
  std::vector<double> wins(n, 0.0);
  std::vector<std::vector<std::pair<std::int32_t, double>>> adj(n);
  {
    std::vector<std::pair<std::uint64_t, std::int32_t>> keys;
    keys.reserve(left.size());
    for (std::size_t k = 0; k < left.size(); ++k) {
      if (left[k] == right[k]) continue;  // an item against itself carries no information (T_ii unused)
      const std::int32_t winner = left_won[k] ? left[k] : right[k];
      wins[static_cast<std::size_t>(winner)] += 1;
      const auto lo = static_cast<std::uint64_t>(std::min(left[k], right[k])), hi = static_cast<std::uint64_t>(std::max(left[k], right[k]));
      keys.push_back({lo * n + hi, 1});
    }
    std::sort(keys.begin(), keys.end());
    for (std::size_t k = 0; k < keys.size();) {
      std::size_t e = k;
      while (e < keys.size() && keys[e].first == keys[k].first) ++e;
      const auto i = static_cast<std::int32_t>(keys[k].first / n), j = static_cast<std::int32_t>(keys[k].first % n);
      const double t = static_cast<double>(e - k);
      adj[static_cast<std::size_t>(i)].push_back({j, t});
      adj[static_cast<std::size_t>(j)].push_back({i, t});
      k = e;
    }
  }
  std::vector<double> p(n, 1.0), p_new(n);
  for (std::int32_t it = 0; it < n_iter; ++it) {
    double total = 0;
    for (std::size_t i = 0; i < n; ++i) {
      double z = 0;
      for (auto [j, t] : adj[i]) z += t / (p[i] + p[static_cast<std::size_t>(j)]);
      p_new[i] = wins[i] / z;  // an item never compared gets 0/0 = NaN, as in crowd-kit
      total += p_new[i];
    }
    for (double& v : p_new) v /= total;
    r.n_iter = it + 1;
    if (it > 0) {
      double loss = 0;
      for (std::size_t i = 0; i < n; ++i) loss += std::abs(p_new[i] - p[i]);
      r.loss_history.push_back(loss);
      p.swap(p_new);
      if (loss < tol) { r.converged = true; break; }
    } else {
      p.swap(p_new);
    }
  }
  r.scores = std::move(p);
  if (n_iter == 0) std::fill(r.scores.begin(), r.scores.end(), 1.0 / static_cast<double>(n));
  return r;
}

PairwiseResult noisy_bradley_terry(std::span<const std::int32_t> left, std::span<const std::int32_t> right,
                                   std::span<const std::uint8_t> left_won, std::span<const std::int32_t> worker,
                                   std::int32_t n_items, std::int32_t n_workers, std::span<const double> x0,
                                   std::int32_t n_iter, double tol, double regularization) {
  const NoisyData d = noisy_data(left, right, left_won, worker, n_items, n_workers, x0.size(), regularization);
  PairwiseResult r;
  auto eval = [&](const std::vector<double>& x, std::vector<double>* g) { return noisy_eval(d, x, g); };
  std::vector<double> x = lbfgs(eval, std::vector<double>(x0.begin(), x0.end()), n_iter, tol, r);
  const std::size_t L = static_cast<std::size_t>(n_items), W = static_cast<std::size_t>(n_workers);
  for (std::size_t i = 0; i < L; ++i) r.scores.push_back(sigmoid(x[1 + i]));
  for (std::size_t w = 0; w < W; ++w) r.biases.push_back(sigmoid(x[1 + L + w]));
  for (std::size_t w = 0; w < W; ++w) r.skills.push_back(sigmoid(x[1 + L + W + w]));
  return r;
}

double noisy_bradley_terry_objective(std::span<const std::int32_t> left, std::span<const std::int32_t> right,
                                     std::span<const std::uint8_t> left_won, std::span<const std::int32_t> worker,
                                     std::int32_t n_items, std::int32_t n_workers, std::span<const double> x,
                                     double regularization) {
  const NoisyData d = noisy_data(left, right, left_won, worker, n_items, n_workers, x.size(), regularization);
  return noisy_eval(d, std::vector<double>(x.begin(), x.end()), nullptr);
}

}  // namespace tagger::consensus
