// Bounding-box aggregation as labeling platforms do it: per (task, label),
// boxes are clustered greedily by IoU with a cluster's seed (at most one box
// per worker in a cluster), seeds taken in order of decreasing agreement so
// that a stray box does not seed a cluster the consensus box then joins;
// clusters backed by too few workers are dropped, the others give the
// coordinate-wise mean (or median) of their boxes.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "tagger/consensus_families.h"
#include "tagger/errors.h"

namespace tagger::consensus {
namespace {

double iou(const double* a, const double* b) {
  // Identical boxes agree fully, zero-area ones (a misclick's line or point) included.
  if (a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3]) return 1.0;
  const double iw = std::min(a[2], b[2]) - std::max(a[0], b[0]), ih = std::min(a[3], b[3]) - std::max(a[1], b[1]);
  if (iw <= 0 || ih <= 0) return 0.0;
  const double inter_raw = iw * ih;
  const double uni_raw = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter_raw;
  // The plain areas while they are normal doubles (exact for pixel boxes: IoU 50/100 is 0.5, a tie
  // with the threshold); only areas that overflow or underflow (coordinates near 1e160 or 1e-160)
  // are taken in units of the larger width and height (every side is finite: checked on input).
  if (std::isfinite(uni_raw) && inter_raw >= std::numeric_limits<double>::min()) return inter_raw / uni_raw;
  const double sw = std::max(a[2] - a[0], b[2] - b[0]), sh = std::max(a[3] - a[1], b[3] - b[1]);
  const double inter = (iw / sw) * (ih / sh);
  const double uni = ((a[2] - a[0]) / sw) * ((a[3] - a[1]) / sh) + ((b[2] - b[0]) / sw) * ((b[3] - b[1]) / sh) - inter;
  return uni > 0 ? inter / uni : 0.0;
}

double median_of(std::vector<double>& v) {
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  if (v.size() % 2) return v[m];
  const double mid = (v[m - 1] + v[m]) / 2;
  return std::isfinite(mid) ? mid : v[m - 1] / 2 + v[m] / 2;  // (the sum of two huge coordinates overflows)
}

double mean_of(const std::vector<double>& v) {
  const double n = static_cast<double>(v.size()), sum = std::accumulate(v.begin(), v.end(), 0.0);
  if (std::isfinite(sum)) return sum / n;
  double m = 0;  // huge coordinates: the sum overflowed, each term cannot
  for (double x : v) m += x / n;
  return m;
}

}  // namespace

BoxResult bbox_aggregate(std::span<const double> boxes, std::span<const std::int32_t> task,
                         std::span<const std::int32_t> worker, std::span<const std::int32_t> label, std::int32_t n_tasks,
                         double iou_threshold, double min_support, bool median) {
  const std::size_t n = task.size();
  if (boxes.size() != 4 * n || worker.size() != n || label.size() != n)
    throw InvalidArgument("bbox: boxes must be [n, 4] and task, worker, label one per box");
  if (!(iou_threshold > 0 && iou_threshold <= 1)) throw InvalidArgument("bbox: iou_threshold must be in (0, 1]");
  if (!(min_support >= 0 && min_support <= 1)) throw InvalidArgument("bbox: min_support must be in [0, 1]");
  for (std::size_t k = 0; k < n; ++k) {
    const double* b = boxes.data() + 4 * k;
    if (task[k] < 0 || task[k] >= n_tasks) throw InvalidArgument("bbox: task code out of range at row " + std::to_string(k));
    if (!std::isfinite(b[0]) || !std::isfinite(b[1]) || !std::isfinite(b[2]) || !std::isfinite(b[3]))
      throw InvalidArgument("bbox: box at row " + std::to_string(k) + " has a NaN or infinite coordinate");
    if (b[2] < b[0] || b[3] < b[1])
      throw InvalidArgument("bbox: box at row " + std::to_string(k) + " has x_max < x_min or y_max < y_min");
    if (!std::isfinite(b[2] - b[0]) || !std::isfinite(b[3] - b[1]))
      throw InvalidArgument("bbox: box at row " + std::to_string(k) + " is wider or taller than a double can hold");
  }
  // Rows grouped by (task, label), stable.
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return task[a] != task[b] ? task[a] < task[b] : label[a] < label[b];
  });
  // Workers per task (the denominator of the support).
  std::vector<std::vector<std::int32_t>> task_workers(static_cast<std::size_t>(n_tasks));
  for (std::size_t k = 0; k < n; ++k) task_workers[static_cast<std::size_t>(task[k])].push_back(worker[k]);
  std::vector<std::size_t> n_workers(task_workers.size());
  for (std::size_t t = 0; t < task_workers.size(); ++t) {
    auto& v = task_workers[t];
    std::sort(v.begin(), v.end());
    n_workers[t] = static_cast<std::size_t>(std::unique(v.begin(), v.end()) - v.begin());
  }
  BoxResult r;
  r.cluster.assign(n, -1);
  for (std::size_t g0 = 0; g0 < n;) {
    std::size_t g1 = g0;
    while (g1 < n && task[order[g1]] == task[order[g0]] && label[order[g1]] == label[order[g0]]) ++g1;
    const std::size_t m = g1 - g0;
    std::vector<std::size_t> rows(order.begin() + static_cast<std::ptrdiff_t>(g0), order.begin() + static_cast<std::ptrdiff_t>(g1));
    std::vector<double> agree(m, 0.0);
    for (std::size_t a = 0; a < m; ++a)
      for (std::size_t b = 0; b < m; ++b)
        if (a != b && worker[rows[a]] != worker[rows[b]]) agree[a] += iou(&boxes[4 * rows[a]], &boxes[4 * rows[b]]);
    std::vector<std::size_t> by(m);
    std::iota(by.begin(), by.end(), 0);
    std::stable_sort(by.begin(), by.end(), [&](std::size_t a, std::size_t b) { return agree[a] > agree[b]; });
    std::vector<std::vector<std::size_t>> clusters;  // member rows; the first is the seed
    for (std::size_t a : by) {
      const std::size_t row = rows[a];
      double best = -1;
      std::size_t pick = clusters.size();
      for (std::size_t c = 0; c < clusters.size(); ++c) {
        const bool taken = std::any_of(clusters[c].begin(), clusters[c].end(), [&](std::size_t x) { return worker[x] == worker[row]; });
        if (taken) continue;
        const double v = iou(&boxes[4 * clusters[c].front()], &boxes[4 * row]);
        if (v >= iou_threshold && v > best) { best = v; pick = c; }
      }
      if (pick == clusters.size()) clusters.push_back({row});
      else clusters[pick].push_back(row);
    }
    const std::size_t t = static_cast<std::size_t>(task[rows[0]]);
    for (const auto& c : clusters) {
      if (static_cast<double>(c.size()) < min_support * static_cast<double>(n_workers[t])) continue;
      const auto out = static_cast<std::int32_t>(r.task.size());
      for (int d = 0; d < 4; ++d) {
        std::vector<double> v;
        for (std::size_t x : c) v.push_back(boxes[4 * x + static_cast<std::size_t>(d)]);
        r.boxes.push_back(median ? median_of(v) : mean_of(v));
      }
      r.task.push_back(static_cast<std::int32_t>(t));
      r.label.push_back(label[rows[0]]);
      r.support.push_back(static_cast<std::int32_t>(c.size()));
      for (std::size_t x : c) r.cluster[x] = out;
    }
    g0 = g1;
  }
  return r;
}

}  // namespace tagger::consensus
