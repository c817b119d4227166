// One-coin Dawid-Skene: each worker is right with probability s_w and otherwise
// picks uniformly among the other K-1 labels (Zheng et al., PVLDB 2017, "ZC").
// Same fused E/M pass as dawid_skene.cc, with one accuracy per worker.
#include <algorithm>
#include <cmath>
#include <limits>

#include "consensus/common.h"
#include "tagger/consensus_shard.h"
#include "tagger/errors.h"
#include "util/det_math.h"

namespace tagger::consensus {
namespace {

using detail::Csr;

struct Params {
  std::vector<double> log_right, log_wrong;  // [W] log s_w, log((1 - s_w) / (K - 1))
  std::vector<double> log_prior;             // [K]
};

void pass(const Csr& c, const Params& prm, const Options& opt, bool init_mv, double* probas,
          detail::FixAccumulator* right, detail::FixAccumulator* prior, std::vector<double>& block_ll) {
  const int K = c.n_labels;
  const std::size_t T = static_cast<std::size_t>(c.n_tasks), W = static_cast<std::size_t>(c.n_workers);
  const std::size_t nb = (T + detail::kBlockTasks - 1) / detail::kBlockTasks;
  block_ll.assign(nb, 0.0);
  unsigned th = right ? detail::threads_for_buffers(opt.threads, W * 8) : util::resolve_threads(opt.threads);
  util::parallel_for(nb, th, 1, [&](std::size_t b0, std::size_t b1) {
    std::vector<std::int64_t> local(right ? W : 0), lprior(right ? K : 0);
    std::vector<double> post(K);
    for (std::size_t b = b0; b < b1; ++b) {
      double ll = 0;
      for (std::size_t t = b * detail::kBlockTasks; t < std::min(T, (b + 1) * detail::kBlockTasks); ++t) {
        const std::int64_t p0 = c.task_offset[t], p1 = c.task_offset[t + 1];
        std::int32_t g = -1;
        const bool is_gold = detail::gold_of(opt, static_cast<std::int32_t>(t), &g);
        if (p0 == p1) {
          if (probas) {
            if (is_gold) detail::one_hot(probas + t * K, K, g);
            else for (int k = 0; k < K; ++k) probas[t * K + k] = util::det::exp(prm.log_prior[k]);
          }
          continue;
        }
        if (init_mv) {
          std::fill(post.begin(), post.end(), 0.0);
          for (std::int64_t p = p0; p < p1; ++p) post[c.label[p]] += 1.0 / static_cast<double>(p1 - p0);
        } else {
          double base = 0;
          for (int k = 0; k < K; ++k) post[k] = prm.log_prior[k];
          for (std::int64_t p = p0; p < p1; ++p) {
            base += prm.log_wrong[c.worker[p]];
            post[c.label[p]] += prm.log_right[c.worker[p]] - prm.log_wrong[c.worker[p]];
          }
          double m = -std::numeric_limits<double>::infinity();
          for (int k = 0; k < K; ++k) { post[k] += base; m = std::max(m, post[k]); }
          double s = 0;
          for (int k = 0; k < K; ++k) { post[k] = util::det::exp(post[k] - m); s += post[k]; }
          ll += m + util::det::log(s);
          for (int k = 0; k < K; ++k) post[k] /= s;
        }
        if (is_gold) detail::one_hot(post.data(), K, g);
        if (probas) std::copy(post.begin(), post.end(), probas + t * K);
        if (right) {
          for (int k = 0; k < K; ++k) lprior[k] += detail::to_fix(post[k]);
          for (std::int64_t p = p0; p < p1; ++p) local[c.worker[p]] += detail::to_fix(post[c.label[p]]);
        }
      }
      block_ll[b] = ll;
    }
    if (right) { right->merge(local); prior->merge(lprior); }
  });
}

// From fixed-point totals: the single-process fit and the sharded one (the
// counts summed over shards are the same integers) both run this.
void m_step(std::size_t K, std::span<const std::int64_t> n_answers, std::span<const std::int64_t> right,
            std::span<const std::int64_t> prior, const Options& opt, Params& prm, std::vector<double>& skills) {
  const std::size_t W = n_answers.size();
  prm.log_right.resize(W);
  prm.log_wrong.resize(W);
  skills.resize(W);
  for (std::size_t w = 0; w < W; ++w) {
    double s = n_answers[w] ? (detail::from_fix(right[w]) + opt.smoothing) / (static_cast<double>(n_answers[w]) + 2 * opt.smoothing)
                            : 1.0 / static_cast<double>(K);
    skills[w] = s;
    s = std::clamp(s, detail::kProbFloor, 1 - detail::kProbFloor);
    prm.log_right[w] = util::det::log(s);
    prm.log_wrong[w] = K > 1 ? util::det::log(std::max((1 - s) / static_cast<double>(K - 1), detail::kProbFloor)) : 0.0;
  }
  prm.log_prior.resize(K);
  double total = 0;
  for (std::size_t k = 0; k < K; ++k) total += opt.class_priors.empty() ? detail::from_fix(prior[k]) + opt.smoothing : opt.class_priors[k];
  for (std::size_t k = 0; k < K; ++k) {
    double p = opt.class_priors.empty() ? detail::from_fix(prior[k]) + opt.smoothing : opt.class_priors[k];
    prm.log_prior[k] = util::det::log(std::max(p / total, detail::kProbFloor));
  }
}
void m_step(const Csr& c, const std::vector<std::int64_t>& n_answers, const detail::FixAccumulator& right,
            const detail::FixAccumulator& prior, const Options& opt, Params& prm, std::vector<double>& skills) {
  m_step(static_cast<std::size_t>(c.n_labels), n_answers, right.raw(), prior.raw(), opt, prm, skills);
}

// The probabilities a fit reports (errors_: right on the diagonal, wrong off it; priors_),
// from the log parameters. The local fit and one_coin_m_step (the sharded fit's) both take
// them from here: the same bits either way.
void reported(const Params& prm, std::size_t K, std::vector<double>& right, std::vector<double>& wrong,
              std::vector<double>& prior) {
  const std::size_t W = prm.log_right.size();
  right.resize(W);
  wrong.resize(W);
  for (std::size_t w = 0; w < W; ++w) {
    right[w] = util::det::exp(prm.log_right[w]);
    wrong[w] = K > 1 ? util::det::exp(prm.log_wrong[w]) : 0.0;
  }
  prior.resize(K);
  for (std::size_t k = 0; k < K; ++k) prior[k] = util::det::exp(prm.log_prior[k]);
}

}  // namespace

Result one_coin_dawid_skene(const AnswersView& a, const Options& opt) {
  detail::check_options(a, opt);
  Csr c = detail::build_csr(a, false);
  Result r = detail::make_result(a);
  const std::size_t W = static_cast<std::size_t>(a.n_workers), K = static_cast<std::size_t>(a.n_labels);
  std::vector<std::int64_t> n_answers(W, 0);
  for (std::size_t i = 0; i < a.n; ++i) ++n_answers[a.worker[i]];
  Params prm, prev;
  prm.log_prior.assign(K, K ? -util::det::log(static_cast<double>(K)) : 0.0);
  std::vector<double> ll;
  {
    detail::FixAccumulator right(W), prior(K);
    pass(c, prm, opt, true, opt.n_iter == 0 ? r.probas.data() : nullptr, &right, &prior, ll);
    m_step(c, n_answers, right, prior, opt, prm, r.skills);
  }
  const double n_ans = static_cast<double>(std::max<std::size_t>(a.n, 1));
  double last = -std::numeric_limits<double>::infinity();
  r.converged = opt.n_iter == 0;
  for (std::int32_t it = 1; it <= opt.n_iter; ++it) {
    detail::FixAccumulator right(W), prior(K);
    pass(c, prm, opt, false, nullptr, &right, &prior, ll);
    prev = prm;
    m_step(c, n_answers, right, prior, opt, prm, r.skills);
    double obj = 0;
    for (double x : ll) obj += x;
    obj /= n_ans;
    const double change = obj - last;
    r.objective_history.push_back(obj);
    r.n_iter = it;
    last = obj;
    if (it > 1 && change < opt.tol) { r.converged = true; break; }
    if (!detail::report(opt, it, obj, std::abs(change))) break;
  }
  if (opt.n_iter > 0) pass(c, prev, opt, false, r.probas.data(), nullptr, nullptr, ll);
  detail::finish_labels(r, c, opt);
  std::vector<double> right, wrong;
  reported(prm, K, right, wrong, r.priors);
  r.errors.resize(W * K * K);
  for (std::size_t w = 0; w < W; ++w)
    for (std::size_t k = 0; k < K; ++k)
      for (std::size_t l = 0; l < K; ++l) r.errors[(w * K + k) * K + l] = k == l ? right[w] : wrong[w];
  return r;
}

// ---- Sharded EM (consensus_shard.h) ----------------------------------------

struct OneCoinShard::Impl {
  std::vector<std::int32_t> task, worker, label, gold;
  AnswersView a;
  Options opt;
  Csr c;

  static Params params(const OneCoinParams& p, std::size_t W, std::size_t K) {
    if (p.log_right.size() != W || p.log_wrong.size() != W || p.log_prior.size() != K)
      throw InvalidArgument("one_coin shard: parameters must have n_workers log_right/log_wrong and n_labels log_prior");
    return Params{p.log_right, p.log_wrong, p.log_prior};
  }
  ShardStats pass_stats(const Params& prm, bool init_mv) {
    const std::size_t W = static_cast<std::size_t>(a.n_workers), K = static_cast<std::size_t>(a.n_labels);
    detail::FixAccumulator right(W), prior(K);
    ShardStats st;
    pass(c, prm, opt, init_mv, nullptr, &right, &prior, st.block_ll);
    if (init_mv) st.block_ll.clear();
    st.counts = right.raw();
    st.prior = prior.raw();
    return st;
  }
};

OneCoinShard::OneCoinShard(const AnswersView& a, std::span<const std::int32_t> gold, unsigned threads)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.task.assign(a.task, a.task + a.n);
  m.worker.assign(a.worker, a.worker + a.n);
  m.label.assign(a.label, a.label + a.n);
  m.gold.assign(gold.begin(), gold.end());
  m.a = a;
  m.a.task = m.task.data();
  m.a.worker = m.worker.data();
  m.a.label = m.label.data();
  m.opt.gold = m.gold;
  m.opt.threads = threads;
  detail::check_options(m.a, m.opt);
  m.c = detail::build_csr(m.a, false);
}

OneCoinShard::~OneCoinShard() = default;

ShardStats OneCoinShard::start() {
  Impl& m = *impl_;
  const std::size_t K = static_cast<std::size_t>(m.a.n_labels);
  Params prm;
  prm.log_prior.assign(K, K ? -util::det::log(static_cast<double>(K)) : 0.0);
  ShardStats st = m.pass_stats(prm, true);
  st.n_answers.assign(static_cast<std::size_t>(m.a.n_workers), 0);
  for (std::size_t i = 0; i < m.a.n; ++i) ++st.n_answers[static_cast<std::size_t>(m.a.worker[i])];
  return st;
}

ShardStats OneCoinShard::e_step(const OneCoinParams& p) {
  Impl& m = *impl_;
  return m.pass_stats(Impl::params(p, static_cast<std::size_t>(m.a.n_workers), static_cast<std::size_t>(m.a.n_labels)),
                      false);
}

void OneCoinShard::posteriors(const OneCoinParams* p, double* probas, std::int32_t* labels) {
  Impl& m = *impl_;
  const std::size_t K = static_cast<std::size_t>(m.a.n_labels);
  Params prm;
  if (p) prm = Impl::params(*p, static_cast<std::size_t>(m.a.n_workers), K);
  else prm.log_prior.assign(K, K ? -util::det::log(static_cast<double>(K)) : 0.0);
  std::vector<double> ll;
  pass(m.c, prm, m.opt, p == nullptr, probas, nullptr, nullptr, ll);
  // Labels as finish_labels() writes them into a Result.
  Result r;
  r.n_tasks = m.a.n_tasks;
  r.n_labels = m.a.n_labels;
  r.probas.assign(probas, probas + static_cast<std::size_t>(m.a.n_tasks) * K);
  r.labels.assign(static_cast<std::size_t>(m.a.n_tasks), -1);
  detail::finish_labels(r, m.c, m.opt);
  std::copy(r.labels.begin(), r.labels.end(), labels);
}

std::int32_t OneCoinShard::n_tasks() const { return impl_->a.n_tasks; }
std::size_t OneCoinShard::n_answers() const { return impl_->a.n; }

OneCoinParams one_coin_m_step(std::span<const std::int64_t> n_answers, std::span<const std::int64_t> right,
                              std::span<const std::int64_t> prior, std::int32_t n_labels, const Options& opt) {
  const std::size_t K = static_cast<std::size_t>(n_labels);
  if (n_labels < 1 || right.size() != n_answers.size() || prior.size() != K)
    throw InvalidArgument("one_coin_m_step: right must be [n_workers] like n_answers, and prior [n_labels]");
  if (!opt.class_priors.empty() && opt.class_priors.size() != K)
    throw InvalidArgument("one_coin_m_step: class_priors must have n_labels entries");
  Params prm;
  OneCoinParams out;
  m_step(K, n_answers, right, prior, opt, prm, out.skills);
  reported(prm, K, out.right, out.wrong, out.prior);
  out.log_right = std::move(prm.log_right);
  out.log_wrong = std::move(prm.log_wrong);
  out.log_prior = std::move(prm.log_prior);
  return out;
}

}  // namespace tagger::consensus
