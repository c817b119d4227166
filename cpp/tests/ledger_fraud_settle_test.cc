// The published fraud screen in settle(): a flagged worker is paid nothing and
// gets no answer counted right, the others are paid as without the screen; the
// terms carry it as a 20th field only when set, in one canonical encoding.
#include <gtest/gtest.h>

#include <random>

#include "ledger/tx.h"
#include "tagger/codec.h"
#include "tagger/errors.h"
#include "tagger/settle.h"
#include "settle_test_util.h"

namespace tagger::ledger {
namespace {

using testing::addr;
using testing::paid;
// 400 items, 3 labels, six honest workers (accuracy 0.9) and one random
// spammer (worker 6) answering every item, overlap 4.
struct Task {
  TaskTerms terms;
  SettleInput in;
  explicit Task(std::uint64_t fraud_alpha_ppm) {
    terms.n_items = 400;
    terms.n_labels = 3;
    terms.overlap = 4;
    terms.rate = 1000;
    terms.method = "dawid_skene";
    terms.policy = "flat";
    terms.fraud_alpha_ppm = fraud_alpha_ppm;
    in.terms = &terms;
    for (int w = 0; w < 7; ++w) in.workers.push_back(addr(w + 1));
    std::mt19937 rng(5);
    std::uniform_real_distribution<double> u(0, 1);
    for (std::uint32_t i = 0; i < 400; ++i) {
      const std::uint32_t truth = i % 3;
      for (std::uint32_t j = 0; j < 3; ++j) {
        const std::uint32_t w = (i * 3 + j) % 6;
        in.answers.push_back({i, w, u(rng) < 0.9 ? truth : (truth + 1) % 3});
      }
      in.answers.push_back({i, 6, static_cast<std::uint32_t>(rng() % 3)});
    }
    in.stakes.assign(7, 0);
    in.escrow = 400 * 4 * 1000;
  }
};

}  // namespace

TEST(LedgerFraudSettle, AFlaggedSpammerEarnsNothingAndTheOthersAreUntouched) {
  Task with(10'000), without(0);
  const SettleOutput a = settle(with.in), b = settle(without.in);
  ASSERT_EQ(a.flagged.size(), 1u);
  EXPECT_EQ(a.flagged[0], addr(7));
  EXPECT_TRUE(b.flagged.empty());
  EXPECT_EQ(paid(a, addr(7)), 0u);
  EXPECT_EQ(paid(b, addr(7)), 400u * 1000u);
  for (int w = 1; w <= 6; ++w) EXPECT_EQ(paid(a, addr(w)), paid(b, addr(w))) << w;
  for (const auto& [who, correct, incorrect] : a.reputation)
    if (who == addr(7)) {
      EXPECT_EQ(correct, 0u);
      EXPECT_EQ(incorrect, 400u);
    }
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_NE(a.result_hash, b.result_hash);
  EXPECT_EQ(settle(with.in).result_hash, a.result_hash);
}

TEST(LedgerFraudSettle, TermsCarryTheScreenAsATwentiethFieldOnlyWhenSet) {
  Task t(0);
  Bytes plain, screened;
  {
    codec::Writer w(plain);
    encode_terms(w, t.terms);
  }
  t.terms.fraud_alpha_ppm = 5000;
  {
    codec::Writer w(screened);
    encode_terms(w, t.terms);
  }
  ASSERT_EQ(plain[0], 0xdc);  // array 16: 19 and 20 fields are beyond a fixarray
  EXPECT_EQ(plain[2], 19);
  EXPECT_EQ(screened[2], 20);
  codec::Reader r1(plain), r2(screened);
  EXPECT_EQ(decode_terms(r1).fraud_alpha_ppm, 0u);
  EXPECT_EQ(decode_terms(r2).fraud_alpha_ppm, 5000u);
  // A 20th field of 0 would be a second encoding of the same terms.
  Bytes zero(screened.begin(), screened.end() - 3);  // drop the uint16 5000 (0xcd 0x13 0x88)
  zero.push_back(0x00);
  codec::Reader r3(zero);
  EXPECT_THROW(decode_terms(r3), DecodeError);
  EXPECT_THROW(check_terms(t.terms, 0), RuleViolation);  // and the budget rule still applies
  t.terms.fraud_alpha_ppm = 1'000'000;
  EXPECT_THROW(check_terms(t.terms, 1u << 30), RuleViolation);
}

}  // namespace tagger::ledger
