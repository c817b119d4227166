// The settlement's consensus engines, bit for bit: the ledger floors their
// posteriors to parts per million, which hides most last-bit changes from the
// settle golden hashes (ledger_settle_test.cc) but not all of them. These pin
// the unfloored outputs, so a build, compiler or platform that computes an
// engine differently fails here rather than forking a ledger. When a change to
// an engine moves these bits on purpose, settlements already on ledgers may no
// longer replay (docs/ledger.md, "Compatibility").
#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "tagger/consensus.h"

namespace cs = tagger::consensus;

namespace {

struct Answers {
  std::vector<std::int32_t> task, worker, label;
};

// 600 tasks x 5 of 80 workers, 4 labels; drawn from the generator's bits only
// (no library distribution, whose output could differ between standard libraries).
Answers sparse_noisy_answers() {
  std::mt19937_64 rng(11);
  constexpr std::int32_t T = 600, W = 80, K = 4;
  std::vector<std::uint64_t> skill(W);
  for (auto& s : skill) s = 300 + rng() % 650;  // per mille
  Answers a;
  for (std::int32_t t = 0; t < T; ++t) {
    const auto truth = static_cast<std::int32_t>(rng() % K);
    const auto first = static_cast<std::int32_t>(rng() % W);
    for (std::int32_t j = 0; j < 5; ++j) {
      const std::int32_t w = (first + 13 * j) % W;
      const bool right = rng() % 1000 < skill[static_cast<std::size_t>(w)];
      a.task.push_back(t);
      a.worker.push_back(w);
      a.label.push_back(right ? truth : static_cast<std::int32_t>(rng() % K));
    }
  }
  return a;
}

std::uint64_t fnv(const std::vector<double>& v, std::uint64_t h = 1469598103934665603ULL) {
  for (double x : v) {
    const auto b = std::bit_cast<std::uint64_t>(x);
    for (int i = 0; i < 8; ++i) {
      h ^= (b >> (8 * i)) & 0xff;
      h *= 1099511628211ULL;
    }
  }
  return h;
}

class SettleEngineBits : public ::testing::TestWithParam<std::pair<const char*, std::uint64_t>> {};

TEST_P(SettleEngineBits, PosteriorsAndSkillsArePinned) {
  const auto [method, want] = GetParam();
  const Answers a = sparse_noisy_answers();
  const cs::AnswersView v{a.task.data(), a.worker.data(), a.label.data(), a.task.size(), 600, 80, 4};
  cs::Options opt;  // what settle() passes for a task with default terms
  opt.threads = 1;
  opt.seed = 7;
  const cs::Result r = cs::fit(method, v, opt);
  const std::uint64_t got = fnv(r.skills, fnv(r.probas));
  EXPECT_EQ(got, want) << method << ": bits changed, now 0x" << std::hex << got;
  opt.threads = 3;
  EXPECT_EQ(fnv(cs::fit(method, v, opt).skills, fnv(cs::fit(method, v, opt).probas)), got) << method << " on 3 threads";
}

INSTANTIATE_TEST_SUITE_P(Methods, SettleEngineBits, ::testing::Values(
    std::make_pair("majority_vote", 0xfc9acfc9518d9c00ULL),
    std::make_pair("weighted_majority_vote", 0x2dae16952923840ULL),
    std::make_pair("dawid_skene", 0xf4fc286b5ec1da2bULL),
    std::make_pair("one_coin_dawid_skene", 0x3df431de8fad776aULL),
    std::make_pair("glad", 0x6f7e5986bc6bcfecULL),
    std::make_pair("mace", 0xec87cf860e3f0b7ULL),
    std::make_pair("wawa", 0x2dae16952923840ULL),
    std::make_pair("zero_based_skill", 0xd3740dc3ca09204cULL)),
    [](const auto& info) { return std::string(info.param.first); });

}  // namespace
