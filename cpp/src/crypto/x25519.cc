#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "crypto/openssl_util.h"
#include "tagger/crypto.h"

namespace tagger::crypto {
using namespace detail;

PrivateKey::PrivateKey(SecretBytes raw) : raw_(std::move(raw)) {
  PkeyPtr pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, raw_.data(), raw_.size()));
  if (!pkey) openssl_fail("X25519 key import");
  std::size_t len = public_.size();
  if (EVP_PKEY_get_raw_public_key(pkey.get(), public_.data(), &len) != 1 || len != public_.size())
    openssl_fail("X25519 public key export");
}

PrivateKey PrivateKey::generate() {
  SecretBytes raw(kX25519Bytes);
  random_bytes(raw.data(), raw.size());
  return PrivateKey(std::move(raw));
}

PrivateKey PrivateKey::from_bytes(ByteView raw32) {
  if (raw32.size() != kX25519Bytes)
    throw InvalidKey("X25519 private key must be 32 bytes, got " + std::to_string(raw32.size()));
  return PrivateKey(SecretBytes(raw32.begin(), raw32.end()));
}

PkeyPtr detail::x25519_key_pair(const SecretBytes& priv, const PublicKey& pub) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "X25519", nullptr));
  SecretBytes priv_copy = priv;  // OSSL_PARAM takes non-const buffers
  PublicKey pub_copy = pub;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, priv_copy.data(), priv_copy.size()),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pub_copy.data(), pub_copy.size()),
      OSSL_PARAM_construct_end()};
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_KEYPAIR, params) != 1)
    openssl_fail("X25519 key import");
  return PkeyPtr(raw);
}

SecretBytes detail::x25519_derive(EVP_PKEY* self, const std::uint8_t* peer_public32) {
  PkeyPtr peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer_public32, kX25519Bytes));
  if (!peer) openssl_fail("X25519 key import");
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, self, nullptr));
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1) openssl_fail("X25519 derive init");
  if (EVP_PKEY_derive_set_peer_ex(ctx.get(), peer.get(), 0) != 1) {
    ERR_clear_error();
    throw InvalidKey("X25519 peer public key refused");
  }
  SecretBytes shared(kX25519Bytes);
  std::size_t len = shared.size();
  // OpenSSL fails the derivation when the result is all zero (a low-order
  // peer point); we check again so the rule does not rest on the library.
  if (EVP_PKEY_derive(ctx.get(), shared.data(), &len) != 1 || len != kX25519Bytes) {
    ERR_clear_error();
    throw InvalidKey("X25519 shared secret is all zero (low-order peer public key)");
  }
  std::uint8_t acc = 0;
  for (auto b : shared) acc |= b;
  if (acc == 0) throw InvalidKey("X25519 shared secret is all zero (low-order peer public key)");
  return shared;
}

SecretBytes PrivateKey::exchange(ByteView peer_public32) const {
  if (peer_public32.size() != kX25519Bytes)
    throw InvalidKey("X25519 public key must be 32 bytes, got " + std::to_string(peer_public32.size()));
  PkeyPtr self = x25519_key_pair(raw_, public_);
  return x25519_derive(self.get(), peer_public32.data());
}

}  // namespace tagger::crypto
