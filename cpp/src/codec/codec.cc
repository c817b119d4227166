#include "tagger/codec.h"

#include "tagger/errors.h"

namespace tagger::codec {

Value::Value(std::int64_t i) {
  if (i >= 0) v = static_cast<std::uint64_t>(i);
  else v = i;
}

// ---------------------------------------------------------------- UTF-8

bool valid_utf8(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) { ++i; continue; }
    std::size_t len;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else return false;
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

// ---------------------------------------------------------------- Writer

void Writer::put_be(std::uint64_t x, int nbytes) {
  for (int k = nbytes - 1; k >= 0; --k) out_.push_back(static_cast<std::uint8_t>(x >> (8 * k)));
}

void Writer::nil() { out_.push_back(0xc0); }
void Writer::boolean(bool b) { out_.push_back(b ? 0xc3 : 0xc2); }

void Writer::uint(std::uint64_t u) {
  if (u < 0x80) out_.push_back(static_cast<std::uint8_t>(u));
  else if (u <= 0xff) { out_.push_back(0xcc); put_be(u, 1); }
  else if (u <= 0xffff) { out_.push_back(0xcd); put_be(u, 2); }
  else if (u <= 0xffffffffu) { out_.push_back(0xce); put_be(u, 4); }
  else { out_.push_back(0xcf); put_be(u, 8); }
}

void Writer::sint(std::int64_t i) {
  if (i >= 0) return uint(static_cast<std::uint64_t>(i));
  auto u = static_cast<std::uint64_t>(i);
  if (i >= -32) out_.push_back(static_cast<std::uint8_t>(i));
  else if (i >= -128) { out_.push_back(0xd0); put_be(u, 1); }
  else if (i >= -32768) { out_.push_back(0xd1); put_be(u, 2); }
  else if (i >= -2147483648LL) { out_.push_back(0xd2); put_be(u, 4); }
  else { out_.push_back(0xd3); put_be(u, 8); }
}

void Writer::bin(ByteView b) {
  std::size_t n = b.size();
  if (n <= 0xff) { out_.push_back(0xc4); put_be(n, 1); }
  else if (n <= 0xffff) { out_.push_back(0xc5); put_be(n, 2); }
  else if (n <= 0xffffffffu) { out_.push_back(0xc6); put_be(n, 4); }
  else throw InvalidArgument("bin of " + std::to_string(n) + " bytes exceeds the msgpack limit");
  out_.insert(out_.end(), b.begin(), b.end());
}

void Writer::str(std::string_view s) {
  if (!valid_utf8(s)) throw InvalidArgument("str is not valid UTF-8");
  std::size_t n = s.size();
  if (n < 32) out_.push_back(static_cast<std::uint8_t>(0xa0 | n));
  else if (n <= 0xff) { out_.push_back(0xd9); put_be(n, 1); }
  else if (n <= 0xffff) { out_.push_back(0xda); put_be(n, 2); }
  else if (n <= 0xffffffffu) { out_.push_back(0xdb); put_be(n, 4); }
  else throw InvalidArgument("str of " + std::to_string(n) + " bytes exceeds the msgpack limit");
  out_.insert(out_.end(), s.begin(), s.end());
}

void Writer::array_header(std::size_t n) {
  if (n < 16) out_.push_back(static_cast<std::uint8_t>(0x90 | n));
  else if (n <= 0xffff) { out_.push_back(0xdc); put_be(n, 2); }
  else if (n <= 0xffffffffu) { out_.push_back(0xdd); put_be(n, 4); }
  else throw InvalidArgument("array of " + std::to_string(n) + " items exceeds the msgpack limit");
}

void Writer::value(const Value& val) {
  struct Visit {
    Writer& w;
    void operator()(const Nil&) { w.nil(); }
    void operator()(bool b) { w.boolean(b); }
    void operator()(std::uint64_t u) { w.uint(u); }
    void operator()(std::int64_t i) { w.sint(i); }
    void operator()(const std::string& s) { w.str(s); }
    void operator()(const Bytes& b) { w.bin(b); }
    void operator()(const Array& a) {
      w.array_header(a.size());
      for (const auto& x : a) w.value(x);
    }
  };
  std::visit(Visit{*this}, val.v);
}

Bytes encode(const Value& v) {
  Bytes out;
  Writer(out).value(v);
  return out;
}

// ---------------------------------------------------------------- Reader

Reader::Reader(ByteView data, Limits limits) : data_(data), limits_(limits) {}

void Reader::fail(const std::string& what) const {
  throw DecodeError("msgpack at offset " + std::to_string(pos_) + ": " + what);
}

std::uint8_t Reader::next_byte() {
  if (pos_ >= data_.size()) fail("unexpected end of input");
  return data_[pos_++];
}

std::uint64_t Reader::take_be(int nbytes) {
  if (data_.size() - pos_ < static_cast<std::size_t>(nbytes)) fail("unexpected end of input");
  std::uint64_t x = 0;
  for (int k = 0; k < nbytes; ++k) x = (x << 8) | data_[pos_++];
  return x;
}

ByteView Reader::take(std::size_t n) {
  if (data_.size() - pos_ < n)
    fail("length " + std::to_string(n) + " runs past the end of input (" +
         std::to_string(data_.size() - pos_) + " bytes left)");
  ByteView v = data_.subspan(pos_, n);
  pos_ += n;
  return v;
}

static const char* type_name(std::uint8_t t) {
  if (t <= 0x7f || t == 0xcc || t == 0xcd || t == 0xce || t == 0xcf) return "uint";
  if (t >= 0xe0 || (t >= 0xd0 && t <= 0xd3)) return "int";
  if ((t >= 0xa0 && t <= 0xbf) || (t >= 0xd9 && t <= 0xdb)) return "str";
  if (t >= 0xc4 && t <= 0xc6) return "bin";
  if ((t >= 0x90 && t <= 0x9f) || t == 0xdc || t == 0xdd) return "array";
  if ((t >= 0x80 && t <= 0x8f) || t == 0xde || t == 0xdf) return "map (not allowed)";
  if (t == 0xca || t == 0xcb) return "float (not allowed)";
  if (t == 0xc0) return "nil";
  if (t == 0xc2 || t == 0xc3) return "bool";
  if (t == 0xc1) return "reserved byte 0xc1";
  return "ext (not allowed)";
}

Reader::Type Reader::peek() const {
  if (pos_ >= data_.size()) fail("unexpected end of input");
  std::uint8_t t = data_[pos_];
  std::string_view name = type_name(t);
  if (name == "uint") return Type::UInt;
  if (name == "int") return Type::Int;
  if (name == "str") return Type::Str;
  if (name == "bin") return Type::Bin;
  if (name == "array") return Type::Array;
  if (name == "nil") return Type::Nil;
  if (name == "bool") return Type::Bool;
  fail(std::string("type ") + std::string(name));
}

void Reader::nil() {
  std::uint8_t t = next_byte();
  if (t != 0xc0) { --pos_; fail(std::string("expected nil, found ") + type_name(t)); }
}

bool Reader::boolean() {
  std::uint8_t t = next_byte();
  if (t == 0xc2) return false;
  if (t == 0xc3) return true;
  --pos_;
  fail(std::string("expected bool, found ") + type_name(t));
}

std::uint64_t Reader::uint() {
  std::size_t start = pos_;
  std::uint8_t t = next_byte();
  std::uint64_t u;
  std::uint64_t min;
  switch (t) {
    case 0xcc: u = take_be(1); min = 0x80; break;
    case 0xcd: u = take_be(2); min = 0x100; break;
    case 0xce: u = take_be(4); min = 0x10000; break;
    case 0xcf: u = take_be(8); min = 0x100000000ull; break;
    default:
      if (t <= 0x7f) return t;
      pos_ = start;
      fail(std::string("expected uint, found ") + type_name(t));
  }
  if (u < min) { pos_ = start; fail("non-canonical uint " + std::to_string(u) + " (not in its smallest form)"); }
  return u;
}

std::int64_t Reader::sint() {
  std::size_t start = pos_;
  std::uint8_t t = data_.size() > pos_ ? data_[pos_] : 0;
  if (pos_ < data_.size() && std::string_view(type_name(t)) == "uint") {
    std::uint64_t u = uint();
    if (u > static_cast<std::uint64_t>(INT64_MAX)) { pos_ = start; fail("integer does not fit int64"); }
    return static_cast<std::int64_t>(u);
  }
  t = next_byte();
  std::int64_t i;
  std::int64_t max_for_form;  // a value above this has a smaller form
  switch (t) {
    case 0xd0: i = static_cast<std::int8_t>(take_be(1)); max_for_form = -33; break;
    case 0xd1: i = static_cast<std::int16_t>(take_be(2)); max_for_form = -129; break;
    case 0xd2: i = static_cast<std::int32_t>(take_be(4)); max_for_form = -32769; break;
    case 0xd3: i = static_cast<std::int64_t>(take_be(8)); max_for_form = -2147483649LL; break;
    default:
      if (t >= 0xe0) return static_cast<std::int8_t>(t);
      pos_ = start;
      fail(std::string("expected int, found ") + type_name(t));
  }
  if (i > max_for_form) {
    pos_ = start;
    fail("non-canonical int " + std::to_string(i) + " (non-negative or not in its smallest form)");
  }
  return i;
}

std::size_t Reader::length_of(std::uint8_t t, std::uint8_t fix_base, std::uint8_t fix_max,
                              std::uint8_t tag8, std::uint8_t tag16, std::uint8_t tag32,
                              const char* what) {
  std::size_t start = pos_ - 1;
  std::uint64_t n, min;
  if (t >= fix_base && t <= fix_max && fix_base != 0) return t - fix_base;
  if (t == tag8 && tag8 != 0) { n = take_be(1); min = fix_base ? (fix_max - fix_base + 1) : 0; }
  else if (t == tag16) { n = take_be(2); min = tag8 ? 0x100 : (fix_max - fix_base + 1); }
  else if (t == tag32) { n = take_be(4); min = 0x10000; }
  else { pos_ = start; fail(std::string("expected ") + what + ", found " + type_name(t)); }
  if (n < min) { pos_ = start; fail(std::string("non-canonical ") + what + " length " + std::to_string(n)); }
  return static_cast<std::size_t>(n);
}

ByteView Reader::bin() {
  std::size_t start = pos_;
  std::uint8_t t = next_byte();
  std::size_t n = length_of(t, 0, 0, 0xc4, 0xc5, 0xc6, "bin");
  if (n > limits_.max_length) {
    pos_ = start;
    fail("bin length " + std::to_string(n) + " exceeds the limit of " + std::to_string(limits_.max_length));
  }
  return take(n);
}

ByteView Reader::bin_exact(std::size_t n) {
  std::size_t start = pos_;
  ByteView b = bin();
  if (b.size() != n) {
    pos_ = start;
    fail("expected bin of " + std::to_string(n) + " bytes, found " + std::to_string(b.size()));
  }
  return b;
}

std::string_view Reader::str() {
  std::size_t start = pos_;
  std::uint8_t t = next_byte();
  std::size_t n = length_of(t, 0xa0, 0xbf, 0xd9, 0xda, 0xdb, "str");
  if (n > limits_.max_length) {
    pos_ = start;
    fail("str length " + std::to_string(n) + " exceeds the limit of " + std::to_string(limits_.max_length));
  }
  ByteView b = take(n);
  std::string_view s(reinterpret_cast<const char*>(b.data()), b.size());
  if (!valid_utf8(s)) { pos_ = start; fail("str is not valid UTF-8"); }
  return s;
}

std::size_t Reader::array_header() {
  std::size_t start = pos_;
  std::uint8_t t = next_byte();
  std::size_t n = length_of(t, 0x90, 0x9f, 0, 0xdc, 0xdd, "array");
  if (n > limits_.max_items) {
    pos_ = start;
    fail("array of " + std::to_string(n) + " items exceeds the limit of " + std::to_string(limits_.max_items));
  }
  // Every item takes at least one byte: a larger count can only be a lie.
  if (n > data_.size() - pos_) {
    std::size_t left = data_.size() - pos_;
    pos_ = start;
    fail("array of " + std::to_string(n) + " items cannot fit in the " + std::to_string(left) +
         " bytes left");
  }
  return n;
}

void Reader::expect_array(std::size_t n) {
  std::size_t start = pos_;
  std::size_t got = array_header();
  if (got != n) {
    pos_ = start;
    fail("wrong arity: expected an array of " + std::to_string(n) + " fields, found " + std::to_string(got));
  }
}

Value Reader::value_at_depth(int depth) {
  switch (peek()) {
    case Type::Nil: nil(); return Value(Nil{});
    case Type::Bool: return Value(boolean());
    case Type::UInt: return Value(uint());
    case Type::Int: return Value(sint());
    case Type::Str: return Value(std::string(str()));
    case Type::Bin: { ByteView b = bin(); return Value(Bytes(b.begin(), b.end())); }
    case Type::Array: {
      if (depth >= limits_.max_depth)
        fail("nesting deeper than the limit of " + std::to_string(limits_.max_depth));
      std::size_t n = array_header();
      Array a;
      a.reserve(n);
      for (std::size_t i = 0; i < n; ++i) a.push_back(value_at_depth(depth + 1));
      return Value(std::move(a));
    }
  }
  fail("unreachable");
}

Value Reader::value() { return value_at_depth(0); }

void Reader::finish() const {
  if (pos_ != data_.size())
    fail(std::to_string(data_.size() - pos_) + " trailing bytes after the value");
}

Value decode(ByteView data, Limits limits) {
  Reader r(data, limits);
  Value v = r.value();
  r.finish();
  return v;
}

}  // namespace tagger::codec
