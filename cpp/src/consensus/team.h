// A small team of threads kept for the length of one fit, for methods that run
// many short parallel phases (an EM iteration is a few milliseconds: starting
// threads per phase, or waiting at a barrier for a thread the OS has not
// scheduled yet on a shared machine, would cost a noticeable share of it).
//
// run(job) calls job(slot) on the caller (slot 0) and on every helper that
// wakes up before the caller is done (slots 1..n-1); it returns when every
// started call has returned. Jobs must therefore claim their work dynamically
// (an atomic counter): a helper that wakes late finds nothing left, and the
// caller never waits for a helper that has not started. Results must not
// depend on which slot did which piece (the consensus methods sum in fixed
// point or per owner). An exception thrown by a job is rethrown by run().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tagger::consensus::detail {

class Team {
 public:
  explicit Team(unsigned n) {
    // A helper that cannot start (a container's pids limit, no memory for its stack) leaves a
    // smaller team: jobs claim their work dynamically, so fewer helpers give the same result.
    // (Left to unwind, the started std::threads would terminate the process.)
    try {
      helpers_.reserve(n > 0 ? n - 1 : 0);
      for (unsigned s = 1; s < n; ++s) helpers_.emplace_back([this, s] { loop(s); });
    } catch (const std::exception&) {
    }
  }
  ~Team() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      quit_ = true;
    }
    wake_.notify_all();
    for (auto& t : helpers_) t.join();
  }
  Team(const Team&) = delete;
  Team& operator=(const Team&) = delete;

  unsigned size() const { return static_cast<unsigned>(helpers_.size()) + 1; }

  void run(const std::function<void(unsigned)>& job) {
    if (helpers_.empty()) return job(0);
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = &job;
      ++generation_;
    }
    wake_.notify_all();
    std::exception_ptr mine;
    try {
      job(0);
    } catch (...) {
      mine = std::current_exception();
    }
    std::unique_lock<std::mutex> lock(mu_);
    job_ = nullptr;  // helpers that wake from now on skip this job
    done_.wait(lock, [&] { return running_ == 0; });
    std::exception_ptr theirs = error_;
    error_ = nullptr;
    lock.unlock();
    if (mine) std::rethrow_exception(mine);
    if (theirs) std::rethrow_exception(theirs);
  }

 private:
  void loop(unsigned slot) {
    std::uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (generation_.load(std::memory_order_relaxed) == seen && !quit_) {
        // An iterating caller hands out the next job within tens of microseconds
        // (a pass, then the M-step, then the next pass): spin that long before
        // sleeping, since a wake-up through the kernel takes about as long on a VM
        // and the caller's thread meanwhile claims the blocks this one would take.
        lock.unlock();
        spin_until_new_job(seen);
        lock.lock();
      }
      wake_.wait(lock, [&] { return quit_ || generation_.load(std::memory_order_relaxed) != seen; });
      if (quit_) return;
      seen = generation_.load(std::memory_order_relaxed);
      const std::function<void(unsigned)>* job = job_;
      if (!job) continue;
      ++running_;
      lock.unlock();
      try {
        (*job)(slot);
      } catch (...) {
        std::lock_guard<std::mutex> g(mu_);
        if (!error_) error_ = std::current_exception();
      }
      lock.lock();
      if (--running_ == 0) done_.notify_all();
    }
  }

  void spin_until_new_job(std::uint64_t seen) const {
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinMicros);
    for (unsigned i = 1;; ++i) {
      if (generation_.load(std::memory_order_acquire) != seen) return;
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
      if (i % 64 == 0 && std::chrono::steady_clock::now() >= until) return;
    }
  }
  static constexpr int kSpinMicros = 100;

  std::mutex mu_;
  std::condition_variable wake_, done_;
  const std::function<void(unsigned)>* job_ = nullptr;
  // Written under mu_; also read without it by a spinning helper.
  std::atomic<std::uint64_t> generation_{0};
  int running_ = 0;
  bool quit_ = false;
  std::exception_ptr error_;
  std::vector<std::thread> helpers_;
};

}  // namespace tagger::consensus::detail
