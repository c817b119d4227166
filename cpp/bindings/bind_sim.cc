#include "common.h"
#include "tagger/sim.h"

namespace tagger::bindings {
namespace s = tagger::sim;

template <class T>
using Arr = py::array_t<T, py::array::c_style | py::array::forcecast>;

template <class T>
static std::span<const T> span_of(const std::optional<Arr<T>>& a) {
  if (!a) return {};
  return {a->data(), static_cast<std::size_t>(a->size())};
}
template <class T>
static std::span<const T> span_of(const Arr<T>& a) { return {a.data(), static_cast<std::size_t>(a.size())}; }

template <class T>
static py::array_t<T> to_np(const std::vector<T>& v) { return py::array_t<T>(static_cast<py::ssize_t>(v.size()), v.data()); }

static s::AnswersView view_of(const Arr<std::int32_t>& t, const Arr<std::int32_t>& w, const Arr<std::int32_t>& l,
                              std::int32_t n_tasks, std::int32_t n_workers, std::int32_t n_labels) {
  if (t.size() != w.size() || t.size() != l.size()) throw InvalidArgument("task, worker and label must have the same length");
  return {t.data(), w.data(), l.data(), static_cast<std::size_t>(t.size()), n_tasks, n_workers, n_labels};
}

TAGGER_BIND_MODULE(sim) {
  m.attr("MECHANISMS") = s::mechanism_names();
  m.attr("STRATEGIES") = s::strategy_names();

  m.def("score", [](const std::string& mech, const Arr<std::int32_t>& t, const Arr<std::int32_t>& w,
                    const Arr<std::int32_t>& l, std::int32_t n_tasks, std::int32_t n_workers, std::int32_t n_labels,
                    std::optional<Arr<std::int32_t>> gold, std::optional<Arr<double>> posterior,
                    std::optional<Arr<double>> predictions, std::optional<Arr<double>> signal_model,
                    std::optional<Arr<double>> score_matrix, const std::string& scoring_rule, double bts_alpha, double eps) {
    s::MechanismInputs in;
    in.gold = span_of(gold);
    in.posterior = span_of(posterior);
    in.predictions = span_of(predictions);
    in.signal_model = span_of(signal_model);
    in.score_matrix = span_of(score_matrix);
    if (scoring_rule != "quadratic" && scoring_rule != "log")
      throw InvalidArgument("scoring_rule must be 'quadratic' or 'log', got '" + scoring_rule + "'");
    in.scoring_rule = scoring_rule == "log" ? s::ScoringRule::kLog : s::ScoringRule::kQuadratic;
    in.bts_alpha = bts_alpha;
    in.eps = eps;
    s::Mechanism mm = s::mechanism_from_name(mech);
    auto v = view_of(t, w, l, n_tasks, n_workers, n_labels);
    s::Scores r;
    {
      NoGil release;
      r = s::score(mm, v, in);
    }
    return py::make_tuple(to_np(r.score), to_np(r.n_scored), to_np(r.n_answers));
  }, py::arg("mechanism"), py::arg("task"), py::arg("worker"), py::arg("label"), py::arg("n_tasks"),
     py::arg("n_workers"), py::arg("n_labels"), py::arg("gold") = py::none(), py::arg("posterior") = py::none(),
     py::arg("predictions") = py::none(), py::arg("signal_model") = py::none(), py::arg("score_matrix") = py::none(),
     py::arg("scoring_rule") = "quadratic", py::arg("bts_alpha") = 1.0, py::arg("eps") = 1e-3);

  m.def("peer_joint", [](const Arr<std::int32_t>& t, const Arr<std::int32_t>& w, const Arr<std::int32_t>& l,
                         std::int32_t nt, std::int32_t nw, std::int32_t nl) { return to_np(s::peer_joint(view_of(t, w, l, nt, nw, nl))); },
        py::arg("task"), py::arg("worker"), py::arg("label"), py::arg("n_tasks"), py::arg("n_workers"), py::arg("n_labels"));
  m.def("ca_score_matrix", [](const Arr<std::int32_t>& t, const Arr<std::int32_t>& w, const Arr<std::int32_t>& l,
                              std::int32_t nt, std::int32_t nw, std::int32_t nl) { return to_np(s::ca_score_matrix(view_of(t, w, l, nt, nw, nl))); },
        py::arg("task"), py::arg("worker"), py::arg("label"), py::arg("n_tasks"), py::arg("n_workers"), py::arg("n_labels"));
  m.def("to_amounts", [](const Arr<double>& score, const Arr<std::int64_t>& n, double base, double rate, std::uint64_t budget) {
    return to_np(s::to_amounts(span_of(score), span_of(n), base, rate, budget));
  }, py::arg("score"), py::arg("n_answers"), py::arg("base"), py::arg("rate"), py::arg("budget"));
  m.def("scale_floor", [](const Arr<std::uint64_t>& numer, std::uint64_t mult, std::uint64_t denom) {
    return to_np(s::scale_floor(span_of(numer), mult, denom));
  }, py::arg("numer"), py::arg("mult"), py::arg("denom"));
  m.def("update_reputation", [](const Arr<std::uint64_t>& a, const Arr<std::uint64_t>& b, const Arr<std::uint64_t>& c,
                                const Arr<std::uint64_t>& i, std::uint32_t decay_bps) {
    std::vector<std::uint64_t> aa(a.data(), a.data() + a.size()), bb(b.data(), b.data() + b.size());
    s::update_reputation(aa, bb, span_of(c), span_of(i), decay_bps);
    return py::make_tuple(to_np(aa), to_np(bb));
  }, py::arg("alpha"), py::arg("beta"), py::arg("correct"), py::arg("incorrect"), py::arg("decay_bps") = 10000);
  m.def("reputation_bps", &s::reputation_bps, py::arg("alpha"), py::arg("beta"));
  m.def("slash_amount", &s::slash_amount, py::arg("stake"), py::arg("correct"), py::arg("total"), py::arg("threshold_bps"),
        py::arg("share_bps"), py::arg("min_control"));

  py::class_<s::SimConfig> cfg(m, "SimConfig");
  cfg.def(py::init<>())
      .def_readwrite("n_labels", &s::SimConfig::n_labels).def_readwrite("prior", &s::SimConfig::prior)
      .def_readwrite("difficulty_a", &s::SimConfig::difficulty_a).def_readwrite("difficulty_b", &s::SimConfig::difficulty_b)
      .def_readwrite("n_tasks", &s::SimConfig::n_tasks).def_readwrite("overlap", &s::SimConfig::overlap)
      .def_readwrite("capacity", &s::SimConfig::capacity).def_readwrite("gold_fraction", &s::SimConfig::gold_fraction)
      .def_readwrite("clamp_gold", &s::SimConfig::clamp_gold).def_readwrite("consensus", &s::SimConfig::consensus)
      .def_readwrite("consensus_iter", &s::SimConfig::consensus_iter).def_readwrite("budget", &s::SimConfig::budget)
      .def_readwrite("base", &s::SimConfig::base).def_readwrite("rate", &s::SimConfig::rate)
      .def_readwrite("effort_cost", &s::SimConfig::effort_cost).def_readwrite("initial_stake", &s::SimConfig::initial_stake)
      .def_readwrite("min_stake", &s::SimConfig::min_stake).def_readwrite("slashing", &s::SimConfig::slashing)
      .def_readwrite("slash_threshold_bps", &s::SimConfig::slash_threshold_bps)
      .def_readwrite("slash_share_bps", &s::SimConfig::slash_share_bps)
      .def_readwrite("slash_min_control", &s::SimConfig::slash_min_control)
      .def_readwrite("reputation_decay_bps", &s::SimConfig::reputation_decay_bps)
      .def_readwrite("learning_rate", &s::SimConfig::learning_rate).def_readwrite("seed", &s::SimConfig::seed)
      .def_readwrite("threads", &s::SimConfig::threads)
      .def_property("mechanism", [](const s::SimConfig& c) { return s::mechanism_names()[static_cast<int>(c.mechanism)]; },
                    [](s::SimConfig& c, const std::string& n) { c.mechanism = s::mechanism_from_name(n); })
      .def_property("assignment", [](const s::SimConfig& c) { return static_cast<int>(c.assignment); },
                    [](s::SimConfig& c, int v) { c.assignment = static_cast<s::Assignment>(v); })
      .def_property("adaptation", [](const s::SimConfig& c) { return static_cast<int>(c.adaptation); },
                    [](s::SimConfig& c, int v) { c.adaptation = static_cast<s::Adaptation>(v); })
      .def_property("scoring_rule", [](const s::SimConfig& c) { return static_cast<int>(c.mechanism_inputs.scoring_rule); },
                    [](s::SimConfig& c, int v) { c.mechanism_inputs.scoring_rule = static_cast<s::ScoringRule>(v); })
      .def_property("bts_alpha", [](const s::SimConfig& c) { return c.mechanism_inputs.bts_alpha; },
                    [](s::SimConfig& c, double v) { c.mechanism_inputs.bts_alpha = v; });

  py::class_<s::RoundStats>(m, "RoundStats")
      .def_readonly("round", &s::RoundStats::round).def_readonly("n_answers", &s::RoundStats::n_answers)
      .def_readonly("n_active", &s::RoundStats::n_active).def_readonly("accuracy", &s::RoundStats::accuracy)
      .def_readonly("paid", &s::RoundStats::paid).def_readonly("n_correct", &s::RoundStats::n_correct)
      .def_readonly("workers", &s::RoundStats::workers).def_readonly("answers", &s::RoundStats::answers)
      .def_readonly("correct_answers", &s::RoundStats::correct_answers).def_readonly("earnings", &s::RoundStats::earnings)
      .def_readonly("stake_lost", &s::RoundStats::stake_lost).def_readonly("effort_cost", &s::RoundStats::effort_cost)
      .def_readonly("score", &s::RoundStats::score).def_readonly("reputation_bps", &s::RoundStats::reputation_bps);

  py::class_<s::Simulator>(m, "Simulator")
      .def(py::init([](const s::SimConfig& c, const Arr<std::uint8_t>& strategy, const Arr<double>& skill,
                       const Arr<double>& effort, const Arr<std::int32_t>& target, const Arr<double>& flip,
                       const Arr<std::int32_t>& group, std::optional<Arr<double>> confusion) {
             auto vec = [](const auto& a) { return std::vector(a.data(), a.data() + a.size()); };
             s::Population p{vec(strategy), vec(skill), vec(effort), vec(target), vec(flip), vec(group), {}};
             if (confusion) p.confusion = vec(*confusion);
             return s::Simulator(c, std::move(p));
           }), py::arg("config"), py::arg("strategy"), py::arg("skill"), py::arg("effort"), py::arg("target"),
           py::arg("flip"), py::arg("group"), py::arg("confusion") = py::none())
      .def("generate", [](s::Simulator& sim) {
        InstanceLock lk(&sim, true);
        { NoGil r; sim.generate(); }
        const auto& d = sim.data();
        py::dict out;
        out["task"] = to_np(d.task); out["worker"] = to_np(d.worker); out["label"] = to_np(d.label);
        out["truth"] = to_np(d.truth); out["gold"] = to_np(d.gold); out["difficulty"] = to_np(d.difficulty);
        out["predictions"] = to_np(d.predictions);
        return out;
      })
      .def("infer", [](s::Simulator& sim) {
        InstanceLock lk(&sim, true);
        NoGil r;
        sim.infer();
      })
      .def("set_posterior", [](s::Simulator& sim, const Arr<double>& p) {
        InstanceLock lk(&sim, true);
        sim.set_posterior(span_of(p));
      }, py::arg("posterior"))
      .def("settle", [](s::Simulator& sim) {
        InstanceLock lk(&sim, true);
        NoGil r;
        return sim.settle();
      })
      .def("step", [](s::Simulator& sim) {
        InstanceLock lk(&sim, true);
        NoGil r;
        return sim.step();
      })
      .def_property_readonly("round", [](const s::Simulator& sim) { InstanceLock lk(&sim, false); return sim.round(); })
      .def_property_readonly("strategy", [](const s::Simulator& sim) { InstanceLock lk(&sim, false); return to_np(sim.population().strategy); })
      .def_property_readonly("posterior", [](const s::Simulator& sim) { InstanceLock lk(&sim, false); return to_np(sim.posterior()); })
      .def_property_readonly("consensus_labels", [](const s::Simulator& sim) { InstanceLock lk(&sim, false); return to_np(sim.consensus_labels()); })
      .def_property_readonly("earnings", [](const s::Simulator& sim) { InstanceLock lk(&sim, false); return to_np(sim.earnings()); })
      .def_property_readonly("last_payments", [](const s::Simulator& sim) { InstanceLock lk(&sim, false); return to_np(sim.last_payments()); })
      .def_property_readonly("stake", [](const s::Simulator& sim) { InstanceLock lk(&sim, false); return to_np(sim.stake()); })
      .def_property_readonly("alpha", [](const s::Simulator& sim) { InstanceLock lk(&sim, false); return to_np(sim.alpha()); })
      .def_property_readonly("beta", [](const s::Simulator& sim) { InstanceLock lk(&sim, false); return to_np(sim.beta()); });
}

}  // namespace tagger::bindings
