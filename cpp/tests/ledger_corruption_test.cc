// Corruption suite: damaged logs are refused with CorruptLedger naming the
// block; a torn tail is cut back and never mistaken for damage or vice versa.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "ledger_test_util.h"
#include "tagger/errors.h"

namespace tagger::ledger {
namespace {
namespace fs = std::filesystem;
using testing::World;

Bytes read_file(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), {});
}
void write_file(const std::string& p, const Bytes& b) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

class LedgerCorruption : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::temp_dir("corruption");
    auto led = Ledger::create(dir_, {}, w_.issuer, w_.producer, LedgerOptions{0, false, false});
    w_.populate(*led, 3, 1000);
    for (int b = 0; b < 6; ++b) {
      for (int i = 0; i < 4; ++i) led->submit(w_.transfer(*led, i % 3, (i + 1) % 3, 1, led->next_nonce(w_.addrs[i % 3])));
      led->commit();
    }
    height_ = led->height();
    good_ = read_file(log());
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string log() const { return dir_ + "/blocks.log"; }
  World w_;
  std::string dir_;
  std::uint64_t height_ = 0;
  Bytes good_;
};

TEST_F(LedgerCorruption, FlippedPayloadByteNamesTheBlock) {
  Bytes bad = good_;
  bad[bad.size() - 30] ^= 0x10;  // inside the last block
  write_file(log(), bad);
  try {
    Ledger::open(dir_);
    FAIL() << "damage was not detected";
  } catch (const CorruptLedger& e) {
    EXPECT_NE(std::string(e.what()).find("block " + std::to_string(height_)), std::string::npos) << e.what();
  }
}

TEST_F(LedgerCorruption, EveryByteFlipOfTheMagicAndFirstRecordIsDetected) {
  for (std::size_t pos = 0; pos < 200; ++pos) {
    Bytes bad = good_;
    bad[pos] ^= 0x01;
    write_file(log(), bad);
    EXPECT_THROW(Ledger::open(dir_, LedgerOptions{0, false, true}), CorruptLedger) << "byte " << pos;
  }
}

TEST_F(LedgerCorruption, TruncatedTrailingRecordIsCutBack) {
  for (std::size_t cut : {1, 5, 11, 12, 40}) {
    write_file(log(), Bytes(good_.begin(), good_.end() - static_cast<std::ptrdiff_t>(cut)));
    auto led = Ledger::open(dir_);
    EXPECT_EQ(led->height(), height_ - 1);
    EXPECT_GT(led->open_report().torn_bytes, 0u);
    led->verify(1);
  }
}

TEST_F(LedgerCorruption, ZeroFilledTailIsTorn) {
  Bytes padded = good_;
  padded.resize(good_.size() + 4096, 0);
  write_file(log(), padded);
  auto led = Ledger::open(dir_);
  EXPECT_EQ(led->height(), height_);
  EXPECT_EQ(led->open_report().torn_bytes, 4096u);
  led.reset();
  EXPECT_EQ(read_file(log()), good_);
}

TEST_F(LedgerCorruption, GarbageAfterTheLastRecordIsNotTorn) {
  Bytes bad = good_;
  for (int i = 0; i < 20; ++i) bad.push_back(static_cast<std::uint8_t>(0xA5 + i));
  write_file(log(), bad);
  EXPECT_THROW(Ledger::open(dir_), CorruptLedger);
}

}  // namespace
}  // namespace tagger::ledger
