// RFC 6962 Merkle trees as plain functions. The tree over n leaves splits at
// the largest power of two below n; computing it bottom-up with an unpaired
// last node promoted unchanged gives the same root (tests compare with the
// recursive definition).
#include "ledger/hashing.h"
#include "tagger/errors.h"
#include "tagger/ledger.h"

namespace tagger::ledger {
namespace {

Hash32 node_hash(const Hash32& l, const Hash32& r) {
  static const std::uint8_t one = 0x01;
  return detail::sha256_parts({ByteView(&one, 1), l, r});
}

// Largest power of two strictly less than n (n >= 2).
std::size_t split_point(std::size_t n) {
  std::size_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

void path(const Hash32* leaves, std::size_t n, std::size_t m, std::vector<Hash32>& out) {
  if (n <= 1) return;
  std::size_t k = split_point(n);
  if (m < k) {
    path(leaves, k, m, out);
    out.push_back(merkle_root(std::vector<Hash32>(leaves + k, leaves + n)));
  } else {
    path(leaves + k, n - k, m - k, out);
    out.push_back(merkle_root(std::vector<Hash32>(leaves, leaves + k)));
  }
}

}  // namespace

Hash32 merkle_leaf_hash(ByteView data) {
  static const std::uint8_t zero = 0x00;
  return detail::sha256_parts({ByteView(&zero, 1), data});
}

Hash32 merkle_root(const std::vector<Hash32>& leaves) {
  if (leaves.empty()) return detail::sha256_parts({});
  std::vector<Hash32> level = leaves;
  while (level.size() > 1) {
    std::size_t half = level.size() / 2;
    for (std::size_t i = 0; i < half; ++i) level[i] = node_hash(level[2 * i], level[2 * i + 1]);
    if (level.size() % 2 == 1) {
      level[half] = level.back();
      level.resize(half + 1);
    } else {
      level.resize(half);
    }
  }
  return level[0];
}

std::vector<Hash32> merkle_proof(const std::vector<Hash32>& leaves, std::size_t index) {
  if (index >= leaves.size())
    throw InvalidArgument("merkle_proof: index " + std::to_string(index) + " out of range for " +
                          std::to_string(leaves.size()) + " leaves");
  std::vector<Hash32> out;
  path(leaves.data(), leaves.size(), index, out);
  return out;
}

bool merkle_verify(const Hash32& leaf, std::size_t index, std::size_t tree_size,
                   const std::vector<Hash32>& proof, const Hash32& root) {
  if (index >= tree_size) return false;
  std::size_t fn = index, sn = tree_size - 1;
  Hash32 r = leaf;
  for (const Hash32& p : proof) {
    if (sn == 0) return false;
    if ((fn & 1) == 1 || fn == sn) {
      r = node_hash(p, r);
      if ((fn & 1) == 0)
        while ((fn & 1) == 0 && fn != 0) { fn >>= 1; sn >>= 1; }
    } else {
      r = node_hash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

}  // namespace tagger::ledger
