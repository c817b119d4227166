// assign(): exact optimum against exhaustive search on small instances,
// constraints on a larger one, exact shortfall when infeasible.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>

#include "tagger/errors.h"
#include "tagger/match.h"

namespace tagger::match {
namespace {

struct Instance {
  std::size_t n, w;
  int overlap;
  std::vector<std::int64_t> indptr, capacity;
  std::vector<std::int32_t> indices;
  std::vector<double> s;
  AssignmentProblem problem() const {
    return {n, w, indptr, indices, s, overlap, capacity};
  }
};

Instance random_instance(std::mt19937_64& rng, std::size_t n, std::size_t w, int overlap, double density) {
  Instance in{n, w, overlap, {0}, {}, {}, {}};
  std::uniform_real_distribution<double> u(0, 1);
  std::uniform_int_distribution<int> score(-3, 9), cap(0, 3);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < w; ++j)
      if (u(rng) < density) in.indices.push_back(static_cast<std::int32_t>(j)), in.s.push_back(score(rng));
    in.indptr.push_back(static_cast<std::int64_t>(in.indices.size()));
  }
  for (std::size_t j = 0; j < w; ++j) in.capacity.push_back(cap(rng));
  return in;
}

// Exhaustive: every subset of each item's candidates of size <= overlap;
// returns (max filled slots, best total among those).
std::pair<int, double> brute_force(const Instance& in) {
  std::pair<int, double> best{-1, 0};
  std::vector<std::int64_t> load(in.w, 0);
  std::function<void(std::size_t, int, double)> rec = [&](std::size_t i, int filled, double total) {
    if (i == in.n) {
      if (filled > best.first || (filled == best.first && total > best.second)) best = {filled, total};
      return;
    }
    std::int64_t b = in.indptr[i], e = in.indptr[i + 1];
    std::function<void(std::int64_t, int, double)> pick = [&](std::int64_t k, int taken, double t) {
      if (taken == in.overlap || k == e) {
        rec(i + 1, filled + taken, t);
        if (taken == in.overlap || k == e) return;
      }
      pick(k + 1, taken, t);  // skip candidate k
      auto j = static_cast<std::size_t>(in.indices[k]);
      if (load[j] < in.capacity[j]) {
        ++load[j];
        pick(k + 1, taken + 1, t + in.s[k]);
        --load[j];
      }
    };
    if (b == e) rec(i + 1, filled, total);
    else pick(b, 0, total);
  };
  rec(0, 0, 0.0);
  return best;
}

void expect_feasible_solution(const Instance& in, const AssignmentResult& r) {
  std::vector<std::int64_t> load(in.w, 0);
  double total = 0;
  for (std::size_t i = 0; i < in.n; ++i) {
    std::vector<std::int32_t> seen;
    for (int k = 0; k < in.overlap; ++k) {
      std::int32_t j = r.workers[i * in.overlap + k];
      if (j < 0) continue;
      ASSERT_EQ(std::count(seen.begin(), seen.end(), j), 0) << "worker twice on item " << i;
      seen.push_back(j);
      auto it = std::find(in.indices.begin() + in.indptr[i], in.indices.begin() + in.indptr[i + 1], j);
      ASSERT_NE(it, in.indices.begin() + in.indptr[i + 1]) << "pair not allowed";
      total += in.s[it - in.indices.begin()];
      ++load[j];
    }
  }
  for (std::size_t j = 0; j < in.w; ++j) EXPECT_LE(load[j], in.capacity[j]);
  EXPECT_NEAR(total, r.objective, 1e-9);
}

TEST(MatchAssignment, PartialEqualsExhaustiveSearchOnSmallInstances) {
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 150; ++trial) {
    auto in = random_instance(rng, 1 + trial % 4, 2 + trial % 3, 1 + trial % 2, 0.7);
    auto ref = brute_force(in);
    auto r = assign(in.problem(), /*partial=*/true);
    expect_feasible_solution(in, r);
    EXPECT_EQ(static_cast<std::int64_t>(in.n) * in.overlap - r.shortfall, ref.first) << "trial " << trial;
    EXPECT_NEAR(r.objective, ref.second, 1e-9) << "trial " << trial;
    auto strict = assign(in.problem(), false);
    EXPECT_EQ(strict.shortfall, r.shortfall) << "shortfall must not depend on the mode";
  }
}

TEST(MatchAssignment, LargeRandomInstanceSatisfiesEveryConstraint) {
  std::mt19937_64 rng(5);
  auto in = random_instance(rng, 3000, 300, 3, 0.05);
  for (auto& c : in.capacity) c += 30;
  auto r = assign(in.problem(), true);
  expect_feasible_solution(in, r);
}

TEST(MatchAssignment, InfeasibleReportsExactShortfallAndThrows) {
  // 3 items x overlap 2 over 2 workers of capacity 2: 6 slots, 4 fillable.
  Instance in{3, 2, 2, {0, 2, 4, 6}, {2, 2}, {0, 1, 0, 1, 0, 1}, {1, 2, 3, 4, 5, 6}};
  auto r = assign(in.problem());
  EXPECT_EQ(r.shortfall, 2);
  EXPECT_THROW(assign_or_throw(in.problem()), InfeasibleAssignment);
}

TEST(MatchAssignment, RejectsMalformedInput) {
  Instance in{1, 2, 1, {0, 2}, {1, -1}, {0, 1}, {1, 2}};
  EXPECT_THROW(assign(in.problem()), InvalidArgument);  // negative capacity
  in.capacity = {1, 1};
  in.s[0] = std::nan("");
  EXPECT_THROW(assign(in.problem()), InvalidArgument);
  in.s[0] = 1;
  in.indices = {1, 1};
  EXPECT_THROW(assign(in.problem()), InvalidArgument);  // duplicate pair
}

TEST(MatchSubtasks, EveryItemOnceControlsMixedIn) {
  std::vector<std::int64_t> gold = {100, 101, 102};
  auto st = make_subtasks(25, 10, gold, 0.25, 3);
  ASSERT_EQ(st.size(), 3u);
  std::vector<std::int64_t> seen;
  for (auto& s : st)
    for (std::size_t k = 0; k < s.items.size(); ++k)
      if (!s.is_control[k]) seen.push_back(s.items[k]);
  std::sort(seen.begin(), seen.end());
  for (std::int64_t i = 0; i < 25; ++i) EXPECT_EQ(seen[i], i);
  EXPECT_EQ(std::count(st[0].is_control.begin(), st[0].is_control.end(), 1), 3);
}

}  // namespace
}  // namespace tagger::match
