// The tagger ledger: signed transactions in hash-chained blocks over native,
// deterministic contracts (accounts, TAG token, escrow, staking, reputation,
// dataset NFTs and a market with royalties). docs/ledger.md is the byte-level
// specification; this header is the C++ contract.
//
// Invariants the Ledger maintains (checked by tests and by verify()):
//  * minted supply == sum(balances) + sum(escrow budgets) + sum(stakes);
//  * a transaction is applied entirely or not at all: on any error the state
//    is exactly as before and the typed error (tagger/errors.h) is thrown;
//  * an account's nonce equals the number of its transactions applied;
//  * every committed block is on disk (fsync) before commit() returns.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tagger/bytes.h"
#include "tagger/crypto.h"

namespace tagger::ledger {

constexpr std::size_t kAddressBytes = 20;
constexpr std::uint32_t kMaxBps = 10'000;         // basis points in 100 %
constexpr std::uint32_t kSkillScale = 1'000'000;  // skills are stored in parts per million
constexpr std::uint64_t kTxVersion = 1;
constexpr std::uint64_t kBlockVersion = 1;

using Address = std::array<std::uint8_t, kAddressBytes>;
using Id = Hash32;  // task, NFT and listing ids: the id of the tx that created them

// address = SHA-256("tagger/address/v1" || 0x00 || ed25519_public_key)[0:20]
Address address_of(const crypto::PublicKey& signing_key);
std::string address_to_string(const Address& a);  // "tg" + 40 lowercase hex digits
Address address_from_string(std::string_view s);  // InvalidArgument on bad input

enum class TxKind : std::uint8_t {
  Register = 1, Mint = 2, Transfer = 3,
  EscrowLock = 10, Answers = 11, UploadReceipt = 12, Finalize = 13, EscrowRefund = 14, Publish = 15, Assign = 16, Extend = 17,
  Stake = 20, Unstake = 21, Slash = 22,
  NftMint = 30, NftTransfer = 31, List = 32, Buy = 33, Cancel = 34,
};
std::string_view kind_name(TxKind k);
std::vector<std::pair<int, std::string>> kind_table();  // (code, name) for every kind

// ---- transactions ----------------------------------------------------------

// Builds and signs a transaction. `payload` is the canonical msgpack array of
// the kind's fields (docs/ledger.md); it is checked against the kind's schema
// and the stateless rules before signing, so a malformed payload never gets a
// signature (DecodeError / RuleViolation / AmountOverflow).
Bytes make_tx(const crypto::SigningKey& signer, std::uint64_t chain_id, TxKind kind,
              std::uint64_t nonce, ByteView payload);
// The signing hash: SHA-256("tagger/tx/v1" || 0x00 || body).
Hash32 tx_id(ByteView tx);
// Key-grant message a seller signs so a Buy can carry a key blob for the buyer:
// SHA-256("tagger/keygrant/v1" || 0x00 || chain_id(8, BE) || listing || buyer || SHA-256(blob)).
Hash32 key_grant_message(std::uint64_t chain_id, const Id& listing, const Address& buyer,
                         ByteView key_blob);

// Signs many transfers at once on `threads` threads (benchmarks, bulk payouts).
// Row i: signers[signer_index[i]] sends amounts[i] to recipients[i] with nonces[i].
std::vector<Bytes> make_transfers(const std::vector<crypto::SigningKey>& signers,
                                  const std::vector<std::uint32_t>& signer_index,
                                  const std::vector<Address>& recipients,
                                  const std::vector<std::uint64_t>& amounts,
                                  const std::vector<std::uint64_t>& nonces,
                                  std::uint64_t chain_id, unsigned threads = 0);

// ---- blocks and proofs -----------------------------------------------------

struct BlockHeader {
  std::uint64_t version = kBlockVersion;
  std::uint64_t chain_id = 0;
  std::uint64_t height = 0;
  Hash32 prev_hash{};
  Hash32 tx_root{};     // RFC 6962 Merkle root over the stored tx records
  Hash32 state_root{};  // commitment to the state after the block (docs/ledger.md)
  std::uint64_t timestamp_ms = 0;
  std::uint64_t n_tx = 0;
  // Derived, not encoded in the header bytes:
  Hash32 hash{};                 // SHA-256("tagger/block/v1" || 0x00 || header)
  crypto::Signature signature{}; // producer's Ed25519 signature of `hash`
};

// RFC 6962: leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left || right).
Hash32 merkle_leaf_hash(ByteView data);
Hash32 merkle_root(const std::vector<Hash32>& leaf_hashes);  // SHA-256("") when empty
// Audit path of leaf `index` (RFC 6962 §2.1.1), bottom-up.
std::vector<Hash32> merkle_proof(const std::vector<Hash32>& leaf_hashes, std::size_t index);
// RFC 9162 §2.1.3.2; needs nothing but the arguments.
bool merkle_verify(const Hash32& leaf_hash, std::size_t index, std::size_t tree_size,
                   const std::vector<Hash32>& proof, const Hash32& root);

// ---- state views -------------------------------------------------------------

struct AccountInfo {
  Address address{};
  crypto::PublicKey signing_key{};
  crypto::PublicKey sealing_key{};  // X25519
  std::string name;
  std::vector<std::pair<std::string, std::uint32_t>> skills;  // category -> ppm, sorted
  std::uint64_t balance = 0;
  std::uint64_t nonce = 0;
  std::uint64_t rep_alpha = 0;  // reputation: Beta(alpha + 1, beta + 1) posterior counts
  std::uint64_t rep_beta = 0;
};

enum class TaskStatus : std::uint8_t { Open = 0, Finalized = 1, Cancelled = 2 };

struct TaskInfo {
  Id id{};
  Address owner{};
  Address verifier{};  // may sign upload receipts, slashes and finalize
  std::uint64_t budget = 0;  // locked at creation
  std::uint64_t escrow = 0;  // still locked
  std::uint64_t required_stake = 0;
  Hash32 params_hash{};
  TaskStatus status = TaskStatus::Open;
  std::uint64_t created_height = 0;
  std::uint64_t n_answers = 0;
  std::uint64_t n_uploads = 0;
  Hash32 result_hash{};
  std::optional<Id> nft;
};

struct StakeInfo {
  Address staker{};
  std::optional<Id> task;  // the rule that may slash it; none = not slashable
  std::uint64_t amount = 0;
  std::uint64_t unlock_height = 0;
  std::uint64_t slashed = 0;
};

struct NftInfo {
  Id id{};
  Id task{};
  Address holder{};
  Address minter{};
  Hash32 manifest_hash{};
  std::vector<std::pair<Address, std::uint32_t>> royalties;  // bps of each sale price
  std::string license;
  std::string uri;
  std::uint64_t minted_height = 0;
};

enum class ListingKind : std::uint8_t { Sale = 0, License = 1 };

struct ListingInfo {
  Id id{};
  Id nft{};
  Address seller{};
  ListingKind kind = ListingKind::Sale;
  std::uint64_t price = 0;
  std::uint64_t created_height = 0;
};

struct LicenseInfo {
  Id nft{};
  Address holder{};
  Id listing{};
  std::uint64_t price = 0;
  std::uint64_t height = 0;
};

struct Supply {
  std::uint64_t minted = 0;
  std::uint64_t balances = 0;
  std::uint64_t escrowed = 0;
  std::uint64_t staked = 0;
};

// The split of one purchase: seller, royalty recipients, platform fee.
struct PaymentSplit {
  std::uint64_t seller = 0;
  std::uint64_t fee = 0;
  std::vector<std::pair<Address, std::uint64_t>> royalties;
};
// royalty_i = floor(price * bps_i / 10000); the units lost to flooring inside
// the total floor(price * sum_bps / 10000) go one each to the recipients with
// the largest fractional parts (ties: order in the list, i.e. by address);
// fee = floor(price * fee_bps / 10000); seller gets the rest.
PaymentSplit split_payment(std::uint64_t price, std::uint32_t fee_bps,
                           const std::vector<std::pair<Address, std::uint32_t>>& royalties);

// ---- the ledger ---------------------------------------------------------------

struct GenesisConfig {
  std::string name = "tagger";
  std::uint64_t chain_id = 0;   // 0: a random one
  std::uint32_t fee_bps = 0;    // platform fee on market sales, paid to the issuer
  std::uint64_t timestamp_ms = 0;  // 0: now
};

struct OpenReport {
  std::uint64_t blocks = 0;          // blocks in the log (genesis included)
  std::uint64_t transactions = 0;
  std::uint64_t replayed_from = 0;   // first height applied (after the snapshot, if any)
  std::int64_t snapshot_height = -1; // -1: no usable snapshot
  std::string snapshot_note;         // why a snapshot was not used
  std::uint64_t torn_bytes = 0;      // bytes of a torn last record cut off
  double seconds = 0;
};

struct VerifyReport {
  std::uint64_t blocks = 0;
  std::uint64_t transactions = 0;
  std::uint64_t signatures = 0;
  Hash32 state_root{};
  double seconds = 0;
};

struct HistoryRow {
  std::uint64_t height = 0;
  std::uint32_t index = 0;
  TxKind kind{};
  Hash32 txid{};
  Address sender{};
  std::uint64_t timestamp_ms = 0;
  Bytes tx;  // stored record
};

// An account's first incoming transfer: who funded it, and when (the Sybil
// rule of the fraud screen reads it).
struct Funding {
  Address funder{};
  std::uint64_t height = 0;
};

struct LedgerOptions {
  std::uint64_t snapshot_every = 256;  // blocks between state snapshots (0: never)
  bool sync = true;                    // fsync on commit (tests of speed may turn it off)
  bool read_only = false;              // no lock, no writes
};

struct TaskTerms;     // tagger/settle.h
struct SettleOutput;  // tagger/settle.h

// Threads: one Ledger may be used from any number of threads at once. Queries
// (account, balance, task, header, history, ...) share a reader lock; submit,
// submit_batch, commit, discard_pending, apply_block, snapshot and set_producer
// take it exclusively, so each is atomic with respect to the others (their
// decoding and signature checks run before the lock is taken). verify() and
// history() on disk copy the committed prefix under the lock and read it
// without the lock (the log is append-only), so commits go on meanwhile and
// they check exactly the blocks committed when they started. Pending
// transactions are shared: a commit seals whatever any thread submitted (group
// them with an outer lock, as tagger.Network.batch() does, to keep one caller's
// transactions in one block). The lock is never held while waiting on anything
// else, so callers may hold their own locks (or the Python GIL) around calls.
// The Ledger must outlive every call in progress on it.
class Ledger {
 public:
  // A new ledger in `dir` (created; must not hold a ledger yet).
  static std::unique_ptr<Ledger> create(const std::string& dir, const GenesisConfig& config,
                                        const crypto::SigningKey& issuer,
                                        const crypto::SigningKey& producer,
                                        const LedgerOptions& options = {});
  // An existing ledger; CorruptLedger names the damaged block, LedgerLocked if
  // another writer holds the directory (the lock is a flock on blocks.log
  // itself, plus LOCK naming the holder's pid). read_only takes no lock and
  // reads the prefix of whole records present when it maps the log, ignoring a
  // torn tail (not cut) and snapshots above that prefix: a writer may be
  // appending meanwhile.
  static std::unique_ptr<Ledger> open(const std::string& dir, const LedgerOptions& options = {});
  // The same code path with the log kept in memory.
  static std::unique_ptr<Ledger> memory(const GenesisConfig& config, const crypto::SigningKey& issuer,
                                        const crypto::SigningKey& producer);
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Sets the key that signs blocks; must be the genesis producer (NotAuthorized).
  void set_producer(const crypto::SigningKey& producer);

  std::uint64_t chain_id() const;
  std::uint64_t height() const;  // of the last committed block
  std::uint32_t fee_bps() const;
  Address issuer() const;
  crypto::PublicKey producer() const;
  std::string name() const;
  bool in_memory() const;
  const std::string& dir() const;
  OpenReport open_report() const;

  // Checks and applies one transaction to the pending state (typed error and
  // no change on failure). Returns its id.
  Hash32 submit(ByteView tx);
  // All or nothing: stateless checks and batch signature verification on
  // `threads` threads, then the transactions in order. On a failure nothing of
  // the batch stays and the error names the index.
  std::vector<Hash32> submit_batch(const std::vector<ByteView>& txs, unsigned threads = 0);
  std::size_t pending() const;
  void discard_pending();
  // Seals the pending transactions into a block, appends it and fsyncs.
  // Returns the header; with nothing pending returns the last header.
  BlockHeader commit(std::uint64_t timestamp_ms = 0);
  // Submits and commits a block of already-signed transactions (benchmarks, import).
  BlockHeader apply_block(const std::vector<ByteView>& txs, unsigned threads = 0);
  void snapshot();  // writes a state snapshot for the last committed block now

  // Queries read the latest state (pending transactions included).
  std::optional<AccountInfo> account(const Address& a) const;
  std::uint64_t balance(const Address& a) const;  // 0 for an unknown address
  std::uint64_t next_nonce(const Address& a) const;
  std::optional<TaskInfo> task(const Id& id) const;
  std::optional<StakeInfo> stake(const Address& staker, const std::optional<Id>& task) const;
  std::optional<NftInfo> nft(const Id& id) const;
  std::optional<ListingInfo> listing(const Id& id) const;
  std::vector<ListingInfo> listings() const;  // active, sorted by id
  std::optional<LicenseInfo> license(const Id& nft, const Address& holder) const;
  std::vector<LicenseInfo> licenses_of(const Address& holder) const;
  std::optional<Bytes> key_grant(const Id& nft, const Address& holder) const;
  std::uint64_t contributions(const Id& task, const Address& worker) const;
  // The rules of a task published with kind `publish` (none for an escrow_lock task).
  std::optional<TaskTerms> terms(const Id& task) const;
  // What a finalize of the published task must carry now: the settlement the
  // ledger will re-execute, from the answers on the ledger and the gold reveal
  // (InvalidTransaction if the reveal does not match the commitment,
  // IncompleteTask if slots are missing and !partial).
  SettleOutput settlement(const Id& task, const Hash32& gold_salt,
                          const std::vector<std::pair<std::uint64_t, std::uint64_t>>& gold, bool partial) const;
  // The items each worker holds in a published task's assignment (`assign`), by address.
  std::vector<std::pair<Address, std::vector<std::uint32_t>>> assignments(const Id& task) const;
  // Answers bought beyond the overlap per item by `extend` (kind 17); empty
  // when the task was never extended or is not a published task.
  std::vector<std::uint32_t> item_extra(const Id& task) const;
  std::vector<AccountInfo> accounts() const;  // sorted by address
  Supply supply() const;
  Hash32 state_root() const;           // of the latest state (incremental)
  Hash32 state_root_reference() const; // the same from scratch (tests)

  BlockHeader header(std::uint64_t height) const;
  Bytes block_record(std::uint64_t height) const;     // the stored record
  std::vector<Bytes> block_txs(std::uint64_t height) const;
  std::vector<HistoryRow> history(const Address& a) const;
  // For each of `accounts`, its first incoming transfer (nullopt: none), in one
  // pass over the committed blocks.
  std::vector<std::optional<Funding>> first_fundings(const std::vector<Address>& accounts) const;

  // Re-checks every block from genesis on a fresh state: framing, hash chain,
  // producer signatures, Merkle roots, every transaction signature (batched on
  // `threads` threads), every state root and the supply invariant.
  VerifyReport verify(unsigned threads = 0) const;

 private:
  struct Impl;
  explicit Ledger(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Decodes a stored block record into header + tx records (CorruptLedger if malformed).
std::pair<BlockHeader, std::vector<Bytes>> decode_block(ByteView record);
BlockHeader decode_header(ByteView header_bytes);

// ---- keystore -------------------------------------------------------------------

// scrypt(passphrase, salt; N, r, p) -> 32-byte key (OpenSSL EVP_KDF "SCRYPT"),
// then AES-256-GCM over the secret with the header as associated data.
struct ScryptParams {
  std::uint64_t n = 1u << 15;
  std::uint32_t r = 8;
  std::uint32_t p = 1;
};
Bytes keystore_seal(ByteView secret, std::string_view passphrase, const ScryptParams& params = {});
// DecryptionFailed for a wrong passphrase or a damaged file.
SecretBytes keystore_open(ByteView sealed, std::string_view passphrase);

}  // namespace tagger::ledger

// ---- batch paths of the workflow (batch.cc) ----------------------------------------
// Whole-array versions of what the Python workflow would otherwise do one row at
// a time. Each produces exactly the bytes of the per-row definition it names
// (tests compare them on random inputs).
namespace tagger::ledger {

// Entries in one `answers` transaction's list (docs/ledger.md: lists hold at
// most 100,000 entries).
constexpr std::size_t kMaxAnswersPerTx = 100'000;

// The payload of an `answers` transaction (docs/ledger.md, kind 11) holding n
// (item, label) pairs: [task bin(32), [[item u64, label u64], …], bin(0), n].
// InvalidArgument if the spans differ in length, are empty, longer than
// kMaxAnswersPerTx, or hold a negative value (naming the row).
// duration_ms (signed response times) and confidence_ppm (the copilot's) are
// empty or one per answer; they are written only when given.
Bytes answers_payload(const Id& task, std::span<const std::int32_t> items,
                      std::span<const std::int32_t> labels,
                      std::span<const std::uint32_t> duration_ms = {},
                      std::span<const std::uint32_t> confidence_ppm = {});

// One signed `answers` transaction per group, built on `threads` threads (0: all
// cores): group g holds rows [offsets[g], offsets[g + 1]) and is signed by
// signers[g] with nonce nonces[g]. Each record equals
// make_tx(signers[g], chain_id, TxKind::Answers, nonces[g], answers_payload(task, rows)).
// offsets has one more entry than signers, starts at 0, never decreases and ends
// at items.size() (InvalidArgument otherwise).
std::vector<Bytes> make_answers_txs(const std::vector<crypto::SigningKey>& signers,
                                    const std::vector<std::uint64_t>& nonces,
                                    std::span<const std::int64_t> offsets,
                                    std::span<const std::int32_t> items,
                                    std::span<const std::int32_t> labels, const Id& task,
                                    std::uint64_t chain_id, unsigned threads = 0,
                                    std::span<const std::uint32_t> duration_ms = {});

// Leaves of a dataset NFT's manifest (python/tagger/market.py): leaf i is the
// canonical msgpack [item_ids[i] str, commitments[32 i, 32 i + 32) bin(32),
// label_names[label_codes[i]] str]. `commitments` holds 32 bytes per item.
// InvalidArgument on mismatched sizes, a code outside label_names or text that
// is not UTF-8.
std::vector<Bytes> manifest_leaves(const std::vector<std::string_view>& item_ids, ByteView commitments,
                                   std::span<const std::int32_t> label_codes,
                                   const std::vector<std::string>& label_names);
// The item ids (first field) of manifest leaves; DecodeError names a malformed leaf.
std::vector<std::string> manifest_leaf_ids(const std::vector<ByteView>& leaves);

// merkle_leaf_hash of every record, on `threads` threads (0: all cores).
std::vector<Hash32> merkle_leaf_hashes(const std::vector<ByteView>& records, unsigned threads = 0);
// SHA-256(salt || data[i]) for every i, on `threads` threads (0: all cores).
std::vector<Hash32> salted_sha256(ByteView salt, const std::vector<ByteView>& data, unsigned threads = 0);

}  // namespace tagger::ledger

namespace tagger::ledger {

// Every level of an RFC 6962 tree over `leaf_hashes`, kept so that the root and
// any audit path cost O(log n) after an O(n) build (proving every item of a
// dataset is then O(n log n), not O(n^2) as with merkle_proof per item).
// root() == merkle_root(leaf_hashes) and proof(i) == merkle_proof(leaf_hashes, i).
class MerkleTree {
 public:
  explicit MerkleTree(std::vector<Hash32> leaf_hashes);
  std::size_t size() const { return levels_.front().size(); }
  Hash32 root() const;
  const Hash32& leaf(std::size_t index) const;  // InvalidArgument out of range
  std::vector<Hash32> proof(std::size_t index) const;  // InvalidArgument out of range

 private:
  // levels_[0]: the leaves; levels_[k + 1][i] = node(levels_[k][2i], levels_[k][2i + 1]),
  // an unpaired last node promoted unchanged (the RFC 6962 shape; merkle.cc).
  std::vector<std::vector<Hash32>> levels_;
};

}  // namespace tagger::ledger
