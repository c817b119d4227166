// Dawid & Skene (1979): per-worker confusion matrices by EM.
//
// Layout: answers are re-coded task-major as code = worker * L + label, and the
// log confusion table is stored [worker][observed][true], so each answer adds
// one contiguous K-vector to its task's log-posterior. The E-step of iteration
// i and the M-step counts for iteration i+1 are one fused pass over the codes;
// the counts are summed in 64-bit fixed point (see common.h) so the result is
// independent of the thread count.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "consensus/common.h"
#include "tagger/errors.h"

namespace tagger::consensus {
namespace {

using detail::Csr;

struct Params {
  std::vector<double> log_e;      // [W * L * K] log P(observed | true) at (w*L + l)*K + k
  std::vector<double> log_prior;  // [K]
};

struct PassOut {
  std::vector<double> block_ll;  // per task block, summed in block order
  detail::FixAccumulator* counts = nullptr;  // [W*L*K] expected counts (null: no M-step data)
  detail::FixAccumulator* prior = nullptr;   // [K]
  double* probas = nullptr;                  // [T*K] or null
};

// One E-step over all tasks. init_mv: ignore params, use vote shares (the EM start).
template <int KC>
void pass(const Csr& c, const std::uint32_t* code, const Params& prm, const Options& opt, bool init_mv, PassOut& out) {
  const int K = KC > 0 ? KC : c.n_labels;
  const std::size_t T = static_cast<std::size_t>(c.n_tasks);
  const std::size_t nb = (T + detail::kBlockTasks - 1) / detail::kBlockTasks;
  const std::size_t table = static_cast<std::size_t>(c.n_workers) * c.n_labels * K;
  out.block_ll.assign(nb, 0.0);
  unsigned th = out.counts ? detail::threads_for_buffers(opt.threads, table * 8) : util::resolve_threads(opt.threads);
  util::parallel_for(nb, th, 1, [&](std::size_t b0, std::size_t b1) {
    std::vector<std::int64_t> local(out.counts ? table : 0), lprior(out.counts ? K : 0);
    std::vector<double> acc(K), post(K);
    std::vector<std::int64_t> fix(K);
    const double* log_e = prm.log_e.data();
    for (std::size_t b = b0; b < b1; ++b) {
      double ll = 0;
      const std::size_t t_end = std::min(T, (b + 1) * detail::kBlockTasks);
      for (std::size_t t = b * detail::kBlockTasks; t < t_end; ++t) {
        const std::int64_t p0 = c.task_offset[t], p1 = c.task_offset[t + 1];
        std::int32_t g = -1;
        const bool is_gold = detail::gold_of(opt, static_cast<std::int32_t>(t), &g);
        if (p0 == p1) {  // no answers: the prior (or gold), no evidence, no counts
          if (out.probas) {
            double* row = out.probas + t * K;
            if (is_gold) detail::one_hot(row, K, g);
            else for (int k = 0; k < K; ++k) row[k] = std::exp(prm.log_prior[k]);
          }
          continue;
        }
        if (init_mv) {
          for (int k = 0; k < K; ++k) post[k] = 0;
          for (std::int64_t p = p0; p < p1; ++p) post[code[p] % static_cast<std::uint32_t>(c.n_labels)] += 1.0;
          const double inv = 1.0 / static_cast<double>(p1 - p0);
          for (int k = 0; k < K; ++k) post[k] *= inv;
        } else {
          for (int k = 0; k < K; ++k) acc[k] = prm.log_prior[k];
          for (std::int64_t p = p0; p < p1; ++p) {
            const double* row = log_e + static_cast<std::size_t>(code[p]) * K;
            for (int k = 0; k < K; ++k) acc[k] += row[k];
          }
          double m = acc[0];
          for (int k = 1; k < K; ++k) m = std::max(m, acc[k]);
          double s = 0;
          for (int k = 0; k < K; ++k) { post[k] = std::exp(acc[k] - m); s += post[k]; }
          ll += m + std::log(s);
          const double inv = 1.0 / s;
          for (int k = 0; k < K; ++k) post[k] *= inv;
        }
        if (is_gold) detail::one_hot(post.data(), K, g);
        if (out.probas) std::copy(post.begin(), post.end(), out.probas + t * K);
        if (out.counts) {
          for (int k = 0; k < K; ++k) { fix[k] = detail::to_fix(post[k]); lprior[k] += fix[k]; }
          for (std::int64_t p = p0; p < p1; ++p) {
            std::int64_t* cell = local.data() + static_cast<std::size_t>(code[p]) * K;
            for (int k = 0; k < K; ++k) cell[k] += fix[k];
          }
        }
      }
      out.block_ll[b] = ll;
    }
    if (out.counts) { out.counts->merge(local); out.prior->merge(lprior); }
  });
}

void run_pass(const Csr& c, const std::uint32_t* code, const Params& prm, const Options& opt, bool init_mv, PassOut& out) {
  switch (c.n_labels) {
    case 2: return pass<2>(c, code, prm, opt, init_mv, out);
    case 3: return pass<3>(c, code, prm, opt, init_mv, out);
    case 4: return pass<4>(c, code, prm, opt, init_mv, out);
    case 5: return pass<5>(c, code, prm, opt, init_mv, out);
    default: return pass<0>(c, code, prm, opt, init_mv, out);
  }
}

// M-step: confusion rows P(. | true k) of each worker from expected counts,
// floored at kProbFloor before normalizing (as crowd-kit), plus priors.
void m_step(const Csr& c, const detail::FixAccumulator& counts, const detail::FixAccumulator& prior, const Options& opt,
            Params& prm) {
  const std::size_t W = static_cast<std::size_t>(c.n_workers), L = static_cast<std::size_t>(c.n_labels), K = L;
  prm.log_e.resize(W * L * K);
  util::parallel_for(W, opt.threads, 512, [&](std::size_t b, std::size_t e) {
    std::vector<double> col(L);
    for (std::size_t w = b; w < e; ++w)
      for (std::size_t k = 0; k < K; ++k) {
        double s = 0;
        for (std::size_t l = 0; l < L; ++l) {
          col[l] = std::max(counts.get((w * L + l) * K + k) + opt.smoothing, detail::kProbFloor);
          s += col[l];
        }
        for (std::size_t l = 0; l < L; ++l) prm.log_e[(w * L + l) * K + k] = std::log(col[l] / s);
      }
  });
  prm.log_prior.resize(K);
  if (!opt.class_priors.empty()) {
    double s = 0;
    for (double p : opt.class_priors) s += p;
    for (std::size_t k = 0; k < K; ++k) prm.log_prior[k] = std::log(opt.class_priors[k] / s);
  } else {
    double s = 0;
    for (std::size_t k = 0; k < K; ++k) s += prior.get(k) + opt.smoothing;
    for (std::size_t k = 0; k < K; ++k)
      prm.log_prior[k] = std::log(std::max((prior.get(k) + opt.smoothing) / s, detail::kProbFloor));
  }
}

double ordered_sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

}  // namespace

Result dawid_skene(const AnswersView& a, const Options& opt) {
  detail::check_options(a, opt);
  const std::size_t W = static_cast<std::size_t>(a.n_workers), L = static_cast<std::size_t>(a.n_labels);
  if (a.n && static_cast<double>(W) * static_cast<double>(L) >= 4294967296.0)
    throw InvalidArgument("dawid_skene: n_workers * n_labels must be < 2^32");
  Csr c = detail::build_csr(a, false);
  Result r = detail::make_result(a);
  const std::size_t K = L;
  std::vector<std::uint32_t> code(a.n);
  util::parallel_for(a.n, opt.threads, 1 << 16, [&](std::size_t b, std::size_t e) {
    for (std::size_t p = b; p < e; ++p)
      code[p] = static_cast<std::uint32_t>(c.worker[p]) * static_cast<std::uint32_t>(L) + static_cast<std::uint32_t>(c.label[p]);
  });

  Params prm, prev;
  {
    detail::FixAccumulator counts(W * L * K), prior(K);
    PassOut out;
    out.counts = &counts; out.prior = &prior;
    if (opt.n_iter == 0) out.probas = r.probas.data();
    prm.log_prior.assign(K, -std::log(static_cast<double>(std::max<std::size_t>(K, 1))));
    run_pass(c, code.data(), prm, opt, true, out);
    m_step(c, counts, prior, opt, prm);
  }
  const double n_ans = static_cast<double>(std::max<std::size_t>(a.n, 1));
  double last = -std::numeric_limits<double>::infinity();
  r.converged = opt.n_iter == 0;
  for (std::int32_t it = 1; it <= opt.n_iter; ++it) {
    detail::FixAccumulator counts(W * L * K), prior(K);
    PassOut out;
    out.counts = &counts; out.prior = &prior;
    run_pass(c, code.data(), prm, opt, false, out);
    prev = prm;
    m_step(c, counts, prior, opt, prm);
    const double obj = ordered_sum(out.block_ll) / n_ans;
    const double change = obj - last;
    r.objective_history.push_back(obj);
    r.n_iter = it;
    last = obj;
    if (it > 1 && change < opt.tol) { r.converged = true; break; }
    if (!detail::report(opt, it, obj, std::abs(change))) break;
  }
  if (opt.n_iter > 0) {  // probas of the last E-step, as crowd-kit reports them
    PassOut out;
    out.probas = r.probas.data();
    run_pass(c, code.data(), prev, opt, false, out);
  }
  detail::finish_labels(r, c, opt);

  r.priors.resize(K);
  for (std::size_t k = 0; k < K; ++k) r.priors[k] = std::exp(prm.log_prior[k]);
  r.errors.resize(W * K * L);
  r.skills.assign(W, 0.0);
  for (std::size_t w = 0; w < W; ++w)
    for (std::size_t k = 0; k < K; ++k) {
      for (std::size_t l = 0; l < L; ++l) r.errors[(w * K + k) * L + l] = std::exp(prm.log_e[(w * L + l) * K + k]);
      r.skills[w] += r.priors[k] * r.errors[(w * K + k) * L + k];
    }
  return r;
}

}  // namespace tagger::consensus
