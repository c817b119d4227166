// ROVER (Fiscus 1997) as crowd-kit 1.4.2 builds it: hypotheses are aligned one
// after the other onto the growing word transition network by edit distance,
// each slot counting how many hypotheses put which token there; the result is
// the slot-wise vote. Ties in the DP take the first of (match/substitute,
// delete, insert) as Python's min() does.
#include <algorithm>
#include <string>

#include "tagger/consensus_families.h"
#include "tagger/errors.h"

namespace tagger::consensus {
namespace {

using Slot = std::vector<std::pair<std::int32_t, std::int32_t>>;  // (token, sources)

bool has(const Slot& s, std::int32_t tok) {
  return std::any_of(s.begin(), s.end(), [&](const auto& e) { return e.first == tok; });
}

void add(Slot& s, std::int32_t tok, std::int32_t count) {
  for (auto& e : s)
    if (e.first == tok) { ++e.second; return; }  // already there: one more source
  s.push_back({tok, count});
}

enum Action : std::uint8_t { kMatch, kDelete, kInsert };

std::vector<Slot> align(const std::vector<Slot>& ref, std::span<const std::int32_t> hyp, std::int32_t sources) {
  const std::size_t H = hyp.size(), R = ref.size(), C = R + 1;
  // Two rows of distances (the backtrack reads only the actions): the full matrix of doubles
  // was 9 bytes a cell, out of memory at 20,000 words x 5 workers under 4 GB.
  std::vector<double> prev(C), cur(C);
  std::vector<Action> act((H + 1) * C, kMatch);
  for (std::size_t i = 0; i <= H; ++i) act[i * C] = kInsert;
  for (std::size_t j = 0; j <= R; ++j) { prev[j] = static_cast<double>(j); act[j] = kDelete; }
  for (std::size_t i = 1; i <= H; ++i) {
    cur[0] = static_cast<double>(i);
    for (std::size_t j = 1; j <= R; ++j) {
      double best = prev[j - 1] + (has(ref[j - 1], hyp[i - 1]) ? 0.0 : 1.0);
      Action a = kMatch;
      const double del = cur[j - 1] + (has(ref[j - 1], 0) ? 0.0 : 1.0);
      if (del < best) { best = del; a = kDelete; }
      const double ins = prev[j] + 1.0;
      if (ins < best) { best = ins; a = kInsert; }
      cur[j] = best;
      act[i * C + j] = a;
    }
    std::swap(prev, cur);
  }
  std::vector<Slot> out;
  out.reserve(std::max(H, R));
  std::size_t i = H, j = R;
  while (i != 0 || j != 0) {
    const Action a = act[i * C + j];
    Slot s;
    if (a == kInsert) {
      s = {{0, sources}};
      add(s, hyp[i - 1], 1);
      --i;
    } else if (a == kDelete) {
      s = ref[j - 1];
      add(s, 0, 1);
      --j;
    } else {
      s = ref[j - 1];
      add(s, hyp[i - 1], 1);
      --i; --j;
    }
    out.push_back(std::move(s));
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace

RoverResult rover(std::span<const std::int32_t> tokens, std::span<const std::int64_t> hyp_start,
                  std::span<const std::int64_t> task_start, std::span<const std::int64_t> rank) {
  if (hyp_start.empty() || task_start.empty() || hyp_start.front() != 0 || task_start.front() != 0)
    throw InvalidArgument("rover: hyp_start and task_start must begin at 0");
  if (static_cast<std::size_t>(hyp_start.back()) != tokens.size() ||
      static_cast<std::size_t>(task_start.back()) != hyp_start.size() - 1)
    throw InvalidArgument("rover: hyp_start must end at len(tokens) and task_start at the number of hypotheses");
  for (std::size_t k = 1; k < hyp_start.size(); ++k)
    if (hyp_start[k] < hyp_start[k - 1]) throw InvalidArgument("rover: hyp_start must not decrease");
  for (std::int32_t t : tokens)
    if (t < 0 || static_cast<std::size_t>(t) >= rank.size()) throw InvalidArgument("rover: token code out of range");
  RoverResult r;
  r.out_start.push_back(0);
  const std::size_t T = task_start.size() - 1;
  for (std::size_t t = 0; t < T; ++t) {
    const auto h0 = task_start[t], h1 = task_start[t + 1];
    if (h1 <= h0) throw InvalidArgument("rover: every task needs at least one text");
    auto hyp = [&](std::int64_t h) {
      return tokens.subspan(static_cast<std::size_t>(hyp_start[static_cast<std::size_t>(h)]),
                            static_cast<std::size_t>(hyp_start[static_cast<std::size_t>(h) + 1] - hyp_start[static_cast<std::size_t>(h)]));
    };
    std::vector<Slot> net;
    for (std::int32_t tok : hyp(h0)) net.push_back({{tok, 1}});
    for (std::int64_t h = h0 + 1; h < h1; ++h) net = align(net, hyp(h), static_cast<std::int32_t>(h - h0));
    for (const Slot& s : net) {
      auto best = s.front();
      for (const auto& e : s)
        if (e.second > best.second || (e.second == best.second && rank[static_cast<std::size_t>(e.first)] > rank[static_cast<std::size_t>(best.first)]))
          best = e;
      r.tokens.push_back(best.first);
    }
    r.out_start.push_back(static_cast<std::int64_t>(r.tokens.size()));
  }
  return r;
}

}  // namespace tagger::consensus
