// Transactions into a small in-memory ledger. The first byte picks the mode:
//  even: the rest is a raw tx record (envelope decode, stateless checks,
//        signature), as a peer would send it;
//  odd:  byte 1 is the kind, byte 2 picks a signer, the rest is the payload,
//        signed here with the right nonce, so the contracts themselves run on
//        arbitrary payloads (random bytes would never pass the signature).
// Pending transactions are discarded after each input, so runs are independent.
#include <memory>
#include <vector>

#include "fuzz_common.h"
#include "ledger/tx.h"
#include "tagger/codec.h"
#include "tagger/ledger.h"
#include "fuzz_world.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tagger;
  using namespace tagger::ledger;
  static fuzz::World* w = new fuzz::World();  // deliberately leaked: lives for the whole run
  if (size < 1) return 0;
  try {
    if ((data[0] & 1) == 0) {
      ByteView rec(data + 1, size - 1);
      try {
        TxView tx = decode_tx(rec);
        check_stateless(tx, w->ledger->chain_id());
      } catch (const Error&) {
      }
      w->ledger->submit(rec);
    } else {
      if (size < 3) return 0;
      const crypto::SigningKey& signer = data[2] % 4 == 0 ? w->issuer : w->users[data[2] % 4 - 1];
      std::uint64_t nonce = w->ledger->next_nonce(address_of(signer.verify_key().raw()));
      Bytes tx = make_tx(signer, w->ledger->chain_id(), static_cast<TxKind>(data[1]), nonce, ByteView(data + 3, size - 3));
      w->ledger->submit(tx);
      TAGGER_FUZZ_CHECK(w->ledger->pending() == 1);
    }
  } catch (const Error&) {
  }
  w->ledger->discard_pending();
  TAGGER_FUZZ_CHECK(w->ledger->pending() == 0);
  return 0;
}
