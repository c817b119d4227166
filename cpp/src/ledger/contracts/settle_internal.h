// Internals of settle() shared by its two source files and the tests.
#pragma once

#include <cstdint>
#include <vector>

#include "tagger/consensus.h"
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
  std::int32_t copilot = -1;                      // the copilot's worker index, -1 if it did not answer
  // The human answers alone (the copilot's removed), for the screen and the
  // mechanisms; empty when the copilot did not answer (then item/worker/label).
  std::vector<std::int32_t> h_item, h_worker, h_label;
  std::vector<std::uint32_t> h_duration;          // [human answers] ms, kNoDuration if not given
  // The consensus workers are judged and paid against: of the human answers
  // alone when the copilot answered, else the result's own.
  std::vector<std::int32_t> judge_labels;
  std::vector<std::uint32_t> judge_ppm;
  bool is_copilot(std::size_t w) const { return copilot >= 0 && w == static_cast<std::size_t>(copilot); }
};

// The human answers as a consensus view (all answers when no copilot answered).
consensus::AnswersView human_view(const SettleFacts& f);

// Payouts per worker ([workers], zeros included) under terms.policy, before
// the cap at the escrow; empty for "discretionary". `ppm` is the floored
// posterior workers are judged against (SettleFacts::judge_ppm).
std::vector<std::uint64_t> policy_amounts(const SettleFacts& f, const std::vector<std::uint32_t>& ppm);

// Scales `amounts` down to floor(a * cap / total) when their total exceeds
// cap; exact in 128-bit arithmetic.
void cap_amounts(std::vector<std::uint64_t>& amounts, std::uint64_t cap);

}  // namespace tagger::ledger::detail
