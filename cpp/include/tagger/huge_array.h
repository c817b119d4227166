// Large arrays that a fit allocates, fills and drops once per call (tables,
// task-major codes, offsets): mapped on their own, 2 MiB-aligned, with
// transparent huge pages advised before the first touch, and kept for reuse
// by the next fit (up to kCacheBytes in all).
//
// Why not std::vector: glibc serves such sizes from fresh mappings (or trims
// them off its heap once freed), so a fit's tens of MB are faulted in again on
// every call: ~0.5 ms per MB on 4 KiB pages measured on the dev box, ~0.15 ms
// per MB on huge pages, nothing for a mapping kept from the previous fit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

namespace tagger::util {

namespace huge_detail {
// Mapping of at least `bytes`, 2 MiB-aligned and a multiple of 2 MiB; *mapped
// is its length, *zeroed whether it is known to hold zeros (fresh, not
// reused). nullptr where mmap is unavailable or fails (the caller then uses
// the heap).
void* map(std::size_t bytes, std::size_t* mapped, bool* zeroed);
// Gives a mapping back: kept for reuse while the cache has room, else unmapped.
void unmap(void* p, std::size_t mapped);
// Bytes of the mappings kept for reuse now (at most kCacheBytes).
std::size_t kept_bytes();
// Below this a mapping costs more than the faults it saves.
inline constexpr std::size_t kMinMapped = std::size_t{1} << 20;
// Mappings kept for reuse, in all: a 1M-answer Dawid-Skene fit uses ~30 MB.
inline constexpr std::size_t kCacheBytes = std::size_t{96} << 20;
}  // namespace huge_detail

// n trivially copyable Ts, zero-filled (kZero) or with unspecified contents
// (kUninit), 64-byte aligned. Moves, does not copy.
template <class T>
class HugeArray {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>);

 public:
  enum Init { kZero, kUninit };
  HugeArray() = default;
  HugeArray(std::size_t n, Init init) { allocate(n, init); }
  HugeArray(HugeArray&& o) noexcept { swap(o); }
  HugeArray& operator=(HugeArray&& o) noexcept {
    HugeArray(std::move(o)).swap(*this);
    return *this;
  }
  HugeArray(const HugeArray&) = delete;
  HugeArray& operator=(const HugeArray&) = delete;
  ~HugeArray() { release(); }

  // Drops the contents and holds n elements as `init` says.
  void reset(std::size_t n, Init init) {
    release();
    allocate(n, init);
  }
  T* data() { return p_; }
  const T* data() const { return p_; }
  std::size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  T& operator[](std::size_t i) { return p_[i]; }
  const T& operator[](std::size_t i) const { return p_[i]; }
  T* begin() { return p_; }
  T* end() { return p_ + n_; }
  const T* begin() const { return p_; }
  const T* end() const { return p_ + n_; }
  void swap(HugeArray& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    std::swap(mapped_, o.mapped_);
  }

 private:
  static constexpr std::align_val_t kAlign{64};
  void allocate(std::size_t n, Init init) {
    if (n == 0) return;
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_alloc();
    const std::size_t bytes = n * sizeof(T);
    bool zeroed = false;
    void* p = bytes >= huge_detail::kMinMapped ? huge_detail::map(bytes, &mapped_, &zeroed) : nullptr;
    if (!p) {
      mapped_ = 0;
      p = ::operator new(bytes, kAlign);
    }
    if (init == kZero && !zeroed) std::memset(p, 0, bytes);
    p_ = static_cast<T*>(p);
    n_ = n;
  }
  void release() noexcept {
    if (!p_) return;
    if (mapped_) huge_detail::unmap(p_, mapped_);
    else ::operator delete(static_cast<void*>(p_), kAlign);
    p_ = nullptr;
    n_ = 0;
    mapped_ = 0;
  }
  T* p_ = nullptr;
  std::size_t n_ = 0;
  std::size_t mapped_ = 0;  // bytes of the mapping; 0 = from the heap
};

}  // namespace tagger::util
