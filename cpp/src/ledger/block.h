// Block records: array(3) [bin header, bin producer_signature, array(n) [bin tx]].
// The header is array(8) [version, chain_id, height, prev_hash, tx_root,
// state_root, timestamp_ms, n_tx]; the block hash is
// SHA-256("tagger/block/v1" || 0x00 || header bytes).
#pragma once

#include <vector>

#include "tagger/ledger.h"

namespace tagger::ledger {

struct BlockView {
  BlockHeader header;
  ByteView header_bytes;
  std::vector<ByteView> txs;
};

Bytes encode_header(const BlockHeader& h);
Hash32 block_hash(ByteView header_bytes);
// Views into `record`; CorruptLedger("block N: ...") with `height_hint` when malformed.
BlockView decode_block_view(ByteView record, std::uint64_t height_hint);
Bytes encode_block(const Bytes& header_bytes, const crypto::Signature& sig, const std::vector<ByteView>& txs);

// The genesis record (the only entry of block 0).
struct Genesis {
  std::uint64_t chain_id = 0;
  std::string name;
  crypto::PublicKey issuer{};
  crypto::PublicKey producer{};
  std::uint32_t fee_bps = 0;
  std::uint64_t timestamp_ms = 0;
};
Bytes encode_genesis(const Genesis& g);
Genesis decode_genesis(ByteView record);

}  // namespace tagger::ledger
