// Internals of settle() shared by its two source files and the tests.
#pragma once

#include <cstdint>
#include <vector>

#include "tagger/settle.h"

namespace tagger::ledger::detail {

// settle() with the consensus fit on `threads` threads (0: all). The ledger
// always uses 1; the result must not depend on it, which the tests check.
SettleOutput settle_on_threads(const SettleInput& in, unsigned threads);

// What the payout rules read, computed once by settle.cc. Indices are those of
// SettleInput (worker = position in the sorted worker list).
struct SettleFacts {
  const SettleInput* in = nullptr;
  std::vector<std::int32_t> item, worker, label;  // answers as int32, ledger order
  std::vector<std::int32_t> gold;                 // [n_items] gold label, -1 = not a control item
  std::vector<std::uint64_t> n_answers;           // [workers]
  std::vector<std::uint64_t> control, control_correct;  // [workers] answers on control items, right ones
  std::uint64_t slashed = 0;                      // sum of the slashes, saturating
  std::vector<std::uint8_t> flagged;              // [workers] by the fraud screen (empty: no screen)
};

// Payouts per worker ([workers], zeros included) under terms.policy, before
// the cap at the escrow; empty for "discretionary". `ppm` is the output's
// posterior_ppm.
std::vector<std::uint64_t> policy_amounts(const SettleFacts& f, const std::vector<std::uint32_t>& ppm);

// Scales `amounts` down to floor(a * cap / total) when their total exceeds
// cap; exact in 128-bit arithmetic.
void cap_amounts(std::vector<std::uint64_t>& amounts, std::uint64_t cap);

}  // namespace tagger::ledger::detail
