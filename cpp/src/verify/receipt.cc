// The signed verification receipt: canonical bytes, signing and checking.
#include <algorithm>

#include "tagger/codec.h"
#include "tagger/errors.h"
#include "tagger/verify.h"

namespace tagger::verify {
namespace {

constexpr std::size_t kFields = 9;  // with the signature
constexpr std::size_t kMaxReasons = 256, kMaxScores = 256, kMaxIdBytes = 256;

bool valid_status(std::string_view s) { return s == "accepted" || s == "needs_review" || s == "rejected"; }

// Writes the first kFields - 1 fields (everything the signature covers).
void write_body(codec::Writer& w, const Receipt& r, std::size_t fields) {
  w.array_header(fields);
  w.uint(kReceiptVersion);
  w.str(r.task_id);
  w.str(r.item_id);
  w.bin(r.ciphertext_hash);
  w.str(r.status);
  w.array_header(r.reasons.size());
  for (const auto& x : r.reasons) w.str(x);
  w.array_header(r.scores_micro.size());
  for (const auto& [name, v] : r.scores_micro) {
    w.array_header(2);
    w.str(name);
    w.sint(v);
  }
  w.bin(r.verifier);
}

}  // namespace

bool valid_reason_code(std::string_view c) noexcept {
  if (c.empty() || c.size() > 64 || !(c[0] >= 'a' && c[0] <= 'z')) return false;
  return std::all_of(c.begin(), c.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == ':' || ch == '-';
  });
}

void Receipt::validate() const {
  if (task_id.size() > kMaxIdBytes || item_id.size() > kMaxIdBytes) throw InvalidArgument("receipt task_id/item_id longer than 256 bytes");
  if (!codec::valid_utf8(task_id) || !codec::valid_utf8(item_id)) throw InvalidArgument("receipt ids must be valid UTF-8");
  if (!valid_status(status)) throw InvalidArgument("receipt status '" + status + "' is not accepted, needs_review or rejected");
  if (reasons.size() > kMaxReasons) throw InvalidArgument("receipt holds more than 256 reasons");
  for (const auto& x : reasons)
    if (!valid_reason_code(x)) throw InvalidArgument("receipt reason '" + x + "' is not a reason code ([a-z][a-z0-9_.:-]{0,63})");
  if (status == "accepted" && !reasons.empty()) throw InvalidArgument("an accepted receipt carries no reasons");
  if (status != "accepted" && reasons.empty()) throw InvalidArgument("a " + status + " receipt needs at least one reason");
  if (scores_micro.size() > kMaxScores) throw InvalidArgument("receipt holds more than 256 scores");
  for (std::size_t i = 0; i < scores_micro.size(); ++i) {
    if (!valid_reason_code(scores_micro[i].first)) throw InvalidArgument("receipt score name '" + scores_micro[i].first + "' is not a code");
    if (i && !(scores_micro[i - 1].first < scores_micro[i].first))
      throw InvalidArgument("receipt score names must be sorted and unique ('" + scores_micro[i].first + "')");
  }
}

Bytes Receipt::signed_message() const {
  validate();
  Bytes out(kReceiptDomain.begin(), kReceiptDomain.end());
  codec::Writer w(out);
  write_body(w, *this, kFields - 1);
  return out;
}

Bytes Receipt::encode() const {
  validate();
  Bytes out;
  codec::Writer w(out);
  write_body(w, *this, kFields);
  w.bin(signature);
  return out;
}

Receipt Receipt::decode(ByteView bytes) {
  codec::Reader rd(bytes);
  Receipt r;
  rd.expect_array(kFields);
  std::uint64_t version = rd.uint();
  if (version != kReceiptVersion) throw DecodeError("receipt version " + std::to_string(version) + " is not supported (expected 1)");
  r.task_id = std::string(rd.str());
  r.item_id = std::string(rd.str());
  ByteView h = rd.bin_exact(32);
  std::copy(h.begin(), h.end(), r.ciphertext_hash.begin());
  r.status = std::string(rd.str());
  std::size_t n = rd.array_header();
  if (n > kMaxReasons) throw DecodeError("receipt holds " + std::to_string(n) + " reasons (max 256)");
  for (std::size_t i = 0; i < n; ++i) r.reasons.emplace_back(rd.str());
  n = rd.array_header();
  if (n > kMaxScores) throw DecodeError("receipt holds " + std::to_string(n) + " scores (max 256)");
  for (std::size_t i = 0; i < n; ++i) {
    rd.expect_array(2);
    std::string name(rd.str());
    r.scores_micro.emplace_back(std::move(name), rd.sint());
  }
  ByteView vk = rd.bin_exact(32);
  std::copy(vk.begin(), vk.end(), r.verifier.begin());
  ByteView sig = rd.bin_exact(64);
  std::copy(sig.begin(), sig.end(), r.signature.begin());
  rd.finish();
  try {
    r.validate();
  } catch (const InvalidArgument& e) {
    throw DecodeError(std::string("malformed receipt: ") + e.what());
  }
  return r;
}

void Receipt::sign(const crypto::SigningKey& key) {
  verifier = key.verify_key().raw();
  signature = key.sign(signed_message());
}

void Receipt::verify(const crypto::VerifyKey* expected) const {
  if (expected && expected->raw() != verifier) throw InvalidSignature("receipt was signed by another verifier");
  crypto::VerifyKey(verifier).verify(signed_message(), signature);
}

}  // namespace tagger::verify
