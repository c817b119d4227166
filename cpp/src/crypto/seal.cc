// The sealed envelope (docs/crypto.md, "Envelope"): byte format, key schedule,
// STREAM chunking and recipient wrapping. The chaotic layer sits under
// AES-256-GCM; nothing here depends on it for confidentiality or integrity.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

#include <fcntl.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "crypto/openssl_util.h"
#include "tagger/crypto.h"
#include "tagger/errors.h"
#include "util/parallel.h"

namespace tagger::crypto {

namespace {

constexpr std::uint8_t kMagic[6] = {'T', 'G', 'S', 'E', 'A', 'L'};
constexpr std::uint8_t kVersion = 1;
constexpr std::uint8_t kSuite = 1;  // chaotic-v1 + AES-256-GCM STREAM, X25519 wrap
constexpr std::uint8_t kChunkLog2 = 16;
constexpr std::size_t kSealedChunkBytes = kSealChunkBytes + kAeadTagBytes;
constexpr std::size_t kFixedHeaderBytes = kSealPayloadHeaderBytes + 2;  // + recipient count
static_assert(std::size_t{1} << kChunkLog2 == kSealChunkBytes);
static_assert(kSealChunkBytes == chaotic::kChunkBytes, "a STREAM chunk is one chaotic chunk");

std::size_t header_bytes(std::size_t recipients) {
  return kFixedHeaderBytes + recipients * kSealStanzaBytes + kSealMacBytes;
}

struct PayloadKeys {
  SecretBytes aead;
  std::optional<ChaoticCipher> chaotic;
};

SecretBytes derive(ByteView data_key, ByteView nonce, const char* label) {
  return hkdf_sha256(data_key, nonce, as_bytes(label), 32);
}

PayloadKeys payload_keys(ByteView data_key, ByteView nonce) {
  PayloadKeys k;
  k.aead = derive(data_key, nonce, "tagger/seal/v1/aead");
  SecretBytes ck = derive(data_key, nonce, "tagger/seal/v1/chaotic");
  k.chaotic.emplace(ByteView(ck.data(), ck.size()), nonce);
  return k;
}

Hash32 header_mac(ByteView data_key, ByteView nonce, ByteView header_without_mac) {
  SecretBytes mk = derive(data_key, nonce, "tagger/seal/v1/header");
  return hmac_sha256(ByteView(mk.data(), mk.size()), header_without_mac);
}

// STREAM nonce (Hoang, Reyhanitabar, Rogaway, Vizar 2015; the age format):
// 11-byte big-endian chunk counter, then 0x01 for the last chunk, else 0x00.
std::array<std::uint8_t, kAeadNonceBytes> chunk_nonce(std::uint64_t index, bool last) {
  std::array<std::uint8_t, kAeadNonceBytes> n{};
  for (int i = 0; i < 8; ++i) n[10 - i] = static_cast<std::uint8_t>(index >> (8 * i));
  n[11] = last ? 1 : 0;
  return n;
}

// X25519 with as few scalar multiplications as the protocol needs (each ~37 us,
// the largest fixed cost of a seal or open): the ephemeral key comes from keygen
// (one, for e_pub, which the stanza needs) and the recipient's key pair is
// imported with its public half (none); see detail::x25519_key_pair.

// A fresh ephemeral key pair and its shared secret with `recipient`.
struct Ephemeral {
  PublicKey pub;
  SecretBytes shared;
};
Ephemeral ephemeral_exchange(const PublicKey& recipient) {
  using namespace detail;
  Ephemeral e;
  PkeyPtr eph(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"));
  std::size_t len = e.pub.size();
  if (!eph || EVP_PKEY_get_raw_public_key(eph.get(), e.pub.data(), &len) != 1 || len != e.pub.size())
    openssl_fail("X25519 ephemeral key generation");
  e.shared = detail::x25519_derive(eph.get(), recipient.data());
  return e;
}

std::array<std::uint8_t, kSealStanzaBytes> wrap_for(const PublicKey& recipient, ByteView data_key,
                                                    ByteView payload_header) {
  Ephemeral eph = ephemeral_exchange(recipient);
  const SecretBytes& shared = eph.shared;
  std::array<std::uint8_t, 64> salt;
  std::copy(eph.pub.begin(), eph.pub.end(), salt.begin());
  std::copy(recipient.begin(), recipient.end(), salt.begin() + 32);
  SecretBytes wk = hkdf_sha256(ByteView(shared.data(), shared.size()), salt, as_bytes("tagger/seal/v1/x25519"), 32);
  std::array<std::uint8_t, kSealStanzaBytes> st;
  std::copy(eph.pub.begin(), eph.pub.end(), st.begin());
  const std::array<std::uint8_t, kAeadNonceBytes> zero{};  // the wrap key is used once
  aead_encrypt_into(Aead::Aes256Gcm, ByteView(wk.data(), wk.size()), zero, data_key, payload_header,
                    st.data() + 32);
  return st;
}

std::optional<SecretBytes> try_unwrap(const std::array<std::uint8_t, kSealStanzaBytes>& st,
                                      const PrivateKey& key, EVP_PKEY* key_pair, ByteView payload_header) {
  SecretBytes shared;
  try {
    shared = detail::x25519_derive(key_pair, st.data());
  } catch (const InvalidKey&) {
    return std::nullopt;  // a low-order ephemeral key: refuse, as if not ours
  }
  std::array<std::uint8_t, 64> salt;
  std::copy(st.begin(), st.begin() + 32, salt.begin());
  std::copy(key.public_key().begin(), key.public_key().end(), salt.begin() + 32);
  SecretBytes wk = hkdf_sha256(ByteView(shared.data(), shared.size()), salt, as_bytes("tagger/seal/v1/x25519"), 32);
  const std::array<std::uint8_t, kAeadNonceBytes> zero{};
  SecretBytes dk(kDataKeyBytes);
  try {
    aead_decrypt_into(Aead::Aes256Gcm, ByteView(wk.data(), wk.size()), zero,
                      ByteView(st.data() + 32, kDataKeyBytes + kAeadTagBytes), payload_header, dk.data());
  } catch (const DecryptionFailed&) {
    return std::nullopt;
  }
  return dk;
}

Bytes build_header(ByteView payload_header, const std::vector<std::array<std::uint8_t, kSealStanzaBytes>>& stanzas,
                   ByteView data_key, ByteView nonce) {
  if (stanzas.empty()) throw InvalidArgument("seal needs at least one recipient");
  if (stanzas.size() > kMaxRecipients)
    throw InvalidArgument("seal takes at most 65535 recipients, got " + std::to_string(stanzas.size()));
  Bytes h(payload_header.begin(), payload_header.end());
  h.push_back(static_cast<std::uint8_t>(stanzas.size()));
  h.push_back(static_cast<std::uint8_t>(stanzas.size() >> 8));
  for (const auto& st : stanzas) h.insert(h.end(), st.begin(), st.end());
  Hash32 mac = header_mac(data_key, nonce, h);
  h.insert(h.end(), mac.begin(), mac.end());
  return h;
}

Bytes new_payload_header(std::array<std::uint8_t, kSealNonceBytes>& nonce) {
  random_bytes(nonce.data(), nonce.size());
  Bytes ph(kSealPayloadHeaderBytes);
  std::copy(std::begin(kMagic), std::end(kMagic), ph.begin());
  ph[6] = kVersion, ph[7] = kSuite, ph[8] = kChunkLog2, ph[9] = 0;
  std::copy(nonce.begin(), nonce.end(), ph.begin() + 10);
  return ph;
}

struct ChunkLayout {
  std::uint64_t count;
  std::size_t last_sealed;  // bytes of the last sealed chunk, tag included
};

// The chunk count follows from the body length alone; a body that no sealer
// could have produced (a cut inside a tag, an empty chunk after full ones) is
// refused here, and any cut at a chunk boundary fails the last-chunk flag.
ChunkLayout layout_of(std::uint64_t body) {
  if (body < kAeadTagBytes) throw DecryptionFailed("sealed item is truncated (no final chunk)");
  std::uint64_t count = (body + kSealedChunkBytes - 1) / kSealedChunkBytes;
  std::size_t last = static_cast<std::size_t>(body - (count - 1) * kSealedChunkBytes);
  if (last < kAeadTagBytes) throw DecryptionFailed("sealed item is truncated inside a chunk tag");
  if (last == kAeadTagBytes && count > 1)
    throw DecryptionFailed("sealed item ends with an empty chunk after full ones (truncated or extended)");
  if (count > chaotic::kMaxChunks) throw DecryptionFailed("sealed item has too many chunks");
  return {count, last};
}

}  // namespace

std::uint64_t sealed_size(std::uint64_t plaintext_bytes, std::size_t recipients) {
  std::uint64_t chunks = plaintext_bytes == 0 ? 1 : (plaintext_bytes + kSealChunkBytes - 1) / kSealChunkBytes;
  return header_bytes(recipients) + plaintext_bytes + chunks * kAeadTagBytes;
}

SealedHeader parse_sealed_header(ByteView sealed) {
  if (sealed.size() < kFixedHeaderBytes)
    throw DecodeError("sealed header truncated: " + std::to_string(sealed.size()) + " bytes");
  if (!std::equal(std::begin(kMagic), std::end(kMagic), sealed.begin()))
    throw DecodeError("not a tagger sealed item (bad magic)");
  if (sealed[6] != kVersion) throw DecodeError("unsupported sealed version " + std::to_string(sealed[6]));
  if (sealed[7] != kSuite) throw DecodeError("unsupported sealed suite " + std::to_string(sealed[7]));
  if (sealed[8] != kChunkLog2) throw DecodeError("unsupported chunk size 2^" + std::to_string(sealed[8]));
  if (sealed[9] != 0) throw DecodeError("reserved header byte is not zero");
  SealedHeader h;
  h.payload_header.assign(sealed.begin(), sealed.begin() + kSealPayloadHeaderBytes);
  std::copy(sealed.begin() + 10, sealed.begin() + 26, h.nonce.begin());
  std::size_t n = sealed[26] | (std::size_t{sealed[27]} << 8);
  if (n == 0) throw DecodeError("sealed header lists no recipient");
  h.size = header_bytes(n);
  if (sealed.size() < h.size)
    throw DecodeError("sealed header truncated: needs " + std::to_string(h.size) + " bytes, got " +
                      std::to_string(sealed.size()));
  h.stanzas.resize(n);
  for (std::size_t i = 0; i < n; ++i)
    std::copy_n(sealed.begin() + kFixedHeaderBytes + i * kSealStanzaBytes, kSealStanzaBytes, h.stanzas[i].begin());
  std::copy_n(sealed.begin() + (h.size - kSealMacBytes), kSealMacBytes, h.mac.begin());
  return h;
}

SecretBytes unwrap_data_key(const SealedHeader& h, const PrivateKey& key) {
  detail::PkeyPtr key_pair = detail::x25519_key_pair(key.raw(), key.public_key());
  for (const auto& st : h.stanzas) {
    auto dk = try_unwrap(st, key, key_pair.get(), h.payload_header);
    if (!dk) continue;
    // The MAC binds the recipient list to the data key; check it before use.
    Bytes body(h.payload_header);
    body.push_back(static_cast<std::uint8_t>(h.stanzas.size()));
    body.push_back(static_cast<std::uint8_t>(h.stanzas.size() >> 8));
    for (const auto& s : h.stanzas) body.insert(body.end(), s.begin(), s.end());
    Hash32 mac = header_mac(ByteView(dk->data(), dk->size()), h.nonce, body);
    if (!equal_ct(mac, h.mac)) throw DecryptionFailed("sealed header MAC does not verify (header tampered)");
    return std::move(*dk);
  }
  throw DecryptionFailed("no recipient stanza of this sealed item opens with this private key");
}

void seal_into(ByteView data, const std::vector<PublicKey>& recipients, std::uint8_t* out, unsigned threads) {
  if (recipients.empty()) throw InvalidArgument("seal needs at least one recipient");
  if (recipients.size() > kMaxRecipients)
    throw InvalidArgument("seal takes at most 65535 recipients, got " + std::to_string(recipients.size()));
  std::uint64_t chunks = data.empty() ? 1 : (data.size() + kSealChunkBytes - 1) / kSealChunkBytes;
  if (chunks > chaotic::kMaxChunks) throw InvalidArgument("item too large to seal (> 64 TiB)");
  std::array<std::uint8_t, kSealNonceBytes> nonce;
  Bytes ph = new_payload_header(nonce);
  SecretBytes dk(kDataKeyBytes);
  random_bytes(dk.data(), dk.size());
  ByteView dkv(dk.data(), dk.size());
  std::vector<std::array<std::uint8_t, kSealStanzaBytes>> stanzas;
  stanzas.reserve(recipients.size());
  for (const auto& r : recipients) stanzas.push_back(wrap_for(r, dkv, ph));
  Bytes header = build_header(ph, stanzas, dkv, nonce);
  PayloadKeys keys = payload_keys(dkv, nonce);

  std::copy(header.begin(), header.end(), out);
  std::uint8_t* body = out + header.size();
  ByteView aead_key(keys.aead.data(), keys.aead.size());
  util::parallel_for(chunks, threads, 4, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i) {
      std::size_t off = i * kSealChunkBytes, n = std::min(kSealChunkBytes, data.size() - off);
      std::uint8_t* dst = body + i * kSealedChunkBytes;
      keys.chaotic->encrypt_chunk(i, data.data() + off, n, dst);
      auto nn = chunk_nonce(i, i + 1 == chunks);
      aead_encrypt_into(Aead::Aes256Gcm, aead_key, nn, ByteView(dst, n), ph, dst);
    }
  });
}

Bytes seal(ByteView data, const std::vector<PublicKey>& recipients, unsigned threads) {
  Bytes out(sealed_size(data.size(), recipients.size()));
  seal_into(data, recipients, out.data(), threads);
  return out;
}

static SealedHeader parse_or_fail(ByteView sealed) {
  try {
    return parse_sealed_header(sealed);
  } catch (const DecodeError& e) {
    throw DecryptionFailed(std::string("sealed item is malformed: ") + e.what());
  }
}

std::uint64_t opened_size(ByteView sealed) {
  SealedHeader h = parse_or_fail(sealed);
  ChunkLayout lay = layout_of(sealed.size() - h.size);
  return sealed.size() - h.size - lay.count * kAeadTagBytes;
}

void open_sealed_into(ByteView sealed, const PrivateKey& key, std::uint8_t* out, unsigned threads) {
  SealedHeader h = parse_or_fail(sealed);
  ChunkLayout lay = layout_of(sealed.size() - h.size);
  const std::size_t out_size = static_cast<std::size_t>(sealed.size() - h.size - lay.count * kAeadTagBytes);
  SecretBytes dk = unwrap_data_key(h, key);
  PayloadKeys keys = payload_keys(ByteView(dk.data(), dk.size()), h.nonce);
  const std::uint8_t* body = sealed.data() + h.size;
  ByteView aead_key(keys.aead.data(), keys.aead.size());
  auto sealed_len = [&](std::size_t i) { return i + 1 == lay.count ? lay.last_sealed : kSealedChunkBytes; };
  // Pass 1: every tag, before any chaotic decryption (no plaintext exists yet).
  try {
    util::parallel_for(lay.count, threads, 4, [&](std::size_t b, std::size_t e) {
      for (std::size_t i = b; i < e; ++i) {
        auto nn = chunk_nonce(i, i + 1 == lay.count);
        aead_decrypt_into(Aead::Aes256Gcm, aead_key, nn, ByteView(body + i * kSealedChunkBytes, sealed_len(i)),
                          h.payload_header, out + i * kSealChunkBytes);
      }
    });
  } catch (const DecryptionFailed&) {
    secure_wipe(out, out_size);
    throw DecryptionFailed("sealed item failed authentication (tampered, truncated, reordered or extended)");
  }
  // Pass 2: undo the chaotic layer in place.
  util::parallel_for(lay.count, threads, 4, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i) {
      std::uint8_t* p = out + i * kSealChunkBytes;
      keys.chaotic->decrypt_chunk(i, p, sealed_len(i) - kAeadTagBytes, p);
    }
  });
}

Bytes open_sealed(ByteView sealed, const PrivateKey& key, unsigned threads) {
  Bytes out(static_cast<std::size_t>(opened_size(sealed)));
  open_sealed_into(sealed, key, out.data(), threads);
  return out;
}

Bytes rewrap_header(ByteView sealed, const PrivateKey& owner, const std::vector<PublicKey>& recipients,
                    bool keep_existing) {
  SealedHeader h = parse_or_fail(sealed);
  SecretBytes dk = unwrap_data_key(h, owner);
  ByteView dkv(dk.data(), dk.size());
  std::vector<std::array<std::uint8_t, kSealStanzaBytes>> stanzas;
  if (keep_existing) stanzas = h.stanzas;
  for (const auto& r : recipients) stanzas.push_back(wrap_for(r, dkv, h.payload_header));
  return build_header(h.payload_header, stanzas, dkv, h.nonce);
}

Bytes rewrap(ByteView sealed, const PrivateKey& owner, const std::vector<PublicKey>& recipients,
             bool keep_existing) {
  Bytes out = rewrap_header(sealed, owner, recipients, keep_existing);
  std::size_t old = parse_sealed_header(sealed).size;
  out.insert(out.end(), sealed.begin() + static_cast<std::ptrdiff_t>(old), sealed.end());
  return out;
}

// ---- streaming ----

struct SealWriter::Impl {
  Bytes header, payload_header;
  PayloadKeys keys;
  std::uint64_t next = 0;
  bool done = false;
};

SealWriter::SealWriter(const std::vector<PublicKey>& recipients) : impl_(std::make_unique<Impl>()) {
  if (recipients.empty()) throw InvalidArgument("seal needs at least one recipient");
  std::array<std::uint8_t, kSealNonceBytes> nonce;
  impl_->payload_header = new_payload_header(nonce);
  SecretBytes dk(kDataKeyBytes);
  random_bytes(dk.data(), dk.size());
  ByteView dkv(dk.data(), dk.size());
  std::vector<std::array<std::uint8_t, kSealStanzaBytes>> stanzas;
  for (const auto& r : recipients) stanzas.push_back(wrap_for(r, dkv, impl_->payload_header));
  impl_->header = build_header(impl_->payload_header, stanzas, dkv, nonce);
  impl_->keys = payload_keys(dkv, nonce);
}
SealWriter::~SealWriter() = default;
SealWriter::SealWriter(SealWriter&&) noexcept = default;
const Bytes& SealWriter::header() const { return impl_->header; }
bool SealWriter::finished() const { return impl_->done; }

void SealWriter::seal_chunk(ByteView chunk, bool last, std::uint8_t* out) {
  if (impl_->done) throw InvalidArgument("SealWriter: the last chunk was already sealed");
  if (!last && chunk.size() != kSealChunkBytes)
    throw InvalidArgument("SealWriter: a chunk before the last must be 65536 bytes, got " + std::to_string(chunk.size()));
  if (last && chunk.size() > kSealChunkBytes) throw InvalidArgument("SealWriter: chunk larger than 65536 bytes");
  if (last && chunk.empty() && impl_->next != 0)
    throw InvalidArgument("SealWriter: an empty last chunk is only allowed for an empty item");
  if (impl_->next >= chaotic::kMaxChunks) throw InvalidArgument("SealWriter: item too large");
  impl_->keys.chaotic->encrypt_chunk(impl_->next, chunk.data(), chunk.size(), out);
  auto nn = chunk_nonce(impl_->next, last);
  aead_encrypt_into(Aead::Aes256Gcm, ByteView(impl_->keys.aead.data(), impl_->keys.aead.size()), nn,
                    ByteView(out, chunk.size()), impl_->payload_header, out);
  ++impl_->next;
  impl_->done = last;
}

struct SealReader::Impl {
  SealedHeader header;
  PayloadKeys keys;
};

SealReader::SealReader(ByteView header_bytes, const PrivateKey& key) : impl_(std::make_unique<Impl>()) {
  impl_->header = parse_or_fail(header_bytes);
  SecretBytes dk = unwrap_data_key(impl_->header, key);
  impl_->keys = payload_keys(ByteView(dk.data(), dk.size()), impl_->header.nonce);
}
SealReader::~SealReader() = default;
SealReader::SealReader(SealReader&&) noexcept = default;
std::size_t SealReader::header_size() const { return impl_->header.size; }

void SealReader::verify_chunk(std::uint64_t index, ByteView sealed_chunk, bool last, std::uint8_t* out) const {
  if (sealed_chunk.size() < kAeadTagBytes || sealed_chunk.size() > kSealedChunkBytes ||
      (!last && sealed_chunk.size() != kSealedChunkBytes))
    throw DecryptionFailed("sealed chunk has an impossible size (truncated)");
  if (index >= chaotic::kMaxChunks) throw DecryptionFailed("sealed chunk index out of range");
  auto nn = chunk_nonce(index, last);
  aead_decrypt_into(Aead::Aes256Gcm, ByteView(impl_->keys.aead.data(), impl_->keys.aead.size()), nn, sealed_chunk,
                    impl_->header.payload_header, out);
}

void SealReader::open_chunk(std::uint64_t index, ByteView sealed_chunk, bool last, std::uint8_t* out) const {
  verify_chunk(index, sealed_chunk, last, out);
  impl_->keys.chaotic->decrypt_chunk(index, out, sealed_chunk.size() - kAeadTagBytes, out);
}

// ---- files ----

namespace {

struct File {
  std::FILE* f = nullptr;
  File(const std::string& path, const char* mode) : f(std::fopen(path.c_str(), mode)) {
    if (!f) throw InvalidArgument("cannot open '" + path + "': " + std::strerror(errno));
  }
  ~File() {
    if (f) std::fclose(f);
  }
  std::size_t read(std::uint8_t* p, std::size_t n) {
    std::size_t got = 0;
    while (got < n) {
      std::size_t r = std::fread(p + got, 1, n - got, f);
      if (r == 0) {
        if (std::ferror(f)) throw InvalidArgument(std::string("read failed: ") + std::strerror(errno));
        break;
      }
      got += r;
    }
    return got;
  }
  void write(const std::uint8_t* p, std::size_t n) {
    if (std::fwrite(p, 1, n, f) != n) throw InvalidArgument(std::string("write failed: ") + std::strerror(errno));
  }
  void sync_close() {
    if (std::fflush(f) != 0 || ::fsync(::fileno(f)) != 0 || std::fclose(f) != 0) {
      f = nullptr;
      throw InvalidArgument(std::string("fsync/close failed: ") + std::strerror(errno));
    }
    f = nullptr;
  }
};

// Writes dst through dst.tmp-XXXX in the same folder, renamed over dst on
// success and removed on any failure.
template <class Body>
void write_atomically(const std::string& dst, Body&& body) {
  std::string tmp = dst + ".tmp-" + to_hex(random_bytes(6));
  try {
    File out(tmp, "wb");
    body(out);
    out.sync_close();
    std::filesystem::rename(tmp, dst);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
}

}  // namespace

void seal_file(const std::string& src, const std::string& dst, const std::vector<PublicKey>& recipients) {
  File in(src, "rb");
  SealWriter w(recipients);
  write_atomically(dst, [&](File& out) {
    out.write(w.header().data(), w.header().size());
    Bytes cur(kSealChunkBytes), next(kSealChunkBytes), sealed(kSealedChunkBytes);
    std::size_t n = in.read(cur.data(), cur.size());
    for (;;) {
      // Read ahead one chunk: a chunk is the last one iff nothing follows it.
      std::size_t m = n == kSealChunkBytes ? in.read(next.data(), next.size()) : 0;
      bool last = m == 0;
      w.seal_chunk(ByteView(cur.data(), n), last, sealed.data());
      out.write(sealed.data(), n + kAeadTagBytes);
      if (last) break;
      std::swap(cur, next);
      n = m;
    }
  });
}

void open_sealed_file(const std::string& src, const std::string& dst, const PrivateKey& key) {
  std::uint64_t total = std::filesystem::file_size(src);
  File in(src, "rb");
  Bytes head(std::min<std::uint64_t>(total, header_bytes(kMaxRecipients)));
  head.resize(in.read(head.data(), head.size()));
  SealReader reader(head, key);
  const std::size_t hs = reader.header_size();
  ChunkLayout lay = layout_of(total - hs);
  Bytes sealed(kSealedChunkBytes), plain(kSealChunkBytes);
  auto pass = [&](bool decrypt, File* out) {
    if (std::fseek(in.f, static_cast<long>(hs), SEEK_SET) != 0) throw InvalidArgument("seek failed");
    for (std::uint64_t i = 0; i < lay.count; ++i) {
      bool last = i + 1 == lay.count;
      std::size_t len = last ? lay.last_sealed : kSealedChunkBytes;
      if (in.read(sealed.data(), len) != len) throw DecryptionFailed("sealed file changed while being read");
      if (decrypt) {
        reader.open_chunk(i, ByteView(sealed.data(), len), last, plain.data());
        out->write(plain.data(), len - kAeadTagBytes);
      } else {
        reader.verify_chunk(i, ByteView(sealed.data(), len), last, plain.data());
      }
    }
  };
  // Pass 1 checks every tag, so a bad file leaves no output at all; pass 2
  // re-checks each tag as it decrypts (the file could change in between).
  pass(false, nullptr);
  write_atomically(dst, [&](File& out) { pass(true, &out); });
  secure_wipe(plain.data(), plain.size());
}

}  // namespace tagger::crypto
