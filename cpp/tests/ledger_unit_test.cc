// Unit tests: transactions, Merkle trees and payment splits against slow
// references, incremental vs from-scratch state roots, atomicity.
#include <gtest/gtest.h>

#include <chrono>
#include <unistd.h>

#include <random>

#include "ledger/hashing.h"
#include "ledger/tx.h"
#include "ledger_test_util.h"
#include "tagger/errors.h"

namespace tagger::ledger {
namespace {
using testing::World;

Hash32 reference_root(const std::vector<Hash32>& l) {  // RFC 6962 §2.1, recursively
  if (l.empty()) return crypto::sha256({});
  if (l.size() == 1) return l[0];
  std::size_t k = 1;
  while (k * 2 < l.size()) k *= 2;
  Hash32 a = reference_root({l.begin(), l.begin() + k}), b = reference_root({l.begin() + k, l.end()});
  Bytes cat{0x01};
  cat.insert(cat.end(), a.begin(), a.end());
  cat.insert(cat.end(), b.begin(), b.end());
  return crypto::sha256(cat);
}

TEST(LedgerMerkle, RootMatchesRecursiveDefinitionAndProofsVerify) {
  for (std::size_t n = 0; n < 70; ++n) {
    std::vector<Hash32> leaves;
    for (std::size_t i = 0; i < n; ++i) leaves.push_back(merkle_leaf_hash(Bytes{static_cast<std::uint8_t>(i), 7}));
    Hash32 root = merkle_root(leaves);
    ASSERT_EQ(root, reference_root(leaves)) << n;
    for (std::size_t i = 0; i < n; ++i) {
      auto p = merkle_proof(leaves, i);
      EXPECT_TRUE(merkle_verify(leaves[i], i, n, p, root));
      EXPECT_FALSE(merkle_verify(leaves[i], i, n, p, merkle_leaf_hash(Bytes{1})));
      EXPECT_FALSE(merkle_verify(merkle_leaf_hash(Bytes{9, 9, 9}), i, n, p, root));
      if (!p.empty()) {
        p.back()[0] ^= 1;
        EXPECT_FALSE(merkle_verify(leaves[i], i, n, p, root));
      }
    }
  }
}

TEST(LedgerSplit, MatchesLargestRemainderReferenceAndSumsToPrice) {
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 2000; ++trial) {
    std::uint64_t price = trial < 10 ? (trial == 9 ? ~0ull : static_cast<std::uint64_t>(trial)) : rng();
    std::uint32_t fee = rng() % 500;
    std::vector<std::pair<Address, std::uint32_t>> roy;
    std::uint32_t left = kMaxBps - fee;
    for (int k = 0; k < static_cast<int>(rng() % 6) && left > 0; ++k) {
      Address a{};
      a[0] = static_cast<std::uint8_t>(k);
      std::uint32_t b = 1 + rng() % left;
      left -= b;
      roy.emplace_back(a, b);
    }
    PaymentSplit s = split_payment(price, fee, roy);
    // Reference: exact rationals as (numerator over 10000) with 128-bit integers.
    using u128 = unsigned __int128;
    u128 total = u128(price) * fee / kMaxBps;
    std::uint64_t sum_bps = 0;
    for (auto& r : roy) sum_bps += r.second;
    u128 pool = u128(price) * sum_bps / kMaxBps;
    std::vector<std::pair<u128, std::size_t>> rem;
    std::vector<u128> share;
    u128 given = 0;
    for (std::size_t i = 0; i < roy.size(); ++i) {
      u128 x = u128(price) * roy[i].second;
      share.push_back(x / kMaxBps);
      given += x / kMaxBps;
      rem.emplace_back(x % kMaxBps, i);
    }
    std::stable_sort(rem.begin(), rem.end(), [](auto& a, auto& b) { return a.first > b.first; });
    for (std::size_t k = 0; given < pool; ++k, ++given) share[rem[k].second] += 1;
    ASSERT_EQ(s.fee, static_cast<std::uint64_t>(total));
    u128 paid = s.fee + u128(s.seller);
    for (std::size_t i = 0; i < roy.size(); ++i) {
      ASSERT_EQ(s.royalties[i].second, static_cast<std::uint64_t>(share[i]));
      paid += s.royalties[i].second;
    }
    ASSERT_EQ(paid, u128(price));
  }
}

TEST(LedgerTx, MakeTxRoundTripsAndRejectsMalformedPayloads) {
  World w;
  auto led = Ledger::memory({}, w.issuer, w.producer);
  w.populate(*led, 2, 1000);
  Bytes tx = w.transfer(*led, 0, 1, 5, 2);
  TxView v = decode_tx(tx);
  EXPECT_EQ(v.kind, TxKind::Transfer);
  EXPECT_EQ(v.sender, w.addrs[0]);
  EXPECT_EQ(std::get<TransferP>(v.payload).amount, 5u);
  EXPECT_EQ(tx_id(tx), detail::tagged_hash("tagger/tx/v1", {v.body}));
  Bytes bad = testing::payload_to_amount(w.addrs[1], 5, false);  // transfer needs 3 fields
  EXPECT_THROW(make_tx(w.users[0], led->chain_id(), TxKind::Transfer, 0, bad), DecodeError);
  EXPECT_THROW(make_tx(w.users[0], led->chain_id(), TxKind::Transfer, 0, testing::payload_to_amount(w.addrs[1], 0, true)), RuleViolation);
  Bytes trailing = tx;
  trailing.push_back(0);
  EXPECT_THROW(decode_tx(trailing), DecodeError);
}

TEST(LedgerState, IncrementalRootEqualsReferenceAndFailedTxLeavesNoTrace) {
  World w;
  auto led = Ledger::memory({}, w.issuer, w.producer);
  w.populate(*led, 8, 1000);
  std::mt19937 rng(3);
  for (int step = 0; step < 200; ++step) {
    int a = rng() % 8, b = rng() % 8;
    std::uint64_t amt = 1 + rng() % 300;
    Hash32 before = led->state_root();
    try {
      led->submit(w.transfer(*led, a, b, amt, led->next_nonce(w.addrs[a])));
    } catch (const InsufficientFunds&) {
      ASSERT_EQ(led->state_root(), before);
    }
    if (step % 17 == 0) led->commit();
    ASSERT_EQ(led->state_root(), led->state_root_reference());
  }
  led->commit();
  Supply s = led->supply();
  EXPECT_EQ(s.minted, s.balances);
  EXPECT_EQ(led->verify(2).state_root, led->state_root());
}

TEST(LedgerState, DiscardPendingRestoresTheCommittedState) {
  World w;
  auto led = Ledger::memory({}, w.issuer, w.producer);
  w.populate(*led, 3, 1000);
  Hash32 root = led->state_root();
  for (int i = 0; i < 5; ++i) led->submit(w.transfer(*led, 0, 1, 10, led->next_nonce(w.addrs[0])));
  EXPECT_NE(led->state_root(), root);
  led->discard_pending();
  EXPECT_EQ(led->state_root(), root);
  EXPECT_EQ(led->pending(), 0u);
  EXPECT_EQ(led->balance(w.addrs[0]), 1000u);
}

TEST(LedgerBatch, SubmitBatchIsAllOrNothing) {
  World w;
  auto led = Ledger::memory({}, w.issuer, w.producer);
  w.populate(*led, 4, 100);
  std::vector<Bytes> txs;
  for (int i = 0; i < 10; ++i) txs.push_back(w.transfer(*led, 0, 1, 10, i + 1));  // nonce 0 was the register
  txs.push_back(w.transfer(*led, 0, 1, 10, 11));  // the 11th overdraws
  std::vector<ByteView> v(txs.begin(), txs.end());
  Hash32 root = led->state_root();
  EXPECT_THROW(led->submit_batch(v, 2), InsufficientFunds);
  EXPECT_EQ(led->state_root(), root);
  v.pop_back();
  led->apply_block(v, 2);
  EXPECT_EQ(led->balance(w.addrs[1]), 200u);
  EXPECT_EQ(led->balance(w.addrs[0]), 0u);
}

TEST(LedgerKeystore, SealOpenAndWrongPassphrase) {
  Bytes secret{1, 2, 3, 4, 5};
  Bytes sealed = keystore_seal(secret, "pw", ScryptParams{1024, 8, 1});
  SecretBytes back = keystore_open(sealed, "pw");
  EXPECT_TRUE(std::equal(back.begin(), back.end(), secret.begin(), secret.end()));
  EXPECT_THROW(keystore_open(sealed, "pW"), DecryptionFailed);
}

TEST(LedgerKeystore, CostlyScryptParametersAreRefusedBeforeAnyWork) {
  // N = 2^24, r = p = 64 would ask scrypt for 128 GiB: refused at seal and, from a
  // crafted header, at open, before the derivation starts.
  EXPECT_THROW(keystore_seal(Bytes{1}, "pw", ScryptParams{1u << 24, 64, 64}), InvalidArgument);
  EXPECT_THROW(keystore_seal(Bytes{1}, "pw", ScryptParams{1u << 21, 8, 1}), InvalidArgument);  // 2 GiB
  Bytes sealed = keystore_seal(Bytes{1, 2, 3}, "pw", ScryptParams{1024, 8, 1});
  // Header: N as a big-endian u64 at offset 8, r and p as big-endian u32 at 16 and 20.
  for (int i = 8; i < 24; ++i) sealed[i] = 0;
  sealed[12] = 0x01;  // N = 2^24
  sealed[19] = 64;    // r
  sealed[23] = 64;    // p
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(keystore_open(sealed, "pw"), DecryptionFailed);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
}

}  // namespace
}  // namespace tagger::ledger
