#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "ledger/hashing.h"
#include "ledger/log_format.h"
#include "tagger/errors.h"

namespace tagger::ledger::log {
namespace {
[[noreturn]] void io_fail(const std::string& what, const std::string& path) {
  throw LedgerError(what + " '" + path + "': " + std::strerror(errno));
}
void write_all(int fd, const std::uint8_t* p, std::size_t n, std::uint64_t off, const std::string& path) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(off));
    if (w < 0) {
      if (errno == EINTR) continue;
      io_fail("write", path);
    }
    p += w;
    n -= static_cast<std::size_t>(w);
    off += static_cast<std::uint64_t>(w);
  }
}
}  // namespace

Bytes frame(ByteView payload) {
  if (payload.size() > kMaxRecordBytes) throw LedgerError("record of " + std::to_string(payload.size()) + " bytes is too large");
  Bytes out(kHeaderBytes + payload.size());
  detail::put_le32(out.data(), static_cast<std::uint32_t>(payload.size()));
  detail::put_le32(out.data() + 4, detail::crc_mask(detail::crc32c(payload)));
  detail::put_le32(out.data() + 8, detail::crc_mask(detail::crc32c(ByteView(out.data(), 8))));
  std::copy(payload.begin(), payload.end(), out.begin() + kHeaderBytes);
  return out;
}

Writer Writer::memory() {
  Writer w;
  w.buffer_.assign(kMagic, kMagic + kMagicBytes);
  w.size_ = kMagicBytes;
  return w;
}

Writer Writer::file(const std::string& path, std::uint64_t valid_end, bool create, bool read_only) {
  Writer w;
  w.path_ = path;
  w.read_only_ = read_only;
  int flags = read_only ? O_RDONLY : O_RDWR | (create ? O_CREAT | O_EXCL : 0);
  w.fd_ = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  if (w.fd_ < 0) io_fail("cannot open the block log", path);
  if (read_only) {
    w.size_ = valid_end;
  } else if (create) {
    write_all(w.fd_, reinterpret_cast<const std::uint8_t*>(kMagic), kMagicBytes, 0, path);
    w.size_ = kMagicBytes;
    w.sync();
  } else {
    struct stat st;
    if (::fstat(w.fd_, &st) != 0) io_fail("stat", path);
    if (static_cast<std::uint64_t>(st.st_size) != valid_end) {
      if (::ftruncate(w.fd_, static_cast<off_t>(valid_end)) != 0) io_fail("cannot cut the torn tail of", path);
      w.size_ = valid_end;
      w.sync();
    }
    w.size_ = valid_end;
  }
  return w;
}

Writer::Writer(Writer&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), size_(o.size_), buffer_(std::move(o.buffer_)), path_(std::move(o.path_)),
      read_only_(o.read_only_) {}
Writer& Writer::operator=(Writer&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    size_ = o.size_;
    buffer_ = std::move(o.buffer_);
    path_ = std::move(o.path_);
    read_only_ = o.read_only_;
  }
  return *this;
}
Writer::~Writer() {
  if (fd_ >= 0) ::close(fd_);
}

std::uint64_t Writer::append(ByteView payload) {
  if (read_only_) throw LedgerError("the block log is open read-only");
  Bytes rec = frame(payload);
  std::uint64_t off = size_;
  if (fd_ < 0) {
    buffer_.insert(buffer_.end(), rec.begin(), rec.end());
  } else {
    try {
      write_all(fd_, rec.data(), rec.size(), off, path_);
    } catch (...) {
      // Leave no partial record behind a failed append (disk full...).
      if (::ftruncate(fd_, static_cast<off_t>(off)) != 0) { /* the torn tail is cut on the next open */ }
      throw;
    }
  }
  size_ += rec.size();
  return off;
}

void Writer::sync() {
  if (fd_ >= 0 && ::fdatasync(fd_) != 0) io_fail("fsync", path_);
}

}  // namespace tagger::ledger::log
