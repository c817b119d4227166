// settle(): hand-computed payouts for every policy on small tasks, the
// overlap and partial rules, the cap at the escrow, input validation, the
// gold commitment against hand-built bytes, and determinism across the AVX2 and
// baseline kernels and across thread counts.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>

#include "consensus/dispatch.h"
#include "ledger/contracts/settle_internal.h"
#include "tagger/codec.h"
#include "tagger/consensus.h"
#include "tagger/crypto.h"
#include "tagger/errors.h"
#include "tagger/settle.h"
#include "settle_test_util.h"

namespace tagger::ledger {
namespace {
using Pay = std::vector<std::pair<Address, std::uint64_t>>;
using Rep = std::vector<std::tuple<Address, std::uint64_t, std::uint64_t>>;
using Gold = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

using testing::addr;
Hash32 salt() {
  Hash32 s{};
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<std::uint8_t>(i + 1);
  return s;
}

// 3 items, 2 labels, 3 workers, every item answered by all three:
//   item 0: 0 0 1 (MV 0, shares 2/3 1/3)   item 1: 1 1 1   item 2: 0 1 1 (MV 1)
TaskTerms small_terms(const std::string& policy) {
  TaskTerms t;
  t.n_items = 3;
  t.n_labels = 2;
  t.overlap = 3;
  t.rate = 100;
  t.method = "majority_vote";
  t.policy = policy;
  return t;
}

SettleInput small_input(const TaskTerms& t, Gold gold = {}) {
  SettleInput in;
  in.terms = &t;
  in.workers = {addr(1), addr(2), addr(3)};
  const std::uint32_t labels[3][3] = {{0, 0, 1}, {1, 1, 1}, {0, 1, 1}};
  for (std::uint32_t i = 0; i < 3; ++i)
    for (std::uint32_t w = 0; w < 3; ++w) in.answers.push_back({i, w, labels[i][w]});
  in.gold = std::move(gold);
  in.stakes = {1000, 1000, 1000};
  in.escrow = 1'000'000;
  return in;
}

TEST(LedgerSettle, FlatPaysRatePerAnswerAndReportsMajority) {
  TaskTerms t = small_terms("flat");
  SettleOutput o = settle(small_input(t));
  EXPECT_EQ(o.labels, (std::vector<std::int32_t>{0, 1, 1}));
  EXPECT_EQ(o.posterior_ppm, (std::vector<std::uint32_t>{666666, 333333, 0, 1000000, 333333, 666666}));
  EXPECT_EQ(o.payouts, (Pay{{addr(1), 300}, {addr(2), 300}, {addr(3), 300}}));
  EXPECT_EQ(o.reputation, (Rep{{addr(1), 2, 1}, {addr(2), 3, 0}, {addr(3), 2, 1}}));
  EXPECT_TRUE(o.slashes.empty());
  EXPECT_EQ(o.n_answered_items, 3u);
}

TEST(LedgerSettle, ConsensusAccuracyPaysFlooredPosteriorOfEachAnswer) {
  TaskTerms t = small_terms("consensus_accuracy");
  SettleOutput o = settle(small_input(t));
  // w1: 666666 + 1000000 + 333333; w2: 666666 + 1000000 + 666666; w3 like w1.
  EXPECT_EQ(o.payouts, (Pay{{addr(1), 199}, {addr(2), 233}, {addr(3), 199}}));
}

TEST(LedgerSettle, GoldStandardClampsControlItemsAndPaysByControlAccuracy) {
  TaskTerms t = small_terms("gold_standard");
  t.policy_threshold_bps = 5000;
  Gold gold = {{0, 1}};
  t.gold_commitment = gold_commitment(salt(), gold);
  SettleOutput o = settle(small_input(t, gold));
  EXPECT_EQ(o.labels, (std::vector<std::int32_t>{1, 1, 1}));
  EXPECT_EQ(o.posterior_ppm[0], 0u);
  EXPECT_EQ(o.posterior_ppm[1], 1000000u);
  // Only worker 3 answered the control item right.
  EXPECT_EQ(o.payouts, (Pay{{addr(3), 300}}));
  EXPECT_EQ(o.reputation, (Rep{{addr(1), 1, 2}, {addr(2), 2, 1}, {addr(3), 3, 0}}));
}

TEST(LedgerSettle, GoldStandardCreditsNoControlAccuracyWithoutControlAnswers) {
  TaskTerms t = small_terms("gold_standard");
  t.policy_no_control_bps = 7500;
  t.policy_threshold_bps = 7000;
  SettleOutput o = settle(small_input(t));
  EXPECT_EQ(o.payouts, (Pay{{addr(1), 225}, {addr(2), 225}, {addr(3), 225}}));
  t.policy_threshold_bps = 8000;
  EXPECT_TRUE(settle(small_input(t)).payouts.empty());
}

TEST(LedgerSettle, OutputAgreementGoesThroughToAmounts) {
  TaskTerms t = small_terms("output_agreement");
  t.policy_base = 10;
  SettleOutput o = settle(small_input(t));
  // Scores 0.5 + 1 + 0, 0.5 + 1 + 0.5, 0 + 1 + 0.5; amount = 10 * 3 + 100 * score.
  EXPECT_EQ(o.payouts, (Pay{{addr(1), 180}, {addr(2), 230}, {addr(3), 180}}));
}

TEST(LedgerSettle, EveryMechanismStaysWithinTheBudget) {
  for (const char* m : {"peer_prediction", "peer_truth_serum", "correlated_agreement", "dmi"}) {
    TaskTerms t = small_terms(m);
    SettleOutput o = settle(small_input(t));
    std::uint64_t total = 0;
    for (auto& [a, v] : o.payouts) total += v;
    EXPECT_LE(total, 900u) << m;
    EXPECT_EQ(o.reputation.size(), 3u) << m;
  }
}

TEST(LedgerSettle, DiscretionaryLeavesPayoutsEmptyButSlashes) {
  TaskTerms t = small_terms("discretionary");
  Gold gold = {{0, 1}};
  t.gold_commitment = gold_commitment(salt(), gold);
  t.slashing = true;
  t.slash_min_control = 1;
  SettleOutput o = settle(small_input(t, gold));
  EXPECT_TRUE(o.payouts.empty());
  EXPECT_EQ(o.slashes, (Pay{{addr(1), 500}, {addr(2), 500}}));
  EXPECT_EQ(o.reputation.size(), 3u);
}

TEST(LedgerSettle, SlashingNeedsMinControlAnswers) {
  TaskTerms t = small_terms("flat");
  Gold gold = {{0, 1}};
  t.gold_commitment = gold_commitment(salt(), gold);
  t.slashing = true;  // slash_min_control 3 > the one control answer each
  EXPECT_TRUE(settle(small_input(t, gold)).slashes.empty());
}

TEST(LedgerSettle, TotalIsCappedAtEscrowPlusSlashes) {
  TaskTerms t = small_terms("flat");
  SettleInput in = small_input(t);
  in.escrow = 400;
  EXPECT_EQ(settle(in).payouts, (Pay{{addr(1), 133}, {addr(2), 133}, {addr(3), 133}}));
  in.escrow = 900;
  EXPECT_EQ(settle(in).payouts, (Pay{{addr(1), 300}, {addr(2), 300}, {addr(3), 300}}));
  // Slashed stake joins the escrow first: 400 + 2 * 500 covers the 900.
  Gold gold = {{0, 1}};
  t.gold_commitment = gold_commitment(salt(), gold);
  t.slashing = true;
  t.slash_min_control = 1;
  SettleInput slashed = small_input(t, gold);
  slashed.escrow = 400;
  EXPECT_EQ(settle(slashed).payouts, (Pay{{addr(1), 300}, {addr(2), 300}, {addr(3), 300}}));
}

TEST(LedgerSettle, MissingAnswersAreIncompleteWithoutPartial) {
  TaskTerms t = small_terms("flat");
  t.n_items = 4;
  SettleInput in = small_input(t);
  in.answers.pop_back();  // item 2 keeps 2 of 3; item 3 has none
  try {
    settle(in);
    FAIL() << "no IncompleteTask";
  } catch (const IncompleteTask& e) {
    EXPECT_NE(std::string(e.what()).find("2 of 4 items lack answers (4 of 12 answer slots missing)"), std::string::npos) << e.what();
  }
}

TEST(LedgerSettle, ExtendedItemsWantAndPayTheirExtraAnswers) {
  TaskTerms t = small_terms("flat");
  t.overlap = 2;
  SettleInput in = small_input(t);  // 3 answers on every item
  EXPECT_THROW(settle(in), RuleViolation);  // more than the overlap of 2
  in.extra = {1, 1, 1};
  EXPECT_EQ(settle(in).payouts, (Pay{{addr(1), 300}, {addr(2), 300}, {addr(3), 300}}));
  in.extra = {1, 2, 1};  // item 1 wants a fourth answer
  try {
    settle(in);
    FAIL() << "no IncompleteTask";
  } catch (const IncompleteTask& e) {
    EXPECT_NE(std::string(e.what()).find("1 of 3 items lack answers (1 of 10 answer slots missing)"), std::string::npos) << e.what();
  }
  in.partial = true;
  EXPECT_EQ(settle(in).payouts, (Pay{{addr(1), 300}, {addr(2), 300}, {addr(3), 300}}));
  in.extra = {1, 1};  // not one count per item
  EXPECT_THROW(settle(in), InvalidArgument);
}

TEST(LedgerSettle, PartialSettlesAnsweredItemsOnly) {
  TaskTerms t = small_terms("flat");
  t.n_items = 4;
  Gold gold = {{3, 1}};  // a control item nobody answered gets no label either
  t.gold_commitment = gold_commitment(salt(), gold);
  SettleInput in = small_input(t, gold);
  in.answers.pop_back();
  in.partial = true;
  SettleOutput o = settle(in);
  EXPECT_EQ(o.labels, (std::vector<std::int32_t>{0, 1, 0, -1}));  // item 2 is now a 0-1 tie
  EXPECT_EQ(o.n_answered_items, 3u);
  EXPECT_EQ(o.posterior_ppm.size(), 8u);
  EXPECT_EQ(o.posterior_ppm[6], 0u);
  EXPECT_EQ(o.posterior_ppm[7], 0u);
  EXPECT_EQ(o.payouts, (Pay{{addr(1), 300}, {addr(2), 300}, {addr(3), 200}}));
}

TEST(LedgerSettle, CollectionTaskPaysPerUploadAndCountsEachCorrect) {
  TaskTerms t;
  t.n_items = 3;
  t.n_labels = 0;
  t.overlap = 2;
  t.rate = 100;
  t.policy = "flat";
  SettleInput in;
  in.terms = &t;
  in.workers = {addr(1), addr(2)};
  in.answers = {{0, 0, 0}, {0, 1, 0}, {2, 1, 0}};
  in.stakes = {0, 0};
  in.escrow = 1000;
  EXPECT_THROW(settle(in), IncompleteTask);
  in.partial = true;
  SettleOutput o = settle(in);
  EXPECT_EQ(o.labels, (std::vector<std::int32_t>{0, -1, 0}));
  EXPECT_TRUE(o.posterior_ppm.empty());
  EXPECT_EQ(o.payouts, (Pay{{addr(1), 100}, {addr(2), 200}}));
  EXPECT_EQ(o.reputation, (Rep{{addr(1), 1, 0}, {addr(2), 2, 0}}));
  in.answers[2].label = 1;
  EXPECT_THROW(settle(in), InvalidArgument);
  t.policy = "consensus_accuracy";
  EXPECT_THROW(settle(in), InvalidArgument);
}

template <class E>
void expect_error(const SettleInput& in, const std::string& reason) {
  try {
    settle(in);
    ADD_FAILURE() << "no error, expected: " << reason;
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
  }
}

TEST(LedgerSettle, MalformedInputIsRefusedWithTheReason) {
  TaskTerms t = small_terms("flat");
  SettleInput in = small_input(t);
  SettleInput bad = in;
  bad.answers[4].item = 3;
  expect_error<InvalidArgument>(bad, "answer 4: item 3 >= n_items 3");
  bad = in;
  bad.answers[4].worker = 3;
  expect_error<InvalidArgument>(bad, "answer 4: worker 3 >= 3 workers");
  bad = in;
  bad.answers[4].label = 2;
  expect_error<InvalidArgument>(bad, "answer 4: label 2 >= n_labels 2");
  bad = in;
  bad.answers[4].item = 0;  // worker 1 on item 0 again
  expect_error<RuleViolation>(bad, "worker 1 answered item 0 twice");
  bad = in;
  bad.workers = {addr(1), addr(3), addr(2)};
  expect_error<InvalidArgument>(bad, "workers must be sorted by address and unique (position 2)");
  bad = in;
  bad.stakes.pop_back();
  expect_error<InvalidArgument>(bad, "2 stakes for 3 workers");
  bad = in;
  bad.gold = {{0, 1}};
  expect_error<RuleViolation>(bad, "committed to no control items");

  TaskTerms t2 = t;
  t2.overlap = 2;
  bad = in;
  bad.terms = &t2;
  expect_error<RuleViolation>(bad, "item 0 has 3 answers, more than the overlap 2");
  TaskTerms t3 = t;
  t3.gold_commitment[0] = 1;
  bad = in;
  bad.terms = &t3;
  bad.gold = {{0, 2}};
  expect_error<InvalidArgument>(bad, "gold label 2 of item 0 >= n_labels 2");
  bad.gold = {{1, 0}, {0, 0}};
  expect_error<InvalidArgument>(bad, "gold must be sorted by item without repeats (entry 1)");
  bad.gold = {{3, 0}};
  expect_error<InvalidArgument>(bad, "gold item 3 >= n_items 3");
  TaskTerms t4 = t;
  t4.method = "crowdlab";
  bad = in;
  bad.terms = &t4;
  expect_error<InvalidArgument>(bad, "unknown method 'crowdlab'");
  t4 = t;
  t4.policy = "bts";
  bad.terms = &t4;
  expect_error<InvalidArgument>(bad, "unknown policy 'bts'");
  t4 = t;
  t4.slash_share_bps = 10001;
  bad.terms = &t4;
  expect_error<InvalidArgument>(bad, "slash_share_bps must be in [0, 10000]");
}

TEST(LedgerSettle, GoldCommitmentMatchesHandBuiltBytes) {
  Gold gold = {{0, 1}, {5, 2}, {300, 0}};
  Bytes msg;
  for (char c : std::string("tagger/gold/v1")) msg.push_back(static_cast<std::uint8_t>(c));
  msg.push_back(0x00);
  Hash32 s = salt();
  msg.insert(msg.end(), s.begin(), s.end());
  // fixarray 3 of fixarray 2: [0, 1], [5, 2], [300 (uint16 0xcd), 0]
  const std::uint8_t packed[] = {0x93, 0x92, 0x00, 0x01, 0x92, 0x05, 0x02, 0x92, 0xcd, 0x01, 0x2c, 0x00};
  msg.insert(msg.end(), std::begin(packed), std::end(packed));
  EXPECT_EQ(gold_commitment(s, gold), crypto::sha256(msg));
  Gold unsorted = {{5, 2}, {0, 1}};
  EXPECT_THROW(gold_commitment(s, unsorted), InvalidArgument);
}

TEST(LedgerSettle, ResultHashIsTaggedHashOfCanonicalRecord) {
  TaskTerms t = small_terms("flat");
  SettleOutput o = settle(small_input(t));
  codec::Array labels, ppm, pay, rep;
  for (auto l : o.labels) labels.emplace_back(std::int64_t{l});
  for (auto p : o.posterior_ppm) ppm.emplace_back(std::uint64_t{p});
  for (auto& [a, v] : o.payouts) pay.emplace_back(codec::Array{codec::Value(Bytes(a.begin(), a.end())), codec::Value(v)});
  for (auto& [a, c, i] : o.reputation)
    rep.emplace_back(codec::Array{codec::Value(Bytes(a.begin(), a.end())), codec::Value(c), codec::Value(i)});
  Bytes body = codec::encode(codec::Array{codec::Value(std::string("majority_vote")), codec::Value(labels), codec::Value(ppm),
                                          codec::Value(pay), codec::Value(rep), codec::Value(codec::Array{})});
  Bytes msg;
  for (char c : std::string("tagger/result/v1")) msg.push_back(static_cast<std::uint8_t>(c));
  msg.push_back(0x00);
  msg.insert(msg.end(), body.begin(), body.end());
  EXPECT_EQ(o.result_hash, crypto::sha256(msg));
}

// ---- determinism -----------------------------------------------------------

struct RandomTask {
  TaskTerms terms;
  SettleInput in;
};

// ~2000 answers: 400 items x 5 of 60 workers, 3 labels, noisy workers, a few
// control items, slashing on.
RandomTask random_task(const std::string& method, std::uint64_t seed) {
  RandomTask r;
  TaskTerms& t = r.terms;
  t.n_items = 400;
  t.n_labels = 3;
  t.overlap = 5;
  t.rate = 1000;
  t.method = method;
  t.seed = 7;
  t.policy = "consensus_accuracy";
  t.slashing = true;
  std::mt19937_64 rng(seed);
  const std::uint32_t W = 60;
  std::vector<double> skill(W);
  for (auto& s : skill) s = 0.3 + 0.65 * static_cast<double>(rng() % 1000) / 1000.0;
  Gold gold;
  std::vector<std::uint32_t> truth(t.n_items);
  for (std::uint32_t i = 0; i < t.n_items; ++i) {
    truth[i] = static_cast<std::uint32_t>(rng() % 3);
    if (i % 40 == 0) gold.emplace_back(i, truth[i]);
  }
  t.gold_commitment = gold_commitment(salt(), gold);
  SettleInput& in = r.in;
  for (std::uint32_t w = 0; w < W; ++w) in.workers.push_back(addr(static_cast<int>(w)));
  for (std::uint32_t i = 0; i < t.n_items; ++i) {
    std::uint32_t first = static_cast<std::uint32_t>(rng() % W);
    for (std::uint32_t k = 0; k < t.overlap; ++k) {
      std::uint32_t w = (first + 7 * k) % W;
      bool right = static_cast<double>(rng() % 1000) / 1000.0 < skill[w];
      in.answers.push_back({i, w, right ? truth[i] : static_cast<std::uint32_t>(rng() % 3)});
    }
  }
  std::shuffle(in.answers.begin(), in.answers.end(), rng);  // ledger order is not task-major
  in.gold = gold;
  in.stakes.assign(W, 5000);
  in.escrow = 10'000'000;
  return r;
}

void expect_same(const SettleOutput& a, const SettleOutput& b, const std::string& what) {
  EXPECT_EQ(a.labels, b.labels) << what;
  EXPECT_EQ(a.posterior_ppm, b.posterior_ppm) << what;
  EXPECT_EQ(a.payouts, b.payouts) << what;
  EXPECT_EQ(a.reputation, b.reputation) << what;
  EXPECT_EQ(a.slashes, b.slashes) << what;
  EXPECT_EQ(a.n_answered_items, b.n_answered_items) << what;
  EXPECT_EQ(a.result_hash, b.result_hash) << what;
}

// Restores the run-time kernel choice even when an assertion fails.
struct BaselineGuard {
  explicit BaselineGuard(bool on) { consensus::detail::force_baseline(on); }
  ~BaselineGuard() { consensus::detail::force_baseline(false); }
};

class LedgerSettleDeterminism : public ::testing::TestWithParam<const char*> {};

TEST_P(LedgerSettleDeterminism, SameOutputTwiceAcrossThreadsAndKernels) {
  RandomTask r = random_task(GetParam(), 42);
  r.in.terms = &r.terms;
  SettleOutput ref = settle(r.in);
  ASSERT_EQ(r.in.answers.size(), 2000u);
  EXPECT_EQ(ref.n_answered_items, 400u);
  expect_same(ref, settle(r.in), "second call");
  expect_same(ref, detail::settle_on_threads(r.in, 4), "4 threads");
  {
    BaselineGuard g(true);
    expect_same(ref, settle(r.in), "baseline kernels");
    expect_same(ref, detail::settle_on_threads(r.in, 4), "baseline kernels, 4 threads");
  }
}

INSTANTIATE_TEST_SUITE_P(Methods, LedgerSettleDeterminism,
                         ::testing::Values("dawid_skene", "glad", "mace", "one_coin_dawid_skene", "zero_based_skill"));

// The floored ppm could hide a difference in the last bits of the posterior;
// the kernels must agree on the doubles themselves.
TEST(LedgerSettleKernels, DawidSkenePosteriorBitsEqualOnAvx2AndBaseline) {
#if defined(__x86_64__)
  if (!__builtin_cpu_supports("avx2")) GTEST_SKIP() << "this CPU has no AVX2: only the baseline kernel runs";
#endif
  for (std::uint32_t L : {2u, 3u, 5u, 8u}) {
    RandomTask r = random_task("dawid_skene", 1000 + L);
    std::vector<std::int32_t> item, worker, label;
    for (auto& a : r.in.answers) {
      item.push_back(static_cast<std::int32_t>(a.item));
      worker.push_back(static_cast<std::int32_t>(a.worker));
      label.push_back(static_cast<std::int32_t>(a.label % L));
    }
    consensus::AnswersView v{item.data(), worker.data(), label.data(), item.size(), 400, 60, static_cast<std::int32_t>(L)};
    consensus::Options opt;
    opt.threads = 1;
    consensus::Result avx = consensus::dawid_skene(v, opt);
    consensus::Result base;
    {
      BaselineGuard g(true);
      base = consensus::dawid_skene(v, opt);
    }
    ASSERT_EQ(avx.probas.size(), base.probas.size());
    EXPECT_EQ(0, std::memcmp(avx.probas.data(), base.probas.data(), avx.probas.size() * sizeof(double))) << "L=" << L;
    EXPECT_EQ(avx.n_iter, base.n_iter) << "L=" << L;
    EXPECT_EQ(avx.labels, base.labels) << "L=" << L;
  }
}

// Golden result hashes: the same input must settle to the same bytes in every
// build the project runs (Release -O3 here, RelWithDebInfo -O2 under ASan+UBSan
// and under TSan in `make test-asan` / `make test-tsan`), so a compiler or
// optimization level that changed a posterior bit would fail here.
class LedgerSettleGolden : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(LedgerSettleGolden, ResultHashIsTheSameInEveryBuild) {
  auto [method, want] = GetParam();
  RandomTask r = random_task(method, 42);
  r.in.terms = &r.terms;
  EXPECT_EQ(to_hex(settle(r.in).result_hash), std::string(want)) << method;
}

INSTANTIATE_TEST_SUITE_P(Methods, LedgerSettleGolden, ::testing::Values(
    std::make_pair("majority_vote",
                   "2f3e0a39a16788814ed9d96303636b810a81d24b421ebc7460d27f0504634e8f"),
    std::make_pair("weighted_majority_vote",
                   "5da9e9980d985325cb6b2b371cae4494b8e6e82edfa061a4e5e73f0d2ef1431e"),
    std::make_pair("dawid_skene",
                   "29f244ce9e60f8e15edd4d9b19709aa8edd631c507395311b4b06b7827147c7b"),
    std::make_pair("one_coin_dawid_skene",
                   "caaaf5b32e17107bf9c0c10e129daebddc456092f68794e4f268dabd26ead6a7"),
    std::make_pair("glad",
                   "6ff87075fea056fab00f0ee7d36bc09f5ac7c50c9e65f8ae2d9b520d24de0f16"),
    std::make_pair("mace",
                   "eb1e174dc4a54e7b313c9759eceb71dec330dd6975331d924ab8396dd7e1532b"),
    std::make_pair("wawa",
                   "9b638cfea947a12cb00c8015ab84a851b1089e89b7b0453233c5ddbf3061ad11"),
    std::make_pair("zero_based_skill",
                   "63d0e2f3286de2d98b761bcac427453176fa1b65c2339c39a3a63039c69f550d")),
    [](const auto& info) { return std::string(info.param.first); });

}  // namespace
}  // namespace tagger::ledger
