// Tokenizer: a thin owner of a sentencepiece processor. The processor is
// immutable after loading, so one instance is shared by every copy and thread.
#include <sentencepiece_processor.h>

#include <cctype>
#include <fstream>
#include <sstream>
#include <string_view>

#include "tagger/errors.h"
#include "tagger/match.h"
#include "util/parallel.h"

namespace tagger::match {

struct Tokenizer::Impl {
  sentencepiece::SentencePieceProcessor sp;
  std::string serialized;
};

namespace {

// Whether the serialized ModelProto has a top-level field `number` (protobuf wire format:
// varint tag = number << 3 | wire type). A model cut right after its trainer settings is
// still a valid proto, and sentencepiece loaded it with default normalization: no NFKC, no
// lower-casing, every capital an unknown byte. The trainer always writes normalizer_spec (3).
bool has_field(std::string_view proto, std::uint64_t number) {
  std::size_t at = 0;
  auto varint = [&](std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64 && at < proto.size(); shift += 7) {
      const auto byte = static_cast<unsigned char>(proto[at++]);
      v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return true;
    }
    return false;
  };
  while (at < proto.size()) {
    std::uint64_t tag, n;
    if (!varint(tag)) return false;
    if ((tag >> 3) == number) return true;
    switch (tag & 7) {
      case 0: if (!varint(n)) return false; break;
      case 1: at += 8; break;
      case 2: if (!varint(n) || n > proto.size() - at) return false; at += n; break;
      case 5: at += 4; break;
      default: return false;
    }
  }
  return false;
}

std::shared_ptr<const Tokenizer::Impl> load(std::string bytes, const std::string& origin) {
  auto impl = std::make_shared<Tokenizer::Impl>();
  auto status = impl->sp.LoadFromSerializedProto(bytes);
  if (!status.ok())
    throw InvalidArgument("not a sentencepiece model (" + origin + "): " + status.ToString());
  if (impl->sp.GetPieceSize() <= 0) throw InvalidArgument("sentencepiece model has no pieces (" + origin + ")");
  if (!has_field(bytes, 3))
    throw InvalidArgument("sentencepiece model has no normalizer settings (" + origin + "): the file is cut short "
                          "or not a whole model written by sentencepiece's trainer");
  impl->serialized = std::move(bytes);
  return impl;
}

}  // namespace

Tokenizer Tokenizer::from_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw InvalidArgument("cannot open tokenizer model file: " + path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return Tokenizer(load(std::move(ss).str(), path));
}

Tokenizer Tokenizer::from_bytes(std::string_view model_bytes) {
  if (model_bytes.empty()) throw InvalidArgument("empty tokenizer model");
  return Tokenizer(load(std::string(model_bytes), std::to_string(model_bytes.size()) + " bytes"));
}

namespace {

// sentencepiece's encoder takes ~190 bytes of memory per input byte (its lattice): one 40 MB
// text (a base64 blob pasted as a query) ran a whole batch out of memory. Longer texts are
// encoded a part at a time, cut before an ASCII whitespace byte where the last half of the part
// has one: the next part then starts with that whitespace, which the normalizer drops before
// adding the word's "▁" as the whole text's encoding does, so each word's pieces are those of
// the word alone; a part without whitespace (one giant "word") is cut at a UTF-8 boundary and
// its next part starts a new word (decode then shows a space there).
constexpr std::size_t kEncodePart = std::size_t{1} << 18;

std::size_t part_end(std::string_view text, std::size_t begin) {
  std::size_t end = begin + kEncodePart;
  if (end >= text.size()) return text.size();
  for (std::size_t i = end; i > begin + kEncodePart / 2; --i) {
    const char c = text[i];
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v') return i;
  }
  while (end > begin + 1 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return end;
}

template <class Piece>
void encode_into(const sentencepiece::SentencePieceProcessor& sp, std::string_view text, std::vector<Piece>& out) {
  auto status = sp.Encode(absl::string_view(text.data(), text.size()), &out);
  if (!status.ok()) throw InvalidArgument("sentencepiece encode failed: " + status.ToString());
}

template <class Piece>
std::vector<Piece> encode_in_parts(const sentencepiece::SentencePieceProcessor& sp, std::string_view text) {
  std::vector<Piece> out;
  if (text.size() <= kEncodePart) {
    encode_into(sp, text, out);
    return out;
  }
  std::vector<Piece> part;
  for (std::size_t begin = 0; begin < text.size();) {
    const std::size_t end = part_end(text, begin);
    encode_into(sp, text.substr(begin, end - begin), part);
    out.insert(out.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
    begin = end;
  }
  return out;
}

}  // namespace

std::vector<int> Tokenizer::encode_ids(std::string_view text) const { return encode_in_parts<int>(impl_->sp, text); }

std::vector<std::string> Tokenizer::encode_pieces(std::string_view text) const {
  return encode_in_parts<std::string>(impl_->sp, text);
}

std::vector<std::vector<int>> Tokenizer::encode_ids_batch(const std::vector<std::string>& texts,
                                                          unsigned threads) const {
  std::vector<std::vector<int>> out(texts.size());
  util::parallel_for(texts.size(), threads, 256, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i) out[i] = encode_ids(texts[i]);
  });
  return out;
}

std::string Tokenizer::decode(std::span<const int> ids) const {
  const int n = vocab_size();
  for (int id : ids)
    if (id < 0 || id >= n)
      throw InvalidArgument("piece id " + std::to_string(id) + " out of range [0, " + std::to_string(n) + ")");
  std::string text;
  auto status = impl_->sp.Decode(std::vector<int>(ids.begin(), ids.end()), &text);
  if (!status.ok()) throw InvalidArgument("sentencepiece decode failed: " + status.ToString());
  return text;
}

static void check_id(int id, int n) {
  if (id < 0 || id >= n)
    throw InvalidArgument("piece id " + std::to_string(id) + " out of range [0, " + std::to_string(n) + ")");
}

float Tokenizer::piece_score(int id) const {
  check_id(id, vocab_size());
  return impl_->sp.GetScore(id);
}
std::string Tokenizer::id_to_piece(int id) const {
  check_id(id, vocab_size());
  return impl_->sp.IdToPiece(id);
}
int Tokenizer::piece_to_id(std::string_view piece) const {
  return impl_->sp.PieceToId(absl::string_view(piece.data(), piece.size()));
}
int Tokenizer::vocab_size() const { return impl_->sp.GetPieceSize(); }
int Tokenizer::unk_id() const { return impl_->sp.unk_id(); }
bool Tokenizer::is_unknown(int id) const {
  check_id(id, vocab_size());
  return impl_->sp.IsUnknown(id);
}
bool Tokenizer::is_byte(int id) const {
  check_id(id, vocab_size());
  return impl_->sp.IsByte(id);
}
bool Tokenizer::is_control(int id) const {
  check_id(id, vocab_size());
  return impl_->sp.IsControl(id);
}

double Tokenizer::mean_log_prob(std::string_view text, double unk_penalty) const {
  auto ids = encode_ids(text);
  if (ids.empty()) throw InvalidArgument("mean_log_prob of an empty text");
  double sum = 0;
  for (int id : ids) sum += (impl_->sp.IsUnknown(id) || impl_->sp.IsByte(id)) ? unk_penalty : static_cast<double>(impl_->sp.GetScore(id));
  return sum / static_cast<double>(ids.size());
}

double Tokenizer::log_prob_per_char(std::string_view text, double unk_penalty) const {
  auto ids = encode_ids(text);
  std::size_t chars = 0;
  for (unsigned char c : text)
    if ((c & 0xC0) != 0x80 && !std::isspace(c)) ++chars;  // count code points, not bytes
  if (ids.empty() || chars == 0) throw InvalidArgument("log_prob_per_char of an empty text");
  double sum = 0;
  for (int id : ids) sum += (impl_->sp.IsUnknown(id) || impl_->sp.IsByte(id)) ? unk_penalty : static_cast<double>(impl_->sp.GetScore(id));
  return sum / static_cast<double>(chars);
}

std::string Tokenizer::serialized_model() const { return impl_->serialized; }

}  // namespace tagger::match
