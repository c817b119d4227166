#include <openssl/evp.h>

#include <climits>

#include "crypto/openssl_util.h"
#include "tagger/crypto.h"

namespace tagger::crypto {
using namespace detail;

namespace {

const EVP_CIPHER* cipher_of(Aead alg) {
  static EVP_CIPHER* gcm = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  static EVP_CIPHER* chacha = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
  const EVP_CIPHER* c = alg == Aead::Aes256Gcm ? gcm : chacha;
  if (c == nullptr) openssl_fail("EVP_CIPHER_fetch");
  return c;
}

void check_sizes(ByteView key, ByteView nonce) {
  if (key.size() != kAeadKeyBytes)
    throw InvalidKey("AEAD key must be 32 bytes, got " + std::to_string(key.size()));
  if (nonce.size() != kAeadNonceBytes)
    throw InvalidArgument("AEAD nonce must be 12 bytes, got " + std::to_string(nonce.size()));
}

// EVP takes int lengths; feed large buffers in pieces.
template <class UpdateFn>
void in_pieces(ByteView in, std::uint8_t* out, UpdateFn&& update) {
  constexpr std::size_t kPiece = 1u << 30;
  for (std::size_t off = 0; off < in.size(); off += kPiece) {
    std::size_t n = std::min(kPiece, in.size() - off);
    update(in.data() + off, static_cast<int>(n), out ? out + off : nullptr);
  }
}

// One context per (thread, algorithm, direction), bound to its cipher once,
// remembering its current key: a call with the same key as the last one (the
// chunks of one sealed stream) sets only the nonce, skipping the provider
// set-up and key schedule that dominate small messages. The context frees
// (and OpenSSL wipes) the key schedule when the thread exits; the key copy is
// SecretBytes, wiped likewise.
struct BoundCtx {
  CipherCtxPtr ctx;
  SecretBytes key;
};
thread_local BoundCtx tls_ctx[2][2];

// Initialises ctx for (key, nonce); returns it ready for AAD and data.
EVP_CIPHER_CTX* keyed_ctx(Aead alg, bool encrypt, ByteView key, ByteView nonce) {
  BoundCtx& slot = tls_ctx[alg == Aead::Aes256Gcm ? 0 : 1][encrypt ? 1 : 0];
  if (!slot.ctx) {
    CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
    if (!ctx || EVP_CipherInit_ex2(ctx.get(), cipher_of(alg), nullptr, nullptr, encrypt ? 1 : 0, nullptr) != 1)
      openssl_fail("AEAD context init");
    slot.ctx = std::move(ctx);
  }
  bool same_key = equal_ct(key, ByteView(slot.key.data(), slot.key.size()));
  if (EVP_CipherInit_ex2(slot.ctx.get(), nullptr, same_key ? nullptr : key.data(), nonce.data(),
                         encrypt ? 1 : 0, nullptr) != 1) {
    slot.key.clear();
    openssl_fail("AEAD init");
  }
  if (!same_key) slot.key.assign(key.begin(), key.end());
  return slot.ctx.get();
}

}  // namespace

Aead aead_from_name(std::string_view name) {
  if (name == "aes-256-gcm") return Aead::Aes256Gcm;
  if (name == "chacha20-poly1305") return Aead::ChaCha20Poly1305;
  throw InvalidArgument("unknown AEAD algorithm '" + std::string(name) +
                        "' (expected 'aes-256-gcm' or 'chacha20-poly1305')");
}

void aead_encrypt_into(Aead alg, ByteView key, ByteView nonce, ByteView plaintext, ByteView aad,
                       std::uint8_t* out) {
  check_sizes(key, nonce);
  EVP_CIPHER_CTX* ctx = keyed_ctx(alg, true, key, nonce);
  int len = 0;
  in_pieces(aad, nullptr, [&](const std::uint8_t* p, int n, std::uint8_t*) {
    if (EVP_EncryptUpdate(ctx, nullptr, &len, p, n) != 1) openssl_fail("AEAD aad");
  });
  in_pieces(plaintext, out, [&](const std::uint8_t* p, int n, std::uint8_t* o) {
    if (EVP_EncryptUpdate(ctx, o, &len, p, n) != 1) openssl_fail("AEAD encrypt");
  });
  if (EVP_EncryptFinal_ex(ctx, out + plaintext.size(), &len) != 1) openssl_fail("AEAD encrypt final");
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kAeadTagBytes, out + plaintext.size()) != 1)
    openssl_fail("AEAD get tag");
}

Bytes aead_encrypt(Aead alg, ByteView key, ByteView nonce, ByteView plaintext, ByteView aad) {
  Bytes out(plaintext.size() + kAeadTagBytes);
  aead_encrypt_into(alg, key, nonce, plaintext, aad, out.data());
  return out;
}

void aead_decrypt_into(Aead alg, ByteView key, ByteView nonce, ByteView sealed, ByteView aad,
                       std::uint8_t* out) {
  check_sizes(key, nonce);
  if (sealed.size() < kAeadTagBytes)
    throw DecryptionFailed("AEAD input of " + std::to_string(sealed.size()) +
                           " bytes is shorter than the 16-byte tag");
  std::size_t ct_len = sealed.size() - kAeadTagBytes;
  EVP_CIPHER_CTX* ctx = keyed_ctx(alg, false, key, nonce);
  int len = 0;
  std::uint8_t tag[kAeadTagBytes];
  std::copy(sealed.begin() + static_cast<std::ptrdiff_t>(ct_len), sealed.end(), tag);
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kAeadTagBytes, tag) != 1)
    openssl_fail("AEAD set tag");
  in_pieces(aad, nullptr, [&](const std::uint8_t* p, int n, std::uint8_t*) {
    if (EVP_DecryptUpdate(ctx, nullptr, &len, p, n) != 1) openssl_fail("AEAD aad");
  });
  in_pieces(sealed.first(ct_len), out, [&](const std::uint8_t* p, int n, std::uint8_t* o) {
    if (EVP_DecryptUpdate(ctx, o, &len, p, n) != 1) openssl_fail("AEAD decrypt");
  });
  std::uint8_t scratch[16];
  if (EVP_DecryptFinal_ex(ctx, scratch, &len) != 1) {
    ERR_clear_error();
    // The caller's buffer held unauthenticated plaintext: wipe it.
    secure_wipe(out, ct_len);
    throw DecryptionFailed("AEAD authentication failed (wrong key, nonce, data or associated data)");
  }
}

Bytes aead_decrypt(Aead alg, ByteView key, ByteView nonce, ByteView sealed, ByteView aad) {
  if (sealed.size() < kAeadTagBytes)
    throw DecryptionFailed("AEAD input of " + std::to_string(sealed.size()) +
                           " bytes is shorter than the 16-byte tag");
  Bytes out(sealed.size() - kAeadTagBytes);
  aead_decrypt_into(alg, key, nonce, sealed, aad, out.data());
  return out;
}

}  // namespace tagger::crypto
