// Dataset NFTs: one per task, minted by the task owner once the task is
// finalized, carrying the manifest hash, a royalty split fixed forever at mint
// and a license string. Transfers only by the holder and only while unlisted.
#include "ledger/contracts/contracts.h"
#include "tagger/errors.h"

namespace tagger::ledger::contracts {

void apply(State& s, const TxView& tx, const ApplyContext& c, const NftMintP& p) {
  TaskInfo& t = task_mut(s, p.task);
  if (tx.sender != t.owner) throw NotOwner("nft_mint: only the task owner may mint the task's NFT");
  if (t.nft) throw RuleViolation("nft_mint: the task's NFT was already minted (" + short_hex(*t.nft) + ")");
  if (t.status != TaskStatus::Finalized) throw RuleViolation("nft_mint: the task must be finalized first");
  std::uint64_t bps = s.fee_bps;
  for (auto& [who, share] : p.royalties) {
    s.account_ref(who, "royalty recipient");
    bps += share;
  }
  if (bps > kMaxBps)
    throw RuleViolation("nft_mint: royalties plus the platform fee of " + std::to_string(s.fee_bps) +
                        " bps exceed 100% (" + std::to_string(bps) + " bps)");
  t.nft = c.txid;
  NftInfo n;
  n.id = c.txid;
  n.task = p.task;
  n.holder = tx.sender;
  n.minter = tx.sender;
  n.manifest_hash = p.manifest_hash;
  n.royalties = p.royalties;
  n.license = p.license;
  n.uri = p.uri;
  n.minted_height = c.height;
  s.nfts.put(n.id, std::move(n));
  if (!p.key_blob.empty()) s.grants.put(key52(c.txid, tx.sender), p.key_blob);
}

void apply(State& s, const TxView& tx, const ApplyContext&, const NftTransferP& p) {
  NftInfo* n = s.nfts.edit(p.nft);
  if (n == nullptr) throw RuleViolation("nft_transfer: unknown NFT " + short_hex(p.nft));
  if (n->holder != tx.sender) throw NotOwner("nft_transfer: only the holder may transfer the NFT");
  for (const auto& [id, l] : s.listings.all())
    if (l.nft == p.nft) throw RuleViolation("nft_transfer: the NFT is listed; cancel the listing first");
  s.account_ref(p.to, "NFT recipient");
  n->holder = p.to;
  if (!p.key_blob.empty()) s.grants.put(key52(p.nft, p.to), p.key_blob);
}

}  // namespace tagger::ledger::contracts
