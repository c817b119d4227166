// tagger._core.consensus_shard: the E-step of one shard and the M-step from
// summed statistics (consensus_shard.h), for tagger.consensus.distributed.
// Statistics come back as numpy arrays (moved, not copied); passes run with
// the GIL released, under the instance lock (a shard is mutable state).
#include <optional>
#include <span>

#include "common.h"
#include "tagger/consensus_shard.h"

namespace tagger::bindings {
namespace cs = tagger::consensus;
using I32 = py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>;
using I64 = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;
using F64 = py::array_t<double, py::array::c_style | py::array::forcecast>;

static cs::AnswersView shard_view(const I32& t, const I32& w, const I32& l, std::int32_t nt, std::int32_t nw, std::int32_t nl) {
  if (t.ndim() != 1 || w.ndim() != 1 || l.ndim() != 1 || t.size() != w.size() || t.size() != l.size())
    throw InvalidArgument("consensus shard: task, worker and label must be 1-d arrays of the same length");
  return {t.data(), w.data(), l.data(), static_cast<std::size_t>(t.size()), nt, nw, nl};
}
static std::span<const std::int32_t> gold_span(const std::optional<I32>& g) {
  return g ? std::span<const std::int32_t>(g->data(), static_cast<std::size_t>(g->size())) : std::span<const std::int32_t>();
}
template <class T>
static std::vector<T> vec(const py::array_t<T, py::array::c_style | py::array::forcecast>& a) {
  return std::vector<T>(a.data(), a.data() + a.size());
}
static py::dict stats_dict(cs::ShardStats&& s) {
  py::dict d;
  d["counts"] = take(std::move(s.counts));
  d["prior"] = take(std::move(s.prior));
  d["block_ll"] = take(std::move(s.block_ll));
  d["n_answers"] = take(std::move(s.n_answers));
  return d;
}
static cs::Options m_opts(double smoothing, const std::optional<F64>& priors) {
  cs::Options o;
  o.smoothing = smoothing;
  if (priors) o.class_priors = {priors->data(), static_cast<std::size_t>(priors->size())};
  return o;
}

// Posteriors of a shard under params (or the start when params is None).
template <class Shard, class Params>
static py::tuple shard_posteriors(Shard& s, const Params* p, std::int32_t n_labels) {
  const auto T = static_cast<py::ssize_t>(s.n_tasks());
  py::array_t<double> probas({T, static_cast<py::ssize_t>(n_labels)});
  py::array_t<std::int32_t> labels(T);
  double* pp = probas.mutable_data();
  std::int32_t* lp = labels.mutable_data();
  InstanceLock lock(&s, true);
  {
    NoGil release;
    s.posteriors(p, pp, lp);
  }
  return py::make_tuple(probas, labels);
}

// The Dawid-Skene passes of an in-memory shard and of a spill file: start,
// e_step, posteriors, and their sizes.
template <class Shard>
void bind_ds_passes(py::class_<Shard>& cls) {
  cls.def("start", [](Shard& s) {
        InstanceLock lock(&s, true);
        cs::ShardStats st;
        { NoGil release; st = s.start(); }
        return stats_dict(std::move(st));
      })
      .def("e_step", [](Shard& s, const F64& e, const F64& prior) {
        cs::DsParams p{vec(e), vec(prior)};
        InstanceLock lock(&s, true);
        cs::ShardStats st;
        { NoGil release; st = s.e_step(p); }
        return stats_dict(std::move(st));
      }, py::arg("e"), py::arg("prior"))
      .def("posteriors", [](Shard& s, std::int32_t n_labels, std::optional<F64> e, std::optional<F64> prior) {
        if (e.has_value() != prior.has_value()) throw InvalidArgument("posteriors: pass both e and prior, or neither");
        std::optional<cs::DsParams> p;
        if (e) p = cs::DsParams{vec(*e), vec(*prior)};
        return shard_posteriors(s, p ? &*p : nullptr, n_labels);
      }, py::arg("n_labels"), py::arg("e") = py::none(), py::arg("prior") = py::none())
      .def_property_readonly("n_tasks", &Shard::n_tasks)
      .def_property_readonly("n_answers", &Shard::n_answers);
}

TAGGER_BIND_MODULE(consensus_shard) {
  m.attr("TASK_ALIGN") = cs::kShardTaskAlign;

  py::class_<cs::DawidSkeneShard> ds_shard(m, "DawidSkeneShard");
  ds_shard.def(py::init([](const I32& t, const I32& w, const I32& l, std::int32_t nt, std::int32_t nw, std::int32_t nl,
                       std::optional<I32> gold, unsigned threads) {
             cs::AnswersView a = shard_view(t, w, l, nt, nw, nl);
             NoGil release;
             return std::make_unique<cs::DawidSkeneShard>(a, gold_span(gold), threads);
           }),
           py::arg("task"), py::arg("worker"), py::arg("label"), py::arg("n_tasks"), py::arg("n_workers"),
           py::arg("n_labels"), py::kw_only(), py::arg("gold") = py::none(), py::arg("threads") = 0);
  bind_ds_passes(ds_shard);

  m.def("dawid_skene_m_step", [](const I64& counts, const I64& prior, std::int32_t nw, std::int32_t nl, double smoothing,
                                 std::optional<F64> class_priors) {
    cs::DsParams p = cs::dawid_skene_m_step({counts.data(), static_cast<std::size_t>(counts.size())},
                                            {prior.data(), static_cast<std::size_t>(prior.size())}, nw, nl,
                                            m_opts(smoothing, class_priors));
    return py::make_tuple(take(std::move(p.e)), take(std::move(p.prior)));
  }, py::arg("counts"), py::arg("prior"), py::arg("n_workers"), py::arg("n_labels"), py::kw_only(),
     py::arg("smoothing") = 0.0, py::arg("class_priors") = py::none());

  py::class_<cs::GladShard>(m, "GladShard")
      .def(py::init([](const I32& t, const I32& w, const I32& l, std::int32_t nt, std::int32_t nw, std::int32_t nl,
                       std::optional<I32> gold, std::optional<F64> class_priors, std::int32_t m_steps, double m_tol,
                       double alpha_prior, double beta_prior, unsigned threads) {
             cs::AnswersView a = shard_view(t, w, l, nt, nw, nl);
             cs::GladOptions g;
             g.m_steps = m_steps;
             g.m_tol = m_tol;
             g.alpha_prior = alpha_prior;
             g.beta_prior = beta_prior;
             std::span<const double> pri;
             if (class_priors) pri = {class_priors->data(), static_cast<std::size_t>(class_priors->size())};
             NoGil release;
             return std::make_unique<cs::GladShard>(a, gold_span(gold), pri, g, threads);
           }),
           py::arg("task"), py::arg("worker"), py::arg("label"), py::arg("n_tasks"), py::arg("n_workers"),
           py::arg("n_labels"), py::kw_only(), py::arg("gold") = py::none(), py::arg("class_priors") = py::none(),
           py::arg("m_steps") = 25, py::arg("m_tol") = 1e-2, py::arg("alpha_prior") = 1.0, py::arg("beta_prior") = 1.0,
           py::arg("threads") = 0)
      .def("start", [](cs::GladShard& s) {
        InstanceLock lock(&s, true);
        s.start();
      })
      .def("e_step", [](cs::GladShard& s, const F64& alpha) {
        InstanceLock lock(&s, true);
        NoGil release;
        s.e_step({alpha.data(), static_cast<std::size_t>(alpha.size())});
      }, py::arg("alpha"))
      .def("alpha_sums", [](cs::GladShard& s, const F64& alpha, const F64& grad, const F64& info) {
        if (grad.size() != alpha.size() || info.size() != alpha.size())
          throw InvalidArgument("alpha_sums: alpha, grad and info must have n_workers values");
        std::vector<double> g = vec(grad), i = vec(info);
        {
          InstanceLock lock(&s, true);
          NoGil release;
          s.alpha_sums({alpha.data(), static_cast<std::size_t>(alpha.size())}, g.data(), i.data());
        }
        return py::make_tuple(take(std::move(g)), take(std::move(i)));
      }, py::arg("alpha"), py::arg("grad"), py::arg("info"))
      .def("b_step", [](cs::GladShard& s, const F64& alpha) {
        InstanceLock lock(&s, true);
        NoGil release;
        return s.b_step({alpha.data(), static_cast<std::size_t>(alpha.size())});
      }, py::arg("alpha"))
      .def("q_blocks", [](cs::GladShard& s, const F64& alpha) {
        std::vector<double> q;
        {
          InstanceLock lock(&s, true);
          NoGil release;
          q = s.q_blocks({alpha.data(), static_cast<std::size_t>(alpha.size())});
        }
        return take(std::move(q));
      }, py::arg("alpha"))
      .def("skill_sums", [](cs::GladShard& s, const F64& alpha, const F64& sums) {
        if (sums.size() != alpha.size()) throw InvalidArgument("skill_sums: alpha and sums must have n_workers values");
        std::vector<double> out = vec(sums);
        {
          InstanceLock lock(&s, true);
          NoGil release;
          s.skill_sums({alpha.data(), static_cast<std::size_t>(alpha.size())}, out.data());
        }
        return take(std::move(out));
      }, py::arg("alpha"), py::arg("sums"))
      .def("answers_per_worker", [](const cs::GladShard& s) { return take(s.answers_per_worker()); })
      .def("priors", [](const cs::GladShard& s) { return take(s.priors()); })
      .def("posteriors", [](cs::GladShard& s, std::int32_t n_labels) {
        const auto T = static_cast<py::ssize_t>(s.n_tasks());
        py::array_t<double> probas({T, static_cast<py::ssize_t>(n_labels)});
        py::array_t<std::int32_t> labels(T);
        py::array_t<double> difficulties(T);
        double* pp = probas.mutable_data();
        std::int32_t* lp = labels.mutable_data();
        double* dp = difficulties.mutable_data();
        InstanceLock lock(&s, true);
        {
          NoGil release;
          s.posteriors(pp, lp, dp);
        }
        return py::make_tuple(probas, labels, difficulties);
      }, py::arg("n_labels"))
      .def_property_readonly("n_tasks", &cs::GladShard::n_tasks)
      .def_property_readonly("n_answers", &cs::GladShard::n_answers);

  m.def("glad_alpha_update", [](const F64& grad, const F64& info, const F64& alpha) {
    std::vector<double> a = vec(alpha);
    const double moved = cs::glad_alpha_update({grad.data(), static_cast<std::size_t>(grad.size())},
                                               {info.data(), static_cast<std::size_t>(info.size())}, a);
    return py::make_tuple(take(std::move(a)), moved);
  }, py::arg("grad"), py::arg("info"), py::arg("alpha"));
  m.def("glad_objective", [](const F64& block_q, const F64& alpha, double alpha_prior) {
    return cs::glad_objective({block_q.data(), static_cast<std::size_t>(block_q.size())},
                              {alpha.data(), static_cast<std::size_t>(alpha.size())}, alpha_prior);
  }, py::arg("block_q"), py::arg("alpha"), py::arg("alpha_prior"));

  py::class_<cs::DsSpill> spill(m, "DsSpill");
  spill.def(py::init<const std::string&, std::int32_t, std::int32_t, unsigned>(), py::arg("dir"), py::arg("n_workers"),
           py::arg("n_labels"), py::kw_only(), py::arg("threads") = 0)
      .def("append", [](cs::DsSpill& s, const I32& t, const I32& w, const I32& l, std::int32_t nt) {
        cs::AnswersView a = shard_view(t, w, l, nt, 0, 0);  // (worker and label ranges: the spill's own)
        InstanceLock lock(&s, true);
        NoGil release;
        s.append(a);
      }, py::arg("task"), py::arg("worker"), py::arg("label"), py::arg("n_tasks"));
  bind_ds_passes(spill);
  spill.def_property_readonly("bytes", &cs::DsSpill::bytes)
      .def_property_readonly("n_chunks", &cs::DsSpill::n_chunks);

  py::class_<cs::OneCoinShard>(m, "OneCoinShard")
      .def(py::init([](const I32& t, const I32& w, const I32& l, std::int32_t nt, std::int32_t nw, std::int32_t nl,
                       std::optional<I32> gold, unsigned threads) {
             cs::AnswersView a = shard_view(t, w, l, nt, nw, nl);
             NoGil release;
             return std::make_unique<cs::OneCoinShard>(a, gold_span(gold), threads);
           }),
           py::arg("task"), py::arg("worker"), py::arg("label"), py::arg("n_tasks"), py::arg("n_workers"),
           py::arg("n_labels"), py::kw_only(), py::arg("gold") = py::none(), py::arg("threads") = 0)
      .def("start", [](cs::OneCoinShard& s) {
        InstanceLock lock(&s, true);
        cs::ShardStats st;
        { NoGil release; st = s.start(); }
        return stats_dict(std::move(st));
      })
      .def("e_step", [](cs::OneCoinShard& s, const F64& log_right, const F64& log_wrong, const F64& log_prior) {
        cs::OneCoinParams p{vec(log_right), vec(log_wrong), vec(log_prior), {}, {}, {}, {}};
        InstanceLock lock(&s, true);
        cs::ShardStats st;
        { NoGil release; st = s.e_step(p); }
        return stats_dict(std::move(st));
      }, py::arg("log_right"), py::arg("log_wrong"), py::arg("log_prior"))
      .def("posteriors", [](cs::OneCoinShard& s, std::int32_t n_labels, std::optional<F64> log_right,
                            std::optional<F64> log_wrong, std::optional<F64> log_prior) {
        std::optional<cs::OneCoinParams> p;
        if (log_right || log_wrong || log_prior) {
          if (!(log_right && log_wrong && log_prior))
            throw InvalidArgument("posteriors: pass log_right, log_wrong and log_prior, or none");
          p = cs::OneCoinParams{vec(*log_right), vec(*log_wrong), vec(*log_prior), {}, {}, {}, {}};
        }
        return shard_posteriors(s, p ? &*p : nullptr, n_labels);
      }, py::arg("n_labels"), py::arg("log_right") = py::none(), py::arg("log_wrong") = py::none(),
         py::arg("log_prior") = py::none())
      .def_property_readonly("n_tasks", &cs::OneCoinShard::n_tasks)
      .def_property_readonly("n_answers", &cs::OneCoinShard::n_answers);

  m.def("one_coin_m_step", [](const I64& n_answers, const I64& right, const I64& prior, std::int32_t nl, double smoothing,
                              std::optional<F64> class_priors) {
    cs::OneCoinParams p = cs::one_coin_m_step({n_answers.data(), static_cast<std::size_t>(n_answers.size())},
                                              {right.data(), static_cast<std::size_t>(right.size())},
                                              {prior.data(), static_cast<std::size_t>(prior.size())}, nl,
                                              m_opts(smoothing, class_priors));
    py::dict d;
    d["log_right"] = take(std::move(p.log_right));
    d["log_wrong"] = take(std::move(p.log_wrong));
    d["log_prior"] = take(std::move(p.log_prior));
    d["skills"] = take(std::move(p.skills));
    d["right"] = take(std::move(p.right));
    d["wrong"] = take(std::move(p.wrong));
    d["prior"] = take(std::move(p.prior));
    return d;
  }, py::arg("n_answers"), py::arg("right"), py::arg("prior"), py::arg("n_labels"), py::kw_only(),
     py::arg("smoothing") = 0.0, py::arg("class_priors") = py::none());
}

}  // namespace tagger::bindings
