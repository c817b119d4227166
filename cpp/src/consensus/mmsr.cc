// M-MSR (Ma & Olshevsky, NeurIPS 2020) as crowd-kit 1.4 runs it; see
// tagger/consensus_crowdkit.h. Dense W x W matrices (worker pairs).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <Eigen/Dense>
#include <Eigen/Sparse>
#include <Eigen/SparseCholesky>

#include "consensus/common.h"
#include "tagger/consensus_crowdkit.h"
#include "tagger/errors.h"

namespace tagger::consensus {
namespace {

double sign(double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0; }

// Python's y[start:stop] bounds for a list of length n (negative indices count from the end).
std::pair<std::size_t, std::size_t> py_slice(std::int64_t start, std::int64_t stop, std::int64_t n) {
  auto norm = [n](std::int64_t i) { return std::clamp<std::int64_t>(i < 0 ? i + n : i, 0, n); };
  const std::int64_t b = norm(start), e = norm(stop);
  return {static_cast<std::size_t>(b), static_cast<std::size_t>(std::max(b, e))};
}

// crowd-kit's _remove_largest_and_smallest_F_value. y holds |C| / u, which is NaN (0 / 0) where a
// worker's u or v has reached 0; np.sort puts NaN last, and std::sort needs a strict weak order
// (a plain < with NaN is undefined behaviour), so NaN sorts after every number, as in numpy.
std::vector<double> trim(std::vector<double> y, std::int64_t F, double a, std::int32_t n_tasks) {
  std::sort(y.begin(), y.end(), [](double l, double r) { return l < r || (std::isnan(r) && !std::isnan(l)); });
  const auto below = std::count_if(y.begin(), y.end(), [a](double x) { return x < a; });
  if (below < F) {
    y.erase(std::remove_if(y.begin(), y.end(), [a](double x) { return !(x >= a); }), y.end());
  } else {
    auto [b, e] = py_slice(F, static_cast<std::int64_t>(y.size()), static_cast<std::int64_t>(y.size()));
    y = std::vector<double>(y.begin() + static_cast<std::ptrdiff_t>(b), y.begin() + static_cast<std::ptrdiff_t>(e));
  }
  const std::int64_t m = static_cast<std::int64_t>(y.size());
  const auto above = std::count_if(y.begin(), y.end(), [a](double x) { return x > a; });
  if (above < F) {
    y.erase(std::remove_if(y.begin(), y.end(), [a](double x) { return !(x <= a); }), y.end());
  } else {
    auto [b, e] = py_slice(0, m - F, m);
    y = std::vector<double>(y.begin() + static_cast<std::ptrdiff_t>(b), y.begin() + static_cast<std::ptrdiff_t>(e));
  }
  if (y.size() == 1 && y[0] == 0) y[0] = 1.0 / std::sqrt(static_cast<double>(n_tasks));
  return y;
}

// numpy's mean: pairwise summation (blocks of 8 unrolled below 128 elements).
double np_sum(const double* x, std::size_t n) {
  if (n < 8) {
    double s = 0;
    for (std::size_t i = 0; i < n; ++i) s += x[i];
    return s;
  }
  if (n <= 128) {
    double r[8];
    for (int k = 0; k < 8; ++k) r[k] = x[k];
    std::size_t i = 8;
    for (; i + 8 <= n; i += 8)
      for (int k = 0; k < 8; ++k) r[k] += x[i + k];
    double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) s += x[i];
    return s;
  }
  std::size_t half = n / 2;
  half -= half % 8;
  return np_sum(x, half) + np_sum(x + half, n - half);
}

// sign determination: the signs of the eigenvector of W + I with the smallest
// eigenvalue, W the random walk on the workers' signed graph where a positive
// pair is joined through an extra node (crowd-kit's _sign_determination_valid).
std::vector<double> sign_determination(const std::vector<double>& C, std::int32_t n, const std::vector<double>& s_abs) {
  std::vector<std::int32_t> valid;
  for (std::int32_t i = 0; i < n; ++i) {
    double row = 0;
    for (std::int32_t j = 0; j < n; ++j) row += C[static_cast<std::size_t>(i) * n + j];
    if (row != 0) valid.push_back(i);
  }
  const std::size_t k = valid.size();
  std::vector<std::pair<std::size_t, std::size_t>> pos;  // positive pairs i <= j, row-major
  for (std::size_t a = 0; a < k; ++a)
    for (std::size_t b = a; b < k; ++b)
      if (sign(C[static_cast<std::size_t>(valid[a]) * n + valid[b]]) == 1) pos.emplace_back(a, b);
  const std::size_t m = pos.size(), N = k + m;
  // A (symmetric): |S| on worker pairs of negative sign (and the diagonal),
  // each positive pair (i, j) a new node joined to i and j.
  std::vector<Eigen::Triplet<double>> trip;
  std::vector<double> deg(N, 0.0);
  auto add = [&](std::size_t r, std::size_t c2, double x) {
    trip.emplace_back(static_cast<int>(r), static_cast<int>(c2), x);
    deg[r] += x;
  };
  for (std::size_t a = 0; a < k; ++a)
    for (std::size_t b = 0; b < k; ++b) {
      const double s = sign(C[static_cast<std::size_t>(valid[a]) * n + valid[b]]);
      if (s != 1 && s != 0) add(a, b, 1.0);
    }
  for (std::size_t p = 0; p < m; ++p)
    for (std::size_t end : {pos[p].first, pos[p].second}) {
      add(k + p, end, 1.0);
      add(end, k + p, 1.0);
    }
  // D^-1 A is similar to the symmetric D^-1/2 A D^-1/2 (eigenvectors map by
  // D^-1/2, signs kept); W + I's smallest eigenvalue (all are >= 0) is found
  // by inverse iteration on D^-1/2 A D^-1/2 + (1 + 1e-9) I, a sparse
  // Cholesky solve per step, where ARPACK's "SM" mode runs Lanczos.
  const auto Ni = static_cast<Eigen::Index>(N);
  Eigen::VectorXd dis(Ni);
  for (std::size_t i = 0; i < N; ++i) dis(static_cast<Eigen::Index>(i)) = 1.0 / std::sqrt(deg[i]);
  for (auto& t : trip) t = Eigen::Triplet<double>(t.row(), t.col(), t.value() * dis(t.row()) * dis(t.col()));
  for (std::size_t i = 0; i < N; ++i) trip.emplace_back(static_cast<int>(i), static_cast<int>(i), 1.0 + 1e-9);
  Eigen::SparseMatrix<double> S(Ni, Ni);
  S.setFromTriplets(trip.begin(), trip.end());
  Eigen::SimplicialLDLT<Eigen::SparseMatrix<double>> ldlt(S);
  if (ldlt.info() != Eigen::Success) throw InvalidArgument("MMSR: the sign eigenproblem could not be factorized");
  Eigen::VectorXd x = Eigen::VectorXd::Ones(Ni);
  for (std::size_t i = 0; i < N; ++i) x(static_cast<Eigen::Index>(i)) += 1e-3 * static_cast<double>(i % 7);  // not orthogonal to the target
  x.normalize();
  for (int it = 0; it < 1000; ++it) {
    Eigen::VectorXd y = ldlt.solve(x);
    y.normalize();
    const double moved = (y - x).norm();
    x = y;
    if (moved < 1e-13) break;
  }
  Eigen::VectorXd v = dis.asDiagonal() * x;
  double total = 0;
  for (std::size_t a = 0; a < k; ++a) total += sign(v(static_cast<Eigen::Index>(a)));
  std::vector<double> out(static_cast<std::size_t>(n), 0.0);
  for (std::size_t a = 0; a < k; ++a)
    out[static_cast<std::size_t>(valid[a])] = sign(total) * s_abs[static_cast<std::size_t>(valid[a])] * sign(v(static_cast<Eigen::Index>(a)));
  return out;
}

}  // namespace

MmsrResult mmsr(const AnswersView& a, const Options& opt) {
  validate(a);
  if (a.n == 0) throw InvalidArgument("MMSR: no answers");
  const std::int32_t W = a.n_workers, T = a.n_tasks, M = a.n_labels;
  if (M < 2) throw InvalidArgument("MMSR needs at least two labels (its weights divide by K - 1)");
  if (W > 20000) throw InvalidArgument("MMSR keeps W x W worker matrices; more than 20000 workers is not supported");
  const std::size_t WW = static_cast<std::size_t>(W) * W;
  std::vector<double> common(WW, 0.0), agree(WW, 0.0);
  detail::Csr c = detail::build_csr(a, false);
  for (std::int32_t t = 0; t < T; ++t)
    for (std::int64_t p = c.begin(t); p < c.end(t); ++p)
      for (std::int64_t q = c.begin(t); q < c.end(t); ++q) {
        if (p == q || c.worker[p] == c.worker[q]) continue;
        const std::size_t cell = static_cast<std::size_t>(c.worker[p]) * W + c.worker[q];
        common[cell] += 1;
        agree[cell] += c.label[p] == c.label[q];
      }
  std::int64_t sparsity = std::numeric_limits<std::int64_t>::max();
  for (std::int32_t j = 0; j < W; ++j) {
    std::int64_t nz = 0;
    for (std::int32_t i = 0; i < W; ++i) nz += common[static_cast<std::size_t>(i) * W + j] != 0;
    sparsity = std::min(sparsity, nz);
  }
  std::vector<double> C(WW);
  const double Md = M;
  for (std::size_t i = 0; i < WW; ++i)
    C[i] = (common[i] != 0 ? agree[i] / common[i] : 0.0) * (Md / (Md - 1)) - 1.0 / (Md - 1);
  // F = floor(sparsity / 2) - 1 (numpy floor of a float division).
  const std::int64_t F = static_cast<std::int64_t>(std::floor(static_cast<double>(sparsity) / 2.0)) - 1;
  // u and v: scipy.stats.uniform.rvs(size=(W, 1), random_state=seed), each from a fresh RandomState.
  std::vector<double> u(static_cast<std::size_t>(W)), v(static_cast<std::size_t>(W));
  {
    std::mt19937 gen(static_cast<std::uint32_t>(opt.seed));
    for (auto& x : u) {
      const double hi = static_cast<double>(gen() >> 5), lo = static_cast<double>(gen() >> 6);
      x = (hi * 67108864.0 + lo) / 9007199254740992.0;
    }
    v = u;
  }
  MmsrResult r;
  std::vector<double> up, vp, buf;
  for (std::int32_t it = 0; it < opt.n_iter; ++it) {
    up = u;
    vp = v;
    for (std::int32_t j = 0; j < W; ++j) {
      buf.clear();
      for (std::int32_t i = 0; i < W; ++i)
        if (common[static_cast<std::size_t>(i) * W + j] != 0)
          buf.push_back(std::abs(C[static_cast<std::size_t>(i) * W + j]) / u[static_cast<std::size_t>(i)]);
      std::vector<double> y = trim(buf, F, v[static_cast<std::size_t>(j)], T);
      if (!y.empty()) v[static_cast<std::size_t>(j)] = np_sum(y.data(), y.size()) / static_cast<double>(y.size());
    }
    for (std::int32_t i = 0; i < W; ++i) {
      buf.clear();
      for (std::int32_t j = 0; j < W; ++j)
        if (common[static_cast<std::size_t>(i) * W + j] != 0)
          buf.push_back(std::abs(C[static_cast<std::size_t>(i) * W + j]) / v[static_cast<std::size_t>(j)]);
      std::vector<double> y = trim(buf, F, u[static_cast<std::size_t>(i)], T);
      if (!y.empty()) u[static_cast<std::size_t>(i)] = np_sum(y.data(), y.size()) / static_cast<double>(y.size());
    }
    double loss = 0;
    for (std::int32_t i = 0; i < W; ++i)
      for (std::int32_t j = 0; j < W; ++j) {
        const double d = u[static_cast<std::size_t>(i)] * v[static_cast<std::size_t>(j)] -
                         up[static_cast<std::size_t>(i)] * vp[static_cast<std::size_t>(j)];
        loss += d * d;
      }
    loss = std::sqrt(loss);
    r.loss_history.push_back(loss);
    r.n_iter = it + 1;
    if (!detail::report(opt, it + 1, loss, loss)) break;
    if (loss < opt.tol) break;
  }
  double nu = 0, nv = 0;
  for (std::int32_t i = 0; i < W; ++i) {
    nu += u[static_cast<std::size_t>(i)] * u[static_cast<std::size_t>(i)];
    nv += v[static_cast<std::size_t>(i)] * v[static_cast<std::size_t>(i)];
  }
  const double kk = std::sqrt(std::sqrt(nu) / std::sqrt(nv));
  std::vector<double> x1(static_cast<std::size_t>(W));
  for (std::int32_t i = 0; i < W; ++i) x1[static_cast<std::size_t>(i)] = u[static_cast<std::size_t>(i)] / kk;
  std::vector<double> x2 = sign_determination(C, W, x1);
  const double rt = std::sqrt(static_cast<double>(T));
  r.skills.resize(static_cast<std::size_t>(W));
  for (std::int32_t i = 0; i < W; ++i) {
    double x = std::min(x2[static_cast<std::size_t>(i)], 1.0 - 1.0 / rt);
    x = std::max(x, -1.0 / (Md - 1) + 1.0 / rt);
    const double p = x * (Md - 1) / Md + 1.0 / Md;
    r.skills[static_cast<std::size_t>(i)] = std::log(p * (Md - 1) / (1 - p));
  }
  return r;
}

}  // namespace tagger::consensus
