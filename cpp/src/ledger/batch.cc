// Batch paths of the workflow: answers transactions straight from int32
// arrays, and the dataset manifest's leaves and hashes from whole columns.
// They exist so that no step of a 100k-item task walks its rows in Python;
// each writes exactly the bytes of its per-row definition (ledger.h), which
// the tests check against the Python reference on random inputs.
#include <algorithm>
#include <string>

#include "ledger/hashing.h"
#include "ledger/tx.h"
#include "tagger/codec.h"
#include "tagger/errors.h"
#include "tagger/ledger.h"
#include "util/parallel.h"

namespace tagger::ledger {
using codec::Reader;
using codec::Writer;

static_assert(kMaxAnswersPerTx == kMaxListEntries, "the public bound must be the decoder's");

namespace {

// Below this many rows per thread, starting threads costs more than it saves.
constexpr std::size_t kMinHashChunk = 4'096;

void write_answers_payload(Bytes& out, const Id& task, const std::int32_t* items, const std::int32_t* labels,
                           std::size_t n, std::size_t first_row, const std::uint32_t* duration_ms = nullptr,
                           const std::uint32_t* confidence_ppm = nullptr) {
  if (n == 0) throw InvalidArgument("answers: a transaction needs at least one answer");
  if (n > kMaxAnswersPerTx)
    throw InvalidArgument("answers: " + std::to_string(n) + " answers in one transaction, at most " +
                          std::to_string(kMaxAnswersPerTx));
  for (std::size_t i = 0; i < n; ++i)
    if (items[i] < 0 || labels[i] < 0)
      throw InvalidArgument("answers: row " + std::to_string(first_row + i) + " has a negative " +
                            (items[i] < 0 ? "item" : "label"));
  for (std::size_t i = 0; duration_ms != nullptr && i < n; ++i)
    if (duration_ms[i] > kMaxDurationMs)
      throw InvalidArgument("answers: row " + std::to_string(first_row + i) + " has a duration of " +
                            std::to_string(duration_ms[i]) + " ms, more than a day");
  for (std::size_t i = 0; confidence_ppm != nullptr && i < n; ++i)
    if (confidence_ppm[i] > 1'000'000)
      throw InvalidArgument("answers: row " + std::to_string(first_row + i) + " has a confidence of " +
                            std::to_string(confidence_ppm[i]) + " ppm, more than 1000000");
  // [task, [[item, label] × n], bin(0), n (, [duration] (, [confidence]))]; an
  // (item, label) pair takes at most 11 bytes, a duration or confidence 5.
  out.reserve(out.size() + 48 + 21 * n);
  Writer w(out);
  w.array_header(confidence_ppm != nullptr ? 6 : duration_ms != nullptr ? 5 : 4);
  w.bin(task);
  w.array_header(n);
  for (std::size_t i = 0; i < n; ++i) {
    w.array_header(2);
    w.uint(static_cast<std::uint64_t>(items[i]));
    w.uint(static_cast<std::uint64_t>(labels[i]));
  }
  w.bin(ByteView{});
  w.uint(n);
  if (duration_ms != nullptr || confidence_ppm != nullptr) {
    w.array_header(duration_ms != nullptr ? n : 0);
    for (std::size_t i = 0; duration_ms != nullptr && i < n; ++i) w.uint(duration_ms[i]);
  }
  if (confidence_ppm != nullptr) {
    w.array_header(n);
    for (std::size_t i = 0; i < n; ++i) w.uint(confidence_ppm[i]);
  }
}

const std::uint32_t* optional_column(std::span<const std::uint32_t> v, std::size_t n, const char* what) {
  if (v.empty()) return nullptr;
  if (v.size() != n)
    throw InvalidArgument(std::string("answers: ") + std::to_string(v.size()) + " " + what + " for " + std::to_string(n) +
                          " answers");
  return v.data();
}

}  // namespace

Bytes answers_payload(const Id& task, std::span<const std::int32_t> items, std::span<const std::int32_t> labels,
                      std::span<const std::uint32_t> duration_ms, std::span<const std::uint32_t> confidence_ppm) {
  if (items.size() != labels.size())
    throw InvalidArgument("answers: " + std::to_string(items.size()) + " items but " +
                          std::to_string(labels.size()) + " labels");
  Bytes out;
  write_answers_payload(out, task, items.data(), labels.data(), items.size(), 0,
                        optional_column(duration_ms, items.size(), "durations"),
                        optional_column(confidence_ppm, items.size(), "confidences"));
  return out;
}

std::vector<Bytes> make_answers_txs(const std::vector<crypto::SigningKey>& signers,
                                    const std::vector<std::uint64_t>& nonces,
                                    std::span<const std::int64_t> offsets, std::span<const std::int32_t> items,
                                    std::span<const std::int32_t> labels, const Id& task,
                                    std::uint64_t chain_id, unsigned threads, std::span<const std::uint32_t> duration_ms) {
  const std::size_t groups = signers.size();
  if (items.size() != labels.size())
    throw InvalidArgument("make_answers_txs: " + std::to_string(items.size()) + " items but " +
                          std::to_string(labels.size()) + " labels");
  if (nonces.size() != groups || offsets.size() != groups + 1)
    throw InvalidArgument("make_answers_txs: need one nonce per signer and one offset more than signers");
  if (offsets.front() != 0 || offsets.back() != static_cast<std::int64_t>(items.size()))
    throw InvalidArgument("make_answers_txs: offsets must start at 0 and end at the number of rows");
  for (std::size_t g = 0; g < groups; ++g)
    if (offsets[g + 1] < offsets[g]) throw InvalidArgument("make_answers_txs: offsets must not decrease");
  const std::uint32_t* durations = optional_column(duration_ms, items.size(), "durations");
  std::vector<Bytes> out(groups);
  // Signing dominates (one Ed25519 signature per group), so chunks are groups.
  util::parallel_for(groups, threads, 16, [&](std::size_t b, std::size_t e) {
    for (std::size_t g = b; g < e; ++g) {
      const auto lo = static_cast<std::size_t>(offsets[g]);
      const auto n = static_cast<std::size_t>(offsets[g + 1]) - lo;
      Bytes payload;
      write_answers_payload(payload, task, items.data() + lo, labels.data() + lo, n, lo,
                            durations != nullptr ? durations + lo : nullptr);
      out[g] = make_tx(signers[g], chain_id, TxKind::Answers, nonces[g], payload);
    }
  });
  return out;
}

std::vector<Bytes> manifest_leaves(const std::vector<std::string_view>& item_ids, ByteView commitments,
                                   std::span<const std::int32_t> label_codes,
                                   const std::vector<std::string>& label_names) {
  const std::size_t n = item_ids.size();
  if (label_codes.size() != n || commitments.size() != 32 * n)
    throw InvalidArgument("manifest_leaves: " + std::to_string(n) + " item ids need as many label codes (got " +
                          std::to_string(label_codes.size()) + ") and 32 commitment bytes each (got " +
                          std::to_string(commitments.size()) + ")");
  for (const auto& s : label_names)
    if (!codec::valid_utf8(s)) throw InvalidArgument("manifest_leaves: a label is not valid UTF-8");
  std::vector<Bytes> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::int32_t c = label_codes[i];
    if (c < 0 || static_cast<std::size_t>(c) >= label_names.size())
      throw InvalidArgument("manifest_leaves: row " + std::to_string(i) + " has label code " + std::to_string(c) +
                            " outside the " + std::to_string(label_names.size()) + " label names");
    const std::string& label = label_names[static_cast<std::size_t>(c)];
    Bytes& leaf = out[i];
    leaf.reserve(48 + item_ids[i].size() + label.size());
    Writer w(leaf);
    w.array_header(3);
    w.str(item_ids[i]);  // validates UTF-8
    w.bin(commitments.subspan(32 * i, 32));
    w.str(label);
  }
  return out;
}

std::vector<std::string> manifest_leaf_ids(const std::vector<ByteView>& leaves) {
  std::vector<std::string> out;
  out.reserve(leaves.size());
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    try {
      Reader r(leaves[i]);
      r.expect_array(3);
      out.emplace_back(r.str());
      r.bin_exact(32);
      r.str();
      r.finish();
    } catch (const DecodeError& e) {
      throw DecodeError("manifest leaf " + std::to_string(i) + ": " + e.what());
    }
  }
  return out;
}

std::vector<Hash32> merkle_leaf_hashes(const std::vector<ByteView>& records, unsigned threads) {
  std::vector<Hash32> out(records.size());
  util::parallel_for(records.size(), threads, kMinHashChunk, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i) out[i] = merkle_leaf_hash(records[i]);
  });
  return out;
}

std::vector<Hash32> salted_sha256(ByteView salt, const std::vector<ByteView>& data, unsigned threads) {
  std::vector<Hash32> out(data.size());
  util::parallel_for(data.size(), threads, kMinHashChunk, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i) out[i] = detail::sha256_parts({salt, data[i]});
  });
  return out;
}

}  // namespace tagger::ledger

namespace tagger::ledger {

MerkleTree::MerkleTree(std::vector<Hash32> leaf_hashes) {
  levels_.push_back(std::move(leaf_hashes));
  static const std::uint8_t one = 0x01;
  while (levels_.back().size() > 1) {
    const auto& below = levels_.back();
    std::vector<Hash32> up((below.size() + 1) / 2);
    for (std::size_t i = 0; i + 1 < below.size(); i += 2)
      up[i / 2] = detail::sha256_parts({ByteView(&one, 1), below[i], below[i + 1]});
    if (below.size() % 2 == 1) up.back() = below.back();
    levels_.push_back(std::move(up));
  }
}

Hash32 MerkleTree::root() const {
  return levels_.front().empty() ? detail::sha256_parts({}) : levels_.back().front();
}

const Hash32& MerkleTree::leaf(std::size_t index) const {
  if (index >= size())
    throw InvalidArgument("MerkleTree: leaf " + std::to_string(index) + " out of range for " +
                          std::to_string(size()) + " leaves");
  return levels_.front()[index];
}

std::vector<Hash32> MerkleTree::proof(std::size_t index) const {
  leaf(index);  // range check
  std::vector<Hash32> out;
  for (std::size_t k = 0; k + 1 < levels_.size(); ++k, index /= 2) {
    const std::size_t sibling = index ^ 1;
    // A promoted node has no sibling on this level and adds nothing to the path.
    if (sibling < levels_[k].size()) out.push_back(levels_[k][sibling]);
  }
  return out;
}

}  // namespace tagger::ledger
