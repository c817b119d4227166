// A blocks.log as found on disk: the input is written to a fresh directory
// (under /dev/shm when it exists: no disk I/O per run) and opened read-only,
// which frames it, decodes every block, re-checks the hash chain and
// signatures and replays the transactions. CorruptLedger (any typed error)
// is the expected answer to damage.
//
// The first byte picks the form: even, the rest is the file as is; odd, the
// rest is records as length(4, LE) payload, framed here with correct CRCs.
// Without the second form nearly every mutation of a block dies at its CRC
// and the block decoder and the replay are never reached.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "fuzz_common.h"
#include "ledger/log_format.h"
#include "tagger/ledger.h"

namespace {
std::string make_dir() {
  std::string base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path().string();
  std::string d = base + "/tagger_fuzz_log_" + std::to_string(::getpid());
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}
}  // namespace

tagger::Bytes reframe(const std::uint8_t* p, std::size_t n) {
  namespace log = tagger::ledger::log;
  tagger::Bytes out(log::kMagic, log::kMagic + log::kMagicBytes);
  while (n >= 4) {
    std::uint32_t len = 0;
    std::memcpy(&len, p, 4);  // little endian, as on disk (x86-64, aarch64)
    p += 4;
    n -= 4;
    std::size_t take = std::min<std::size_t>(len, n);
    tagger::Bytes rec = log::frame(tagger::ByteView(p, take));
    out.insert(out.end(), rec.begin(), rec.end());
    p += take;
    n -= take;
  }
  return out;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tagger;
  static const std::string dir = make_dir();
  if (size < 1) return 0;
  Bytes framed;
  if (data[0] & 1) {
    framed = reframe(data + 1, size - 1);
    data = framed.data();
    size = framed.size();
  } else {
    data += 1;
    size -= 1;
  }
  // The framing alone, on the bytes in memory.
  try {
    auto parsed = ledger::log::parse(fuzz::view(data, size));
    TAGGER_FUZZ_CHECK(parsed.valid_end + parsed.torn_bytes <= size);
    for (const auto& f : parsed.frames) {
      TAGGER_FUZZ_CHECK(f.payload + f.length <= parsed.valid_end);
      try {
        ledger::decode_block(ByteView(data + f.payload, f.length));
      } catch (const Error&) {
      }
    }
  } catch (const Error&) {
  }
  std::string path = dir + "/blocks.log";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  TAGGER_FUZZ_CHECK(fd >= 0);
  TAGGER_FUZZ_CHECK(::write(fd, data, size) == static_cast<ssize_t>(size));
  ::close(fd);
  try {
    ledger::LedgerOptions o;
    o.read_only = true;
    auto l = ledger::Ledger::open(dir, o);
    l->verify(1);
  } catch (const Error&) {
  }
  return 0;
}
