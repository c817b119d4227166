#include "consensus/dispatch.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace tagger::consensus::detail {
namespace {

// -1: not yet read from the environment; 0: AVX2 allowed; 1: baseline forced.
std::atomic<int> g_forced{-1};

}  // namespace

bool avx2_allowed() {
  int f = g_forced.load(std::memory_order_relaxed);
  if (f < 0) {
    const char* env = std::getenv("TAGGER_FORCE_BASELINE");
    int from_env = (env != nullptr && std::strcmp(env, "1") == 0) ? 1 : 0;
    // A concurrent force_baseline() wins over the environment.
    g_forced.compare_exchange_strong(f, from_env, std::memory_order_relaxed);
    f = g_forced.load(std::memory_order_relaxed);
  }
  return f == 0;
}

void force_baseline(bool on) { g_forced.store(on ? 1 : 0, std::memory_order_relaxed); }

}  // namespace tagger::consensus::detail
