// Agreement and uncertainty metrics: Krippendorff's alpha, Fleiss' kappa and
// the per-task answer entropy. Single-threaded sums in a fixed order (units,
// then values), so a result is the same on every run.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "consensus/common.h"
#include "tagger/errors.h"

namespace tagger::consensus {
namespace {

[[noreturn]] void bad(const std::string& why) { throw InvalidArgument(why); }

// Per-task label counts, sparse: (label, count) pairs of task t at
// [offset[t], offset[t+1]). Built from a task-major pass so each task's
// labels come out in increasing order.
struct TaskCounts {
  std::vector<std::int64_t> offset;
  std::vector<std::pair<std::int32_t, double>> cells;
};

TaskCounts task_counts(const AnswersView& a, std::span<const double> weights) {
  detail::Csr c = detail::build_csr(a, false);
  TaskCounts out;
  out.offset.assign(static_cast<std::size_t>(a.n_tasks) + 1, 0);
  std::vector<double> row(static_cast<std::size_t>(a.n_labels), 0.0);
  std::vector<std::int32_t> touched;
  for (std::int32_t t = 0; t < a.n_tasks; ++t) {
    touched.clear();
    for (std::int64_t i = c.begin(t); i < c.end(t); ++i) {
      const std::int32_t k = c.label[i];
      const double w = weights.empty() ? 1.0 : weights[static_cast<std::size_t>(c.worker[i])];
      if (row[static_cast<std::size_t>(k)] == 0.0 && std::find(touched.begin(), touched.end(), k) == touched.end())
        touched.push_back(k);
      row[static_cast<std::size_t>(k)] += w;
    }
    std::sort(touched.begin(), touched.end());
    for (std::int32_t k : touched) {
      out.cells.emplace_back(k, row[static_cast<std::size_t>(k)]);
      row[static_cast<std::size_t>(k)] = 0.0;
    }
    out.offset[static_cast<std::size_t>(t) + 1] = static_cast<std::int64_t>(out.cells.size());
  }
  return out;
}

void check_values(std::span<const double> values, AlphaLevel level) {
  if (values.size() < 2) bad("krippendorff_alpha: the value domain needs at least 2 values, got " + std::to_string(values.size()));
  if (level == AlphaLevel::Nominal) return;
  if (static_cast<int>(level) > 3) bad("krippendorff_alpha: unknown level of measurement");
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) bad("krippendorff_alpha: value " + std::to_string(i) + " of the domain is not finite");
    if (i > 0 && !(values[i - 1] < values[i]))
      bad("krippendorff_alpha: an ordinal, interval or ratio domain must be strictly increasing (value " + std::to_string(i) + ")");
  }
}

// Alpha from sparse per-unit value counts, in O(cells + V) memory: the coincidence matrix is never
// formed (it is V x V, and continuous ratings have a value per answer: 50,000 distinct values made
// 20 GB). Every distance but ratio is a squared difference of a position x_c (interval: the
// value; ordinal: its midrank prefix[c] + n_c / 2, which is what the ordinal distance
// (sum_{g=c..k} n_g - (n_c + n_k) / 2)^2 reduces to; nominal: 0/1), so both sums are variances,
// sum_{c,k} w_c w_k (x_c - x_k)^2 = 2 W sum_c w_c (x_c - mean)^2, taken about the mean (itself
// found from offsets to one of the values) so large values with a small spread keep their
// digits. Each unit divides by max(m, 2) - 1 as the krippendorff package does (a unit of one value adds nothing; fractional counts are kept).
double alpha_from_units(const TaskCounts& u, std::span<const double> values, AlphaLevel level) {
  const std::size_t V = values.size();
  const std::size_t n_units = u.offset.size() - 1;
  auto unit_total = [&](std::size_t t) {
    double m = 0;
    for (auto i = u.offset[t]; i < u.offset[t + 1]; ++i) m += u.cells[static_cast<std::size_t>(i)].second;
    return m;
  };
  std::vector<double> nv(V, 0.0);
  for (std::size_t t = 0; t < n_units; ++t) {
    const double m = unit_total(t), div = std::max(m, 2.0) - 1;
    for (auto i = u.offset[t]; i < u.offset[t + 1]; ++i) {
      const auto [c, nc] = u.cells[static_cast<std::size_t>(i)];
      nv[static_cast<std::size_t>(c)] += nc * (m - 1) / div;
    }
  }
  double n = 0;
  for (double x : nv) n += x;
  // n - 1 divides below: undefined at n <= 1 (fractional counts give n between 1 and 2, which the
  // krippendorff package computes, as here).
  if (!(n > 1)) bad("krippendorff_alpha: 1 or fewer pairable values (no unit has 2 or more values); alpha is undefined");
  // Interval and ratio distances keep their ratio when every value is multiplied by one number.
  // By a power of two the products are exact, so ordinary values give the same bits, and values
  // near the float limits give the alpha of ordinary ones (1e200 squared to inf and gave NaN;
  // 1e-300 squared to 0 and read as "every pairable value is the same").
  std::vector<double> scaled(values.begin(), values.end());
  if (level == AlphaLevel::Interval || level == AlphaLevel::Ratio) {
    double largest = 0;
    for (double v : scaled) largest = std::max(largest, std::fabs(v));
    if (largest > 0) {
      const int e = std::ilogb(largest);
      for (double& v : scaled) v = std::ldexp(v, -e);
    }
  }
  std::vector<double> x(V);
  if (level == AlphaLevel::Ordinal) {
    double below = 0;
    for (std::size_t g = 0; g < V; ++g) { x[g] = below + nv[g] / 2; below += nv[g]; }
  } else {
    std::copy(scaled.begin(), scaled.end(), x.begin());
  }
  auto ratio = [&](std::size_t c, std::size_t k) {
    const double sum = scaled[c] + scaled[k];
    if (sum == 0) return 0.0;
    const double d = (scaled[c] - scaled[k]) / sum;
    return d * d;
  };
  // sum_{c,k} w_c w_k d(c, k) over the cells [b, e) of `w` (pairs of value index and weight).
  auto spread = [&](auto cell, std::size_t b, std::size_t e) -> double {
    double total = 0, squares = 0;
    for (std::size_t i = b; i < e; ++i) { const auto [c, w] = cell(i); total += w; squares += w * w; }
    if (level == AlphaLevel::Nominal) return total * total - squares;
    if (level == AlphaLevel::Ratio) {
      double s = 0;
      for (std::size_t i = b; i < e; ++i)
        for (std::size_t j = b; j < e; ++j) {
          const auto [c, wc] = cell(i);
          const auto [k, wk] = cell(j);
          s += wc * wk * ratio(c, k);
        }
      return s;
    }
    // The mean of the offsets from the first value, not of the values: sum w x / W loses the
    // spread's digits when the values share a large offset (epoch timestamps in microseconds:
    // 1e15 + N(0, 1) gave alpha -0.035 for -0.065), while x - ref is exact for values within a
    // factor of 2 of each other.
    const double ref = x[cell(b).first];
    double shift = 0;
    for (std::size_t i = b; i < e; ++i) { const auto [c, w] = cell(i); shift += w * (x[c] - ref); }
    shift /= total;
    double s = 0;
    for (std::size_t i = b; i < e; ++i) {
      const auto [c, w] = cell(i);
      const double d = (x[c] - ref) - shift;
      s += w * d * d;
    }
    return 2 * total * s;
  };
  double observed = 0;
  for (std::size_t t = 0; t < n_units; ++t) {
    const auto b = static_cast<std::size_t>(u.offset[t]), e = static_cast<std::size_t>(u.offset[t + 1]);
    if (b == e) continue;
    const double div = std::max(unit_total(t), 2.0) - 1;
    observed += spread([&](std::size_t i) {
      return std::pair<std::size_t, double>(static_cast<std::size_t>(u.cells[i].first), u.cells[i].second);
    }, b, e) / div;
  }
  std::vector<std::size_t> used;  // values no pairable answer took add nothing (and cost V^2 for ratio)
  for (std::size_t g = 0; g < V; ++g)
    if (nv[g] != 0) used.push_back(g);
  const double expected = spread([&](std::size_t i) { return std::pair<std::size_t, double>(used[i], nv[used[i]]); },
                                 0, used.size()) / (n - 1);
  if (!(expected > 0))
    bad("krippendorff_alpha: every pairable value is the same (no expected disagreement); alpha is undefined");
  return 1 - observed / expected;
}

}  // namespace

double krippendorff_alpha(std::span<const double> value_counts, std::size_t n_units, std::span<const double> values,
                          AlphaLevel level) {
  check_values(values, level);
  const std::size_t V = values.size();
  if (value_counts.size() != n_units * V)
    bad("krippendorff_alpha: value_counts has " + std::to_string(value_counts.size()) + " cells, expected n_units x n_values = " +
        std::to_string(n_units) + " x " + std::to_string(V));
  TaskCounts units;
  units.offset.assign(n_units + 1, 0);
  for (std::size_t i = 0; i < value_counts.size(); ++i) {
    if (!std::isfinite(value_counts[i]) || value_counts[i] < 0)
      bad("krippendorff_alpha: value count at unit " + std::to_string(i / V) + ", value " + std::to_string(i % V) +
          " must be finite and >= 0");
    if (value_counts[i] != 0) units.cells.emplace_back(static_cast<std::int32_t>(i % V), value_counts[i]);
    if ((i + 1) % V == 0) units.offset[(i + 1) / V] = static_cast<std::int64_t>(units.cells.size());
  }
  return alpha_from_units(units, values, level);
}

double krippendorff_alpha(const AnswersView& a, std::span<const double> values, AlphaLevel level) {
  validate(a);
  if (values.size() != static_cast<std::size_t>(a.n_labels))
    bad("krippendorff_alpha: " + std::to_string(values.size()) + " values for " + std::to_string(a.n_labels) + " labels");
  check_values(values, level);
  return alpha_from_units(task_counts(a, {}), values, level);
}

double fleiss_kappa(const AnswersView& a) {
  validate(a);
  TaskCounts tc = task_counts(a, {});
  const std::size_t K = static_cast<std::size_t>(a.n_labels);
  std::vector<double> total(K, 0.0);
  double agree = 0, answers = 0;
  std::int64_t n_rated = 0;
  for (std::int32_t t = 0; t < a.n_tasks; ++t) {
    const auto b = tc.offset[static_cast<std::size_t>(t)], e = tc.offset[static_cast<std::size_t>(t) + 1];
    double m = 0, pairs = 0;
    for (auto i = b; i < e; ++i) {
      const double x = tc.cells[static_cast<std::size_t>(i)].second;
      m += x;
      pairs += x * (x - 1);
    }
    if (m < 2) continue;
    ++n_rated;
    agree += pairs / (m * (m - 1));
    answers += m;
    for (auto i = b; i < e; ++i) total[static_cast<std::size_t>(tc.cells[static_cast<std::size_t>(i)].first)] +=
        tc.cells[static_cast<std::size_t>(i)].second;
  }
  if (n_rated == 0) bad("fleiss_kappa: no task has 2 or more answers; kappa is undefined");
  double pe = 0;
  for (double x : total) pe += (x / answers) * (x / answers);
  if (pe >= 1) bad("fleiss_kappa: every answer on the tasks with 2 or more answers has the same label; kappa is undefined");
  const double po = agree / static_cast<double>(n_rated);
  return (po - pe) / (1 - pe);
}

std::vector<double> answer_entropy(const AnswersView& a, std::span<const double> weights) {
  validate(a);
  if (!weights.empty()) {
    if (weights.size() != static_cast<std::size_t>(a.n_workers))
      bad("answer_entropy: " + std::to_string(weights.size()) + " weights for " + std::to_string(a.n_workers) + " workers");
    for (std::size_t w = 0; w < weights.size(); ++w)
      if (!std::isfinite(weights[w]) || weights[w] < 0)
        bad("answer_entropy: the weight of worker " + std::to_string(w) + " must be finite and >= 0");
  }
  TaskCounts tc = task_counts(a, weights);
  std::vector<double> h(static_cast<std::size_t>(a.n_tasks), std::numeric_limits<double>::quiet_NaN());
  for (std::int32_t t = 0; t < a.n_tasks; ++t) {
    const auto b = tc.offset[static_cast<std::size_t>(t)], e = tc.offset[static_cast<std::size_t>(t) + 1];
    double m = 0;
    for (auto i = b; i < e; ++i) m += tc.cells[static_cast<std::size_t>(i)].second;
    if (!(m > 0)) continue;
    double s = 0;
    for (auto i = b; i < e; ++i) {
      const double p = tc.cells[static_cast<std::size_t>(i)].second / m;
      if (p > 0) s -= p * std::log(p);
    }
    h[static_cast<std::size_t>(t)] = s;
  }
  return h;
}

}  // namespace tagger::consensus
