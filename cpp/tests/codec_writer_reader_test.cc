#include <gtest/gtest.h>
#include <msgpack.hpp>

#include <random>

#include "tagger/codec.h"
#include "tagger/errors.h"

using namespace tagger;
using namespace tagger::codec;

namespace {

Bytes enc(const Value& v) { return encode(v); }

Value sample_record() {
  return Value(Array{Value(std::uint64_t{7}), Value(std::int64_t{-40000}), Value(std::string("transfer")),
                     Value(Bytes(32, 0xab)), Value(true), Value(Nil{}),
                     Value(Array{Value(std::uint64_t{1} << 40), Value(std::string())})});
}

}  // namespace

TEST(CodecTest, IntegersUseTheirSmallestForm) {
  EXPECT_EQ(enc(Value(std::uint64_t{127})), (Bytes{0x7f}));
  EXPECT_EQ(enc(Value(std::uint64_t{128})), (Bytes{0xcc, 0x80}));
  EXPECT_EQ(enc(Value(std::uint64_t{256})), (Bytes{0xcd, 0x01, 0x00}));
  EXPECT_EQ(enc(Value(std::uint64_t{65536})), (Bytes{0xce, 0, 1, 0, 0}));
  EXPECT_EQ(enc(Value(std::int64_t{-1})), (Bytes{0xff}));
  EXPECT_EQ(enc(Value(std::int64_t{-33})), (Bytes{0xd0, 0xdf}));
  EXPECT_EQ(enc(Value(std::int64_t{5})), (Bytes{0x05}));  // non-negative ints are uints
}

TEST(CodecTest, RoundTripIsExact) {
  Value v = sample_record();
  Bytes b = enc(v);
  EXPECT_EQ(decode(b), v);
  EXPECT_EQ(enc(decode(b)), b);
}

TEST(CodecTest, MsgpackCReadsWhatWeWrite) {
  // An independent implementation agrees on the meaning of our bytes.
  Bytes b = enc(sample_record());
  msgpack::object_handle oh = msgpack::unpack(reinterpret_cast<const char*>(b.data()), b.size());
  const msgpack::object& o = oh.get();
  ASSERT_EQ(o.type, msgpack::type::ARRAY);
  ASSERT_EQ(o.via.array.size, 7u);
  EXPECT_EQ(o.via.array.ptr[0].as<std::uint64_t>(), 7u);
  EXPECT_EQ(o.via.array.ptr[1].as<std::int64_t>(), -40000);
  EXPECT_EQ(o.via.array.ptr[2].as<std::string>(), "transfer");
  EXPECT_EQ(o.via.array.ptr[3].type, msgpack::type::BIN);
  EXPECT_EQ(o.via.array.ptr[6].via.array.ptr[0].as<std::uint64_t>(), std::uint64_t{1} << 40);
}

TEST(CodecTest, MsgpackCNonCanonicalFormsAreRejected) {
  // msgpack-c writes uint 5 as a fixint; a uint16-encoded 5 is the same number in
  // a second form, which must not decode.
  EXPECT_THROW(decode(Bytes{0xcd, 0x00, 0x05}), DecodeError);
  EXPECT_THROW(decode(Bytes{0xd0, 0x05}), DecodeError);          // positive in a signed form
  EXPECT_THROW(decode(Bytes{0xd9, 0x01, 'a'}), DecodeError);     // str8 for a short string
  EXPECT_THROW(decode(Bytes{0xdc, 0x00, 0x01, 0x01}), DecodeError);  // array16 for one item
  EXPECT_THROW(decode(Bytes{0xc5, 0x00, 0x01, 0x00}), DecodeError);  // bin16 for one byte
}

TEST(CodecTest, ForbiddenTypesAreRejected) {
  EXPECT_THROW(decode(Bytes{0x80}), DecodeError);                      // map
  EXPECT_THROW(decode(Bytes{0xca, 0, 0, 0, 0}), DecodeError);          // float32
  EXPECT_THROW(decode(Bytes{0xd4, 0x01, 0x00}), DecodeError);          // fixext1
  EXPECT_THROW(decode(Bytes{0xc1}), DecodeError);                      // never used
  EXPECT_THROW(decode(Bytes{0xa2, 0xc3, 0x28}), DecodeError);          // invalid UTF-8
}

TEST(CodecTest, TrailingBytesTruncationAndLimits) {
  EXPECT_THROW(decode(Bytes{0x01, 0x02}), DecodeError);
  EXPECT_THROW(decode(Bytes{0x92, 0x01}), DecodeError);
  EXPECT_THROW(decode(Bytes{0xc4, 0x05, 1, 2}), DecodeError);
  Limits tight;
  tight.max_length = 4;
  EXPECT_THROW(decode(Bytes{0xc4, 0x05, 1, 2, 3, 4, 5}, tight), DecodeError);
  Bytes deep(40, 0x91);
  deep.push_back(0x00);
  EXPECT_THROW(decode(deep), DecodeError);
  // An array header claiming more items than bytes left fails before allocating.
  EXPECT_THROW(decode(Bytes{0xdd, 0xff, 0xff, 0xff, 0xff}), DecodeError);
}

TEST(CodecTest, ErrorNamesOffsetAndReason) {
  try {
    decode(Bytes{0x92, 0x01, 0xca, 0, 0, 0, 0});
    FAIL();
  } catch (const DecodeError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("offset 2"), std::string::npos) << msg;
    EXPECT_NE(msg.find("float"), std::string::npos) << msg;
  }
}

TEST(CodecTest, ReaderRecordApi) {
  Bytes b;
  Writer w(b);
  w.array_header(3);
  w.uint(42);
  w.bin(Bytes(32, 1));
  w.str("ok");
  Reader r(b);
  r.expect_array(3);
  EXPECT_EQ(r.uint(), 42u);
  EXPECT_EQ(r.bin_exact(32).size(), 32u);
  EXPECT_EQ(r.str(), "ok");
  r.finish();
  Reader wrong(b);
  EXPECT_THROW(wrong.expect_array(4), DecodeError);
}

TEST(CodecTest, RandomBytesEitherFailOrReencodeIdentically) {
  std::mt19937_64 rng(12345);
  int decoded = 0;
  for (int i = 0; i < 200000; ++i) {
    Bytes b(1 + rng() % 12);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    try {
      Value v = decode(b);
      ++decoded;
      ASSERT_EQ(encode(v), b);
    } catch (const DecodeError&) {
    }
  }
  EXPECT_GT(decoded, 1000);
}
