// Published tasks (kind `publish`): the task's rules are on the ledger, so the
// ledger itself records every answer, refuses answers outside the rules, and
// at finalize re-executes the settlement (tagger/settle.h) and refuses a
// finalize whose payouts, reputation or slashes differ from it. A requester's
// client can propose a finalize, never decide one.
#include <algorithm>
#include <cstdio>

#include "ledger/contracts/contracts.h"
#include "tagger/errors.h"

namespace tagger::ledger::contracts {

namespace {

constexpr std::uint64_t kTag = 1'000'000;  // base units per TAG (tg.TAG)

// "alice (tg12ab…)" when registered, else the address.
std::string who(const State& s, const Address& a) {
  const AccountInfo* acc = s.accounts.find(a);
  std::string addr = address_to_string(a);
  if (acc == nullptr || acc->name.empty()) return addr;
  return acc->name + " (" + addr.substr(0, 10) + "…)";
}

// The worker list of a task in address order, with each one's answers.
std::vector<std::pair<Address, const AnswerList*>> answer_lists(const State& s, const Id& task) {
  std::vector<std::pair<Address, const AnswerList*>> out;
  for (const auto& [k, v] : s.answers.all()) {
    if (!std::equal(task.begin(), task.end(), k.begin())) continue;
    Address a;
    std::copy(k.begin() + 32, k.end(), a.begin());
    out.emplace_back(a, &v);
  }
  std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  return out;
}

// Once a task has an assignment on the ledger, only a slot's holder may fill it.
void require_assigned(const State& s, const Id& task, const Address& worker, const std::vector<std::uint32_t>& items,
                      const char* what) {
  const ItemList* held = s.assigned.find(key52(task, worker));
  for (std::uint32_t item : items)
    if (held == nullptr || !std::binary_search(held->items.begin(), held->items.end(), item))
      throw RuleViolation(std::string(what) + ": " + who(s, worker) + " is not assigned item " + std::to_string(item));
}

// A task's reputation floor (terms.min_reputation_bps) on the Beta posterior
// mean (alpha + 1) / (alpha + beta + 2), compared in integers.
void require_reputation(const State& s, const TaskTerms& terms, const Address& worker, const char* what) {
  if (terms.min_reputation_bps == 0) return;
  const AccountInfo* acc = s.accounts.find(worker);
  const std::uint64_t a = acc ? acc->rep_alpha : 0, b = acc ? acc->rep_beta : 0;
  const unsigned __int128 have = static_cast<unsigned __int128>(a + 1) * kMaxBps;
  const unsigned __int128 need = static_cast<unsigned __int128>(terms.min_reputation_bps) * (static_cast<unsigned __int128>(a) + b + 2);
  if (have < need)
    throw RuleViolation(std::string(what) + ": " + who(s, worker) + " has a reputation of " +
                        std::to_string(static_cast<std::uint64_t>(have / (static_cast<unsigned __int128>(a) + b + 2))) +
                        " bps (" + std::to_string(a) + " right, " + std::to_string(b) + " wrong), below the task's floor of " +
                        std::to_string(terms.min_reputation_bps) + " bps");
}

bool answered(const State& s, const Id& task, const Address& worker, std::uint32_t item) {
  const AnswerList* a = s.answers.find(key52(task, worker));
  if (a == nullptr) return false;
  auto it = std::lower_bound(a->rows.begin(), a->rows.end(), std::make_pair(item, 0u));
  return it != a->rows.end() && it->first == item;
}

ItemCounts& counts_mut(State& s, const Id& task) {
  ItemCounts* c = s.item_counts.edit(task);
  if (c == nullptr) throw RuleViolation("task " + short_hex(task) + " has no item counts");
  return *c;
}

}  // namespace

std::string format_tag(std::uint64_t base_units) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%llu.%06llu TAG", static_cast<unsigned long long>(base_units / kTag),
                static_cast<unsigned long long>(base_units % kTag));
  return buf;
}

void apply(State& s, const TxView& tx, const ApplyContext& c, const PublishP& p) {
  // The owner may not answer its own task; as its own copilot it could.
  if (p.terms.has_copilot() && p.terms.copilot == tx.sender)
    throw RuleViolation("publish: the copilot must be an account of its own, not the task owner");
  if (p.terms.has_copilot()) s.account_ref(p.terms.copilot, "copilot");
  apply(s, tx, c, p.lock);
  s.terms.put(c.txid, p.terms);
  ItemCounts counts;
  counts.n.assign(p.terms.n_items, 0);
  s.item_counts.put(c.txid, std::move(counts));
}

void record_answers(State& s, const TaskTerms& terms, const Id& task, const Address& worker, const AnswersP& p) {
  if (terms.n_labels == 0) throw RuleViolation("answers: task " + short_hex(task) + " collects uploads, not labels");
  if (p.batch_hash)
    throw RuleViolation("answers: a published task needs the answers themselves (the ledger re-executes them), not a batch hash");
  const bool copilot = terms.has_copilot() && worker == terms.copilot;
  if (copilot && p.confidence_ppm.empty())
    throw RuleViolation("answers: the copilot's answers carry its confidence (one per answer)");
  if (!copilot) require_reputation(s, terms, worker, "answers");
  // Rows with their durations and confidences, sorted by item below.
  struct Row {
    std::uint32_t item, label, duration, confidence;
  };
  std::vector<Row> rows;
  rows.reserve(p.answers.size());
  for (std::size_t a = 0; a < p.answers.size(); ++a) {
    auto [item, label] = p.answers[a];
    if (item >= terms.n_items)
      throw RuleViolation("answers: " + who(s, worker) + " answers item " + std::to_string(item) + ", the task has " +
                          std::to_string(terms.n_items) + " items");
    if (label >= terms.n_labels)
      throw RuleViolation("answers: " + who(s, worker) + " gives label " + std::to_string(label) + " to item " +
                          std::to_string(item) + ", outside the task's label set of " + std::to_string(terms.n_labels));
    rows.push_back({static_cast<std::uint32_t>(item), static_cast<std::uint32_t>(label),
                    p.duration_ms.empty() ? kNoDuration : static_cast<std::uint32_t>(p.duration_ms[a]),
                    p.confidence_ppm.empty() ? 0u : static_cast<std::uint32_t>(p.confidence_ppm[a])});
  }
  std::sort(rows.begin(), rows.end(), [](const Row& x, const Row& y) { return x.item < y.item; });
  for (std::size_t i = 1; i < rows.size(); ++i)
    if (rows[i].item == rows[i - 1].item)
      throw RuleViolation("answers: " + who(s, worker) + " answers item " + std::to_string(rows[i].item) + " twice");
  Key52 k = key52(task, worker);
  const AnswerList* old = s.answers.find(k);
  // Merge by item, carrying the columns; they stay empty while every row is plain.
  std::vector<Row> all;
  if (old != nullptr) {
    all.reserve(old->rows.size() + rows.size());
    for (std::size_t i = 0; i < old->rows.size(); ++i)
      all.push_back({old->rows[i].first, old->rows[i].second, old->plain() ? kNoDuration : old->duration_ms[i],
                     old->plain() ? 0u : old->confidence_ppm[i]});
  }
  const std::size_t n_old = all.size();
  all.insert(all.end(), rows.begin(), rows.end());
  std::inplace_merge(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n_old), all.end(),
                     [](const Row& x, const Row& y) { return x.item < y.item; });
  AnswerList merged;
  merged.rows.reserve(all.size());
  bool plain = true;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (i > 0 && all[i].item == all[i - 1].item)
      throw RuleViolation("answers: " + who(s, worker) + " already answered item " + std::to_string(all[i].item));
    merged.rows.emplace_back(all[i].item, all[i].label);
    plain = plain && all[i].duration == kNoDuration && all[i].confidence == 0;
  }
  if (!plain)
    for (const Row& r : all) {
      merged.duration_ms.push_back(r.duration);
      merged.confidence_ppm.push_back(r.confidence);
    }
  const ItemCounts* seen = s.item_counts.find(task);
  if (seen == nullptr) throw RuleViolation("task " + short_hex(task) + " has no item counts");
  if (copilot) {
    // One more annotator on any item, outside the slots humans fill.
  } else if (seen->assigned > 0) {
    // The slot count was taken when the slot was granted (at most `overlap` holders
    // per item), so a holder's answer needs no count: the journal stays small.
    std::vector<std::uint32_t> items(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) items[i] = rows[i].item;
    require_assigned(s, task, worker, items, "answers");
  } else {
    for (const Row& r : rows)
      if (seen->n[r.item] >= seen->cap(terms.overlap, r.item))
        throw RuleViolation("answers: item " + std::to_string(r.item) + " already has its " +
                            std::to_string(seen->cap(terms.overlap, r.item)) + " answer(s); " + who(s, worker) +
                            "'s answer is not wanted");
    ItemCounts& counts = counts_mut(s, task);
    for (const Row& r : rows) ++counts.n[r.item];
  }
  s.answers.put(k, std::move(merged));
}

void record_upload(State& s, const TaskTerms& terms, const Id& task, const Address& worker, std::uint64_t item) {
  if (item >= terms.n_items)
    throw RuleViolation("upload_receipt: item " + std::to_string(item) + " is outside the task's " +
                        std::to_string(terms.n_items) + " slots");
  const ItemCounts* seen = s.item_counts.find(task);
  if (seen == nullptr) throw RuleViolation("task " + short_hex(task) + " has no item counts");
  require_reputation(s, terms, worker, "upload_receipt");
  if (answered(s, task, worker, static_cast<std::uint32_t>(item)))
    throw RuleViolation("upload_receipt: " + who(s, worker) + " already has an accepted upload in slot " + std::to_string(item));
  if (seen->assigned > 0) {
    require_assigned(s, task, worker, {static_cast<std::uint32_t>(item)}, "upload_receipt");
  } else {
    if (seen->n[item] >= terms.overlap)
      throw RuleViolation("upload_receipt: slot " + std::to_string(item) + " already has an accepted upload");
    ++counts_mut(s, task).n[item];
  }
  Key52 k = key52(task, worker);
  AnswerList list = s.answers.find(k) ? *s.answers.find(k) : AnswerList{};
  auto pos = std::lower_bound(list.rows.begin(), list.rows.end(), std::make_pair(static_cast<std::uint32_t>(item), 0u));
  list.rows.insert(pos, {static_cast<std::uint32_t>(item), 0u});
  s.answers.put(k, std::move(list));
}

namespace {

// A slot can be slashed for expiring only if its holder had at least half of the task's
// window (publication to deadline) to fill it. Granted later it is "late": taking it back
// slashes nothing. The first version of this rule (2026-12-07) made only grants from the
// deadline on late, so an owner could give a worker who had done all its work a new slot one
// block before the deadline and revoke it in the next block, slashing that worker into the
// owner's refund. Heights are the only clock the ledger has: an owner who can fill blocks
// with transactions of its own still shortens the window in time (docs/ledger.md).
bool granted_late(const TaskTerms& terms, std::uint64_t created_height, std::uint64_t height) {
  if (terms.deadline_height == 0) return false;  // no deadline: nothing ever expires
  if (height >= terms.deadline_height) return true;
  const std::uint64_t window = terms.deadline_height > created_height ? terms.deadline_height - created_height : 0;
  return 2 * static_cast<unsigned __int128>(terms.deadline_height - height) < window;
}

}  // namespace

void apply(State& s, const TxView& tx, const ApplyContext& c, const AssignP& p) {
  const TaskTerms* terms = s.terms.find(p.task);
  if (terms == nullptr) throw RuleViolation("assign: task " + short_hex(p.task) + " was not published with its rules");
  TaskInfo& t = task_mut(s, p.task);
  if (tx.sender != t.owner) throw NotOwner("assign: only the task owner assigns its slots");
  if (t.status != TaskStatus::Open) throw RuleViolation("assign: task " + short_hex(p.task) + " is closed");
  const std::uint64_t height = c.height;  // `c` is shadowed by the item counts below
  if (!p.revokes.empty() && (terms->deadline_height == 0 || c.height < terms->deadline_height))
    throw RuleViolation(terms->deadline_height == 0
                            ? std::string("assign: the task has no deadline, so no slot can expire")
                            : "assign: slots expire at the deadline, height " + std::to_string(terms->deadline_height) +
                                  " (this block is " + std::to_string(c.height) + ")");
  ItemCounts& counts = counts_mut(s, p.task);
  Id task_id = p.task;
  Address owner = t.owner;
  const bool grants_late = terms->expiry_slash_bps > 0 && granted_late(*terms, t.created_height, height);
  for (auto& [worker, items] : p.revokes) {
    ItemList* held = s.assigned.edit(key52(task_id, worker));
    bool expired = false;  // held since before the deadline, unanswered
    for (std::uint64_t item : items) {
      auto it = held ? std::lower_bound(held->items.begin(), held->items.end(), item) : std::vector<std::uint32_t>::iterator{};
      if (held == nullptr || it == held->items.end() || *it != item)
        throw RuleViolation("assign: " + who(s, worker) + " does not hold item " + std::to_string(item));
      if (answered(s, task_id, worker, static_cast<std::uint32_t>(item)))
        throw RuleViolation("assign: " + who(s, worker) + " answered item " + std::to_string(item) + "; it cannot be revoked");
      held->items.erase(it);
      auto late = std::lower_bound(held->late.begin(), held->late.end(), static_cast<std::uint32_t>(item));
      if (late != held->late.end() && *late == item) held->late.erase(late);
      else expired = true;
      counts.assigned -= 1;
      counts.n[item] -= 1;
    }
    // A worker who let its slots expire loses the task's share of its stake, once: the
    // task has one deadline. A stake bound to a published task is slashed by nothing
    // else while the task is open (`slash` is refused for it), so `slashed` > 0 means
    // this worker already paid for its expiry.
    const StakeInfo* st = s.stakes.find(key52(task_id, worker));
    if (expired && terms->expiry_slash_bps > 0 && st != nullptr && st->slashed == 0) {
      std::uint64_t cut = static_cast<std::uint64_t>(static_cast<unsigned __int128>(st->amount) * terms->expiry_slash_bps / kMaxBps);
      if (cut > 0) slash_stake(s, task_id, worker, cut);
    }
  }
  for (auto& [worker, items] : p.grants) {
    if (worker == owner) throw RuleViolation("assign: the owner cannot hold slots of its own task");
    if (terms->has_copilot() && worker == terms->copilot)
      throw RuleViolation("assign: the copilot answers outside the slots; it holds none");
    s.account_ref(worker, "assigned worker");
    require_reputation(s, *terms, worker, "assign");
    Key52 k = key52(task_id, worker);
    ItemList list = s.assigned.find(k) ? *s.assigned.find(k) : ItemList{};
    std::vector<std::uint32_t> add;
    add.reserve(items.size());
    for (std::uint64_t item : items) {
      if (item >= terms->n_items)
        throw RuleViolation("assign: item " + std::to_string(item) + " is outside the task's " +
                            std::to_string(terms->n_items) + " items");
      if (answered(s, task_id, worker, static_cast<std::uint32_t>(item)))
        throw RuleViolation("assign: " + who(s, worker) + " already answered item " + std::to_string(item));
      add.push_back(static_cast<std::uint32_t>(item));
    }
    std::vector<std::uint32_t> merged;
    merged.reserve(list.items.size() + add.size());
    std::merge(list.items.begin(), list.items.end(), add.begin(), add.end(), std::back_inserter(merged));
    for (std::size_t i = 1; i < merged.size(); ++i)
      if (merged[i] == merged[i - 1])
        throw RuleViolation("assign: " + who(s, worker) + " already holds item " + std::to_string(merged[i]));
    list.items = std::move(merged);
    ItemCounts& c = counts_mut(s, task_id);
    for (std::uint32_t item : add) {
      if (c.n[item] >= c.cap(terms->overlap, item))
        throw RuleViolation("assign: item " + std::to_string(item) + " already has its " +
                            std::to_string(c.cap(terms->overlap, item)) + " holder(s) or answer(s)");
      ++c.n[item];
    }
    c.assigned += add.size();
    if (grants_late) {
      std::vector<std::uint32_t> late;
      late.reserve(list.late.size() + add.size());
      std::merge(list.late.begin(), list.late.end(), add.begin(), add.end(), std::back_inserter(late));
      list.late = std::move(late);
    }
    s.assigned.put(k, std::move(list));
  }
}

void apply(State& s, const TxView& tx, const ApplyContext&, const ExtendP& p) {
  // The same bounds publish puts on a task (terms.cc): what a finalize
  // re-executes stays bounded after any number of extends.
  constexpr std::uint64_t kMaxOverlap = 1'000, kMaxSlots = 20'000'000;
  const TaskTerms* terms = s.terms.find(p.task);
  if (terms == nullptr) throw RuleViolation("extend: task " + short_hex(p.task) + " was not published with its rules");
  TaskInfo& t = task_mut(s, p.task);
  if (tx.sender != t.owner) throw NotOwner("extend: only the task owner buys more answers");
  if (t.status != TaskStatus::Open) throw RuleViolation("extend: task " + short_hex(p.task) + " is closed");
  if (terms->n_labels == 0) throw RuleViolation("extend: a collection task takes one upload per item; only labeling tasks extend");
  ItemCounts& c = counts_mut(s, p.task);
  std::uint64_t slots = terms->n_items * terms->overlap;
  for (std::uint16_t x : c.extra) slots += x;
  std::uint64_t added = 0;
  for (auto& [item, extra] : p.items) {
    if (item >= terms->n_items)
      throw RuleViolation("extend: item " + std::to_string(item) + " is outside the task's " + std::to_string(terms->n_items) + " items");
    const std::uint64_t now = c.cap(terms->overlap, item);
    if (extra > kMaxOverlap || now + extra > kMaxOverlap)
      throw RuleViolation("extend: item " + std::to_string(item) + " would want " + std::to_string(now) + " + " +
                          std::to_string(extra) + " answers, more than " + std::to_string(kMaxOverlap));
    added += extra;
  }
  if (slots + added > kMaxSlots)
    throw RuleViolation("extend: the task would hold " + std::to_string(slots + added) + " answer slots, more than " +
                        std::to_string(kMaxSlots));
  // Exactly the published price of the new slots: every new answer is covered
  // at the rate workers were promised, and nothing is locked that no rule pays.
  const unsigned __int128 price = (static_cast<unsigned __int128>(terms->rate) + terms->policy_base) * added;
  if (price != p.amount)
    throw RuleViolation("extend: " + std::to_string(added) + " more answer(s) at " + std::to_string(terms->rate + terms->policy_base) +
                        " per answer cost " + (price > ~std::uint64_t{0} ? std::string("more than 2^64") : std::to_string(static_cast<std::uint64_t>(price))) +
                        ", the transaction locks " + std::to_string(p.amount));
  Id task_id = p.task;
  Address owner = t.owner;
  s.debit(owner, p.amount, "extend escrow");
  TaskInfo& tt = task_mut(s, task_id);  // re-fetch after the debit's journal entry
  tt.escrow = add_checked(tt.escrow, p.amount, "task escrow");
  tt.budget = add_checked(tt.budget, p.amount, "task budget");
  ItemCounts& cc = counts_mut(s, task_id);
  if (cc.extra.empty()) cc.extra.assign(terms->n_items, 0);
  for (auto& [item, extra] : p.items) cc.extra[item] = static_cast<std::uint16_t>(cc.extra[item] + extra);
}

SettleOutput settle_task(const State& s, const Id& task, const TaskTerms& terms, const Hash32& salt,
                         const std::vector<std::pair<std::uint64_t, std::uint64_t>>& gold, bool partial,
                         std::uint64_t escrow) {
  bool has_gold = terms.gold_commitment != Hash32{};
  if (!has_gold && !gold.empty())
    throw InvalidTransaction("finalize: the task committed to no control items, yet the finalize reveals " +
                             std::to_string(gold.size()));
  if (has_gold && gold_commitment(salt, gold) != terms.gold_commitment)
    throw InvalidTransaction("finalize: the gold reveal does not match the commitment made at publish");
  SettleInput in;
  in.terms = &terms;
  in.gold = gold;
  in.partial = partial;
  in.escrow = escrow;
  if (const ItemCounts* c = s.item_counts.find(task); c != nullptr && !c->extra.empty())
    in.extra.assign(c->extra.begin(), c->extra.end());
  auto lists = answer_lists(s, task);
  in.workers.reserve(lists.size());
  for (std::size_t w = 0; w < lists.size(); ++w) {
    in.workers.push_back(lists[w].first);
    const StakeInfo* st = s.stakes.find(key52(task, lists[w].first));
    in.stakes.push_back(st ? st->amount : 0);
    const AnswerList& list = *lists[w].second;
    for (std::size_t i = 0; i < list.rows.size(); ++i)
      in.answers.push_back(SettleAnswer{list.rows[i].first, static_cast<std::uint32_t>(w), list.rows[i].second,
                                        list.plain() ? kNoDuration : list.duration_ms[i],
                                        list.plain() ? 0u : list.confidence_ppm[i]});
  }
  return settle(in);
}

void check_settlement(const State& s, const FinalizeP& p, const SettleOutput& want, bool discretionary) {
  // Both lists are sorted by address: walk them together and name the first
  // worker whose amount differs (absent = 0).
  auto first_pair_diff = [&](const auto& got, const auto& exp, const char* what) {
    std::size_t i = 0, j = 0;
    while (i < got.size() || j < exp.size()) {
      const Address* a;
      std::uint64_t g = 0, e = 0;
      if (j >= exp.size() || (i < got.size() && got[i].first < exp[j].first)) {
        a = &got[i].first; g = got[i].second; ++i;
      } else if (i >= got.size() || exp[j].first < got[i].first) {
        a = &exp[j].first; e = exp[j].second; ++j;
      } else {
        a = &got[i].first; g = got[i].second; e = exp[j].second; ++i; ++j;
      }
      if (g != e)
        throw InvalidTransaction("finalize: " + std::string(what) + " of " + who(s, *a) + " is " + format_tag(g) +
                                 ", the task's published rules give " + format_tag(e));
    }
  };
  if (!discretionary) first_pair_diff(p.payouts, want.payouts, "the payout");
  first_pair_diff(p.slashes, want.slashes, "the slash");
  std::size_t n = std::max(p.reputation.size(), want.reputation.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (i < p.reputation.size() && i < want.reputation.size() && p.reputation[i] == want.reputation[i]) continue;
    const auto& e = i < want.reputation.size() ? want.reputation[i] : p.reputation[i];
    throw InvalidTransaction("finalize: the reputation change of " + who(s, std::get<0>(e)) +
                             " differs from the one the task's published rules give (" + std::to_string(std::get<1>(e)) +
                             " correct, " + std::to_string(std::get<2>(e)) + " incorrect)");
  }
  if (!discretionary && p.result_hash != want.result_hash)
    throw InvalidTransaction("finalize: the result hash differs from the re-executed consensus");
}

void release_stakes(State& s, const Id& task, std::uint64_t height) {
  std::vector<Key52> keys;
  for (const auto& [k, st] : s.stakes.all())
    if (std::equal(task.begin(), task.end(), k.begin()) && st.unlock_height <= height) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  for (const Key52& k : keys) {
    StakeInfo st = *s.stakes.find(k);
    s.stakes.erase(k);
    if (st.amount > 0) s.credit(st.staker, st.amount, "stake release");
  }
}

}  // namespace tagger::ledger::contracts
