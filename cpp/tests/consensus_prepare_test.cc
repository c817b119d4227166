// tagger::consensus input preparation (factorize, superseded_answers) against
// brute-force references.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tagger/consensus.h"
#include "tagger/errors.h"

namespace cs = tagger::consensus;

namespace {

// First-appearance (or sorted) codes with a std::map: obviously correct.
std::pair<std::vector<std::int32_t>, std::vector<std::int64_t>> reference(const std::vector<std::int64_t>& v, bool sorted) {
  std::vector<std::int64_t> uniq;
  std::map<std::int64_t, std::int32_t> code;
  for (std::int64_t x : v)
    if (code.emplace(x, static_cast<std::int32_t>(uniq.size())).second) uniq.push_back(x);
  if (sorted) {
    uniq.clear();
    std::int32_t i = 0;
    for (auto& [x, c] : code) { c = i++; uniq.push_back(x); }
  }
  std::vector<std::int32_t> codes;
  for (std::int64_t x : v) codes.push_back(code[x]);
  return {codes, uniq};
}

template <class T>
std::pair<std::vector<std::int32_t>, std::vector<std::int64_t>> run(const std::vector<T>& v, bool sorted) {
  cs::Codes c = cs::factorize(std::span<const T>(v), sorted);
  EXPECT_EQ(c.codes.size(), v.size());
  return {std::vector<std::int32_t>(c.codes.begin(), c.codes.end()), c.uniques};
}

}  // namespace

TEST(ConsensusPrepare, FactorizeMatchesMapReferenceOnDenseAndHashedIds) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 6; ++round) {
    std::vector<std::int64_t> v(2000);
    for (auto& x : v) {
      if (round < 2) x = static_cast<std::int64_t>(rng() % 300) - 100;             // dense table
      else if (round < 4) x = static_cast<std::int64_t>(rng());                    // hash table, full int64 range
      else x = static_cast<std::int64_t>(rng() % 50) * 1000003 + (round == 5 ? std::numeric_limits<std::int64_t>::min() / 2 : 0);
    }
    for (bool sorted : {false, true}) {
      EXPECT_EQ(run(v, sorted), reference(v, sorted)) << round << sorted;
      std::vector<std::int32_t> v32(v.size());
      for (std::size_t i = 0; i < v.size(); ++i) v32[i] = static_cast<std::int32_t>(v[i] % 1000);
      EXPECT_EQ(run(v32, sorted), reference(std::vector<std::int64_t>(v32.begin(), v32.end()), sorted));
    }
  }
  std::vector<std::int64_t> extremes = {std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min(), 0,
                                        std::numeric_limits<std::int64_t>::min()};
  auto [codes, uniq] = run(extremes, true);
  EXPECT_EQ(uniq, (std::vector<std::int64_t>{std::numeric_limits<std::int64_t>::min(), 0, std::numeric_limits<std::int64_t>::max()}));
  EXPECT_EQ(codes, (std::vector<std::int32_t>{2, 0, 1, 0}));
}

TEST(ConsensusPrepare, FactorizeCopiesValuesThatAreCodesIntoItsOwnArray) {
  std::vector<std::int32_t> in_order = {0, 0, 1, 2, 1, 3, 3}, sorted_only = {2, 0, 1, 1, 0, 2}, gap = {0, 2, 2, 0};
  for (bool sorted : {false, true}) {
    cs::Codes c = cs::factorize(std::span<const std::int32_t>(in_order), sorted);
    ASSERT_EQ(c.codes.size(), in_order.size());
    EXPECT_NE(c.codes.data(), in_order.data());
    EXPECT_EQ(std::vector<std::int32_t>(c.codes.begin(), c.codes.end()), in_order);
  }
  EXPECT_EQ(run(sorted_only, true).first, sorted_only);
  EXPECT_EQ(run(sorted_only, false).first, (std::vector<std::int32_t>{0, 1, 2, 2, 1, 0}));  // first appearance 2, 0, 1
  EXPECT_EQ(run(gap, true).first, (std::vector<std::int32_t>{0, 1, 1, 0}));  // 2 -> code 1
  // Long columns, past the blocks the identity checks scan: grouped ids, ids already codes
  // but not grouped, and both broken late by one id that skips a code.
  std::vector<std::int32_t> grouped, revisited;
  for (std::int32_t t = 0; t < 5000; ++t) grouped.insert(grouped.end(), {t, t, t});
  for (std::int32_t t = 0; t < 5000; ++t) revisited.insert(revisited.end(), {t, t / 2, t});
  for (auto* col : {&grouped, &revisited}) {
    EXPECT_EQ(run(*col, false).first, *col);
    EXPECT_EQ(run(*col, false).second.size(), 5000u);
    auto broken = *col;
    broken[12001] = 6000;  // a new id one past the next code, in the fourth block
    EXPECT_EQ(run(broken, false), reference(std::vector<std::int64_t>(broken.begin(), broken.end()), false));
  }
  EXPECT_EQ(run(sorted_only, false), reference(std::vector<std::int64_t>(sorted_only.begin(), sorted_only.end()), false));
  EXPECT_EQ(run(gap, true), reference(std::vector<std::int64_t>(gap.begin(), gap.end()), true));
}

TEST(ConsensusPrepare, SupersededAnswersAreTheEarlierOfRepeatedPairs) {
  std::mt19937 rng(3);
  for (bool grouped : {false, true}) {
    std::vector<std::int32_t> t(3000), w(3000);
    for (auto& x : t) x = static_cast<std::int32_t>(rng() % 200);
    for (auto& x : w) x = static_cast<std::int32_t>(rng() % 25);
    if (grouped) std::sort(t.begin(), t.end());
    cs::AnswersView a{t.data(), w.data(), nullptr, t.size(), 200, 25, 0};
    std::vector<std::int64_t> ref;
    std::set<std::pair<std::int32_t, std::int32_t>> later;
    for (std::size_t i = t.size(); i-- > 0;)
      if (!later.insert({t[i], w[i]}).second) ref.insert(ref.begin(), static_cast<std::int64_t>(i));
    EXPECT_EQ(cs::superseded_answers(a), ref) << grouped;
  }
  std::vector<std::int32_t> t = {0, 1}, w = {0, 5};
  EXPECT_THROW(cs::superseded_answers(cs::AnswersView{t.data(), w.data(), nullptr, 2, 2, 5, 0}), tagger::InvalidArgument);
}

namespace {

// First-appearance codes of strings with a std::map: obviously correct.
std::pair<std::vector<std::int32_t>, std::vector<std::int64_t>> string_reference(const std::vector<std::string>& v) {
  std::map<std::string, std::int32_t> code;
  std::vector<std::int64_t> first;
  std::vector<std::int32_t> codes;
  for (std::size_t i = 0; i < v.size(); ++i) {
    auto [it, added] = code.emplace(v[i], static_cast<std::int32_t>(first.size()));
    if (added) first.push_back(static_cast<std::int64_t>(i));
    codes.push_back(it->second);
  }
  return {codes, first};
}

std::pair<std::vector<std::int32_t>, std::vector<std::int64_t>> run_strings(const std::vector<std::string>& v) {
  std::vector<std::string_view> views(v.begin(), v.end());
  cs::StringCodes c = cs::factorize(std::span<const std::string_view>(views));
  return {std::vector<std::int32_t>(c.codes.get(), c.codes.get() + v.size()), c.first_rows};
}

}  // namespace

TEST(ConsensusPrepare, StringFactorizeMatchesMapReferenceAtEveryLength) {
  // Every packing branch (0, 1-3, 4-7, 8, 9-16 bytes, longer), ids that differ
  // only by a trailing NUL (same zero-padded words, different size), rows
  // that repeat their predecessor, and enough distinct ids to grow the table.
  std::mt19937_64 rng(11);
  std::vector<std::string> pool;
  for (std::size_t len = 0; len <= 40; ++len)
    for (int k = 0; k < 40; ++k) {
      std::string s(len, '\0');
      for (auto& ch : s) ch = static_cast<char>(rng() % 4);  // few symbols: many near-equal ids
      pool.push_back(s);
    }
  pool.push_back(std::string("a"));
  pool.push_back(std::string("a\0", 2));
  pool.push_back(std::string("a\0\0\0\0\0\0\0\0", 9));
  pool.push_back(std::string(17, 'x'));
  pool.push_back(std::string(17, 'x') + std::string(1, '\0'));
  for (int i = 0; i < 5000; ++i) pool.push_back("worker-" + std::to_string(i));
  std::vector<std::string> v;
  for (int i = 0; i < 30000; ++i) {
    const std::string& s = pool[rng() % pool.size()];
    const int repeats = 1 + static_cast<int>(rng() % 3);
    for (int r = 0; r < repeats; ++r) v.push_back(s);
  }
  EXPECT_EQ(run_strings(v), string_reference(v));
  EXPECT_EQ(run_strings({}).first.size(), 0u);
}

TEST(ConsensusPrepare, StringFactorizeGivesTheSameCodesEveryCall) {
  // The hash seed changes per call; the codes must not.
  std::vector<std::string> v;
  for (int i = 0; i < 20000; ++i) v.push_back("task-" + std::to_string((i * 7919) % 3001));
  const auto once = run_strings(v);
  for (int k = 0; k < 3; ++k) EXPECT_EQ(run_strings(v), once);
}
