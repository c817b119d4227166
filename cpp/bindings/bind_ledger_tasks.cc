// tagger._core.ledger, published tasks: their terms and the settlement the
// ledger re-executes at finalize (cpp/src/ledger/contracts/published.cc);
// conversions only, called from bind_ledger.cc.
#include "common.h"
#include "tagger/ledger.h"
#include "tagger/settle.h"

namespace tagger::bindings {
namespace L = tagger::ledger;
using GIL = NoGil;
using namespace pybind11::literals;

py::dict terms_dict(const L::TaskTerms& t) {
  return py::dict("n_items"_a = t.n_items, "n_labels"_a = t.n_labels, "overlap"_a = t.overlap, "rate"_a = t.rate,
                  "method"_a = t.method, "n_iter"_a = t.n_iter, "tol_e9"_a = t.tol_e9, "seed"_a = t.seed,
                  "policy"_a = t.policy, "policy_threshold_bps"_a = t.policy_threshold_bps,
                  "policy_no_control_bps"_a = t.policy_no_control_bps, "policy_base"_a = t.policy_base,
                  "slashing"_a = t.slashing, "slash_threshold_bps"_a = t.slash_threshold_bps,
                  "slash_share_bps"_a = t.slash_share_bps, "slash_min_control"_a = t.slash_min_control,
                  "gold_commitment"_a = to_py(t.gold_commitment), "deadline_height"_a = t.deadline_height,
                  "expiry_slash_bps"_a = t.expiry_slash_bps, "fraud_alpha_ppm"_a = t.fraud_alpha_ppm,
                  "min_reputation_bps"_a = t.min_reputation_bps,
                  "copilot"_a = t.has_copilot() ? py::object(to_py(t.copilot)) : py::object(py::none()),
                  "adaptive_ppm"_a = t.adaptive_ppm);
}

py::dict settle_output_dict(const L::SettleOutput& o, std::uint64_t n_labels) {
  std::size_t n_items = o.labels.size();
  py::array_t<std::int32_t> labels(static_cast<py::ssize_t>(n_items));
  std::copy(o.labels.begin(), o.labels.end(), labels.mutable_data());
  py::array_t<std::uint32_t> ppm({static_cast<py::ssize_t>(n_items), static_cast<py::ssize_t>(n_labels)});
  if (o.posterior_ppm.size() == n_items * n_labels)
    std::copy(o.posterior_ppm.begin(), o.posterior_ppm.end(), ppm.mutable_data());
  else
    std::fill(ppm.mutable_data(), ppm.mutable_data() + n_items * n_labels, 0u);
  py::list payouts, reputation, slashes, flagged;
  for (auto& a : o.flagged) flagged.append(to_py(a));
  for (auto& [a, v] : o.payouts) payouts.append(py::make_tuple(to_py(a), v));
  for (auto& [a, c, i] : o.reputation) reputation.append(py::make_tuple(to_py(a), c, i));
  for (auto& [a, v] : o.slashes) slashes.append(py::make_tuple(to_py(a), v));
  return py::dict("labels"_a = labels, "posterior_ppm"_a = ppm, "payouts"_a = payouts, "reputation"_a = reputation,
                  "slashes"_a = slashes, "flagged"_a = flagged, "n_answered_items"_a = o.n_answered_items,
                  "result_hash"_a = to_py(o.result_hash));
}

void bind_ledger_tasks(py::module_& m) {
  auto cls = py::reinterpret_borrow<py::class_<L::Ledger>>(m.attr("Ledger"));
  cls.def("terms", [](const L::Ledger& l, const py::object& id) -> py::object {
    auto t = l.terms(fixed_bytes<32>(id, "task id"));
    return t ? py::object(terms_dict(*t)) : py::none();
  }, "task_id"_a);
  cls.def("settlement", [](const L::Ledger& l, const py::object& id, const py::object& salt,
                           const std::vector<std::pair<std::uint64_t, std::uint64_t>>& gold, bool partial) {
    auto tid = fixed_bytes<32>(id, "task id");
    auto s = fixed_bytes<32>(salt, "gold salt");
    auto terms = l.terms(tid);
    L::SettleOutput out;
    { GIL g; out = l.settlement(tid, s, gold, partial); }
    return settle_output_dict(out, terms ? terms->n_labels : 0);
  }, "task_id"_a, "gold_salt"_a, "gold"_a, "partial"_a);
  cls.def("assignments", [](const L::Ledger& l, const py::object& id) {
    py::list out;
    for (auto& [a, items] : l.assignments(fixed_bytes<32>(id, "task id"))) {
      py::array_t<std::uint32_t> arr(static_cast<py::ssize_t>(items.size()));
      std::copy(items.begin(), items.end(), arr.mutable_data());
      out.append(py::make_tuple(to_py(a), arr));
    }
    return out;
  }, "task_id"_a);
  cls.def("item_extra", [](const L::Ledger& l, const py::object& id) {
    return take(l.item_extra(fixed_bytes<32>(id, "task id")));
  }, "task_id"_a);
}

}  // namespace tagger::bindings
