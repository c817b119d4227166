#include "ledger/state.h"

#include <algorithm>

#include "ledger/contracts/contracts.h"
#include "ledger/hashing.h"
#include "tagger/errors.h"

namespace tagger::ledger {
using codec::Reader;
using codec::Writer;

constexpr std::size_t kBuckets = 1024;

Key52 key52(const Id& id, const Address& a) {
  Key52 k;
  std::copy(id.begin(), id.end(), k.begin());
  std::copy(a.begin(), a.end(), k.begin() + 32);
  return k;
}
Key52 key52(const std::optional<Id>& id, const Address& a) { return key52(id.value_or(Id{}), a); }

// ---------------------------------------------------------------- encodings

namespace {
template <std::size_t N>
void read_fixed(Reader& r, std::array<std::uint8_t, N>& out) {
  auto v = r.bin_exact(N);
  std::copy(v.begin(), v.end(), out.begin());
}
template <std::size_t N>
void write_optional(Writer& w, const std::optional<std::array<std::uint8_t, N>>& v) {
  if (v) w.bin(*v);
  else w.bin(ByteView{});
}
template <std::size_t N>
std::optional<std::array<std::uint8_t, N>> read_optional(Reader& r) {
  auto v = r.bin();
  if (v.empty()) return std::nullopt;
  if (v.size() != N) throw DecodeError("optional field of the wrong size");
  std::array<std::uint8_t, N> a;
  std::copy(v.begin(), v.end(), a.begin());
  return a;
}
}  // namespace

void encode_value(Writer& w, const AccountInfo& v) {
  w.array_header(8);
  w.bin(v.signing_key);
  w.bin(v.sealing_key);
  w.str(v.name);
  w.array_header(v.skills.size());
  for (auto& [c, ppm] : v.skills) {
    w.array_header(2);
    w.str(c);
    w.uint(ppm);
  }
  w.uint(v.balance);
  w.uint(v.nonce);
  w.uint(v.rep_alpha);
  w.uint(v.rep_beta);
}
void decode_value(Reader& r, AccountInfo& v) {
  r.expect_array(8);
  read_fixed(r, v.signing_key);
  read_fixed(r, v.sealing_key);
  v.name = std::string(r.str());
  std::size_t n = r.array_header();
  v.skills.clear();
  for (std::size_t i = 0; i < n; ++i) {
    r.expect_array(2);
    std::string c(r.str());
    v.skills.emplace_back(std::move(c), static_cast<std::uint32_t>(r.uint()));
  }
  v.balance = r.uint();
  v.nonce = r.uint();
  v.rep_alpha = r.uint();
  v.rep_beta = r.uint();
}

void encode_value(Writer& w, const TaskInfo& v) {
  w.array_header(12);
  w.bin(v.owner);
  w.bin(v.verifier);
  w.uint(v.budget);
  w.uint(v.escrow);
  w.uint(v.required_stake);
  w.bin(v.params_hash);
  w.uint(static_cast<std::uint64_t>(v.status));
  w.uint(v.created_height);
  w.uint(v.n_answers);
  w.uint(v.n_uploads);
  w.bin(v.result_hash);
  write_optional(w, v.nft);
}
void decode_value(Reader& r, TaskInfo& v) {
  r.expect_array(12);
  read_fixed(r, v.owner);
  read_fixed(r, v.verifier);
  v.budget = r.uint();
  v.escrow = r.uint();
  v.required_stake = r.uint();
  read_fixed(r, v.params_hash);
  v.status = static_cast<TaskStatus>(r.uint());
  v.created_height = r.uint();
  v.n_answers = r.uint();
  v.n_uploads = r.uint();
  read_fixed(r, v.result_hash);
  v.nft = read_optional<32>(r);
}

void encode_value(Writer& w, const StakeInfo& v) {
  w.array_header(5);
  w.bin(v.staker);
  write_optional(w, v.task);
  w.uint(v.amount);
  w.uint(v.unlock_height);
  w.uint(v.slashed);
}
void decode_value(Reader& r, StakeInfo& v) {
  r.expect_array(5);
  read_fixed(r, v.staker);
  v.task = read_optional<32>(r);
  v.amount = r.uint();
  v.unlock_height = r.uint();
  v.slashed = r.uint();
}

void encode_value(Writer& w, const NftInfo& v) {
  w.array_header(8);
  w.bin(v.task);
  w.bin(v.holder);
  w.bin(v.minter);
  w.bin(v.manifest_hash);
  w.array_header(v.royalties.size());
  for (auto& [a, bps] : v.royalties) {
    w.array_header(2);
    w.bin(a);
    w.uint(bps);
  }
  w.str(v.license);
  w.str(v.uri);
  w.uint(v.minted_height);
}
void decode_value(Reader& r, NftInfo& v) {
  r.expect_array(8);
  read_fixed(r, v.task);
  read_fixed(r, v.holder);
  read_fixed(r, v.minter);
  read_fixed(r, v.manifest_hash);
  std::size_t n = r.array_header();
  v.royalties.clear();
  for (std::size_t i = 0; i < n; ++i) {
    r.expect_array(2);
    Address a;
    read_fixed(r, a);
    v.royalties.emplace_back(a, static_cast<std::uint32_t>(r.uint()));
  }
  v.license = std::string(r.str());
  v.uri = std::string(r.str());
  v.minted_height = r.uint();
}

void encode_value(Writer& w, const ListingInfo& v) {
  w.array_header(5);
  w.bin(v.nft);
  w.bin(v.seller);
  w.uint(static_cast<std::uint64_t>(v.kind));
  w.uint(v.price);
  w.uint(v.created_height);
}
void decode_value(Reader& r, ListingInfo& v) {
  r.expect_array(5);
  read_fixed(r, v.nft);
  read_fixed(r, v.seller);
  v.kind = static_cast<ListingKind>(r.uint());
  v.price = r.uint();
  v.created_height = r.uint();
}

void encode_value(Writer& w, const LicenseInfo& v) {
  w.array_header(5);
  w.bin(v.nft);
  w.bin(v.holder);
  w.bin(v.listing);
  w.uint(v.price);
  w.uint(v.height);
}
void decode_value(Reader& r, LicenseInfo& v) {
  r.expect_array(5);
  read_fixed(r, v.nft);
  read_fixed(r, v.holder);
  read_fixed(r, v.listing);
  v.price = r.uint();
  v.height = r.uint();
}

void encode_value(Writer& w, const Bytes& v) { w.bin(v); }
void decode_value(Reader& r, Bytes& v) { auto b = r.bin(); v.assign(b.begin(), b.end()); }
void encode_value(Writer& w, const std::uint64_t& v) { w.uint(v); }
void decode_value(Reader& r, std::uint64_t& v) { v = r.uint(); }

void encode_value(Writer& w, const TaskTerms& v) { encode_terms(w, v); }
void decode_value(Reader& r, TaskTerms& v) { v = decode_terms(r); }

namespace {
Bytes be32_column(const std::vector<std::uint32_t>& v) {
  Bytes b(v.size() * 4);
  for (std::size_t i = 0; i < v.size(); ++i) detail::put_be32(&b[4 * i], v[i]);
  return b;
}
void read_be32_column(Reader& r, std::vector<std::uint32_t>& v, std::size_t n, const char* what) {
  ByteView b = r.bin();
  if (b.size() != 4 * n) throw DecodeError(std::string("answer list: ") + what + " do not match the rows");
  v.resize(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = detail::get_be32(&b[4 * i]);
}
}  // namespace

// bin of BE32 (item, label) pairs; with durations or confidences, an array
// [rows, durations, confidences], each a bin of BE32.
void encode_value(Writer& w, const AnswerList& v) {
  Bytes b(v.rows.size() * 8);
  for (std::size_t i = 0; i < v.rows.size(); ++i) {
    detail::put_be32(&b[8 * i], v.rows[i].first);
    detail::put_be32(&b[8 * i + 4], v.rows[i].second);
  }
  if (v.plain()) {
    w.bin(b);
    return;
  }
  w.array_header(3);
  w.bin(b);
  w.bin(be32_column(v.duration_ms));
  w.bin(be32_column(v.confidence_ppm));
}
void decode_value(Reader& r, AnswerList& v) {
  const bool columns = r.peek() == Reader::Type::Array;
  if (columns) r.expect_array(3);
  ByteView b = r.bin();
  if (b.size() % 8 != 0) throw DecodeError("answer list: length is not a multiple of 8");
  v.rows.resize(b.size() / 8);
  for (std::size_t i = 0; i < v.rows.size(); ++i)
    v.rows[i] = {detail::get_be32(&b[8 * i]), detail::get_be32(&b[8 * i + 4])};
  v.duration_ms.clear();
  v.confidence_ppm.clear();
  if (!columns) return;
  read_be32_column(r, v.duration_ms, v.rows.size(), "durations");
  read_be32_column(r, v.confidence_ppm, v.rows.size(), "confidences");
  if (v.plain()) throw DecodeError("answer list: empty columns are not canonical");
}

void encode_value(Writer& w, const ItemCounts& v) {
  Bytes b(v.n.size() * 2);
  for (std::size_t i = 0; i < v.n.size(); ++i) {
    b[2 * i] = static_cast<std::uint8_t>(v.n[i] >> 8);
    b[2 * i + 1] = static_cast<std::uint8_t>(v.n[i]);
  }
  w.array_header(v.extra.empty() ? 2 : 3);
  w.bin(b);
  w.uint(v.assigned);
  if (!v.extra.empty()) {
    Bytes x(v.extra.size() * 2);
    for (std::size_t i = 0; i < v.extra.size(); ++i) {
      x[2 * i] = static_cast<std::uint8_t>(v.extra[i] >> 8);
      x[2 * i + 1] = static_cast<std::uint8_t>(v.extra[i]);
    }
    w.bin(x);
  }
}
void decode_value(Reader& r, ItemCounts& v) {
  std::size_t fields = r.array_header();
  if (fields != 2 && fields != 3) throw DecodeError("item counts: expected 2 or 3 fields, got " + std::to_string(fields));
  ByteView b = r.bin();
  if (b.size() % 2 != 0) throw DecodeError("item counts: odd length");
  v.n.resize(b.size() / 2);
  for (std::size_t i = 0; i < v.n.size(); ++i) v.n[i] = static_cast<std::uint16_t>((b[2 * i] << 8) | b[2 * i + 1]);
  v.assigned = r.uint();
  v.extra.clear();
  if (fields == 3) {
    ByteView x = r.bin();
    // Canonical: a third field is written only for an extended task, one count per item.
    if (x.size() != b.size()) throw DecodeError("item counts: extra counts do not match the item counts");
    v.extra.resize(x.size() / 2);
    for (std::size_t i = 0; i < v.extra.size(); ++i) v.extra[i] = static_cast<std::uint16_t>((x[2 * i] << 8) | x[2 * i + 1]);
  }
}

namespace {
Bytes be32_list(const std::vector<std::uint32_t>& v) {
  Bytes b(v.size() * 4);
  for (std::size_t i = 0; i < v.size(); ++i) detail::put_be32(&b[4 * i], v[i]);
  return b;
}
std::vector<std::uint32_t> read_be32_list(ByteView b, const char* what) {
  if (b.size() % 4 != 0) throw DecodeError(std::string(what) + ": length is not a multiple of 4");
  std::vector<std::uint32_t> v(b.size() / 4);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = detail::get_be32(&b[4 * i]);
  return v;
}
}  // namespace

void encode_value(Writer& w, const ItemList& v) {
  if (!v.late.empty()) w.array_header(2);
  w.bin(be32_list(v.items));
  if (!v.late.empty()) w.bin(be32_list(v.late));
}
void decode_value(Reader& r, ItemList& v) {
  v.late.clear();
  if (r.peek() != Reader::Type::Array) {
    v.items = read_be32_list(r.bin(), "item list");
    return;
  }
  r.expect_array(2);
  v.items = read_be32_list(r.bin(), "item list");
  v.late = read_be32_list(r.bin(), "late items");
  // Canonical: the late list is written only when non-empty, sorted, unique and a subset of the items.
  if (v.late.empty()) throw DecodeError("item list: an empty late list is written as the items alone");
  for (std::size_t i = 0; i < v.late.size(); ++i)
    if ((i > 0 && v.late[i] <= v.late[i - 1]) || !std::binary_search(v.items.begin(), v.items.end(), v.late[i]))
      throw DecodeError("item list: the late items are not a sorted subset of the items");
}

// ---------------------------------------------------------------- state root

namespace {

template <std::size_t N>
std::size_t bucket_of(const std::array<std::uint8_t, N>& k) {
  // Keys are hash-derived; a Key52 mixes in the address so that the many
  // entries of one task spread over buckets.
  std::size_t hi = k[0], lo = k[1];
  if constexpr (N == 52) { hi ^= k[32]; lo ^= k[33]; }
  return ((hi << 8) | lo) % kBuckets;
}

template <class V, std::size_t N>
Hash32 leaf_of(TableTag tag, const std::array<std::uint8_t, N>& key, const V& value, Bytes& scratch) {
  scratch.clear();
  Writer w(scratch);
  encode_value(w, value);
  const std::uint8_t prefix[2] = {0x00, static_cast<std::uint8_t>(tag)};
  return detail::sha256_parts({ByteView(prefix, 2), key, scratch});
}

template <std::size_t N>
std::string sort_key(TableTag tag, const std::array<std::uint8_t, N>& key) {
  std::string s(1 + N, '\0');
  s[0] = static_cast<char>(tag);
  std::copy(key.begin(), key.end(), s.begin() + 1);
  return s;
}

Hash32 bucket_digest(const std::map<std::string, Hash32>& b) {
  Bytes cat;
  cat.reserve(b.size() * 32);
  for (auto& [k, leaf] : b) cat.insert(cat.end(), leaf.begin(), leaf.end());
  return detail::tagged_hash("tagger/state-bucket/v1", {cat});
}

Hash32 combine_root(const std::vector<Hash32>& digests, std::uint64_t minted) {
  std::uint8_t m[8];
  detail::put_be64(m, minted);
  Hash32 top = merkle_root(digests);
  return detail::tagged_hash("tagger/state/v1", {top, ByteView(m, 8)});
}

}  // namespace

class RootCache {
 public:
  std::vector<std::map<std::string, Hash32>> buckets = std::vector<std::map<std::string, Hash32>>(kBuckets);
  std::vector<Hash32> digest = std::vector<Hash32>(kBuckets);
  std::vector<std::uint8_t> dirty = std::vector<std::uint8_t>(kBuckets, 1);
  bool valid = false;
  Bytes scratch;

  template <class T>
  void rebuild_table(const T& t) {
    for (const auto& [k, v] : t.all()) {
      std::size_t b = bucket_of(k);
      buckets[b][sort_key(T::kTag, k)] = leaf_of(T::kTag, k, v, scratch);
    }
  }
  template <class T>
  void update_table(T& t) {
    auto& d = t.dirty();
    // A key edited by many transactions of a block (a task's answer counts) is listed
    // once per edit; its leaf is hashed once.
    std::sort(d.begin(), d.end());
    d.erase(std::unique(d.begin(), d.end()), d.end());
    for (const auto& k : d) {
      std::size_t b = bucket_of(k);
      dirty[b] = 1;
      const auto* v = t.find(k);
      if (v) buckets[b][sort_key(T::kTag, k)] = leaf_of(T::kTag, k, *v, scratch);
      else buckets[b].erase(sort_key(T::kTag, k));
    }
    d.clear();
  }
};

template <class F>
void for_each_table(State& s, F&& f) {
  f(s.accounts); f(s.tasks); f(s.stakes); f(s.nfts); f(s.listings); f(s.licenses); f(s.grants); f(s.contributions);
  f(s.terms); f(s.answers); f(s.item_counts); f(s.assigned);
}
template <class F>
void for_each_table(const State& s, F&& f) {
  f(s.accounts); f(s.tasks); f(s.stakes); f(s.nfts); f(s.listings); f(s.licenses); f(s.grants); f(s.contributions);
  f(s.terms); f(s.answers); f(s.item_counts); f(s.assigned);
}

State::State(std::uint64_t chain, const Address& iss, std::uint32_t fee)
    : chain_id(chain), issuer(iss), fee_bps(fee), cache_(std::make_unique<RootCache>()) {}
State::~State() = default;
State::State(State&&) noexcept = default;
State& State::operator=(State&&) noexcept = default;

void State::set_tracking(bool on) {
  for_each_table(*this, [&](auto& t) { t.set_tracking(on); });
  if (!on) cache_->valid = false;
}

Hash32 State::root() {
  RootCache& c = *cache_;
  if (!c.valid) {
    for (auto& b : c.buckets) b.clear();
    for_each_table(*this, [&](auto& t) { c.rebuild_table(t); t.dirty().clear(); });
    std::fill(c.dirty.begin(), c.dirty.end(), 1);
    c.valid = true;
  } else {
    for_each_table(*this, [&](auto& t) { c.update_table(t); });
  }
  for (std::size_t b = 0; b < kBuckets; ++b)
    if (c.dirty[b]) {
      c.digest[b] = bucket_digest(c.buckets[b]);
      c.dirty[b] = 0;
    }
  return combine_root(c.digest, minted);
}

// From scratch, sharing nothing with the cache: one sorted list of every entry.
Hash32 State::root_reference() const {
  std::map<std::string, Hash32> all;
  Bytes scratch;
  std::vector<std::size_t> bucket_index;
  std::vector<std::map<std::string, Hash32>> buckets(kBuckets);
  for_each_table(*this, [&](const auto& t) {
    using T = std::decay_t<decltype(t)>;
    for (const auto& [k, v] : t.all()) buckets[bucket_of(k)][sort_key(T::kTag, k)] = leaf_of(T::kTag, k, v, scratch);
  });
  std::vector<Hash32> digests;
  for (auto& b : buckets) digests.push_back(bucket_digest(b));
  return combine_root(digests, minted);
}

// ---------------------------------------------------------------- journal

State::Savepoint State::savepoint() const {
  Savepoint sp;
  std::size_t i = 0;
  for_each_table(*this, [&](const auto& t) { sp.sizes[i++] = t.journal_size(); });
  sp.minted = minted;
  return sp;
}

void State::rollback(const Savepoint& sp) {
  std::size_t i = 0;
  for_each_table(*this, [&](auto& t) { t.rollback(sp.sizes[i++]); });
  minted = sp.minted;
}

void State::clear_journal() {
  for_each_table(*this, [&](auto& t) { t.clear_journal(); });
}

// ---------------------------------------------------------------- helpers

AccountInfo& State::account_mut(const Address& a, const char* role) {
  AccountInfo* acc = accounts.edit(a);
  if (acc == nullptr) throw UnknownAccount(std::string(role) + " " + address_to_string(a) + " is not registered");
  return *acc;
}

const AccountInfo& State::account_ref(const Address& a, const char* role) const {
  const AccountInfo* acc = accounts.find(a);
  if (acc == nullptr) throw UnknownAccount(std::string(role) + " " + address_to_string(a) + " is not registered");
  return *acc;
}

void State::debit(const Address& a, std::uint64_t amount, const char* what) {
  const AccountInfo& cur = account_ref(a, "payer");
  if (cur.balance < amount)
    throw InsufficientFunds(std::string(what) + ": balance of " + address_to_string(a) + " is " +
                            std::to_string(cur.balance) + ", needs " + std::to_string(amount));
  if (amount == 0) return;
  account_mut(a, "payer").balance -= amount;
}

void State::credit(const Address& a, std::uint64_t amount, const char* what) {
  const AccountInfo& cur = account_ref(a, "payee");
  std::uint64_t nb = add_checked(cur.balance, amount, what);
  account_mut(a, "payee").balance = nb;
}

void State::apply(const TxView& tx, const ApplyContext& ctx) {
  Savepoint sp = savepoint();
  try {
    if (tx.kind == TxKind::Register) {
      if (accounts.find(tx.sender))
        throw RuleViolation("register: " + address_to_string(tx.sender) + " is already registered");
      if (tx.nonce != 0) throw BadNonce("register: a new account's first nonce is 0, got " + std::to_string(tx.nonce));
    } else {
      const AccountInfo* acc = accounts.find(tx.sender);
      if (acc == nullptr)
        throw UnknownAccount("sender " + address_to_string(tx.sender) + " is not registered");
      if (tx.nonce != acc->nonce)
        throw BadNonce(std::string(kind_name(tx.kind)) + ": expected nonce " + std::to_string(acc->nonce) +
                       ", got " + std::to_string(tx.nonce) + (tx.nonce < acc->nonce ? " (replay)" : ""));
    }
    std::visit([&](const auto& p) { contracts::apply(*this, tx, ctx, p); }, tx.payload);
    account_mut(tx.sender, "sender").nonce += 1;
  } catch (...) {
    rollback(sp);
    throw;
  }
}

Supply State::supply() const {
  Supply s;
  s.minted = minted;
  for (const auto& [k, a] : accounts.all()) s.balances = add_checked(s.balances, a.balance, "sum of balances");
  for (const auto& [k, t] : tasks.all()) s.escrowed = add_checked(s.escrowed, t.escrow, "sum of escrows");
  for (const auto& [k, st] : stakes.all()) s.staked = add_checked(s.staked, st.amount, "sum of stakes");
  return s;
}

// ---------------------------------------------------------------- snapshots

namespace {
template <class T>
void write_table(Writer& w, const T& t) {
  using K = typename std::decay_t<decltype(t.all())>::key_type;
  std::vector<const typename std::decay_t<decltype(t.all())>::value_type*> rows;
  rows.reserve(t.size());
  for (const auto& row : t.all()) rows.push_back(&row);
  std::sort(rows.begin(), rows.end(), [](auto* a, auto* b) { return a->first < b->first; });
  w.array_header(rows.size());
  for (auto* row : rows) {
    w.array_header(2);
    w.bin(static_cast<const K&>(row->first));
    encode_value(w, row->second);
  }
}
template <class T>
void read_table(Reader& r, T& t) {
  using Map = std::decay_t<decltype(t.all())>;
  std::size_t n = r.array_header();
  for (std::size_t i = 0; i < n; ++i) {
    r.expect_array(2);
    typename Map::key_type k;
    read_fixed(r, k);
    typename Map::mapped_type v{};
    decode_value(r, v);
    t.load(k, std::move(v));
  }
}
}  // namespace

Bytes State::encode_snapshot() const {
  Bytes out;
  Writer w(out);
  w.array_header(13);
  w.uint(minted);
  for_each_table(*this, [&](const auto& t) { write_table(w, t); });
  return out;
}

State State::decode_snapshot(ByteView data, std::uint64_t chain, const Address& iss, std::uint32_t fee) {
  State s(chain, iss, fee);
  codec::Limits lim;
  lim.max_items = 1u << 30;
  Reader r(data, lim);
  r.expect_array(13);
  s.minted = r.uint();
  for_each_table(s, [&](auto& t) { read_table(r, t); });
  r.finish();
  s.accounts.fix_loaded([](const Address& k, AccountInfo& a) { a.address = k; });
  s.tasks.fix_loaded([](const Id& k, TaskInfo& t) { t.id = k; });
  s.nfts.fix_loaded([](const Id& k, NftInfo& n) { n.id = k; });
  s.listings.fix_loaded([](const Id& k, ListingInfo& l) { l.id = k; });
  s.cache_->valid = false;
  return s;
}

}  // namespace tagger::ledger
