// Recovery suite: a forked writer commits blocks and reports each height
// through a pipe; the parent SIGKILLs it at random moments (60 times), then
// reopens and checks that every reported block is there and verify() passes.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <thread>

#include "ledger_test_util.h"
#include "tagger/errors.h"

namespace tagger::ledger {
namespace {
using testing::World;

[[noreturn]] void writer(const std::string& dir, World w, int fd, unsigned seed) {
  try {
    auto led = Ledger::open(dir, LedgerOptions{5, true, false});
    led->set_producer(w.producer);
    std::mt19937 rng(seed);
    for (;;) {
      int n = 1 + rng() % 20;
      for (int i = 0; i < n; ++i) {
        int a = rng() % 3, b = (a + 1) % 3;
        led->submit(w.transfer(*led, a, b, 1 + rng() % 5, led->next_nonce(w.addrs[a])));
      }
      std::uint64_t h = led->commit().height;
      if (::write(fd, &h, sizeof h) != sizeof h) ::_exit(3);
    }
  } catch (...) {
    ::_exit(2);
  }
}

TEST(LedgerRecovery, SigkillAtRandomMomentsLosesNoCommittedBlock) {
  std::string dir = testing::temp_dir("recovery");
  World w;
  {
    auto led = Ledger::create(dir, {}, w.issuer, w.producer);
    w.populate(*led, 3, 1'000'000);
  }
  std::mt19937 rng(11);
  std::uint64_t reported = 0;
  int kills = 0;
  for (int round = 0; round < 60; ++round) {
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(p[0]);
      writer(dir, w, p[1], static_cast<unsigned>(round));
    }
    ::close(p[1]);
    int want = static_cast<int>(rng() % 4);
    for (int k = 0; k < want; ++k) {
      std::uint64_t h = 0;
      if (::read(p[0], &h, sizeof h) != sizeof h) break;
      reported = std::max(reported, h);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    // Heights written to the pipe before the kill were committed too.
    std::uint64_t h = 0;
    while (::read(p[0], &h, sizeof h) == sizeof h) reported = std::max(reported, h);
    ::close(p[0]);
    ASSERT_TRUE(WIFSIGNALED(status)) << "writer exited on its own with " << WEXITSTATUS(status);
    ++kills;
    auto led = Ledger::open(dir);
    ASSERT_GE(led->height(), reported) << "a block reported committed is gone";
    if (round % 10 == 9) led->verify(2);
    Supply s = led->supply();
    ASSERT_EQ(s.minted, s.balances);
  }
  EXPECT_EQ(kills, 60);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tagger::ledger
