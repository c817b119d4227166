// Every committed fuzz input (cpp/fuzz/corpus/<target>/*: the seeds and any
// input that once crashed a target) through its target, in the normal and the
// sanitizer builds, so a fixed finding stays fixed without clang or libFuzzer.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#define TAGGER_FUZZ_TARGETS(X) \
  X(fuzz_codec_decode) X(fuzz_tx_submit) X(fuzz_block_log) X(fuzz_snapshot) X(fuzz_keystore) \
  X(fuzz_sealed_open) X(fuzz_chaotic_decrypt) X(fuzz_verify_sniff) X(fuzz_tokenizer)

#define TAGGER_DECLARE_FUZZ(name) extern "C" int name##_one(const std::uint8_t* data, std::size_t size);
TAGGER_FUZZ_TARGETS(TAGGER_DECLARE_FUZZ)

namespace {
namespace fs = std::filesystem;

std::size_t replay(const std::string& target, int (*one)(const std::uint8_t*, std::size_t)) {
  fs::path dir = fs::path(TAGGER_SOURCE_DIR) / "cpp" / "fuzz" / "corpus" / target;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& p : files) {
    SCOPED_TRACE(p.string());
    std::ifstream f(p, std::ios::binary);
    std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(f)), {});
    EXPECT_EQ(one(bytes.data(), bytes.size()), 0);  // a crash or a stray exception ends the test instead
  }
  return files.size();
}
}  // namespace

#define TAGGER_REPLAY_TEST(name) \
  TEST(FuzzCorpusReplay, name) { EXPECT_GT(replay(#name, name##_one), 0u); }
TAGGER_FUZZ_TARGETS(TAGGER_REPLAY_TEST)
