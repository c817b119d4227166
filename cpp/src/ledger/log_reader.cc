#include <algorithm>
#include <cstring>

#include "ledger/hashing.h"
#include "ledger/log_format.h"
#include "tagger/errors.h"

namespace tagger::ledger::log {
namespace {
[[noreturn]] void corrupt(std::size_t index, std::uint64_t off, const std::string& why) {
  throw CorruptLedger("block log damaged at block " + std::to_string(index) + " (record at byte " +
                      std::to_string(off) + "): " + why);
}
bool all_zero(ByteView b) {
  return std::all_of(b.begin(), b.end(), [](std::uint8_t x) { return x == 0; });
}
}  // namespace

Parsed parse(ByteView image) {
  if (image.size() < kMagicBytes || std::memcmp(image.data(), kMagic, kMagicBytes) != 0)
    throw CorruptLedger("not a tagger block log (bad magic at byte 0)");
  Parsed out;
  std::uint64_t off = kMagicBytes;
  const std::uint64_t n = image.size();
  while (off < n) {
    std::size_t index = out.frames.size();
    ByteView rest = image.subspan(off);
    if (rest.size() < kHeaderBytes || all_zero(rest)) break;  // torn
    const std::uint8_t* h = image.data() + off;
    std::uint32_t length = detail::get_le32(h);
    std::uint32_t payload_crc = detail::get_le32(h + 4);
    std::uint32_t header_crc = detail::get_le32(h + 8);
    if (detail::crc_mask(detail::crc32c(ByteView(h, 8))) != header_crc) corrupt(index, off, "record header checksum mismatch");
    if (length > kMaxRecordBytes) corrupt(index, off, "record length out of range");
    if (rest.size() - kHeaderBytes < length) break;  // torn: the payload was not all written
    ByteView payload(h + kHeaderBytes, length);
    if (detail::crc_mask(detail::crc32c(payload)) != payload_crc) corrupt(index, off, "record payload checksum mismatch");
    out.frames.push_back({off, off + kHeaderBytes, length});
    off += kHeaderBytes + length;
  }
  out.valid_end = off;
  out.torn_bytes = n - off;
  return out;
}

}  // namespace tagger::ledger::log
