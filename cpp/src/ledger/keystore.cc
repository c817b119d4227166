// Passphrase keystore: scrypt (RFC 7914, OpenSSL EVP_KDF "SCRYPT") derives a
// key that seals the secret with AES-256-GCM. The header (magic, parameters,
// salt, nonce) is the AEAD's associated data, so no field can be altered.
//
//   file := "TGKEY001" N(8, BE) r(4, BE) p(4, BE) salt(16) nonce(12) ciphertext||tag
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <cstring>

#include "ledger/hashing.h"
#include "tagger/crypto.h"
#include "tagger/errors.h"
#include "tagger/ledger.h"

namespace tagger::ledger {
namespace {

constexpr char kMagic[8] = {'T', 'G', 'K', 'E', 'Y', '0', '0', '1'};
constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kHeaderBytes = 8 + 8 + 4 + 4 + kSaltBytes + crypto::kAeadNonceBytes;

SecretBytes scrypt(std::string_view pass, ByteView salt, const ScryptParams& p) {
  if (p.n < 2 || (p.n & (p.n - 1)) != 0 || p.n > (1ull << 24) || p.r == 0 || p.p == 0 || p.r > 64 || p.p > 64)
    throw InvalidArgument("scrypt parameters out of range (N a power of two up to 2^24, 1 <= r, p <= 64)");
  // The cost is read from the file before anything is authenticated: a damaged or
  // crafted keystore must not make open() take gigabytes or minutes (fuzzing note,
  // docs/reliability.md). 1 GiB of memory (128·r·N) and N·r·p <= 2^26 leave room
  // for ~30x the default N = 2^15, r = 8, p = 1.
  if (128ull * p.r * p.n > (1ull << 30) || static_cast<std::uint64_t>(p.n) * p.r * p.p > (1ull << 26))
    throw InvalidArgument("scrypt parameters cost too much (128·r·N must be at most 1 GiB and N·r·p at most 2^26)");
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "SCRYPT", nullptr);
  if (kdf == nullptr) throw CryptoError("EVP_KDF_fetch(SCRYPT) failed");
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  if (ctx == nullptr) throw CryptoError("EVP_KDF_CTX_new failed");
  std::uint64_t n = p.n;
  std::uint32_t r = p.r, pp = p.p;
  std::uint64_t maxmem = 128ull * r * n + (1ull << 26);
  static const char kEmpty = 0;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, const_cast<char*>(pass.empty() ? &kEmpty : pass.data()), pass.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<std::uint8_t*>(salt.data()), salt.size()),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &pp),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
      OSSL_PARAM_construct_end()};
  SecretBytes key(crypto::kAeadKeyBytes);
  int ok = EVP_KDF_derive(ctx, key.data(), key.size(), params);
  EVP_KDF_CTX_free(ctx);
  if (ok != 1) throw CryptoError("scrypt derivation failed");
  return key;
}

void put_be32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 3; i >= 0; --i) { p[i] = static_cast<std::uint8_t>(v); v >>= 8; }
}
std::uint64_t get_be(const std::uint8_t* p, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

Bytes keystore_seal(ByteView secret, std::string_view passphrase, const ScryptParams& params) {
  Bytes out(kHeaderBytes);
  std::memcpy(out.data(), kMagic, 8);
  detail::put_be64(out.data() + 8, params.n);
  put_be32(out.data() + 16, params.r);
  put_be32(out.data() + 20, params.p);
  crypto::random_bytes(out.data() + 24, kSaltBytes + crypto::kAeadNonceBytes);
  SecretBytes key = scrypt(passphrase, ByteView(out.data() + 24, kSaltBytes), params);
  Bytes ct = crypto::aead_encrypt(crypto::Aead::Aes256Gcm, key, ByteView(out.data() + 24 + kSaltBytes, crypto::kAeadNonceBytes),
                                  secret, ByteView(out.data(), kHeaderBytes));
  out.insert(out.end(), ct.begin(), ct.end());
  return out;
}

SecretBytes keystore_open(ByteView sealed, std::string_view passphrase) {
  if (sealed.size() < kHeaderBytes + crypto::kAeadTagBytes || std::memcmp(sealed.data(), kMagic, 8) != 0)
    throw DecryptionFailed("not a tagger keystore (bad magic or too short)");
  ScryptParams p;
  p.n = get_be(sealed.data() + 8, 8);
  p.r = static_cast<std::uint32_t>(get_be(sealed.data() + 16, 4));
  p.p = static_cast<std::uint32_t>(get_be(sealed.data() + 20, 4));
  SecretBytes key;
  try {
    key = scrypt(passphrase, sealed.subspan(24, kSaltBytes), p);
  } catch (const InvalidArgument&) {
    throw DecryptionFailed("keystore header is damaged (scrypt parameters out of range)");
  }
  SecretBytes out(sealed.size() - kHeaderBytes - crypto::kAeadTagBytes);
  crypto::aead_decrypt_into(crypto::Aead::Aes256Gcm, key, sealed.subspan(24 + kSaltBytes, crypto::kAeadNonceBytes),
                            sealed.subspan(kHeaderBytes), sealed.subspan(0, kHeaderBytes), out.data());
  return out;
}

}  // namespace tagger::ledger
