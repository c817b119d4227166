// The near-copy indexes of the upload registry (verify.h): EditIndex and ContainmentIndex keep
// hashes only and bound or test from them, so their answers are checked against the texts. The
// first byte picks the edit share (0 to 0.15); the rest is texts split at '\n': all but the last
// are stored, the last is the query.
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.h"
#include "tagger/verify.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tagger::verify;
  if (size < 1 || size > 4096) return 0;
  const double share = static_cast<double>(data[0] % 16) / 100.0;
  std::vector<std::string> texts;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  for (std::size_t at; (at = rest.find('\n')) != std::string_view::npos; rest.remove_prefix(at + 1))
    texts.emplace_back(rest.substr(0, at));
  const std::string query(rest);
  EditIndex edits(share, 10, 64);
  ContainmentIndex parts(10, 64);
  for (const std::string& t : texts) {
    edits.insert(t);
    parts.insert(t);
  }
  if (!texts.empty() && data[0] & 0x80) {  // a forgotten text is found by nothing
    edits.forget(0);
    parts.forget(0);
  }
  for (const EditIndex::Match& m : edits.query(query, 1000)) {
    TAGGER_FUZZ_CHECK(m.id < texts.size() && !(m.id == 0 && data[0] & 0x80));
    TAGGER_FUZZ_CHECK(m.edits <= edits.cap(m.length));
    TAGGER_FUZZ_CHECK(bounded_edit_distance(texts[m.id], query, m.edits) <= m.edits);  // never closer than it is
  }
  for (const ContainmentIndex::Match& m : parts.query(query, 1000)) {
    TAGGER_FUZZ_CHECK(m.id < texts.size() && !(m.id == 0 && data[0] & 0x80));
    const std::string& t = texts[m.id];
    // Code points are whole byte runs (an invalid byte is a unit of its own), so a part in code
    // points is a part in bytes. (A hash collision would be a finding too.)
    if (m.kind == ContainmentIndex::Kind::kInside) TAGGER_FUZZ_CHECK(query.find(t) != std::string::npos);
    if (m.kind == ContainmentIndex::Kind::kStart) TAGGER_FUZZ_CHECK(t.compare(0, query.size(), query) == 0);
    if (m.kind == ContainmentIndex::Kind::kEnd)
      TAGGER_FUZZ_CHECK(t.size() >= query.size() && t.compare(t.size() - query.size(), query.size(), query) == 0);
    if (m.kind == ContainmentIndex::Kind::kMiddle)
      TAGGER_FUZZ_CHECK(t.size() > query.size() + 1 && t.find(query, 1) != std::string::npos &&
                        t.find(query, 1) + query.size() < t.size());
  }
  return 0;
}
