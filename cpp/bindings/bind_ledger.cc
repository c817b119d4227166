// tagger._core.ledger: conversions only. Records come back as dicts of plain
// values (ids and addresses as bytes); the GIL is released around work that
// can take long (batches, commits with fsync, open/replay, verify, scrypt).
#include "common.h"
#include "tagger/ledger.h"

namespace tagger::bindings {
namespace L = tagger::ledger;
using GIL = NoGil;
using namespace pybind11::literals;

static std::optional<L::Id> opt_id(const py::object& o) {
  if (o.is_none()) return std::nullopt;
  return fixed_bytes<32>(o, "task id");
}
static py::object opt_bytes(const std::optional<L::Id>& v) { return v ? py::object(to_py(*v)) : py::none(); }

static py::dict d(const L::BlockHeader& h) {
  return py::dict("height"_a = h.height, "prev_hash"_a = to_py(h.prev_hash), "tx_root"_a = to_py(h.tx_root),
                  "state_root"_a = to_py(h.state_root), "timestamp_ms"_a = h.timestamp_ms, "n_tx"_a = h.n_tx,
                  "hash"_a = to_py(h.hash), "signature"_a = to_py(h.signature), "chain_id"_a = h.chain_id,
                  "version"_a = h.version);
}
static py::dict d(const L::AccountInfo& a) {
  return py::dict("address"_a = to_py(a.address), "signing_key"_a = to_py(a.signing_key),
                  "sealing_key"_a = to_py(a.sealing_key), "name"_a = a.name, "skills"_a = a.skills,
                  "balance"_a = a.balance, "nonce"_a = a.nonce, "rep_alpha"_a = a.rep_alpha, "rep_beta"_a = a.rep_beta);
}
static py::dict d(const L::TaskInfo& t) {
  return py::dict("id"_a = to_py(t.id), "owner"_a = to_py(t.owner), "verifier"_a = to_py(t.verifier),
                  "budget"_a = t.budget, "escrow"_a = t.escrow, "required_stake"_a = t.required_stake,
                  "params_hash"_a = to_py(t.params_hash), "status"_a = static_cast<int>(t.status),
                  "created_height"_a = t.created_height, "n_answers"_a = t.n_answers, "n_uploads"_a = t.n_uploads,
                  "result_hash"_a = to_py(t.result_hash), "nft"_a = opt_bytes(t.nft));
}
static py::dict d(const L::StakeInfo& s) {
  return py::dict("staker"_a = to_py(s.staker), "task"_a = opt_bytes(s.task), "amount"_a = s.amount,
                  "unlock_height"_a = s.unlock_height, "slashed"_a = s.slashed);
}
static py::dict d(const L::NftInfo& n) {
  py::list roy;
  for (auto& [a, bps] : n.royalties) roy.append(py::make_tuple(to_py(a), bps));
  return py::dict("id"_a = to_py(n.id), "task"_a = to_py(n.task), "holder"_a = to_py(n.holder),
                  "minter"_a = to_py(n.minter), "manifest_hash"_a = to_py(n.manifest_hash), "royalties"_a = roy,
                  "license"_a = n.license, "uri"_a = n.uri, "minted_height"_a = n.minted_height);
}
static py::dict d(const L::ListingInfo& l) {
  return py::dict("id"_a = to_py(l.id), "nft"_a = to_py(l.nft), "seller"_a = to_py(l.seller),
                  "kind"_a = static_cast<int>(l.kind), "price"_a = l.price, "created_height"_a = l.created_height);
}
static py::dict d(const L::LicenseInfo& l) {
  return py::dict("nft"_a = to_py(l.nft), "holder"_a = to_py(l.holder), "listing"_a = to_py(l.listing),
                  "price"_a = l.price, "height"_a = l.height);
}
template <class T>
static py::object opt(const std::optional<T>& v) { return v ? py::object(d(*v)) : py::none(); }
template <class T>
static py::list many(const std::vector<T>& v) {
  py::list out;
  for (auto& x : v) out.append(d(x));
  return out;
}
static std::vector<ByteView> views(const py::list& txs, std::vector<BytesArg>& hold) {
  hold.reserve(txs.size());
  std::vector<ByteView> out;
  for (auto t : txs) {
    hold.emplace_back(py::reinterpret_borrow<py::object>(t), "transaction");
    out.push_back(hold.back().view());
  }
  return out;
}
static std::vector<Hash32> hashes(const py::list& l) {
  std::vector<Hash32> out;
  for (auto h : l) out.push_back(fixed_bytes<32>(py::reinterpret_borrow<py::object>(h), "hash"));
  return out;
}
static L::GenesisConfig genesis(const std::string& name, std::uint64_t chain_id, std::uint32_t fee_bps, std::uint64_t ts) {
  L::GenesisConfig g;
  g.name = name; g.chain_id = chain_id; g.fee_bps = fee_bps; g.timestamp_ms = ts;
  return g;
}

// The batch paths (answers transactions, manifest leaves) are bound in bind_ledger_batch.cc.
void bind_ledger_batch(py::module_& m);
// Published tasks (terms, settlement) are bound in bind_ledger_tasks.cc.
void bind_ledger_tasks(py::module_& m);
// settle(), the finalize rule, in bind_ledger_settle.cc.
void bind_ledger_settle(py::module_& m);

TAGGER_BIND_MODULE(ledger) {
  using namespace pybind11::literals;
  m.attr("ADDRESS_BYTES") = L::kAddressBytes;
  m.attr("MAX_BPS") = L::kMaxBps;
  m.attr("SKILL_SCALE") = L::kSkillScale;
  m.def("address_of", [](const py::object& k) { return to_py(L::address_of(fixed_bytes<32>(k, "signing key"))); }, "signing_key"_a);
  m.def("kind_table", &L::kind_table);
  m.def("make_tx", [](const crypto::SigningKey& sk, std::uint64_t chain, int kind, std::uint64_t nonce, const py::object& payload) {
    return to_py(L::make_tx(sk, chain, static_cast<L::TxKind>(kind), nonce, BytesArg(payload, "payload").view()));
  }, "signer"_a, "chain_id"_a, "kind"_a, "nonce"_a, "payload"_a);
  m.def("tx_id", [](const py::object& tx) { return to_py(L::tx_id(BytesArg(tx, "transaction").view())); }, "tx"_a);
  m.def("key_grant_message", [](std::uint64_t chain, const py::object& listing, const py::object& buyer, const py::object& blob) {
    return to_py(L::key_grant_message(chain, fixed_bytes<32>(listing, "listing id"), fixed_bytes<20>(buyer, "buyer"), BytesArg(blob, "key blob").view()));
  }, "chain_id"_a, "listing"_a, "buyer"_a, "key_blob"_a);
  m.def("make_transfers", [](const std::vector<crypto::SigningKey>& signers, std::vector<std::uint32_t> idx,
                             const py::list& to, std::vector<std::uint64_t> amounts, std::vector<std::uint64_t> nonces,
                             std::uint64_t chain, unsigned threads) {
    std::vector<L::Address> rec;
    for (auto a : to) rec.push_back(fixed_bytes<20>(py::reinterpret_borrow<py::object>(a), "recipient"));
    std::vector<Bytes> out;
    { GIL g; out = L::make_transfers(signers, idx, rec, amounts, nonces, chain, threads); }
    py::list l;
    for (auto& b : out) l.append(to_py(b));
    return l;
  }, "signers"_a, "signer_index"_a, "recipients"_a, "amounts"_a, "nonces"_a, "chain_id"_a, "threads"_a = 0);
  m.def("merkle_leaf_hash", [](const py::object& b) { return to_py(L::merkle_leaf_hash(BytesArg(b, "data").view())); }, "data"_a);
  m.def("merkle_root", [](const py::list& leaves) { return to_py(L::merkle_root(hashes(leaves))); }, "leaf_hashes"_a);
  m.def("merkle_proof", [](const py::list& leaves, std::size_t i) {
    py::list out;
    for (auto& h : L::merkle_proof(hashes(leaves), i)) out.append(to_py(h));
    return out;
  }, "leaf_hashes"_a, "index"_a);
  m.def("merkle_verify", [](const py::object& leaf, std::size_t i, std::size_t n, const py::list& proof, const py::object& root) {
    return L::merkle_verify(fixed_bytes<32>(leaf, "leaf hash"), i, n, hashes(proof), fixed_bytes<32>(root, "root"));
  }, "leaf_hash"_a, "index"_a, "tree_size"_a, "proof"_a, "root"_a);
  m.def("split_payment", [](std::uint64_t price, std::uint32_t fee_bps, const std::vector<std::pair<py::bytes, std::uint32_t>>& roy) {
    std::vector<std::pair<L::Address, std::uint32_t>> r;
    for (auto& [a, b] : roy) r.emplace_back(fixed_bytes<20>(a, "recipient"), b);
    L::PaymentSplit s = L::split_payment(price, fee_bps, r);
    py::list out;
    for (auto& [a, v] : s.royalties) out.append(py::make_tuple(to_py(a), v));
    return py::make_tuple(s.seller, s.fee, out);
  }, "price"_a, "fee_bps"_a, "royalties"_a);
  m.def("keystore_seal", [](const py::object& secret, const std::string& pass, std::uint64_t n, std::uint32_t r, std::uint32_t p) {
    BytesArg s(secret, "secret");
    Bytes out;
    { GIL g; out = L::keystore_seal(s.view(), pass, L::ScryptParams{n, r, p}); }
    return to_py(out);
  }, "secret"_a, "passphrase"_a, "n"_a = 1u << 15, "r"_a = 8, "p"_a = 1);
  m.def("keystore_open", [](const py::object& sealed, const std::string& pass) {
    BytesArg s(sealed, "keystore");
    SecretBytes out;
    { GIL g; out = L::keystore_open(s.view(), pass); }
    return to_py(ByteView(out.data(), out.size()));
  }, "sealed"_a, "passphrase"_a);
  m.def("decode_block", [](const py::object& rec) {
    auto [h, txs] = L::decode_block(BytesArg(rec, "block").view());
    py::list l;
    for (auto& t : txs) l.append(to_py(t));
    return py::make_tuple(d(h), l);
  }, "record"_a);

  py::class_<L::Ledger>(m, "Ledger")
      .def_static("create", [](const std::string& dir, const crypto::SigningKey& iss, const crypto::SigningKey& prod,
                               const std::string& name, std::uint64_t chain, std::uint32_t fee, std::uint64_t ts,
                               std::uint64_t snap, bool sync) {
        GIL g;
        return L::Ledger::create(dir, genesis(name, chain, fee, ts), iss, prod, L::LedgerOptions{snap, sync, false});
      }, "dir"_a, "issuer"_a, "producer"_a, "name"_a = "tagger", "chain_id"_a = 0, "fee_bps"_a = 0, "timestamp_ms"_a = 0,
         "snapshot_every"_a = 256, "sync"_a = true)
      .def_static("open", [](const std::string& dir, std::uint64_t snap, bool sync, bool ro) {
        GIL g;
        return L::Ledger::open(dir, L::LedgerOptions{snap, sync, ro});
      }, "dir"_a, "snapshot_every"_a = 256, "sync"_a = true, "read_only"_a = false)
      .def_static("memory", [](const crypto::SigningKey& iss, const crypto::SigningKey& prod, const std::string& name,
                               std::uint64_t chain, std::uint32_t fee, std::uint64_t ts) {
        return L::Ledger::memory(genesis(name, chain, fee, ts), iss, prod);
      }, "issuer"_a, "producer"_a, "name"_a = "tagger", "chain_id"_a = 0, "fee_bps"_a = 0, "timestamp_ms"_a = 0)
      .def("set_producer", &L::Ledger::set_producer, "producer"_a)
      .def_property_readonly("chain_id", &L::Ledger::chain_id)
      .def_property_readonly("height", &L::Ledger::height)
      .def_property_readonly("fee_bps", &L::Ledger::fee_bps)
      .def_property_readonly("issuer", [](const L::Ledger& l) { return to_py(l.issuer()); })
      .def_property_readonly("producer", [](const L::Ledger& l) { return to_py(l.producer()); })
      .def_property_readonly("name", &L::Ledger::name)
      .def_property_readonly("in_memory", &L::Ledger::in_memory)
      .def_property_readonly("dir", &L::Ledger::dir)
      .def("open_report", [](const L::Ledger& l) {
        auto r = l.open_report();
        return py::dict("blocks"_a = r.blocks, "transactions"_a = r.transactions, "replayed_from"_a = r.replayed_from,
                        "snapshot_height"_a = r.snapshot_height, "snapshot_note"_a = r.snapshot_note,
                        "torn_bytes"_a = r.torn_bytes, "seconds"_a = r.seconds);
      })
      .def("submit", [](L::Ledger& l, const py::object& tx) { return to_py(l.submit(BytesArg(tx, "transaction").view())); }, "tx"_a)
      .def("submit_batch", [](L::Ledger& l, const py::list& txs, unsigned threads) {
        std::vector<BytesArg> hold;
        auto v = views(txs, hold);
        std::vector<Hash32> ids;
        { GIL g; ids = l.submit_batch(v, threads); }
        py::list out;
        for (auto& i : ids) out.append(to_py(i));
        return out;
      }, "txs"_a, "threads"_a = 0)
      .def_property_readonly("pending", &L::Ledger::pending)
      .def("discard_pending", &L::Ledger::discard_pending)
      .def("commit", [](L::Ledger& l, std::uint64_t ts) { L::BlockHeader h; { GIL g; h = l.commit(ts); } return d(h); }, "timestamp_ms"_a = 0)
      .def("apply_block", [](L::Ledger& l, const py::list& txs, unsigned threads) {
        std::vector<BytesArg> hold;
        auto v = views(txs, hold);
        L::BlockHeader h;
        { GIL g; h = l.apply_block(v, threads); }
        return d(h);
      }, "txs"_a, "threads"_a = 0)
      .def("snapshot", [](L::Ledger& l) { GIL g; l.snapshot(); })
      .def("account", [](const L::Ledger& l, const py::object& a) { return opt(l.account(fixed_bytes<20>(a, "address"))); }, "address"_a)
      .def("balance", [](const L::Ledger& l, const py::object& a) { return l.balance(fixed_bytes<20>(a, "address")); }, "address"_a)
      .def("next_nonce", [](const L::Ledger& l, const py::object& a) { return l.next_nonce(fixed_bytes<20>(a, "address")); }, "address"_a)
      .def("task", [](const L::Ledger& l, const py::object& id) { return opt(l.task(fixed_bytes<32>(id, "task id"))); }, "task_id"_a)
      .def("stake", [](const L::Ledger& l, const py::object& a, const py::object& t) { return opt(l.stake(fixed_bytes<20>(a, "staker"), opt_id(t))); }, "staker"_a, "task_id"_a = py::none())
      .def("nft", [](const L::Ledger& l, const py::object& id) { return opt(l.nft(fixed_bytes<32>(id, "NFT id"))); }, "nft_id"_a)
      .def("listing", [](const L::Ledger& l, const py::object& id) { return opt(l.listing(fixed_bytes<32>(id, "listing id"))); }, "listing_id"_a)
      .def("listings", [](const L::Ledger& l) { return many(l.listings()); })
      .def("license", [](const L::Ledger& l, const py::object& n, const py::object& a) { return opt(l.license(fixed_bytes<32>(n, "NFT id"), fixed_bytes<20>(a, "holder"))); }, "nft_id"_a, "holder"_a)
      .def("licenses_of", [](const L::Ledger& l, const py::object& a) { return many(l.licenses_of(fixed_bytes<20>(a, "holder"))); }, "holder"_a)
      .def("key_grant", [](const L::Ledger& l, const py::object& n, const py::object& a) -> py::object {
        auto g = l.key_grant(fixed_bytes<32>(n, "NFT id"), fixed_bytes<20>(a, "holder"));
        return g ? py::object(to_py(*g)) : py::none();
      }, "nft_id"_a, "holder"_a)
      .def("contributions", [](const L::Ledger& l, const py::object& t, const py::object& a) { return l.contributions(fixed_bytes<32>(t, "task id"), fixed_bytes<20>(a, "worker")); }, "task_id"_a, "worker"_a)
      .def("accounts", [](const L::Ledger& l) { return many(l.accounts()); })
      .def("supply", [](const L::Ledger& l) {
        auto s = l.supply();
        return py::dict("minted"_a = s.minted, "balances"_a = s.balances, "escrowed"_a = s.escrowed, "staked"_a = s.staked);
      })
      .def("state_root", [](const L::Ledger& l) { return to_py(l.state_root()); })
      .def("state_root_reference", [](const L::Ledger& l) { return to_py(l.state_root_reference()); })
      .def("header", [](const L::Ledger& l, std::uint64_t h) { return d(l.header(h)); }, "height"_a)
      .def("block_record", [](const L::Ledger& l, std::uint64_t h) { return to_py(l.block_record(h)); }, "height"_a)
      .def("block_txs", [](const L::Ledger& l, std::uint64_t h) {
        py::list out;
        for (auto& t : l.block_txs(h)) out.append(to_py(t));
        return out;
      }, "height"_a)
      .def("history", [](const L::Ledger& l, const py::object& a) {
        std::vector<L::HistoryRow> rows;
        auto addr = fixed_bytes<20>(a, "address");
        { GIL g; rows = l.history(addr); }
        py::list out;
        for (auto& r : rows)
          out.append(py::make_tuple(r.height, r.index, static_cast<int>(r.kind), to_py(r.txid), to_py(r.sender), r.timestamp_ms, to_py(r.tx)));
        return out;
      }, "address"_a)
      .def("first_fundings", [](const L::Ledger& l, const py::list& accounts) {
        std::vector<L::Address> addrs;
        for (auto a : accounts) addrs.push_back(fixed_bytes<20>(py::reinterpret_borrow<py::object>(a), "address"));
        std::vector<std::optional<L::Funding>> got;
        { GIL g; got = l.first_fundings(addrs); }
        py::list out;
        for (auto& f : got) out.append(f ? py::object(py::make_tuple(to_py(f->funder), f->height)) : py::object(py::none()));
        return out;
      }, "addresses"_a)
      .def("verify", [](const L::Ledger& l, unsigned threads) {
        L::VerifyReport r;
        { GIL g; r = l.verify(threads); }
        return py::dict("blocks"_a = r.blocks, "transactions"_a = r.transactions, "signatures"_a = r.signatures,
                        "state_root"_a = to_py(r.state_root), "seconds"_a = r.seconds);
      }, "threads"_a = 0);
  bind_ledger_batch(m);
  bind_ledger_settle(m);
  bind_ledger_tasks(m);
}

}  // namespace tagger::bindings
