#include "tagger/huge_array.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <thread>
#include <utility>
#include <vector>

namespace {
using tagger::util::HugeArray;
using Words = HugeArray<std::int64_t>;

bool all_zero(const Words& a) {
  return std::all_of(a.begin(), a.end(), [](std::int64_t v) { return v == 0; });
}

TEST(UtilHugeArray, ZeroedWhenAskedAlsoOnAReusedMapping) {
  // Large enough to be mapped (and kept for reuse when released).
  const std::size_t n = (std::size_t{3} << 20) / sizeof(std::int64_t) + 17;
  for (int round = 0; round < 4; ++round) {
    Words a(n, Words::kZero);
    ASSERT_EQ(a.size(), n);
    EXPECT_TRUE(all_zero(a)) << "round " << round;
    std::fill(a.begin(), a.end(), -1);  // dirty it before it goes back to the kept mappings
  }
}

TEST(UtilHugeArray, SmallArraysComeFromTheHeapAlignedAndZeroed) {
  for (std::size_t n : {1, 7, 64, 1000}) {
    Words a(n, Words::kZero);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a.data()) % 64, 0u);
    EXPECT_TRUE(all_zero(a));
  }
  Words none(0, Words::kZero);
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none.data(), nullptr);
}

TEST(UtilHugeArray, LargeArraysAreAlignedToHugePages) {
  Words a((std::size_t{5} << 20) / sizeof(std::int64_t), Words::kUninit);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a.data()) % 64, 0u);
  a[0] = 1;
  a[a.size() - 1] = 2;  // the whole length is writable
  EXPECT_EQ(a[0] + a[a.size() - 1], 3);
}

TEST(UtilHugeArray, KeepsAtMostTheCacheSizeForReuse) {
  namespace hd = tagger::util::huge_detail;
  // Live arrays larger in all than the cache, then released together: the rest is unmapped.
  const std::size_t n = (std::size_t{24} << 20) / sizeof(std::int64_t);
  {
    std::vector<Words> live;
    for (int i = 0; i < 8; ++i) live.emplace_back(n, Words::kUninit);
  }
  EXPECT_LE(hd::kept_bytes(), hd::kCacheBytes);
  // An array larger than the whole cache is never kept.
  { Words huge((hd::kCacheBytes + (std::size_t{4} << 20)) / sizeof(std::int64_t), Words::kUninit); }
  EXPECT_LE(hd::kept_bytes(), hd::kCacheBytes);
}

TEST(UtilHugeArray, MovesOwnership) {
  Words a(1 << 20, Words::kZero);
  a[5] = 42;
  const std::int64_t* p = a.data();
  Words b(std::move(a));
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b[5], 42);
  Words c;
  c = std::move(b);
  EXPECT_EQ(c.data(), p);
  c.reset(10, Words::kZero);
  EXPECT_EQ(c.size(), 10u);
  EXPECT_TRUE(all_zero(c));
}

TEST(UtilHugeArray, ThreadsAllocatingAtOnceGetDistinctZeroedArrays) {
  // The kept mappings are shared by every thread: no two arrays may get the same one.
  constexpr int kThreads = 4, kRounds = 25;
  const std::size_t n = (std::size_t{2} << 20) / sizeof(std::int64_t);
  std::vector<int> bad(kThreads, 0);
  std::vector<std::thread> team;
  for (int t = 0; t < kThreads; ++t)
    team.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        Words a(n, Words::kZero);
        if (!all_zero(a)) ++bad[t];
        std::fill(a.begin(), a.end(), t + 1);
        std::this_thread::yield();
        if (std::any_of(a.begin(), a.end(), [&](std::int64_t v) { return v != t + 1; })) ++bad[t];
      }
    });
  for (auto& th : team) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(bad[t], 0) << "thread " << t;
}

}  // namespace
