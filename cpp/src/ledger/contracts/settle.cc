// settle(): the finalize rule the ledger re-executes. Checks the input, runs
// the task's consensus method on one thread, floors the posterior to parts per
// million, then computes reputation, slashes and payouts with integer
// arithmetic only (settle_pay.cc), so the output is a pure function of the
// input on every platform (see the contract in tagger/settle.h).
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "ledger/contracts/settle_internal.h"
#include "ledger/hashing.h"
#include "tagger/codec.h"
#include "tagger/consensus.h"
#include "tagger/errors.h"
#include "tagger/fraud.h"
#include "tagger/sim.h"

namespace tagger::ledger {
namespace {

constexpr std::uint64_t kMaxIndex = static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max());
constexpr std::uint64_t kBps = 10'000;

bool known(const std::vector<std::string>& names, const std::string& s) {
  return std::find(names.begin(), names.end(), s) != names.end();
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

void check_bps(std::uint64_t v, const char* what) {
  if (v > kBps) throw InvalidArgument(std::string("settle: ") + what + " must be in [0, 10000], got " + std::to_string(v));
}

void check_terms(const TaskTerms& t) {
  if (t.n_items > kMaxIndex) throw InvalidArgument("settle: n_items " + std::to_string(t.n_items) + " exceeds 2^31 - 1");
  if (t.n_labels > kMaxIndex) throw InvalidArgument("settle: n_labels " + std::to_string(t.n_labels) + " exceeds 2^31 - 1");
  if (t.overlap == 0) throw InvalidArgument("settle: overlap must be >= 1");
  if (t.n_iter > kMaxIndex) throw InvalidArgument("settle: n_iter " + std::to_string(t.n_iter) + " exceeds 2^31 - 1");
  if (!known(settle_policies(), t.policy))
    throw InvalidArgument("settle: unknown policy '" + t.policy + "' (known: " + joined(settle_policies()) + ")");
  if (t.n_labels == 0) {
    if (!t.method.empty()) throw InvalidArgument("settle: a collection task (n_labels 0) has no consensus method, got '" + t.method + "'");
    if (t.policy != "flat" && t.policy != "discretionary")
      throw InvalidArgument("settle: a collection task pays 'flat' or 'discretionary', not '" + t.policy + "'");
  } else if (!known(settle_methods(), t.method)) {
    throw InvalidArgument("settle: unknown method '" + t.method + "' (known: " + joined(settle_methods()) + ")");
  }
  check_bps(t.policy_threshold_bps, "policy_threshold_bps");
  check_bps(t.policy_no_control_bps, "policy_no_control_bps");
  check_bps(t.slash_threshold_bps, "slash_threshold_bps");
  check_bps(t.slash_share_bps, "slash_share_bps");
}

// Checks everything but the overlap rules and fills the index arrays of `f`.
void check_input(const SettleInput& in, detail::SettleFacts& f) {
  if (in.terms == nullptr) throw InvalidArgument("settle: terms are missing");
  const TaskTerms& t = *in.terms;
  check_terms(t);
  const std::size_t W = in.workers.size();
  if (W > kMaxIndex) throw InvalidArgument("settle: more than 2^31 - 1 workers");
  for (std::size_t w = 1; w < W; ++w)
    if (!(in.workers[w - 1] < in.workers[w]))
      throw InvalidArgument("settle: workers must be sorted by address and unique (position " + std::to_string(w) + ")");
  if (in.stakes.size() != W)
    throw InvalidArgument("settle: " + std::to_string(in.stakes.size()) + " stakes for " + std::to_string(W) + " workers");
  // A collection task's only "label" is 0, the upload.
  const std::uint64_t n_codes = t.n_labels == 0 ? 1 : t.n_labels;
  const std::size_t n = in.answers.size();
  f.item.resize(n);
  f.worker.resize(n);
  f.label.resize(n);
  for (std::size_t a = 0; a < n; ++a) {
    const SettleAnswer& x = in.answers[a];
    auto fail = [a](const std::string& what) { throw InvalidArgument("settle: answer " + std::to_string(a) + ": " + what); };
    if (x.item >= t.n_items) fail("item " + std::to_string(x.item) + " >= n_items " + std::to_string(t.n_items));
    if (x.worker >= W) fail("worker " + std::to_string(x.worker) + " >= " + std::to_string(W) + " workers");
    if (x.label >= n_codes)
      fail("label " + std::to_string(x.label) +
           (t.n_labels == 0 ? " in a collection task (uploads are label 0)" : " >= n_labels " + std::to_string(t.n_labels)));
    if (x.duration_ms != kNoDuration && x.duration_ms > kMaxDurationMs)
      fail("duration " + std::to_string(x.duration_ms) + " ms is more than a day");
    if (x.confidence_ppm > 1'000'000) fail("confidence " + std::to_string(x.confidence_ppm) + " ppm is above 1000000");
    f.item[a] = static_cast<std::int32_t>(x.item);
    f.worker[a] = static_cast<std::int32_t>(x.worker);
    f.label[a] = static_cast<std::int32_t>(x.label);
  }
  // The copilot, when it answered: its index, and the human answers apart.
  if (t.has_copilot()) {
    auto it = std::lower_bound(in.workers.begin(), in.workers.end(), t.copilot);
    if (it != in.workers.end() && *it == t.copilot) f.copilot = static_cast<std::int32_t>(it - in.workers.begin());
  }
  for (std::size_t a = 0; a < n; ++a) {
    const bool by_copilot = f.worker[a] == f.copilot;
    if (!by_copilot && in.answers[a].confidence_ppm != 0)
      throw InvalidArgument("settle: answer " + std::to_string(a) + " has a confidence but is not the copilot's");
    if (f.copilot < 0 || by_copilot) continue;
    f.h_item.push_back(f.item[a]);
    f.h_worker.push_back(f.worker[a]);
    f.h_label.push_back(f.label[a]);
  }
  for (std::size_t a = 0; a < n; ++a)
    if (f.worker[a] != f.copilot || f.copilot < 0) f.h_duration.push_back(in.answers[a].duration_ms);
  if (!in.gold.empty() && t.gold_commitment == Hash32{})
    throw RuleViolation("settle: gold revealed for a task that committed to no control items");
  f.gold.assign(t.n_items, -1);
  for (std::size_t g = 0; g < in.gold.size(); ++g) {
    auto [item, label] = in.gold[g];
    if (g > 0 && item <= in.gold[g - 1].first)
      throw InvalidArgument("settle: gold must be sorted by item without repeats (entry " + std::to_string(g) + ")");
    if (item >= t.n_items)
      throw InvalidArgument("settle: gold item " + std::to_string(item) + " >= n_items " + std::to_string(t.n_items));
    if (label >= t.n_labels)
      throw InvalidArgument("settle: gold label " + std::to_string(label) + " of item " + std::to_string(item) +
                            " >= n_labels " + std::to_string(t.n_labels));
    f.gold[item] = static_cast<std::int32_t>(label);
  }
}

// Adaptive overlap: the items whose human answers (at least one) all agree
// with a copilot answer of confidence >= terms.adaptive_ppm.
std::vector<std::uint8_t> settled_early(const SettleInput& in, const detail::SettleFacts& f) {
  const TaskTerms& t = *in.terms;
  if (t.adaptive_ppm == 0 || f.copilot < 0) return {};
  std::vector<std::int32_t> suggestion(t.n_items, -1);
  std::vector<std::uint32_t> confidence(t.n_items, 0);
  for (std::size_t a = 0; a < f.item.size(); ++a)
    if (f.worker[a] == f.copilot) {
      suggestion[static_cast<std::size_t>(f.item[a])] = f.label[a];
      confidence[static_cast<std::size_t>(f.item[a])] = in.answers[a].confidence_ppm;
    }
  return ledger::settled_early(t.adaptive_ppm, suggestion, confidence, f.h_item, f.h_label);
}

// The ledger's answer rules: one answer per (item, worker), at most `overlap`
// human answers per item, and (unless partial) exactly `overlap` per item, or
// fewer on an item the copilot settled early (adaptive overlap). Returns the
// human answer count per item: an item only the copilot answered gets no
// label, so a model's guess never enters the dataset on its own.
std::vector<std::uint64_t> check_slots(const SettleInput& in, const detail::SettleFacts& f) {
  const TaskTerms& t = *in.terms;
  std::vector<std::uint64_t> human(t.n_items, 0);
  std::vector<std::uint64_t> keys(f.item.size());
  for (std::size_t a = 0; a < keys.size(); ++a) {
    keys[a] = static_cast<std::uint64_t>(f.item[a]) << 32 | static_cast<std::uint32_t>(f.worker[a]);
    if (f.worker[a] != f.copilot) ++human[static_cast<std::size_t>(f.item[a])];
  }
  const std::vector<std::uint8_t> early = settled_early(in, f);
  std::sort(keys.begin(), keys.end());
  auto dup = std::adjacent_find(keys.begin(), keys.end());
  if (dup != keys.end())
    throw RuleViolation("settle: worker " + std::to_string(*dup & 0xffffffffu) + " answered item " + std::to_string(*dup >> 32) + " twice");
  if (!in.extra.empty() && in.extra.size() != t.n_items)
    throw InvalidArgument("settle: " + std::to_string(in.extra.size()) + " extra counts for " + std::to_string(t.n_items) + " items");
  std::uint64_t short_items = 0, missing = 0, slots = 0;
  for (std::uint64_t i = 0; i < t.n_items; ++i) {
    const std::uint64_t extra = in.extra.empty() ? 0 : in.extra[i];
    if (t.overlap + extra < t.overlap) throw InvalidArgument("settle: extra count of item " + std::to_string(i) + " overflows");
    const std::uint64_t want = t.overlap + extra;
    slots += want;
    if (human[i] > want)
      throw RuleViolation("settle: item " + std::to_string(i) + " has " + std::to_string(human[i]) + " answers, more than the " +
                          (extra ? "extended overlap " : "overlap ") + std::to_string(want));
    if (human[i] < want && !(early.size() > i && early[i])) {
      ++short_items;
      missing += want - human[i];
    }
  }
  if (!in.partial && short_items > 0)
    throw IncompleteTask("settle: " + std::to_string(short_items) + " of " + std::to_string(t.n_items) + " items lack answers (" +
                         std::to_string(missing) + " of " + std::to_string(slots) +
                         " answer slots missing); finalize with partial to settle the answered items only");
  return human;
}

consensus::Result run_consensus(const detail::SettleFacts& f, const consensus::AnswersView& v, unsigned threads) {
  const TaskTerms& t = *f.in->terms;
  consensus::Options opt;
  opt.threads = threads;
  if (t.n_iter != 0) opt.n_iter = static_cast<std::int32_t>(t.n_iter);
  if (t.tol_e9 != 0) opt.tol = static_cast<double>(t.tol_e9) * 1e-9;
  opt.seed = t.seed;
  if (!f.in->gold.empty()) opt.gold = f.gold;
  return consensus::fit(t.method, v, opt);
}

// floor(1e6 * p), p clamped to [0, 1]; a NaN posterior is a consensus bug the
// ledger must not turn into money.
std::uint32_t to_ppm(double p) {
  if (std::isnan(p)) throw ConsensusError("settle: the consensus returned a NaN posterior");
  p = std::clamp(p, 0.0, 1.0);
  return static_cast<std::uint32_t>(std::floor(p * 1e6));
}

// The labels and floored posterior of `v`'s consensus on the items humans answered.
void floored_consensus(const detail::SettleFacts& f, const consensus::AnswersView& v, const std::vector<std::uint64_t>& count,
                       unsigned threads, std::vector<std::int32_t>& labels, std::vector<std::uint32_t>& ppm) {
  const std::size_t T = f.in->terms->n_items, L = f.in->terms->n_labels;
  consensus::Result r = run_consensus(f, v, threads);
  for (std::size_t i = 0; i < T; ++i) {
    if (count[i] == 0) continue;  // gold may have clamped it, but nobody answered it
    labels[i] = r.labels[i];
    for (std::size_t k = 0; k < L; ++k) ppm[i * L + k] = to_ppm(r.probas[i * L + k]);
  }
}

// The result's consensus runs on every answer, the copilot's included. Workers
// are judged and paid against the consensus of the human answers alone: the
// copilot is the owner's account, so its answers shape the dataset but never
// decide whether a worker was right.
void fill_consensus(detail::SettleFacts& f, const std::vector<std::uint64_t>& count, unsigned threads, SettleOutput& out) {
  const TaskTerms& t = *f.in->terms;
  const std::size_t T = t.n_items, L = t.n_labels;
  out.labels.assign(T, -1);
  out.posterior_ppm.assign(T * L, 0);
  if (L == 0) {
    for (std::size_t i = 0; i < T; ++i)
      if (count[i] > 0) out.labels[i] = 0;
  } else {
    consensus::AnswersView all = detail::human_view(f);
    all.task = f.item.data();
    all.worker = f.worker.data();
    all.label = f.label.data();
    all.n = f.item.size();
    floored_consensus(f, all, count, threads, out.labels, out.posterior_ppm);
  }
  if (f.copilot < 0) {
    f.judge_labels = out.labels;
    f.judge_ppm = out.posterior_ppm;
    return;
  }
  f.judge_labels.assign(T, -1);
  f.judge_ppm.assign(T * L, 0);
  floored_consensus(f, detail::human_view(f), count, threads, f.judge_labels, f.judge_ppm);
}

// The published fraud screen on the settled consensus and the revealed gold;
// fills f.flagged and out.flagged.
void screen(detail::SettleFacts& f, SettleOutput& out) {
  const TaskTerms& t = *f.in->terms;
  if (t.fraud_alpha_ppm == 0 || t.n_labels == 0) return;
  consensus::FraudInput in;
  in.answers = detail::human_view(f);
  // Signed durations in seconds (NaN: not given); none given, no fast rule.
  std::vector<double> seconds;
  if (std::any_of(f.h_duration.begin(), f.h_duration.end(), [](std::uint32_t d) { return d != kNoDuration; })) {
    seconds.resize(f.h_duration.size());
    for (std::size_t a = 0; a < seconds.size(); ++a)
      seconds[a] = f.h_duration[a] == kNoDuration ? std::numeric_limits<double>::quiet_NaN() : f.h_duration[a] / 1000.0;
    in.duration = seconds;
  }
  // Items nobody answered have no label; no answer refers to them.
  std::vector<std::int32_t> labels(f.judge_labels);
  for (auto& l : labels) l = std::max(l, 0);
  in.consensus = labels;
  if (!f.in->gold.empty()) in.gold = f.gold;
  consensus::FraudOptions opt;
  opt.alpha = static_cast<double>(t.fraud_alpha_ppm) / 1e6;
  const consensus::FraudReport r = consensus::screen_fraud(in, opt);
  f.flagged.assign(f.in->workers.size(), 0);
  for (std::size_t w = 0; w < f.flagged.size(); ++w) {
    f.flagged[w] = r.spammer[w] || r.colluder[w] || r.control_fail[w] || r.fast[w];
    if (f.flagged[w]) out.flagged.push_back(f.in->workers[w]);
  }
}

// Per worker: answers, control answers and right control answers; reputation
// judged against gold on control items, else against the consensus label; a
// worker the fraud screen flagged gets none right.
void judge(detail::SettleFacts& f, SettleOutput& out) {
  const std::size_t W = f.in->workers.size();
  const bool collection = f.in->terms->n_labels == 0;
  f.n_answers.assign(W, 0);
  f.control.assign(W, 0);
  f.control_correct.assign(W, 0);
  std::vector<std::uint64_t> correct(W, 0);
  for (std::size_t a = 0; a < f.item.size(); ++a) {
    const std::size_t w = static_cast<std::size_t>(f.worker[a]);
    if (f.is_copilot(w)) continue;  // no reputation, no control record, no pay
    const std::int32_t g = collection ? -1 : f.gold[static_cast<std::size_t>(f.item[a])];
    const std::int32_t ref = g >= 0 ? g : f.judge_labels[static_cast<std::size_t>(f.item[a])];
    ++f.n_answers[w];
    if ((collection || f.label[a] == ref) && (f.flagged.empty() || !f.flagged[w])) ++correct[w];
    if (g >= 0) {
      ++f.control[w];
      if (f.label[a] == g) ++f.control_correct[w];
    }
  }
  for (std::size_t w = 0; w < W; ++w)
    if (f.n_answers[w] > 0) out.reputation.emplace_back(f.in->workers[w], correct[w], f.n_answers[w] - correct[w]);
}

void slash(detail::SettleFacts& f, SettleOutput& out) {
  const TaskTerms& t = *f.in->terms;
  if (!t.slashing) return;
  for (std::size_t w = 0; w < f.in->workers.size(); ++w) {
    if (f.is_copilot(w)) continue;
    std::uint64_t s = sim::slash_amount(f.in->stakes[w], f.control_correct[w], f.control[w],
                                        static_cast<std::uint32_t>(t.slash_threshold_bps),
                                        static_cast<std::uint32_t>(t.slash_share_bps), t.slash_min_control);
    if (s == 0) continue;
    out.slashes.emplace_back(f.in->workers[w], s);
    f.slashed = f.slashed > std::numeric_limits<std::uint64_t>::max() - s ? std::numeric_limits<std::uint64_t>::max() : f.slashed + s;
  }
}

// SHA-256("tagger/result/v1" || 0x00 || msgpack [method, labels, posterior_ppm,
// payouts, reputation, slashes]); addresses are bin 20, pairs and triples are
// arrays, labels are (possibly negative) integers.
Hash32 result_hash(const std::string& method, const SettleOutput& o) {
  Bytes b;
  codec::Writer w(b);
  w.array_header(6);
  w.str(method);
  w.array_header(o.labels.size());
  for (auto l : o.labels) w.sint(l);
  w.array_header(o.posterior_ppm.size());
  for (auto p : o.posterior_ppm) w.uint(p);
  w.array_header(o.payouts.size());
  for (const auto& [a, v] : o.payouts) {
    w.array_header(2);
    w.bin(a);
    w.uint(v);
  }
  w.array_header(o.reputation.size());
  for (const auto& [a, c, i] : o.reputation) {
    w.array_header(3);
    w.bin(a);
    w.uint(c);
    w.uint(i);
  }
  w.array_header(o.slashes.size());
  for (const auto& [a, v] : o.slashes) {
    w.array_header(2);
    w.bin(a);
    w.uint(v);
  }
  return detail::tagged_hash("tagger/result/v1", {b});
}

}  // namespace

// Its own list, not consensus::method_names(): a method added to the library
// must not become re-executable by the ledger without a decision.
const std::vector<std::string>& settle_methods() {
  static const std::vector<std::string> names = {"majority_vote", "weighted_majority_vote", "dawid_skene", "one_coin_dawid_skene",
                                                 "glad",          "mace",                   "wawa",        "zero_based_skill"};
  return names;
}

const std::vector<std::string>& settle_policies() {
  static const std::vector<std::string> names = {"flat",           "consensus_accuracy", "gold_standard",
                                                 "output_agreement", "peer_prediction",  "peer_truth_serum",
                                                 "correlated_agreement", "dmi",          "discretionary"};
  return names;
}

std::vector<std::uint8_t> settled_early(std::uint64_t adaptive_ppm, std::span<const std::int32_t> suggestion,
                                        std::span<const std::uint32_t> confidence_ppm,
                                        std::span<const std::int32_t> human_item, std::span<const std::int32_t> human_label) {
  const std::size_t T = suggestion.size();
  if (confidence_ppm.size() != T || human_item.size() != human_label.size())
    throw InvalidArgument("settled_early: one confidence per suggestion and one label per human answer are required");
  std::vector<std::uint8_t> early(T, 0), disagree(T, 0);
  for (std::size_t a = 0; a < human_item.size(); ++a) {
    const std::int32_t item = human_item[a];
    if (item < 0 || static_cast<std::size_t>(item) >= T)
      throw InvalidArgument("settled_early: answer " + std::to_string(a) + " names item " + std::to_string(item) +
                            " outside the " + std::to_string(T) + " items");
    const auto i = static_cast<std::size_t>(item);
    if (suggestion[i] >= 0 && confidence_ppm[i] >= adaptive_ppm && human_label[a] == suggestion[i]) early[i] = 1;
    else disagree[i] = 1;
  }
  for (std::size_t i = 0; i < T; ++i) early[i] = early[i] && !disagree[i];
  return early;
}

Hash32 gold_commitment(const Hash32& salt, const std::vector<std::pair<std::uint64_t, std::uint64_t>>& gold) {
  Bytes b;
  codec::Writer w(b);
  w.array_header(gold.size());
  for (std::size_t g = 0; g < gold.size(); ++g) {
    if (g > 0 && gold[g].first <= gold[g - 1].first)
      throw InvalidArgument("gold_commitment: gold must be sorted by item without repeats (entry " + std::to_string(g) + ")");
    w.array_header(2);
    w.uint(gold[g].first);
    w.uint(gold[g].second);
  }
  return detail::tagged_hash("tagger/gold/v1", {salt, b});
}

SettleOutput detail::settle_on_threads(const SettleInput& in, unsigned threads) {
  detail::SettleFacts f;
  f.in = &in;
  check_input(in, f);
  std::vector<std::uint64_t> count = check_slots(in, f);
  SettleOutput out;
  fill_consensus(f, count, threads, out);
  out.n_answered_items = static_cast<std::uint64_t>(std::count_if(count.begin(), count.end(), [](std::uint64_t c) { return c > 0; }));
  screen(f, out);
  judge(f, out);
  slash(f, out);
  std::vector<std::uint64_t> amounts = policy_amounts(f, f.judge_ppm);
  for (std::size_t w = 0; w < f.flagged.size() && w < amounts.size(); ++w)
    if (f.flagged[w]) amounts[w] = 0;
  // Slashed stake joins the escrow before anything is paid from it.
  std::uint64_t cap = in.escrow > std::numeric_limits<std::uint64_t>::max() - f.slashed ? std::numeric_limits<std::uint64_t>::max()
                                                                                       : in.escrow + f.slashed;
  cap_amounts(amounts, cap);
  for (std::size_t w = 0; w < amounts.size(); ++w)
    if (amounts[w] > 0) out.payouts.emplace_back(in.workers[w], amounts[w]);
  out.result_hash = result_hash(in.terms->method, out);
  return out;
}

SettleOutput settle(const SettleInput& in) { return detail::settle_on_threads(in, 1); }

}  // namespace tagger::ledger
