// validate_text: the reasons a description cannot be matched, checked before
// any model runs so the caller gets the cause instead of a meaningless score.
#include <algorithm>
#include <cstdint>
#include <iterator>
#include <string>

#include "letter_table.h"
#include "tagger/errors.h"
#include "tagger/match.h"

namespace tagger::match {
namespace {

// Ranges of the scripts we can name in a message (which letters count, and as which kind, is
// letter_table.h's); letters outside them are "another script".
struct Script {
  char32_t lo, hi;
  const char* name;
};
constexpr Script kScripts[] = {
    {0x0370, 0x03FF, "Greek"},      {0x0400, 0x052F, "Cyrillic"},   {0x0530, 0x058F, "Armenian"},
    {0x0590, 0x05FF, "Hebrew"},     {0x0600, 0x06FF, "Arabic"},     {0x0750, 0x077F, "Arabic"},
    {0x0900, 0x097F, "Devanagari"}, {0x0980, 0x0DFF, "Indic"},      {0x0E00, 0x0E7F, "Thai"},
    {0x10A0, 0x10FF, "Georgian"},   {0x1100, 0x11FF, "Hangul"},     {0x3040, 0x30FF, "Japanese kana"},
    {0x3400, 0x4DBF, "CJK"},        {0x4E00, 0x9FFF, "CJK"},        {0xAC00, 0xD7AF, "Hangul"},
    // (2026-12-07) scripts whose letters were counted as no letters at all: their letter
    // ranges, not the digits and punctuation of their blocks
    {0x0E81, 0x0EC6, "Lao"},        {0x0F40, 0x0F6C, "Tibetan"},    {0x1000, 0x102A, "Myanmar"},
    {0x1200, 0x135A, "Ethiopic"},   {0x1380, 0x138F, "Ethiopic"},   {0x13A0, 0x13F5, "Cherokee"},
    {0x1401, 0x166C, "Canadian syllabics"}, {0x1780, 0x17B3, "Khmer"}, {0x1820, 0x1878, "Mongolian"},
    {0xA000, 0xA48C, "Yi"},         {0xA4D0, 0xA4FD, "Lisu"},       {0x10330, 0x1034A, "Gothic"},
    {0x12000, 0x12399, "Cuneiform"}, {0x20000, 0x2EBEF, "CJK"},
    {0x3130, 0x318F, "Hangul"},     {0xFF66, 0xFF9D, "Japanese kana"}, {0xFFA0, 0xFFDC, "Hangul"},
    {0x16A0, 0x16F8, "Runic"},      {0x2C00, 0x2C5F, "Glagolitic"}, {0x2C80, 0x2CFF, "Coptic"},
};

bool in_ranges(char32_t c, const detail::CodeRange* first, const detail::CodeRange* last) {
  const auto* it = std::upper_bound(first, last, c, [](char32_t v, const detail::CodeRange& r) { return v < r.lo; });
  return it != first && c <= (it - 1)->hi;
}

// Latin letters, and what NFKC (which the tokenizer applies) makes Latin letters only: the
// fullwidth forms, the mathematical alphanumerics, circled letters ("ⓒ" is "c"). They were
// reported as no_letters while they scored like the text they spell.
bool is_latin_letter(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  return in_ranges(c, std::begin(detail::kLatinRanges), std::end(detail::kLatinRanges));
}

// A letter (general category L*) of any other script. A hand-made list of script ranges
// counted Hangul compatibility jamo, halfwidth katakana, Runic, Latin IPA ... as no letters,
// and the digits and signs inside the ranges it had (Arabic number signs) as letters.
bool is_other_letter(char32_t c) {
  return c >= 0x80 && in_ranges(c, std::begin(detail::kOtherLetterRanges), std::end(detail::kOtherLetterRanges));
}

// White space as Unicode (and Python's str.isspace) defines it, with the C0 controls and
// DEL: a text of only these is empty. U+3000 and U+2028 read as no_letters before.
bool is_blank(char32_t c) {
  return c <= ' ' || c == 0x7F || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Decodes one UTF-8 code point at text[i], advancing i; returns false on a
// malformed or overlong sequence.
bool next_code_point(std::string_view t, std::size_t& i, char32_t& out) {
  auto b0 = static_cast<unsigned char>(t[i]);
  int len = b0 < 0x80 ? 1 : (b0 >> 5) == 0x6 ? 2 : (b0 >> 4) == 0xE ? 3 : (b0 >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > t.size()) return false;
  char32_t c = len == 1 ? b0 : len == 2 ? (b0 & 0x1F) : len == 3 ? (b0 & 0x0F) : (b0 & 0x07);
  for (int k = 1; k < len; ++k) {
    auto b = static_cast<unsigned char>(t[i + k]);
    if ((b >> 6) != 0x2) return false;
    c = (c << 6) | (b & 0x3F);
  }
  static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (c < kMin[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return false;
  i += len;
  out = c;
  return true;
}

}  // namespace

TextSignal text_signal(std::string_view text, bool latin_only) {
  std::size_t latin = 0, other = 0, visible = 0;
  for (std::size_t i = 0; i < text.size();) {
    char32_t c;
    if (!next_code_point(text, i, c)) return TextSignal::invalid_utf8;
    if (!is_blank(c)) ++visible;
    if (is_latin_letter(c)) ++latin;
    else if (is_other_letter(c)) ++other;
  }
  if (visible == 0) return TextSignal::empty;
  if (latin + other == 0) return TextSignal::no_letters;
  if (latin_only && other * 2 > latin + other) return TextSignal::unsupported_script;
  return TextSignal::ok;
}

const char* text_signal_name(TextSignal s) {
  switch (s) {
    case TextSignal::ok: return "ok";
    case TextSignal::empty: return "empty";
    case TextSignal::no_letters: return "no_letters";
    case TextSignal::unsupported_script: return "unsupported_script";
    case TextSignal::invalid_utf8: return "invalid_utf8";
    case TextSignal::unseen: return "unseen";
  }
  return "unknown";
}

void validate_text(std::string_view text, std::string_view what) {
  const std::string name(what);
  if (text.empty()) throw InvalidArgument(name + " is empty");
  std::size_t latin = 0, other = 0;
  const char* dominant = nullptr;
  std::size_t counts[std::size(kScripts)] = {};
  for (std::size_t i = 0; i < text.size();) {
    std::size_t at = i;
    char32_t c;
    if (!next_code_point(text, i, c))
      throw InvalidArgument(name + " is not valid UTF-8 (bad byte at offset " + std::to_string(at) + ")");
    if (is_latin_letter(c)) {
      ++latin;
    } else if (is_other_letter(c)) {
      ++other;
      for (std::size_t s = 0; s < std::size(kScripts); ++s)
        if (c >= kScripts[s].lo && c <= kScripts[s].hi) ++counts[s];
    }
  }
  if (latin + other == 0) throw InvalidArgument(name + " contains no letters: nothing to match");
  if (other * 2 > latin + other) {
    std::size_t best = 0;
    dominant = "another script";  // letters of none of the scripts named above
    for (std::size_t s = 0; s < std::size(kScripts); ++s)
      if (counts[s] > best) best = counts[s], dominant = kScripts[s].name;
    throw InvalidArgument(name + " is written in an unsupported script (" + dominant + ", " +
                          std::to_string(other) + " of " + std::to_string(latin + other) +
                          " letters): the shipped tokenizer and catalog cover Latin-script English");
  }
}

}  // namespace tagger::match
