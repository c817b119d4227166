#include "tagger/huge_array.h"

#include <pthread.h>

#include <mutex>
#include <new>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace tagger::util::huge_detail {
namespace {

#if defined(__linux__) && defined(MADV_HUGEPAGE)
constexpr std::size_t kHuge = std::size_t{2} << 20;

struct Mapping {
  void* p;
  std::size_t len;
};

// Released mappings, most recent last. Held only for a few list operations,
// never across a system call.
struct Cache {
  std::mutex mu;
  std::vector<Mapping> kept;
  std::size_t bytes = 0;
};
Cache& cache();
Cache* make_cache() {
  Cache* c = new Cache;  // never destroyed: arrays may be released during static destruction
  // A child forked while another thread held the lock would wait forever on
  // its first fit: the child starts with a new lock (the kept mappings are
  // copied into it and stay valid).
  pthread_atfork(nullptr, nullptr, [] { new (&cache().mu) std::mutex; });
  return c;
}
Cache& cache() {
  static Cache* c = make_cache();
  return *c;
}

void* fresh(std::size_t len) {
  // Over-map by one huge page, then trim the ends to a 2 MiB-aligned range.
  void* raw = mmap(nullptr, len + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const auto begin = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t aligned = (begin + kHuge - 1) & ~static_cast<std::uintptr_t>(kHuge - 1);
  if (aligned > begin) munmap(raw, aligned - begin);
  const std::uintptr_t tail = begin + len + kHuge - (aligned + len);
  if (tail) munmap(reinterpret_cast<void*>(aligned + len), tail);
  (void)madvise(reinterpret_cast<void*>(aligned), len, MADV_HUGEPAGE);  // advice only: failure is harmless
  return reinterpret_cast<void*>(aligned);
}
#endif

}  // namespace

void* map(std::size_t bytes, std::size_t* mapped, bool* zeroed) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (bytes > static_cast<std::size_t>(-1) - 2 * kHuge) return nullptr;
  const std::size_t len = (bytes + kHuge - 1) & ~(kHuge - 1);
  {
    // The smallest kept mapping that fits, if it is at most twice the need
    // (a larger one would hold memory the array never uses).
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    std::size_t best = c.kept.size();
    for (std::size_t i = 0; i < c.kept.size(); ++i)
      if (c.kept[i].len >= len && c.kept[i].len <= 2 * len && (best == c.kept.size() || c.kept[i].len < c.kept[best].len))
        best = i;
    if (best < c.kept.size()) {
      const Mapping m = c.kept[best];
      c.kept.erase(c.kept.begin() + static_cast<std::ptrdiff_t>(best));
      c.bytes -= m.len;
      *mapped = m.len;
      *zeroed = false;
      return m.p;
    }
  }
  void* p = fresh(len);
  if (!p) return nullptr;
  *mapped = len;
  *zeroed = true;
  return p;
#else
  (void)bytes;
  (void)mapped;
  (void)zeroed;
  return nullptr;
#endif
}

std::size_t kept_bytes() {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.bytes;
#else
  return 0;
#endif
}

void unmap(void* p, std::size_t mapped) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  std::vector<Mapping> drop;
  {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    if (mapped <= kCacheBytes) {
      // Oldest out first, until this one fits.
      std::size_t n_drop = 0;
      while (c.bytes + mapped > kCacheBytes) {
        c.bytes -= c.kept[n_drop].len;
        drop.push_back(c.kept[n_drop++]);
      }
      c.kept.erase(c.kept.begin(), c.kept.begin() + static_cast<std::ptrdiff_t>(n_drop));
      c.kept.push_back({p, mapped});
      c.bytes += mapped;
    } else {
      drop.push_back({p, mapped});
    }
  }
  for (const Mapping& m : drop) munmap(m.p, m.len);
#else
  (void)p;
  (void)mapped;
#endif
}

}  // namespace tagger::util::huge_detail
