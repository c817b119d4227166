// open_sealed with a fixed recipient key, plus the header parser and
// opened_size that run on the same untrusted bytes first.
#include "fuzz_common.h"
#include "tagger/crypto.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tagger;
  static const crypto::PrivateKey key = crypto::PrivateKey::from_bytes(Bytes(32, 0x42));
  ByteView in(data, size);
  try {
    auto h = crypto::parse_sealed_header(in);
    TAGGER_FUZZ_CHECK(h.size <= size);
  } catch (const Error&) {
  }
  try {
    std::uint64_t n = crypto::opened_size(in);
    TAGGER_FUZZ_CHECK(n <= size);
  } catch (const Error&) {
  }
  try {
    Bytes out = crypto::open_sealed(in, key, 1);
    TAGGER_FUZZ_CHECK(out.size() <= size);
  } catch (const Error&) {
  }
  return 0;
}
