// Helpers shared by the ledger test suites: a small funded ledger and payload builders.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tagger/codec.h"
#include "tagger/crypto.h"
#include "tagger/ledger.h"

namespace tagger::ledger::testing {

inline Bytes payload_register(const crypto::PrivateKey& seal, const std::string& name) {
  Bytes out;
  codec::Writer w(out);
  w.array_header(3);
  w.bin(seal.public_key());
  w.str(name);
  w.array_header(0);
  return out;
}
inline Bytes payload_to_amount(const Address& to, std::uint64_t amount, bool memo) {
  Bytes out;
  codec::Writer w(out);
  w.array_header(memo ? 3 : 2);
  w.bin(to);
  w.uint(amount);
  if (memo) w.str("");
  return out;
}

struct World {
  crypto::SigningKey issuer = crypto::SigningKey::generate();
  crypto::SigningKey producer = crypto::SigningKey::generate();
  std::vector<crypto::SigningKey> users;
  std::vector<Address> addrs;

  Address addr(const crypto::SigningKey& k) const { return address_of(k.verify_key().raw()); }

  // Registers the issuer and `n` users, each funded with `fund`.
  void populate(Ledger& l, int n, std::uint64_t fund) {
    auto seal = crypto::PrivateKey::generate();
    l.submit(make_tx(issuer, l.chain_id(), TxKind::Register, 0, payload_register(seal, "issuer")));
    for (int i = 0; i < n; ++i) {
      users.push_back(crypto::SigningKey::generate());
      addrs.push_back(addr(users.back()));
      std::string name = "u";
      name += std::to_string(i);
      l.submit(make_tx(users.back(), l.chain_id(), TxKind::Register, 0, payload_register(seal, name)));
      l.submit(make_tx(issuer, l.chain_id(), TxKind::Mint, l.next_nonce(addr(issuer)), payload_to_amount(addrs.back(), fund, false)));
    }
    l.commit();
  }
  Bytes transfer(Ledger& l, int from, int to, std::uint64_t amount, std::uint64_t nonce) {
    return make_tx(users[from], l.chain_id(), TxKind::Transfer, nonce, payload_to_amount(addrs[to], amount, true));
  }
};

inline std::string temp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("tagger_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  return d.string();
}

}  // namespace tagger::ledger::testing
