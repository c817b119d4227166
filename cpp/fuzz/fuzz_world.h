// The small funded in-memory ledger of fuzz_tx_submit, with fixed keys so
// that make_seeds can sign transactions this ledger accepts.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tagger/codec.h"
#include "tagger/crypto.h"
#include "tagger/ledger.h"
#include "../tests/ledger_test_util.h"

namespace tagger::fuzz {
using namespace tagger::ledger;  // NOLINT: a fuzzing helper, not a public header

inline crypto::SigningKey key_from(std::uint8_t tag) {
  Bytes seed(32, tag);
  return crypto::SigningKey::from_seed(seed);
}
// The payload builders the ledger tests use (one definition of each payload form).
inline Bytes reg_payload(const crypto::PrivateKey& seal, const std::string& name) {
  return ledger::testing::payload_register(seal, name);
}
inline Bytes mint_payload(const Address& to, std::uint64_t amount) {
  return ledger::testing::payload_to_amount(to, amount, false);
}

struct World {
  crypto::SigningKey issuer = key_from(1), producer = key_from(2);
  std::vector<crypto::SigningKey> users;
  std::unique_ptr<Ledger> ledger;
  World() {
    GenesisConfig g;
    g.chain_id = 7;
    g.fee_bps = 250;
    g.timestamp_ms = 1;
    ledger = Ledger::memory(g, issuer, producer);
    auto seal = crypto::PrivateKey::from_bytes(Bytes(32, 9));
    ledger->submit(make_tx(issuer, 7, TxKind::Register, 0, reg_payload(seal, "issuer")));
    for (int i = 0; i < 3; ++i) {
      users.push_back(key_from(static_cast<std::uint8_t>(10 + i)));
      std::string name = "u";  // not "u" + to_string(i): gcc 12 -Wrestrict false positive
      name += std::to_string(i);
      ledger->submit(make_tx(users.back(), 7, TxKind::Register, 0, reg_payload(seal, name)));
      auto a = address_of(users.back().verify_key().raw());
      ledger->submit(make_tx(issuer, 7, TxKind::Mint, ledger->next_nonce(address_of(issuer.verify_key().raw())),
                             mint_payload(a, 1'000'000)));
    }
    ledger->commit(2);
  }
};
}  // namespace tagger::fuzz
