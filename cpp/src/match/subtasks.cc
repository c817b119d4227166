// Subtasks with hidden control items (Toloka's "control tasks"): a worker's
// answers on items with known answers estimate its quality, which only works
// if the control items cannot be told apart — so they sit at uniformly random
// positions among the regular items.
#include <algorithm>
#include <cmath>

#include "tagger/errors.h"
#include "tagger/match.h"

namespace tagger::match {
namespace {

struct Rng {  // splitmix64: the same stream on every platform (std::shuffle is not)
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  std::uint64_t below(std::uint64_t n) {  // unbiased (rejection)
    std::uint64_t limit = ~std::uint64_t{0} - (~std::uint64_t{0} % n);
    std::uint64_t x;
    do x = next();
    while (x >= limit);
    return x % n;
  }
};

template <class T>
void shuffle(std::vector<T>& v, Rng& rng) {
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
}

}  // namespace

std::vector<Subtask> make_subtasks(std::int64_t n_items, int batch_size, std::span<const std::int64_t> control_items,
                                   double control_share, std::uint64_t seed) {
  if (n_items < 0) throw InvalidArgument("n_items must be >= 0, got " + std::to_string(n_items));
  if (batch_size < 1) throw InvalidArgument("batch_size must be >= 1, got " + std::to_string(batch_size));
  if (!(control_share >= 0.0 && control_share < 1.0))
    throw InvalidArgument("control_share must be in [0, 1), got " + std::to_string(control_share));
  if (control_share > 0 && control_items.empty())
    throw InvalidArgument("control_share > 0 needs at least one control item");
  Rng rng{seed};
  std::vector<std::int64_t> pool(control_items.begin(), control_items.end());
  shuffle(pool, rng);
  std::size_t next_control = 0;
  std::vector<std::int64_t> order(static_cast<std::size_t>(n_items));
  for (std::int64_t i = 0; i < n_items; ++i) order[static_cast<std::size_t>(i)] = i;
  shuffle(order, rng);  // subtasks are random samples, not runs of adjacent (often similar) items

  std::vector<Subtask> out;
  for (std::size_t start = 0; start < order.size(); start += static_cast<std::size_t>(batch_size)) {
    std::size_t size = std::min<std::size_t>(static_cast<std::size_t>(batch_size), order.size() - start);
    std::size_t n_control = 0;
    if (control_share > 0) {
      n_control = static_cast<std::size_t>(std::llround(control_share * static_cast<double>(size) / (1.0 - control_share)));
      n_control = std::min(std::max<std::size_t>(n_control, 1), pool.size());  // distinct within a subtask
    }
    Subtask st;
    st.items.assign(order.begin() + static_cast<std::ptrdiff_t>(start),
                    order.begin() + static_cast<std::ptrdiff_t>(start + size));
    st.is_control.assign(size, 0);
    for (std::size_t c = 0; c < n_control; ++c) {
      if (next_control == pool.size()) {  // pool used up: reshuffle and cycle
        shuffle(pool, rng);
        next_control = 0;
        // Controls already in this subtask go to the back, so it gets distinct ones.
        auto in_subtask = [&](std::int64_t id) {
          for (std::size_t k = size; k < st.items.size(); ++k)
            if (st.items[k] == id) return true;
          return false;
        };
        std::stable_partition(pool.begin(), pool.end(), [&](std::int64_t id) { return !in_subtask(id); });
      }
      st.items.push_back(pool[next_control++]);
      st.is_control.push_back(1);
    }
    // Joint shuffle of items and flags: control positions are uniform.
    for (std::size_t i = st.items.size(); i > 1; --i) {
      std::size_t j = rng.below(i);
      std::swap(st.items[i - 1], st.items[j]);
      std::swap(st.is_control[i - 1], st.is_control[j]);
    }
    out.push_back(std::move(st));
  }
  return out;
}

}  // namespace tagger::match
