// A published task's finalize is re-executed by the ledger: a forged one is
// refused on submit, and a block holding one (a producer colluding with the
// requester) makes open() refuse the log with CorruptLedger naming the block.
#include <gtest/gtest.h>

#include <filesystem>

#include "ledger/block.h"
#include "ledger/log_format.h"
#include "ledger_test_util.h"
#include "tagger/errors.h"
#include "tagger/settle.h"

namespace tagger::ledger {
namespace {
namespace fs = std::filesystem;
using testing::World;

constexpr std::uint64_t kRate = 10;

Bytes publish_payload() {
  TaskTerms t;
  t.n_items = 2;
  t.n_labels = 2;
  t.overlap = 3;
  t.rate = kRate;
  t.method = "majority_vote";
  t.policy = "flat";
  Bytes out;
  codec::Writer w(out);
  w.array_header(5);
  w.uint(100);  // budget
  w.uint(0);    // required stake
  w.bin(Hash32{});
  w.bin(ByteView{});
  w.array_header(19);
  w.uint(t.n_items); w.uint(t.n_labels); w.uint(t.overlap); w.uint(t.rate); w.str(t.method);
  w.uint(0); w.uint(0); w.uint(0); w.str(t.policy); w.uint(0); w.uint(0); w.uint(0);
  w.uint(0); w.uint(0); w.uint(0); w.uint(0); w.bin(Hash32{}); w.uint(0); w.uint(0);
  return out;
}

Bytes answers_payload(const Id& task, std::uint64_t label) {
  Bytes out;
  codec::Writer w(out);
  w.array_header(4);
  w.bin(task);
  w.array_header(2);
  for (std::uint64_t item = 0; item < 2; ++item) {
    w.array_header(2);
    w.uint(item);
    w.uint(label);
  }
  w.bin(ByteView{});
  w.uint(2);
  return out;
}

Bytes finalize_payload(const Id& task, const SettleOutput& s, std::uint64_t underpay) {
  Bytes out;
  codec::Writer w(out);
  w.array_header(8);
  w.bin(task);
  w.array_header(s.payouts.size());
  for (std::size_t i = 0; i < s.payouts.size(); ++i) {
    w.array_header(2);
    w.bin(s.payouts[i].first);
    w.uint(s.payouts[i].second - (i == 0 ? underpay : 0));
  }
  w.array_header(s.reputation.size());
  for (auto& [a, c, n] : s.reputation) {
    w.array_header(3);
    w.bin(a);
    w.uint(c);
    w.uint(n);
  }
  w.array_header(0);
  w.bin(s.result_hash);
  w.bin(Hash32{});
  w.array_header(0);
  w.uint(0);
  return out;
}

class LedgerReexecution : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::temp_dir("reexecution");
    auto led = Ledger::create(dir_, {}, w_.issuer, w_.producer, LedgerOptions{0, false, false});
    w_.populate(*led, 4, 1000);
    const auto& owner = w_.users[0];
    task_ = led->submit(make_tx(owner, led->chain_id(), TxKind::Publish, led->next_nonce(w_.addrs[0]), publish_payload()));
    for (int u = 1; u <= 3; ++u)
      led->submit(make_tx(w_.users[u], led->chain_id(), TxKind::Answers, led->next_nonce(w_.addrs[u]),
                          answers_payload(task_, u == 3 ? 1 : 0)));
    led->commit();
    honest_ = led->settlement(task_, Hash32{}, {}, false);
    forged_ = make_tx(owner, led->chain_id(), TxKind::Finalize, led->next_nonce(w_.addrs[0]),
                      finalize_payload(task_, honest_, 1));
    last_ = led->header(led->height());
    chain_ = led->chain_id();
  }
  void TearDown() override { fs::remove_all(dir_); }

  World w_;
  std::string dir_;
  Id task_{};
  SettleOutput honest_;
  Bytes forged_;
  BlockHeader last_;
  std::uint64_t chain_ = 0;
};

TEST_F(LedgerReexecution, HonestSettlementPaysEveryAnswerTheRate) {
  ASSERT_EQ(honest_.payouts.size(), 3u);
  for (auto& [a, v] : honest_.payouts) EXPECT_EQ(v, 2 * kRate);
  auto led = Ledger::open(dir_, LedgerOptions{0, false, false});
  led->set_producer(w_.producer);
  Bytes ok = make_tx(w_.users[0], chain_, TxKind::Finalize, led->next_nonce(w_.addrs[0]),
                     finalize_payload(task_, honest_, 0));
  led->submit(ok);
  led->commit();
  EXPECT_EQ(led->task(task_)->status, TaskStatus::Finalized);
  EXPECT_NO_THROW(led->verify());
}

TEST_F(LedgerReexecution, ForgedFinalizeIsRefusedOnSubmit) {
  auto led = Ledger::open(dir_, LedgerOptions{0, false, false});
  Hash32 root = led->state_root();
  try {
    led->submit(forged_);
    FAIL() << "a forged finalize was accepted";
  } catch (const InvalidTransaction& e) {
    EXPECT_NE(std::string(e.what()).find("0.000020 TAG"), std::string::npos) << e.what();
  }
  EXPECT_EQ(led->state_root(), root);
  EXPECT_EQ(led->pending(), 0u);
}

TEST_F(LedgerReexecution, BlockWithForgedFinalizeMakesTheLogCorrupt) {
  // The producer signs a block holding the forged finalize, bypassing submit().
  BlockHeader h;
  h.chain_id = chain_;
  h.height = last_.height + 1;
  h.prev_hash = last_.hash;
  h.tx_root = merkle_root({merkle_leaf_hash(forged_)});
  h.state_root = last_.state_root;
  h.timestamp_ms = last_.timestamp_ms + 1;
  h.n_tx = 1;
  Bytes hb = encode_header(h);
  Bytes rec = encode_block(hb, w_.producer.sign(block_hash(hb)), {ByteView(forged_)});
  std::string path = dir_ + "/blocks.log";
  {
    auto writer = log::Writer::file(path, fs::file_size(path), false, false);
    writer.append(rec);
    writer.sync();
  }
  try {
    Ledger::open(dir_, LedgerOptions{0, false, false});
    FAIL() << "a log with a forged finalize opened";
  } catch (const CorruptLedger& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("block " + std::to_string(h.height)), std::string::npos) << m;
    EXPECT_NE(m.find("payout"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace tagger::ledger
