// tagger._core.ledger.settle (cpp/src/ledger/contracts/settle.cc): terms from
// a dict, answers from int32 arrays, the output as a dict; called from
// bind_ledger.cc. The computation runs with the GIL released.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common.h"
#include "tagger/settle.h"

namespace tagger::bindings {
namespace L = tagger::ledger;
using GIL = NoGil;
using namespace pybind11::literals;
using I32 = py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>;
using U32 = py::array_t<std::uint32_t, py::array::c_style | py::array::forcecast>;
using Gold = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

// Keys are TaskTerms' member names; an unknown key is an error, not ignored.
static L::TaskTerms terms_of(const py::dict& d) {
  static const std::pair<const char*, std::uint64_t L::TaskTerms::*> ints[] = {
      {"n_items", &L::TaskTerms::n_items},
      {"n_labels", &L::TaskTerms::n_labels},
      {"overlap", &L::TaskTerms::overlap},
      {"rate", &L::TaskTerms::rate},
      {"n_iter", &L::TaskTerms::n_iter},
      {"tol_e9", &L::TaskTerms::tol_e9},
      {"seed", &L::TaskTerms::seed},
      {"policy_threshold_bps", &L::TaskTerms::policy_threshold_bps},
      {"policy_no_control_bps", &L::TaskTerms::policy_no_control_bps},
      {"policy_base", &L::TaskTerms::policy_base},
      {"slash_threshold_bps", &L::TaskTerms::slash_threshold_bps},
      {"slash_share_bps", &L::TaskTerms::slash_share_bps},
      {"slash_min_control", &L::TaskTerms::slash_min_control},
      {"deadline_height", &L::TaskTerms::deadline_height},
      {"expiry_slash_bps", &L::TaskTerms::expiry_slash_bps},
      {"fraud_alpha_ppm", &L::TaskTerms::fraud_alpha_ppm},
      {"min_reputation_bps", &L::TaskTerms::min_reputation_bps},
      {"adaptive_ppm", &L::TaskTerms::adaptive_ppm},
  };
  L::TaskTerms t;
  for (auto [k, v] : d) {
    std::string key = py::cast<std::string>(k);
    auto value = py::reinterpret_borrow<py::object>(v);
    if (key == "method") { t.method = py::cast<std::string>(value); continue; }
    if (key == "policy") { t.policy = py::cast<std::string>(value); continue; }
    if (key == "slashing") { t.slashing = py::cast<bool>(value); continue; }
    if (key == "gold_commitment") { t.gold_commitment = fixed_bytes<32>(value, "gold_commitment"); continue; }
    if (key == "copilot") {
      if (!value.is_none() && py::len(value) > 0) t.copilot = fixed_bytes<20>(value, "copilot");
      continue;
    }
    bool found = false;
    for (auto& [name, member] : ints)
      if (key == name) { t.*member = py::cast<std::uint64_t>(value); found = true; break; }
    if (!found) throw InvalidArgument("settle: unknown term '" + key + "'");
  }
  return t;
}

// In bind_ledger_tasks.cc: the same dict the ledger's settlement() returns.
py::dict settle_output_dict(const L::SettleOutput& o, std::uint64_t n_labels);

void bind_ledger_settle(py::module_& m) {
  m.attr("SETTLE_METHODS") = L::settle_methods();
  m.attr("SETTLE_POLICIES") = L::settle_policies();
  m.def("settled_early", [](std::uint64_t adaptive_ppm, const I32& suggestion, const U32& confidence_ppm,
                            const I32& human_item, const I32& human_label) {
    auto span = [](const auto& a) { return std::span(a.data(), static_cast<std::size_t>(a.size())); };
    std::vector<std::uint8_t> early;
    { GIL g; early = L::settled_early(adaptive_ppm, span(suggestion), span(confidence_ppm), span(human_item), span(human_label)); }
    py::array_t<bool> out(static_cast<py::ssize_t>(early.size()));
    std::copy(early.begin(), early.end(), out.mutable_data());
    return out;
  }, "adaptive_ppm"_a, "suggestion"_a, "confidence_ppm"_a, "human_item"_a, "human_label"_a);
  m.def("gold_commitment", [](const py::object& salt, const Gold& gold) {
    return to_py(L::gold_commitment(fixed_bytes<32>(salt, "salt"), gold));
  }, "salt"_a, "gold"_a);
  m.def("settle", [](const py::dict& terms, const py::list& workers, const I32& item, const I32& worker, const I32& label,
                     const Gold& gold, const std::vector<std::uint64_t>& stakes, std::uint64_t escrow, bool partial,
                     const std::optional<U32>& duration_ms, const std::optional<U32>& confidence_ppm) {
    if (item.ndim() != 1 || worker.ndim() != 1 || label.ndim() != 1 || item.size() != worker.size() || item.size() != label.size())
      throw InvalidArgument("settle: item, worker and label must be 1-d arrays of the same length");
    for (const auto* col : {&duration_ms, &confidence_ppm})
      if (*col && ((*col)->ndim() != 1 || (*col)->size() != item.size()))
        throw InvalidArgument("settle: duration_ms and confidence_ppm must be 1-d arrays of one value per answer");
    L::TaskTerms t = terms_of(terms);
    L::SettleInput in;
    in.terms = &t;
    for (auto w : workers) in.workers.push_back(fixed_bytes<20>(py::reinterpret_borrow<py::object>(w), "worker address"));
    in.answers.resize(static_cast<std::size_t>(item.size()));
    for (std::size_t a = 0; a < in.answers.size(); ++a) {
      std::int32_t i = item.data()[a], w = worker.data()[a], l = label.data()[a];
      if (i < 0 || w < 0 || l < 0) throw InvalidArgument("settle: answer " + std::to_string(a) + " has a negative index");
      in.answers[a] = {static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(w), static_cast<std::uint32_t>(l),
                       duration_ms ? duration_ms->data()[a] : L::kNoDuration, confidence_ppm ? confidence_ppm->data()[a] : 0u};
    }
    in.gold = gold;
    in.stakes = stakes;
    in.escrow = escrow;
    in.partial = partial;
    L::SettleOutput o;
    { GIL g; o = L::settle(in); }
    return settle_output_dict(o, t.n_labels);
  }, "terms"_a, "workers"_a, "item"_a, "worker"_a, "label"_a, "gold"_a, "stakes"_a, "escrow"_a,
     "partial"_a = false, "duration_ms"_a = py::none(), "confidence_ppm"_a = py::none());
}

}  // namespace tagger::bindings
