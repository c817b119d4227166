#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <vector>
#include <random>
#include <set>

#include "tagger/crypto.h"
#include "tagger/errors.h"
#include "tagger/verify.h"

using namespace tagger;
using namespace tagger::verify;

namespace {

Bytes wav_bytes(std::uint16_t fmt, std::uint16_t ch, std::uint32_t rate, std::uint16_t bits, const Bytes& data,
                std::int64_t declared = -1) {
  Bytes w;
  auto put32 = [&](std::uint32_t v) { for (int i = 0; i < 4; ++i) w.push_back(static_cast<std::uint8_t>(v >> (8 * i))); };
  auto put16 = [&](std::uint16_t v) { w.push_back(v & 0xff); w.push_back(v >> 8); };
  auto tag = [&](const char* t) { w.insert(w.end(), t, t + 4); };
  std::uint32_t dsize = declared < 0 ? static_cast<std::uint32_t>(data.size()) : static_cast<std::uint32_t>(declared);
  tag("RIFF"); put32(36 + dsize); tag("WAVE");
  tag("fmt "); put32(16); put16(fmt); put16(ch); put32(rate); put32(rate * ch * bits / 8); put16(ch * bits / 8); put16(bits);
  tag("data"); put32(dsize);
  w.insert(w.end(), data.begin(), data.end());
  return w;
}

Bytes sine16(double seconds, std::uint32_t rate, double amp, double silent_share = 0) {
  Bytes d;
  auto n = static_cast<std::size_t>(seconds * rate);
  for (std::size_t i = 0; i < n; ++i) {
    double v = i < silent_share * n ? 0.0 : amp * std::sin(2 * M_PI * 440.0 * i / rate);
    auto s = static_cast<std::int16_t>(std::lround(v * 32767));
    d.push_back(static_cast<std::uint8_t>(s & 0xff));
    d.push_back(static_cast<std::uint8_t>((s >> 8) & 0xff));
  }
  return d;
}

}  // namespace

TEST(VerifyText, StatsCountScriptsAndRejectBadUtf8) {
  auto st = text_stats("Hello, мир 42!");
  EXPECT_TRUE(st.valid_utf8);
  EXPECT_EQ(st.chars, 14u);
  EXPECT_EQ(st.letters, 8u);
  EXPECT_EQ(st.digits, 2u);
  EXPECT_EQ(st.script_letters[static_cast<int>(Script::Latin)], 5u);
  EXPECT_EQ(st.script_letters[static_cast<int>(Script::Cyrillic)], 3u);
  EXPECT_EQ(st.dominant_script(), Script::Latin);
  EXPECT_DOUBLE_EQ(st.script_fraction({Script::Latin}), 5.0 / 8.0);
  for (const char* bad : {"\xc0\xaf", "ab\xed\xa0\x80", "\xf4\x90\x80\x80", "x\xe2\x82", "\xff"}) {
    auto b = text_stats(bad);
    EXPECT_FALSE(b.valid_utf8) << bad;
    EXPECT_EQ(b.chars, 0u);
  }
  EXPECT_EQ(text_stats("ab\xed\xa0\x80").invalid_offset, 2u);
  EXPECT_EQ(text_stats("a\x01\x7f" "b").controls, 2u);
  EXPECT_THROW(script_from_name("Klingon"), InvalidArgument);
}

TEST(VerifyMinHash, ShinglesNormaliseCaseAndWhitespace) {
  EXPECT_EQ(shingle_hashes("Hello   World"), shingle_hashes("hello world"));
  EXPECT_EQ(shingle_hashes(" hello\t\nworld "), shingle_hashes("hello world"));
  EXPECT_EQ(shingle_hashes("abc").size(), 1u);  // shorter than k: one shingle
  EXPECT_TRUE(shingle_hashes("").empty());
  EXPECT_EQ(shingle_hashes("abcdefg").size(), 3u);
  EXPECT_DOUBLE_EQ(jaccard(shingle_hashes("abcdefg"), shingle_hashes("abcdefh")), 2.0 / 4.0);
  EXPECT_THROW(shingle_hashes("x", {0, true}), InvalidArgument);
}

TEST(VerifyMinHash, EstimateTracksExactJaccard) {
  std::mt19937_64 rng(7);
  MinHasher h(256);
  double max_err = 0;
  for (int t = 0; t < 40; ++t) {
    std::vector<std::uint64_t> a, b;
    std::size_t common = rng() % 200, only_a = rng() % 100, only_b = rng() % 100;
    for (std::size_t i = 0; i < common; ++i) { auto x = rng(); a.push_back(x); b.push_back(x); }
    for (std::size_t i = 0; i < only_a; ++i) a.push_back(rng());
    for (std::size_t i = 0; i < only_b; ++i) b.push_back(rng());
    std::sort(a.begin(), a.end()); std::sort(b.begin(), b.end());
    std::vector<std::uint32_t> sa(256), sb(256);
    h.signature(a, sa.data()); h.signature(b, sb.data());
    double exact = jaccard(a, b), est = estimate_jaccard(sa.data(), sb.data(), 256);
    double se = std::sqrt(std::max(exact * (1 - exact), 0.01) / 256);
    EXPECT_LE(std::fabs(est - exact), 4.5 * se) << "exact " << exact;
    max_err = std::max(max_err, std::fabs(est - exact));
  }
  EXPECT_LT(max_err, 0.15);
}

TEST(VerifyMinHash, LshFindsNearDuplicatesNotStrangers) {
  MinHashLSH lsh(128, 0.8);
  EXPECT_GT(lsh.params().bands, 0u);
  EXPECT_LE(lsh.params().bands * lsh.params().rows, 128u);
  EXPECT_GE(lsh.params().candidate_probability(lsh.cutoff()), 0.995);
  lsh.insert("The quick brown fox jumps over the lazy dog near the river bank today");
  lsh.insert("Completely different sentence about bank transfers and card payments");
  auto m = lsh.query("The quick brown fox jumps over the lazy dog near the river bank today!");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].id, 0u);
  EXPECT_GT(m[0].jaccard, 0.8);
  EXPECT_TRUE(lsh.query("Nothing like the others at all, zebra quantum").empty());
  EXPECT_THROW(MinHashLSH(128, 1.5), InvalidArgument);
  EXPECT_THROW(lsh.signature_of(5), InvalidArgument);
}

TEST(VerifyImage, PhashOfConstantAndGradient) {
  std::vector<std::uint8_t> px(64 * 48);
  for (std::size_t r = 0; r < 48; ++r)
    for (std::size_t c = 0; c < 64; ++c) px[r * 64 + c] = static_cast<std::uint8_t>(c * 4);
  GrayView g{px.data(), 48, 64, 64, 1};
  auto h = image_hashes(g);
  // A horizontal ramp: every dHash comparison is "right is brighter".
  EXPECT_EQ(h.dhash, ~0ULL);
  EXPECT_NEAR(h.mean, 126.0, 1e-9);
  // The same image seen transposed through strides gives the transposed DCT block.
  GrayView t{px.data(), 64, 48, 1, 64};
  auto c1 = phash_coefficients(g), c2 = phash_coefficients(t);
  for (int u = 0; u < 8; ++u)
    for (int v = 0; v < 8; ++v) EXPECT_NEAR(c1[u * 8 + v], c2[v * 8 + u], 1e-6);
  std::vector<double> out(4);
  std::vector<std::uint8_t> two{0, 100, 200, 255};
  area_resize({two.data(), 1, 4, 4, 1}, 1, 2, out.data());
  EXPECT_DOUBLE_EQ(out[0], 50.0);
  EXPECT_DOUBLE_EQ(out[1], 227.5);
  EXPECT_THROW(image_hashes({nullptr, 0, 0, 0, 1}), InvalidArgument);
  HashIndex ix;
  ix.insert(0); ix.insert(0xFF); ix.insert(~0ULL);
  auto m = ix.query(0x1, 8);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].id, 0u); EXPECT_EQ(m[0].distance, 1);
  EXPECT_EQ(m[1].distance, 7);
}

TEST(VerifyAudio, ParsesPcmAndMeasuresSilence) {
  auto w = wav_bytes(1, 1, 8000, 16, sine16(2.0, 8000, 0.5, 0.25));
  auto info = parse_wav(w);
  ASSERT_EQ(info.reason, "") << info.detail;
  EXPECT_EQ(info.frames, 16000u);
  EXPECT_DOUBLE_EQ(info.duration_s, 2.0);
  auto st = audio_stats(w, info);
  EXPECT_NEAR(st.silence_ratio, 0.25, 0.02);
  EXPECT_NEAR(st.peak_dbfs, 20 * std::log10(0.5), 0.1);
  EXPECT_EQ(st.clipping_ratio, 0.0);
}

TEST(VerifyAudio, BadHeadersBecomeReasons) {
  auto good = wav_bytes(1, 1, 8000, 16, sine16(0.1, 8000, 0.5));
  EXPECT_EQ(parse_wav(Bytes{'R', 'I', 'F', 'F'}).reason, "audio_invalid_header");
  Bytes truncated(good.begin(), good.end() - 100);
  EXPECT_EQ(parse_wav(truncated).reason, "audio_truncated");
  EXPECT_EQ(parse_wav(wav_bytes(2, 1, 8000, 4, Bytes(100))).reason, "audio_unsupported_encoding");
  EXPECT_EQ(parse_wav(wav_bytes(1, 1, 0, 16, Bytes(100))).reason, "audio_invalid_header");
  EXPECT_EQ(parse_wav(wav_bytes(1, 1, 8000, 12, Bytes(100))).reason, "audio_unsupported_encoding");
  Bytes no_data(good.begin(), good.begin() + 36);
  EXPECT_EQ(parse_wav(no_data).reason, "audio_invalid_header");
  EXPECT_EQ(parse_wav(wav_bytes(1, 1, 8000, 16, Bytes(10), 0xFFFFFFFF)).reason, "audio_truncated");
}

TEST(VerifyReceipt, SignEncodeDecodeVerify) {
  auto sk = crypto::SigningKey::generate();
  Receipt r;
  r.task_id = "task-1";
  r.item_id = "item-7";
  r.ciphertext_hash = crypto::sha256(as_bytes("ciphertext"));
  r.status = "needs_review";
  r.reasons = {"off_topic"};
  r.scores_micro = {{"gibberish", -1500000}, {"relevance", 120000}};
  r.sign(sk);
  Bytes enc = r.encode();
  Receipt back = Receipt::decode(enc);
  EXPECT_EQ(back, r);
  EXPECT_NO_THROW(back.verify(&sk.verify_key()));
  auto other = crypto::SigningKey::generate();
  EXPECT_THROW(back.verify(&other.verify_key()), InvalidSignature);
  back.status = "accepted";
  back.reasons.clear();
  EXPECT_THROW(back.verify(), InvalidSignature);
  Bytes tampered = enc;
  tampered[tampered.size() - 1] ^= 1;
  EXPECT_THROW(Receipt::decode(tampered).verify(), InvalidSignature);
  EXPECT_THROW(Receipt::decode(Bytes(enc.begin(), enc.end() - 1)), DecodeError);
  Receipt bad = r;
  bad.reasons = {"Not A Code"};
  EXPECT_THROW(bad.encode(), InvalidArgument);
  bad = r;
  bad.scores_micro = {{"b", 1}, {"a", 2}};
  EXPECT_THROW(bad.encode(), InvalidArgument);
}

// The banded distance against the full Levenshtein table on random short texts over a small
// alphabet (many near matches), with multi-byte letters and an invalid byte among them.
TEST(VerifyEditDistance, BandedEqualsFullTableUpToTheCap) {
  const std::vector<std::string> units{"a", "b", "c", "\xc3\xa9", "\xe2\x82\xac", "\xff"};
  std::mt19937 rng(7);
  auto random_text = [&](std::size_t len) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < len; ++i) out.push_back(units[rng() % units.size()]);
    return out;
  };
  auto full = [](const std::vector<std::string>& a, const std::vector<std::string>& b) {
    std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
    for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
    for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i)
      for (std::size_t j = 1; j <= b.size(); ++j)
        d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1])});
    return d[a.size()][b.size()];
  };
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& u : v) s += u;
    return s;
  };
  for (int trial = 0; trial < 3000; ++trial) {
    const auto a = random_text(rng() % 12), b = random_text(rng() % 12);
    const std::size_t want = full(a, b), cap = rng() % 7;
    EXPECT_EQ(tagger::verify::bounded_edit_distance(join(a), join(b), cap), std::min(want, cap + 1))
        << "cap " << cap << " '" << join(a) << "' '" << join(b) << "'";
  }
  EXPECT_EQ(tagger::verify::bounded_edit_distance("where is my card", "where is my cart", 1), 1u);
  EXPECT_EQ(tagger::verify::bounded_edit_distance("", "abc", 5), 3u);
  EXPECT_EQ(tagger::verify::bounded_edit_distance("abcdef", "a", 2), 3u);
  // A cap beyond any distance (SIZE_MAX from Python): cap + 1 wrapped to 0 and said "identical".
  EXPECT_EQ(tagger::verify::bounded_edit_distance("abc", "xyz", std::numeric_limits<std::size_t>::max()), 3u);
  EXPECT_EQ(tagger::verify::bounded_edit_distance("abc", "abd", std::numeric_limits<std::size_t>::max() - 1), 1u);
}

// EditIndex: every one-edit copy is found; a reported bound is never below the true distance
// and never above the cap; texts far apart, too short or too long are not found.
TEST(VerifyEditIndex, FindsEveryOneEditCopyAndBoundsFromAbove) {
  using tagger::verify::EditIndex;
  std::mt19937 rng(11);
  const std::string letters = "abcdefghij";  // a small alphabet: many near misses
  auto random_text = [&](std::size_t len) {
    std::string s;
    for (std::size_t i = 0; i < len; ++i) s += letters[rng() % letters.size()];
    return s;
  };
  EditIndex ix(0.1);
  std::vector<std::string> stored;
  for (int i = 0; i < 400; ++i) {
    stored.push_back(random_text(10 + rng() % 60));
    EXPECT_EQ(ix.insert(stored.back()), static_cast<std::uint32_t>(i));
  }
  auto found = [&](const std::string& q, std::uint32_t id) -> const EditIndex::Match* {
    static std::vector<EditIndex::Match> ms;
    ms = ix.query(q);
    for (const auto& m : ms) {
      const std::size_t truth = tagger::verify::bounded_edit_distance(stored[m.id], q, 1000);
      EXPECT_LE(truth, m.edits) << "'" << stored[m.id] << "' '" << q << "'";
      EXPECT_LE(m.edits, ix.cap(stored[m.id].size()));
      EXPECT_EQ(m.length, stored[m.id].size());
    }
    for (const auto& m : ms) if (m.id == id) return &m;
    return nullptr;
  };
  for (std::uint32_t id = 0; id < stored.size(); ++id) {
    const std::string& s = stored[id];
    const std::size_t at = rng() % s.size();
    std::string sub = s, ins = s, del = s;
    sub[at] = sub[at] == 'z' ? 'y' : 'z';
    ins.insert(ins.begin() + static_cast<std::ptrdiff_t>(at), 'z');
    del.erase(del.begin() + static_cast<std::ptrdiff_t>(at));
    for (const std::string& q : {s, sub, ins, del}) {
      const auto* m = found(q, id);
      ASSERT_NE(m, nullptr) << "'" << s << "' -> '" << q << "'";
      EXPECT_EQ(m->edits, q == s ? 0u : 1u);
    }
    if (ix.cap(s.size()) >= 2 && at + 1 < s.size() && s[at] != s[at + 1]) {  // two letters swapped
      std::string swapped = s;
      std::swap(swapped[at], swapped[at + 1]);
      const auto* m = found(swapped, id);
      ASSERT_NE(m, nullptr) << "'" << s << "' -> '" << swapped << "'";
      EXPECT_EQ(m->edits, 2u);
    }
    // An unrelated text of the same length is (almost surely) no copy; every match is checked above.
    found(random_text(s.size()), id);
  }
  EXPECT_EQ(ix.cap(25), 2u);
  EXPECT_EQ(ix.cap(10), 1u);
}

TEST(VerifyEditIndex, LengthsOutsideTheRangeAndBadParametersAreRefused) {
  using tagger::verify::EditIndex;
  EditIndex ix(0.1, 10, 20);
  EXPECT_EQ(ix.insert("abcdefghi"), 0u);              // 9 code points: below min_length
  EXPECT_EQ(ix.insert("abcdefghijklmnopqrstu"), 1u);  // 21: above max_length
  EXPECT_EQ(ix.insert("\xc3\xa9" "bcdefghijk"), 2u);  // 11 code points in 12 bytes
  EXPECT_TRUE(ix.query("abcdefghi").empty());
  EXPECT_TRUE(ix.query("abcdefghijklmnopqrstu").empty());
  ASSERT_EQ(ix.query("ebcdefghijk").size(), 1u);      // é -> e: one code point changed
  EXPECT_EQ(ix.query("ebcdefghijk")[0].id, 2u);
  EXPECT_EQ(ix.size(), 3u);
  // Many near-identical texts: at most `limit` matches, of those with the most intact blocks
  // the oldest (here all have the same five), fewest edits first.
  EditIndex many(0.1);
  for (int i = 0; i < 30; ++i) many.insert(i % 2 ? "thebrowndoginthepark" : "thebrowndoginthepark2");
  const auto some = many.query("thebrowndoginthepark", 5);
  std::vector<std::uint32_t> ids, edits;
  for (const auto& mm : some) { ids.push_back(mm.id); edits.push_back(mm.edits); }
  EXPECT_EQ(ids, (std::vector<std::uint32_t>{1, 3, 0, 2, 4}));
  EXPECT_EQ(edits, (std::vector<std::uint32_t>{0, 0, 1, 1, 1}));
  EXPECT_EQ(many.query("thebrowndoginthepark").size(), 16u);
  ix.forget(2);
  EXPECT_TRUE(ix.query("ebcdefghijk").empty());
  EXPECT_THROW(ix.forget(3), tagger::InvalidArgument);
  EXPECT_NO_THROW(EditIndex(0.15));
  EXPECT_THROW(EditIndex(0.16), tagger::InvalidArgument);  // above the bound
  EXPECT_THROW(EditIndex(0.25), tagger::InvalidArgument);
  EXPECT_THROW(EditIndex(-0.1), tagger::InvalidArgument);
  EXPECT_THROW(EditIndex(0.1, 5, 20), tagger::InvalidArgument);
  EXPECT_THROW(EditIndex(0.1, 30, 20), tagger::InvalidArgument);
  EXPECT_THROW(EditIndex(0.1, 10, 5000), tagger::InvalidArgument);
}

// ContainmentIndex against plain substring tests on random texts over a small alphabet.
TEST(VerifyContainmentIndex, MatchesExactlyTheWholePartsStartsEndsAndMiddles) {
  using tagger::verify::ContainmentIndex;
  std::mt19937 rng(5);
  auto random_text = [&](std::size_t len) {
    std::string s;
    for (std::size_t i = 0; i < len; ++i) s += "ab"[rng() % 2];
    return s;
  };
  ContainmentIndex ix(10, 40);
  std::vector<std::string> stored;
  for (int i = 0; i < 60; ++i) {
    stored.push_back(random_text(10 + rng() % 31));
    ix.insert(stored.back());
  }
  ix.insert("short");  // below min_length: takes an id, found by nothing
  for (int trial = 0; trial < 3000; ++trial) {
    const std::string& s = stored[rng() % stored.size()];
    std::string q;
    switch (trial % 4) {
      case 0: q = random_text(rng() % 8) + s + random_text(rng() % 8); break;
      case 1: q = s.substr(0, s.size() * (6 + rng() % 5) / 10); break;
      case 2: q = s.substr(s.size() - s.size() * (6 + rng() % 5) / 10); break;
      default: {  // a part from the middle
        const std::size_t len = s.size() * (6 + rng() % 4) / 10, from = 1 + rng() % std::max<std::size_t>(1, s.size() - len - 1);
        q = s.substr(std::min(from, s.size() - len), len);
      }
    }
    const auto ms = ix.query(q, 1000);
    for (std::uint32_t id = 0; id < stored.size(); ++id) {
      const std::string& t = stored[id];
      const bool inside = q.find(t) != std::string::npos && 2 * t.size() >= q.size();
      const bool part = t.size() > q.size() && q.size() >= 10 && 10 * q.size() >= 6 * t.size();
      const bool start = part && t.compare(0, q.size(), q) == 0;
      const bool end = part && !start && t.compare(t.size() - q.size(), q.size(), q) == 0;
      const std::size_t mid = t.size() > q.size() + 1 ? t.find(q, 1) : std::string::npos;
      const bool middle = part && !start && !end && mid != std::string::npos && mid + q.size() < t.size();
      auto has = [&](ContainmentIndex::Kind k) {
        return std::any_of(ms.begin(), ms.end(), [&](const auto& m) { return m.id == id && m.kind == k; });
      };
      ASSERT_EQ(has(ContainmentIndex::Kind::kInside), inside) << "'" << t << "' in '" << q << "'";
      ASSERT_EQ(has(ContainmentIndex::Kind::kStart), start) << "'" << t << "' starts with '" << q << "'";
      ASSERT_EQ(has(ContainmentIndex::Kind::kEnd), end) << "'" << t << "' ends with '" << q << "'";
      ASSERT_EQ(has(ContainmentIndex::Kind::kMiddle), middle) << "'" << t << "' holds '" << q << "' inside";
    }
    for (const auto& m : ms) EXPECT_LT(m.id, stored.size());
  }
  const std::uint32_t last = static_cast<std::uint32_t>(stored.size() - 1);
  ASSERT_FALSE(ix.query("xx" + stored[last]).empty());
  ix.forget(last);
  for (const auto& m : ix.query("xx" + stored[last], 1000)) EXPECT_NE(m.id, last);
  EXPECT_THROW(ContainmentIndex(5), tagger::InvalidArgument);
  EXPECT_THROW(ContainmentIndex(20, 256, 0.0), tagger::InvalidArgument);
  EXPECT_THROW(ContainmentIndex(20, 256, 0.5, 1.5), tagger::InvalidArgument);
}
