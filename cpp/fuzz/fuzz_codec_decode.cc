// Canonical msgpack over arbitrary bytes: decode must either throw DecodeError
// or return a value whose encoding is exactly the input (codec.h's promise).
#include "fuzz_common.h"
#include "tagger/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tagger;
  codec::Value v;
  try {
    v = codec::decode(fuzz::view(data, size));
  } catch (const DecodeError&) {
    return 0;
  }
  Bytes again = codec::encode(v);
  TAGGER_FUZZ_CHECK(again.size() == size && std::equal(again.begin(), again.end(), data));
  // The streaming reader must agree with decode() on the same bytes.
  codec::Reader r(fuzz::view(data, size));
  TAGGER_FUZZ_CHECK(r.value() == v);
  r.finish();
  return 0;
}
