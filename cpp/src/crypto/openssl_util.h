// Internal: RAII for OpenSSL handles and the error path for library failures.
#pragma once

#include <openssl/err.h>
#include <openssl/evp.h>

#include <memory>
#include <string>

#include "tagger/crypto.h"
#include "tagger/errors.h"

namespace tagger::crypto::detail {

struct PkeyFree { void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); } };
struct MdCtxFree { void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); } };
struct PkeyCtxFree { void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); } };
struct CipherCtxFree { void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); } };
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

// Throws CryptoError with OpenSSL's queued reason; clears the queue.
[[noreturn]] inline void openssl_fail(const char* what) {
  unsigned long code = ERR_get_error();
  std::string msg = std::string(what) + " failed";
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    msg += ": ";
    msg += buf;
  }
  ERR_clear_error();
  throw CryptoError(msg);
}

// Algorithms fetched once per process (implicit fetches cost a lookup per call).
const EVP_MD* sha256_md();

// An X25519 key pair as an EVP key, both halves given: OpenSSL then skips
// recomputing the public key (a scalar multiplication, ~37 us).
PkeyPtr x25519_key_pair(const SecretBytes& priv, const PublicKey& pub);
// X25519(self, peer). InvalidKey for a refused peer key or an all-zero result
// (a low-order peer point), which our protocols must never use.
SecretBytes x25519_derive(EVP_PKEY* self, const std::uint8_t* peer_public32);

}  // namespace tagger::crypto::detail
