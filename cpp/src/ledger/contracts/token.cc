// TAG token: account registration, issuer mint, transfer.
#include "ledger/contracts/contracts.h"
#include "tagger/errors.h"

namespace tagger::ledger::contracts {

std::string short_hex(ByteView b) { return to_hex(b.subspan(0, std::min<std::size_t>(b.size(), 8))); }

void apply(State& s, const TxView& tx, const ApplyContext&, const RegisterP& p) {
  // State::apply has refused a second registration; the nonce starts at 0.
  AccountInfo a;
  a.address = tx.sender;
  a.signing_key = tx.sender_key;
  a.sealing_key = p.sealing_key;
  a.name = p.name;
  a.skills = p.skills;
  s.accounts.put(tx.sender, std::move(a));
}

void apply(State& s, const TxView& tx, const ApplyContext&, const MintP& p) {
  if (tx.sender != s.issuer) throw NotAuthorized("mint: only the issuer " + address_to_string(s.issuer) + " may mint");
  s.account_ref(p.to, "mint recipient");
  s.minted = add_checked(s.minted, p.amount, "minted supply");
  s.credit(p.to, p.amount, "recipient balance");
}

void apply(State& s, const TxView& tx, const ApplyContext&, const TransferP& p) {
  s.account_ref(p.to, "transfer recipient");
  s.debit(tx.sender, p.amount, "transfer");
  s.credit(p.to, p.amount, "recipient balance");
}

}  // namespace tagger::ledger::contracts
