// tagger._core.fraud: the anti-fraud rules (tagger/fraud.h), numpy in, a dict
// of numpy arrays out.
#include <optional>
#include <span>

#include "common.h"
#include "tagger/fraud.h"

namespace tagger::bindings {
namespace cs = tagger::consensus;
using I32 = py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>;
using I64 = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;
using F64 = py::array_t<double, py::array::c_style | py::array::forcecast>;

template <class T, class A>
static std::span<const T> span_of(const std::optional<A>& a) {
  if (!a) return {};
  if (a->ndim() != 1) throw InvalidArgument("screen_fraud: every array argument must be 1-d");
  return {a->data(), static_cast<std::size_t>(a->size())};
}

TAGGER_BIND_MODULE(fraud) {
  // Registered first: the signature of screen names it.
  py::class_<cs::FraudOptions>(m, "FraudOptions")
      .def(py::init<>())
      .def_readwrite("alpha", &cs::FraudOptions::alpha)
      .def_readwrite("fast_ratio", &cs::FraudOptions::fast_ratio)
      .def_readwrite("min_item_durations", &cs::FraudOptions::min_item_durations)
      .def_readwrite("fast_min_share", &cs::FraudOptions::fast_min_share)
      .def_readwrite("control_min_accuracy", &cs::FraudOptions::control_min_accuracy)
      .def_readwrite("spam_margin", &cs::FraudOptions::spam_margin)
      .def_readwrite("constant_share", &cs::FraudOptions::constant_share)
      .def_readwrite("min_shared", &cs::FraudOptions::min_shared)
      .def_readwrite("min_answers", &cs::FraudOptions::min_answers)
      .def_readwrite("sybil_min_accounts", &cs::FraudOptions::sybil_min_accounts)
      .def_readwrite("sybil_window", &cs::FraudOptions::sybil_window);

  m.def("screen", [](const I32& task, const I32& worker, const I32& label, std::int32_t n_tasks, std::int32_t n_workers,
                     std::int32_t n_labels, const I32& consensus, const cs::FraudOptions& opt, std::optional<F64> duration,
                     std::optional<I32> gold, std::optional<I32> funder, std::optional<I64> funded_at) {
    if (task.ndim() != 1 || worker.ndim() != 1 || label.ndim() != 1 || task.size() != worker.size() ||
        task.size() != label.size())
      throw InvalidArgument("screen_fraud: task, worker and label must be 1-d arrays of the same length");
    cs::FraudInput in;
    in.answers = {task.data(), worker.data(), label.data(), static_cast<std::size_t>(task.size()), n_tasks, n_workers, n_labels};
    in.consensus = span_of<std::int32_t>(std::optional<I32>(consensus));
    in.duration = span_of<double>(duration);
    in.gold = span_of<std::int32_t>(gold);
    in.funder = span_of<std::int32_t>(funder);
    in.funded_at = span_of<std::int64_t>(funded_at);
    cs::FraudReport r;
    { NoGil release; r = cs::screen_fraud(in, opt); }
    py::dict out;
    out["n_answers"] = take(std::move(r.n_answers));
    out["n_timed"] = take(std::move(r.n_timed));
    out["n_fast"] = take(std::move(r.n_fast));
    out["fast_p"] = take(std::move(r.fast_p));
    out["n_control"] = take(std::move(r.n_control));
    out["n_control_correct"] = take(std::move(r.n_control_correct));
    out["control_p"] = take(std::move(r.control_p));
    out["agreement"] = take(std::move(r.agreement));
    out["chance"] = take(std::move(r.chance));
    out["spam_p"] = take(std::move(r.spam_p));
    out["top_label_share"] = take(std::move(r.top_label_share));
    out["collusion_p"] = take(std::move(r.collusion_p));
    out["collusion_group"] = take(std::move(r.collusion_group));
    out["sybil_funder"] = take(std::move(r.sybil_funder));
    out["fast"] = take(std::move(r.fast));
    out["control_fail"] = take(std::move(r.control_fail));
    out["spammer"] = take(std::move(r.spammer));
    out["constant"] = take(std::move(r.constant));
    out["colluder"] = take(std::move(r.colluder));
    out["sybil"] = take(std::move(r.sybil));
    out["fast_base_rate"] = r.fast_base_rate;
    out["n_pairs_tested"] = r.n_pairs_tested;
    py::list pairs;
    for (const auto& p : r.pairs)
      pairs.append(py::make_tuple(p.worker_a, p.worker_b, p.n_shared, p.n_same, p.n_same_wrong, p.expected, p.p_value, p.p_adjusted));
    out["pairs"] = pairs;
    return out;
  }, py::arg("task"), py::arg("worker"), py::arg("label"), py::arg("n_tasks"), py::arg("n_workers"), py::arg("n_labels"),
     py::arg("consensus"), py::arg("options"), py::arg("duration") = py::none(), py::arg("gold") = py::none(),
     py::arg("funder") = py::none(), py::arg("funded_at") = py::none());


  m.def("binomial_upper", &cs::binomial_upper, py::arg("k"), py::arg("n"), py::arg("p"));
  m.def("binomial_lower", &cs::binomial_lower, py::arg("k"), py::arg("n"), py::arg("p"));
  m.def("poisson_binomial_upper", [](std::int64_t k, const F64& p) {
    return cs::poisson_binomial_upper(k, {p.data(), static_cast<std::size_t>(p.size())});
  }, py::arg("k"), py::arg("p"));
  m.def("holm", [](const F64& p) { return take(cs::holm({p.data(), static_cast<std::size_t>(p.size())})); }, py::arg("p"));
}

}  // namespace tagger::bindings
