// Canonical msgpack: the one byte form of every record that is hashed, signed
// or stored. Records are arrays in a fixed field order; there are no maps and
// no floats. Every value has exactly one encoding (integers, lengths and array
// headers in their smallest form), and the Reader rejects every other form, so
// encode(decode(x)) == x for every x that decodes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tagger/bytes.h"

namespace tagger::codec {

// Bounds enforced while decoding untrusted bytes.
struct Limits {
  std::size_t max_length = 64u << 20;  // bytes in one str or bin
  std::size_t max_items = 1u << 24;    // entries in one array
  int max_depth = 32;                  // nesting of arrays
};

// A decoded value. Non-negative integers are always UInt; Int holds only
// negative numbers, so each integer has one representation here too.
struct Value;
using Array = std::vector<Value>;
struct Nil {
  bool operator==(const Nil&) const = default;
};
struct Value {
  std::variant<Nil, bool, std::uint64_t, std::int64_t, std::string, Bytes, Array> v;

  Value() = default;
  Value(Nil) {}
  Value(bool b) : v(b) {}
  Value(std::uint64_t u) : v(u) {}
  Value(std::int64_t i);  // stored as UInt when i >= 0
  Value(std::string s) : v(std::move(s)) {}
  Value(Bytes b) : v(std::move(b)) {}
  Value(Array a) : v(std::move(a)) {}
  bool operator==(const Value&) const = default;
};

// Appends canonical msgpack to a byte buffer.
class Writer {
 public:
  explicit Writer(Bytes& out) : out_(out) {}
  void nil();
  void boolean(bool b);
  void uint(std::uint64_t u);
  void sint(std::int64_t i);  // non-negative values are written as uint
  void bin(ByteView b);
  void str(std::string_view s);  // throws InvalidArgument if not valid UTF-8
  void array_header(std::size_t n);
  void value(const Value& v);

 private:
  void put_be(std::uint64_t x, int nbytes);
  Bytes& out_;
};

Bytes encode(const Value& v);

// Reads canonical msgpack strictly; every violation throws DecodeError with the
// offset and what was expected. Views returned by bin()/str() point into the
// input, which must outlive them.
class Reader {
 public:
  Reader(ByteView data, Limits limits = {});
  enum class Type { Nil, Bool, UInt, Int, Str, Bin, Array };
  Type peek() const;
  void nil();
  bool boolean();
  std::uint64_t uint();
  std::int64_t sint();  // any integer that fits int64
  ByteView bin();
  ByteView bin_exact(std::size_t n);  // a bin of exactly n bytes
  std::string_view str();
  std::size_t array_header();
  void expect_array(std::size_t n);  // an array header of exactly n entries
  Value value();
  bool at_end() const { return pos_ == data_.size(); }
  void finish() const;  // throws if bytes remain
  std::size_t offset() const { return pos_; }
  const Limits& limits() const { return limits_; }

 private:
  [[noreturn]] void fail(const std::string& what) const;
  std::uint8_t next_byte();
  std::uint64_t take_be(int nbytes);
  ByteView take(std::size_t n);
  std::size_t length_of(std::uint8_t tag, std::uint8_t fix_base, std::uint8_t fix_max,
                        std::uint8_t tag8, std::uint8_t tag16, std::uint8_t tag32, const char* what);
  Value value_at_depth(int depth);

  ByteView data_;
  std::size_t pos_ = 0;
  Limits limits_;
};

// Decodes one complete value; trailing bytes are an error.
Value decode(ByteView data, Limits limits = {});

bool valid_utf8(std::string_view s) noexcept;

}  // namespace tagger::codec
