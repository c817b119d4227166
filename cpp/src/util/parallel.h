// parallel_for: splits [0, n) into contiguous chunks, one per thread. Threads
// are started per call: callers use it for batches long enough (>~100 us) that
// thread start-up is noise. Exceptions from workers are rethrown in the caller.
#pragma once

#include <algorithm>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace tagger::util {

inline unsigned resolve_threads(unsigned requested) {
  if (requested != 0) return requested;
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : hw;
}

// fn(begin, end) is called once per chunk.
template <class Fn>
void parallel_for(std::size_t n, unsigned threads, std::size_t min_chunk, Fn&& fn) {
  threads = resolve_threads(threads);
  std::size_t max_useful = std::max<std::size_t>(1, n / std::max<std::size_t>(1, min_chunk));
  std::size_t t = std::min<std::size_t>(threads, max_useful);
  if (t <= 1) {
    if (n > 0) fn(std::size_t{0}, n);
    return;
  }
  std::vector<std::thread> pool;
  std::exception_ptr error;
  std::mutex error_mutex;
  std::size_t chunk = (n + t - 1) / t;
  auto run = [&](std::size_t b, std::size_t e) {
    try {
      fn(b, e);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  };
  std::size_t i = 0;
  try {
    pool.reserve(t);
    for (; i < t; ++i) {
      std::size_t b = i * chunk, e = std::min(n, b + chunk);
      if (b >= e) break;
      pool.emplace_back([&run, b, e] { run(b, e); });
    }
  } catch (const std::exception&) {
    // A thread that cannot start (a pids limit, no memory for its stack): the chunks left run
    // here. Unwinding with started std::threads would terminate the process.
    for (; i < t; ++i) {
      std::size_t b = i * chunk, e = std::min(n, b + chunk);
      if (b >= e) break;
      run(b, e);
    }
  }
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace tagger::util
