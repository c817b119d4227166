// Stateless transaction rules (bitcoin's CheckTransaction split): everything
// that can be decided from the transaction bytes alone. Signatures are checked
// separately (in batches); stateful rules live in state.cc and contracts/.
#include <algorithm>

#include "ledger/tx.h"
#include "tagger/errors.h"

namespace tagger::ledger {
namespace {

[[noreturn]] void reject(const TxView& tx, const std::string& why) {
  throw RuleViolation(std::string(kind_name(tx.kind)) + ": " + why);
}

void check_text(const TxView& tx, const std::string& s, std::size_t max, const char* what) {
  if (s.size() > max) reject(tx, std::string(what) + " longer than " + std::to_string(max) + " bytes");
}

void check_positive(const TxView& tx, std::uint64_t v, const char* what) {
  if (v == 0) reject(tx, std::string(what) + " must be positive");
}

// Lists keyed by address are strictly increasing: one canonical order, no duplicates.
template <class L, class Key>
void check_sorted(const TxView& tx, const L& list, Key key, const char* what) {
  for (std::size_t i = 1; i < list.size(); ++i)
    if (!(key(list[i - 1]) < key(list[i])))
      reject(tx, std::string(what) + " must be sorted by address without duplicates");
}

}  // namespace

void check_stateless(const TxView& tx, std::uint64_t chain_id) {
  if (tx.chain_id != chain_id)
    throw WrongChain("transaction for chain " + std::to_string(tx.chain_id) + " sent to chain " + std::to_string(chain_id));
  if (tx.signature.size() != crypto::kSignatureBytes)
    throw InvalidSignature("signature must be 64 bytes, got " + std::to_string(tx.signature.size()));
  std::visit([&](const auto& p) {
    using P = std::decay_t<decltype(p)>;
    if constexpr (std::is_same_v<P, RegisterP>) {
      check_text(tx, p.name, kMaxName, "name");
      if (p.skills.size() > kMaxSkills) reject(tx, "more than " + std::to_string(kMaxSkills) + " skills");
      for (std::size_t i = 0; i < p.skills.size(); ++i) {
        check_text(tx, p.skills[i].first, kMaxName, "skill category");
        if (p.skills[i].second > kSkillScale) reject(tx, "skill above 1.0 (1000000 ppm)");
        if (i > 0 && !(p.skills[i - 1].first < p.skills[i].first))
          reject(tx, "skills must be sorted by category without duplicates");
      }
    } else if constexpr (std::is_same_v<P, MintP>) {
      check_positive(tx, p.amount, "amount");
    } else if constexpr (std::is_same_v<P, TransferP>) {
      check_positive(tx, p.amount, "amount");
      check_text(tx, p.memo, kMaxMemo, "memo");
    } else if constexpr (std::is_same_v<P, AnswersP>) {
      if (p.batch_hash) {
        if (!p.answers.empty()) reject(tx, "give either the answers or their batch hash, not both");
        check_positive(tx, p.count, "count");
      } else {
        if (p.answers.empty()) reject(tx, "no answers");
        if (p.count != p.answers.size()) reject(tx, "count does not match the number of answers");
      }
      if (!p.duration_ms.empty() && p.duration_ms.size() != p.answers.size())
        reject(tx, "durations must be one per answer");
      for (auto d : p.duration_ms)
        if (d > kMaxDurationMs) reject(tx, "a duration above one day (86400000 ms)");
      if (!p.confidence_ppm.empty() && p.confidence_ppm.size() != p.answers.size())
        reject(tx, "confidences must be one per answer");
      for (auto c : p.confidence_ppm)
        if (c > 1'000'000) reject(tx, "a confidence above 1000000 ppm");
    } else if constexpr (std::is_same_v<P, UploadP>) {
      if (p.verdict > 2) reject(tx, "verdict must be 0 (accepted), 1 (rejected) or 2 (needs_review)");
      for (auto& s : p.reasons) check_text(tx, s, kMaxName, "reason");
    } else if constexpr (std::is_same_v<P, FinalizeP>) {
      check_sorted(tx, p.payouts, [](const auto& e) { return e.first; }, "payouts");
      check_sorted(tx, p.reputation, [](const auto& e) { return std::get<0>(e); }, "reputation");
      check_sorted(tx, p.slashes, [](const auto& e) { return e.first; }, "slashes");
      for (auto& e : p.slashes) check_positive(tx, e.second, "slash amount");
      std::uint64_t total = 0;
      for (auto& e : p.payouts) total = add_checked(total, e.second, "total payout");
      for (std::size_t i = 1; i < p.gold.size(); ++i)
        if (!(p.gold[i - 1].first < p.gold[i].first)) reject(tx, "gold must be sorted by item without duplicates");
    } else if constexpr (std::is_same_v<P, AssignP>) {
      for (const SlotList* list : {&p.grants, &p.revokes}) {
        check_sorted(tx, *list, [](const auto& e) { return e.first; }, "assignment lists");
        for (auto& [a, items] : *list) {
          if (items.empty()) reject(tx, "an assignment entry names no item");
          for (std::size_t i = 1; i < items.size(); ++i)
            if (!(items[i - 1] < items[i])) reject(tx, "assigned items must be increasing without duplicates");
        }
      }
      if (p.grants.empty() && p.revokes.empty()) reject(tx, "assigns nothing");
    } else if constexpr (std::is_same_v<P, ExtendP>) {
      check_positive(tx, p.amount, "amount");
      if (p.items.empty()) reject(tx, "extends no item");
      for (std::size_t i = 0; i < p.items.size(); ++i) {
        if (i > 0 && !(p.items[i - 1].first < p.items[i].first)) reject(tx, "extended items must be increasing without duplicates");
        if (p.items[i].second == 0) reject(tx, "an extended item must ask for at least 1 more answer");
      }
    } else if constexpr (std::is_same_v<P, PublishP>) {
      check_positive(tx, p.lock.budget, "budget");
      check_terms(p.terms, p.lock.budget);
    } else if constexpr (std::is_same_v<P, StakeP>) {
      check_positive(tx, p.amount, "amount");
    } else if constexpr (std::is_same_v<P, SlashP>) {
      check_positive(tx, p.amount, "amount");
      check_text(tx, p.reason, kMaxName, "reason");
    } else if constexpr (std::is_same_v<P, NftMintP>) {
      check_sorted(tx, p.royalties, [](const auto& e) { return e.first; }, "royalties");
      std::uint64_t bps = 0;
      for (auto& e : p.royalties) {
        if (e.second == 0) reject(tx, "a royalty share must be positive");
        bps += e.second;  // at most 64 entries of < 2^32: no overflow
      }
      if (bps > kMaxBps)
        reject(tx, "royalties sum to " + std::to_string(bps) + " basis points, over 100% (10000)");
      check_text(tx, p.license, kMaxText, "license");
      check_text(tx, p.uri, kMaxText, "uri");
      if (p.key_blob.size() > kMaxKeyBlob) reject(tx, "key blob over " + std::to_string(kMaxKeyBlob) + " bytes");
    } else if constexpr (std::is_same_v<P, NftTransferP>) {
      if (p.key_blob.size() > kMaxKeyBlob) reject(tx, "key blob over " + std::to_string(kMaxKeyBlob) + " bytes");
    } else if constexpr (std::is_same_v<P, BuyP>) {
      if (p.key_blob.size() > kMaxKeyBlob) reject(tx, "key blob over " + std::to_string(kMaxKeyBlob) + " bytes");
      if (p.key_blob.empty() != p.grant_sig.empty())
        reject(tx, "a key blob needs the seller's grant signature and vice versa");
      if (!p.grant_sig.empty() && p.grant_sig.size() != crypto::kSignatureBytes)
        reject(tx, "grant signature must be 64 bytes");
    }
  }, tx.payload);
}

}  // namespace tagger::ledger
