// Continuous answers grouped by task (values copied, so they can be sorted).
#pragma once

#include <cstdint>
#include <vector>

#include "tagger/consensus.h"

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

}  // namespace tagger::consensus::detail
