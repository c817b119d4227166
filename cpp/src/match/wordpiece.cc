// WordPiece: BERT's uncased tokenizer, written to give the same ids as the
// Hugging Face one on the text the static embedding meets (English, Latin
// script). Lowercasing and accent stripping cover ASCII, Latin-1 and Latin
// Extended-A by code, Latin Extended-B, Greek, Cyrillic, Latin Extended
// Additional and Greek Extended by a generated table (match/fold_table.h), and
// the combining marks of those blocks, instead of a full Unicode database:
// outside those ranges a character passes through unchanged, which only ever
// costs an [UNK].
#include <algorithm>
#include <iterator>
#include <unordered_map>

#include "match/fold_table.h"
#include "tagger/errors.h"
#include "tagger/static_embedding.h"

namespace tagger::match {

namespace {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using TokenMap = std::unordered_map<std::string, int, StringHash, std::equal_to<>>;

constexpr char32_t kBad = 0xFFFD;

char32_t next_cp(std::string_view s, std::size_t& i) {
  auto c = static_cast<unsigned char>(s[i]);
  int n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
  if (n < 0) { ++i; return kBad; }
  char32_t cp = n == 0 ? c : n == 1 ? (c & 0x1F) : n == 2 ? (c & 0x0F) : (c & 0x07);
  for (int k = 1; k <= n; ++k) {
    if (i + k >= s.size()) { ++i; return kBad; }
    auto d = static_cast<unsigned char>(s[i + k]);
    if ((d >> 6) != 2) { ++i; return kBad; }
    cp = (cp << 6) | (d & 0x3F);
  }
  i += n + 1;
  return cp;
}

void put_cp(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool is_space(char32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

// Cc and Cf characters BERT's cleaner drops (tab, newline, CR are spaces).
bool is_control(char32_t c) {
  return c == 0 || c == kBad || (c < 0x20) || (c >= 0x7F && c <= 0x9F) || c == 0xAD || (c >= 0x200B && c <= 0x200F) ||
         (c >= 0x202A && c <= 0x202E) || (c >= 0x2060 && c <= 0x2064) || c == 0xFEFF;
}

bool is_punct(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  return c == 0xA1 || c == 0xA7 || c == 0xAB || c == 0xB6 || c == 0xB7 || c == 0xBB || c == 0xBF || c == 0x37E ||
         c == 0x387 || (c >= 0x2010 && c <= 0x2027) || (c >= 0x2030 && c <= 0x2043) || (c >= 0x2045 && c <= 0x2051) ||
         (c >= 0x2053 && c <= 0x205E) || (c >= 0x3001 && c <= 0x3003) || (c >= 0x3008 && c <= 0x3011) ||
         (c >= 0x3014 && c <= 0x301F) || (c >= 0xFF01 && c <= 0xFF03) || (c >= 0xFF05 && c <= 0xFF0A) ||
         (c >= 0xFF0C && c <= 0xFF0F) || c == 0xFF1A || c == 0xFF1B || c == 0xFF1F || c == 0xFF20;
}

bool is_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2CEAF) || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// Lowercase, then the NFD base letter with combining marks removed; 0 drops the character.
char32_t fold(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  if (c >= 0x300 && c <= 0x36F) return 0;  // combining marks (Mn)
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) c += 0x20;
  if (c >= 0xE0 && c <= 0xFF) {
    static constexpr char32_t latin1[32] = {'a', 'a', 'a', 'a', 'a', 'a', 0xE6, 'c', 'e', 'e', 'e', 'e', 'i', 'i', 'i', 'i',
                                            0xF0, 'n', 'o', 'o', 'o', 'o', 'o', 0xF7, 0xF8, 'u', 'u', 'u', 'u', 'y', 0xFE, 'y'};
    return latin1[c - 0xE0];
  }
  if (c >= 0x100 && c <= 0x17F) {
    if (c == 0x178) return 'y';
    if (c == 0x130) return 'i';
    bool upper = false;  // upper/lower pairs: even/odd up to 0x137 and 0x14A..0x177, odd/even elsewhere
    if (c <= 0x137 || (c >= 0x14A && c <= 0x177)) upper = c % 2 == 0;
    else if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) upper = c % 2 == 1;
    if (upper) ++c;
    // Base letter of each lowercase code point (0 = no decomposition, keep).
    static constexpr struct { char32_t lo, hi; char base; } ranges[] = {
        {0x100, 0x105, 'a'}, {0x106, 0x10D, 'c'}, {0x10E, 0x10F, 'd'}, {0x112, 0x11B, 'e'}, {0x11C, 0x123, 'g'},
        {0x124, 0x125, 'h'}, {0x128, 0x130, 'i'}, {0x134, 0x135, 'j'}, {0x136, 0x137, 'k'}, {0x139, 0x13E, 'l'},
        {0x143, 0x148, 'n'}, {0x14C, 0x151, 'o'}, {0x154, 0x159, 'r'}, {0x15A, 0x161, 's'}, {0x162, 0x165, 't'},
        {0x168, 0x173, 'u'}, {0x174, 0x175, 'w'}, {0x176, 0x177, 'y'}, {0x179, 0x17E, 'z'}};
    for (const auto& r : ranges)
      if (c >= r.lo && c <= r.hi) return static_cast<char32_t>(r.base);
    return c;
  }
  if (c < 0x2000) {
    // Latin Extended-B, Greek, Cyrillic, Latin Extended Additional, Greek Extended: the generated
    // table (only capitals were lowered before, and no accent was stripped: "й", "ё", "ά" and
    // every Greek word with a tonos were [UNK], where BERT folds them to "и", "е", "α").
    const auto* end = std::end(detail::kFoldTable);
    const auto* it = std::lower_bound(std::begin(detail::kFoldTable), end, c,
                                      [](const detail::FoldPair& p, char32_t x) { return p.from < x; });
    if (it != end && it->from == c) return it->to;
  }
  return c;
}

}  // namespace

struct WordPiece::Impl {
  std::vector<std::string> vocab;
  TokenMap words;          // whole-word pieces
  TokenMap continuations;  // "##x" stored as "x"
  int unk = 0;
  std::size_t max_piece_bytes = 0;

  // BERT's BasicTokenizer: clean, split CJK, split on space, fold, split punctuation.
  template <class Fn>
  void words_of(std::string_view text, Fn&& emit) const {
    std::string word;
    auto flush = [&] {
      if (!word.empty()) emit(std::string_view(word)), word.clear();
    };
    std::size_t i = 0;
    while (i < text.size()) {
      char32_t c = next_cp(text, i);
      if (is_space(c)) { flush(); continue; }
      if (is_control(c)) continue;
      c = fold(c);
      if (c == 0) continue;
      if (is_punct(c) || is_cjk(c)) {
        flush();
        put_cp(word, c);
        flush();
        continue;
      }
      put_cp(word, c);
    }
    flush();
  }

  // Greedy longest-match-first; a word with any untokenizable rest is one [UNK].
  void pieces_of(std::string_view word, std::vector<int>& out) const {
    std::size_t n_chars = 0;
    for (unsigned char ch : word) n_chars += (ch & 0xC0) != 0x80;
    if (n_chars > 100) { out.push_back(unk); return; }
    const std::size_t mark = out.size();
    std::size_t start = 0;
    while (start < word.size()) {
      std::size_t end = std::min(word.size(), start + max_piece_bytes);
      int found = -1;
      const TokenMap& map = start == 0 ? words : continuations;
      while (end > start) {
        while (end < word.size() && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80) --end;  // whole characters
        if (end <= start) break;
        auto it = map.find(word.substr(start, end - start));
        if (it != map.end()) { found = it->second; break; }
        --end;
      }
      if (found < 0) {
        out.resize(mark);
        out.push_back(unk);
        return;
      }
      out.push_back(found);
      start = end;
    }
  }
};

WordPiece WordPiece::from_vocab(std::vector<std::string> vocab) {
  if (vocab.empty()) throw InvalidArgument("WordPiece vocabulary is empty");
  auto impl = std::make_shared<Impl>();
  impl->unk = -1;
  for (std::size_t i = 0; i < vocab.size(); ++i) {
    const std::string& t = vocab[i];
    int id = static_cast<int>(i);
    if (t == "[UNK]") impl->unk = id;
    if (t.size() > 2 && t.compare(0, 2, "##") == 0) impl->continuations.try_emplace(t.substr(2), id);
    else impl->words.try_emplace(t, id);
    impl->max_piece_bytes = std::max(impl->max_piece_bytes, t.size());
  }
  if (impl->unk < 0) throw InvalidArgument("WordPiece vocabulary has no [UNK] token");
  impl->vocab = std::move(vocab);
  return WordPiece(std::move(impl));
}

std::vector<int> WordPiece::encode(std::string_view text) const {
  std::vector<int> ids;
  impl_->words_of(text, [&](std::string_view w) { impl_->pieces_of(w, ids); });
  return ids;
}

std::vector<std::string> WordPiece::tokenize(std::string_view text) const {
  std::vector<std::string> out;
  for (int id : encode(text)) out.push_back(impl_->vocab[id]);
  return out;
}

int WordPiece::vocab_size() const { return static_cast<int>(impl_->vocab.size()); }
int WordPiece::unk_id() const { return impl_->unk; }

const std::string& WordPiece::token(int id) const {
  if (id < 0 || id >= vocab_size()) throw InvalidArgument("token id " + std::to_string(id) + " out of range");
  return impl_->vocab[static_cast<std::size_t>(id)];
}

}  // namespace tagger::match
