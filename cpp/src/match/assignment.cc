// Exact maximum-suitability assignment as a min-cost flow.
//
// Network: item i has supply `overlap`; arc i -> w (capacity 1, so the
// workers of an item are distinct) for every candidate pair, with cost
// c = s_max - s >= 0; worker w -> sink T with capacity capacity[w], cost 0.
// All slots must be routed, so the shift by s_max changes every complete
// assignment's cost by the same constant and the optimum is unchanged.
//
// Successive shortest paths (Ford & Fulkerson; Edmonds & Karp 1972) with
// Johnson potentials p: reduced costs c + p(u) - p(v) stay >= 0 on every
// residual arc, so each augmenting path is found by Dijkstra. Each search
// starts at one item with unrouted supply and stops as soon as the sink is
// settled (the early exit of the sparse Jonker–Volgenant LAP solvers); only
// the settled nodes' potentials change, by p(v) -= D - d(v) with D = d(T),
// which keeps every reduced cost non-negative and makes the augmented path's
// reverse arcs tight. Each augmentation keeps the flow of minimum cost for
// its supply vector, so after the last one it is optimal.
//
// Infeasibility: when a search from item i cannot reach T, the set R it
// explored has no residual arc leaving it, and no later augmentation can
// enter R (it could not leave again), so R is dead for good and is skipped by
// every later search. Hence the unrouted supply at the end is exactly
// slots - max flow.
//
// partial = true: when the strict solve is short, it is solved again with an
// extra arc i -> T of cost M = slots * s_range + 1 per item: every real
// augmenting path is cheaper than one unit of M, so the optimum first fills
// the most slots, then maximizes suitability.
#include <algorithm>
#include <cmath>
#include <limits>
#include <queue>

#include "tagger/errors.h"
#include "tagger/match.h"

namespace tagger::match {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

void validate(const AssignmentProblem& pr) {
  if (pr.overlap < 1) throw InvalidArgument("overlap must be >= 1, got " + std::to_string(pr.overlap));
  if (pr.indptr.size() != pr.n_items + 1)
    throw InvalidArgument("indptr has " + std::to_string(pr.indptr.size()) + " entries, expected n_items + 1 = " +
                          std::to_string(pr.n_items + 1));
  if (pr.capacity.size() != pr.n_workers)
    throw InvalidArgument("capacity has " + std::to_string(pr.capacity.size()) + " entries for " +
                          std::to_string(pr.n_workers) + " workers");
  if (pr.indices.size() != pr.suitability.size())
    throw InvalidArgument("indices and suitability differ in length");
  if (pr.n_workers > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()) ||
      pr.n_items > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max() / 2))
    throw InvalidArgument("too many items or workers for 32-bit node ids");
  for (std::size_t w = 0; w < pr.n_workers; ++w)
    if (pr.capacity[w] < 0)
      throw InvalidArgument("capacity of worker " + std::to_string(w) + " is negative (" +
                            std::to_string(pr.capacity[w]) + ")");
  if (pr.indptr[0] != 0 || static_cast<std::size_t>(pr.indptr[pr.n_items]) != pr.indices.size())
    throw InvalidArgument("indptr must start at 0 and end at the number of pairs");
  std::vector<std::int64_t> last_item(pr.n_workers, -1);
  for (std::size_t i = 0; i < pr.n_items; ++i) {
    if (pr.indptr[i + 1] < pr.indptr[i]) throw InvalidArgument("indptr must be non-decreasing");
    for (std::int64_t e = pr.indptr[i]; e < pr.indptr[i + 1]; ++e) {
      std::int32_t w = pr.indices[e];
      if (w < 0 || static_cast<std::size_t>(w) >= pr.n_workers)
        throw InvalidArgument("worker index " + std::to_string(w) + " out of range for item " + std::to_string(i));
      if (!std::isfinite(pr.suitability[e]))
        throw InvalidArgument("suitability of item " + std::to_string(i) + ", worker " + std::to_string(w) +
                              " is not finite (" + std::to_string(pr.suitability[e]) + ")");
      if (last_item[w] == static_cast<std::int64_t>(i))
        throw InvalidArgument("duplicate pair: item " + std::to_string(i) + ", worker " + std::to_string(w));
      last_item[w] = static_cast<std::int64_t>(i);
    }
  }
}

class Solver {
 public:
  Solver(const AssignmentProblem& pr, double dummy_cost) : pr_(pr), dummy_cost_(dummy_cost) {
    n_ = pr.n_items;
    m_ = pr.n_workers;
    sink_ = static_cast<std::int32_t>(n_ + m_);
    const std::size_t nodes = n_ + m_ + 1;
    double smax = -kInf;
    for (double s : pr.suitability) smax = std::max(smax, s);
    cost_.resize(pr.suitability.size());
    for (std::size_t e = 0; e < cost_.size(); ++e) cost_[e] = smax - pr.suitability[e];
    assigned_.assign(cost_.size(), 0);
    pos_.assign(cost_.size(), -1);
    owner_.resize(cost_.size());
    for (std::size_t i = 0; i < n_; ++i)
      for (std::int64_t e = pr.indptr[i]; e < pr.indptr[i + 1]; ++e) owner_[e] = static_cast<std::int32_t>(i);
    held_.resize(m_);
    load_.assign(m_, 0);
    routed_.assign(n_, 0);
    dummy_.assign(n_, 0);
    pot_.assign(nodes, 0.0);
    dist_.assign(nodes, kInf);
    stamp_.assign(nodes, 0);
    parent_.assign(nodes, -1);
    dead_.assign(nodes, 0);
  }

  AssignmentResult run() {
    AssignmentResult res;
    for (std::size_t i = 0; i < n_; ++i) {
      while (routed_[i] < pr_.overlap) {
        ++res.augmentations;
        if (!augment(static_cast<std::int32_t>(i))) break;
        ++routed_[i];
      }
    }
    res.workers.assign(n_ * static_cast<std::size_t>(pr_.overlap), -1);
    res.item_shortfall.assign(n_, 0);
    for (std::size_t i = 0; i < n_; ++i) {
      std::int32_t* row = res.workers.data() + i * static_cast<std::size_t>(pr_.overlap);
      int k = 0;
      for (std::int64_t e = pr_.indptr[i]; e < pr_.indptr[i + 1]; ++e)
        if (assigned_[e]) {
          row[k++] = pr_.indices[e];
          res.objective += pr_.suitability[e];
        }
      std::sort(row, row + k);
      res.item_shortfall[i] = pr_.overlap - k;
      res.shortfall += pr_.overlap - k;
    }
    return res;
  }

 private:
  // Parent encoding: for a worker, the arc index e (item -> worker, forward);
  // for an item, -(e + 2) (worker -> item, reverse of assigned arc e); for the
  // sink, the worker node it came from, or -(item + 2) for a dummy arc.
  bool augment(std::int32_t src) {
    ++cur_;
    settled_.clear();
    heap_ = {};
    touch(src, 0.0, -1);
    heap_.push({0.0, src});
    double best = kInf;  // tentative distance of the sink
    std::int32_t best_parent = 0;
    while (!heap_.empty()) {
      auto [d, u] = heap_.top();
      heap_.pop();
      if (d > dist_[u]) continue;
      if (d >= best) break;
      settled_.push_back(u);
      if (static_cast<std::size_t>(u) < n_) {
        const std::size_t i = static_cast<std::size_t>(u);
        for (std::int64_t e = pr_.indptr[i]; e < pr_.indptr[i + 1]; ++e) {
          if (assigned_[e]) continue;
          std::int32_t v = static_cast<std::int32_t>(n_) + pr_.indices[e];
          if (dead_[v]) continue;
          double nd = d + std::max(0.0, cost_[e] + pot_[u] - pot_[v]);
          if (stamp_[v] != cur_ || nd < dist_[v]) {
            touch(v, nd, static_cast<std::int32_t>(e));
            heap_.push({nd, v});
          }
        }
        if (dummy_cost_ > 0 && dummy_[i] < pr_.overlap) {
          double nd = d + std::max(0.0, dummy_cost_ + pot_[u] - pot_[sink_]);
          if (nd < best) best = nd, best_parent = -(u + 2);
        }
      } else {
        const std::size_t w = static_cast<std::size_t>(u) - n_;
        if (load_[w] < pr_.capacity[w]) {
          double nd = d + std::max(0.0, pot_[u] - pot_[sink_]);
          if (nd < best) best = nd, best_parent = u;
        }
        for (std::int64_t e : held_[w]) {
          std::int32_t v = owner_[e];
          if (dead_[v]) continue;
          double nd = d + std::max(0.0, -cost_[e] + pot_[u] - pot_[v]);
          if (stamp_[v] != cur_ || nd < dist_[v]) {
            touch(v, nd, -static_cast<std::int32_t>(e) - 2);
            heap_.push({nd, v});
          }
        }
      }
    }
    if (best == kInf) {
      // Everything reachable was settled: none of it can ever reach the sink.
      for (auto v : settled_) dead_[v] = 1;
      return false;
    }
    for (auto v : settled_)
      if (dist_[v] < best) pot_[v] -= best - dist_[v];
    // Walk the path back from the sink, flipping arcs.
    std::int32_t v;
    if (best_parent < -1) {
      v = -best_parent - 2;
      ++dummy_[v];
    } else {
      v = best_parent;
      ++load_[static_cast<std::size_t>(v) - n_];
    }
    while (v != src) {
      std::int32_t par = parent_[v];
      if (static_cast<std::size_t>(v) >= n_) {  // reached worker v by forward arc par from its item
        const std::size_t w = static_cast<std::size_t>(v) - n_;
        assigned_[par] = 1;
        pos_[par] = static_cast<std::int64_t>(held_[w].size());
        held_[w].push_back(par);
        v = owner_[par];
      } else {  // reached item v by the reverse of assigned arc e from its worker
        std::int64_t e = -par - 2;
        const std::size_t w = static_cast<std::size_t>(pr_.indices[e]);
        assigned_[e] = 0;
        auto& h = held_[w];
        std::int64_t at = pos_[e];
        h[at] = h.back();
        pos_[h[at]] = at;
        h.pop_back();
        pos_[e] = -1;
        v = static_cast<std::int32_t>(n_ + w);
      }
    }
    return true;
  }

  void touch(std::int32_t v, double d, std::int32_t parent) {
    stamp_[v] = cur_;
    dist_[v] = d;
    parent_[v] = parent;
  }

  const AssignmentProblem& pr_;
  double dummy_cost_;
  std::size_t n_ = 0, m_ = 0;
  std::int32_t sink_ = 0;
  std::vector<double> cost_;
  std::vector<std::uint8_t> assigned_;
  std::vector<std::int64_t> pos_;              // index of an assigned arc in held_[worker]
  std::vector<std::int32_t> owner_;            // item of each arc
  std::vector<std::vector<std::int64_t>> held_;  // assigned arcs per worker
  std::vector<std::int64_t> load_;
  std::vector<int> routed_, dummy_;
  std::vector<double> pot_, dist_;
  std::vector<std::uint32_t> stamp_;
  std::uint32_t cur_ = 0;
  std::vector<std::int32_t> parent_;
  std::vector<std::uint8_t> dead_;
  std::vector<std::int32_t> settled_;
  using Entry = std::pair<double, std::int32_t>;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap_;
};

}  // namespace

AssignmentResult assign(const AssignmentProblem& problem, bool partial) {
  validate(problem);
  AssignmentResult strict = Solver(problem, 0.0).run();
  if (strict.shortfall == 0 || !partial) return strict;
  double smin = kInf, smax = -kInf;
  for (double s : problem.suitability) smin = std::min(smin, s), smax = std::max(smax, s);
  const double slots = static_cast<double>(problem.n_items) * problem.overlap;
  const double range = problem.suitability.empty() ? 0.0 : smax - smin;
  AssignmentResult res = Solver(problem, slots * range + 1.0).run();
  res.augmentations += strict.augmentations;
  // Dummy arcs are not reported as slots: the shortfall is the unfilled count,
  // which equals the strict solve's (both are slots - max flow).
  return res;
}

AssignmentResult assign_or_throw(const AssignmentProblem& problem) {
  AssignmentResult r = assign(problem, false);
  if (r.shortfall > 0) {
    std::string items;
    int listed = 0;
    std::int64_t short_items = 0;
    for (std::size_t i = 0; i < r.item_shortfall.size(); ++i) {
      if (r.item_shortfall[i] == 0) continue;
      ++short_items;
      if (listed++ < 10) items += (items.empty() ? "" : ", ") + std::to_string(i);
    }
    if (short_items > listed) items += ", ...";
    throw InfeasibleAssignment("demand exceeds what the workers can cover by " + std::to_string(r.shortfall) +
                               " slot(s); items left short by a maximum assignment: " + items);
  }
  return r;
}

}  // namespace tagger::match
