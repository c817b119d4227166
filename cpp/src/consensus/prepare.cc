// Input preparation for the Python layer: integer ids to dense codes, and the
// rows the keep-last duplicate rule drops. Both are O(n) single passes; with
// pandas (hashing through factorize, duplicated) they took most of a 1M-answer
// DataFrame fit.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "consensus/common.h"
#include "tagger/errors.h"

namespace tagger::consensus {
namespace {

constexpr std::int32_t kMaxCodes = std::numeric_limits<std::int32_t>::max();

void check_size(std::size_t n) {
  if (n > static_cast<std::size_t>(kMaxCodes))
    throw InvalidArgument("consensus: more than 2^31 - 1 answers cannot be coded as int32");
}

// Open-addressing hash map from an int64 key to its code; grows at half load.
class CodeMap {
 public:
  CodeMap() { resize(1024); }
  // Returns the code of `key`, giving it `next` if it is new (then *added = true).
  std::int32_t find_or_add(std::int64_t key, std::int32_t next, bool* added) {
    std::size_t i = slot(key);
    while (used_[i]) {
      if (keys_[i] == key) {
        *added = false;
        return codes_[i];
      }
      i = (i + 1) & mask_;
    }
    used_[i] = 1;
    keys_[i] = key;
    codes_[i] = next;
    *added = true;
    if (++size_ * 2 > keys_.size()) resize(keys_.size() * 2);
    return next;
  }

 private:
  std::size_t slot(std::int64_t key) const {
    // Fibonacci hashing: the high bits of key * 2^64/phi spread consecutive ids.
    return static_cast<std::size_t>((static_cast<std::uint64_t>(key) * 0x9E3779B97F4A7C15ULL) >> shift_);
  }
  void resize(std::size_t cap) {
    std::vector<std::int64_t> keys = std::move(keys_);
    std::vector<std::int32_t> codes = std::move(codes_);
    std::vector<std::uint8_t> used = std::move(used_);
    keys_.assign(cap, 0);
    codes_.assign(cap, 0);
    used_.assign(cap, 0);
    mask_ = cap - 1;
    shift_ = 64 - std::countr_zero(cap);
    for (std::size_t j = 0; j < used.size(); ++j)
      if (used[j]) {
        std::size_t i = slot(keys[j]);
        while (used_[i]) i = (i + 1) & mask_;
        used_[i] = 1;
        keys_[i] = keys[j];
        codes_[i] = codes[j];
      }
  }
  std::vector<std::int64_t> keys_;
  std::vector<std::int32_t> codes_;
  std::vector<std::uint8_t> used_;
  std::size_t size_ = 0, mask_ = 0;
  int shift_ = 0;
};

template <class T>
Codes factorize_impl(std::span<const T> v, bool sorted) {
  const std::size_t n = v.size();
  check_size(n);
  Codes out;
  std::vector<std::int64_t>& uniques = out.uniques;
  if (n == 0) return out;
  // int32 input whose codes equal the values is copied as it is.
  constexpr bool kMayBeIdentity = std::is_same_v<T, std::int32_t>;
  out.codes.reset(n, util::HugeArray<std::int32_t>::kUninit);
  std::int32_t* codes = out.codes.data();
  auto copy_values = [&] {
    if constexpr (kMayBeIdentity) std::memcpy(codes, v.data(), n * sizeof(std::int32_t));
  };
  T lo_v = v[0], hi_v = v[0];
  for (std::size_t i = 1; i < n; ++i) {  // branch-free, vectorizable (minmax_element is neither)
    lo_v = std::min(lo_v, v[i]);
    hi_v = std::max(hi_v, v[i]);
  }
  const std::int64_t lo = lo_v, hi = hi_v;
  // hi - lo may overflow int64 for extreme ids: compare in unsigned.
  const std::uint64_t span = static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo);
  if constexpr (kMayBeIdentity) {
    // Ids that already are codes in first-appearance order (the usual task
    // column): each value is at most one above the largest before it.
    if (lo == 0 && !sorted) {
      std::int64_t top = -1;
      // First the grouped case, ids ascending from 0 in steps of 0 or 1: no
      // carried dependency, so each block's loop vectorizes.
      constexpr std::size_t kBlock = 4096;
      std::size_t off_steps = v[0] != 0;
      for (std::size_t b = 1; b < n && off_steps == 0; b += kBlock) {
        const std::size_t e = std::min(n, b + kBlock);
        for (std::size_t i = b; i < e; ++i) off_steps += static_cast<std::uint32_t>(v[i] - v[i - 1]) > 1u;
      }
      bool identity = off_steps == 0;
      if (identity) {
        top = v[n - 1];
      } else {
        // The general rule as a running maximum, a block at a time: it stops at
        // the first block that breaks it (other columns lose one block).
        identity = true;
        for (std::size_t b = 0; b < n && identity; b += kBlock) {
          const std::size_t e = std::min(n, b + kBlock);
          for (std::size_t i = b; i < e; ++i) {  // no exit inside: the block's loop stays branch-free
            identity &= v[i] <= top + 1;
            top = std::max<std::int64_t>(top, v[i]);
          }
        }
      }
      if (identity) {
        uniques.resize(static_cast<std::size_t>(top) + 1);
        std::iota(uniques.begin(), uniques.end(), std::int64_t{0});
        copy_values();
        return out;
      }
    }
  }
  if (span <= 2 * static_cast<std::uint64_t>(n) + 65536) {
    std::vector<std::int32_t> table(static_cast<std::size_t>(span) + 1, -1);
    if (sorted) {
      for (std::size_t i = 0; i < n; ++i) table[static_cast<std::size_t>(v[i] - lo)] = 0;
      std::int32_t next = 0;
      for (std::size_t j = 0; j < table.size(); ++j)
        if (table[j] == 0) {
          table[j] = next++;
          uniques.push_back(lo + static_cast<std::int64_t>(j));
        }
      // Codes are value - lo when every value in [lo, hi] occurs.
      if (kMayBeIdentity && lo == 0 && static_cast<std::size_t>(next) == table.size()) {
        copy_values();
        return out;
      }
      for (std::size_t i = 0; i < n; ++i) codes[i] = table[static_cast<std::size_t>(v[i] - lo)];
    } else {
      // (Ids that already are codes returned above.)
      std::int32_t next = 0;
      for (std::size_t i = 0; i < n; ++i) {
        std::int32_t& c = table[static_cast<std::size_t>(v[i] - lo)];
        if (c < 0) {
          c = next++;
          uniques.push_back(v[i]);
        }
        codes[i] = c;
      }
    }
    return out;
  }
  CodeMap map;
  std::int32_t next = 0;
  for (std::size_t i = 0; i < n; ++i) {
    bool added = false;
    codes[i] = map.find_or_add(v[i], next, &added);
    if (added) {
      uniques.push_back(v[i]);
      ++next;
    }
  }
  if (sorted) {
    std::vector<std::int32_t> order(uniques.size()), rank(uniques.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) { return uniques[a] < uniques[b]; });
    std::vector<std::int64_t> sorted_uniques(uniques.size());
    for (std::size_t r = 0; r < order.size(); ++r) {
      rank[static_cast<std::size_t>(order[r])] = static_cast<std::int32_t>(r);
      sorted_uniques[r] = uniques[static_cast<std::size_t>(order[r])];
    }
    for (std::size_t i = 0; i < n; ++i) codes[i] = rank[static_cast<std::size_t>(codes[i])];
    uniques = std::move(sorted_uniques);
  }
  return out;
}

void check_index(const std::int32_t* v, std::size_t n, std::int32_t bound, const char* what) {
  // A branch-free min/max pass (it vectorizes); the answer to name is looked for only on failure.
  std::int32_t lo = 0, hi = 0;
  for (std::size_t i = 0; i < n; ++i) {
    lo = std::min(lo, v[i]);
    hi = std::max(hi, v[i]);
  }
  if (lo >= 0 && (n == 0 || hi < bound)) return;
  for (std::size_t i = 0; i < n; ++i)
    if (v[i] < 0 || v[i] >= bound)
      throw InvalidArgument(std::string("consensus: ") + what + " index " + std::to_string(v[i]) + " at answer " +
                            std::to_string(i) + " is outside [0, " + std::to_string(bound) + ")");
}

}  // namespace

Codes factorize(std::span<const std::int64_t> values, bool sorted) { return factorize_impl(values, sorted); }

Codes factorize(std::span<const std::int32_t> values, bool sorted) { return factorize_impl(values, sorted); }

std::vector<std::int64_t> superseded_answers(const AnswersView& a) {
  if (a.n_tasks < 0 || a.n_workers < 0) throw InvalidArgument("consensus: n_tasks and n_workers must be >= 0");
  std::vector<std::int64_t> out;
  if (a.n == 0) return out;
  if (!a.task || !a.worker) throw InvalidArgument("consensus: answer arrays must not be null");
  check_index(a.task, a.n, a.n_tasks, "task");
  check_index(a.worker, a.n, a.n_workers, "worker");
  // last_task[w] = the task whose answers are being scanned when w was last
  // seen there. Each task's rows are scanned from the last to the first, so
  // the first sighting of a worker is its kept (last) answer.
  std::vector<std::int32_t> last_task(static_cast<std::size_t>(a.n_workers), -1);
  auto scan = [&](std::int32_t t, std::int64_t row) {
    std::int32_t& m = last_task[static_cast<std::size_t>(a.worker[row])];
    if (m == t) out.push_back(row);
    else m = t;
  };
  // Non-decreasing task: each task's rows are one run. Counted without an early
  // exit, so that the loop vectorizes (it is a pass over every answer anyway when grouped).
  std::size_t descents = 0;
  for (std::size_t i = 1; i < a.n; ++i) descents += a.task[i] < a.task[i - 1];
  const bool grouped = descents == 0;
  if (grouped) {
    std::size_t end = a.n;
    while (end > 0) {
      const std::int32_t t = a.task[end - 1];
      std::size_t begin = end - 1;
      while (begin > 0 && a.task[begin - 1] == t) --begin;
      for (std::size_t i = end; i-- > begin;) scan(t, static_cast<std::int64_t>(i));
      end = begin;
    }
  } else {
    // Stable counting sort of the rows by task.
    std::vector<std::int64_t> offset(static_cast<std::size_t>(a.n_tasks) + 1, 0);
    for (std::size_t i = 0; i < a.n; ++i) ++offset[static_cast<std::size_t>(a.task[i]) + 1];
    for (std::size_t t = 0; t < static_cast<std::size_t>(a.n_tasks); ++t) offset[t + 1] += offset[t];
    std::vector<std::int64_t> rows(a.n), cursor(offset.begin(), offset.end() - 1);
    for (std::size_t i = 0; i < a.n; ++i) rows[static_cast<std::size_t>(cursor[static_cast<std::size_t>(a.task[i])]++)] = static_cast<std::int64_t>(i);
    for (std::int32_t t = 0; t < a.n_tasks; ++t)
      for (std::int64_t p = offset[static_cast<std::size_t>(t) + 1]; p-- > offset[static_cast<std::size_t>(t)];)
        scan(t, rows[static_cast<std::size_t>(p)]);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace tagger::consensus
