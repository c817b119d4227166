// tagger._core.consensus_families: pairwise, segmentation, embedding, text and
// box aggregation. numpy arrays in (read in place when already of the right
// dtype and contiguous), dicts of numpy arrays out; the work runs with the
// GIL released.
#include <span>

#include "common.h"
#include "tagger/consensus_families.h"

namespace tagger::bindings {
namespace cs = tagger::consensus;
namespace {
using I32 = py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>;
using I64 = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;
using U8 = py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast>;
using F64 = py::array_t<double, py::array::c_style | py::array::forcecast>;

template <class A>
auto sp(const A& a) {
  return std::span(a.data(), static_cast<std::size_t>(a.size()));
}

py::dict pairwise_dict(cs::PairwiseResult&& r) {
  py::dict d;
  d["scores"] = take(std::move(r.scores));
  d["skills"] = take(std::move(r.skills));
  d["biases"] = take(std::move(r.biases));
  d["loss_history"] = take(std::move(r.loss_history));
  d["n_iter"] = r.n_iter;
  d["converged"] = r.converged;
  return d;
}

py::dict segmentation_dict(cs::SegmentationResult&& r) {
  py::dict d;
  d["masks"] = take(std::move(r.masks));
  d["weights"] = take(std::move(r.weights));
  d["loss_history"] = take(std::move(r.loss_history));
  return d;
}
}  // namespace

TAGGER_BIND_MODULE(consensus_families) {
  m.def("bradley_terry", [](const I32& l, const I32& r, const U8& won, std::int32_t n_items, std::int32_t n_iter, double tol) {
    cs::PairwiseResult out;
    { NoGil g; out = cs::bradley_terry(sp(l), sp(r), sp(won), n_items, n_iter, tol); }
    return pairwise_dict(std::move(out));
  }, py::arg("left"), py::arg("right"), py::arg("left_won"), py::arg("n_items"), py::arg("n_iter"), py::arg("tol"));
  m.def("noisy_bradley_terry", [](const I32& l, const I32& r, const U8& won, const I32& w, std::int32_t n_items,
                                  std::int32_t n_workers, const F64& x0, std::int32_t n_iter, double tol, double reg) {
    cs::PairwiseResult out;
    { NoGil g; out = cs::noisy_bradley_terry(sp(l), sp(r), sp(won), sp(w), n_items, n_workers, sp(x0), n_iter, tol, reg); }
    return pairwise_dict(std::move(out));
  }, py::arg("left"), py::arg("right"), py::arg("left_won"), py::arg("worker"), py::arg("n_items"), py::arg("n_workers"),
     py::arg("x0"), py::arg("n_iter"), py::arg("tol"), py::arg("regularization"));
  m.def("noisy_bradley_terry_objective", [](const I32& l, const I32& r, const U8& won, const I32& w, std::int32_t n_items,
                                            std::int32_t n_workers, const F64& x, double reg) {
    return cs::noisy_bradley_terry_objective(sp(l), sp(r), sp(won), sp(w), n_items, n_workers, sp(x), reg);
  }, py::arg("left"), py::arg("right"), py::arg("left_won"), py::arg("worker"), py::arg("n_items"), py::arg("n_workers"),
     py::arg("x"), py::arg("regularization"));
  m.def("segmentation", [](const std::string& method, const U8& pixels, const I64& task_start, const I64& task_pixels,
                           const F64& weights, std::int32_t n_iter, double tol, double eps) {
    cs::MaskBatch b{sp(pixels), sp(task_start), sp(task_pixels)};
    if (method != "majority_vote" && method != "rasa" && method != "em")
      throw InvalidArgument("segmentation: method must be 'majority_vote', 'rasa' or 'em'");
    cs::SegmentationResult out;
    {
      NoGil g;
      out = method == "majority_vote" ? cs::segmentation_majority_vote(b, sp(weights))
          : method == "rasa"          ? cs::segmentation_rasa(b, n_iter, tol)
                                      : cs::segmentation_em(b, n_iter, tol, eps);
    }
    return segmentation_dict(std::move(out));
  }, py::arg("method"), py::arg("pixels"), py::arg("task_start"), py::arg("task_pixels"), py::arg("weights"),
     py::arg("n_iter") = 10, py::arg("tol") = 1e-5, py::arg("eps") = 1e-15);
  m.def("embeddings_rasa", [](const F64& emb, const I32& task, const I32& worker, std::int32_t n_tasks, std::int32_t n_workers,
                              const F64& prior, const F64& answer_weight, const F64& mean_weight, const F64& fixed,
                              const U8& fixed_mask, std::int32_t n_iter, double tol) {
    if (emb.ndim() != 2) throw InvalidArgument("rasa: embeddings must be a 2-d [n_answers, dim] array");
    const std::int64_t dim = emb.shape(1);
    cs::EmbeddingRasaResult out;
    { NoGil g; out = cs::embeddings_rasa(sp(emb), dim, sp(task), sp(worker), n_tasks, n_workers, sp(prior),
                                                          sp(answer_weight), sp(mean_weight), sp(fixed), sp(fixed_mask),
                                                          n_iter, tol); }
    py::dict d;
    d["aggregated"] = take(std::move(out.aggregated), {n_tasks, static_cast<py::ssize_t>(dim)});
    d["skills"] = take(std::move(out.skills));
    d["loss_history"] = take(std::move(out.loss_history));
    d["n_iter"] = out.n_iter;
    return d;
  }, py::arg("embeddings"), py::arg("task"), py::arg("worker"), py::arg("n_tasks"), py::arg("n_workers"), py::arg("prior"),
     py::arg("answer_weight"), py::arg("mean_weight"), py::arg("fixed"), py::arg("fixed_mask"), py::arg("n_iter"),
     py::arg("tol"));
  m.def("embedding_distances", [](const F64& emb, const I32& task, const F64& reference, std::int32_t n_tasks, int metric) {
    if (emb.ndim() != 2) throw InvalidArgument("embedding_distances: embeddings must be a 2-d [n_answers, dim] array");
    std::vector<double> out;
    { NoGil g; out = cs::embedding_distances(sp(emb), emb.shape(1), sp(task), sp(reference), n_tasks, metric); }
    return take(std::move(out));
  }, py::arg("embeddings"), py::arg("task"), py::arg("reference"), py::arg("n_tasks"), py::arg("metric"));
  m.def("rover", [](const I32& tokens, const I64& hyp_start, const I64& task_start, const I64& rank) {
    cs::RoverResult out;
    { NoGil g; out = cs::rover(sp(tokens), sp(hyp_start), sp(task_start), sp(rank)); }
    return py::make_tuple(take(std::move(out.tokens)), take(std::move(out.out_start)));
  }, py::arg("tokens"), py::arg("hyp_start"), py::arg("task_start"), py::arg("rank"));
  m.def("bbox", [](const F64& boxes, const I32& task, const I32& worker, const I32& label, std::int32_t n_tasks,
                   double iou_threshold, double min_support, bool median) {
    cs::BoxResult out;
    { NoGil g; out = cs::bbox_aggregate(sp(boxes), sp(task), sp(worker), sp(label), n_tasks, iou_threshold, min_support, median); }
    const auto n = static_cast<py::ssize_t>(out.task.size());
    py::dict d;
    d["boxes"] = take(std::move(out.boxes), {n, 4});
    d["task"] = take(std::move(out.task));
    d["label"] = take(std::move(out.label));
    d["support"] = take(std::move(out.support));
    d["cluster"] = take(std::move(out.cluster));
    return d;
  }, py::arg("boxes"), py::arg("task"), py::arg("worker"), py::arg("label"), py::arg("n_tasks"), py::arg("iou_threshold"),
     py::arg("min_support"), py::arg("median"));
}

}  // namespace tagger::bindings
