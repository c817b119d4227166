// The shipped sentencepiece model over arbitrary bytes (valid or not UTF-8),
// through the matching tokenizer and the verification text model.
#include <fstream>
#include <iterator>
#include <string>

#include "fuzz_common.h"
#include "tagger/match.h"
#include "tagger/verify.h"

namespace {
std::string model_bytes() {
  std::ifstream f(TAGGER_SOURCE_DIR "/python/tagger/data/tokenizer.model", std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tagger;
  static const std::string bytes = model_bytes();
  static const match::Tokenizer* tok = new match::Tokenizer(match::Tokenizer::from_bytes(bytes));
  static const verify::TextModel* lm = new verify::TextModel(verify::TextModel::from_bytes(bytes));
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    std::vector<int> ids = tok->encode_ids(text);
    for (int id : ids) TAGGER_FUZZ_CHECK(id >= 0 && id < tok->vocab_size());
    (void)tok->encode_pieces(text);
    (void)tok->decode(ids);
    (void)lm->score(text, {"a reference text"});
  } catch (const Error&) {
  }
  return 0;
}
