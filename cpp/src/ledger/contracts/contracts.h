// Native contracts: deterministic state machines over State. Each function
// checks every stateful rule of its transaction kind and then mutates; the
// caller (State::apply) makes the whole transaction atomic, so a rule checked
// after a mutation still leaves nothing behind when it throws.
#pragma once

#include "ledger/state.h"

namespace tagger::ledger::contracts {

// token.cc
void apply(State& s, const TxView& tx, const ApplyContext& c, const RegisterP& p);
void apply(State& s, const TxView& tx, const ApplyContext& c, const MintP& p);
void apply(State& s, const TxView& tx, const ApplyContext& c, const TransferP& p);
// escrow.cc: tasks, answers, upload receipts, finalize, refund
void apply(State& s, const TxView& tx, const ApplyContext& c, const EscrowLockP& p);
void apply(State& s, const TxView& tx, const ApplyContext& c, const AnswersP& p);
void apply(State& s, const TxView& tx, const ApplyContext& c, const UploadP& p);
void apply(State& s, const TxView& tx, const ApplyContext& c, const FinalizeP& p);
void apply(State& s, const TxView& tx, const ApplyContext& c, const RefundP& p);
// published.cc: tasks published with their rules (kind 15)
void apply(State& s, const TxView& tx, const ApplyContext& c, const PublishP& p);
// Grants and (after the deadline) revokes slots of a published task's assignment;
// a revoked holder loses `expiry_slash_bps` of its stake bound to the task.
void apply(State& s, const TxView& tx, const ApplyContext& c, const AssignP& p);
// Buys more answers for some items (kind `extend`): locks exactly their price
// from the owner into the escrow and raises those items' answer caps.
void apply(State& s, const TxView& tx, const ApplyContext& c, const ExtendP& p);
// Records a worker's answers to a published task (RuleViolation for an item or
// label outside the task, a repeated item, or an item that has its overlap).
void record_answers(State& s, const TaskTerms& terms, const Id& task, const Address& worker, const AnswersP& p);
void record_upload(State& s, const TaskTerms& terms, const Id& task, const Address& worker, std::uint64_t item);
// The settlement of a published task from the answers on the ledger, after
// checking the gold reveal against the commitment (InvalidTransaction).
SettleOutput settle_task(const State& s, const Id& task, const TaskTerms& terms, const Hash32& salt,
                         const std::vector<std::pair<std::uint64_t, std::uint64_t>>& gold, bool partial,
                         std::uint64_t escrow);
// InvalidTransaction naming the first worker whose payout, slash or reputation
// in `p` differs from `want` (payouts and result hash are not compared under a
// discretionary policy).
void check_settlement(const State& s, const FinalizeP& p, const SettleOutput& want, bool discretionary);
// Returns every stake bound to `task` whose lock has ended to its staker.
void release_stakes(State& s, const Id& task, std::uint64_t height);
std::string format_tag(std::uint64_t base_units);  // "1.500000 TAG"
// staking.cc
void apply(State& s, const TxView& tx, const ApplyContext& c, const StakeP& p);
void apply(State& s, const TxView& tx, const ApplyContext& c, const UnstakeP& p);
void apply(State& s, const TxView& tx, const ApplyContext& c, const SlashP& p);
// Moves `amount` of the stake (task, staker) into the task's escrow.
void slash_stake(State& s, const Id& task, const Address& staker, std::uint64_t amount);
// nft.cc
void apply(State& s, const TxView& tx, const ApplyContext& c, const NftMintP& p);
void apply(State& s, const TxView& tx, const ApplyContext& c, const NftTransferP& p);
// market.cc
void apply(State& s, const TxView& tx, const ApplyContext& c, const ListP& p);
void apply(State& s, const TxView& tx, const ApplyContext& c, const BuyP& p);
void apply(State& s, const TxView& tx, const ApplyContext& c, const CancelP& p);
// reputation.cc
void add_reputation(State& s, const Address& a, std::uint64_t d_alpha, std::uint64_t d_beta);

// Shared lookups with typed errors.
TaskInfo& task_mut(State& s, const Id& id);  // RuleViolation when unknown
std::string short_hex(ByteView b);

}  // namespace tagger::ledger::contracts
