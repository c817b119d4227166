// Shared by the fuzz targets: only tagger's typed errors are an expected
// outcome of bad input; any other exception escapes LLVMFuzzerTestOneInput and
// libFuzzer reports it as a crash (uncaught exception -> abort).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <algorithm>

#include "tagger/bytes.h"
#include "tagger/errors.h"

#define TAGGER_FUZZ_CHECK(cond)                                                          \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

namespace tagger::fuzz {
inline ByteView view(const std::uint8_t* data, std::size_t size) { return ByteView(data, size); }
}  // namespace tagger::fuzz
