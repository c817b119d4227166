#include <openssl/evp.h>

#include <atomic>

#include "crypto/openssl_util.h"
#include "tagger/crypto.h"
#include "util/parallel.h"

namespace tagger::crypto {
using namespace detail;

namespace {

PublicKey public_from_pkey(EVP_PKEY* pkey) {
  PublicKey pub;
  std::size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(pkey, pub.data(), &len) != 1 || len != pub.size())
    openssl_fail("Ed25519 public key export");
  return pub;
}

bool verify_raw(const std::uint8_t* key, const std::uint8_t* msg, std::size_t msg_len,
                const std::uint8_t* sig) noexcept {
  PkeyPtr pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key, kPublicKeyBytes));
  if (!pkey) {
    ERR_clear_error();
    return false;
  }
  MdCtxPtr ctx(EVP_MD_CTX_new());
  bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) == 1 &&
            EVP_DigestVerify(ctx.get(), sig, kSignatureBytes, msg, msg_len) == 1;
  if (!ok) ERR_clear_error();
  return ok;
}

}  // namespace

VerifyKey::VerifyKey(ByteView raw32) {
  if (raw32.size() != kPublicKeyBytes)
    throw InvalidKey("Ed25519 verify key must be 32 bytes, got " + std::to_string(raw32.size()));
  std::copy(raw32.begin(), raw32.end(), raw_.begin());
}

bool VerifyKey::is_valid(ByteView msg, ByteView sig) const noexcept {
  if (sig.size() != kSignatureBytes) return false;
  return verify_raw(raw_.data(), msg.data(), msg.size(), sig.data());
}

void VerifyKey::verify(ByteView msg, ByteView sig) const {
  if (sig.size() != kSignatureBytes)
    throw InvalidSignature("Ed25519 signature must be 64 bytes, got " + std::to_string(sig.size()));
  if (!is_valid(msg, sig)) throw InvalidSignature("Ed25519 signature does not verify");
}

struct SigningKey::Handle {
  PkeyPtr pkey;
};

SigningKey::SigningKey(SecretBytes seed) : seed_(std::move(seed)), verify_key_(PublicKey{}) {
  auto h = std::make_shared<Handle>();
  h->pkey.reset(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed_.data(), seed_.size()));
  if (!h->pkey) openssl_fail("Ed25519 key import");
  verify_key_ = VerifyKey(public_from_pkey(h->pkey.get()));
  handle_ = std::move(h);
}

SigningKey SigningKey::generate() {
  SecretBytes seed(kSeedBytes);
  random_bytes(seed.data(), seed.size());
  return SigningKey(std::move(seed));
}

SigningKey SigningKey::from_seed(ByteView seed32) {
  if (seed32.size() != kSeedBytes)
    throw InvalidKey("Ed25519 seed must be 32 bytes, got " + std::to_string(seed32.size()));
  return SigningKey(SecretBytes(seed32.begin(), seed32.end()));
}

SigningKey::SigningKey(SigningKey&&) noexcept = default;
SigningKey& SigningKey::operator=(SigningKey&&) noexcept = default;
SigningKey::SigningKey(const SigningKey&) = default;
SigningKey& SigningKey::operator=(const SigningKey&) = default;
SigningKey::~SigningKey() = default;

Signature SigningKey::sign(ByteView msg) const {
  Signature sig;
  std::size_t len = sig.size();
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, handle_->pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig.data(), &len, msg.data(), msg.size()) != 1 || len != sig.size())
    openssl_fail("Ed25519 sign");
  return sig;
}

std::vector<std::uint8_t> verify_batch(const std::vector<ByteView>& msgs,
                                       const std::vector<ByteView>& sigs,
                                       const std::vector<ByteView>& keys, unsigned threads) {
  if (msgs.size() != sigs.size() || msgs.size() != keys.size())
    throw InvalidArgument("verify_batch: " + std::to_string(msgs.size()) + " messages, " +
                          std::to_string(sigs.size()) + " signatures and " +
                          std::to_string(keys.size()) + " keys; the counts must be equal");
  std::vector<std::uint8_t> ok(msgs.size(), 0);
  util::parallel_for(msgs.size(), threads, 16, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i) {
      ok[i] = sigs[i].size() == kSignatureBytes && keys[i].size() == kPublicKeyBytes &&
              verify_raw(keys[i].data(), msgs[i].data(), msgs[i].size(), sigs[i].data());
    }
  });
  return ok;
}

}  // namespace tagger::crypto
