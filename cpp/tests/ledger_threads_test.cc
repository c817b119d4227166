// Thread-safety suite: several std::threads share one Ledger (on disk and in
// memory): writers submit and commit transfers, others query balances, read
// headers and history and run verify() meanwhile. Afterwards every
// acknowledged transfer must be in the state, nonces must equal the counts,
// verify() must pass, and a reopened ledger must hold the same state root.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>
#include <vector>

#include "ledger_test_util.h"
#include "tagger/errors.h"

namespace tagger::ledger {
namespace {
using testing::World;

constexpr int kWriters = 4;
constexpr int kRounds = 60;

void hammer(Ledger& led, World& w, std::atomic<std::uint64_t>& reads) {
  std::vector<std::uint64_t> sent(kWriters, 0);
  std::atomic<int> writers_left{kWriters};
  std::vector<std::thread> ts;
  for (int t = 0; t < kWriters; ++t) {
    // Writer t sends only from users[t], so its nonce is its own to track.
    ts.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        std::uint64_t nonce = led.next_nonce(w.addrs[t]);
        led.submit(w.transfer(led, t, (t + 1) % kWriters, 1, nonce));
        sent[t] += 1;
        if (r % 3 == 0) led.commit();
        if (r % 7 == 0) {
          // A batch of two from the same sender, all or nothing.
          std::uint64_t n2 = led.next_nonce(w.addrs[t]);
          Bytes a = w.transfer(led, t, kWriters, 2, n2), b = w.transfer(led, t, kWriters, 3, n2 + 1);
          led.submit_batch({ByteView(a), ByteView(b)}, 1);
          sent[t] += 5;
        }
      }
      led.commit();
      writers_left.fetch_sub(1);
    });
  }
  for (int t = 0; t < 2; ++t) {
    ts.emplace_back([&] {
      while (writers_left.load() > 0) {
        // One consistent view: transfers move funds, they never create any.
        Supply s = led.supply();
        EXPECT_EQ(s.balances, s.minted);
        EXPECT_EQ(s.minted, 1000u * w.addrs.size());
        (void)led.balance(w.addrs[0]);
        std::uint64_t h = led.height();
        (void)led.header(h);
        (void)led.block_txs(h);
        (void)led.history(w.addrs[0]);
        (void)led.accounts();
        (void)led.state_root();
        reads.fetch_add(1);
      }
    });
  }
  ts.emplace_back([&] {
    while (writers_left.load() > 0) {
      VerifyReport r = led.verify(1);
      EXPECT_GE(r.blocks, 2u);
      reads.fetch_add(1);
    }
  });
  for (auto& th : ts) th.join();
  for (int t = 0; t < kWriters; ++t) {
    EXPECT_EQ(led.next_nonce(w.addrs[t]), 1 + kRounds + (kRounds + 6) / 7 * 2);  // register + transfers
  }
  // Each user t got 1 per round from t-1 and sent 1 per round, plus 5 per batch to users[kWriters].
  std::uint64_t batched = static_cast<std::uint64_t>((kRounds + 6) / 7) * 5;
  for (int t = 0; t < kWriters; ++t) EXPECT_EQ(led.balance(w.addrs[t]), 1000u - batched) << t;
  EXPECT_EQ(led.balance(w.addrs[kWriters]), 1000u + batched * kWriters);
  EXPECT_EQ(led.pending(), 0u);
}

TEST(LedgerThreads, OnDiskLedgerSharedByEightThreads) {
  std::string dir = testing::temp_dir("threads");
  World w;
  std::atomic<std::uint64_t> reads{0};
  Hash32 root{};
  std::uint64_t height = 0;
  {
    auto led = Ledger::create(dir, {}, w.issuer, w.producer, LedgerOptions{7, false, false});
    w.populate(*led, kWriters + 1, 1000);
    hammer(*led, w, reads);
    VerifyReport r = led->verify(2);
    root = r.state_root;
    height = led->height();
    EXPECT_EQ(r.blocks, height + 1);
  }
  auto again = Ledger::open(dir);
  EXPECT_EQ(again->height(), height);
  EXPECT_EQ(again->state_root(), root);
  EXPECT_EQ(again->verify(1).state_root, root);
  EXPECT_GT(reads.load(), 0u);
  again.reset();
  std::filesystem::remove_all(dir);
}

TEST(LedgerThreads, MemoryLedgerSharedByEightThreads) {
  World w;
  auto led = Ledger::memory({}, w.issuer, w.producer);
  w.populate(*led, kWriters + 1, 1000);
  std::atomic<std::uint64_t> reads{0};
  hammer(*led, w, reads);
  EXPECT_EQ(led->verify(2).blocks, led->height() + 1);
}

TEST(LedgerThreads, WriterLockSurvivesDeletedLockFile) {
  std::string dir = testing::temp_dir("lockfile");
  World w;
  auto led = Ledger::create(dir, {}, w.issuer, w.producer, LedgerOptions{0, false, false});
  std::filesystem::remove(std::filesystem::path(dir) / "LOCK");
  // flock is per open file description: a second open in this process is a second writer.
  EXPECT_THROW(Ledger::open(dir), LedgerLocked);
  EXPECT_NO_THROW(Ledger::open(dir, LedgerOptions{0, false, true}));  // readers take no lock
  led.reset();
  EXPECT_NO_THROW(Ledger::open(dir));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tagger::ledger
