#include "ledger/block.h"

#include "ledger/hashing.h"
#include "tagger/codec.h"
#include "tagger/errors.h"

namespace tagger::ledger {
using codec::Reader;
using codec::Writer;

namespace {
template <std::size_t N>
void read_fixed(Reader& r, std::array<std::uint8_t, N>& out) {
  auto v = r.bin_exact(N);
  std::copy(v.begin(), v.end(), out.begin());
}
}  // namespace

Bytes encode_header(const BlockHeader& h) {
  Bytes out;
  Writer w(out);
  w.array_header(8);
  w.uint(h.version);
  w.uint(h.chain_id);
  w.uint(h.height);
  w.bin(h.prev_hash);
  w.bin(h.tx_root);
  w.bin(h.state_root);
  w.uint(h.timestamp_ms);
  w.uint(h.n_tx);
  return out;
}

Hash32 block_hash(ByteView header_bytes) { return detail::tagged_hash("tagger/block/v1", {header_bytes}); }

BlockHeader decode_header(ByteView bytes) {
  BlockHeader h;
  Reader r(bytes);
  r.expect_array(8);
  h.version = r.uint();
  h.chain_id = r.uint();
  h.height = r.uint();
  read_fixed(r, h.prev_hash);
  read_fixed(r, h.tx_root);
  read_fixed(r, h.state_root);
  h.timestamp_ms = r.uint();
  h.n_tx = r.uint();
  r.finish();
  h.hash = block_hash(bytes);
  return h;
}

BlockView decode_block_view(ByteView record, std::uint64_t height_hint) {
  try {
    BlockView b;
    codec::Limits lim;
    lim.max_items = 1u << 26;
    Reader r(record, lim);
    r.expect_array(3);
    b.header_bytes = r.bin();
    auto sig = r.bin_exact(crypto::kSignatureBytes);
    std::size_t n = r.array_header();
    b.txs.reserve(n);
    for (std::size_t i = 0; i < n; ++i) b.txs.push_back(r.bin());
    r.finish();
    b.header = decode_header(b.header_bytes);
    std::copy(sig.begin(), sig.end(), b.header.signature.begin());
    if (b.header.n_tx != n) throw DecodeError("header says " + std::to_string(b.header.n_tx) + " transactions, the block has " + std::to_string(n));
    return b;
  } catch (const DecodeError& e) {
    throw CorruptLedger("block " + std::to_string(height_hint) + " is malformed: " + e.what());
  }
}

std::pair<BlockHeader, std::vector<Bytes>> decode_block(ByteView record) {
  BlockView v = decode_block_view(record, 0);
  std::vector<Bytes> txs;
  for (auto t : v.txs) txs.emplace_back(t.begin(), t.end());
  return {v.header, std::move(txs)};
}

Bytes encode_block(const Bytes& header_bytes, const crypto::Signature& sig, const std::vector<ByteView>& txs) {
  std::size_t total = header_bytes.size() + 80;
  for (auto t : txs) total += t.size() + 5;
  Bytes out;
  out.reserve(total);
  Writer w(out);
  w.array_header(3);
  w.bin(header_bytes);
  w.bin(sig);
  w.array_header(txs.size());
  for (auto t : txs) w.bin(t);
  return out;
}

Bytes encode_genesis(const Genesis& g) {
  Bytes out;
  Writer w(out);
  w.array_header(7);
  w.str("tagger-genesis/v1");
  w.uint(g.chain_id);
  w.str(g.name);
  w.bin(g.issuer);
  w.bin(g.producer);
  w.uint(g.fee_bps);
  w.uint(g.timestamp_ms);
  return out;
}

Genesis decode_genesis(ByteView record) {
  try {
    Genesis g;
    Reader r(record);
    r.expect_array(7);
    if (r.str() != "tagger-genesis/v1") throw DecodeError("not a genesis record");
    g.chain_id = r.uint();
    g.name = std::string(r.str());
    read_fixed(r, g.issuer);
    read_fixed(r, g.producer);
    std::uint64_t fee = r.uint();
    if (fee > kMaxBps) throw DecodeError("fee over 100%");
    g.fee_bps = static_cast<std::uint32_t>(fee);
    g.timestamp_ms = r.uint();
    r.finish();
    return g;
  } catch (const DecodeError& e) {
    throw CorruptLedger(std::string("block 0 (genesis) is malformed: ") + e.what());
  }
}

}  // namespace tagger::ledger
