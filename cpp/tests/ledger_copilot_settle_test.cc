// The copilot, adaptive overlap and signed durations in settle(): the copilot
// counts in the consensus only (never paid, judged, slashed or screened, and
// never the only source of an item's label); an item a confident copilot and
// every human answer agree on is complete early; durations feed the fast rule.
#include <gtest/gtest.h>

#include <random>

#include "ledger/tx.h"
#include "tagger/codec.h"
#include "tagger/errors.h"
#include "tagger/settle.h"

namespace tagger::ledger {
namespace {

Address addr(int i) {
  Address a{};
  a[0] = static_cast<std::uint8_t>(i);
  return a;
}

constexpr int kHumans = 6;
constexpr std::uint32_t kItems = 300;

// kItems items, 3 labels, overlap 3, six workers of accuracy 0.85; worker
// index kHumans is the copilot (address 0x40..., sorted last) answering every
// item with accuracy 0.9 and confidence 950000 when right, 400000 when wrong.
struct Task {
  TaskTerms terms;
  SettleInput in;
  std::vector<std::uint32_t> truth;
  // Without copilot_answers: the same human answers, the copilot's removed.
  explicit Task(bool copilot_answers = true, std::string policy = "consensus_accuracy") {
    terms.n_items = kItems;
    terms.n_labels = 3;
    terms.overlap = 3;
    terms.rate = 1000;
    terms.method = "dawid_skene";
    terms.policy = std::move(policy);
    terms.copilot = addr(0x40);
    in.terms = &terms;
    for (int w = 0; w < kHumans; ++w) in.workers.push_back(addr(w + 1));
    in.workers.push_back(addr(0x40));
    std::mt19937 rng(11);
    std::uniform_real_distribution<double> u(0, 1);
    for (std::uint32_t i = 0; i < kItems; ++i) {
      truth.push_back(i % 3);
      for (std::uint32_t j = 0; j < 3; ++j)
        in.answers.push_back({i, (i + j) % kHumans, u(rng) < 0.85 ? truth[i] : (truth[i] + 1 + j % 2) % 3});
      const bool right = u(rng) < 0.9;
      if (copilot_answers)
        in.answers.push_back({i, kHumans, right ? truth[i] : (truth[i] + 2) % 3, kNoDuration, right ? 950'000u : 400'000u});
    }
    in.stakes.assign(in.workers.size(), 0);
    in.escrow = kItems * 3 * 1000;
  }
};

std::uint64_t paid(const SettleOutput& o, const Address& a) {
  for (const auto& [who, v] : o.payouts)
    if (who == a) return v;
  return 0;
}

bool has_reputation(const SettleOutput& o, const Address& a) {
  for (const auto& [who, c, i] : o.reputation)
    if (who == a) return true;
  return false;
}

}  // namespace

TEST(LedgerCopilotSettle, TheCopilotCountsInTheConsensusButIsNeverPaidOrJudged) {
  Task with(true), without(false);
  const SettleOutput a = settle(with.in), b = settle(without.in);
  EXPECT_EQ(paid(a, addr(0x40)), 0u);
  EXPECT_FALSE(has_reputation(a, addr(0x40)));
  EXPECT_EQ(a.reputation.size(), static_cast<std::size_t>(kHumans));
  // Its answers move the posterior (it is an annotator), and the result is reproducible.
  EXPECT_NE(a.posterior_ppm, b.posterior_ppm);
  EXPECT_EQ(settle(with.in).result_hash, a.result_hash);
  std::size_t right_a = 0, right_b = 0;
  for (std::uint32_t i = 0; i < kItems; ++i) {
    right_a += a.labels[i] == static_cast<std::int32_t>(with.truth[i]);
    right_b += b.labels[i] == static_cast<std::int32_t>(without.truth[i]);
  }
  EXPECT_GE(right_a, right_b);  // a 0.9-accurate fourth annotator does not hurt DS here
  std::uint64_t total = 0;
  for (const auto& [w, v] : a.payouts) total += v;
  EXPECT_LE(total, with.in.escrow);
}

TEST(LedgerCopilotSettle, WorkersAreJudgedAndPaidAsIfTheCopilotHadNotAnswered) {
  // A copilot that contradicts every worker cannot lower anyone's pay or record.
  Task with(true), without(false);
  for (auto& a : with.in.answers)
    if (a.worker == static_cast<std::uint32_t>(kHumans)) a.label = (with.truth[a.item] + 1) % 3;
  const SettleOutput a = settle(with.in), b = settle(without.in);
  EXPECT_EQ(a.payouts, b.payouts);
  EXPECT_EQ(a.reputation, b.reputation);
  EXPECT_NE(a.posterior_ppm, b.posterior_ppm);  // the result's labels do count it
}

TEST(LedgerCopilotSettle, MechanismsScoreWorkersAgainstWorkersOnly) {
  Task with(true, "output_agreement"), without(false, "output_agreement");
  const SettleOutput a = settle(with.in), b = settle(without.in);
  for (int w = 1; w <= kHumans; ++w) EXPECT_EQ(paid(a, addr(w)), paid(b, addr(w))) << w;
  EXPECT_EQ(paid(a, addr(0x40)), 0u);
}

TEST(LedgerCopilotSettle, AnItemOnlyTheCopilotAnsweredGetsNoLabel) {
  Task t(true);
  // Drop the human answers of item 0: only the copilot's remains.
  std::vector<SettleAnswer> kept;
  for (const auto& a : t.in.answers)
    if (a.item != 0 || a.worker == kHumans) kept.push_back(a);
  t.in.answers = kept;
  EXPECT_THROW(settle(t.in), IncompleteTask);
  t.in.partial = true;
  const SettleOutput o = settle(t.in);
  EXPECT_EQ(o.labels[0], -1);
  EXPECT_EQ(o.n_answered_items, kItems - 1);
}

TEST(LedgerCopilotSettle, ConfidenceOnAHumanAnswerIsRefused) {
  Task t(true);
  t.in.answers[0].confidence_ppm = 10;
  EXPECT_THROW(settle(t.in), InvalidArgument);
  // And a copilot's answers are only a copilot's when the terms name it.
  Task u(true);
  u.terms.copilot = Address{};
  EXPECT_THROW(settle(u.in), InvalidArgument);
}

TEST(LedgerCopilotSettle, AdaptiveOverlapCompletesItemsTheCopilotAndEveryHumanAgreeOn) {
  // One human answer per item; the copilot's label is the human's on even
  // items, another label on odd ones.
  Task t(false);
  t.terms.adaptive_ppm = 900'000;
  t.in.answers.clear();
  for (std::uint32_t i = 0; i < kItems; ++i) {
    t.in.answers.push_back({i, i % kHumans, t.truth[i]});
    t.in.answers.push_back({i, kHumans, i % 2 == 0 ? t.truth[i] : (t.truth[i] + 1) % 3, kNoDuration, 950'000});
  }
  EXPECT_THROW(settle(t.in), IncompleteTask);  // the odd items still want answers
  // Give the odd items their full overlap: now the task is complete.
  for (std::uint32_t i = 1; i < kItems; i += 2)
    for (std::uint32_t j = 1; j < 3; ++j) t.in.answers.push_back({i, (i + j) % kHumans, t.truth[i]});
  const SettleOutput o = settle(t.in);
  EXPECT_EQ(o.n_answered_items, kItems);
  // Below the threshold, the copilot's agreement completes nothing.
  t.terms.adaptive_ppm = 960'000;
  EXPECT_THROW(settle(t.in), IncompleteTask);
  // Without adaptive overlap, every item wants three human answers.
  t.terms.adaptive_ppm = 0;
  EXPECT_THROW(settle(t.in), IncompleteTask);
}

TEST(LedgerCopilotSettle, SignedDurationsFlagAFastWorkerUnderTheScreen) {
  // 400 items, overlap 4, five honest workers (12-20 s per answer) and worker
  // 5 answering right but in 0.5 s: only the durations can tell.
  TaskTerms terms;
  terms.n_items = 400;
  terms.n_labels = 2;
  terms.overlap = 4;
  terms.rate = 100;
  terms.method = "majority_vote";
  terms.policy = "flat";
  terms.fraud_alpha_ppm = 10'000;
  SettleInput in;
  in.terms = &terms;
  for (int w = 0; w < 6; ++w) in.workers.push_back(addr(w + 1));
  std::mt19937 rng(3);
  for (std::uint32_t i = 0; i < 400; ++i)
    for (std::uint32_t j = 0; j < 4; ++j) {
      const std::uint32_t w = j == 3 && i % 2 == 0 ? 5 : (i + j) % 5;
      in.answers.push_back({i, w, i % 2, w == 5 ? 500u : 12'000u + static_cast<std::uint32_t>(rng() % 8'000)});
    }
  in.stakes.assign(6, 0);
  in.escrow = 400 * 4 * 100;
  const SettleOutput timed = settle(in);
  ASSERT_EQ(timed.flagged.size(), 1u);
  EXPECT_EQ(timed.flagged[0], addr(6));
  EXPECT_EQ(paid(timed, addr(6)), 0u);
  for (auto& a : in.answers) a.duration_ms = kNoDuration;
  const SettleOutput untimed = settle(in);
  EXPECT_TRUE(untimed.flagged.empty());
  EXPECT_EQ(paid(untimed, addr(6)), 200u * 100u);
  in.answers[0].duration_ms = kMaxDurationMs + 1;
  EXPECT_THROW(settle(in), InvalidArgument);
}

TEST(LedgerCopilotSettle, TermsEncodeTheOptionalFieldsUpToTheLastOneSet) {
  Task t(true);
  auto encoded = [](const TaskTerms& x) {
    Bytes b;
    codec::Writer w(b);
    encode_terms(w, x);
    return b;
  };
  TaskTerms x = t.terms;
  x.copilot = Address{};
  EXPECT_EQ(encoded(x)[2], 19);
  x.min_reputation_bps = 6000;
  EXPECT_EQ(encoded(x)[2], 21);
  x.copilot = addr(0x40);
  EXPECT_EQ(encoded(x)[2], 22);
  x.adaptive_ppm = 900'000;
  const Bytes full = encoded(x);
  EXPECT_EQ(full[2], 23);
  codec::Reader r(full);
  const TaskTerms back = decode_terms(r);
  EXPECT_EQ(back.min_reputation_bps, 6000u);
  EXPECT_EQ(back.copilot, addr(0x40));
  EXPECT_EQ(back.adaptive_ppm, 900'000u);
  EXPECT_EQ(back.fraud_alpha_ppm, 0u);
  // A trailing unset field would be a second encoding of the same terms.
  Bytes trailing(full.begin(), full.end());
  trailing.resize(trailing.size() - 5);  // drop adaptive_ppm (uint32: 0xce + 4 bytes)
  trailing.push_back(0x00);
  codec::Reader r2(trailing);
  EXPECT_THROW(decode_terms(r2), DecodeError);
  // Rules: adaptive overlap needs a copilot; a collection task has none; bps bounded.
  TaskTerms y = t.terms;
  y.copilot = Address{};
  y.adaptive_ppm = 900'000;
  EXPECT_THROW(check_terms(y, 1u << 30), RuleViolation);
  TaskTerms z = t.terms;
  z.min_reputation_bps = 10'001;
  EXPECT_THROW(check_terms(z, 1u << 30), RuleViolation);
  TaskTerms c = t.terms;
  c.n_labels = 0;
  c.method = "";
  c.overlap = 1;
  c.policy = "flat";
  EXPECT_THROW(check_terms(c, 1u << 30), RuleViolation);
}

}  // namespace tagger::ledger
