// Continuous answers grouped by task (values copied, so they can be sorted).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "tagger/consensus.h"
#include "util/parallel.h"

namespace tagger::consensus::detail {

struct GroupedValues {
  std::vector<std::int64_t> offset;  // [n_tasks + 1]
  std::vector<double> values;        // [n] task-major
};

inline GroupedValues group_values(const ContinuousView& a) {
  GroupedValues g;
  g.offset.assign(static_cast<std::size_t>(a.n_tasks) + 1, 0);
  for (std::size_t i = 0; i < a.n; ++i) ++g.offset[static_cast<std::size_t>(a.task[i]) + 1];
  for (std::size_t t = 0; t < static_cast<std::size_t>(a.n_tasks); ++t) g.offset[t + 1] += g.offset[t];
  g.values.resize(a.n);
  std::vector<std::int64_t> cursor(g.offset.begin(), g.offset.end() - 1);
  for (std::size_t i = 0; i < a.n; ++i) g.values[cursor[static_cast<std::size_t>(a.task[i])]++] = a.value[i];
  return g;
}

// One value per task from its answers sorted ascending: reduce(sorted, n) for
// tasks with answers, NaN for tasks without. Tasks run in parallel.
template <class Reduce>
ContinuousResult reduce_sorted(const ContinuousView& a, const Options& opt, Reduce&& reduce) {
  GroupedValues g = group_values(a);
  ContinuousResult r;
  r.n_tasks = a.n_tasks;
  r.values.assign(static_cast<std::size_t>(a.n_tasks), std::numeric_limits<double>::quiet_NaN());
  util::parallel_for(static_cast<std::size_t>(a.n_tasks), opt.threads, 1024, [&](std::size_t b, std::size_t e) {
    for (std::size_t t = b; t < e; ++t) {
      double* v0 = g.values.data() + g.offset[t];
      const std::int64_t n = g.offset[t + 1] - g.offset[t];
      if (n == 0) continue;
      std::sort(v0, v0 + n);
      r.values[t] = reduce(static_cast<const double*>(v0), n);
    }
  });
  return r;
}

}  // namespace tagger::consensus::detail
