// The block log's framing (docs/ledger.md, "Log file"). The log frames and
// checksums opaque records; what a record means (a block) lives elsewhere.
//
//   file   := magic(8) = "TGLEDGR1"  record*
//   record := length(4, LE) payload_crc(4, LE) header_crc(4, LE) payload(length)
//     payload_crc = mask(crc32c(payload))
//     header_crc  = mask(crc32c(length || payload_crc))
//
// A record cut short by a crash (fewer than 12 header bytes left, or a valid
// header whose payload runs past the end of the file, or an all-zero tail) is
// torn: recovery cuts the file back to the end of the last whole record. Any
// other mismatch is corruption.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tagger/bytes.h"

namespace tagger::ledger::log {

constexpr char kMagic[8] = {'T', 'G', 'L', 'E', 'D', 'G', 'R', '1'};
constexpr std::size_t kMagicBytes = 8;
constexpr std::size_t kHeaderBytes = 12;
constexpr std::uint32_t kMaxRecordBytes = 1u << 30;

// Appends framed records to a file (fsync on sync()) or to a memory buffer:
// the same bytes either way.
class Writer {
 public:
  static Writer memory();
  // Opens `path` for appending at `valid_end` (bytes after it are cut off,
  // unless read_only: then the file is only read and append() refuses).
  static Writer file(const std::string& path, std::uint64_t valid_end, bool create, bool read_only);
  Writer(Writer&&) noexcept;
  Writer& operator=(Writer&&) noexcept;
  ~Writer();

  std::uint64_t append(ByteView payload);  // returns the record's offset
  void sync();                             // fsync (no-op in memory)
  std::uint64_t size() const { return size_; }
  bool in_memory() const { return fd_ < 0; }
  const Bytes& buffer() const { return buffer_; }
  int fd() const { return fd_; }

 private:
  Writer() = default;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  Bytes buffer_;  // memory mode only
  std::string path_;
  bool read_only_ = false;
};

struct Frame {
  std::uint64_t offset = 0;   // of the record header
  std::uint64_t payload = 0;  // offset of the payload
  std::uint32_t length = 0;
};

struct Parsed {
  std::vector<Frame> frames;
  std::uint64_t valid_end = 0;   // end of the last whole record
  std::uint64_t torn_bytes = 0;  // bytes after it that were a torn record
};

// Frames every record of a whole log image. Throws CorruptLedger naming the
// record index (= block height) and byte offset for anything but a torn tail.
Parsed parse(ByteView image);

// Builds one framed record (header + payload).
Bytes frame(ByteView payload);

}  // namespace tagger::ledger::log
