// The ledger state: typed tables with an undo journal (for atomic apply and
// for discarding pending transactions) and an incremental state root.
//
// State root (docs/ledger.md): every entry has a leaf
//   leaf = SHA-256(0x00 || table_tag || key || canonical_value)
// entries fall into kBuckets buckets by two bytes of their key; a bucket's
// digest is SHA-256("tagger/state-bucket/v1" || 0x00 || leaves in key order);
//   state_root = SHA-256("tagger/state/v1" || 0x00 || MTH(bucket digests) || minted(8, BE))
// where MTH is the RFC 6962 tree with the bucket digests as its leaf hashes.
// Only buckets touched since the last root are re-hashed.
#pragma once

#include <array>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ledger/tx.h"
#include "tagger/codec.h"
#include "tagger/ledger.h"

namespace tagger::ledger {

using Key52 = std::array<std::uint8_t, 52>;  // id (32) || address (20)
Key52 key52(const Id& id, const Address& a);
Key52 key52(const std::optional<Id>& id, const Address& a);  // zero id when none

struct KeyHash {
  template <std::size_t N>
  std::size_t operator()(const std::array<std::uint8_t, N>& k) const noexcept {
    std::uint64_t a, b = 0;
    std::memcpy(&a, k.data(), 8);
    if constexpr (N >= 40) std::memcpy(&b, k.data() + 32, 8);
    return static_cast<std::size_t>(a ^ (b * 0x9e3779b97f4a7c15ull));
  }
};

enum class TableTag : std::uint8_t {
  Account = 1, Task = 2, Stake = 3, Nft = 4, Listing = 5, License = 6, Grant = 7, Contribution = 8,
  Terms = 9, Answers = 10, ItemCounts = 11, Assigned = 12,
};

// One worker's answers to one published task, sorted by item (unique items):
// what finalize re-executes. Encoded as bin of (item BE32, label BE32) rows.
struct AnswerList {
  std::vector<std::pair<std::uint32_t, std::uint32_t>> rows;  // (item, label), increasing items
  // Per row, or both empty when no row has either (then the entry is encoded
  // as the rows' bin alone, the form it had before these existed).
  std::vector<std::uint32_t> duration_ms;     // kNoDuration: not given
  std::vector<std::uint32_t> confidence_ppm;  // the copilot's; 0 for a human
  bool plain() const { return duration_ms.empty() && confidence_ppm.empty(); }
};
// Answers (or accepted uploads) per item of a published task, to refuse more
// than `overlap`. Encoded as bin of BE16 counts.
struct ItemCounts {
  std::vector<std::uint16_t> n;
  std::uint64_t assigned = 0;  // slots granted by `assign` (0: anyone staked may answer)
  // Answers wanted beyond `overlap` per item, bought by `extend` (kind 17);
  // empty until the first extend. Encoded as a third field (bin of BE16) only
  // then, so the entries of never-extended tasks keep their bytes and hashes.
  std::vector<std::uint16_t> extra;
  std::uint64_t cap(std::uint64_t overlap, std::size_t item) const { return overlap + (extra.empty() ? 0 : extra[item]); }
};
// The items one worker holds in a published task's assignment, increasing.
// Encoded as bin of BE32 items.
struct ItemList {
  std::vector<std::uint32_t> items;
  // The items of `items` granted from the task's deadline on, in a task that slashes
  // expired slots. They never expired, so taking them back slashes nothing (an owner
  // could otherwise grant a slot after the deadline and revoke it in the next block,
  // slashing a worker who did all its work). Sorted; encoded only when non-empty, so
  // every other entry keeps its bytes: array(2) [items bin, late bin] instead of the bin.
  std::vector<std::uint32_t> late;
};

// Value encodings (canonical msgpack arrays; docs/ledger.md, "State entries").
void encode_value(codec::Writer& w, const AccountInfo& v);
void encode_value(codec::Writer& w, const TaskInfo& v);
void encode_value(codec::Writer& w, const StakeInfo& v);
void encode_value(codec::Writer& w, const NftInfo& v);
void encode_value(codec::Writer& w, const ListingInfo& v);
void encode_value(codec::Writer& w, const LicenseInfo& v);
void encode_value(codec::Writer& w, const Bytes& v);
void encode_value(codec::Writer& w, const std::uint64_t& v);
void encode_value(codec::Writer& w, const TaskTerms& v);
void encode_value(codec::Writer& w, const AnswerList& v);
void encode_value(codec::Writer& w, const ItemCounts& v);
void decode_value(codec::Reader& r, TaskTerms& v);
void decode_value(codec::Reader& r, AnswerList& v);
void decode_value(codec::Reader& r, ItemCounts& v);
void encode_value(codec::Writer& w, const ItemList& v);
void decode_value(codec::Reader& r, ItemList& v);
void decode_value(codec::Reader& r, AccountInfo& v);
void decode_value(codec::Reader& r, TaskInfo& v);
void decode_value(codec::Reader& r, StakeInfo& v);
void decode_value(codec::Reader& r, NftInfo& v);
void decode_value(codec::Reader& r, ListingInfo& v);
void decode_value(codec::Reader& r, LicenseInfo& v);
void decode_value(codec::Reader& r, Bytes& v);
void decode_value(codec::Reader& r, std::uint64_t& v);

class RootCache;

// One table: a hash map whose every mutation records the old value.
template <class K, class V, TableTag Tag>
class Table {
 public:
  static constexpr TableTag kTag = Tag;
  const V* find(const K& k) const {
    auto it = map_.find(k);
    return it == map_.end() ? nullptr : &it->second;
  }
  // Mutable access to an existing entry (journaled); nullptr if absent.
  V* edit(const K& k) {
    auto it = map_.find(k);
    if (it == map_.end()) return nullptr;
    note(k, it->second);
    return &it->second;
  }
  V& put(const K& k, V v) {
    auto it = map_.find(k);
    if (it == map_.end()) {
      journal_.emplace_back(k, std::nullopt);
      if (tracking_) dirty_.push_back(k);
      return map_.emplace(k, std::move(v)).first->second;
    }
    note(k, it->second);
    it->second = std::move(v);
    return it->second;
  }
  void erase(const K& k) {
    auto it = map_.find(k);
    if (it == map_.end()) return;
    journal_.emplace_back(k, std::move(it->second));
    if (tracking_) dirty_.push_back(k);
    map_.erase(it);
  }
  std::size_t journal_size() const { return journal_.size(); }
  void rollback(std::size_t to) {
    while (journal_.size() > to) {
      auto& [k, old] = journal_.back();
      if (old) map_[k] = std::move(*old);
      else map_.erase(k);
      if (tracking_) dirty_.push_back(k);
      journal_.pop_back();
    }
  }
  void clear_journal() { journal_.clear(); }
  const std::unordered_map<K, V, KeyHash>& all() const { return map_; }
  std::size_t size() const { return map_.size(); }
  void set_tracking(bool on) { tracking_ = on; dirty_.clear(); }
  std::vector<K>& dirty() { return dirty_; }
  // Bulk load (snapshots): no journal, no tracking.
  void load(const K& k, V v) { map_[k] = std::move(v); }
  // Fills fields derived from the key after a bulk load.
  template <class F>
  void fix_loaded(F&& f) { for (auto& [k, v] : map_) f(k, v); }

 private:
  void note(const K& k, const V& old) {
    journal_.emplace_back(k, old);
    if (tracking_) dirty_.push_back(k);
  }
  std::unordered_map<K, V, KeyHash> map_;
  std::vector<std::pair<K, std::optional<V>>> journal_;
  std::vector<K> dirty_;
  bool tracking_ = true;
};

// Per-block context of an apply.
struct ApplyContext {
  std::uint64_t height = 0;  // of the block the transaction goes into
  Hash32 txid{};
};

class State {
 public:
  State(std::uint64_t chain_id, const Address& issuer, std::uint32_t fee_bps);
  ~State();
  State(State&&) noexcept;
  State& operator=(State&&) noexcept;

  // Applies one decoded, stateless-checked, signature-checked transaction.
  // All or nothing: on any exception the state is exactly as before.
  void apply(const TxView& tx, const ApplyContext& ctx);

  struct Savepoint {
    std::array<std::size_t, 12> sizes{};
    std::uint64_t minted = 0;
  };
  Savepoint savepoint() const;
  void rollback(const Savepoint& sp);
  void clear_journal();

  // Incremental root; with tracking off (replay) the next root rebuilds all.
  Hash32 root();
  Hash32 root_reference() const;
  void set_tracking(bool on);

  Supply supply() const;  // sums over every table (O(state))

  Bytes encode_snapshot() const;  // tables in key order + minted
  static State decode_snapshot(ByteView data, std::uint64_t chain_id, const Address& issuer, std::uint32_t fee_bps);

  std::uint64_t chain_id;
  Address issuer;
  std::uint32_t fee_bps;
  std::uint64_t minted = 0;
  Table<Address, AccountInfo, TableTag::Account> accounts;
  Table<Id, TaskInfo, TableTag::Task> tasks;
  Table<Key52, StakeInfo, TableTag::Stake> stakes;
  Table<Id, NftInfo, TableTag::Nft> nfts;
  Table<Id, ListingInfo, TableTag::Listing> listings;
  Table<Key52, LicenseInfo, TableTag::License> licenses;
  Table<Key52, Bytes, TableTag::Grant> grants;
  Table<Key52, std::uint64_t, TableTag::Contribution> contributions;
  Table<Id, TaskTerms, TableTag::Terms> terms;          // published tasks only
  Table<Key52, AnswerList, TableTag::Answers> answers;  // (task, worker) of published tasks
  Table<Id, ItemCounts, TableTag::ItemCounts> item_counts;
  Table<Key52, ItemList, TableTag::Assigned> assigned;  // (task, worker) of published tasks

  // Helpers for contracts (all journaled through the tables).
  AccountInfo& account_mut(const Address& a, const char* role);  // UnknownAccount
  const AccountInfo& account_ref(const Address& a, const char* role) const;
  void debit(const Address& a, std::uint64_t amount, const char* what);   // InsufficientFunds
  void credit(const Address& a, std::uint64_t amount, const char* what);  // AmountOverflow

 private:
  std::unique_ptr<RootCache> cache_;
};

}  // namespace tagger::ledger
