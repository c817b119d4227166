// Reputation: integer (alpha, beta) counts per account, the sufficient
// statistics of a Beta(alpha + 1, beta + 1) posterior over the probability that
// the account's work is correct. Only the finalize rule of a task changes them.
#include "ledger/contracts/contracts.h"

namespace tagger::ledger::contracts {

void add_reputation(State& s, const Address& a, std::uint64_t d_alpha, std::uint64_t d_beta) {
  AccountInfo& acc = s.account_mut(a, "reputation subject");
  std::uint64_t al = add_checked(acc.rep_alpha, d_alpha, "reputation alpha");
  std::uint64_t be = add_checked(acc.rep_beta, d_beta, "reputation beta");
  acc.rep_alpha = al;
  acc.rep_beta = be;
}

}  // namespace tagger::ledger::contracts
