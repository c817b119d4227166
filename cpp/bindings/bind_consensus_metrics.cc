// tagger._core.consensus_metrics: agreement and uncertainty metrics
// (tagger/consensus.h, metrics.cc); numpy in, floats or numpy out.
#include <span>
#include <string>

#include "common.h"
#include "tagger/consensus.h"

namespace tagger::bindings {
namespace cs = tagger::consensus;
using I32 = py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>;
using F64 = py::array_t<double, py::array::c_style | py::array::forcecast>;

static cs::AnswersView answers(const I32& t, const I32& w, const I32& l, std::int32_t nt, std::int32_t nw, std::int32_t nl) {
  if (t.ndim() != 1 || w.ndim() != 1 || l.ndim() != 1 || t.size() != w.size() || t.size() != l.size())
    throw InvalidArgument("consensus: task, worker and label must be 1-d arrays of the same length");
  return {t.data(), w.data(), l.data(), static_cast<std::size_t>(t.size()), nt, nw, nl};
}

static cs::AlphaLevel level_of(const std::string& s) {
  if (s == "nominal") return cs::AlphaLevel::Nominal;
  if (s == "ordinal") return cs::AlphaLevel::Ordinal;
  if (s == "interval") return cs::AlphaLevel::Interval;
  if (s == "ratio") return cs::AlphaLevel::Ratio;
  throw InvalidArgument("krippendorff_alpha: level_of_measurement must be 'nominal', 'ordinal', 'interval' or 'ratio', not '" + s + "'");
}

static std::span<const double> span1(const F64& a, const char* what) {
  if (a.ndim() != 1) throw InvalidArgument(std::string(what) + " must be a 1-d array");
  return {a.data(), static_cast<std::size_t>(a.size())};
}

TAGGER_BIND_MODULE(consensus_metrics) {
  m.def("krippendorff_alpha_counts", [](const F64& counts, const F64& values, const std::string& level) {
    if (counts.ndim() != 2) throw InvalidArgument("krippendorff_alpha: value_counts must be a 2-d array (units x values)");
    cs::AlphaLevel lv = level_of(level);
    std::span<const double> v = span1(values, "value_domain");
    if (static_cast<std::size_t>(counts.shape(1)) != v.size())
      throw InvalidArgument("krippendorff_alpha: value_counts has " + std::to_string(counts.shape(1)) + " columns for " +
                            std::to_string(v.size()) + " values in the domain");
    std::span<const double> c{counts.data(), static_cast<std::size_t>(counts.size())};
    NoGil release;
    return cs::krippendorff_alpha(c, static_cast<std::size_t>(counts.shape(0)), v, lv);
  }, py::arg("value_counts"), py::arg("values"), py::arg("level"));
  m.def("krippendorff_alpha", [](const I32& t, const I32& w, const I32& l, std::int32_t nt, std::int32_t nw, std::int32_t nl,
                                 const F64& values, const std::string& level) {
    cs::AnswersView a = answers(t, w, l, nt, nw, nl);
    cs::AlphaLevel lv = level_of(level);
    std::span<const double> v = span1(values, "values");
    NoGil release;
    return cs::krippendorff_alpha(a, v, lv);
  }, py::arg("task"), py::arg("worker"), py::arg("label"), py::arg("n_tasks"), py::arg("n_workers"), py::arg("n_labels"),
     py::arg("values"), py::arg("level"));
  m.def("fleiss_kappa", [](const I32& t, const I32& w, const I32& l, std::int32_t nt, std::int32_t nw, std::int32_t nl) {
    cs::AnswersView a = answers(t, w, l, nt, nw, nl);
    NoGil release;
    return cs::fleiss_kappa(a);
  }, py::arg("task"), py::arg("worker"), py::arg("label"), py::arg("n_tasks"), py::arg("n_workers"), py::arg("n_labels"));
  m.def("answer_entropy", [](const I32& t, const I32& w, const I32& l, std::int32_t nt, std::int32_t nw, std::int32_t nl,
                             const py::object& weights) {
    cs::AnswersView a = answers(t, w, l, nt, nw, nl);
    F64 wa = weights.is_none() ? F64(0) : weights.cast<F64>();
    std::span<const double> ws = weights.is_none() ? std::span<const double>{} : span1(wa, "weights");
    std::vector<double> h;
    { NoGil release; h = cs::answer_entropy(a, ws); }
    return take(std::move(h));
  }, py::arg("task"), py::arg("worker"), py::arg("label"), py::arg("n_tasks"), py::arg("n_workers"), py::arg("n_labels"),
     py::arg("weights") = py::none());
}

}  // namespace tagger::bindings
