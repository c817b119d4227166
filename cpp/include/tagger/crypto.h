// Cryptographic primitives, all through OpenSSL 3 EVP. No OpenSSL type appears
// here: keys are held behind pimpl handles and exchanged as raw bytes.
// Functions that check authenticity throw (InvalidSignature, DecryptionFailed)
// rather than return a flag that could be ignored, except verify_batch, whose
// whole point is a per-item verdict.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "tagger/bytes.h"

namespace tagger::crypto {

constexpr std::size_t kHashBytes = 32;
constexpr std::size_t kSeedBytes = 32;           // Ed25519 private seed
constexpr std::size_t kPublicKeyBytes = 32;      // Ed25519 and X25519 public keys
constexpr std::size_t kSignatureBytes = 64;
constexpr std::size_t kX25519Bytes = 32;
constexpr std::size_t kAeadKeyBytes = 32;
constexpr std::size_t kAeadNonceBytes = 12;
constexpr std::size_t kAeadTagBytes = 16;
constexpr std::size_t kHkdfMaxBytes = 255 * kHashBytes;

using Signature = std::array<std::uint8_t, kSignatureBytes>;
using PublicKey = std::array<std::uint8_t, kPublicKeyBytes>;

// ---- randomness ----
void random_bytes(std::uint8_t* out, std::size_t n);  // CSPRNG (RAND_bytes)
Bytes random_bytes(std::size_t n);

// ---- hashing ----
Hash32 sha256(ByteView data);

class Sha256 {  // streaming
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  Sha256& update(ByteView data);
  Hash32 finish();  // the object can not be updated afterwards

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

Hash32 hmac_sha256(ByteView key, ByteView data);
// RFC 5869. length <= kHkdfMaxBytes, else InvalidArgument.
SecretBytes hkdf_sha256(ByteView ikm, ByteView salt, ByteView info, std::size_t length);

// ---- Ed25519 ----
class VerifyKey {
 public:
  explicit VerifyKey(ByteView raw32);  // InvalidKey if not 32 bytes
  explicit VerifyKey(const PublicKey& raw) : raw_(raw) {}
  const PublicKey& raw() const { return raw_; }
  bool is_valid(ByteView msg, ByteView sig) const noexcept;
  void verify(ByteView msg, ByteView sig) const;  // throws InvalidSignature
  bool operator==(const VerifyKey&) const = default;

 private:
  PublicKey raw_;
};

class SigningKey {
 public:
  static SigningKey generate();
  static SigningKey from_seed(ByteView seed32);  // InvalidKey if not 32 bytes
  SigningKey(SigningKey&&) noexcept;
  SigningKey& operator=(SigningKey&&) noexcept;
  SigningKey(const SigningKey&);
  SigningKey& operator=(const SigningKey&);
  ~SigningKey();

  Signature sign(ByteView msg) const;
  const VerifyKey& verify_key() const { return verify_key_; }
  const SecretBytes& seed() const { return seed_; }

 private:
  SigningKey(SecretBytes seed);
  struct Handle;
  SecretBytes seed_;
  VerifyKey verify_key_;
  std::shared_ptr<Handle> handle_;
};

// One verdict per (message, signature, key) triple, checked on `threads`
// threads (0 = hardware concurrency). Never throws for a bad item: a wrongly
// sized key or signature is simply false.
std::vector<std::uint8_t> verify_batch(const std::vector<ByteView>& msgs,
                                       const std::vector<ByteView>& sigs,
                                       const std::vector<ByteView>& keys,
                                       unsigned threads = 0);

// ---- X25519 ----
class PrivateKey {
 public:
  static PrivateKey generate();
  static PrivateKey from_bytes(ByteView raw32);  // InvalidKey if not 32 bytes
  const PublicKey& public_key() const { return public_; }
  const SecretBytes& raw() const { return raw_; }
  // Shared secret with a peer public key; throws InvalidKey for an all-zero
  // result (low-order peer key), which our protocols must never use.
  SecretBytes exchange(ByteView peer_public32) const;

 private:
  PrivateKey(SecretBytes raw);
  SecretBytes raw_;
  PublicKey public_;
};

// ---- AEAD ----
enum class Aead { Aes256Gcm, ChaCha20Poly1305 };
Aead aead_from_name(std::string_view name);  // "aes-256-gcm" | "chacha20-poly1305"

// Returns ciphertext || 16-byte tag. Key 32 bytes, nonce 12 bytes.
Bytes aead_encrypt(Aead alg, ByteView key, ByteView nonce, ByteView plaintext, ByteView aad = {});
// Throws DecryptionFailed on any authentication failure; never returns bytes then.
Bytes aead_decrypt(Aead alg, ByteView key, ByteView nonce, ByteView sealed, ByteView aad = {});
// Into caller buffers (out must hold plaintext.size() + 16 / sealed.size() - 16).
void aead_encrypt_into(Aead alg, ByteView key, ByteView nonce, ByteView plaintext, ByteView aad,
                       std::uint8_t* out);
void aead_decrypt_into(Aead alg, ByteView key, ByteView nonce, ByteView sealed, ByteView aad,
                       std::uint8_t* out);

}  // namespace tagger::crypto
