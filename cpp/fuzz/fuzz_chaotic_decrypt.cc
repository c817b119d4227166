// The chaotic layer over arbitrary data: key and nonce come from the input,
// decrypt must be length preserving and encrypt must invert it exactly.
#include "fuzz_common.h"
#include "tagger/crypto.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tagger;
  constexpr std::size_t kHead = crypto::chaotic::kKeyBytes + crypto::chaotic::kNonceBytes;
  if (size < kHead) return 0;
  try {
    crypto::ChaoticCipher c(ByteView(data, 32), ByteView(data + 32, 16));
    ByteView body(data + kHead, size - kHead);
    Bytes plain = c.decrypt(body, 1);
    TAGGER_FUZZ_CHECK(plain.size() == body.size());
    Bytes back = c.encrypt(plain, 1);
    TAGGER_FUZZ_CHECK(std::equal(back.begin(), back.end(), body.begin(), body.end()));
  } catch (const Error&) {
  }
  return 0;
}
