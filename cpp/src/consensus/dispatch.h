// Run-time choice between the baseline and the AVX2 builds of the vector
// kernels (dawid_skene.cc). Both must give bit-identical results (the ledger
// re-executes consensus at finalize on whatever CPU it runs on); forcing the
// baseline lets one machine run both paths and the tests compare them.
#pragma once

namespace tagger::consensus::detail {

// True unless the baseline is forced: by the environment variable
// TAGGER_FORCE_BASELINE=1 (read once, at the first call) or by
// force_baseline(true). The caller still checks that the CPU has AVX2.
bool avx2_allowed();

// Test hook: forces (true) or releases (false) the baseline kernels for every
// later call; a fit already running keeps the kernels it picked for a pass.
void force_baseline(bool on);

}  // namespace tagger::consensus::detail
