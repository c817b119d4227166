// Helpers shared by the settle() test suites: small addresses and payout lookup.
#pragma once

#include <cstdint>

#include "tagger/settle.h"

namespace tagger::ledger::testing {

// An address that sorts by i (the first byte), so worker order is addr order.
inline Address addr(int i) {
  Address a{};
  a[0] = static_cast<std::uint8_t>(i);
  return a;
}

// What `o` pays `a` (0 when it is not in the payouts).
inline std::uint64_t paid(const SettleOutput& o, const Address& a) {
  for (const auto& [who, v] : o.payouts)
    if (who == a) return v;
  return 0;
}

}  // namespace tagger::ledger::testing
