#include "tagger/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>

#include "tagger/crypto.h"
#include "tagger/errors.h"

namespace tagger::store {
namespace fs = std::filesystem;

namespace {

void require_sealed(ByteView head) {
  try {
    crypto::parse_sealed_header(head);
  } catch (const DecodeError& e) {
    throw InvalidArgument(std::string("BlobStore only stores sealed items: ") + e.what());
  }
}

[[noreturn]] void io_fail(const std::string& what, const fs::path& p) {
  throw InvalidArgument(what + " '" + p.string() + "': " + std::strerror(errno));
}

// RAII file descriptor.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

void write_all(int fd, const std::uint8_t* p, std::size_t n, const fs::path& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      io_fail("write failed for", path);
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

void fsync_dir(const fs::path& dir) {
  Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY));
  if (d.fd < 0 || ::fsync(d.fd) != 0) io_fail("fsync of folder failed for", dir);
}

Bytes read_all(const fs::path& p) {
  Fd f(::open(p.c_str(), O_RDONLY));
  if (f.fd < 0) io_fail("cannot open blob", p);
  struct stat st;
  if (::fstat(f.fd, &st) != 0) io_fail("cannot stat blob", p);
  Bytes out(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < out.size()) {
    ssize_t r = ::read(f.fd, out.data() + got, out.size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) io_fail("read failed for", p);
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  out.resize(got);
  return out;
}

}  // namespace

struct BlobStore::Impl {
  bool memory = false;
  std::string root;
  fs::path blobs, tmp;
  mutable std::mutex mu;  // guards `mem` (the disk store relies on atomic renames)
  std::map<Hash32, Bytes> mem;

  fs::path path_for(const Hash32& h) const {
    std::string hex = to_hex(h);
    return blobs / hex.substr(0, 2) / hex;
  }

  // temp file in <root>/tmp, fsync, rename into the shard, fsync the shard.
  template <class Writer>
  void commit(const Hash32& h, Writer&& write) {
    fs::path final_path = path_for(h);
    if (fs::exists(final_path)) return;  // content-addressed: same name, same bytes
    fs::path shard = final_path.parent_path();
    std::error_code ec;
    if (fs::create_directory(shard, ec)) fsync_dir(blobs);
    if (ec) throw InvalidArgument("cannot create folder '" + shard.string() + "': " + ec.message());
    fs::path t = tmp / (to_hex(h) + "." + to_hex(crypto::random_bytes(6)) + ".tmp");
    try {
      {
        Fd f(::open(t.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
        if (f.fd < 0) io_fail("cannot create", t);
        write(f.fd, t);
        if (::fsync(f.fd) != 0) io_fail("fsync failed for", t);
      }
      fs::rename(t, final_path);
    } catch (...) {
      fs::remove(t, ec);
      throw;
    }
    fsync_dir(shard);
  }
};

BlobStore::BlobStore(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

BlobStore BlobStore::open(const std::string& root) {
  auto impl = std::make_shared<Impl>();
  impl->root = root;
  impl->blobs = fs::path(root) / "blobs";
  impl->tmp = fs::path(root) / "tmp";
  std::error_code ec;
  fs::create_directories(impl->blobs, ec);
  if (!ec) fs::create_directories(impl->tmp, ec);
  if (ec) throw InvalidArgument("cannot create blob store at '" + root + "': " + ec.message());
  // Temp files left by a crash are never blobs: remove them. Only old ones: the
  // folder may be shared with another process writing right now (a reader's
  // network opening the store of a live market), whose fresh temp file must
  // survive until its rename. A crash's leftovers go at a later open.
  auto cutoff = fs::file_time_type::clock::now() - std::chrono::minutes(10);
  for (auto& e : fs::directory_iterator(impl->tmp)) {
    auto t = fs::last_write_time(e.path(), ec);
    if (!ec && t < cutoff) fs::remove(e.path(), ec);
  }
  return BlobStore(std::move(impl));
}

BlobStore BlobStore::memory() {
  auto impl = std::make_shared<Impl>();
  impl->memory = true;
  return BlobStore(std::move(impl));
}

Hash32 BlobStore::put(ByteView sealed) {
  require_sealed(sealed);
  Hash32 h = crypto::sha256(sealed);
  if (impl_->memory) {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->mem.try_emplace(h, sealed.begin(), sealed.end());
    return h;
  }
  impl_->commit(h, [&](int fd, const fs::path& p) { write_all(fd, sealed.data(), sealed.size(), p); });
  return h;
}

Hash32 BlobStore::put_file(const std::string& sealed_path) {
  if (impl_->memory) {
    Bytes all = read_all(sealed_path);
    return put(all);
  }
  // Pass 1 hashes (and checks the header); pass 2 copies while hashing again,
  // so a file that changes in between is refused rather than misnamed.
  auto hash_file = [&](auto&& sink) {
    Fd f(::open(sealed_path.c_str(), O_RDONLY));
    if (f.fd < 0) io_fail("cannot open", sealed_path);
    crypto::Sha256 sh;
    Bytes buf(1 << 20);
    bool first = true;
    for (;;) {
      ssize_t r = ::read(f.fd, buf.data(), buf.size());
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) io_fail("read failed for", sealed_path);
      if (r == 0) break;
      ByteView part(buf.data(), static_cast<std::size_t>(r));
      if (first) require_sealed(part), first = false;
      sh.update(part);
      sink(part);
    }
    if (first) require_sealed({});
    return sh.finish();
  };
  Hash32 h = hash_file([](ByteView) {});
  impl_->commit(h, [&](int fd, const fs::path& p) {
    Hash32 again = hash_file([&](ByteView part) { write_all(fd, part.data(), part.size(), p); });
    if (again != h) throw InvalidArgument("'" + sealed_path + "' changed while being stored");
  });
  return h;
}

std::optional<Bytes> BlobStore::get(const Hash32& hash) const {
  Bytes b;
  if (impl_->memory) {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto it = impl_->mem.find(hash);
    if (it == impl_->mem.end()) return std::nullopt;
    b = it->second;
  } else {
    fs::path p = impl_->path_for(hash);
    if (!fs::exists(p)) return std::nullopt;
    b = read_all(p);
  }
  Hash32 got = crypto::sha256(b);
  if (got != hash)
    throw DecodeError("blob " + to_hex(hash) + " is corrupt: its bytes hash to " + to_hex(got));
  return b;
}

bool BlobStore::contains(const Hash32& hash) const {
  if (impl_->memory) {
    std::lock_guard<std::mutex> lock(impl_->mu);
    return impl_->mem.count(hash) != 0;
  }
  return fs::exists(impl_->path_for(hash));
}

bool BlobStore::remove(const Hash32& hash) {
  if (impl_->memory) {
    std::lock_guard<std::mutex> lock(impl_->mu);
    return impl_->mem.erase(hash) != 0;
  }
  fs::path p = impl_->path_for(hash);
  std::error_code ec;
  bool removed = fs::remove(p, ec);
  if (ec) throw InvalidArgument("cannot remove '" + p.string() + "': " + ec.message());
  if (removed) fsync_dir(p.parent_path());
  return removed;
}

std::vector<Hash32> BlobStore::list() const {
  std::vector<Hash32> out;
  if (impl_->memory) {
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (auto& [h, _] : impl_->mem) out.push_back(h);
    return out;
  }
  for (auto& shard : fs::directory_iterator(impl_->blobs)) {
    if (!shard.is_directory()) continue;
    for (auto& e : fs::directory_iterator(shard.path())) {
      std::string name = e.path().filename().string();
      if (name.size() != 64) continue;
      Bytes raw;
      try {
        raw = from_hex(name);
      } catch (const InvalidArgument&) {
        continue;
      }
      Hash32 h;
      std::copy(raw.begin(), raw.end(), h.begin());
      out.push_back(h);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::size_t BlobStore::size() const {
  if (impl_->memory) {
    std::lock_guard<std::mutex> lock(impl_->mu);
    return impl_->mem.size();
  }
  return list().size();
}

bool BlobStore::in_memory() const { return impl_->memory; }
const std::string& BlobStore::root() const { return impl_->root; }

std::string BlobStore::path_of(const Hash32& hash) const {
  if (impl_->memory) throw InvalidArgument("an in-memory BlobStore has no paths");
  return impl_->path_for(hash).string();
}

}  // namespace tagger::store
