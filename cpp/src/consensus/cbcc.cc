// Community BCC (Venanzi et al., WWW 2014) as structured mean-field VB with
// point-estimated community matrices; see consensus.h for the updates. Sums
// across workers or tasks run on one thread in a fixed order; the per-worker
// and per-task updates, each independent, are split across threads. With a
// deterministic start (agreement bands) a fit is the same on every run and
// thread count of one build.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "consensus/common.h"
#include "consensus/fast_math.h"
#include "tagger/errors.h"
#include "util/parallel.h"

namespace tagger::consensus {
namespace {

constexpr int kMaxPiSteps = 10;     // fixed-point steps per round for the community rows (warm-started: a generalized EM step)
constexpr double kPiFloor = 1e-12;  // floor of a community row entry (a prior b_v < 1 pushes it to 0)

void check(const AnswersView& a, const Options& opt, const CbccOptions& o) {
  if (o.n_communities < 1 || o.n_communities > 1000)
    throw InvalidArgument("cbcc: n_communities must be in [1, 1000], got " + std::to_string(o.n_communities));
  for (double v : {o.strength, o.alpha, o.gamma, o.a_v, o.b_v})
    if (!(v > 0) || !std::isfinite(v))
      throw InvalidArgument("cbcc: the priors strength, alpha, gamma, a_v and b_v must be finite and > 0");
  detail::check_options(a, opt);
  if (!opt.class_priors.empty()) throw InvalidArgument("cbcc: the class prior is inferred (Dirichlet(alpha)); class_priors are not taken");
  if (a.n == 0) throw InvalidArgument("cbcc: the answers are empty; community BCC needs answers from at least 2 workers");
  if (a.n_labels < 2)
    throw InvalidArgument("cbcc: needs at least 2 label classes, got " + std::to_string(a.n_labels) +
                          " (with one class every task gets it; use MajorityVote)");
  std::vector<char> seen(static_cast<std::size_t>(a.n_workers), 0);
  std::int32_t distinct = 0;
  for (std::size_t j = 0; j < a.n && distinct < 2; ++j)
    if (!seen[static_cast<std::size_t>(a.worker[j])]) {
      seen[static_cast<std::size_t>(a.worker[j])] = 1;
      ++distinct;
    }
  if (distinct < 2) throw InvalidArgument("cbcc: needs answers from at least 2 workers to form communities, got 1");
}

}  // namespace

Result cbcc(const AnswersView& a, const Options& opt, const CbccOptions& o) {
  check(a, opt, o);
  detail::Csr c = detail::build_csr(a, false);
  Result r = detail::make_result(a);
  const std::size_t T = static_cast<std::size_t>(a.n_tasks), W = static_cast<std::size_t>(a.n_workers);
  const std::size_t K = static_cast<std::size_t>(a.n_labels), M = static_cast<std::size_t>(o.n_communities);
  const std::size_t KK = K * K;
  const double s = o.strength;
  std::vector<double>& z = r.probas;  // [T, K]
  detail::weighted_vote(c, nullptr, opt, r);  // start: vote shares, gold one-hot
  // Start: workers ranked by their mean vote share on their own answers
  // (ties by index), cut into M equal bands, band m -> community m. A spread
  // start lets reliable and unreliable workers pull apart from the first round.
  std::vector<double> resp(W * M, 1.0 / static_cast<double>(M));  // q(c_w = m)
  {
    std::vector<double> agree(W, 0.0), n_w(W, 0.0);
    for (std::size_t t = 0; t < T; ++t)
      for (auto p = c.begin(static_cast<std::int32_t>(t)); p < c.end(static_cast<std::int32_t>(t)); ++p) {
        agree[static_cast<std::size_t>(c.worker[p])] += z[t * K + static_cast<std::size_t>(c.label[p])];
        n_w[static_cast<std::size_t>(c.worker[p])] += 1.0;
      }
    std::vector<std::size_t> order;
    for (std::size_t w = 0; w < W; ++w)
      if (n_w[w] > 0) {
        agree[w] /= n_w[w];
        order.push_back(w);
      }
    std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return agree[x] > agree[y]; });
    for (std::size_t i = 0; i < order.size(); ++i) {
      const std::size_t band = i * M / order.size();
      for (std::size_t m = 0; m < M; ++m) resp[order[i] * M + m] = m == band ? 1.0 : 0.0;
    }
  }
  std::vector<double> cnt(W * KK), pi(M * KK), lg_pi(M * KK), dg_pi(M * KK), elh(M), elv(W * KK), eltau(K), nu(K);
  r.objective_history.clear();
  auto counts = [&] {  // N_wkl from q(z)
    std::fill(cnt.begin(), cnt.end(), 0.0);
    for (std::size_t t = 0; t < T; ++t)
      for (auto p = c.begin(static_cast<std::int32_t>(t)); p < c.end(static_cast<std::int32_t>(t)); ++p) {
        double* nw = cnt.data() + static_cast<std::size_t>(c.worker[p]) * KK + static_cast<std::size_t>(c.label[p]);
        for (std::size_t k = 0; k < K; ++k) nw[k * K] += z[t * K + k];
      }
  };
  // Community rows: the MAP of the bound in Pi_mk under its Dir(beta_k) prior,
  //   sum_w q(c_w = m) log B(s Pi_mk + N_wk) / B(s Pi_mk) + sum_l (beta_kl - 1) log Pi_mkl,
  // by Minka's fixed point for a Polya mean of known precision,
  //   Pi_mkl <- (Pi_mkl s sum_w q(c_w = m) [psi(s Pi_mkl + N_wkl) - psi(s Pi_mkl)] + beta_kl - 1) / norm,
  // warm-started from the last round (the first from the pooled posterior mean
  // (beta_kl + sum_w q(c_w = m) N_wkl) / norm). Each row is its own problem,
  // summed over workers in order: rows split across threads change no bit.
  bool pooled_start = true;
  auto communities = [&] {
    util::parallel_for(M * K, opt.threads, 1, [&](std::size_t r0, std::size_t r1) {
      std::vector<double> d(K), prev(K), held(K);
      // Per observed class l, the members with N_wkl > 0 and q(c_w = m) > 0 in
      // worker order: their counts and weights, fixed during the steps, and the
      // psi arguments and values of a step (evaluated a table at a time).
      std::vector<std::vector<double>> n_of(K), q_of(K);
      std::vector<double> arg, psi;
      for (std::size_t mk = r0; mk < r1; ++mk) {
        const std::size_t m = mk / K, k = mk % K;
        double* row = pi.data() + m * KK + k * K;
        if (pooled_start) {
          double sum = 0;
          for (std::size_t l = 0; l < K; ++l) {
            row[l] = k == l ? o.a_v : o.b_v;
            for (std::size_t w = 0; w < W; ++w) row[l] += resp[w * M + m] * cnt[w * KK + k * K + l];
            sum += row[l];
          }
          for (std::size_t l = 0; l < K; ++l) row[l] /= sum;
        }
        // One scan of the members: sum_w q(c_w = m) over members with answers
        // of class k; per observed class l, over members with N_wkl > 0, the
        // weight of the psi(s Pi_mkl) term (the same for every member), and
        // those members' counts and weights for the steps.
        double mass = 0;
        std::fill(held.begin(), held.end(), 0.0);
        for (std::size_t l = 0; l < K; ++l) {
          n_of[l].clear();
          q_of[l].clear();
        }
        for (std::size_t w = 0; w < W; ++w) {
          const double q = resp[w * M + m];
          const double* nw = cnt.data() + w * KK + k * K;
          double nk = 0;
          for (std::size_t l = 0; l < K; ++l) {
            nk += nw[l];
            if (nw[l] > 0) {
              held[l] += q;
              if (q != 0) {
                n_of[l].push_back(nw[l]);
                q_of[l].push_back(q);
              }
            }
          }
          if (nk > 0) mass += q;
        }
        for (int step = 0; step < kMaxPiSteps && mass > 0; ++step) {
          // d_l = sum_w q psi(s Pi_mkl + N_wkl), added in worker order.
          for (std::size_t l = 0; l < K; ++l) {
            const std::size_t n = n_of[l].size();
            arg.resize(n);
            psi.resize(n);
            const double base = s * row[l];
            for (std::size_t i = 0; i < n; ++i) arg[i] = base + n_of[l][i];
            detail::digamma_cells(arg.data(), psi.data(), n);
            double acc = 0;
            for (std::size_t i = 0; i < n; ++i) acc += q_of[l][i] * psi[i];
            d[l] = acc;
          }
          double sum = 0;
          for (std::size_t l = 0; l < K; ++l) {
            prev[l] = row[l];
            d[l] -= held[l] * detail::fast_digamma(s * row[l]);
            d[l] = std::max(row[l] * s * d[l] + (k == l ? o.a_v : o.b_v) - 1, kPiFloor);
            sum += d[l];
          }
          double moved = 0;
          for (std::size_t l = 0; l < K; ++l) {
            row[l] = d[l] / sum;
            moved = std::max(moved, std::abs(row[l] - prev[l]));
          }
          if (moved < 1e-9) break;
        }
      }
    });
    pooled_start = false;
  };
  for (std::int32_t it = 1; it <= opt.n_iter; ++it) {
    counts();
    communities();
    // E log h from the memberships of the last round.
    {
      double total = 0;
      for (std::size_t m = 0; m < M; ++m) {
        double v = o.gamma;
        for (std::size_t w = 0; w < W; ++w) v += resp[w * M + m];
        elh[m] = v;
        total += v;
      }
      const double dt = detail::fast_digamma(total);
      for (std::size_t m = 0; m < M; ++m) elh[m] = detail::fast_digamma(elh[m]) - dt;
    }
    // Memberships by the Dirichlet-multinomial evidence of each worker's soft
    // counts under each community, then the worker's expected log rows. Each
    // worker is computed alone, so splitting workers across threads changes no bit.
    // The evidence's terms that do not depend on the worker, once per round:
    // ln Gamma(s Pi_mkl) and psi(s Pi_mkl). Its terms that do not depend on
    // the community, ln Gamma(s) - ln Gamma(s + N_wk), cancel in the
    // membership's normalization and are left out.
    for (std::size_t i = 0; i < M * KK; ++i) {
      lg_pi[i] = detail::fast_log_gamma(s * pi[i]);
      dg_pi[i] = detail::fast_digamma(s * pi[i]);
    }
    util::parallel_for(W, opt.threads, 256, [&](std::size_t w0, std::size_t w1) {
      std::vector<double> lr(M), arg(M * KK), lg(M * KK), dg(M * KK), psi(M * KK);
      std::vector<std::size_t> used(KK);
      for (std::size_t w = w0; w < w1; ++w) {
        const double* nw = cnt.data() + w * KK;
        // The worker's cells with N_wkl > 0: ln Gamma and psi of s Pi_mkl + N_wkl
        // for every community, a table at a time.
        std::size_t nnz = 0;
        for (std::size_t kl = 0; kl < KK; ++kl)
          if (nw[kl] > 0) used[nnz++] = kl;
        for (std::size_t m = 0; m < M; ++m)
          for (std::size_t j = 0; j < nnz; ++j) arg[m * nnz + j] = s * pi[m * KK + used[j]] + nw[used[j]];
        detail::log_gamma_cells(arg.data(), lg.data(), M * nnz);
        detail::digamma_cells(arg.data(), dg.data(), M * nnz);
        double mx = -INFINITY;
        for (std::size_t m = 0; m < M; ++m) {
          const double* lgm = lg_pi.data() + m * KK;
          double v = elh[m];
          for (std::size_t j = 0; j < nnz; ++j) v += lg[m * nnz + j] - lgm[used[j]];
          lr[m] = v;
          mx = std::max(mx, v);
        }
        double sum = 0;
        for (std::size_t m = 0; m < M; ++m) sum += lr[m] = std::exp(lr[m] - mx);
        for (std::size_t m = 0; m < M; ++m) resp[w * M + m] = lr[m] / sum;
        double* ew = elv.data() + w * KK;
        std::fill(ew, ew + KK, 0.0);
        // psi of every cell: the table's where N_wkl > 0, else psi(s Pi_mkl).
        std::copy(dg_pi.begin(), dg_pi.end(), psi.begin());
        for (std::size_t m = 0; m < M; ++m)
          for (std::size_t j = 0; j < nnz; ++j) psi[m * KK + used[j]] = dg[m * nnz + j];
        for (std::size_t k = 0; k < K; ++k) {
          double nk = 0;
          for (std::size_t l = 0; l < K; ++l) nk += nw[k * K + l];
          const double dn = detail::fast_digamma(s + nk);
          for (std::size_t m = 0; m < M; ++m) {
            const double q = resp[w * M + m];
            if (q == 0) continue;
            for (std::size_t l = 0; l < K; ++l) ew[k * K + l] += q * (psi[m * KK + k * K + l] - dn);
          }
        }
      }
    });
    std::fill(nu.begin(), nu.end(), o.alpha);
    for (std::size_t t = 0; t < T; ++t)
      for (std::size_t k = 0; k < K; ++k) nu[k] += z[t * K + k];
    const double nsum = std::accumulate(nu.begin(), nu.end(), 0.0);
    for (std::size_t k = 0; k < K; ++k) eltau[k] = detail::fast_digamma(nu[k]) - detail::fast_digamma(nsum);
    // Tasks in fixed blocks; the objective is summed block by block in block
    // order and the change is a max, so the thread count changes no bit.
    const std::size_t n_blocks = (T + detail::kBlockTasks - 1) / detail::kBlockTasks;
    std::vector<double> block_objective(n_blocks, 0.0), block_change(n_blocks, 0.0);
    detail::for_blocks(T, detail::kBlockTasks, opt.threads, [&](std::size_t blk, std::size_t t0, std::size_t t1) {
      std::vector<double> lg(K);
      double obj = 0, chg = 0;
      for (std::size_t t = t0; t < t1; ++t) {
        const auto b = c.begin(static_cast<std::int32_t>(t)), en = c.end(static_cast<std::int32_t>(t));
        std::int32_t g = -1;
        if (detail::gold_of(opt, static_cast<std::int32_t>(t), &g) || b == en) continue;  // gold stays one-hot
        std::copy(eltau.begin(), eltau.end(), lg.begin());
        for (auto p = b; p < en; ++p) {
          const double* ew = elv.data() + static_cast<std::size_t>(c.worker[p]) * KK + static_cast<std::size_t>(c.label[p]);
          for (std::size_t k = 0; k < K; ++k) lg[k] += ew[k * K];
        }
        const double mx = *std::max_element(lg.begin(), lg.end());
        double sum = 0;
        for (std::size_t k = 0; k < K; ++k) sum += lg[k] = std::exp(lg[k] - mx);
        obj += mx + std::log(sum);
        double* zt = z.data() + t * K;
        for (std::size_t k = 0; k < K; ++k) {
          const double v = lg[k] / sum;
          chg = std::max(chg, std::abs(v - zt[k]));
          zt[k] = v;
        }
      }
      block_objective[blk] = obj;
      block_change[blk] = chg;
    });
    double change = 0, objective = 0;
    for (std::size_t blk = 0; blk < n_blocks; ++blk) {
      objective += block_objective[blk];
      change = std::max(change, block_change[blk]);
    }
    objective /= static_cast<double>(c.n);  // log normalizer per answer (an ELBO term), higher is better
    r.objective_history.push_back(objective);
    r.n_iter = it;
    if (change < opt.tol) {
      r.converged = true;
      break;
    }
    if (!detail::report(opt, it, objective, change)) break;
  }
  detail::finish_labels(r, c, opt);
  // Fitted parameters at the final q(z): counts, community rows, worker means.
  counts();
  communities();
  r.errors.assign(W * KK, 0.0);
  r.skills.assign(W, std::nan(""));
  for (std::size_t w = 0; w < W; ++w) {
    const double* nw = cnt.data() + w * KK;
    double hit = 0, n_w = 0;
    for (std::size_t k = 0; k < K; ++k) {
      double nk = 0;
      for (std::size_t l = 0; l < K; ++l) nk += nw[k * K + l];
      hit += nw[k * K + k];
      n_w += nk;
      for (std::size_t m = 0; m < M; ++m)
        for (std::size_t l = 0; l < K; ++l)
          r.errors[w * KK + k * K + l] += resp[w * M + m] * (s * pi[m * KK + k * K + l] + nw[k * K + l]) / (s + nk);
    }
    if (n_w > 0) r.skills[w] = hit / n_w;  // expected share of the worker's answers equal to the truth
  }
  std::fill(nu.begin(), nu.end(), o.alpha);
  for (std::size_t t = 0; t < T; ++t)
    for (std::size_t k = 0; k < K; ++k) nu[k] += z[t * K + k];
  r.priors.assign(K, 0.0);
  const double nsum = std::accumulate(nu.begin(), nu.end(), 0.0);
  for (std::size_t k = 0; k < K; ++k) r.priors[k] = nu[k] / nsum;  // E[tau_k]
  r.communities = std::move(resp);
  r.community_errors = std::move(pi);
  return r;
}

}  // namespace tagger::consensus
