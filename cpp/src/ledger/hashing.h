// Hashing helpers for the ledger's hot paths: SHA-256 through a reused
// per-thread EVP context (no allocation per call), domain-tagged hashes, and
// CRC-32C for log framing.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>

#include "tagger/bytes.h"

namespace tagger::ledger::detail {

// SHA-256 over the concatenation of `parts`.
Hash32 sha256_parts(std::initializer_list<ByteView> parts);
// SHA-256(domain || 0x00 || parts...): every hash the ledger signs or chains
// carries a domain string, so no two kinds of record can collide.
Hash32 tagged_hash(std::string_view domain, std::initializer_list<ByteView> parts);

// CRC-32C (Castagnoli), hardware-accelerated where the CPU has SSE4.2.
std::uint32_t crc32c(ByteView data, std::uint32_t init = 0);
// leveldb's masking: a CRC stored next to data that itself holds CRCs.
inline std::uint32_t crc_mask(std::uint32_t c) { return ((c >> 15) | (c << 17)) + 0xa282ead8u; }

inline void put_be64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) { p[i] = static_cast<std::uint8_t>(v); v >>= 8; }
}
inline void put_be32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 3; i >= 0; --i) { p[i] = static_cast<std::uint8_t>(v); v >>= 8; }
}
inline std::uint32_t get_be32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | std::uint32_t(p[3]);
}
inline void put_le32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) { p[i] = static_cast<std::uint8_t>(v); v >>= 8; }
}
inline std::uint32_t get_le32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 | std::uint32_t(p[3]) << 24;
}

}  // namespace tagger::ledger::detail
