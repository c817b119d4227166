// The payout rules of settle(): integer formulas on floored posteriors and
// control counts, or a tagger::sim mechanism turned into amounts by
// sim::to_amounts. Formulas: tagger/settle.h and python/tagger/rewards.py,
// which must agree (tests/test_settle.py compares them).
#include <limits>
#include <string>

#include "ledger/contracts/settle_internal.h"
#include "tagger/errors.h"
#include "tagger/sim.h"

namespace tagger::ledger::detail {
namespace {

using u128 = unsigned __int128;
constexpr std::uint64_t kPpm = 1'000'000;
constexpr std::uint64_t kBps = 10'000;
constexpr std::uint64_t kMax64 = std::numeric_limits<std::uint64_t>::max();

std::uint64_t checked_mul(std::uint64_t a, std::uint64_t b, const char* what) {
  u128 v = static_cast<u128>(a) * b;
  if (v > kMax64) throw AmountOverflow(std::string("settle: ") + what + " exceeds 2^64 - 1 base units");
  return static_cast<std::uint64_t>(v);
}

std::vector<std::uint64_t> flat(const SettleFacts& f) {
  std::vector<std::uint64_t> out(f.n_answers.size());
  for (std::size_t w = 0; w < out.size(); ++w) out[w] = checked_mul(f.n_answers[w], f.in->terms->rate, "a flat payout");
  return out;
}

std::vector<std::uint64_t> consensus_accuracy(const SettleFacts& f, const std::vector<std::uint32_t>& ppm) {
  const std::uint64_t L = f.in->terms->n_labels;
  std::vector<std::uint64_t> sum(f.n_answers.size(), 0);
  for (std::size_t a = 0; a < f.item.size(); ++a)
    sum[static_cast<std::size_t>(f.worker[a])] += ppm[static_cast<std::uint64_t>(f.item[a]) * L + static_cast<std::uint64_t>(f.label[a])];
  return sim::scale_floor(sum, f.in->terms->rate, kPpm);
}

std::vector<std::uint64_t> gold_standard(const SettleFacts& f) {
  const TaskTerms& t = *f.in->terms;
  std::vector<std::uint64_t> numer(f.n_answers.size());
  for (std::size_t w = 0; w < numer.size(); ++w) {
    std::uint64_t acc = f.control[w] > 0 ? kBps * f.control_correct[w] / f.control[w] : t.policy_no_control_bps;
    numer[w] = acc >= t.policy_threshold_bps ? checked_mul(f.n_answers[w], acc, "a gold_standard payout") : 0;
  }
  return sim::scale_floor(numer, t.rate, kBps);
}

std::vector<std::uint64_t> mechanism(const SettleFacts& f, sim::Mechanism m) {
  const TaskTerms& t = *f.in->terms;
  // Workers are scored against each other only: the copilot, the owner's
  // model, is no peer whose answers could lower a worker's pay.
  const consensus::AnswersView v = human_view(f);
  sim::Scores s = sim::score(m, v, {});
  // A score above 1 per answer (peer truth serum, DMI) must not pay a worker more
  // than the published price per answer: each worker is capped at
  // (rate + base) per answer, so the sum is bounded by the price of the answers.
  u128 per_answer = static_cast<u128>(t.rate) + t.policy_base;
  u128 budget = per_answer * v.n;
  std::vector<std::uint64_t> out =
      sim::to_amounts(s.score, s.n_answers, static_cast<double>(t.policy_base), static_cast<double>(t.rate),
                      budget > kMax64 ? kMax64 : static_cast<std::uint64_t>(budget));
  for (std::size_t w = 0; w < out.size(); ++w) {
    u128 cap = per_answer * static_cast<std::uint64_t>(s.n_answers[w]);
    if (out[w] > cap) out[w] = static_cast<std::uint64_t>(cap);
  }
  return out;
}

}  // namespace

consensus::AnswersView human_view(const SettleFacts& f) {
  const bool all = f.copilot < 0;
  consensus::AnswersView v;
  v.task = all ? f.item.data() : f.h_item.data();
  v.worker = all ? f.worker.data() : f.h_worker.data();
  v.label = all ? f.label.data() : f.h_label.data();
  v.n = all ? f.item.size() : f.h_item.size();
  v.n_tasks = static_cast<std::int32_t>(f.in->terms->n_items);
  v.n_workers = static_cast<std::int32_t>(f.in->workers.size());
  v.n_labels = static_cast<std::int32_t>(f.in->terms->n_labels);
  return v;
}

std::vector<std::uint64_t> policy_amounts(const SettleFacts& f, const std::vector<std::uint32_t>& ppm) {
  const std::string& p = f.in->terms->policy;
  if (p == "discretionary") return {};
  std::vector<std::uint64_t> out;
  if (p == "flat") out = flat(f);
  else if (p == "consensus_accuracy") out = consensus_accuracy(f, ppm);
  else if (p == "gold_standard") out = gold_standard(f);
  // settle.cc admitted only settle_policies(); the rest are sim mechanisms.
  else out = mechanism(f, sim::mechanism_from_name(p));
  if (f.copilot >= 0) out[static_cast<std::size_t>(f.copilot)] = 0;
  return out;
}

void cap_amounts(std::vector<std::uint64_t>& amounts, std::uint64_t cap) {
  u128 total = 0;
  for (auto a : amounts) total += a;
  if (total <= cap) return;
  // a < 2^64 and cap < 2^64, so the product fits in 128 bits.
  for (auto& a : amounts) a = static_cast<std::uint64_t>(static_cast<u128>(a) * cap / total);
}

}  // namespace tagger::ledger::detail
