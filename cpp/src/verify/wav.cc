// RIFF/WAVE header parsing and loudness statistics. Input is untrusted: every
// read is bounds-checked and faults become reason codes, never exceptions.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "tagger/verify.h"

namespace tagger::verify {
namespace {

std::uint32_t le32(const std::uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (std::uint32_t{p[3]} << 24); }
std::uint16_t le16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }

WavInfo fail(WavInfo info, const char* reason, std::string detail) {
  info.reason = reason;
  info.detail = std::move(detail);
  return info;
}

constexpr std::uint16_t kPcm = 1, kFloat = 3, kExtensible = 0xFFFE;

}  // namespace

WavInfo parse_wav(ByteView w) noexcept {
  WavInfo info;
  try {
    if (w.size() < 12 || std::memcmp(w.data(), "RIFF", 4) != 0 || std::memcmp(w.data() + 8, "WAVE", 4) != 0)
      return fail(info, "audio_invalid_header", "not a RIFF/WAVE file (bytes 0-3 'RIFF', 8-11 'WAVE')");
    const std::uint64_t riff_end = std::uint64_t{le32(w.data() + 4)} + 8;
    bool have_fmt = false;
    std::size_t pos = 12;
    while (pos + 8 <= w.size()) {
      const std::uint8_t* h = w.data() + pos;
      const std::uint64_t size = le32(h + 4);
      const std::size_t body = pos + 8;
      if (std::memcmp(h, "fmt ", 4) == 0) {
        if (size < 16) return fail(info, "audio_invalid_header", "fmt chunk of " + std::to_string(size) + " bytes (< 16)");
        if (body + 16 > w.size()) return fail(info, "audio_truncated", "file ends inside the fmt chunk");
        const std::uint8_t* f = w.data() + body;
        std::uint16_t tag = le16(f);
        info.channels = le16(f + 2);
        info.sample_rate = le32(f + 4);
        std::uint16_t block_align = le16(f + 12);
        info.bits_per_sample = le16(f + 14);
        if (tag == kExtensible) {
          if (size < 40 || body + 26 > w.size()) return fail(info, "audio_invalid_header", "WAVE_FORMAT_EXTENSIBLE without a sub-format");
          tag = le16(f + 24);  // first two bytes of the sub-format GUID
        }
        info.format = tag;
        if (tag != kPcm && tag != kFloat)
          return fail(info, "audio_unsupported_encoding", "format tag " + std::to_string(tag) + " (only PCM 1 and IEEE float 3)");
        const std::uint16_t bps = info.bits_per_sample;
        bool ok_bits = tag == kPcm ? (bps == 8 || bps == 16 || bps == 24 || bps == 32) : (bps == 32 || bps == 64);
        if (!ok_bits) return fail(info, "audio_unsupported_encoding", std::to_string(bps) + "-bit samples for format " + std::to_string(tag));
        if (info.channels == 0 || info.channels > 64) return fail(info, "audio_invalid_header", std::to_string(info.channels) + " channels");
        if (info.sample_rate == 0 || info.sample_rate > 1'000'000)
          return fail(info, "audio_invalid_header", "sample rate " + std::to_string(info.sample_rate));
        if (block_align != info.channels * (bps / 8))
          return fail(info, "audio_invalid_header", "block align " + std::to_string(block_align) + " != channels * bytes per sample");
        have_fmt = true;
      } else if (std::memcmp(h, "data", 4) == 0) {
        if (!have_fmt) return fail(info, "audio_invalid_header", "data chunk before the fmt chunk");
        const std::size_t frame_bytes = std::size_t{info.channels} * (info.bits_per_sample / 8);
        const std::size_t present = static_cast<std::size_t>(std::min<std::uint64_t>(size, w.size() - body));
        info.data_offset = body;
        info.frames = present / frame_bytes;
        info.data_bytes = info.frames * frame_bytes;
        info.duration_s = static_cast<double>(info.frames) / info.sample_rate;
        // Streaming writers put 0 or 0xFFFFFFFF in an unfinished header: that is
        // a malformed file, and so is a declared size beyond the end.
        if (size > w.size() - body)
          return fail(info, "audio_truncated", "data chunk declares " + std::to_string(size) + " bytes, " +
                                                   std::to_string(w.size() - body) + " present");
        if (body + size > riff_end)
          return fail(info, "audio_truncated", "data chunk declares " + std::to_string(size) + " bytes, but the RIFF "
                                               "header says the file ends " + std::to_string(riff_end > body ? riff_end - body : 0) +
                                               " bytes after the chunk starts");
        if (size % frame_bytes != 0) return fail(info, "audio_truncated", "data ends inside a frame");
        return info;
      }
      pos = body + static_cast<std::size_t>(std::min<std::uint64_t>(size + (size & 1), w.size()));
    }
    if (!have_fmt) return fail(info, "audio_invalid_header", "no fmt chunk");
    return fail(info, "audio_invalid_header", "no data chunk");
  } catch (...) {  // std::string allocation only
    info.reason = "audio_invalid_header";
    return info;
  }
}

AudioStats audio_stats(ByteView w, const WavInfo& info, double window_ms, double silence_dbfs) {
  AudioStats st;
  if (!info.reason.empty() || info.frames == 0 || info.data_offset + info.data_bytes > w.size()) return st;
  const std::uint8_t* p = w.data() + info.data_offset;
  const std::size_t bytes = info.bits_per_sample / 8, ch = info.channels;
  auto sample = [&](std::size_t i) -> double {
    const std::uint8_t* s = p + i * bytes;
    if (info.format == 3) {
      if (bytes == 4) { float f; std::memcpy(&f, s, 4); return f; }
      double d; std::memcpy(&d, s, 8); return d;
    }
    switch (bytes) {
      case 1: return (static_cast<int>(s[0]) - 128) / 128.0;
      case 2: return static_cast<std::int16_t>(le16(s)) / 32768.0;
      case 3: { std::int32_t v = static_cast<std::int32_t>((s[0] << 8) | (s[1] << 16) | (std::uint32_t{s[2]} << 24)) >> 8; return v / 8388608.0; }
      default: return static_cast<std::int32_t>(le32(s)) / 2147483648.0;
    }
  };
  const std::size_t win = std::max<std::size_t>(1, static_cast<std::size_t>(std::llround(info.sample_rate * window_ms / 1000.0)));
  const double silence_power = std::pow(10.0, silence_dbfs / 10.0);
  std::size_t windows = 0, silent = 0, clipped = 0;
  double total = 0, peak = 0;
  // Full scale: 0.999 of it, and for 8-bit PCM its top code 255, which reads as 127/128 (0.992):
  // the top of an 8-bit recording clipped unseen while its bottom (0, -1.0) counted.
  const double full_scale = info.bits_per_sample == 8 && info.format == 1 ? 127.0 / 128.0 : 0.999;
  for (std::size_t f0 = 0; f0 < info.frames; f0 += win) {
    const std::size_t f1 = std::min<std::size_t>(info.frames, f0 + win);
    double acc = 0;
    for (std::size_t i = f0 * ch; i < f1 * ch; ++i) {
      double v = sample(i);
      if (!std::isfinite(v)) { ++clipped; ++st.nonfinite; continue; }
      double a = std::fabs(v);
      if (a >= full_scale) ++clipped;
      peak = std::max(peak, a);
      acc += v * v;
    }
    total += acc;
    ++windows;
    if (acc / static_cast<double>((f1 - f0) * ch) < silence_power) ++silent;
  }
  const double n = static_cast<double>(info.frames * ch);
  auto dbfs = [](double power) { return power > 0 ? 10.0 * std::log10(power) : -200.0; };
  st.silence_ratio = static_cast<double>(silent) / static_cast<double>(windows);
  st.rms_dbfs = dbfs(total / n);
  st.peak_dbfs = dbfs(peak * peak);
  st.clipping_ratio = static_cast<double>(clipped) / n;
  return st;
}

}  // namespace tagger::verify
