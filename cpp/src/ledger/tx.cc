#include "ledger/tx.h"

#include <algorithm>

#include "ledger/hashing.h"
#include "tagger/errors.h"
#include "util/parallel.h"

namespace tagger::ledger {
using codec::Reader;
using codec::Writer;

namespace {

Address read_address(Reader& r) {
  auto v = r.bin_exact(kAddressBytes);
  Address a;
  std::copy(v.begin(), v.end(), a.begin());
  return a;
}
Hash32 read_hash(Reader& r) {
  auto v = r.bin_exact(32);
  Hash32 h;
  std::copy(v.begin(), v.end(), h.begin());
  return h;
}
// An optional id or address is an empty bin when absent.
template <std::size_t N>
std::optional<std::array<std::uint8_t, N>> read_optional(Reader& r, const char* what) {
  auto v = r.bin();
  if (v.empty()) return std::nullopt;
  if (v.size() != N)
    throw DecodeError(std::string(what) + " must be empty or " + std::to_string(N) + " bytes, got " + std::to_string(v.size()));
  std::array<std::uint8_t, N> a;
  std::copy(v.begin(), v.end(), a.begin());
  return a;
}
std::string read_str(Reader& r) { return std::string(r.str()); }
Bytes read_bin(Reader& r) { auto v = r.bin(); return Bytes(v.begin(), v.end()); }
std::uint32_t read_u32(Reader& r, const char* what) {
  std::uint64_t v = r.uint();
  if (v > 0xffffffffu) throw DecodeError(std::string(what) + " does not fit in 32 bits");
  return static_cast<std::uint32_t>(v);
}
std::size_t read_list(Reader& r, const char* what) {
  std::size_t n = r.array_header();
  if (n > kMaxListEntries) throw DecodeError(std::string(what) + ": more than " + std::to_string(kMaxListEntries) + " entries");
  return n;
}

EscrowLockP read_lock(Reader& r) {
  EscrowLockP p;
  p.budget = r.uint();
  p.required_stake = r.uint();
  p.params_hash = read_hash(r);
  p.verifier = read_optional<kAddressBytes>(r, "verifier");
  return p;
}

Payload decode_payload(TxKind kind, Reader& r) {
  switch (kind) {
    case TxKind::Register: {
      r.expect_array(3);
      RegisterP p;
      auto k = r.bin_exact(32);
      std::copy(k.begin(), k.end(), p.sealing_key.begin());
      p.name = read_str(r);
      std::size_t n = read_list(r, "skills");
      for (std::size_t i = 0; i < n; ++i) {
        r.expect_array(2);
        std::string c = read_str(r);
        p.skills.emplace_back(std::move(c), read_u32(r, "skill"));
      }
      return p;
    }
    case TxKind::Mint: {
      r.expect_array(2);
      MintP p;
      p.to = read_address(r);
      p.amount = r.uint();
      return p;
    }
    case TxKind::Transfer: {
      r.expect_array(3);
      TransferP p;
      p.to = read_address(r);
      p.amount = r.uint();
      p.memo = read_str(r);
      return p;
    }
    case TxKind::EscrowLock: {
      r.expect_array(4);
      return read_lock(r);
    }
    case TxKind::Publish: {
      r.expect_array(5);
      PublishP p;
      p.lock = read_lock(r);
      p.terms = decode_terms(r);
      return p;
    }
    case TxKind::Answers: {
      const std::size_t fields = r.array_header();
      if (fields < 4 || fields > 6) throw DecodeError("answers hold 4 to 6 fields, got " + std::to_string(fields));
      AnswersP p;
      p.task = read_hash(r);
      std::size_t n = read_list(r, "answers");
      p.answers.reserve(n);
      for (std::size_t i = 0; i < n; ++i) {
        r.expect_array(2);
        std::uint64_t item = r.uint();
        p.answers.emplace_back(item, r.uint());
      }
      p.batch_hash = read_optional<32>(r, "batch hash");
      p.count = r.uint();
      auto read_u64s = [&](std::vector<std::uint64_t>& v, const char* what) {
        std::size_t k = read_list(r, what);
        v.reserve(k);
        for (std::size_t i = 0; i < k; ++i) v.push_back(r.uint());
      };
      if (fields > 4) read_u64s(p.duration_ms, "durations");
      if (fields > 5) read_u64s(p.confidence_ppm, "confidences");
      // One encoding per payload: optional fields only up to the last one given.
      if ((fields == 6 && p.confidence_ppm.empty()) || (fields == 5 && p.duration_ms.empty()))
        throw DecodeError("answers: an empty last optional field is not canonical");
      return p;
    }
    case TxKind::UploadReceipt: {
      r.expect_array(6);
      UploadP p;
      p.task = read_hash(r);
      p.worker = read_address(r);
      p.item = r.uint();
      p.ciphertext_hash = read_hash(r);
      p.verdict = r.uint();
      std::size_t n = r.array_header();
      if (n > kMaxReasons) throw DecodeError("more than " + std::to_string(kMaxReasons) + " reasons");
      for (std::size_t i = 0; i < n; ++i) p.reasons.push_back(read_str(r));
      return p;
    }
    case TxKind::Finalize: {
      std::size_t fields = r.array_header();
      if (fields != 5 && fields != 8) throw DecodeError("finalize holds 5 fields (or 8 for a published task), got " + std::to_string(fields));
      FinalizeP p;
      p.task = read_hash(r);
      std::size_t n = read_list(r, "payouts");
      for (std::size_t i = 0; i < n; ++i) {
        r.expect_array(2);
        Address a = read_address(r);
        p.payouts.emplace_back(a, r.uint());
      }
      n = read_list(r, "reputation");
      for (std::size_t i = 0; i < n; ++i) {
        r.expect_array(3);
        Address a = read_address(r);
        std::uint64_t al = r.uint();
        p.reputation.emplace_back(a, al, r.uint());
      }
      n = read_list(r, "slashes");
      for (std::size_t i = 0; i < n; ++i) {
        r.expect_array(2);
        Address a = read_address(r);
        p.slashes.emplace_back(a, r.uint());
      }
      p.result_hash = read_hash(r);
      if (fields == 8) {
        p.settled = true;
        p.gold_salt = read_hash(r);
        n = read_list(r, "gold");
        p.gold.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
          r.expect_array(2);
          std::uint64_t item = r.uint();
          p.gold.emplace_back(item, r.uint());
        }
        std::uint64_t partial = r.uint();
        if (partial > 1) throw DecodeError("finalize: partial must be 0 or 1");
        p.partial = partial == 1;
      }
      return p;
    }
    case TxKind::Assign: {
      r.expect_array(3);
      AssignP p;
      p.task = read_hash(r);
      std::size_t total = 0;
      for (SlotList* list : {&p.grants, &p.revokes}) {
        std::size_t n = read_list(r, "assignment");
        list->reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
          r.expect_array(2);
          Address a = read_address(r);
          std::size_t k = read_list(r, "assigned items");
          total += k;
          if (total > kMaxListEntries) throw DecodeError("assign: more than " + std::to_string(kMaxListEntries) + " items in all");
          std::vector<std::uint64_t> items(k);
          for (auto& it : items) it = r.uint();
          list->emplace_back(a, std::move(items));
        }
      }
      return p;
    }
    case TxKind::Extend: {
      r.expect_array(3);
      ExtendP p;
      p.task = read_hash(r);
      p.amount = r.uint();
      std::size_t n = read_list(r, "extended items");
      p.items.reserve(n);
      for (std::size_t i = 0; i < n; ++i) {
        r.expect_array(2);
        std::uint64_t item = r.uint();
        p.items.emplace_back(item, r.uint());
      }
      return p;
    }
    case TxKind::EscrowRefund: {
      r.expect_array(1);
      return RefundP{read_hash(r)};
    }
    case TxKind::Stake: {
      r.expect_array(3);
      StakeP p;
      p.task = read_optional<32>(r, "task");
      p.amount = r.uint();
      p.unlock_height = r.uint();
      return p;
    }
    case TxKind::Unstake: {
      r.expect_array(1);
      return UnstakeP{read_optional<32>(r, "task")};
    }
    case TxKind::Slash: {
      r.expect_array(4);
      SlashP p;
      p.task = read_hash(r);
      p.staker = read_address(r);
      p.amount = r.uint();
      p.reason = read_str(r);
      return p;
    }
    case TxKind::NftMint: {
      r.expect_array(6);
      NftMintP p;
      p.task = read_hash(r);
      p.manifest_hash = read_hash(r);
      std::size_t n = r.array_header();
      if (n > kMaxRoyalties) throw DecodeError("more than " + std::to_string(kMaxRoyalties) + " royalty recipients");
      for (std::size_t i = 0; i < n; ++i) {
        r.expect_array(2);
        Address a = read_address(r);
        p.royalties.emplace_back(a, read_u32(r, "royalty"));
      }
      p.license = read_str(r);
      p.uri = read_str(r);
      p.key_blob = read_bin(r);
      return p;
    }
    case TxKind::NftTransfer: {
      r.expect_array(3);
      NftTransferP p;
      p.nft = read_hash(r);
      p.to = read_address(r);
      p.key_blob = read_bin(r);
      return p;
    }
    case TxKind::List: {
      r.expect_array(3);
      ListP p;
      p.nft = read_hash(r);
      std::uint64_t k = r.uint();
      if (k > 1) throw DecodeError("listing kind must be 0 (sale) or 1 (license), got " + std::to_string(k));
      p.kind = static_cast<ListingKind>(k);
      p.price = r.uint();
      return p;
    }
    case TxKind::Buy: {
      r.expect_array(4);
      BuyP p;
      p.listing = read_hash(r);
      p.price = r.uint();
      p.key_blob = read_bin(r);
      p.grant_sig = read_bin(r);
      return p;
    }
    case TxKind::Cancel: {
      r.expect_array(1);
      return CancelP{read_hash(r)};
    }
  }
  throw DecodeError("unknown transaction kind");
}

}  // namespace

bool is_known_kind(std::uint64_t k) {
  switch (k) {
    case 1: case 2: case 3: case 10: case 11: case 12: case 13: case 14: case 15: case 16: case 17: case 20: case 21: case 22:
    case 30: case 31: case 32: case 33: case 34:
      return true;
    default:
      return false;
  }
}

std::string_view kind_name(TxKind k) {
  switch (k) {
    case TxKind::Register: return "register";
    case TxKind::Mint: return "mint";
    case TxKind::Transfer: return "transfer";
    case TxKind::EscrowLock: return "escrow_lock";
    case TxKind::Answers: return "answers";
    case TxKind::UploadReceipt: return "upload_receipt";
    case TxKind::Finalize: return "finalize";
    case TxKind::EscrowRefund: return "escrow_refund";
    case TxKind::Publish: return "publish";
    case TxKind::Assign: return "assign";
    case TxKind::Extend: return "extend";
    case TxKind::Stake: return "stake";
    case TxKind::Unstake: return "unstake";
    case TxKind::Slash: return "slash";
    case TxKind::NftMint: return "nft_mint";
    case TxKind::NftTransfer: return "nft_transfer";
    case TxKind::List: return "list";
    case TxKind::Buy: return "buy";
    case TxKind::Cancel: return "cancel";
  }
  return "unknown";
}

std::vector<std::pair<int, std::string>> kind_table() {
  std::vector<std::pair<int, std::string>> out;
  for (int k = 0; k < 256; ++k)
    if (is_known_kind(k)) out.emplace_back(k, std::string(kind_name(static_cast<TxKind>(k))));
  return out;
}

Hash32 body_id(ByteView body) { return detail::tagged_hash("tagger/tx/v1", {body}); }

Hash32 tx_id(ByteView tx) {
  Reader r(tx);
  r.expect_array(2);
  ByteView body = r.bin();
  r.bin();
  r.finish();
  return body_id(body);
}

TxView decode_tx(ByteView record) {
  TxView t;
  t.record = record;
  Reader outer(record);
  outer.expect_array(2);
  t.body = outer.bin();
  t.signature = outer.bin();
  outer.finish();
  Reader r(t.body);
  r.expect_array(6);
  std::uint64_t version = r.uint();
  if (version != kTxVersion) throw DecodeError("transaction version " + std::to_string(version) + " is not supported");
  t.chain_id = r.uint();
  std::uint64_t kind = r.uint();
  if (!is_known_kind(kind)) throw DecodeError("unknown transaction kind " + std::to_string(kind));
  t.kind = static_cast<TxKind>(kind);
  auto key = r.bin_exact(crypto::kPublicKeyBytes);
  std::copy(key.begin(), key.end(), t.sender_key.begin());
  t.sender = address_of(t.sender_key);
  t.nonce = r.uint();
  t.payload = decode_payload(t.kind, r);
  r.finish();
  return t;
}

Address address_of(const crypto::PublicKey& signing_key) {
  Hash32 h = detail::tagged_hash("tagger/address/v1", {signing_key});
  Address a;
  std::copy(h.begin(), h.begin() + kAddressBytes, a.begin());
  return a;
}

std::string address_to_string(const Address& a) { return "tg" + to_hex(a); }

Address address_from_string(std::string_view s) {
  if (s.size() != 2 + 2 * kAddressBytes || s.substr(0, 2) != "tg")
    throw InvalidArgument("an address is 'tg' followed by 40 hex digits, got '" + std::string(s) + "'");
  Bytes b = from_hex(s.substr(2));
  Address a;
  std::copy(b.begin(), b.end(), a.begin());
  return a;
}

Hash32 key_grant_message(std::uint64_t chain_id, const Id& listing, const Address& buyer, ByteView key_blob) {
  std::uint8_t c[8];
  detail::put_be64(c, chain_id);
  Hash32 blob = detail::sha256_parts({key_blob});
  return detail::tagged_hash("tagger/keygrant/v1", {ByteView(c, 8), listing, buyer, blob});
}

namespace {
Bytes sign_body(const crypto::SigningKey& signer, const Bytes& body) {
  Hash32 id = body_id(body);
  crypto::Signature sig = signer.sign(id);
  Bytes rec;
  rec.reserve(body.size() + 80);
  Writer w(rec);
  w.array_header(2);
  w.bin(body);
  w.bin(sig);
  return rec;
}
Bytes body_prefix(const crypto::SigningKey& signer, std::uint64_t chain_id, TxKind kind, std::uint64_t nonce) {
  Bytes body;
  Writer w(body);
  w.array_header(6);
  w.uint(kTxVersion);
  w.uint(chain_id);
  w.uint(static_cast<std::uint64_t>(kind));
  w.bin(signer.verify_key().raw());
  w.uint(nonce);
  return body;
}
}  // namespace

Bytes make_tx(const crypto::SigningKey& signer, std::uint64_t chain_id, TxKind kind, std::uint64_t nonce,
              ByteView payload) {
  if (!is_known_kind(static_cast<std::uint64_t>(kind)))
    throw InvalidArgument("unknown transaction kind " + std::to_string(static_cast<int>(kind)));
  Bytes body = body_prefix(signer, chain_id, kind, nonce);
  body.insert(body.end(), payload.begin(), payload.end());
  // Validate before handing out a signature: schema first, then stateless rules.
  Bytes rec = sign_body(signer, body);
  TxView t = decode_tx(rec);
  check_stateless(t, chain_id);
  return rec;
}

std::vector<Bytes> make_transfers(const std::vector<crypto::SigningKey>& signers,
                                  const std::vector<std::uint32_t>& signer_index,
                                  const std::vector<Address>& recipients,
                                  const std::vector<std::uint64_t>& amounts,
                                  const std::vector<std::uint64_t>& nonces, std::uint64_t chain_id,
                                  unsigned threads) {
  std::size_t n = signer_index.size();
  if (recipients.size() != n || amounts.size() != n || nonces.size() != n)
    throw InvalidArgument("make_transfers: signer_index, recipients, amounts and nonces must have the same length");
  for (auto i : signer_index)
    if (i >= signers.size()) throw InvalidArgument("make_transfers: signer index out of range");
  std::vector<Bytes> out(n);
  util::parallel_for(n, threads, 64, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i) {
      if (amounts[i] == 0) throw RuleViolation("make_transfers: amount must be positive");
      const auto& sk = signers[signer_index[i]];
      Bytes body = body_prefix(sk, chain_id, TxKind::Transfer, nonces[i]);
      Writer w(body);
      w.array_header(3);
      w.bin(recipients[i]);
      w.uint(amounts[i]);
      w.str("");
      out[i] = sign_body(sk, body);
    }
  });
  return out;
}

std::vector<Address> parties(const TxView& tx) {
  std::vector<Address> out{tx.sender};
  std::visit([&](const auto& p) {
    using P = std::decay_t<decltype(p)>;
    if constexpr (std::is_same_v<P, MintP> || std::is_same_v<P, TransferP> || std::is_same_v<P, NftTransferP>) {
      out.push_back(p.to);
    } else if constexpr (std::is_same_v<P, EscrowLockP>) {
      if (p.verifier) out.push_back(*p.verifier);
    } else if constexpr (std::is_same_v<P, PublishP>) {
      if (p.lock.verifier) out.push_back(*p.lock.verifier);
    } else if constexpr (std::is_same_v<P, AssignP>) {
      for (auto& [a, _] : p.grants) out.push_back(a);
      for (auto& [a, _] : p.revokes) out.push_back(a);
    } else if constexpr (std::is_same_v<P, UploadP>) {
      out.push_back(p.worker);
    } else if constexpr (std::is_same_v<P, FinalizeP>) {
      for (auto& [a, _] : p.payouts) out.push_back(a);
      for (auto& r : p.reputation) out.push_back(std::get<0>(r));
      for (auto& [a, _] : p.slashes) out.push_back(a);
    } else if constexpr (std::is_same_v<P, SlashP>) {
      out.push_back(p.staker);
    } else if constexpr (std::is_same_v<P, NftMintP>) {
      for (auto& [a, _] : p.royalties) out.push_back(a);
    }
  }, tx.payload);
  std::sort(out.begin() + 1, out.end());
  out.erase(std::unique(out.begin() + 1, out.end()), out.end());
  return out;
}

std::uint64_t add_checked(std::uint64_t a, std::uint64_t b, const char* what) {
  std::uint64_t r;
  if (__builtin_add_overflow(a, b, &r))
    throw AmountOverflow(std::string(what) + " overflows uint64 (" + std::to_string(a) + " + " + std::to_string(b) + ")");
  return r;
}

}  // namespace tagger::ledger
