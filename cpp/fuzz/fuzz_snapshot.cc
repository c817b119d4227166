// A state snapshot body (State::decode_snapshot). On disk a snapshot is
// checksummed, but the checksum is no defence against a crafted file, so the
// decoder must hold on its own.
#include "fuzz_common.h"
#include "ledger/state.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tagger;
  ledger::Address issuer{};
  issuer[0] = 1;
  try {
    ledger::State s = ledger::State::decode_snapshot(fuzz::view(data, size), 7, issuer, 250);
    (void)s.root();
    Bytes again = s.encode_snapshot();
    ledger::State t = ledger::State::decode_snapshot(again, 7, issuer, 250);
    TAGGER_FUZZ_CHECK(t.root() == s.root());
  } catch (const Error&) {
  }
  return 0;
}
