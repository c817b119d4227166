// The Ledger: pending pool + state + block log + snapshots + lock.
#include "tagger/ledger.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>

#include "ledger/block.h"
#include "ledger/contracts/contracts.h"
#include "tagger/settle.h"
#include "ledger/hashing.h"
#include "ledger/log_format.h"
#include "ledger/state.h"
#include "ledger/tx.h"
#include "tagger/errors.h"
#include "util/parallel.h"

namespace tagger::ledger {
namespace fs = std::filesystem;

namespace {

constexpr const char* kLogName = "blocks.log";
constexpr const char* kLockName = "LOCK";
constexpr char kSnapMagic[8] = {'T', 'G', 'S', 'N', 'A', 'P', '0', '1'};

std::uint64_t now_ms() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch()).count());
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Re-raises a tagger error as the same kind with `prefix` in front of its message.
[[noreturn]] void rethrow_prefixed(const Error& e, const std::string& prefix) {
  std::string msg = prefix + e.what();
  std::string_view k = e.kind();
#define TAGGER_RETHROW(Name, Base) \
  if (k == #Name) throw Name(msg);
  TAGGER_ERROR_KINDS(TAGGER_RETHROW)
#undef TAGGER_RETHROW
  throw Error(msg);
}

[[noreturn]] void io_fail(const std::string& what, const std::string& path) {
  throw LedgerError(what + " '" + path + "': " + std::strerror(errno));
}

// A read-only view of a whole file (mmap), or of a memory buffer.
class Image {
 public:
  Image(int fd, std::uint64_t size) : size_(size) {
    if (size_ == 0) return;
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) throw LedgerError(std::string("mmap of the block log failed: ") + std::strerror(errno));
    data_ = static_cast<const std::uint8_t*>(p);
    ::madvise(p, size_, MADV_SEQUENTIAL);
  }
  explicit Image(ByteView mem) : data_(mem.data()), size_(mem.size()), mapped_(false) {}
  ~Image() {
    if (mapped_ && data_ != nullptr) ::munmap(const_cast<std::uint8_t*>(data_), size_);
  }
  Image(const Image&) = delete;
  Image& operator=(const Image&) = delete;
  ByteView view() const { return {data_, static_cast<std::size_t>(size_)}; }

 private:
  const std::uint8_t* data_ = nullptr;
  std::uint64_t size_ = 0;
  bool mapped_ = true;
};

void fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

void write_file_atomic(const std::string& path, ByteView data) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) io_fail("cannot write", tmp);
  const std::uint8_t* p = data.data();
  std::size_t n = data.size();
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      io_fail("cannot write", tmp);
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  if (::fsync(fd) != 0) { ::close(fd); io_fail("fsync", tmp); }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) io_fail("rename", tmp);
  fsync_dir(fs::path(path).parent_path().string());
}

struct DecodedTx {
  TxView view;
  Hash32 id{};
  Hash32 leaf{};
};

}  // namespace

struct Ledger::Impl {
  std::string dir;
  LedgerOptions options;
  Genesis genesis;
  Address issuer{};
  log::Writer writer = log::Writer::memory();
  std::vector<std::pair<std::uint64_t, std::uint32_t>> blocks;  // (payload offset, length) per height
  BlockHeader last;
  State state{0, Address{}, 0};
  std::optional<crypto::SigningKey> producer;
  std::vector<Bytes> pending_txs;
  std::vector<Hash32> pending_leaves;
  int lock_fd = -1;
  int log_lock_fd = -1;
  OpenReport report;
  // Guards everything above that changes after construction (state, pending,
  // blocks, last, writer's size and buffer, producer). Queries take it shared;
  // submit/commit/discard/apply_block/snapshot/set_producer exclusive. Nothing
  // that holds it ever waits for the Python GIL, so the bindings may release
  // the GIL around any call without risking a lock-order deadlock.
  mutable std::shared_mutex mu;

  ~Impl() {
    if (log_lock_fd >= 0) ::close(log_lock_fd);
    if (lock_fd >= 0) ::close(lock_fd);  // releases the flock
  }

  std::string log_path() const { return (fs::path(dir) / kLogName).string(); }

  void take_lock() {
    std::string path = (fs::path(dir) / kLockName).string();
    lock_fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd < 0) io_fail("cannot open the lock file", path);
    if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
      char buf[32] = {0};
      ssize_t n = ::pread(lock_fd, buf, sizeof buf - 1, 0);
      ::close(lock_fd);
      lock_fd = -1;
      throw LedgerLocked("ledger '" + dir + "' is open for writing by another process" +
                         (n > 0 ? " (pid " + std::string(buf, static_cast<std::size_t>(n)) + ")" : std::string()));
    }
    std::string pid = std::to_string(::getpid());
    if (::ftruncate(lock_fd, 0) == 0 && ::pwrite(lock_fd, pid.data(), pid.size(), 0) < 0) { /* informational only */ }
  }

  // LOCK alone is not enough: anyone may delete it, and the next writer then
  // locks a fresh inode while the first still appends. The log is never
  // deleted by a writer, so its own inode carries the real lock (flock is per
  // open file description: a second open in this process conflicts too). The
  // path is re-checked after locking so that a log renamed over ours while we
  // opened it is not mistaken for the one we hold.
  void take_log_lock() {
    std::string path = log_path();
    log_lock_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (log_lock_fd < 0) io_fail("cannot open", path);
    if (::flock(log_lock_fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(log_lock_fd);
      log_lock_fd = -1;
      throw LedgerLocked("ledger '" + dir + "' is open for writing by another writer (its block log is locked" +
                         std::string(fs::exists(fs::path(dir) / kLockName) ? ")" : "; its LOCK file was deleted)"));
    }
    struct stat a, b;
    if (::fstat(log_lock_fd, &a) != 0 || ::stat(path.c_str(), &b) != 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
      ::close(log_lock_fd);
      log_lock_fd = -1;
      throw LedgerLocked("ledger '" + dir + "': the block log was replaced while it was being opened");
    }
  }

  ByteView log_view_memory() const { return ByteView(writer.buffer()); }

  // Calls fn(height, index, block, tx) for every transaction committed when the
  // scan starts, oldest first. On disk the scan runs on a copy of the block
  // index, without the lock; in memory the buffer may move on append, so the
  // shared lock is held throughout.
  template <class Fn>
  void scan_committed(Fn&& fn) const {
    std::shared_lock lk(mu);
    std::vector<std::pair<std::uint64_t, std::uint32_t>> index = blocks;
    if (!writer.in_memory()) lk.unlock();
    for (std::uint64_t h = 1; h < index.size(); ++h) {
      Bytes rec = read_record(index, h);
      BlockView b = decode_block_view(rec, h);
      for (std::size_t i = 0; i < b.txs.size(); ++i) fn(h, i, b, decode_tx(b.txs[i]));
    }
  }

  Bytes read_record(std::uint64_t height) const { return read_record(blocks, height); }
  // `index` may be a copy of `blocks` taken under the lock: on disk the
  // records it names never move, so they can be read without the lock.
  Bytes read_record(const std::vector<std::pair<std::uint64_t, std::uint32_t>>& index, std::uint64_t height) const {
    if (height >= index.size())
      throw InvalidArgument("no block at height " + std::to_string(height) + " (height is " + std::to_string(index.size() - 1) + ")");
    auto [off, len] = index[height];
    Bytes out(len);
    if (writer.in_memory()) {
      std::copy_n(writer.buffer().begin() + static_cast<std::ptrdiff_t>(off), len, out.begin());
    } else {
      std::size_t done = 0;
      while (done < len) {
        ssize_t r = ::pread(writer.fd(), out.data() + done, len - done, static_cast<off_t>(off + done));
        if (r <= 0) {
          if (r < 0 && errno == EINTR) continue;
          throw LedgerError("cannot read block " + std::to_string(height) + " from the log");
        }
        done += static_cast<std::size_t>(r);
      }
    }
    return out;
  }

  void write_genesis(const GenesisConfig& cfg, const crypto::SigningKey& iss, const crypto::SigningKey& prod) {
    if (cfg.fee_bps > kMaxBps) throw InvalidArgument("fee_bps must be at most 10000");
    genesis.chain_id = cfg.chain_id;
    while (genesis.chain_id == 0) crypto::random_bytes(reinterpret_cast<std::uint8_t*>(&genesis.chain_id), 8);
    genesis.name = cfg.name;
    genesis.issuer = iss.verify_key().raw();
    genesis.producer = prod.verify_key().raw();
    genesis.fee_bps = cfg.fee_bps;
    genesis.timestamp_ms = cfg.timestamp_ms ? cfg.timestamp_ms : now_ms();
    init_from_genesis();
    producer = prod;
    Bytes rec = encode_genesis(genesis);
    BlockHeader h;
    h.chain_id = genesis.chain_id;
    h.height = 0;
    h.tx_root = merkle_root({merkle_leaf_hash(rec)});
    h.state_root = state.root();
    h.timestamp_ms = genesis.timestamp_ms;
    h.n_tx = 1;
    append_block(h, {ByteView(rec)});
  }

  void init_from_genesis() {
    issuer = address_of(genesis.issuer);
    state = State(genesis.chain_id, issuer, genesis.fee_bps);
  }

  // Signs, encodes, appends and syncs one block; updates the index.
  void append_block(BlockHeader h, const std::vector<ByteView>& txs) {
    if (!producer) throw NotAuthorized("this ledger has no producer key: it cannot seal blocks");
    Bytes hb = encode_header(h);
    h.hash = block_hash(hb);
    h.signature = producer->sign(h.hash);
    Bytes rec = encode_block(hb, h.signature, txs);
    std::uint64_t off = writer.append(rec);
    if (options.sync) writer.sync();
    blocks.emplace_back(off + log::kHeaderBytes, static_cast<std::uint32_t>(rec.size()));
    last = h;
  }

  DecodedTx decode_checked(ByteView rec) const {
    DecodedTx d{decode_tx(rec), {}, {}};
    check_stateless(d.view, genesis.chain_id);
    d.id = body_id(d.view.body);
    d.leaf = merkle_leaf_hash(rec);
    return d;
  }

  void add_pending(ByteView rec, const Hash32& leaf) {
    pending_txs.emplace_back(rec.begin(), rec.end());
    pending_leaves.push_back(leaf);
  }

  // The part of a batch that needs no state (decode, stateless rules,
  // signatures): run without the lock so that other threads' queries and
  // submits are not held up by the signature checks.
  std::vector<DecodedTx> prepare_batch(const std::vector<ByteView>& txs, unsigned threads) const {
    std::size_t n = txs.size();
    std::vector<std::optional<DecodedTx>> dec(n);
    std::vector<std::exception_ptr> errs(n);
    util::parallel_for(n, threads, 64, [&](std::size_t b, std::size_t e) {
      for (std::size_t i = b; i < e; ++i) {
        try {
          dec[i] = decode_checked(txs[i]);
        } catch (...) {
          errs[i] = std::current_exception();
        }
      }
    });
    for (std::size_t i = 0; i < n; ++i)
      if (errs[i]) {
        try {
          std::rethrow_exception(errs[i]);
        } catch (const Error& e) {
          rethrow_prefixed(e, "transaction " + std::to_string(i) + " of the batch: ");
        }
      }
    std::vector<ByteView> msgs(n), sigs(n), keys(n);
    for (std::size_t i = 0; i < n; ++i) {
      msgs[i] = dec[i]->id;
      sigs[i] = dec[i]->view.signature;
      keys[i] = dec[i]->view.sender_key;
    }
    std::vector<std::uint8_t> ok = crypto::verify_batch(msgs, sigs, keys, threads);
    for (std::size_t i = 0; i < n; ++i)
      if (!ok[i]) throw InvalidSignature("transaction " + std::to_string(i) + " of the batch: signature does not verify");
    std::vector<DecodedTx> out;
    out.reserve(n);
    for (auto& d : dec) out.push_back(std::move(*d));
    return out;
  }

  // Caller holds `mu` exclusively.
  std::vector<Hash32> apply_batch(const std::vector<ByteView>& txs, const std::vector<DecodedTx>& dec) {
    std::size_t n = txs.size();
    State::Savepoint sp = state.savepoint();
    std::size_t pending_before = pending_txs.size();
    std::vector<Hash32> ids(n);
    ApplyContext ctx{last.height + 1, {}};
    pending_txs.reserve(pending_before + n);
    pending_leaves.reserve(pending_before + n);
    for (std::size_t i = 0; i < n; ++i) {
      ctx.txid = dec[i].id;
      try {
        state.apply(dec[i].view, ctx);
      } catch (const Error& e) {
        state.rollback(sp);
        pending_txs.resize(pending_before);
        pending_leaves.resize(pending_before);
        rethrow_prefixed(e, "transaction " + std::to_string(i) + " of the batch: ");
      }
      add_pending(txs[i], dec[i].leaf);
      ids[i] = dec[i].id;
    }
    return ids;
  }

  BlockHeader commit(std::uint64_t ts) {
    if (pending_txs.empty()) return last;
    BlockHeader h;
    h.chain_id = genesis.chain_id;
    h.height = last.height + 1;
    h.prev_hash = last.hash;
    h.tx_root = merkle_root(pending_leaves);
    h.state_root = state.root();
    h.timestamp_ms = std::max(ts ? ts : now_ms(), last.timestamp_ms);
    h.n_tx = pending_txs.size();
    std::vector<ByteView> views(pending_txs.begin(), pending_txs.end());
    append_block(h, views);
    pending_txs.clear();
    pending_leaves.clear();
    state.clear_journal();
    if (!writer.in_memory() && options.snapshot_every > 0 && h.height % options.snapshot_every == 0) write_snapshot();
    return last;
  }

  BlockHeader commit_locked(std::uint64_t ts) {
    BlockHeader h = commit(ts);
    committed_minted = state.minted;
    return h;
  }

  void discard() {
    State::Savepoint zero;  // journal sizes 0: back to the last commit
    zero.minted = minted_at_commit();
    state.rollback(zero);
    pending_txs.clear();
    pending_leaves.clear();
  }
  // The minted counter is not journaled per table; recover it from the journal start.
  std::uint64_t committed_minted = 0;
  std::uint64_t minted_at_commit() const { return committed_minted; }

  // ---- snapshots ----
  std::string snapshot_path(std::uint64_t height) const {
    char name[64];
    std::snprintf(name, sizeof name, "snapshot-%020llu.snap", static_cast<unsigned long long>(height));
    return (fs::path(dir) / name).string();
  }

  void write_snapshot() {
    Bytes body;
    codec::Writer w(body);
    w.array_header(4);
    w.uint(last.height);
    w.bin(last.hash);
    w.bin(last.state_root);
    Bytes st = state.encode_snapshot();
    w.bin(st);
    Bytes file(kSnapMagic, kSnapMagic + 8);
    file.insert(file.end(), body.begin(), body.end());
    Hash32 check = detail::sha256_parts({file});
    file.insert(file.end(), check.begin(), check.end());
    write_file_atomic(snapshot_path(last.height), file);
    // Keep the newest two.
    auto snaps = list_snapshots();
    for (std::size_t i = 2; i < snaps.size(); ++i) ::unlink(snapshot_path(snaps[i]).c_str());
  }

  std::vector<std::uint64_t> list_snapshots() const {  // newest first
    std::vector<std::uint64_t> out;
    std::error_code ec;
    for (auto& e : fs::directory_iterator(dir, ec)) {
      std::string n = e.path().filename().string();
      if (n.size() == 34 && n.rfind("snapshot-", 0) == 0 && n.substr(29) == ".snap") {
        try { out.push_back(std::stoull(n.substr(9, 20))); } catch (...) {}
      }
    }
    std::sort(out.rbegin(), out.rend());
    return out;
  }

  // A snapshot is used only if its checksum holds, it names a block of this
  // log by hash, and the state it holds hashes to that block's state root.
  std::optional<State> load_snapshot(std::uint64_t height, const BlockHeader& at, std::string& note) {
    std::string path = snapshot_path(height);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) { note = "cannot open " + path; return std::nullopt; }
    struct stat st;
    ::fstat(fd, &st);
    std::optional<State> out;
    try {
      Image img(fd, static_cast<std::uint64_t>(st.st_size));
      ::close(fd);
      fd = -1;
      ByteView v = img.view();
      if (v.size() < 40 || std::memcmp(v.data(), kSnapMagic, 8) != 0) { note = path + ": bad magic"; return std::nullopt; }
      Hash32 check = detail::sha256_parts({v.subspan(0, v.size() - 32)});
      if (!std::equal(check.begin(), check.end(), v.end() - 32)) { note = path + ": checksum mismatch"; return std::nullopt; }
      codec::Limits lim;
      lim.max_length = SIZE_MAX;  // the checksum above already vouches for the bytes
      codec::Reader r(v.subspan(8, v.size() - 40), lim);
      r.expect_array(4);
      if (r.uint() != height) { note = path + ": height mismatch"; return std::nullopt; }
      auto hash = r.bin_exact(32);
      auto root = r.bin_exact(32);
      ByteView body = r.bin();
      if (!std::equal(hash.begin(), hash.end(), at.hash.begin())) { note = path + ": not a block of this log"; return std::nullopt; }
      if (!std::equal(root.begin(), root.end(), at.state_root.begin())) { note = path + ": state root differs from the block's"; return std::nullopt; }
      State s = State::decode_snapshot(body, genesis.chain_id, issuer, genesis.fee_bps);
      if (s.root() != at.state_root) { note = path + ": its state does not hash to the block's state root"; return std::nullopt; }
      out.emplace(std::move(s));
    } catch (const Error& e) {
      if (fd >= 0) ::close(fd);
      note = path + ": " + e.what();
      return std::nullopt;
    }
    return out;
  }

  // ---- open / replay ----
  // Checks the whole chain (framing was checked by log::parse): heights,
  // previous-hash links, timestamps, Merkle roots; applies the transactions of
  // every block above `apply_after` without re-checking their signatures (the
  // hash chain ends in the last header, whose producer signature is checked;
  // verify() re-checks every signature); then checks that the state hashes to
  // the last block's state root.
  void walk(ByteView image, const log::Parsed& parsed, std::uint64_t apply_after) {
    auto record = [&](std::size_t i) { return image.subspan(parsed.frames[i].payload, parsed.frames[i].length); };
    std::size_t nblocks = parsed.frames.size();
    BlockView g = decode_block_view(record(0), 0);
    blocks.clear();
    blocks.reserve(nblocks);
    blocks.emplace_back(parsed.frames[0].payload, parsed.frames[0].length);
    BlockHeader prev = g.header;
    std::uint64_t ntx = 0;
    std::vector<Hash32> leaves;
    state.set_tracking(false);
    for (std::size_t h = 1; h < nblocks; ++h) {
      BlockView b = decode_block_view(record(h), h);
      const BlockHeader& bh = b.header;
      auto fail = [&](const std::string& why) { throw CorruptLedger("block " + std::to_string(h) + ": " + why); };
      if (bh.version != kBlockVersion) fail("unknown version");
      if (bh.chain_id != genesis.chain_id) fail("belongs to another chain");
      if (bh.height != h) fail("height field is " + std::to_string(bh.height));
      if (bh.prev_hash != prev.hash) fail("previous-hash link broken");
      if (bh.timestamp_ms < prev.timestamp_ms) fail("timestamp goes backwards");
      leaves.resize(b.txs.size());
      for (std::size_t i = 0; i < b.txs.size(); ++i) leaves[i] = merkle_leaf_hash(b.txs[i]);
      if (merkle_root(leaves) != bh.tx_root) fail("Merkle root of its transactions does not match the header");
      if (h > apply_after) {
        ApplyContext ctx{h, {}};
        for (std::size_t i = 0; i < b.txs.size(); ++i) {
          try {
            TxView tx = decode_tx(b.txs[i]);
            check_stateless(tx, genesis.chain_id);
            ctx.txid = body_id(tx.body);
            state.apply(tx, ctx);
          } catch (const Error& e) {
            fail("transaction " + std::to_string(i) + " does not apply: " + e.what());
          }
        }
        state.clear_journal();
      }
      ntx += b.txs.size();
      blocks.emplace_back(parsed.frames[h].payload, parsed.frames[h].length);
      prev = bh;
    }
    last = prev;
    report.blocks = nblocks;
    report.transactions = ntx;
    if (!crypto::VerifyKey(genesis.producer).is_valid(last.hash, last.signature))
      throw CorruptLedger("block " + std::to_string(last.height) + ": producer signature does not verify");
    state.set_tracking(true);
    if (state.root() != last.state_root)
      throw CorruptLedger("block " + std::to_string(last.height) +
                          ": the replayed state does not match the block's state root (verify() finds the first bad block)");
    committed_minted = state.minted;
  }

  void load(ByteView image) {
    auto t0 = std::chrono::steady_clock::now();
    log::Parsed parsed = log::parse(image);
    if (parsed.frames.empty()) throw CorruptLedger("the block log has no genesis block");
    report.torn_bytes = parsed.torn_bytes;
    auto record = [&](std::size_t i) { return image.subspan(parsed.frames[i].payload, parsed.frames[i].length); };
    BlockView g = decode_block_view(record(0), 0);
    if (g.txs.size() != 1) throw CorruptLedger("block 0 (genesis) must hold exactly the genesis record");
    genesis = decode_genesis(g.txs[0]);
    init_from_genesis();
    const BlockHeader& gh = g.header;
    if (gh.version != kBlockVersion || gh.height != 0 || gh.chain_id != genesis.chain_id || gh.prev_hash != Hash32{} ||
        gh.tx_root != merkle_root({merkle_leaf_hash(g.txs[0])}))
      throw CorruptLedger("block 0 (genesis): header does not match its record");
    if (!crypto::VerifyKey(genesis.producer).is_valid(gh.hash, gh.signature))
      throw CorruptLedger("block 0 (genesis): producer signature does not verify");
    if (gh.state_root != state.root()) throw CorruptLedger("block 0 (genesis): state root is not that of the empty state");
    std::uint64_t top = parsed.frames.size() - 1;
    report.snapshot_height = -1;
    report.replayed_from = 1;
    for (std::uint64_t sh : list_snapshots()) {
      if (sh > top && options.read_only) {
        // A reader maps the log while a writer appends: a snapshot written
        // after the mapping is newer than the prefix read, not a sign of cut
        // blocks (a writer's own open still treats it as one).
        report.snapshot_note += "snapshot " + std::to_string(sh) + " is above the prefix read (block " + std::to_string(top) + "); ";
        continue;
      }
      if (sh > top)
        throw CorruptLedger("the block log ends at block " + std::to_string(top) + " but a snapshot exists for block " +
                            std::to_string(sh) + ": blocks were cut from the log");
      if (sh == 0) continue;
      std::string note;
      BlockView at = decode_block_view(record(sh), sh);
      std::optional<State> s = load_snapshot(sh, at.header, note);
      if (!s) {
        report.snapshot_note += note + "; ";
        continue;
      }
      state = std::move(*s);
      report.snapshot_height = static_cast<std::int64_t>(sh);
      report.replayed_from = sh + 1;
      break;
    }
    walk(image, parsed, report.snapshot_height < 0 ? 0 : static_cast<std::uint64_t>(report.snapshot_height));
    report.seconds = seconds_since(t0);
  }

  VerifyReport verify(unsigned threads) const;
};

VerifyReport Ledger::Impl::verify(unsigned threads) const {
  auto t0 = std::chrono::steady_clock::now();
  VerifyReport rep;
  // The committed prefix is captured under the lock and checked without it:
  // the log is append-only, so bytes below the captured size never change
  // while commits go on (a failed append only cuts back to its own start).
  std::uint64_t size = 0;
  std::size_t nblocks = 0;
  Bytes mem_copy;
  {
    std::shared_lock lk(mu);
    size = writer.size();
    nblocks = blocks.size();
    if (writer.in_memory()) mem_copy.assign(writer.buffer().begin(), writer.buffer().begin() + static_cast<std::ptrdiff_t>(size));
  }
  std::optional<Image> img;
  if (writer.in_memory()) {
    img.emplace(ByteView(mem_copy));
  } else {
    img.emplace(writer.fd(), size);
  }
  ByteView image = img->view();
  log::Parsed parsed = log::parse(image);
  if (parsed.torn_bytes != 0) throw CorruptLedger("the block log has a torn tail after block " + std::to_string(parsed.frames.size() - 1));
  if (parsed.frames.size() != nblocks)
    throw CorruptLedger("the block log holds " + std::to_string(parsed.frames.size()) + " blocks, the ledger " + std::to_string(nblocks));
  auto record = [&](std::size_t i) { return image.subspan(parsed.frames[i].payload, parsed.frames[i].length); };
  BlockView g = decode_block_view(record(0), 0);
  Genesis gen = decode_genesis(g.txs.at(0));
  crypto::VerifyKey producer_key(gen.producer);
  if (!producer_key.is_valid(g.header.hash, g.header.signature)) throw CorruptLedger("block 0: producer signature does not verify");
  State st(gen.chain_id, address_of(gen.issuer), gen.fee_bps);
  if (st.root() != g.header.state_root) throw CorruptLedger("block 0: state root is not that of the empty state");
  BlockHeader prev = g.header;
  rep.signatures = 1;
  const std::size_t n = parsed.frames.size();
  std::size_t h = 1;
  while (h < n) {
    // A chunk of blocks whose signatures are checked in one batch.
    std::vector<BlockView> chunk;
    std::size_t ntx = 0;
    while (h < n && (chunk.empty() || ntx < 4096)) {
      chunk.push_back(decode_block_view(record(h), h));
      ntx += chunk.back().txs.size();
      ++h;
    }
    std::vector<std::vector<DecodedTx>> dec(chunk.size());
    std::vector<std::pair<std::size_t, std::size_t>> flat;
    for (std::size_t c = 0; c < chunk.size(); ++c)
      for (std::size_t i = 0; i < chunk[c].txs.size(); ++i) flat.emplace_back(c, i);
    for (std::size_t c = 0; c < chunk.size(); ++c) dec[c].resize(chunk[c].txs.size(), DecodedTx{TxView{}, {}, {}});
    std::vector<std::string> errs(flat.size());
    util::parallel_for(flat.size(), threads, 64, [&](std::size_t b, std::size_t e) {
      for (std::size_t k = b; k < e; ++k) {
        auto [c, i] = flat[k];
        try {
          dec[c][i] = decode_checked(chunk[c].txs[i]);
        } catch (const Error& ex) {
          errs[k] = ex.what();
        }
      }
    });
    std::vector<ByteView> msgs, sigs, keys;
    for (std::size_t k = 0; k < flat.size(); ++k) {
      auto [c, i] = flat[k];
      if (!errs[k].empty())
        throw CorruptLedger("block " + std::to_string(chunk[c].header.height) + ": transaction " + std::to_string(i) + ": " + errs[k]);
      msgs.push_back(dec[c][i].id);
      sigs.push_back(dec[c][i].view.signature);
      keys.push_back(dec[c][i].view.sender_key);
    }
    for (auto& b : chunk) {
      msgs.push_back(b.header.hash);
      sigs.push_back(b.header.signature);
      keys.push_back(gen.producer);
    }
    std::vector<std::uint8_t> ok = crypto::verify_batch(msgs, sigs, keys, threads);
    rep.signatures += ok.size();
    for (std::size_t k = 0; k < ok.size(); ++k) {
      if (ok[k]) continue;
      if (k < flat.size())
        throw CorruptLedger("block " + std::to_string(chunk[flat[k].first].header.height) + ": transaction " +
                            std::to_string(flat[k].second) + ": signature does not verify");
      throw CorruptLedger("block " + std::to_string(chunk[k - flat.size()].header.height) + ": producer signature does not verify");
    }
    for (std::size_t c = 0; c < chunk.size(); ++c) {
      const BlockHeader& bh = chunk[c].header;
      std::uint64_t hh = bh.height;
      auto fail = [&](const std::string& why) { throw CorruptLedger("block " + std::to_string(hh) + ": " + why); };
      if (bh.version != kBlockVersion || bh.chain_id != gen.chain_id) fail("wrong version or chain");
      if (hh != prev.height + 1) fail("height out of sequence");
      if (bh.prev_hash != prev.hash) fail("previous-hash link broken");
      if (bh.timestamp_ms < prev.timestamp_ms) fail("timestamp goes backwards");
      std::vector<Hash32> leaves;
      for (auto& d : dec[c]) leaves.push_back(d.leaf);
      if (merkle_root(leaves) != bh.tx_root) fail("Merkle root mismatch");
      for (std::size_t i = 0; i < dec[c].size(); ++i) {
        try {
          st.apply(dec[c][i].view, ApplyContext{hh, dec[c][i].id});
        } catch (const Error& e) {
          fail("transaction " + std::to_string(i) + " does not apply: " + e.what());
        }
      }
      st.clear_journal();
      if (st.root() != bh.state_root) fail("state root mismatch");
      rep.transactions += dec[c].size();
      prev = bh;
    }
  }
  Supply s = st.supply();
  std::uint64_t held = add_checked(add_checked(s.balances, s.escrowed, "supply"), s.staked, "supply");
  if (held != s.minted)
    throw CorruptLedger("supply invariant broken: minted " + std::to_string(s.minted) + ", held " + std::to_string(held));
  rep.blocks = n;
  rep.state_root = prev.state_root;
  rep.seconds = seconds_since(t0);
  return rep;
}

// ---------------------------------------------------------------- Ledger

Ledger::Ledger(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Ledger::~Ledger() = default;

std::unique_ptr<Ledger> Ledger::create(const std::string& dir, const GenesisConfig& config,
                                       const crypto::SigningKey& issuer, const crypto::SigningKey& producer,
                                       const LedgerOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->options = options;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw LedgerError("cannot create '" + dir + "': " + ec.message());
  impl->take_lock();
  if (fs::exists(impl->log_path())) throw LedgerError("'" + dir + "' already holds a ledger; open it instead");
  impl->writer = log::Writer::file(impl->log_path(), 0, true, false);
  impl->take_log_lock();
  fsync_dir(dir);
  impl->write_genesis(config, issuer, producer);
  return std::unique_ptr<Ledger>(new Ledger(std::move(impl)));
}

std::unique_ptr<Ledger> Ledger::memory(const GenesisConfig& config, const crypto::SigningKey& issuer,
                                       const crypto::SigningKey& producer) {
  auto impl = std::make_unique<Impl>();
  impl->dir = ":memory:";
  impl->options.snapshot_every = 0;
  impl->writer = log::Writer::memory();
  impl->write_genesis(config, issuer, producer);
  return std::unique_ptr<Ledger>(new Ledger(std::move(impl)));
}

std::unique_ptr<Ledger> Ledger::open(const std::string& dir, const LedgerOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->options = options;
  std::string path = impl->log_path();
  if (!fs::exists(path)) throw LedgerError("no ledger in '" + dir + "' (no " + kLogName + ")");
  if (!options.read_only) {
    impl->take_lock();
    impl->take_log_lock();
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) io_fail("cannot open", path);
  struct stat st;
  if (::fstat(fd, &st) != 0) { ::close(fd); io_fail("stat", path); }
  std::uint64_t valid_end = 0;
  {
    Image img(fd, static_cast<std::uint64_t>(st.st_size));
    ::close(fd);
    impl->load(img.view());
    valid_end = static_cast<std::uint64_t>(st.st_size) - impl->report.torn_bytes;
  }
  impl->writer = log::Writer::file(path, valid_end, false, options.read_only);
  return std::unique_ptr<Ledger>(new Ledger(std::move(impl)));
}

void Ledger::set_producer(const crypto::SigningKey& producer) {
  std::unique_lock lk(impl_->mu);
  if (producer.verify_key().raw() != impl_->genesis.producer)
    throw NotAuthorized("this key is not the ledger's block producer");
  impl_->producer = producer;
}

std::uint64_t Ledger::chain_id() const { return impl_->genesis.chain_id; }
std::uint64_t Ledger::height() const {
  std::shared_lock lk(impl_->mu);
  return impl_->last.height;
}
std::uint32_t Ledger::fee_bps() const { return impl_->genesis.fee_bps; }
Address Ledger::issuer() const { return impl_->issuer; }
crypto::PublicKey Ledger::producer() const { return impl_->genesis.producer; }
std::string Ledger::name() const { return impl_->genesis.name; }
bool Ledger::in_memory() const { return impl_->writer.in_memory(); }
const std::string& Ledger::dir() const { return impl_->dir; }
OpenReport Ledger::open_report() const { return impl_->report; }

Hash32 Ledger::submit(ByteView tx) {
  if (impl_->options.read_only) throw LedgerError("the ledger is open read-only");
  // Decoding and the signature need no state: checked before taking the lock.
  DecodedTx d = impl_->decode_checked(tx);
  crypto::VerifyKey(d.view.sender_key).verify(d.id, d.view.signature);
  std::unique_lock lk(impl_->mu);
  impl_->state.apply(d.view, ApplyContext{impl_->last.height + 1, d.id});
  impl_->add_pending(tx, d.leaf);
  return d.id;
}

std::vector<Hash32> Ledger::submit_batch(const std::vector<ByteView>& txs, unsigned threads) {
  if (impl_->options.read_only) throw LedgerError("the ledger is open read-only");
  std::vector<DecodedTx> dec = impl_->prepare_batch(txs, threads);
  std::unique_lock lk(impl_->mu);
  return impl_->apply_batch(txs, dec);
}

std::size_t Ledger::pending() const {
  std::shared_lock lk(impl_->mu);
  return impl_->pending_txs.size();
}
void Ledger::discard_pending() {
  std::unique_lock lk(impl_->mu);
  impl_->discard();
}
BlockHeader Ledger::commit(std::uint64_t ts) {
  if (impl_->options.read_only) throw LedgerError("the ledger is open read-only");
  std::unique_lock lk(impl_->mu);
  return impl_->commit_locked(ts);
}
BlockHeader Ledger::apply_block(const std::vector<ByteView>& txs, unsigned threads) {
  if (impl_->options.read_only) throw LedgerError("the ledger is open read-only");
  std::vector<DecodedTx> dec = impl_->prepare_batch(txs, threads);
  std::unique_lock lk(impl_->mu);
  if (!impl_->pending_txs.empty()) throw LedgerError("apply_block: commit or discard the pending transactions first");
  try {
    impl_->apply_batch(txs, dec);
  } catch (...) {
    impl_->discard();
    throw;
  }
  return impl_->commit_locked(0);
}
void Ledger::snapshot() {
  if (impl_->writer.in_memory()) return;
  std::unique_lock lk(impl_->mu);
  if (!impl_->pending_txs.empty()) throw LedgerError("snapshot: commit the pending transactions first");
  impl_->write_snapshot();
}

std::optional<AccountInfo> Ledger::account(const Address& a) const {
  std::shared_lock lk(impl_->mu);
  const AccountInfo* p = impl_->state.accounts.find(a);
  if (!p) return std::nullopt;
  AccountInfo out = *p;
  out.address = a;
  return out;
}
std::uint64_t Ledger::balance(const Address& a) const {
  std::shared_lock lk(impl_->mu);
  const AccountInfo* p = impl_->state.accounts.find(a);
  return p ? p->balance : 0;
}
std::uint64_t Ledger::next_nonce(const Address& a) const {
  std::shared_lock lk(impl_->mu);
  const AccountInfo* p = impl_->state.accounts.find(a);
  return p ? p->nonce : 0;
}
std::optional<TaskInfo> Ledger::task(const Id& id) const {
  std::shared_lock lk(impl_->mu);
  const TaskInfo* p = impl_->state.tasks.find(id);
  return p ? std::optional<TaskInfo>(*p) : std::nullopt;
}
std::optional<StakeInfo> Ledger::stake(const Address& staker, const std::optional<Id>& task) const {
  std::shared_lock lk(impl_->mu);
  const StakeInfo* p = impl_->state.stakes.find(key52(task, staker));
  return p ? std::optional<StakeInfo>(*p) : std::nullopt;
}
std::optional<NftInfo> Ledger::nft(const Id& id) const {
  std::shared_lock lk(impl_->mu);
  const NftInfo* p = impl_->state.nfts.find(id);
  return p ? std::optional<NftInfo>(*p) : std::nullopt;
}
std::optional<ListingInfo> Ledger::listing(const Id& id) const {
  std::shared_lock lk(impl_->mu);
  const ListingInfo* p = impl_->state.listings.find(id);
  return p ? std::optional<ListingInfo>(*p) : std::nullopt;
}
std::vector<ListingInfo> Ledger::listings() const {
  std::shared_lock lk(impl_->mu);
  std::vector<ListingInfo> out;
  for (auto& [k, v] : impl_->state.listings.all()) out.push_back(v);
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.id < b.id; });
  return out;
}
std::optional<LicenseInfo> Ledger::license(const Id& nft, const Address& holder) const {
  std::shared_lock lk(impl_->mu);
  const LicenseInfo* p = impl_->state.licenses.find(key52(nft, holder));
  return p ? std::optional<LicenseInfo>(*p) : std::nullopt;
}
std::vector<LicenseInfo> Ledger::licenses_of(const Address& holder) const {
  std::shared_lock lk(impl_->mu);
  std::vector<LicenseInfo> out;
  for (auto& [k, v] : impl_->state.licenses.all())
    if (v.holder == holder) out.push_back(v);
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.nft < b.nft; });
  return out;
}
std::optional<Bytes> Ledger::key_grant(const Id& nft, const Address& holder) const {
  std::shared_lock lk(impl_->mu);
  const Bytes* p = impl_->state.grants.find(key52(nft, holder));
  return p ? std::optional<Bytes>(*p) : std::nullopt;
}
std::uint64_t Ledger::contributions(const Id& task, const Address& worker) const {
  std::shared_lock lk(impl_->mu);
  const std::uint64_t* p = impl_->state.contributions.find(key52(task, worker));
  return p ? *p : 0;
}
std::optional<TaskTerms> Ledger::terms(const Id& task) const {
  std::shared_lock lk(impl_->mu);
  const TaskTerms* p = impl_->state.terms.find(task);
  return p ? std::optional<TaskTerms>(*p) : std::nullopt;
}
SettleOutput Ledger::settlement(const Id& task, const Hash32& gold_salt,
                                const std::vector<std::pair<std::uint64_t, std::uint64_t>>& gold, bool partial) const {
  std::shared_lock lk(impl_->mu);
  const TaskInfo* t = impl_->state.tasks.find(task);
  const TaskTerms* terms = impl_->state.terms.find(task);
  if (t == nullptr || terms == nullptr) throw InvalidArgument("no published task " + contracts::short_hex(task));
  return contracts::settle_task(impl_->state, task, *terms, gold_salt, gold, partial, t->escrow);
}
std::vector<std::uint32_t> Ledger::item_extra(const Id& task) const {
  std::shared_lock lk(impl_->mu);
  const ItemCounts* c = impl_->state.item_counts.find(task);
  if (c == nullptr) return {};
  return std::vector<std::uint32_t>(c->extra.begin(), c->extra.end());
}
std::vector<std::pair<Address, std::vector<std::uint32_t>>> Ledger::assignments(const Id& task) const {
  std::shared_lock lk(impl_->mu);
  std::vector<std::pair<Address, std::vector<std::uint32_t>>> out;
  for (const auto& [k, v] : impl_->state.assigned.all()) {
    if (!std::equal(task.begin(), task.end(), k.begin()) || v.items.empty()) continue;
    Address a;
    std::copy(k.begin() + 32, k.end(), a.begin());
    out.emplace_back(a, v.items);
  }
  std::sort(out.begin(), out.end());
  return out;
}
std::vector<AccountInfo> Ledger::accounts() const {
  std::shared_lock lk(impl_->mu);
  std::vector<AccountInfo> out;
  for (auto& [k, v] : impl_->state.accounts.all()) {
    out.push_back(v);
    out.back().address = k;
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.address < b.address; });
  return out;
}
Supply Ledger::supply() const {
  std::shared_lock lk(impl_->mu);
  return impl_->state.supply();
}
Hash32 Ledger::state_root() const {
  // root() re-hashes dirty buckets and caches them: a write, hence exclusive.
  std::unique_lock lk(impl_->mu);
  return impl_->state.root();
}
Hash32 Ledger::state_root_reference() const {
  std::shared_lock lk(impl_->mu);
  return impl_->state.root_reference();
}

BlockHeader Ledger::header(std::uint64_t height) const {
  std::shared_lock lk(impl_->mu);
  if (height == impl_->last.height) return impl_->last;
  Bytes rec = impl_->read_record(height);
  return decode_block_view(rec, height).header;
}
Bytes Ledger::block_record(std::uint64_t height) const {
  std::shared_lock lk(impl_->mu);
  return impl_->read_record(height);
}
std::vector<Bytes> Ledger::block_txs(std::uint64_t height) const {
  std::shared_lock lk(impl_->mu);
  Bytes rec = impl_->read_record(height);
  BlockView b = decode_block_view(rec, height);
  std::vector<Bytes> out;
  for (auto t : b.txs) out.emplace_back(t.begin(), t.end());
  return out;
}

std::vector<std::optional<Funding>> Ledger::first_fundings(const std::vector<Address>& accounts) const {
  std::unordered_map<Address, std::vector<std::size_t>, KeyHash> wanted;
  for (std::size_t k = 0; k < accounts.size(); ++k) wanted[accounts[k]].push_back(k);
  std::vector<std::optional<Funding>> out(accounts.size());
  impl_->scan_committed([&](std::uint64_t h, std::size_t, const BlockView&, const TxView& tx) {
    if (tx.kind != TxKind::Transfer || wanted.empty()) return;
    auto it = wanted.find(std::get<TransferP>(tx.payload).to);
    if (it == wanted.end()) return;
    for (std::size_t k : it->second) out[k] = Funding{tx.sender, h};
    wanted.erase(it);
  });
  return out;
}

std::vector<HistoryRow> Ledger::history(const Address& a) const {
  std::vector<HistoryRow> out;
  // A purchase names only its listing: it concerns `a` when `a` listed it, or when
  // `a` is a royalty recipient of the listed NFT (recipients are fixed at mint).
  std::unordered_set<Id, KeyHash> my_listings, royalty_nfts, royalty_listings;
  impl_->scan_committed([&](std::uint64_t h, std::size_t i, const BlockView& b, const TxView& tx) {
      auto ps = parties(tx);
      bool mine = std::find(ps.begin(), ps.end(), a) != ps.end();
      Hash32 id = body_id(tx.body);
      if (tx.kind == TxKind::NftMint && mine) royalty_nfts.insert(id);
      if (tx.kind == TxKind::List && tx.sender == a) my_listings.insert(id);
      if (tx.kind == TxKind::List && royalty_nfts.count(std::get<ListP>(tx.payload).nft)) royalty_listings.insert(id);
      if (tx.kind == TxKind::Buy) {
        const Id& listing = std::get<BuyP>(tx.payload).listing;
        if (my_listings.count(listing) || royalty_listings.count(listing)) mine = true;
      }
      if (!mine) return;
      HistoryRow r;
      r.height = h;
      r.index = static_cast<std::uint32_t>(i);
      r.kind = tx.kind;
      r.txid = id;
      r.sender = tx.sender;
      r.timestamp_ms = b.header.timestamp_ms;
      r.tx.assign(b.txs[i].begin(), b.txs[i].end());
      out.push_back(std::move(r));
  });
  return out;
}

VerifyReport Ledger::verify(unsigned threads) const { return impl_->verify(threads); }

}  // namespace tagger::ledger
