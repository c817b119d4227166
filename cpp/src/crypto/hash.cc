#include <mutex>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "crypto/openssl_util.h"
#include "tagger/crypto.h"

namespace tagger::crypto {
using namespace detail;

const EVP_MD* detail::sha256_md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (md == nullptr) openssl_fail("EVP_MD_fetch(SHA256)");
  return md;
}

void random_bytes(std::uint8_t* out, std::size_t n) {
  while (n > 0) {
    int chunk = n > (1u << 30) ? (1 << 30) : static_cast<int>(n);
    if (RAND_bytes(out, chunk) != 1) openssl_fail("RAND_bytes");
    out += chunk;
    n -= static_cast<std::size_t>(chunk);
  }
}

Bytes random_bytes(std::size_t n) {
  Bytes b(n);
  random_bytes(b.data(), n);
  return b;
}

Hash32 sha256(ByteView data) {
  Hash32 out;
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, sha256_md(), nullptr) != 1)
    openssl_fail("SHA-256");
  return out;
}

struct Sha256::Impl {
  MdCtxPtr ctx{EVP_MD_CTX_new()};
  bool finished = false;
  // The binding releases the GIL around large updates: two Python threads
  // sharing one object must not run EVP calls on the same context at once
  // (updates are then serialized in some order, as hashlib does).
  std::mutex mu;
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
  if (!impl_->ctx || EVP_DigestInit_ex(impl_->ctx.get(), sha256_md(), nullptr) != 1)
    openssl_fail("SHA-256 init");
}
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

Sha256& Sha256::update(ByteView data) {
  if (!impl_) throw InvalidArgument("Sha256.update after finish()");
  std::lock_guard lk(impl_->mu);
  if (impl_->finished) throw InvalidArgument("Sha256.update after finish()");
  if (EVP_DigestUpdate(impl_->ctx.get(), data.data(), data.size()) != 1) openssl_fail("SHA-256 update");
  return *this;
}

Hash32 Sha256::finish() {
  if (!impl_) throw InvalidArgument("Sha256.finish called twice");
  std::lock_guard lk(impl_->mu);
  if (impl_->finished) throw InvalidArgument("Sha256.finish called twice");
  Hash32 out;
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(impl_->ctx.get(), out.data(), &len) != 1) openssl_fail("SHA-256 final");
  impl_->finished = true;
  return out;
}

Hash32 hmac_sha256(ByteView key, ByteView data) {
  Hash32 out;
  std::size_t len = 0;
  static const unsigned char kEmpty = 0;
  // OpenSSL rejects a null key pointer even for length 0.
  const unsigned char* k = key.empty() ? &kEmpty : key.data();
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, k, key.size(), data.data(),
                data.size(), out.data(), out.size(), &len) == nullptr)
    openssl_fail("HMAC-SHA256");
  return out;
}

// RFC 5869 over EVP HMAC. Written out rather than through EVP_KDF("HKDF")
// because OpenSSL's KDF refuses an empty input key, which the RFC allows.
SecretBytes hkdf_sha256(ByteView ikm, ByteView salt, ByteView info, std::size_t length) {
  if (length > kHkdfMaxBytes)
    throw InvalidArgument("hkdf_sha256: length " + std::to_string(length) + " exceeds 255*32 = 8160 bytes");
  Hash32 zero_salt{};
  Hash32 prk = hmac_sha256(salt.empty() ? ByteView(zero_salt) : salt, ikm);
  SecretBytes out;
  out.reserve(length);
  SecretBytes block;
  Hash32 t{};
  std::size_t t_len = 0;
  for (std::uint8_t counter = 1; out.size() < length; ++counter) {
    block.assign(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(t_len));
    block.insert(block.end(), info.begin(), info.end());
    block.push_back(counter);
    t = hmac_sha256(prk, block);
    t_len = t.size();
    std::size_t take = std::min(t.size(), length - out.size());
    out.insert(out.end(), t.begin(), t.begin() + static_cast<std::ptrdiff_t>(take));
  }
  secure_wipe(prk.data(), prk.size());
  secure_wipe(t.data(), t.size());
  return out;
}

}  // namespace tagger::crypto
