#include <gtest/gtest.h>

#include "tagger/crypto.h"
#include "tagger/errors.h"

using namespace tagger;
using namespace tagger::crypto;

TEST(CryptoTest, Sha256KnownAnswer) {
  EXPECT_EQ(to_hex(sha256(as_bytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 s;
  s.update(as_bytes("a")).update(as_bytes("bc"));
  EXPECT_EQ(s.finish(), sha256(as_bytes("abc")));
  EXPECT_THROW(s.finish(), InvalidArgument);
}

TEST(CryptoTest, HkdfRfc5869Case1) {
  Bytes ikm(22, 0x0b);
  Bytes salt = from_hex("000102030405060708090a0b0c");
  Bytes info = from_hex("f0f1f2f3f4f5f6f7f8f9");
  auto okm = hkdf_sha256(ikm, salt, info, 42);
  EXPECT_EQ(to_hex(ByteView(okm.data(), okm.size())),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
  EXPECT_THROW(hkdf_sha256(ikm, salt, info, 8161), InvalidArgument);
}

TEST(CryptoTest, Ed25519SignVerifyAndForgery) {
  SigningKey sk = SigningKey::generate();
  Bytes msg{1, 2, 3};
  Signature sig = sk.sign(msg);
  EXPECT_NO_THROW(sk.verify_key().verify(msg, sig));
  sig[10] ^= 1;
  EXPECT_THROW(sk.verify_key().verify(msg, sig), InvalidSignature);
  EXPECT_THROW(sk.verify_key().verify(msg, ByteView(sig.data(), 63)), InvalidSignature);
  EXPECT_THROW(SigningKey::from_seed(Bytes(31)), InvalidKey);
  EXPECT_THROW(VerifyKey(ByteView(Bytes(33))), InvalidKey);
  SigningKey again = SigningKey::from_seed(ByteView(sk.seed().data(), sk.seed().size()));
  EXPECT_EQ(again.verify_key(), sk.verify_key());
}

TEST(CryptoTest, VerifyBatchMatchesSingleVerifyOnEveryThreadCount) {
  std::vector<SigningKey> keys;
  for (int i = 0; i < 8; ++i) keys.push_back(SigningKey::generate());
  std::vector<Bytes> msgs;
  std::vector<Signature> sigs;
  std::vector<PublicKey> pubs;
  for (int i = 0; i < 500; ++i) {
    msgs.push_back(Bytes{static_cast<std::uint8_t>(i), static_cast<std::uint8_t>(i >> 8)});
    sigs.push_back(keys[i % 8].sign(msgs.back()));
    pubs.push_back(keys[i % 8].verify_key().raw());
    if (i % 7 == 3) sigs.back()[0] ^= 0x80;            // forged
    if (i % 11 == 5) pubs.back() = keys[(i + 1) % 8].verify_key().raw();  // wrong key
  }
  std::vector<ByteView> mv, sv, kv;
  for (int i = 0; i < 500; ++i) {
    mv.push_back(msgs[i]);
    sv.push_back(sigs[i]);
    kv.push_back(pubs[i]);
  }
  for (unsigned threads : {1u, 2u, 4u}) {
    auto ok = verify_batch(mv, sv, kv, threads);
    for (int i = 0; i < 500; ++i)
      ASSERT_EQ(ok[i] != 0, VerifyKey(pubs[i]).is_valid(mv[i], sv[i])) << i;
  }
  mv.pop_back();
  EXPECT_THROW(verify_batch(mv, sv, kv, 1), InvalidArgument);
}

TEST(CryptoTest, X25519AgreesAndRefusesLowOrderPoints) {
  PrivateKey a = PrivateKey::generate(), b = PrivateKey::generate();
  EXPECT_EQ(a.exchange(b.public_key()), b.exchange(a.public_key()));
  EXPECT_THROW(a.exchange(Bytes(32, 0)), InvalidKey);  // u = 0: all-zero secret
  EXPECT_THROW(a.exchange(Bytes(31, 9)), InvalidKey);
}

TEST(CryptoTest, AeadRoundTripAndEveryTamperFails) {
  for (Aead alg : {Aead::Aes256Gcm, Aead::ChaCha20Poly1305}) {
    Bytes key = random_bytes(32), nonce = random_bytes(12), aad{9, 9};
    for (std::size_t n : {0u, 1u, 100u, 70000u}) {
      Bytes pt(n, 0x5a);
      Bytes ct = aead_encrypt(alg, key, nonce, pt, aad);
      ASSERT_EQ(ct.size(), n + 16);
      EXPECT_EQ(aead_decrypt(alg, key, nonce, ct, aad), pt);
      for (std::size_t pos : {std::size_t{0}, ct.size() / 2, ct.size() - 1}) {
        Bytes bad = ct;
        bad[pos] ^= 1;
        EXPECT_THROW(aead_decrypt(alg, key, nonce, bad, aad), DecryptionFailed);
      }
      EXPECT_THROW(aead_decrypt(alg, key, nonce, ct, Bytes{9, 8}), DecryptionFailed);
      EXPECT_THROW(aead_decrypt(alg, key, nonce, ByteView(ct.data(), ct.size() - 1), aad), DecryptionFailed);
    }
    EXPECT_THROW(aead_encrypt(alg, Bytes(16), Bytes(12), Bytes{}), InvalidKey);
    EXPECT_THROW(aead_encrypt(alg, Bytes(32), Bytes(8), Bytes{}), InvalidArgument);
    EXPECT_THROW(aead_decrypt(alg, Bytes(32), Bytes(12), Bytes(15)), DecryptionFailed);
  }
}
