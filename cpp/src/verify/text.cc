// Text statistics: UTF-8 validation, character classes and scripts in one pass.
#include <algorithm>

#include "tagger/errors.h"
#include "tagger/verify.h"
#include "verify/utf8.h"

namespace tagger::verify {
namespace {

constexpr const char* kScriptNames[kScriptCount] = {
    "Latin", "Greek", "Cyrillic", "Armenian", "Hebrew", "Arabic", "Devanagari", "Bengali", "Tamil",
    "Thai", "Georgian", "Hangul", "Hiragana", "Katakana", "Han", "Ethiopic", "Other"};

struct Range {
  char32_t lo, hi;
  Script script;
};

// Letter blocks by script (sorted by lo). Ranges inside that hold digits are
// handled before this table is consulted.
constexpr Range kLetterRanges[] = {
    {0x0041, 0x005A, Script::Latin},     {0x0061, 0x007A, Script::Latin},
    {0x00AA, 0x00AA, Script::Latin},     {0x00BA, 0x00BA, Script::Latin},
    {0x00C0, 0x00D6, Script::Latin},     {0x00D8, 0x00F6, Script::Latin},
    {0x00F8, 0x02AF, Script::Latin},     {0x0370, 0x03FF, Script::Greek},
    {0x0400, 0x052F, Script::Cyrillic},  {0x0531, 0x058F, Script::Armenian},
    {0x0591, 0x05FF, Script::Hebrew},    {0x0600, 0x06FF, Script::Arabic},
    {0x0750, 0x077F, Script::Arabic},    {0x08A0, 0x08FF, Script::Arabic},
    {0x0900, 0x097F, Script::Devanagari}, {0x0980, 0x09FF, Script::Bengali},
    {0x0B80, 0x0BFF, Script::Tamil},     {0x0E00, 0x0E7F, Script::Thai},
    {0x10A0, 0x10FF, Script::Georgian},  {0x1100, 0x11FF, Script::Hangul},
    {0x1200, 0x139F, Script::Ethiopic},  {0x1C80, 0x1C8F, Script::Cyrillic},
    {0x1C90, 0x1CBF, Script::Georgian},  {0x1E00, 0x1EFF, Script::Latin},
    {0x1F00, 0x1FFF, Script::Greek},     {0x2C60, 0x2C7F, Script::Latin},
    {0x2DE0, 0x2DFF, Script::Cyrillic},  {0x3005, 0x3007, Script::Han},
    {0x3040, 0x309F, Script::Hiragana},  {0x30A0, 0x30FF, Script::Katakana},
    {0x3130, 0x318F, Script::Hangul},    {0x31F0, 0x31FF, Script::Katakana},
    {0x3400, 0x4DBF, Script::Han},       {0x4E00, 0x9FFF, Script::Han},
    {0xA640, 0xA69F, Script::Cyrillic},  {0xA720, 0xA7FF, Script::Latin},
    {0xAC00, 0xD7AF, Script::Hangul},    {0xF900, 0xFAFF, Script::Han},
    {0xFB1D, 0xFB4F, Script::Hebrew},    {0xFB50, 0xFDFF, Script::Arabic},
    {0xFE70, 0xFEFF, Script::Arabic},    {0xFF21, 0xFF3A, Script::Latin},
    {0xFF41, 0xFF5A, Script::Latin},     {0xFF66, 0xFF9F, Script::Katakana},
    {0x20000, 0x2FA1F, Script::Han},
};

bool is_digit(char32_t c) {
  return (c >= '0' && c <= '9') || (c >= 0x0660 && c <= 0x0669) || (c >= 0x06F0 && c <= 0x06F9) ||
         (c >= 0x0966 && c <= 0x096F) || (c >= 0x09E6 && c <= 0x09EF) || (c >= 0x0BE6 && c <= 0x0BEF) ||
         (c >= 0x0E50 && c <= 0x0E59) || (c >= 0xFF10 && c <= 0xFF19);
}

// Code points that are neither letters of a script nor letters of "Other":
// ASCII non-letters, Latin-1 symbols, combining marks, punctuation, symbols,
// CJK punctuation, emoji, private use, specials.
bool is_common(char32_t c) {
  return c < 0x80 || (c >= 0x80 && c <= 0xBF) || c == 0xD7 || c == 0xF7 || (c >= 0x02B0 && c <= 0x036F) ||
         (c >= 0x2000 && c <= 0x2BFF) || (c >= 0x3000 && c <= 0x303F) || (c >= 0xE000 && c <= 0xF8FF) ||
         (c >= 0xFE00 && c <= 0xFE6F) || (c >= 0xFFF0 && c <= 0xFFFF) || (c >= 0x1F000 && c <= 0x1FAFF) ||
         (c >= 0xF0000);
}

}  // namespace

const char* script_name(Script s) noexcept { return kScriptNames[static_cast<std::size_t>(s)]; }

Script script_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kScriptCount; ++i)
    if (name == kScriptNames[i]) return static_cast<Script>(i);
  std::string known;
  for (std::size_t i = 0; i < kScriptCount; ++i) known += std::string(i ? ", " : "") + kScriptNames[i];
  throw InvalidArgument("unknown script '" + std::string(name) + "' (known: " + known + ")");
}

bool is_unicode_space(char32_t c) noexcept {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

TextStats text_stats(std::string_view text) noexcept {
  TextStats st;
  st.bytes = text.size();
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t start = pos;
    char32_t c = utf8::next(text, pos);
    if (c == utf8::kInvalid) {
      st.valid_utf8 = false;
      st.invalid_offset = start;
      break;
    }
    ++st.chars;
    if (is_unicode_space(c)) { ++st.spaces; continue; }
    if ((c < 0x20) || c == 0x7F || (c >= 0x80 && c <= 0x9F) || c == 0xFFFD) { ++st.controls; continue; }
    if (is_digit(c)) { ++st.digits; continue; }
    Script s = Script::Other;
    auto it = std::upper_bound(std::begin(kLetterRanges), std::end(kLetterRanges), c,
                               [](char32_t v, const Range& r) { return v < r.lo; });
    if (it != std::begin(kLetterRanges) && c <= std::prev(it)->hi) s = std::prev(it)->script;
    else if (is_common(c)) continue;
    ++st.letters;
    ++st.script_letters[static_cast<std::size_t>(s)];
  }
  if (!st.valid_utf8) {
    st.chars = st.letters = st.digits = st.spaces = st.controls = 0;
    st.script_letters.fill(0);
  }
  return st;
}

Script TextStats::dominant_script() const noexcept {
  if (letters == 0) return Script::Other;
  auto it = std::max_element(script_letters.begin(), script_letters.end());
  return static_cast<Script>(it - script_letters.begin());
}

double TextStats::script_fraction(const std::vector<Script>& allowed) const noexcept {
  if (letters == 0) return 1.0;
  std::size_t in = 0;
  for (std::size_t i = 0; i < kScriptCount; ++i)
    if (std::find(allowed.begin(), allowed.end(), static_cast<Script>(i)) != allowed.end()) in += script_letters[i];
  return static_cast<double>(in) / static_cast<double>(letters);
}

}  // namespace tagger::verify
