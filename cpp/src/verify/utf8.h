// Strict UTF-8 decoding (RFC 3629): no overlong forms, no surrogates, nothing
// above U+10FFFF. Shared by the text checks and the shingler.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace tagger::verify {

bool is_unicode_space(char32_t c) noexcept;

namespace utf8 {

inline constexpr char32_t kInvalid = 0xFFFFFFFF;

// Decodes the code point at s[pos] and advances pos past it; on a bad
// sequence returns kInvalid and advances pos by one byte.
inline char32_t next(std::string_view s, std::size_t& pos) noexcept {
  auto b = [&](std::size_t i) { return static_cast<std::uint8_t>(s[i]); };
  std::uint8_t c0 = b(pos);
  if (c0 < 0x80) { ++pos; return c0; }
  std::size_t n;
  char32_t cp, min;
  if ((c0 & 0xE0) == 0xC0) { n = 1; cp = c0 & 0x1F; min = 0x80; }
  else if ((c0 & 0xF0) == 0xE0) { n = 2; cp = c0 & 0x0F; min = 0x800; }
  else if ((c0 & 0xF8) == 0xF0) { n = 3; cp = c0 & 0x07; min = 0x10000; }
  else { ++pos; return kInvalid; }
  if (pos + n >= s.size()) { ++pos; return kInvalid; }  // sequence runs past the end
  for (std::size_t i = 1; i <= n; ++i) {
    std::uint8_t ci = b(pos + i);
    if ((ci & 0xC0) != 0x80) { ++pos; return kInvalid; }
    cp = (cp << 6) | (ci & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) { ++pos; return kInvalid; }
  pos += n + 1;
  return cp;
}

// The code points of s; an invalid byte is a unit of its own (0x110000 + the byte),
// distinct from every code point.
inline std::vector<char32_t> code_points(std::string_view s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  for (std::size_t pos = 0; pos < s.size();) {
    const std::size_t at = pos;
    const char32_t c = next(s, pos);
    out.push_back(c == kInvalid ? 0x110000 + static_cast<std::uint8_t>(s[at]) : c);
  }
  return out;
}

}  // namespace utf8
}  // namespace tagger::verify
