// The upload checks that read raw bytes: RIFF/WAVE parsing and loudness
// (never throw on bad data, verify.h), text statistics, and verification
// receipts (DecodeError for anything malformed). The first byte picks one.
#include "fuzz_common.h"
#include "tagger/verify.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tagger;
  if (size < 1) return 0;
  ByteView in(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      verify::WavInfo info = verify::parse_wav(in);
      if (info.reason.empty()) {
        TAGGER_FUZZ_CHECK(info.data_offset + info.data_bytes <= in.size());
        verify::AudioStats st = verify::audio_stats(in, info);
        TAGGER_FUZZ_CHECK(st.silence_ratio >= 0 && st.silence_ratio <= 1);
      }
      break;
    }
    case 1: {
      std::string_view text(reinterpret_cast<const char*>(in.data()), in.size());
      verify::TextStats st = verify::text_stats(text);
      TAGGER_FUZZ_CHECK(st.bytes == in.size());
      (void)verify::shingle_hashes(text);
      break;
    }
    default:
      try {
        verify::Receipt r = verify::Receipt::decode(in);
        Bytes again = r.encode();
        TAGGER_FUZZ_CHECK(std::equal(again.begin(), again.end(), in.begin(), in.end()));
      } catch (const Error&) {
      }
  }
  return 0;
}
