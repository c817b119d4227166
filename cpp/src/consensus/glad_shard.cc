// GladShard (consensus_shard.h): one shard of a GLAD fit, running glad()'s
// own kernels (glad_kernels.h) on its tasks.
#include <algorithm>
#include <cmath>

#include "consensus/common.h"
#include "consensus/glad_kernels.h"
#include "tagger/consensus_shard.h"
#include "tagger/errors.h"
#include "util/det_math.h"

namespace tagger::consensus {

struct GladShard::Impl {
  std::vector<std::int32_t> task, worker, label, gold;
  std::vector<double> class_priors, probas;
  AnswersView a;
  Options opt;
  GladOptions g;
  detail::Csr c;
  detail::glad::State s;

  void set_alpha(std::span<const double> alpha) {
    if (alpha.size() != static_cast<std::size_t>(a.n_workers))
      throw InvalidArgument("glad shard: alpha must have n_workers values");
    s.alpha.assign(alpha.begin(), alpha.end());
  }
};

GladShard::GladShard(const AnswersView& a, std::span<const std::int32_t> gold, std::span<const double> class_priors,
                     const GladOptions& g, unsigned threads)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  if (g.m_steps < 1 || !(g.m_tol >= 0) || !std::isfinite(g.alpha_prior) || !std::isfinite(g.beta_prior))
    throw InvalidArgument("glad: m_steps >= 1, m_tol >= 0 and finite prior means required");
  m.task.assign(a.task, a.task + a.n);
  m.worker.assign(a.worker, a.worker + a.n);
  m.label.assign(a.label, a.label + a.n);
  m.gold.assign(gold.begin(), gold.end());
  m.class_priors.assign(class_priors.begin(), class_priors.end());
  m.a = a;
  m.a.task = m.task.data();
  m.a.worker = m.worker.data();
  m.a.label = m.label.data();
  m.opt.gold = m.gold;
  m.opt.class_priors = m.class_priors;
  m.opt.threads = threads;
  m.g = g;
  detail::check_options(m.a, m.opt);
  m.c = detail::build_csr(m.a, true);
  start();
}

void GladShard::start() {
  Impl& m = *impl_;
  const std::size_t K = static_cast<std::size_t>(m.a.n_labels);
  // As glad() initializes its state.
  m.s.alpha.assign(static_cast<std::size_t>(m.a.n_workers), m.g.alpha_prior);
  m.s.b.assign(static_cast<std::size_t>(m.a.n_tasks), m.g.beta_prior);
  m.s.p_right.assign(m.a.n, 0.0);
  m.s.log_prior.assign(K, 0.0);
  if (!m.class_priors.empty()) {
    double tot = 0;
    for (double p : m.class_priors) tot += p;
    for (std::size_t k = 0; k < K; ++k) m.s.log_prior[k] = util::det::log(m.class_priors[k] / tot);
  } else {
    for (std::size_t k = 0; k < K; ++k) m.s.log_prior[k] = -util::det::log(static_cast<double>(K));
  }
  m.probas.assign(static_cast<std::size_t>(m.a.n_tasks) * K, 0.0);
}

GladShard::~GladShard() = default;

void GladShard::e_step(std::span<const double> alpha) {
  Impl& m = *impl_;
  m.set_alpha(alpha);
  detail::glad::e_step(m.c, m.opt, m.s, m.probas.data());
}

void GladShard::alpha_sums(std::span<const double> alpha, double* grad, double* info) {
  Impl& m = *impl_;
  m.set_alpha(alpha);
  detail::glad::alpha_sums(m.c, m.opt, m.s, grad, info);
}

double GladShard::b_step(std::span<const double> alpha) {
  Impl& m = *impl_;
  m.set_alpha(alpha);
  return detail::glad::b_step(m.c, m.opt, m.g, m.s);
}

std::vector<double> GladShard::q_blocks(std::span<const double> alpha) {
  Impl& m = *impl_;
  m.set_alpha(alpha);
  return detail::glad::q_blocks(m.c, m.opt, m.g, m.s);
}

void GladShard::skill_sums(std::span<const double> alpha, double* sums) {
  Impl& m = *impl_;
  m.set_alpha(alpha);
  detail::glad::skill_sums(m.c, m.s, sums);
}

std::vector<std::int64_t> GladShard::answers_per_worker() const {
  const detail::Csr& c = impl_->c;
  std::vector<std::int64_t> n(static_cast<std::size_t>(c.n_workers));
  for (std::size_t w = 0; w < n.size(); ++w) n[w] = c.worker_offset[w + 1] - c.worker_offset[w];
  return n;
}

std::vector<double> GladShard::priors() const {
  std::vector<double> p(impl_->s.log_prior.size());
  for (std::size_t k = 0; k < p.size(); ++k) p[k] = util::det::exp(impl_->s.log_prior[k]);
  return p;
}

void GladShard::posteriors(double* probas, std::int32_t* labels, double* difficulties) {
  Impl& m = *impl_;
  Result r;  // labels as glad() writes them
  r.n_tasks = m.a.n_tasks;
  r.n_labels = m.a.n_labels;
  r.probas = m.probas;
  r.labels.assign(static_cast<std::size_t>(m.a.n_tasks), -1);
  detail::finish_labels(r, m.c, m.opt);
  std::copy(r.probas.begin(), r.probas.end(), probas);
  std::copy(r.labels.begin(), r.labels.end(), labels);
  for (std::size_t t = 0; t < m.s.b.size(); ++t) difficulties[t] = util::det::exp(m.s.b[t]);
}

std::int32_t GladShard::n_tasks() const { return impl_->a.n_tasks; }
std::size_t GladShard::n_answers() const { return impl_->a.n; }

double glad_alpha_update(std::span<const double> grad, std::span<const double> info, std::span<double> alpha) {
  if (grad.size() != alpha.size() || info.size() != alpha.size())
    throw InvalidArgument("glad_alpha_update: grad, info and alpha must have the same length");
  std::vector<double> a(alpha.begin(), alpha.end());
  const double moved = detail::glad::alpha_update(grad.data(), info.data(), a);
  std::copy(a.begin(), a.end(), alpha.begin());
  return moved;
}

double glad_objective(std::span<const double> block_q, std::span<const double> alpha, double alpha_prior) {
  return detail::glad::q_total(std::vector<double>(block_q.begin(), block_q.end()),
                               std::vector<double>(alpha.begin(), alpha.end()), alpha_prior);
}

}  // namespace tagger::consensus
