// tagger._core.consensus_crowdkit: crowd-kit 1.4's Dawid-Skene, one-coin
// Dawid-Skene, GLAD, KOS and M-MSR step for step (tagger/consensus_crowdkit.h). numpy in,
// dicts of numpy arrays out; the work runs with the GIL released.
#include <optional>
#include <span>

#include "common.h"
#include "iteration_hook.h"
#include "tagger/consensus_crowdkit.h"

namespace tagger::bindings {
namespace cs = tagger::consensus;
namespace {
using I32 = py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>;
using U8 = py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast>;
using F64 = py::array_t<double, py::array::c_style | py::array::forcecast>;

cs::AnswersView view(const I32& t, const I32& w, const I32& l, std::int32_t nt, std::int32_t nw, std::int32_t nl) {
  if (t.ndim() != 1 || w.ndim() != 1 || l.ndim() != 1 || t.size() != w.size() || t.size() != l.size())
    throw InvalidArgument("consensus: task, worker and label must be 1-d arrays of the same length");
  return {t.data(), w.data(), l.data(), static_cast<std::size_t>(t.size()), nt, nw, nl};
}

py::dict to_dict(cs::Result&& r) {
  py::dict d;
  const auto T = static_cast<py::ssize_t>(r.n_tasks), K = static_cast<py::ssize_t>(r.n_labels),
             W = static_cast<py::ssize_t>(r.n_workers);
  d["probas"] = take(std::move(r.probas), {T, K});
  d["labels"] = take(std::move(r.labels));
  d["priors"] = take(std::move(r.priors));
  d["skills"] = take(std::move(r.skills));
  if (!r.abilities.empty() || !r.difficulties.empty()) {
    d["abilities"] = take(std::move(r.abilities));
    d["difficulties"] = take(std::move(r.difficulties));
  }
  d["errors"] = r.errors.empty() ? py::object(py::none()) : py::object(take(std::move(r.errors), {W, K, K}));
  d["objective_history"] = take(std::move(r.objective_history));
  d["n_iter"] = r.n_iter;
  d["converged"] = r.converged;
  return d;
}

// Options with the gold array they point into, and the per-iteration hook (progress callback,
// Ctrl-C): these fits took none, so verbose=True showed an empty bar and Ctrl-C waited for the
// end of an M-MSR or one-coin fit of minutes.
struct Opts {
  cs::Options o;
  std::optional<I32> gold;
  PendingError error;
  Opts(std::int32_t n_iter, double tol, const py::object& gold_, std::uint64_t seed, unsigned threads,
       const py::object& callback) {
    o.n_iter = n_iter; o.tol = tol; o.seed = seed; o.threads = threads;
    if (!gold_.is_none()) { gold = gold_.cast<I32>(); o.gold = {gold->data(), static_cast<std::size_t>(gold->size())}; }
    error = hook_iterations(o, callback);
  }
};

template <class Fn>
py::dict run(const cs::AnswersView& a, Opts& o, Fn&& fn) {
  cs::Result r;
  {
    NoGil release;
    r = fn(a);
    park_if_finalizing();
  }
  rethrow_pending(o.error);
  return to_dict(std::move(r));
}
}  // namespace

#define ANSWERS py::arg("task"), py::arg("worker"), py::arg("label"), py::arg("n_tasks"), py::arg("n_workers"), py::arg("n_labels")
#define SIG const I32 &t, const I32 &w, const I32 &l, std::int32_t nt, std::int32_t nw, std::int32_t nl

TAGGER_BIND_MODULE(consensus_crowdkit) {
  m.def("dawid_skene", [](SIG, std::int32_t n_iter, double tol, const py::object& gold, std::int32_t strategy,
                          const py::object& initial_error, const py::object& given, unsigned threads,
                          const py::object& callback) {
    Opts o(n_iter, tol, gold, 0, threads, callback);
    cs::InitialError init;
    std::optional<F64> values;
    std::optional<U8> rows;
    if (strategy < 0 || strategy > 2) throw InvalidArgument("consensus: initial error strategy must be 0, 1 or 2");
    init.strategy = static_cast<cs::InitialError::Strategy>(strategy);
    if (strategy != 0) {
      values = initial_error.cast<F64>();
      rows = given.cast<U8>();
      init.values = {values->data(), static_cast<std::size_t>(values->size())};
      init.given = {rows->data(), static_cast<std::size_t>(rows->size())};
    }
    return run(view(t, w, l, nt, nw, nl), o, [&](const cs::AnswersView& a) { return cs::dawid_skene_crowdkit(a, o.o, init); });
  }, ANSWERS, py::kw_only(), py::arg("n_iter") = 100, py::arg("tol") = 1e-5, py::arg("gold") = py::none(),
     py::arg("strategy") = 0, py::arg("initial_error") = py::none(), py::arg("given") = py::none(), py::arg("threads") = 0,
     py::arg("callback") = py::none());
  m.def("one_coin_dawid_skene", [](SIG, std::int32_t n_iter, double tol, const py::object& gold, unsigned threads,
                                   const py::object& callback) {
    Opts o(n_iter, tol, gold, 0, threads, callback);
    return run(view(t, w, l, nt, nw, nl), o, [&](const cs::AnswersView& a) { return cs::one_coin_dawid_skene_crowdkit(a, o.o); });
  }, ANSWERS, py::kw_only(), py::arg("n_iter") = 100, py::arg("tol") = 1e-5, py::arg("gold") = py::none(),
     py::arg("threads") = 0, py::arg("callback") = py::none());
  m.def("glad", [](SIG, std::int32_t n_iter, double tol, const py::object& gold, const py::object& class_priors,
                   const py::object& label_order, double alpha_prior, double beta_prior, std::int32_t m_step_max_iter,
                   double m_step_tol, unsigned threads, const py::object& callback) {
    Opts o(n_iter, tol, gold, 0, threads, callback);
    std::optional<F64> priors;
    std::optional<I32> order;
    if (!class_priors.is_none()) {
      priors = class_priors.cast<F64>();
      o.o.class_priors = {priors->data(), static_cast<std::size_t>(priors->size())};
    }
    cs::GladCrowdkitOptions g;
    if (!label_order.is_none()) {
      order = label_order.cast<I32>();
      g.label_order = {order->data(), static_cast<std::size_t>(order->size())};
    }
    g.alpha_prior = alpha_prior; g.beta_prior = beta_prior;
    g.m_step_max_iter = m_step_max_iter; g.m_step_tol = m_step_tol;
    return run(view(t, w, l, nt, nw, nl), o, [&](const cs::AnswersView& a) { return cs::glad_crowdkit(a, o.o, g); });
  }, ANSWERS, py::kw_only(), py::arg("n_iter") = 100, py::arg("tol") = 1e-5, py::arg("gold") = py::none(),
     py::arg("class_priors") = py::none(), py::arg("label_order") = py::none(), py::arg("alpha_prior") = 1.0,
     py::arg("beta_prior") = 1.0, py::arg("m_step_max_iter") = 25, py::arg("m_step_tol") = 1e-2,
     py::arg("threads") = 0, py::arg("callback") = py::none());
  m.def("kos", [](SIG, std::int32_t positive, std::int32_t n_iter, std::uint64_t seed, const py::object& callback) {
    Opts o(n_iter, 0.0, py::none(), seed, 1, callback);
    return run(view(t, w, l, nt, nw, nl), o, [&](const cs::AnswersView& a) { return cs::kos(a, positive, o.o); });
  }, ANSWERS, py::kw_only(), py::arg("positive") = 0, py::arg("n_iter") = 100, py::arg("seed") = 0,
     py::arg("callback") = py::none());
  m.def("mmsr", [](SIG, std::int32_t n_iter, double tol, std::uint64_t seed, const py::object& callback) {
    Opts o(n_iter, tol, py::none(), seed, 1, callback);
    cs::AnswersView a = view(t, w, l, nt, nw, nl);
    cs::MmsrResult r;
    {
      NoGil release;
      r = cs::mmsr(a, o.o);
      park_if_finalizing();
    }
    rethrow_pending(o.error);
    py::dict d;
    d["skills"] = take(std::move(r.skills));
    d["loss_history"] = take(std::move(r.loss_history));
    d["n_iter"] = r.n_iter;
    return d;
  }, ANSWERS, py::kw_only(), py::arg("n_iter") = 10000, py::arg("tol") = 1e-10, py::arg("seed") = 0,
     py::arg("callback") = py::none());
}

#undef ANSWERS
#undef SIG

}  // namespace tagger::bindings
