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

// ---- chaotic layer (cpp/src/crypto/chaotic; docs/crypto.md "Chaotic layer") ----
// A length-preserving permutation-diffusion cipher driven by a dynamic mix of
// four chaotic maps in 64-bit fixed point. Integer arithmetic only: its
// sources are compiled with -mgeneral-regs-only, so the output is bit-identical
// on every compiler and optimisation level (frozen in tests/vectors/chaotic_kat.json).
// Its statistical quality is measured; its security is NOT claimed: sealed
// data is protected by AES-256-GCM on top of it.
namespace tagger::crypto {

namespace chaotic {
constexpr std::size_t kKeyBytes = 32;
constexpr std::size_t kNonceBytes = 16;
constexpr std::size_t kChunkBytes = 65536;  // diffusion domain; larger inputs are cut in chunks
constexpr std::size_t kLanes = 4;           // independent map orbits per chunk
constexpr std::uint64_t kMaxChunks = (std::uint64_t{1} << 30) - 1;  // chunk indices per (key, nonce): ~64 TiB
}  // namespace chaotic

class ChaoticCipher {
 public:
  // key: 32 bytes (InvalidKey otherwise); nonce: 16 bytes (InvalidArgument).
  // Every parameter and initial condition is HKDF-SHA-256(key, nonce).
  ChaoticCipher(ByteView key, ByteView nonce);
  ChaoticCipher(const ChaoticCipher&);
  ChaoticCipher(ChaoticCipher&&) noexcept;
  ChaoticCipher& operator=(ChaoticCipher&&) noexcept;
  ~ChaoticCipher();

  // One chunk (n <= kChunkBytes, index < kMaxChunks); in and out may be the
  // same buffer but must not otherwise overlap. Thread-safe (const).
  void encrypt_chunk(std::uint64_t index, const std::uint8_t* in, std::size_t n, std::uint8_t* out) const;
  void decrypt_chunk(std::uint64_t index, const std::uint8_t* in, std::size_t n, std::uint8_t* out) const;
  // Whole messages: chunk i is data[i*64 KiB, ...) with index i. threads: 0 = all cores.
  Bytes encrypt(ByteView data, unsigned threads = 1) const;
  Bytes decrypt(ByteView data, unsigned threads = 1) const;
  void encrypt_into(ByteView data, std::uint8_t* out, unsigned threads = 1) const;  // out: data.size() bytes
  void decrypt_into(ByteView data, std::uint8_t* out, unsigned threads = 1) const;  // (may be data itself)
  // The raw keystream words of chunk `index` (lane-interleaved, as diffusion
  // consumes them), for statistical testing of the generator alone.
  std::vector<std::uint64_t> keystream(std::uint64_t index, std::size_t words) const;
  void keystream_into(std::uint64_t index, std::size_t words, std::uint64_t* out) const;  // out: `words` words

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// ---- sealed envelope (docs/crypto.md "Envelope") ----
// seal: fresh 32-byte data key -> HKDF -> chaotic layer, then AES-256-GCM in
// 64 KiB chunks (STREAM: 11-byte counter + last flag as nonce, the payload
// header as associated data); the data key is wrapped to every recipient with
// ephemeral X25519 -> HKDF -> AES-256-GCM; an HMAC over the whole header binds
// the recipient list. open_sealed checks every tag before any plaintext exists.
constexpr std::size_t kDataKeyBytes = 32;
constexpr std::size_t kSealNonceBytes = 16;
constexpr std::size_t kSealChunkBytes = 65536;
constexpr std::size_t kSealPayloadHeaderBytes = 26;  // magic..nonce: the AAD of every chunk
constexpr std::size_t kSealStanzaBytes = 32 + kDataKeyBytes + kAeadTagBytes;  // 80
constexpr std::size_t kSealMacBytes = 32;
constexpr std::size_t kMaxRecipients = 65535;

// Bytes a sealed item of `plaintext_bytes` takes with `recipients` stanzas.
std::uint64_t sealed_size(std::uint64_t plaintext_bytes, std::size_t recipients);

struct SealedHeader {
  Bytes payload_header;          // 26 bytes, authenticated with every chunk
  std::array<std::uint8_t, kSealNonceBytes> nonce;
  std::vector<std::array<std::uint8_t, kSealStanzaBytes>> stanzas;
  std::array<std::uint8_t, kSealMacBytes> mac;
  std::size_t size = 0;          // bytes of the whole header
};
// Parses (does not authenticate) a header from the start of `sealed`; throws
// DecodeError naming the bad field. Needs only the header bytes.
SealedHeader parse_sealed_header(ByteView sealed);

// Throws InvalidArgument for 0 or > kMaxRecipients recipients, InvalidKey for a
// recipient key whose shared secret is all zero. threads: 0 = all cores.
Bytes seal(ByteView data, const std::vector<PublicKey>& recipients, unsigned threads = 0);
// Throws DecryptionFailed (wrong recipient, any tampering, truncation); never
// returns or leaves partial plaintext.
Bytes open_sealed(ByteView sealed, const PrivateKey& key, unsigned threads = 0);
// The same, into caller buffers: out holds sealed_size(data.size(), n) /
// opened_size(sealed) bytes (opened_size throws DecryptionFailed for a
// malformed or impossibly truncated item). open_sealed_into wipes out on failure.
void seal_into(ByteView data, const std::vector<PublicKey>& recipients, std::uint8_t* out, unsigned threads = 0);
std::uint64_t opened_size(ByteView sealed);
void open_sealed_into(ByteView sealed, const PrivateKey& key, std::uint8_t* out, unsigned threads = 0);
// The data key of a sealed item, unwrapped with `key` and checked against the header MAC.
SecretBytes unwrap_data_key(const SealedHeader& header, const PrivateKey& key);
// A new header granting `recipients` (plus the existing ones when keep_existing)
// access; the payload chunks are unchanged, so rewrap(sealed) = header' || body.
Bytes rewrap_header(ByteView sealed, const PrivateKey& owner, const std::vector<PublicKey>& recipients,
                    bool keep_existing = true);
Bytes rewrap(ByteView sealed, const PrivateKey& owner, const std::vector<PublicKey>& recipients,
             bool keep_existing = true);

// Streaming, chunk by chunk, for items larger than memory.
class SealWriter {
 public:
  explicit SealWriter(const std::vector<PublicKey>& recipients);
  ~SealWriter();
  SealWriter(SealWriter&&) noexcept;
  const Bytes& header() const;
  // Seals the next chunk (exactly kSealChunkBytes unless last; a last chunk
  // may be shorter, and empty only as the first). out: n + 16 bytes.
  void seal_chunk(ByteView chunk, bool last, std::uint8_t* out);
  bool finished() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class SealReader {
 public:
  // Unwraps the data key (DecryptionFailed for a wrong recipient or a bad header).
  SealReader(ByteView header_bytes, const PrivateKey& key);
  ~SealReader();
  SealReader(SealReader&&) noexcept;
  std::size_t header_size() const;
  // Authenticates chunk `index` (sealed: n + 16 bytes) into out (n bytes) and
  // leaves it chaotic-encrypted; DecryptionFailed wipes out.
  void verify_chunk(std::uint64_t index, ByteView sealed_chunk, bool last, std::uint8_t* out) const;
  // verify_chunk then undo the chaotic layer in place.
  void open_chunk(std::uint64_t index, ByteView sealed_chunk, bool last, std::uint8_t* out) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Files: open_sealed_file makes two passes (all tags, then decryption) and
// writes dst through a temporary file renamed into place only on success.
void seal_file(const std::string& src, const std::string& dst, const std::vector<PublicKey>& recipients);
void open_sealed_file(const std::string& src, const std::string& dst, const PrivateKey& key);

}  // namespace tagger::crypto
