#include "ledger/hashing.h"

#include <openssl/evp.h>

#include <array>
#include <memory>

#include "tagger/errors.h"

namespace tagger::ledger::detail {
namespace {

const EVP_MD* md() {
  static EVP_MD* m = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (m == nullptr) throw CryptoError("EVP_MD_fetch(SHA256) failed");
  return m;
}

struct CtxFree { void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); } };

EVP_MD_CTX* thread_ctx() {
  thread_local std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx) throw CryptoError("EVP_MD_CTX_new failed");
  return ctx.get();
}

std::array<std::uint32_t, 256> make_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    t[i] = c;
  }
  return t;
}

std::uint32_t crc_soft(const std::uint8_t* p, std::size_t n, std::uint32_t c) {
  static const auto table = make_table();
  for (std::size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) std::uint32_t crc_hw(const std::uint8_t* p, std::size_t n, std::uint32_t c) {
  std::uint64_t c64 = c;
  while (n >= 8) {
    std::uint64_t v;
    __builtin_memcpy(&v, p, 8);
    c64 = __builtin_ia32_crc32di(c64, v);
    p += 8;
    n -= 8;
  }
  std::uint32_t c32 = static_cast<std::uint32_t>(c64);
  while (n-- > 0) c32 = __builtin_ia32_crc32qi(c32, *p++);
  return c32;
}
#endif

}  // namespace

Hash32 sha256_parts(std::initializer_list<ByteView> parts) {
  EVP_MD_CTX* ctx = thread_ctx();
  Hash32 out;
  unsigned int len = 0;
  if (EVP_DigestInit_ex(ctx, md(), nullptr) != 1) throw CryptoError("SHA-256 init failed");
  for (ByteView p : parts)
    if (!p.empty() && EVP_DigestUpdate(ctx, p.data(), p.size()) != 1) throw CryptoError("SHA-256 update failed");
  if (EVP_DigestFinal_ex(ctx, out.data(), &len) != 1) throw CryptoError("SHA-256 final failed");
  return out;
}

Hash32 tagged_hash(std::string_view domain, std::initializer_list<ByteView> parts) {
  EVP_MD_CTX* ctx = thread_ctx();
  Hash32 out;
  unsigned int len = 0;
  static const std::uint8_t zero = 0;
  if (EVP_DigestInit_ex(ctx, md(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx, domain.data(), domain.size()) != 1 || EVP_DigestUpdate(ctx, &zero, 1) != 1)
    throw CryptoError("SHA-256 init failed");
  for (ByteView p : parts)
    if (!p.empty() && EVP_DigestUpdate(ctx, p.data(), p.size()) != 1) throw CryptoError("SHA-256 update failed");
  if (EVP_DigestFinal_ex(ctx, out.data(), &len) != 1) throw CryptoError("SHA-256 final failed");
  return out;
}

std::uint32_t crc32c(ByteView data, std::uint32_t init) {
  std::uint32_t c = ~init;
#if defined(__x86_64__)
  static const bool hw = __builtin_cpu_supports("sse4.2");
  c = hw ? crc_hw(data.data(), data.size(), c) : crc_soft(data.data(), data.size(), c);
#else
  c = crc_soft(data.data(), data.size(), c);
#endif
  return ~c;
}

}  // namespace tagger::ledger::detail
