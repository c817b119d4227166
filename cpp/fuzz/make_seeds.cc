// Writes the seed corpora under <out>/<target>/ from real, valid inputs made
// with the library itself: signed transactions the fuzz ledger accepts, a
// blocks.log and a snapshot of a small on-disk ledger, a keystore, a sealed
// envelope, chaotic ciphertexts, WAV files, texts and a verification receipt.
// Usage: fuzz_make_seeds OUT_DIR   (make fuzz-seeds; the output is committed)
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "fuzz_world.h"
#include "ledger/log_format.h"
#include "tagger/codec.h"
#include "tagger/crypto.h"
#include "tagger/ledger.h"
#include "tagger/verify.h"

namespace fs = std::filesystem;
using namespace tagger;
using namespace tagger::ledger;

namespace {
fs::path out_root;

void put(const std::string& target, const std::string& name, ByteView bytes) {
  fs::create_directories(out_root / target);
  std::ofstream f(out_root / target / name, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}
void put(const std::string& target, const std::string& name, std::string_view s) {
  put(target, name, ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
}
Bytes cat(std::initializer_list<ByteView> parts) {
  Bytes out;
  for (auto p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
Bytes one(std::uint8_t b) { return Bytes{b}; }
Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }
Bytes read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), {});
}
Bytes transfer_payload(const Address& to, std::uint64_t amount, const std::string& memo) {
  Bytes out;
  codec::Writer w(out);
  w.array_header(3);
  w.bin(to);
  w.uint(amount);
  w.str(memo);
  return out;
}
// A PCM/float WAV of a short tone (deterministic).
Bytes wav(std::uint16_t format, std::uint16_t channels, std::uint16_t bits, std::uint32_t frames) {
  std::uint32_t rate = 8000, block = channels * bits / 8, data = frames * block;
  Bytes b;
  auto u32 = [&](std::uint32_t v) { for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i))); };
  auto u16 = [&](std::uint16_t v) { b.push_back(static_cast<std::uint8_t>(v)); b.push_back(static_cast<std::uint8_t>(v >> 8)); };
  auto tag = [&](const char* t) { b.insert(b.end(), t, t + 4); };
  tag("RIFF"); u32(36 + data); tag("WAVE");
  tag("fmt "); u32(16); u16(format); u16(channels); u32(rate); u32(rate * block); u16(static_cast<std::uint16_t>(block)); u16(bits);
  tag("data"); u32(data);
  for (std::uint32_t i = 0; i < frames * channels; ++i) {
    int v = static_cast<int>((i * 37) % 200) - 100;
    if (bits == 8) b.push_back(static_cast<std::uint8_t>(128 + v));
    else if (bits == 16) u16(static_cast<std::uint16_t>(v * 200));
    else u32(static_cast<std::uint32_t>(v * 1000000));
  }
  return b;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) { std::cerr << "usage: fuzz_make_seeds OUT_DIR\n"; return 2; }
  out_root = argv[1];

  // ---- transactions the fuzz ledger accepts, and the codec values inside them
  fuzz::World w;
  auto addr = [](const crypto::SigningKey& k) { return address_of(k.verify_key().raw()); };
  std::uint64_t chain = w.ledger->chain_id();
  for (int i = 0; i < 3; ++i) {
    const auto& from = w.users[i];
    Bytes p = transfer_payload(addr(w.users[(i + 1) % 3]), 1000 + i, i == 0 ? "" : "thanks");
    Bytes tx = make_tx(from, chain, TxKind::Transfer, w.ledger->next_nonce(addr(from)), p);
    put("fuzz_tx_submit", "raw_transfer_" + std::to_string(i), cat({one(0), tx}));
    put("fuzz_tx_submit", "signed_transfer_" + std::to_string(i), cat({one(1), one(static_cast<std::uint8_t>(TxKind::Transfer)), one(static_cast<std::uint8_t>(i + 1)), p}));
    put("fuzz_codec_decode", "tx_" + std::to_string(i), tx);
    put("fuzz_codec_decode", "payload_" + std::to_string(i), p);
  }
  Bytes mint = fuzz::mint_payload(addr(w.users[0]), 5);
  put("fuzz_tx_submit", "signed_mint", cat({one(1), one(static_cast<std::uint8_t>(TxKind::Mint)), one(0), mint}));
  auto seal_key = crypto::PrivateKey::from_bytes(Bytes(32, 3));
  put("fuzz_tx_submit", "signed_register", cat({one(1), one(static_cast<std::uint8_t>(TxKind::Register)), one(0), fuzz::reg_payload(seal_key, "fresh")}));
  {
    Bytes v;
    codec::Writer cw(v);
    cw.array_header(7);
    cw.nil(); cw.boolean(true); cw.uint(1ull << 40); cw.sint(-5); cw.str("héllo"); cw.bin(Bytes(40, 7));
    cw.array_header(1); cw.array_header(0);
    put("fuzz_codec_decode", "all_types", v);
  }

  // ---- a small on-disk ledger: blocks.log and a snapshot
  fs::path dir = fs::temp_directory_path() / ("tagger_fuzz_seeds_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  {
    GenesisConfig g;
    g.chain_id = 7;
    g.fee_bps = 250;
    g.timestamp_ms = 1;
    LedgerOptions o;
    o.sync = false;
    auto l = Ledger::create(dir.string(), g, w.issuer, w.producer, o);
    l->submit(make_tx(w.issuer, 7, TxKind::Register, 0, fuzz::reg_payload(seal_key, "issuer")));
    l->commit(2);
    for (int i = 0; i < 2; ++i) {
      l->submit(make_tx(w.users[i], 7, TxKind::Register, 0, fuzz::reg_payload(seal_key, "u" + std::to_string(i))));
      l->submit(make_tx(w.issuer, 7, TxKind::Mint, l->next_nonce(addr(w.issuer)), fuzz::mint_payload(addr(w.users[i]), 500)));
      l->commit(3 + i);
    }
    l->submit(make_tx(w.users[0], 7, TxKind::Transfer, l->next_nonce(addr(w.users[0])), transfer_payload(addr(w.users[1]), 7, "x")));
    l->commit(9);
    l->snapshot();
    put("fuzz_codec_decode", "block_record", l->block_record(l->height()));
  }
  {
    Bytes image = read_file(dir / "blocks.log");
    put("fuzz_block_log", "blocks.log", cat({one(0), image}));
    // The same records as length + payload, for the target to frame (odd first byte).
    Bytes recs = one(1);
    for (const auto& f : log::parse(image).frames) {
      for (int i = 0; i < 4; ++i) recs.push_back(static_cast<std::uint8_t>(f.length >> (8 * i)));
      recs.insert(recs.end(), image.begin() + static_cast<std::ptrdiff_t>(f.payload),
                  image.begin() + static_cast<std::ptrdiff_t>(f.payload + f.length));
    }
    put("fuzz_block_log", "records", recs);
  }
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string n = e.path().filename().string();
    if (n.rfind("snapshot-", 0) != 0) continue;
    Bytes file = read_file(e.path());
    // magic(8) [height, hash, state_root, bin state] checksum(32): the state body is the target's input.
    codec::Limits lim;
    codec::Reader r(ByteView(file.data() + 8, file.size() - 40), lim);
    r.expect_array(4);
    r.uint();
    r.bin_exact(32);
    r.bin_exact(32);
    ByteView body = r.bin();
    put("fuzz_snapshot", "state_" + n.substr(9, 20), body);
    put("fuzz_codec_decode", "snapshot_state", body);
  }
  fs::remove_all(dir);

  // ---- keystore, sealed envelope, chaotic layer
  ScryptParams small{16, 1, 1};
  put("fuzz_keystore", "seed32", keystore_seal(Bytes(32, 5), "fuzz passphrase", small));
  put("fuzz_keystore", "other_passphrase", keystore_seal(Bytes(32, 5), "another", small));
  put("fuzz_keystore", "empty_secret", keystore_seal(Bytes(), "fuzz passphrase", small));
  auto me = crypto::PrivateKey::from_bytes(Bytes(32, 0x42));
  auto other = crypto::PrivateKey::from_bytes(Bytes(32, 0x43));
  put("fuzz_sealed_open", "small", crypto::seal(bytes_of("a labelled item"), {me.public_key()}, 1));
  put("fuzz_sealed_open", "two_recipients", crypto::seal(Bytes(300, 1), {other.public_key(), me.public_key()}, 1));
  put("fuzz_sealed_open", "empty", crypto::seal(Bytes(), {me.public_key()}, 1));
  put("fuzz_sealed_open", "not_for_me", crypto::seal(Bytes(20, 2), {other.public_key()}, 1));
  for (std::size_t n : {0u, 1u, 17u, 700u}) {
    Bytes key(32, static_cast<std::uint8_t>(n)), nonce(16, 9);
    crypto::ChaoticCipher c(key, nonce);
    Bytes plain(n);
    for (std::size_t i = 0; i < n; ++i) plain[i] = static_cast<std::uint8_t>(i * 7);
    put("fuzz_chaotic_decrypt", "ct_" + std::to_string(n), cat({key, nonce, c.encrypt(plain, 1)}));
  }

  // ---- verification inputs: WAVs, texts, a receipt
  put("fuzz_verify_sniff", "wav_pcm16", cat({one(0), wav(1, 1, 16, 200)}));
  put("fuzz_verify_sniff", "wav_pcm8_stereo", cat({one(0), wav(1, 2, 8, 100)}));
  put("fuzz_verify_sniff", "wav_float32", cat({one(0), wav(3, 1, 32, 100)}));
  put("fuzz_verify_sniff", "text_en", cat({one(1), bytes_of("The quick brown fox jumps over the lazy dog. 12 34")}));
  put("fuzz_verify_sniff", "text_mixed", cat({one(1), bytes_of("Привет мир, こんにちは 世界, مرحبا\t\x01")}));
  {
    verify::Receipt rc;
    rc.task_id = "task-1";
    rc.item_id = "item-1";
    rc.status = "accepted";
    rc.scores_micro = {{"quality", 912345}};
    rc.sign(crypto::SigningKey::from_seed(Bytes(32, 4)));
    put("fuzz_verify_sniff", "receipt", cat({one(2), rc.encode()}));
    put("fuzz_codec_decode", "receipt", rc.encode());
  }
  {
    // What open_dataset parses after open_sealed (scripts/fuzz_py.py dataset).
    Bytes v;
    codec::Writer cw(v);
    cw.array_header(5);
    cw.str("tagger/dataset/v1");
    cw.bin(Bytes(16, 1));
    cw.array_header(3); cw.str("item_id"); cw.str("data"); cw.str("label");
    cw.array_header(2);
    for (int i = 0; i < 2; ++i) { cw.array_header(3); cw.str("i" + std::to_string(i)); cw.str("some text"); cw.str(i ? "pos" : "neg"); }
    cw.array_header(2);
    cw.str(std::string(64, 'a')); cw.str(std::string(64, '0'));
    put("py_dataset", "two_rows", v);
  }
  put("fuzz_verify_copies", "edited", std::string_view("\x0a" "whenwillmynewcardarrive\n" "howlongdoesatransfertake\n"
                                                       "whenwillmynewcartarrive"));
  put("fuzz_verify_copies", "wrapped", std::string_view("\x8a" "iorderedanewcardtwoweeksago\n" "anothertextofthirtyletters\n"
                                                        "hiiorderedanewcardtwoweeksagothanks"));
  put("fuzz_verify_copies", "cut", std::string_view("\x05" "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82mirkakdela\n"
                                                    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82mirkak"));
  put("fuzz_tokenizer", "en", std::string_view("Label the sentiment of this product review: great value, fast delivery!"));
  put("fuzz_tokenizer", "multi", std::string_view("naïve café — 東京 Ελληνικά emoji 😀 and <unk> \xe2\x80\x8b"));
  put("fuzz_tokenizer", "invalid", std::string_view("bad \xff\xfe bytes \xc3 end"));
  std::cout << "seeds written under " << out_root << "\n";
  return 0;
}
