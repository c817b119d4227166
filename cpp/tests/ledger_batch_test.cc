// Batch paths (batch.cc) against their per-row definitions: the generic codec
// encoding of the same Value, make_tx per group, merkle_leaf_hash and sha256
// per item — byte for byte, on random inputs.
#include <gtest/gtest.h>

#include <random>

#include "tagger/codec.h"
#include "tagger/crypto.h"
#include "tagger/errors.h"
#include "tagger/ledger.h"

namespace tagger::ledger {
namespace {
using codec::Array;
using codec::Value;

Id random_id(std::mt19937_64& rng) {
  Id id;
  for (auto& b : id) b = static_cast<std::uint8_t>(rng());
  return id;
}

// Values straddling every msgpack integer width.
std::int32_t random_value(std::mt19937_64& rng) {
  static const std::int32_t edges[] = {0, 1, 127, 128, 255, 256, 65'535, 65'536, 2'147'483'647};
  if (rng() % 3 == 0) return edges[rng() % std::size(edges)];
  return static_cast<std::int32_t>(rng() % (1u << (1 + rng() % 31)));
}

Bytes reference_answers(const Id& task, const std::vector<std::int32_t>& items, const std::vector<std::int32_t>& labels,
                        std::size_t lo, std::size_t hi) {
  Array rows;
  for (std::size_t i = lo; i < hi; ++i)
    rows.push_back(Array{Value(std::uint64_t(items[i])), Value(std::uint64_t(labels[i]))});
  return codec::encode(Array{Value(Bytes(task.begin(), task.end())), Value(std::move(rows)), Value(Bytes{}),
                             Value(std::uint64_t(hi - lo))});
}

TEST(LedgerBatchPaths, AnswersPayloadEqualsGenericEncoding) {
  std::mt19937_64 rng(11);
  for (std::size_t n : {1u, 2u, 15u, 16u, 17u, 300u, 65'536u}) {
    Id task = random_id(rng);
    std::vector<std::int32_t> items(n), labels(n);
    for (std::size_t i = 0; i < n; ++i) { items[i] = random_value(rng); labels[i] = random_value(rng); }
    EXPECT_EQ(answers_payload(task, items, labels), reference_answers(task, items, labels, 0, n)) << n;
  }
}

TEST(LedgerBatchPaths, AnswersPayloadRefusesBadInput) {
  Id task{};
  std::vector<std::int32_t> a{1, 2}, b{1}, neg{0, -1}, none;
  EXPECT_THROW(answers_payload(task, a, b), InvalidArgument);
  EXPECT_THROW(answers_payload(task, a, neg), InvalidArgument);
  EXPECT_THROW(answers_payload(task, none, none), InvalidArgument);
  std::vector<std::int32_t> many(kMaxAnswersPerTx + 1, 0);
  EXPECT_THROW(answers_payload(task, many, many), InvalidArgument);
  many.pop_back();
  EXPECT_NO_THROW(answers_payload(task, many, many));
}

TEST(LedgerBatchPaths, MakeAnswersTxsEqualsMakeTxPerGroupOnAnyThreadCount) {
  std::mt19937_64 rng(12);
  const std::uint64_t chain = 77;
  Id task = random_id(rng);
  std::vector<crypto::SigningKey> signers;
  std::vector<std::uint64_t> nonces;
  std::vector<std::int64_t> offsets{0};
  for (int g = 0; g < 40; ++g) {
    signers.push_back(crypto::SigningKey::generate());
    nonces.push_back(rng() % 1000);
    offsets.push_back(offsets.back() + 1 + static_cast<std::int64_t>(rng() % 50));
  }
  std::size_t n = static_cast<std::size_t>(offsets.back());
  std::vector<std::int32_t> items(n), labels(n);
  for (std::size_t i = 0; i < n; ++i) { items[i] = random_value(rng); labels[i] = random_value(rng) % 7; }
  for (unsigned threads : {1u, 2u, 3u}) {
    auto txs = make_answers_txs(signers, nonces, offsets, items, labels, task, chain, threads);
    ASSERT_EQ(txs.size(), signers.size());
    for (std::size_t g = 0; g < signers.size(); ++g) {
      Bytes ref = make_tx(signers[g], chain, TxKind::Answers, nonces[g],
                          reference_answers(task, items, labels, offsets[g], offsets[g + 1]));
      EXPECT_EQ(txs[g], ref) << "group " << g << " threads " << threads;  // Ed25519 is deterministic
    }
  }
}

TEST(LedgerBatchPaths, MakeAnswersTxsRefusesInconsistentGroups) {
  std::vector<crypto::SigningKey> s{crypto::SigningKey::generate()};
  std::vector<std::int32_t> v{1, 2, 3};
  Id task{};
  std::vector<std::int64_t> short_end{0, 2}, bad_start{1, 3}, ok{0, 3};
  EXPECT_THROW(make_answers_txs(s, {0}, short_end, v, v, task, 1), InvalidArgument);
  EXPECT_THROW(make_answers_txs(s, {0}, bad_start, v, v, task, 1), InvalidArgument);
  EXPECT_THROW(make_answers_txs(s, {0, 1}, ok, v, v, task, 1), InvalidArgument);
  std::vector<crypto::SigningKey> two{s[0], s[0]};
  std::vector<std::int64_t> down{0, 3, 2}, empty_group{0, 0, 3};
  EXPECT_THROW(make_answers_txs(two, {0, 1}, down, v, v, task, 1), InvalidArgument);
  EXPECT_THROW(make_answers_txs(two, {0, 1}, empty_group, v, v, task, 1), InvalidArgument);
  EXPECT_EQ(make_answers_txs(s, {5}, ok, v, v, task, 1).size(), 1u);
}

TEST(LedgerBatchPaths, ManifestLeavesEqualGenericEncodingAndIdsRoundTrip) {
  std::mt19937_64 rng(13);
  const std::vector<std::string> pool{"", "a", "q000123", "ünïcødé", "\xF0\x9F\x90\x88 cat", std::string(40, 'x'),
                                      std::string(300, 'y')};
  const std::vector<std::string> names{"pos", "neg", "", "nan", std::string(33, 'l')};
  const std::size_t n = 500;
  std::vector<std::string> ids(n);
  std::vector<std::string_view> views(n);
  Bytes commitments(32 * n);
  std::vector<std::int32_t> codes(n);
  for (std::size_t i = 0; i < n; ++i) {
    ids[i] = pool[rng() % pool.size()] + std::to_string(i);
    codes[i] = static_cast<std::int32_t>(rng() % names.size());
  }
  for (std::size_t i = 0; i < n; ++i) views[i] = ids[i];
  for (auto& b : commitments) b = static_cast<std::uint8_t>(rng());
  auto leaves = manifest_leaves(views, commitments, codes, names);
  ASSERT_EQ(leaves.size(), n);
  std::vector<ByteView> lv;
  for (std::size_t i = 0; i < n; ++i) {
    Bytes c(commitments.begin() + 32 * i, commitments.begin() + 32 * i + 32);
    EXPECT_EQ(leaves[i], codec::encode(Array{Value(ids[i]), Value(c), Value(names[codes[i]])})) << i;
    lv.push_back(leaves[i]);
  }
  EXPECT_EQ(manifest_leaf_ids(lv), ids);
  auto hashes = merkle_leaf_hashes(lv, 2);
  for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(hashes[i], merkle_leaf_hash(leaves[i]));
}

TEST(LedgerBatchPaths, ManifestLeavesRefuseBadInput) {
  std::vector<std::string_view> ids{"a", "b"};
  Bytes c(64, 0);
  std::vector<std::int32_t> codes{0, 1}, out_of_range{0, 2}, negative{0, -1}, one{0};
  std::vector<std::string> names{"x", "y"};
  EXPECT_NO_THROW(manifest_leaves(ids, c, codes, names));
  EXPECT_THROW(manifest_leaves(ids, c, out_of_range, names), InvalidArgument);
  EXPECT_THROW(manifest_leaves(ids, c, negative, names), InvalidArgument);
  EXPECT_THROW(manifest_leaves(ids, c, one, names), InvalidArgument);
  EXPECT_THROW(manifest_leaves(ids, Bytes(63, 0), codes, names), InvalidArgument);
  std::vector<std::string_view> bad_utf8{"a", "\xff"};
  EXPECT_THROW(manifest_leaves(bad_utf8, c, codes, names), InvalidArgument);
  Bytes not_a_leaf = codec::encode(Array{Value(std::string("a")), Value(Bytes(31, 0)), Value(std::string("x"))});
  EXPECT_THROW(manifest_leaf_ids({not_a_leaf}), DecodeError);
}

TEST(LedgerBatchPaths, SaltedSha256AndLeafHashesMatchPerItemOnAnyThreadCount) {
  std::mt19937_64 rng(14);
  Bytes salt(16);
  for (auto& b : salt) b = static_cast<std::uint8_t>(rng());
  for (std::size_t n : {0u, 1u, 4'095u, 9'000u}) {
    std::vector<Bytes> data(n);
    std::vector<ByteView> views;
    for (auto& d : data) {
      d.resize(rng() % 90);
      for (auto& b : d) b = static_cast<std::uint8_t>(rng());
      views.push_back(d);
    }
    for (unsigned threads : {1u, 2u}) {
      auto got = salted_sha256(salt, views, threads);
      auto leaves = merkle_leaf_hashes(views, threads);
      ASSERT_EQ(got.size(), n);
      for (std::size_t i = 0; i < n; ++i) {
        Bytes cat = salt;
        cat.insert(cat.end(), data[i].begin(), data[i].end());
        ASSERT_EQ(got[i], crypto::sha256(cat)) << i;
        ASSERT_EQ(leaves[i], merkle_leaf_hash(data[i])) << i;
      }
    }
  }
}

}  // namespace
}  // namespace tagger::ledger

namespace tagger::ledger {
namespace {

TEST(LedgerBatchPaths, MerkleTreeRootAndEveryProofEqualThePerCallFunctions) {
  for (std::size_t n = 0; n < 80; ++n) {
    std::vector<Hash32> leaves;
    for (std::size_t i = 0; i < n; ++i) leaves.push_back(merkle_leaf_hash(Bytes{static_cast<std::uint8_t>(i), 3}));
    MerkleTree tree(leaves);
    ASSERT_EQ(tree.size(), n);
    ASSERT_EQ(tree.root(), merkle_root(leaves)) << n;
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_EQ(tree.proof(i), merkle_proof(leaves, i)) << n << " " << i;
      EXPECT_EQ(tree.leaf(i), leaves[i]);
    }
    EXPECT_THROW(tree.proof(n), InvalidArgument);
  }
}

}  // namespace
}  // namespace tagger::ledger
