#include "consensus/fast_math.h"

namespace tagger::consensus::detail {

// Cloned for AVX-512 and AVX2 (not under ThreadSanitizer: see minhash.cc, the
// ifunc resolver runs too early there).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__SANITIZE_THREAD__)
#define TAGGER_CELL_CLONES __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define TAGGER_CELL_CLONES
#endif

TAGGER_CELL_CLONES
void digamma_cells(const double* __restrict x, double* __restrict out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = fast_digamma(x[i]);
}

TAGGER_CELL_CLONES
void log_cells(const double* __restrict e, double* __restrict ln, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) ln[i] = fast_log(e[i] > 0 ? e[i] : 1.0);
}

TAGGER_CELL_CLONES
void log_gamma_cells(const double* __restrict x, double* __restrict out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = fast_log_gamma(x[i]);
}

}  // namespace tagger::consensus::detail
