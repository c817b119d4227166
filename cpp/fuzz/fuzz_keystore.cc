// keystore_open with a fixed passphrase. The scrypt cost comes from the file
// (N, r, p in the header), up to N = 2^24, r = p = 64: one such input takes
// minutes, so inputs asking for more than N*r*p = 2^10 are cut to the header
// checks (they still run: the magic, the length, the parameter range) by
// rewriting the cost fields to the smallest valid ones. Everything after the
// header (salt, nonce, ciphertext, tag) is fuzzed as given.
#include <cstring>

#include "fuzz_common.h"
#include "tagger/ledger.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tagger;
  Bytes in(data, data + size);
  if (in.size() >= 24) {
    auto be = [&](std::size_t off, int n) {
      std::uint64_t v = 0;
      for (int i = 0; i < n; ++i) v = (v << 8) | in[off + i];
      return v;
    };
    std::uint64_t n = be(8, 8), r = be(16, 4), p = be(20, 4);
    bool in_range = n >= 2 && (n & (n - 1)) == 0 && n <= (1ull << 24) && r >= 1 && r <= 64 && p >= 1 && p <= 64;
    if (in_range && n * r * p > 1024) {
      std::memset(in.data() + 8, 0, 16);
      in[15] = 16;  // N = 16
      in[19] = 1;   // r = 1
      in[23] = 1;   // p = 1
    }
  }
  try {
    SecretBytes s = ledger::keystore_open(in, "fuzz passphrase");
    TAGGER_FUZZ_CHECK(s.size() + 24 + 16 + 12 + 16 == in.size());
  } catch (const Error&) {
  }
  return 0;
}
