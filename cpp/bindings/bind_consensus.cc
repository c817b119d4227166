// tagger._core.consensus: numpy in (int32 arrays pass without copies), dicts
// of numpy arrays out (moved, not copied). Fitting runs with the GIL released;
// the per-iteration hook re-acquires it for the Python callback and to let
// Ctrl-C stop a long fit.
#include <algorithm>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "common.h"
#include "iteration_hook.h"
#include "tagger/consensus.h"

namespace tagger::bindings {
namespace cs = tagger::consensus;
using I32 = py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>;
using F64 = py::array_t<double, py::array::c_style | py::array::forcecast>;
using I64 = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;

static cs::AnswersView view(const I32& t, const I32& w, const I32& l, std::int32_t nt, std::int32_t nw, std::int32_t nl) {
  if (t.ndim() != 1 || w.ndim() != 1 || l.ndim() != 1 || t.size() != w.size() || t.size() != l.size())
    throw InvalidArgument("consensus: task, worker and label must be 1-d arrays of the same length");
  return {t.data(), w.data(), l.data(), static_cast<std::size_t>(t.size()), nt, nw, nl};
}

// Holds what Options points into, and a Python error raised by the callback.
struct Opts {
  cs::Options o;
  std::optional<I32> gold;
  std::optional<F64> priors;
  PendingError error;
  Opts(std::int32_t n_iter, double tol, double smoothing, const py::object& gold_, const py::object& priors_,
       unsigned threads, std::uint64_t seed, const py::object& callback) {
    o.n_iter = n_iter; o.tol = tol; o.smoothing = smoothing; o.threads = threads; o.seed = seed;
    if (!gold_.is_none()) { gold = gold_.cast<I32>(); o.gold = {gold->data(), static_cast<std::size_t>(gold->size())}; }
    if (!priors_.is_none()) { priors = priors_.cast<F64>(); o.class_priors = {priors->data(), static_cast<std::size_t>(priors->size())}; }
    error = hook_iterations(o, callback);
  }
  void rethrow() { rethrow_pending(error); }
};

static py::dict to_dict(cs::Result&& r) {
  py::dict d;
  const auto T = static_cast<py::ssize_t>(r.n_tasks), K = static_cast<py::ssize_t>(r.n_labels), W = static_cast<py::ssize_t>(r.n_workers);
  d["probas"] = take(std::move(r.probas), {T, K});
  d["labels"] = take(std::move(r.labels));
  d["priors"] = take(std::move(r.priors));
  d["skills"] = take(std::move(r.skills));
  d["errors"] = r.errors.empty() ? py::object(py::none()) : py::object(take(std::move(r.errors), {W, K, K}));
  d["difficulties"] = take(std::move(r.difficulties));
  d["abilities"] = take(std::move(r.abilities));
  d["spamming"] = take(std::move(r.spamming));
  d["strategies"] = r.strategies.empty() ? py::object(py::none()) : py::object(take(std::move(r.strategies), {W, K}));
  d["model_weight"] = r.model_weight;
  if (!r.communities.empty()) {
    const auto M = static_cast<py::ssize_t>(r.communities.size()) / std::max<py::ssize_t>(W, 1);
    d["communities"] = take(std::move(r.communities), {W, M});
    d["community_errors"] = take(std::move(r.community_errors), {M, K, K});
  }
  d["objective_history"] = take(std::move(r.objective_history));
  d["n_iter"] = r.n_iter;
  d["converged"] = r.converged;
  return d;
}

// Runs fn(view, options) with the GIL released and converts the result.
template <class Fn>
static py::dict run(const I32& t, const I32& w, const I32& l, std::int32_t nt, std::int32_t nw, std::int32_t nl, Opts& o, Fn&& fn) {
  cs::AnswersView a = view(t, w, l, nt, nw, nl);
  cs::Result r;
  {
    NoGil release;
    r = fn(a, o.o);
    park_if_finalizing();
  }
  o.rethrow();
  return to_dict(std::move(r));
}

#define ANSWERS py::arg("task"), py::arg("worker"), py::arg("label"), py::arg("n_tasks"), py::arg("n_workers"), py::arg("n_labels")
#define OPTIONS py::kw_only(), py::arg("n_iter") = 100, py::arg("tol") = 1e-5, py::arg("smoothing") = 0.0, \
    py::arg("gold") = py::none(), py::arg("class_priors") = py::none(), py::arg("threads") = 0, py::arg("seed") = 0, \
    py::arg("callback") = py::none()
#define SIG const I32 &t, const I32 &w, const I32 &l, std::int32_t nt, std::int32_t nw, std::int32_t nl
#define OPT_SIG std::int32_t n_iter, double tol, double sm, const py::object &gold, const py::object &pri, unsigned th, std::uint64_t seed, const py::object &cb
#define MAKE_OPTS Opts o(n_iter, tol, sm, gold, pri, th, seed, cb)

TAGGER_BIND_MODULE(consensus) {
  m.def("method_names", &cs::method_names);
  m.def("fit", [](const std::string& method, SIG, OPT_SIG) {
    MAKE_OPTS; return run(t, w, l, nt, nw, nl, o, [&](auto& a, auto& op) { return cs::fit(method, a, op); });
  }, py::arg("method"), ANSWERS, OPTIONS);
#define SIMPLE(name) \
  m.def(#name, [](SIG, OPT_SIG) { MAKE_OPTS; return run(t, w, l, nt, nw, nl, o, [](auto& a, auto& op) { return cs::name(a, op); }); }, ANSWERS, OPTIONS)
  SIMPLE(majority_vote);
  SIMPLE(dawid_skene);
  SIMPLE(one_coin_dawid_skene);
  SIMPLE(wawa);
#undef SIMPLE
  m.def("weighted_majority_vote", [](SIG, const F64& skills, OPT_SIG) {
    MAKE_OPTS; return run(t, w, l, nt, nw, nl, o, [&](auto& a, auto& op) {
      return cs::weighted_majority_vote(a, {skills.data(), static_cast<std::size_t>(skills.size())}, op); });
  }, ANSWERS, py::arg("skills"), OPTIONS);
  m.def("glad", [](SIG, std::int32_t m_steps, double m_tol, double ap, double bp, OPT_SIG) {
    MAKE_OPTS; cs::GladOptions g{m_steps, m_tol, ap, bp};
    return run(t, w, l, nt, nw, nl, o, [&](auto& a, auto& op) { return cs::glad(a, op, g); });
  }, ANSWERS, py::arg("m_steps") = 25, py::arg("m_tol") = 1e-2, py::arg("alpha_prior") = 1.0, py::arg("beta_prior") = 1.0, OPTIONS);
  m.def("mace", [](SIG, std::int32_t restarts, bool vb, double alpha, double beta, double sp, double msm, double noise, OPT_SIG) {
    MAKE_OPTS; cs::MaceOptions mo{restarts, vb, alpha, beta, sp, msm, noise};
    return run(t, w, l, nt, nw, nl, o, [&](auto& a, auto& op) { return cs::mace(a, op, mo); });
  }, ANSWERS, py::arg("n_restarts") = 10, py::arg("variational") = true, py::arg("alpha") = 0.5, py::arg("beta") = 0.5,
     py::arg("strategy_prior") = 10.0, py::arg("mace_smoothing") = -1.0, py::arg("default_noise") = 0.5, OPTIONS);
  m.def("zero_based_skill", [](SIG, double lr, std::int32_t steps, double factor, double eps, OPT_SIG) {
    MAKE_OPTS; cs::ZeroBasedSkillOptions z{lr, steps, factor, eps};
    return run(t, w, l, nt, nw, nl, o, [&](auto& a, auto& op) { return cs::zero_based_skill(a, op, z); });
  }, ANSWERS, py::arg("lr_init") = 1.0, py::arg("lr_steps_to_reduce") = 20, py::arg("lr_reduce_factor") = 0.5, py::arg("eps") = 1e-5, OPTIONS);
  m.def("bwa", [](SIG, double a_prior, double b_prior, double lambda0, OPT_SIG) {
    MAKE_OPTS; cs::BwaOptions bo{a_prior, b_prior, lambda0};
    return run(t, w, l, nt, nw, nl, o, [&](auto& a, auto& op) { return cs::bwa(a, op, bo); });
  }, ANSWERS, py::arg("a") = 1.0, py::arg("b") = 1.0, py::arg("lambda0") = 1.0, OPTIONS);
  m.def("ebcc", [](SIG, std::int32_t n_groups, double a_pi, double alpha, double a_v, double b_v, OPT_SIG) {
    MAKE_OPTS; cs::EbccOptions eo{n_groups, a_pi, alpha, a_v, b_v};
    return run(t, w, l, nt, nw, nl, o, [&](auto& a, auto& op) { return cs::ebcc(a, op, eo); });
  }, ANSWERS, py::arg("n_groups") = 10, py::arg("a_pi") = 0.1, py::arg("alpha") = 1.0, py::arg("a_v") = 4.0,
     py::arg("b_v") = 1.0, OPTIONS);
  m.def("cbcc", [](SIG, std::int32_t n_communities, double strength, double alpha, double gamma, double a_v, double b_v, OPT_SIG) {
    MAKE_OPTS; cs::CbccOptions co{n_communities, strength, alpha, gamma, a_v, b_v};
    return run(t, w, l, nt, nw, nl, o, [&](auto& a, auto& op) { return cs::cbcc(a, op, co); });
  }, ANSWERS, py::arg("n_communities") = 3, py::arg("strength") = 5.0, py::arg("alpha") = 1.0, py::arg("gamma") = 1.0,
     py::arg("a_v") = 4.0, py::arg("b_v") = 1.0, OPTIONS);
  m.def("crowdlab", [](SIG, const F64& model, const std::string& consensus_method, OPT_SIG) {
    if (consensus_method != "best_quality" && consensus_method != "majority_vote")
      throw InvalidArgument("consensus: consensus_method must be 'best_quality' or 'majority_vote', not '" + consensus_method + "'");
    const auto method = consensus_method == "best_quality" ? cs::CrowdlabConsensus::kBestQuality : cs::CrowdlabConsensus::kMajorityVote;
    MAKE_OPTS; return run(t, w, l, nt, nw, nl, o, [&](auto& a, auto& op) {
      return cs::crowdlab(a, {model.data(), static_cast<std::size_t>(model.size())}, op, method); });
  }, ANSWERS, py::arg("model_probas"), py::arg("consensus_method") = "best_quality", OPTIONS);
  m.def("continuous", [](const std::string& method, const I32& t, const I32& w, const F64& v, std::int32_t nt, std::int32_t nw, double trim, unsigned threads) {
    if (t.ndim() != 1 || t.size() != w.size() || t.size() != v.size()) throw InvalidArgument("consensus: task, worker and value must be 1-d arrays of the same length");
    cs::ContinuousView a{t.data(), w.data(), v.data(), static_cast<std::size_t>(t.size()), nt, nw};
    cs::Options op; op.threads = threads;
    if (method != "median" && method != "trimmed_mean") throw InvalidArgument("consensus: unknown continuous method '" + method + "'");
    cs::ContinuousResult r;
    { NoGil release; r = method == "median" ? cs::median(a, op) : cs::trimmed_mean(a, trim, op); }
    return take(std::move(r.values));
  }, py::arg("method"), py::arg("task"), py::arg("worker"), py::arg("value"), py::arg("n_tasks"), py::arg("n_workers"), py::arg("trim") = 0.1, py::arg("threads") = 0);
  m.def("factorize", [](const py::array& values, bool sorted) {
    // int32 ids are read in place; other integer types are converted to int64 once.
    const bool i32 = values.dtype().is(py::dtype::of<std::int32_t>()) && (values.flags() & py::array::c_style);
    I32 in32 = i32 ? values.cast<I32>() : I32();
    I64 in64 = i32 ? I64() : values.cast<I64>();
    const py::ssize_t n = i32 ? in32.size() : in64.size();
    if ((i32 ? in32.ndim() : in64.ndim()) != 1) throw InvalidArgument("consensus: factorize needs a 1-d integer array");
    cs::Codes c;
    {
      NoGil release;
      c = i32 ? cs::factorize(std::span<const std::int32_t>(in32.data(), static_cast<std::size_t>(n)), sorted)
              : cs::factorize(std::span<const std::int64_t>(in64.data(), static_cast<std::size_t>(n)), sorted);
    }
    return py::make_tuple(take(std::move(c.codes)), take(std::move(c.uniques)));
  }, py::arg("values"), py::arg("sorted") = false);
  m.def("factorize_strings", [](const py::object& values) -> py::object {
    // Views into the caller's buffers: Arrow string chunks as (offsets, data)
    // pairs, or an object array of str. None when a value is not a str (the
    // caller falls back to pandas, whose equality then decides).
    std::vector<std::string_view> views;
    py::object keep_alive;
    py::list chunks_alive;
    if (py::isinstance<py::list>(values)) {
      for (const py::handle chunk : values.cast<py::list>()) {
        auto pair = chunk.cast<py::tuple>();
        const auto data = pair[1].cast<py::array_t<std::uint8_t, py::array::c_style>>();
        chunks_alive.append(data);  // a converted copy must outlive the views into it
        const char* bytes = reinterpret_cast<const char*>(data.data());
        auto add = [&](const auto& arr) {
          const auto* off = arr.data();
          const py::ssize_t m = arr.size() - 1;
          if (m < 0 || off[0] < 0 || off[m] > data.size()) throw InvalidArgument("consensus: string offsets outside their data buffer");
          for (py::ssize_t i = 0; i < m; ++i) {
            if (off[i + 1] < off[i]) throw InvalidArgument("consensus: string offsets must not decrease");
            views.emplace_back(bytes + off[i], static_cast<std::size_t>(off[i + 1] - off[i]));
          }
        };
        if (py::array(pair[0]).dtype().is(py::dtype::of<std::int32_t>())) add(pair[0].cast<py::array_t<std::int32_t, py::array::c_style>>());
        else add(pair[0].cast<py::array_t<std::int64_t, py::array::c_style>>());
      }
    } else {
      const auto given = values.cast<py::array>();
      if (given.dtype().kind() != 'O' || given.ndim() != 1) throw InvalidArgument("consensus: factorize_strings needs a 1-d object array");
      // A private copy holds its own references: another thread that replaces
      // an element of the caller's array while the GIL is released below
      // cannot free a string whose bytes are being hashed.
      keep_alive = given.attr("copy")();
      const auto objects = keep_alive.cast<py::array>();
      const auto n = objects.shape(0);
      const auto stride = objects.strides(0);
      const char* base = static_cast<const char*>(objects.data());
      views.reserve(static_cast<std::size_t>(n));
      for (py::ssize_t i = 0; i < n; ++i) {
        PyObject* o = *reinterpret_cast<PyObject* const*>(base + i * stride);
        if (!PyUnicode_Check(o)) return py::none();
        Py_ssize_t len = 0;
        const char* utf8 = PyUnicode_AsUTF8AndSize(o, &len);
        if (!utf8) { PyErr_Clear(); return py::none(); }  // lone surrogates: pandas decides
        views.emplace_back(utf8, static_cast<std::size_t>(len));
      }
    }
    cs::StringCodes c;
    { NoGil release; c = cs::factorize(std::span<const std::string_view>(views)); }
    std::int32_t* raw = c.codes.release();
    py::capsule owner(raw, [](void* p) { std::unique_ptr<std::int32_t[]> drop(static_cast<std::int32_t*>(p)); });
    return py::make_tuple(py::array_t<std::int32_t>({static_cast<py::ssize_t>(views.size())}, raw, owner), take(std::move(c.first_rows)));
  }, py::arg("values"));
  m.def("superseded", [](const I32& t, const I32& w, std::int32_t nt, std::int32_t nw) {
    if (t.ndim() != 1 || w.ndim() != 1 || t.size() != w.size())
      throw InvalidArgument("consensus: task and worker must be 1-d arrays of the same length");
    cs::AnswersView a{t.data(), w.data(), nullptr, static_cast<std::size_t>(t.size()), nt, nw, 0};
    std::vector<std::int64_t> rows;
    { NoGil release; rows = cs::superseded_answers(a); }
    return take(std::move(rows));
  }, py::arg("task"), py::arg("worker"), py::arg("n_tasks"), py::arg("n_workers"));
  m.def("detect", [](SIG, const F64& probas, const I32& labels, double confidence, unsigned threads) {
    cs::AnswersView a = view(t, w, l, nt, nw, nl);
    cs::Result r; r.n_tasks = nt; r.n_workers = nw; r.n_labels = nl;
    r.probas.assign(probas.data(), probas.data() + probas.size());
    r.labels.assign(labels.data(), labels.data() + labels.size());
    cs::Detection d;
    { NoGil release; d = cs::detect(a, r, confidence, threads); }
    py::dict out;
    out["task_entropy"] = take(std::move(d.task_entropy)); out["task_margin"] = take(std::move(d.task_margin));
    out["answer_error"] = take(std::move(d.answer_error)); out["worker_n_answers"] = take(std::move(d.worker_n_answers));
    out["worker_agreement"] = take(std::move(d.worker_agreement)); out["worker_accuracy"] = take(std::move(d.worker_accuracy));
    out["worker_accuracy_low"] = take(std::move(d.worker_accuracy_low)); out["worker_accuracy_high"] = take(std::move(d.worker_accuracy_high));
    return out;
  }, ANSWERS, py::arg("probas"), py::arg("labels"), py::arg("confidence") = 0.95, py::arg("threads") = 0);
}

}  // namespace tagger::bindings
