// The frozen known answers (tests/vectors/chaotic_kat.json, from the pure-Python
// reference) reproduced by this build: proof that the fixed-point layer is
// bit-identical whatever the compiler and optimisation level.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tagger/crypto.h"

using namespace tagger;
using namespace tagger::crypto;

namespace {

// The KAT file is flat: arrays of objects whose values are strings, integers
// or arrays of strings. This reads exactly that and nothing more.
using Object = std::map<std::string, std::vector<std::string>>;

std::string read_string(const std::string& s, std::size_t& i) {
  std::size_t end = s.find('"', i + 1);
  std::string out = s.substr(i + 1, end - i - 1);
  i = end + 1;
  return out;
}

std::vector<Object> section(const std::string& doc, const std::string& name) {
  std::vector<Object> out;
  std::size_t i = doc.find("\"" + name + "\"");
  if (i == std::string::npos) return out;
  i = doc.find('[', i);
  int depth = 0;
  Object cur;
  std::string key;
  for (++i; i < doc.size(); ++i) {
    char c = doc[i];
    if (c == '{') cur.clear(), key.clear(), depth = 1;
    else if (c == '}') out.push_back(cur), depth = 0;
    else if (c == ']' && depth == 0) break;
    else if (c == '"') {
      std::string str = read_string(doc, i);
      --i;
      if (key.empty()) {
        key = str;
      } else {
        cur[key].push_back(str);
      }
    } else if (c == ',' && doc.find_first_not_of(" \n", i + 1) != std::string::npos) {
      // a comma inside an array of strings keeps the key; after a value it ends it
      std::size_t j = doc.find_first_not_of(" \n", i + 1);
      if (doc[j] == '"' && doc.rfind('[', i) > doc.rfind(']', i) && doc.rfind('[', i) > doc.rfind(':', i)) continue;
      key.clear();
    } else if (c >= '0' && c <= '9' && !key.empty()) {
      std::size_t j = i;
      while (j < doc.size() && doc[j] >= '0' && doc[j] <= '9') ++j;
      cur[key].push_back(doc.substr(i, j - i));
      i = j - 1;
    }
  }
  return out;
}

std::string load() {
  std::ifstream f(std::string(TAGGER_SOURCE_DIR) + "/tests/vectors/chaotic_kat.json");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string hex_u64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

TEST(ChaoticKat, MessagesMatchTheFrozenAnswers) {
  std::string doc = load();
  ASSERT_FALSE(doc.empty()) << "tests/vectors/chaotic_kat.json not found";
  auto vectors = section(doc, "vectors");
  ASSERT_GE(vectors.size(), 30u);
  for (auto& v : vectors) {
    ChaoticCipher c(from_hex(v["key"][0]), from_hex(v["nonce"][0]));
    std::size_t n = std::stoul(v["n"][0]);
    if (v.count("plaintext")) {
      Bytes pt = from_hex(v["plaintext"][0]);
      ASSERT_EQ(pt.size(), n);
      EXPECT_EQ(to_hex(c.encrypt(pt)), v["ciphertext"][0]) << "n=" << n;
      EXPECT_EQ(c.decrypt(from_hex(v["ciphertext"][0])), pt) << "n=" << n;
    } else {
      Bytes pt(n);
      for (std::size_t i = 0; i < n; ++i) pt[i] = static_cast<std::uint8_t>(i % 251);
      Bytes ct = c.encrypt(pt);
      EXPECT_EQ(to_hex(sha256(ct)), v["ciphertext_sha256"][0]) << "n=" << n;
      EXPECT_EQ(c.decrypt(ct), pt);
    }
  }
}

TEST(ChaoticKat, KeystreamsAndChunkIndicesMatchTheFrozenAnswers) {
  std::string doc = load();
  auto ks = section(doc, "keystreams");
  ASSERT_GE(ks.size(), 6u);
  for (auto& v : ks) {
    ChaoticCipher c(from_hex(v["key"][0]), from_hex(v["nonce"][0]));
    auto words = c.keystream(std::stoull(v["chunk"][0]), v["words"].size());
    ASSERT_EQ(words.size(), 16u);
    for (std::size_t i = 0; i < words.size(); ++i) EXPECT_EQ(hex_u64(words[i]), v["words"][i]);
  }
  auto chunks = section(doc, "chunks");
  ASSERT_GE(chunks.size(), 2u);
  for (auto& v : chunks) {
    ChaoticCipher c(from_hex(v["key"][0]), from_hex(v["nonce"][0]));
    Bytes pt = from_hex(v["plaintext"][0]), ct(pt.size());
    c.encrypt_chunk(std::stoull(v["chunk"][0]), pt.data(), pt.size(), ct.data());
    EXPECT_EQ(to_hex(ct), v["ciphertext"][0]);
  }
}
