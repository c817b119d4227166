// Market: listings for sale (the NFT changes hands) or license (any number of
// buyers get a license; the NFT stays). A purchase pays the seller, the
// royalty recipients fixed at mint and the platform fee in one atomic step,
// together with the NFT transfer or license grant and, when given, the
// seller-signed key blob that lets the buyer open the dataset.
#include <algorithm>
#include <numeric>

#include "ledger/contracts/contracts.h"
#include "tagger/errors.h"

namespace tagger::ledger {

PaymentSplit split_payment(std::uint64_t price, std::uint32_t fee_bps,
                           const std::vector<std::pair<Address, std::uint32_t>>& royalties) {
  using u128 = unsigned __int128;
  std::uint64_t total_bps = fee_bps;
  for (auto& r : royalties) total_bps += r.second;
  if (total_bps > kMaxBps) throw RuleViolation("royalties plus fee exceed 100%");
  PaymentSplit out;
  out.fee = static_cast<std::uint64_t>(u128(price) * fee_bps / kMaxBps);
  std::uint64_t royalty_bps = total_bps - fee_bps;
  std::uint64_t pool = static_cast<std::uint64_t>(u128(price) * royalty_bps / kMaxBps);
  // Floors first, then the units the floors lost, largest remainder first.
  std::vector<std::uint64_t> rem(royalties.size());
  std::uint64_t given = 0;
  for (std::size_t i = 0; i < royalties.size(); ++i) {
    u128 x = u128(price) * royalties[i].second;
    out.royalties.emplace_back(royalties[i].first, static_cast<std::uint64_t>(x / kMaxBps));
    rem[i] = static_cast<std::uint64_t>(x % kMaxBps);
    given += out.royalties.back().second;
  }
  std::vector<std::size_t> order(royalties.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return rem[a] > rem[b]; });
  // pool - given < number of recipients, because each floor loses < 1 unit.
  for (std::size_t k = 0; given < pool; ++k, ++given) out.royalties[order[k]].second += 1;
  out.seller = price - out.fee - pool;
  return out;
}

namespace contracts {

void apply(State& s, const TxView& tx, const ApplyContext& c, const ListP& p) {
  const NftInfo* n = s.nfts.find(p.nft);
  if (n == nullptr) throw RuleViolation("list: unknown NFT " + short_hex(p.nft));
  if (n->holder != tx.sender) throw NotOwner("list: only the holder may list the NFT");
  for (const auto& [id, l] : s.listings.all())
    if (l.nft == p.nft && l.kind == p.kind)
      throw RuleViolation(std::string("list: the NFT already has an active ") +
                          (p.kind == ListingKind::Sale ? "sale" : "license") + " listing");
  ListingInfo l;
  l.id = c.txid;
  l.nft = p.nft;
  l.seller = tx.sender;
  l.kind = p.kind;
  l.price = p.price;
  l.created_height = c.height;
  s.listings.put(l.id, std::move(l));
}

void apply(State& s, const TxView& tx, const ApplyContext& c, const BuyP& p) {
  const ListingInfo* lp = s.listings.find(p.listing);
  if (lp == nullptr) throw RuleViolation("buy: no active listing " + short_hex(p.listing));
  ListingInfo l = *lp;
  if (l.seller == tx.sender) throw RuleViolation("buy: an account cannot buy its own listing");
  if (p.price != l.price)
    throw RuleViolation("buy: the listing's price is " + std::to_string(l.price) + ", the buyer agreed to " +
                        std::to_string(p.price));
  NftInfo* n = s.nfts.edit(l.nft);
  if (n == nullptr || n->holder != l.seller) throw RuleViolation("buy: the seller no longer holds the NFT");
  if (l.kind == ListingKind::License && s.licenses.find(key52(l.nft, tx.sender)))
    throw RuleViolation("buy: the buyer already holds a license for this NFT");
  if (!p.key_blob.empty()) {
    const AccountInfo& seller = s.account_ref(l.seller, "seller");
    Hash32 msg = key_grant_message(s.chain_id, l.id, tx.sender, p.key_blob);
    crypto::VerifyKey(seller.signing_key).verify(msg, p.grant_sig);  // InvalidSignature
  }
  PaymentSplit split = split_payment(l.price, s.fee_bps, n->royalties);
  s.debit(tx.sender, l.price, "purchase");
  s.credit(l.seller, split.seller, "seller proceeds");
  for (auto& [who, amount] : split.royalties)
    if (amount > 0) s.credit(who, amount, "royalty");
  if (split.fee > 0) s.credit(s.issuer, split.fee, "platform fee");
  if (l.kind == ListingKind::Sale) {
    n->holder = tx.sender;
    // The seller's other listings of this NFT lapse with the sale.
    std::vector<Id> stale;
    for (const auto& [id, other] : s.listings.all())
      if (other.nft == l.nft) stale.push_back(id);
    for (auto& id : stale) s.listings.erase(id);
  } else {
    LicenseInfo lic;
    lic.nft = l.nft;
    lic.holder = tx.sender;
    lic.listing = l.id;
    lic.price = l.price;
    lic.height = c.height;
    s.licenses.put(key52(l.nft, tx.sender), std::move(lic));
  }
  if (!p.key_blob.empty()) s.grants.put(key52(l.nft, tx.sender), p.key_blob);
}

void apply(State& s, const TxView& tx, const ApplyContext&, const CancelP& p) {
  const ListingInfo* l = s.listings.find(p.listing);
  if (l == nullptr) throw RuleViolation("cancel: no active listing " + short_hex(p.listing));
  if (l->seller != tx.sender) throw NotOwner("cancel: only the seller may cancel a listing");
  s.listings.erase(p.listing);
}

}  // namespace contracts
}  // namespace tagger::ledger
