// A published task's terms: canonical encoding and the stateless rules that
// make them safe to re-execute (bounded sizes, a known method and policy, a
// per-answer rate the budget covers for every slot).
#include <algorithm>

#include "ledger/tx.h"
#include "tagger/errors.h"

namespace tagger::ledger {
using codec::Reader;
using codec::Writer;

namespace {
constexpr std::size_t kTermFields = 19;  // up to 23 with the optional fields (tagger/settle.h)
constexpr std::size_t kMaxTermFields = 23;
constexpr std::uint64_t kPpm = 1'000'000;
// Items of one task and labels of one item: bounded so that a finalize's
// re-execution has a bounded cost and counts fit their fields.
constexpr std::uint64_t kMaxItems = 10'000'000;
constexpr std::uint64_t kMaxLabels = 1'000;
constexpr std::uint64_t kMaxOverlap = 1'000;
constexpr std::uint64_t kMaxIter = 100'000;
constexpr std::uint64_t kMaxCells = 50'000'000;  // n_items x n_labels of the posterior
constexpr std::uint64_t kMaxSlots = 20'000'000;  // n_items x overlap answers

[[noreturn]] void bad(const std::string& why) { throw RuleViolation("publish: " + why); }

// How many fields encode `t`: 19, or up to the last optional field that is set.
std::size_t field_count(const TaskTerms& t) {
  if (t.adaptive_ppm != 0) return 23;
  if (t.has_copilot()) return 22;
  if (t.min_reputation_bps != 0) return 21;
  if (t.fraud_alpha_ppm != 0) return 20;
  return kTermFields;
}
}  // namespace

void encode_terms(Writer& w, const TaskTerms& t) {
  const std::size_t n = field_count(t);
  w.array_header(n);
  w.uint(t.n_items);
  w.uint(t.n_labels);
  w.uint(t.overlap);
  w.uint(t.rate);
  w.str(t.method);
  w.uint(t.n_iter);
  w.uint(t.tol_e9);
  w.uint(t.seed);
  w.str(t.policy);
  w.uint(t.policy_threshold_bps);
  w.uint(t.policy_no_control_bps);
  w.uint(t.policy_base);
  w.uint(t.slashing ? 1 : 0);
  w.uint(t.slash_threshold_bps);
  w.uint(t.slash_share_bps);
  w.uint(t.slash_min_control);
  w.bin(t.gold_commitment);
  w.uint(t.deadline_height);
  w.uint(t.expiry_slash_bps);
  if (n > 19) w.uint(t.fraud_alpha_ppm);
  if (n > 20) w.uint(t.min_reputation_bps);
  if (n > 21) w.bin(t.has_copilot() ? ByteView(t.copilot) : ByteView{});
  if (n > 22) w.uint(t.adaptive_ppm);
}

TaskTerms decode_terms(Reader& r) {
  const std::size_t n = r.array_header();
  if (n < kTermFields || n > kMaxTermFields)
    throw DecodeError("terms: expected " + std::to_string(kTermFields) + " to " + std::to_string(kMaxTermFields) +
                      " fields, got " + std::to_string(n));
  TaskTerms t;
  t.n_items = r.uint();
  t.n_labels = r.uint();
  t.overlap = r.uint();
  t.rate = r.uint();
  t.method = std::string(r.str());
  t.n_iter = r.uint();
  t.tol_e9 = r.uint();
  t.seed = r.uint();
  t.policy = std::string(r.str());
  t.policy_threshold_bps = r.uint();
  t.policy_no_control_bps = r.uint();
  t.policy_base = r.uint();
  std::uint64_t slashing = r.uint();
  if (slashing > 1) throw DecodeError("terms: slashing must be 0 or 1");
  t.slashing = slashing == 1;
  t.slash_threshold_bps = r.uint();
  t.slash_share_bps = r.uint();
  t.slash_min_control = r.uint();
  auto g = r.bin_exact(32);
  std::copy(g.begin(), g.end(), t.gold_commitment.begin());
  t.deadline_height = r.uint();
  t.expiry_slash_bps = r.uint();
  if (n > 19) t.fraud_alpha_ppm = r.uint();
  if (n > 20) t.min_reputation_bps = r.uint();
  if (n > 21) {
    ByteView c = r.bin();
    if (c.size() == t.copilot.size()) {
      std::copy(c.begin(), c.end(), t.copilot.begin());
      if (!t.has_copilot()) throw DecodeError("terms: a copilot of all zero bytes is not canonical (use an empty bin)");
    } else if (!c.empty()) {
      throw DecodeError("terms: the copilot is a " + std::to_string(t.copilot.size()) + "-byte address or empty, got " +
                        std::to_string(c.size()) + " bytes");
    }
  }
  if (n > 22) t.adaptive_ppm = r.uint();
  // One encoding per terms: the shortest form that holds every set field.
  if (field_count(t) != n)
    throw DecodeError("terms: " + std::to_string(n) + " fields whose last one is unset is not canonical");
  return t;
}

void check_terms(const TaskTerms& t, std::uint64_t budget) {
  if (t.n_items == 0 || t.n_items > kMaxItems) bad("n_items must be in [1, " + std::to_string(kMaxItems) + "]");
  if (t.overlap == 0 || t.overlap > kMaxOverlap) bad("overlap must be in [1, " + std::to_string(kMaxOverlap) + "]");
  if (t.n_labels == 1 || t.n_labels > kMaxLabels) bad("n_labels must be 0 (collection) or in [2, " + std::to_string(kMaxLabels) + "]");
  if (t.n_iter > kMaxIter) bad("n_iter must be at most " + std::to_string(kMaxIter));
  auto& methods = settle_methods();
  auto& policies = settle_policies();
  if (t.n_labels == 0) {
    if (!t.method.empty()) bad("a collection task (n_labels 0) has no consensus method");
    if (t.overlap != 1) bad("a collection task takes one upload per item (overlap 1)");
    if (t.policy != "flat" && t.policy != "discretionary") bad("a collection task pays by the 'flat' or 'discretionary' policy");
  } else if (std::find(methods.begin(), methods.end(), t.method) == methods.end()) {
    bad("unknown consensus method '" + t.method + "'");
  }
  if (std::find(policies.begin(), policies.end(), t.policy) == policies.end()) bad("unknown reward policy '" + t.policy + "'");
  for (std::uint64_t bps : {t.policy_threshold_bps, t.policy_no_control_bps, t.slash_threshold_bps, t.slash_share_bps,
                            t.expiry_slash_bps})
    if (bps > kMaxBps) bad("a basis-point field is above 10000");
  if (t.fraud_alpha_ppm >= kPpm) bad("fraud_alpha_ppm must be below 1000000 (a level in parts per million)");
  if (t.fraud_alpha_ppm != 0 && t.n_labels == 0) bad("the fraud screen applies to labeling tasks, not collection");
  if (t.min_reputation_bps > kMaxBps) bad("min_reputation_bps must be at most 10000");
  if (t.has_copilot() && t.n_labels == 0) bad("a copilot labels items; a collection task has none");
  if (t.adaptive_ppm != 0 && !t.has_copilot()) bad("adaptive overlap stops on the copilot's confident agreement; publish a copilot");
  if (t.adaptive_ppm > kPpm) bad("adaptive_ppm must be at most 1000000 (a confidence in parts per million)");
  // Every slot at the published rate must be covered by the budget, so a
  // worker who answers is never paid less than promised for lack of escrow.
  // The price of one answer is rate + base (mechanisms add a base per answer).
  unsigned __int128 need = (static_cast<unsigned __int128>(t.rate) + t.policy_base) * t.n_items * t.overlap;
  if (need > budget)
    bad("the price of " + std::to_string(t.rate + t.policy_base) + " per answer for " +
        std::to_string(t.n_items * t.overlap) + " answers exceeds the budget of " + std::to_string(budget));
  // Bounds on what a finalize re-executes: the posterior and the answers held.
  if (t.n_items * std::max<std::uint64_t>(t.n_labels, 1) > kMaxCells)
    bad("n_items x n_labels must be at most " + std::to_string(kMaxCells));
  if (t.n_items * t.overlap > kMaxSlots) bad("n_items x overlap must be at most " + std::to_string(kMaxSlots));
}

}  // namespace tagger::ledger
