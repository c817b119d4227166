// Stakes: tokens locked by an account, optionally bound to a task. Only the
// rule that created a stake may slash it: a stake bound to task T can be
// slashed by T's owner or verifier (Slash, or the slashes of T's Finalize)
// while T is open, and by nothing else; a task published with its rules only by
// them (re-executed finalize slashes, expired slots: Slash is refused); an
// unbound stake is never slashable.
// A stake unlocks at its unlock height, and a task-bound one only once the
// task is no longer open.
#include "ledger/contracts/contracts.h"
#include "tagger/errors.h"

namespace tagger::ledger::contracts {

void slash_stake(State& s, const Id& task, const Address& staker, std::uint64_t amount) {
  StakeInfo* st = s.stakes.edit(key52(task, staker));
  if (st == nullptr)
    throw RuleViolation("slash: " + address_to_string(staker) + " has no stake bound to task " + short_hex(task));
  if (amount > st->amount)
    throw RuleViolation("slash: " + std::to_string(amount) + " exceeds the stake of " + std::to_string(st->amount));
  st->amount -= amount;
  st->slashed = add_checked(st->slashed, amount, "slashed total");
  TaskInfo& t = task_mut(s, task);
  t.escrow = add_checked(t.escrow, amount, "escrow");
}

void apply(State& s, const TxView& tx, const ApplyContext& c, const StakeP& p) {
  if (p.task) {
    const TaskInfo* t = s.tasks.find(*p.task);
    if (t == nullptr) throw RuleViolation("stake: unknown task " + short_hex(*p.task));
    if (t->status != TaskStatus::Open) throw RuleViolation("stake: task " + short_hex(*p.task) + " is closed");
  }
  if (p.unlock_height < c.height)
    throw RuleViolation("stake: unlock height " + std::to_string(p.unlock_height) + " is in the past");
  s.debit(tx.sender, p.amount, "stake");
  Key52 k = key52(p.task, tx.sender);
  if (StakeInfo* st = s.stakes.edit(k)) {
    st->amount = add_checked(st->amount, p.amount, "stake");
    st->unlock_height = std::max(st->unlock_height, p.unlock_height);
  } else {
    StakeInfo n;
    n.staker = tx.sender;
    n.task = p.task;
    n.amount = p.amount;
    n.unlock_height = p.unlock_height;
    s.stakes.put(k, std::move(n));
  }
}

void apply(State& s, const TxView& tx, const ApplyContext& c, const UnstakeP& p) {
  Key52 k = key52(p.task, tx.sender);
  const StakeInfo* st = s.stakes.find(k);
  if (st == nullptr) throw RuleViolation("unstake: no such stake");
  if (c.height < st->unlock_height)
    throw RuleViolation("unstake: the stake is locked until height " + std::to_string(st->unlock_height) +
                        " (this block is " + std::to_string(c.height) + ")");
  if (p.task) {
    const TaskInfo* t = s.tasks.find(*p.task);
    if (t != nullptr && t->status == TaskStatus::Open)
      throw RuleViolation("unstake: the stake is bound to task " + short_hex(*p.task) + ", which is still open");
  }
  std::uint64_t amount = st->amount;
  s.stakes.erase(k);
  if (amount > 0) s.credit(tx.sender, amount, "unstake");
}

void apply(State& s, const TxView& tx, const ApplyContext&, const SlashP& p) {
  const TaskInfo& t = task_mut(s, p.task);
  if (tx.sender != t.owner && tx.sender != t.verifier)
    throw NotAuthorized("slash: only the owner or verifier of the task that bound the stake may slash it");
  if (t.status != TaskStatus::Open) throw RuleViolation("slash: task " + short_hex(p.task) + " is closed");
  // A published task's stakes answer to its published rules only: the slashes its
  // finalize re-executes and the expiry of held slots. A discretionary slash would let
  // the owner take any worker's stake into the escrow, and back at the refund.
  if (s.terms.find(p.task) != nullptr)
    throw RuleViolation("slash: task " + short_hex(p.task) +
                        " was published with its rules; its stakes are slashed only by them (the finalize's "
                        "re-executed slashes, expired slots)");
  slash_stake(s, p.task, p.staker, p.amount);
}

}  // namespace tagger::ledger::contracts
