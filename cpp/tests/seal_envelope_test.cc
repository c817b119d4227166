// The sealed envelope from C++: round trips, authentication failures with the
// output wiped, rewrap, and the chunk-level streaming API.
#include <gtest/gtest.h>

#include "tagger/crypto.h"
#include "tagger/errors.h"

using namespace tagger;
using namespace tagger::crypto;

namespace {
Bytes data_of(std::size_t n) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>((i * 131 + 7) >> 3);
  return b;
}
}  // namespace

TEST(SealEnvelope, RoundTripAndSize) {
  PrivateKey k = PrivateKey::generate();
  for (std::size_t n : {0, 1, 63, 65535, 65536, 65537, 300000}) {
    Bytes d = data_of(n);
    Bytes s = seal(d, {k.public_key()});
    EXPECT_EQ(s.size(), sealed_size(n, 1));
    EXPECT_EQ(open_sealed(s, k), d);
    EXPECT_EQ(open_sealed(s, k, 1), d);
  }
}

TEST(SealEnvelope, FailuresThrowDecryptionFailedAndWipeTheOutput) {
  PrivateKey k = PrivateKey::generate(), other = PrivateKey::generate();
  Bytes d = data_of(200000);
  Bytes s = seal(d, {k.public_key()});
  EXPECT_THROW(open_sealed(s, other), DecryptionFailed);
  Bytes bad = s;
  bad[bad.size() - 1] ^= 1;
  Bytes out(opened_size(bad), 0xAA);
  EXPECT_THROW(open_sealed_into(bad, k, out.data(), 2), DecryptionFailed);
  for (auto b : out) ASSERT_EQ(b, 0) << "partial output left after a failed open";
  EXPECT_THROW(open_sealed(ByteView(s.data(), s.size() - 65552), k), DecryptionFailed);
  EXPECT_THROW(seal(d, {}), InvalidArgument);
  EXPECT_THROW(seal(d, {PublicKey{}}), InvalidKey);  // all-zero shared secret
}

TEST(SealEnvelope, RewrapKeepsThePayload) {
  PrivateKey owner = PrivateKey::generate(), buyer = PrivateKey::generate();
  Bytes d = data_of(70000);
  Bytes s = seal(d, {owner.public_key()});
  Bytes r = rewrap(s, owner, {buyer.public_key()}, false);
  EXPECT_EQ(open_sealed(r, buyer), d);
  EXPECT_THROW(open_sealed(r, owner), DecryptionFailed);
  EXPECT_TRUE(std::equal(s.end() - 70032, s.end(), r.end() - 70032));
}

TEST(SealEnvelope, StreamingWriterAndReaderAgreeWithOneShot) {
  PrivateKey k = PrivateKey::generate();
  Bytes d = data_of(3 * kSealChunkBytes + 5);
  SealWriter w({k.public_key()});
  Bytes s = w.header();
  for (std::size_t off = 0; off < d.size(); off += kSealChunkBytes) {
    std::size_t n = std::min(kSealChunkBytes, d.size() - off);
    Bytes out(n + kAeadTagBytes);
    w.seal_chunk(ByteView(d.data() + off, n), off + n == d.size(), out.data());
    s.insert(s.end(), out.begin(), out.end());
  }
  EXPECT_TRUE(w.finished());
  EXPECT_THROW(w.seal_chunk({}, true, nullptr), InvalidArgument);
  EXPECT_EQ(open_sealed(s, k), d);
  SealReader r(s, k);
  Bytes chunk0(kSealChunkBytes);
  r.open_chunk(0, ByteView(s.data() + r.header_size(), kSealChunkBytes + 16), false, chunk0.data());
  EXPECT_TRUE(std::equal(chunk0.begin(), chunk0.end(), d.begin()));
  EXPECT_THROW(r.open_chunk(0, ByteView(s.data() + r.header_size(), kSealChunkBytes + 16), true, chunk0.data()),
               DecryptionFailed);  // the last-chunk flag is authenticated
}
