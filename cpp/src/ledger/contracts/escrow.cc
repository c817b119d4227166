// Tasks and their escrow. A task is created by locking its budget; workers
// record answers (or their hash), the task's verifier records upload receipts,
// and one Finalize moves everything at once: slashes into the escrow, payouts
// to contributors, reputation, and the remainder back to the owner.
#include "ledger/contracts/contracts.h"
#include "tagger/errors.h"

namespace tagger::ledger::contracts {

TaskInfo& task_mut(State& s, const Id& id) {
  TaskInfo* t = s.tasks.edit(id);
  if (t == nullptr) throw RuleViolation("unknown task " + short_hex(id));
  return *t;
}

namespace {

void require_open(const TaskInfo& t, const char* what) {
  if (t.status != TaskStatus::Open)
    throw RuleViolation(std::string(what) + ": task " + short_hex(t.id) + " is " +
                        (t.status == TaskStatus::Finalized ? "finalized" : "cancelled"));
}

void add_contribution(State& s, const Id& task, const Address& worker, std::uint64_t n) {
  Key52 k = key52(task, worker);
  const std::uint64_t* old = s.contributions.find(k);
  s.contributions.put(k, add_checked(old ? *old : 0, n, "contribution count"));
}

}  // namespace

void apply(State& s, const TxView& tx, const ApplyContext& c, const EscrowLockP& p) {
  if (s.tasks.find(c.txid)) throw RuleViolation("escrow_lock: task id collision");
  Address verifier = p.verifier.value_or(tx.sender);
  s.account_ref(verifier, "task verifier");
  s.debit(tx.sender, p.budget, "escrow lock");
  TaskInfo t;
  t.id = c.txid;
  t.owner = tx.sender;
  t.verifier = verifier;
  t.budget = p.budget;
  t.escrow = p.budget;
  t.required_stake = p.required_stake;
  t.params_hash = p.params_hash;
  t.created_height = c.height;
  s.tasks.put(t.id, std::move(t));
}

void apply(State& s, const TxView& tx, const ApplyContext&, const AnswersP& p) {
  TaskInfo& t = task_mut(s, p.task);
  require_open(t, "answers");
  const TaskTerms* published = s.terms.find(p.task);
  // The copilot is the owner's model: no stake to slash, no contribution to pay
  // or credit in royalties, and its answers do not stop the owner cancelling.
  if (published != nullptr && published->has_copilot() && tx.sender == published->copilot) {
    record_answers(s, *published, p.task, tx.sender, p);
    return;
  }
  if (!p.confidence_ppm.empty()) throw RuleViolation("answers: only the task's copilot gives confidences");
  if (t.required_stake > 0) {
    const StakeInfo* st = s.stakes.find(key52(p.task, tx.sender));
    std::uint64_t have = st ? st->amount : 0;
    if (have < t.required_stake)
      throw RuleViolation("answers: task requires a stake of " + std::to_string(t.required_stake) +
                          " bound to it, the worker has " + std::to_string(have));
  }
  t.n_answers = add_checked(t.n_answers, p.count, "answer count");
  add_contribution(s, p.task, tx.sender, p.count);
  if (const TaskTerms* terms = s.terms.find(p.task)) {
    if (tx.sender == t.owner) throw RuleViolation("answers: the owner cannot answer its own published task");
    record_answers(s, *terms, p.task, tx.sender, p);
  }
}

void apply(State& s, const TxView& tx, const ApplyContext&, const UploadP& p) {
  TaskInfo& t = task_mut(s, p.task);
  if (tx.sender != t.verifier)
    throw NotAuthorized("upload_receipt: only the task's verifier " + address_to_string(t.verifier) + " may sign receipts");
  require_open(t, "upload_receipt");
  s.account_ref(p.worker, "uploading worker");
  if (p.verdict == 0) {  // only accepted uploads make the worker a contributor
    t.n_uploads = add_checked(t.n_uploads, 1, "upload count");
    add_contribution(s, p.task, p.worker, 1);
    if (const TaskTerms* terms = s.terms.find(p.task)) record_upload(s, *terms, p.task, p.worker, p.item);
  }
}

void apply(State& s, const TxView& tx, const ApplyContext& c, const FinalizeP& p) {
  TaskInfo& t = task_mut(s, p.task);
  if (tx.sender != t.owner && tx.sender != t.verifier)
    throw NotAuthorized("finalize: only the task owner or its verifier may finalize");
  require_open(t, "finalize");
  Id task_id = t.id;
  Address owner = t.owner;
  if (const TaskTerms* terms = s.terms.find(task_id)) {
    if (!p.settled)
      throw InvalidTransaction("finalize: task " + short_hex(task_id) +
                               " was published with its rules; its finalize must reveal the gold and be re-executed");
    if (p.partial && c.height < terms->deadline_height)
      throw RuleViolation("finalize: a partial finalize waits for the deadline at height " +
                          std::to_string(terms->deadline_height) + " (this block is " + std::to_string(c.height) + ")");
    SettleOutput want = settle_task(s, task_id, *terms, p.gold_salt, p.gold, p.partial, t.escrow);
    check_settlement(s, p, want, terms->policy == "discretionary");
  } else if (p.settled) {
    throw RuleViolation("finalize: task " + short_hex(task_id) + " has no published rules to settle by");
  }
  // Slashed stake joins the escrow first, so it can pay honest workers.
  for (auto& [who, amount] : p.slashes) slash_stake(s, task_id, who, amount);
  TaskInfo& tt = task_mut(s, task_id);  // re-fetch: slash_stake edits the task
  std::uint64_t total = 0;
  for (auto& [who, amount] : p.payouts) {
    const std::uint64_t* n = s.contributions.find(key52(task_id, who));
    if (n == nullptr || *n == 0)
      throw RuleViolation("finalize: " + address_to_string(who) + " made no contribution to the task");
    total = add_checked(total, amount, "total payout");
  }
  if (total > tt.escrow)
    throw InsufficientFunds("finalize: payouts of " + std::to_string(total) + " exceed the escrow of " +
                            std::to_string(tt.escrow));
  std::uint64_t refund = tt.escrow - total;
  tt.escrow = 0;
  tt.status = TaskStatus::Finalized;
  tt.result_hash = p.result_hash;
  for (auto& [who, amount] : p.payouts)
    if (amount > 0) s.credit(who, amount, "payout");
  for (auto& [who, da, db] : p.reputation) add_reputation(s, who, da, db);
  if (refund > 0) s.credit(owner, refund, "escrow refund");
  release_stakes(s, task_id, c.height);
}

void apply(State& s, const TxView& tx, const ApplyContext& c, const RefundP& p) {
  TaskInfo& t = task_mut(s, p.task);
  if (tx.sender != t.owner) throw NotOwner("escrow_refund: only the task owner may cancel the task");
  require_open(t, "escrow_refund");
  if (t.n_answers > 0 || t.n_uploads > 0)
    throw RuleViolation("escrow_refund: the task has contributions; finalize it to pay them");
  std::uint64_t amount = t.escrow;
  t.escrow = 0;
  t.status = TaskStatus::Cancelled;
  if (amount > 0) s.credit(tx.sender, amount, "escrow refund");
  release_stakes(s, p.task, c.height);
}

}  // namespace tagger::ledger::contracts
