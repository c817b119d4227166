// A blocks.log as found on disk: the input is written to a fresh directory
// (under /dev/shm when it exists: no disk I/O per run) and opened read-only,
// which frames it, decodes every block, re-checks the hash chain and
// signatures and replays the transactions. CorruptLedger (any typed error)
// is the expected answer to damage.
#include <fcntl.h>
#include <unistd.h>

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

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tagger;
  static const std::string dir = make_dir();
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
