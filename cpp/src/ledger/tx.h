// Transactions: the envelope (body + signature) and the typed payload of each
// kind. Decoding is strict (canonical msgpack, exact field counts and sizes);
// stateless rules live in tx_check, stateful ones in state/contracts.
#pragma once

#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "tagger/codec.h"
#include "tagger/ledger.h"
#include "tagger/settle.h"

namespace tagger::ledger {

// Size limits that make a tx's cost bounded (RuleViolation past them).
constexpr std::size_t kMaxName = 64;
constexpr std::size_t kMaxMemo = 256;
constexpr std::size_t kMaxSkills = 64;
constexpr std::size_t kMaxText = 512;
constexpr std::size_t kMaxReasons = 16;
constexpr std::size_t kMaxKeyBlob = 1024;
constexpr std::size_t kMaxRoyalties = 64;
constexpr std::size_t kMaxListEntries = 100'000;  // answers, payouts, slashes per tx

struct RegisterP { crypto::PublicKey sealing_key; std::string name; std::vector<std::pair<std::string, std::uint32_t>> skills; };
struct MintP { Address to; std::uint64_t amount; };
struct TransferP { Address to; std::uint64_t amount; std::string memo; };
struct EscrowLockP { std::uint64_t budget; std::uint64_t required_stake; Hash32 params_hash; std::optional<Address> verifier; };
// Answers (kind 11): [task, [[item, label]...], batch_hash, count] and, only
// when given, a fifth field of signed durations in ms (empty or one per
// answer) and a sixth of the copilot's confidences in ppm (one per answer).
struct AnswersP {
  Id task;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> answers;
  std::optional<Hash32> batch_hash;
  std::uint64_t count = 0;
  std::vector<std::uint64_t> duration_ms;
  std::vector<std::uint64_t> confidence_ppm;
};
struct UploadP { Id task; Address worker; std::uint64_t item; Hash32 ciphertext_hash; std::uint64_t verdict; std::vector<std::string> reasons; };
// A task published with its rules (kind 15): an escrow lock plus the terms the
// ledger re-executes at finalize.
struct PublishP { EscrowLockP lock; TaskTerms terms; };
// Slots of a published task's assignment (kind 16), by its owner: `grants` give
// workers items; `revokes` (after the deadline) take back unanswered ones.
using SlotList = std::vector<std::pair<Address, std::vector<std::uint64_t>>>;
struct AssignP { Id task; SlotList grants; SlotList revokes; };
// More answers for some items of a published task (kind 17), by its owner:
// `items` (item, extra answers wanted), increasing items, extra >= 1; `amount`
// is locked into the task's escrow and must be exactly the price of the new
// slots, (rate + policy_base) x sum(extra).
struct ExtendP { Id task; std::uint64_t amount = 0; std::vector<std::pair<std::uint64_t, std::uint64_t>> items; };
struct FinalizeP {
  Id task;
  std::vector<std::pair<Address, std::uint64_t>> payouts;
  std::vector<std::tuple<Address, std::uint64_t, std::uint64_t>> reputation;
  std::vector<std::pair<Address, std::uint64_t>> slashes;
  Hash32 result_hash;
  // The settled form (8 fields) of a published task: the gold reveal checked
  // against the commitment, and whether only the answered items are settled.
  bool settled = false;
  Hash32 gold_salt{};
  std::vector<std::pair<std::uint64_t, std::uint64_t>> gold;
  bool partial = false;
};
struct RefundP { Id task; };
struct StakeP { std::optional<Id> task; std::uint64_t amount; std::uint64_t unlock_height; };
struct UnstakeP { std::optional<Id> task; };
struct SlashP { Id task; Address staker; std::uint64_t amount; std::string reason; };
struct NftMintP { Id task; Hash32 manifest_hash; std::vector<std::pair<Address, std::uint32_t>> royalties; std::string license; std::string uri; Bytes key_blob; };
struct NftTransferP { Id nft; Address to; Bytes key_blob; };
struct ListP { Id nft; ListingKind kind; std::uint64_t price; };
struct BuyP { Id listing; std::uint64_t price; Bytes key_blob; Bytes grant_sig; };
struct CancelP { Id listing; };

using Payload = std::variant<RegisterP, MintP, TransferP, EscrowLockP, AnswersP, UploadP, FinalizeP,
                             RefundP, StakeP, UnstakeP, SlashP, NftMintP, NftTransferP, ListP, BuyP,
                             CancelP, PublishP, AssignP, ExtendP>;

// The terms' canonical encoding (docs/ledger.md, kind 15): one array of 19 fields.
void encode_terms(codec::Writer& w, const TaskTerms& t);
TaskTerms decode_terms(codec::Reader& r);
// Stateless rules of a task's terms (RuleViolation naming the field).
void check_terms(const TaskTerms& t, std::uint64_t budget);

// One decoded transaction. Views point into the record, which must outlive it.
struct TxView {
  ByteView record;  // array(2) [bin body, bin signature]
  ByteView body;    // array(6) [version, chain_id, kind, sender_key, nonce, payload]
  ByteView signature;
  std::uint64_t chain_id = 0;
  TxKind kind{};
  crypto::PublicKey sender_key{};
  Address sender{};
  std::uint64_t nonce = 0;
  Payload payload;
};

// Envelope + payload schema; DecodeError says what is wrong.
TxView decode_tx(ByteView record);
// The body bytes (without decoding the payload) — for hashing and signing.
Hash32 body_id(ByteView body);
bool is_known_kind(std::uint64_t k);
// Every address a transaction names (sender first), for history.
std::vector<Address> parties(const TxView& tx);

// Stateless rules: version, chain, list order and uniqueness, sizes, basis
// points, non-zero amounts. Throws WrongChain / RuleViolation / AmountOverflow.
void check_stateless(const TxView& tx, std::uint64_t chain_id);

// Checked arithmetic; AmountOverflow names `what`.
std::uint64_t add_checked(std::uint64_t a, std::uint64_t b, const char* what);

}  // namespace tagger::ledger
