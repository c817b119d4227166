// Perceptual hashes on decoded grayscale pixels: area resampling, a partial
// 2-D DCT-II for pHash, adjacent differences for dHash.
#include <algorithm>
#include <cmath>
#include <numbers>

#include "tagger/errors.h"
#include "tagger/verify.h"

namespace tagger::verify {
namespace {

// One source index's contribution to one output cell along an axis.
struct Tap {
  std::uint32_t src, dst;
  double w;
};

// Output cell o covers source interval [o*s, (o+1)*s), s = in/out; every
// source pixel is weighted by the length of its overlap, divided by s, so the
// weights of each cell sum to 1 (exact area averaging, also when upsampling).
std::vector<Tap> area_taps(std::size_t in, std::size_t out) {
  std::vector<Tap> taps;
  const double s = static_cast<double>(in) / static_cast<double>(out);
  for (std::size_t o = 0; o < out; ++o) {
    double lo = static_cast<double>(o) * s, hi = static_cast<double>(o + 1) * s;
    auto first = static_cast<std::size_t>(std::floor(lo));
    auto last = std::min(in - 1, static_cast<std::size_t>(std::ceil(hi)) - 1);
    for (std::size_t j = first; j <= last; ++j) {
      double ov = std::min(hi, static_cast<double>(j + 1)) - std::max(lo, static_cast<double>(j));
      if (ov > 0) taps.push_back({static_cast<std::uint32_t>(j), static_cast<std::uint32_t>(o), ov / s});
    }
  }
  return taps;
}

void check_view(const GrayView& img) {
  if (img.data == nullptr || img.rows == 0 || img.cols == 0)
    throw InvalidArgument("image is empty (" + std::to_string(img.rows) + "x" + std::to_string(img.cols) + ")");
}

// A resampling target: out[rows * cols], filled by resize_many.
struct Target {
  std::size_t rows, cols;
  double* out;
};

// Output cell o of an axis covers source [o*s, (o+1)*s): a first and a last
// source pixel with fractional overlaps and whole pixels in between, so a cell
// is (w_first*p[first] + Σ p[first+1 .. last-1] + w_last*p[last]) / s — the
// interior as an exact integer sum (the bulk of the work when downsampling).
struct Span {
  std::uint32_t first, last;
  double w_first, w_last;  // overlaps in pixels (w_last unused when first == last)
};

std::vector<Span> area_spans(std::size_t in, std::size_t out) {
  std::vector<Span> spans(out);
  const double s = static_cast<double>(in) / static_cast<double>(out);
  for (std::size_t o = 0; o < out; ++o) {
    const double lo = static_cast<double>(o) * s, hi = static_cast<double>(o + 1) * s;
    auto first = static_cast<std::size_t>(std::floor(lo));
    auto last = std::min(in - 1, static_cast<std::size_t>(std::ceil(hi)) - 1);
    Span& sp = spans[o];
    sp.first = static_cast<std::uint32_t>(first);
    sp.last = static_cast<std::uint32_t>(last);
    sp.w_first = std::min(hi, static_cast<double>(first + 1)) - lo;
    sp.w_last = hi - static_cast<double>(last);
  }
  return spans;
}

// One pass over the source pixels feeding several area-resize targets (the
// pHash and dHash grids), accumulating sum and sum of squares on the way: the
// pixel reads dominate the cost, so each pixel is read once.
void resize_many(const GrayView& img, Target* targets, std::size_t n_targets, double* sum, double* sum2) {
  check_view(img);
  struct Plan {
    std::vector<Span> cols;
    std::vector<Tap> row_taps;              // sorted by source row
    std::vector<std::uint32_t> row_begin;   // CSR over source rows into row_taps
    std::vector<double> tmp;
    double inv_scale_x;
  };
  std::vector<Plan> plans(n_targets);
  for (std::size_t t = 0; t < n_targets; ++t) {
    if (targets[t].rows == 0 || targets[t].cols == 0) throw InvalidArgument("output size must be positive");
    Plan& p = plans[t];
    p.cols = area_spans(img.cols, targets[t].cols);
    p.inv_scale_x = static_cast<double>(targets[t].cols) / static_cast<double>(img.cols);
    p.row_taps = area_taps(img.rows, targets[t].rows);
    std::stable_sort(p.row_taps.begin(), p.row_taps.end(), [](const Tap& a, const Tap& b) { return a.src < b.src; });
    p.row_begin.assign(img.rows + 1, 0);
    for (const Tap& tp : p.row_taps) ++p.row_begin[tp.src + 1];
    for (std::size_t r = 0; r < img.rows; ++r) p.row_begin[r + 1] += p.row_begin[r];
    p.tmp.resize(targets[t].cols);
    std::fill(targets[t].out, targets[t].out + targets[t].rows * targets[t].cols, 0.0);
  }
  std::vector<std::uint8_t> rowbuf(img.cols);
  // prefix[c] = Σ row[0 .. c-1]: every span's interior sum is one subtraction.
  std::vector<std::uint64_t> prefix(img.cols + 1, 0);
  double s = 0, s2 = 0;
  for (std::size_t r = 0; r < img.rows; ++r) {
    const std::uint8_t* px = img.data + static_cast<std::ptrdiff_t>(r) * img.row_stride;
    if (img.col_stride != 1) {
      for (std::size_t c = 0; c < img.cols; ++c) rowbuf[c] = px[static_cast<std::ptrdiff_t>(c) * img.col_stride];
      px = rowbuf.data();
    }
    std::uint64_t rs = 0, rs2 = 0;
    for (std::size_t c = 0; c < img.cols; ++c) {
      const std::uint32_t v = px[c];
      rs += v;
      rs2 += v * v;
      prefix[c + 1] = rs;
    }
    s += static_cast<double>(rs);
    s2 += static_cast<double>(rs2);
    for (std::size_t t = 0; t < n_targets; ++t) {
      Plan& p = plans[t];
      const std::size_t oc = targets[t].cols;
      for (std::size_t o = 0; o < oc; ++o) {
        const Span& sp = p.cols[o];
        double v;
        if (sp.first == sp.last) {
          v = sp.w_first * px[sp.first];
        } else {
          v = sp.w_first * px[sp.first] + sp.w_last * px[sp.last] +
              static_cast<double>(prefix[sp.last] - prefix[sp.first + 1]);
        }
        p.tmp[o] = v * p.inv_scale_x;
      }
      for (std::uint32_t i = p.row_begin[r]; i < p.row_begin[r + 1]; ++i) {
        double* dst = targets[t].out + p.row_taps[i].dst * oc;
        const double w = p.row_taps[i].w;
        for (std::size_t c = 0; c < oc; ++c) dst[c] += w * p.tmp[c];
      }
    }
  }
  if (sum) *sum = s;
  if (sum2) *sum2 = s2;
}

// Unnormalised DCT-II, y_k = 2 Σ_n x_n cos(π k (2n + 1) / 2N) (scipy's default),
// the first 8 frequencies along both axes of a 32x32 block.
std::array<double, 64> dct_8x8_of_32(const double* px) {
  constexpr std::size_t N = 32, K = 8;
  static const auto table = [] {
    std::array<double, K * N> t{};
    for (std::size_t k = 0; k < K; ++k)
      for (std::size_t n = 0; n < N; ++n) t[k * N + n] = 2.0 * std::cos(std::numbers::pi * k * (2.0 * n + 1.0) / (2.0 * N));
    return t;
  }();
  double rows[N * K];  // DCT along each row: rows[r * K + k]
  for (std::size_t r = 0; r < N; ++r)
    for (std::size_t k = 0; k < K; ++k) {
      double s = 0;
      for (std::size_t n = 0; n < N; ++n) s += table[k * N + n] * px[r * N + n];
      rows[r * K + k] = s;
    }
  std::array<double, 64> out{};
  for (std::size_t u = 0; u < K; ++u)
    for (std::size_t v = 0; v < K; ++v) {
      double s = 0;
      for (std::size_t n = 0; n < N; ++n) s += table[u * N + n] * rows[n * K + v];
      out[u * K + v] = s;
    }
  return out;
}

std::uint64_t phash_from(const std::array<double, 64>& c) {
  std::array<double, 64> sorted = c;
  std::sort(sorted.begin(), sorted.end());
  const double median = 0.5 * (sorted[31] + sorted[32]);
  std::uint64_t h = 0;
  for (std::size_t i = 0; i < 64; ++i) h = (h << 1) | (c[i] > median ? 1u : 0u);
  return h;
}

}  // namespace

void area_resize(const GrayView& img, std::size_t out_rows, std::size_t out_cols, double* out) {
  Target t{out_rows, out_cols, out};
  resize_many(img, &t, 1, nullptr, nullptr);
}

std::array<double, 64> phash_coefficients(const GrayView& img) {
  double px[32 * 32];
  area_resize(img, 32, 32, px);
  return dct_8x8_of_32(px);
}

ImageHashes image_hashes(const GrayView& img) {
  ImageHashes out;
  double px[32 * 32], d[8 * 9], sum = 0, sum2 = 0;
  Target targets[2] = {{32, 32, px}, {8, 9, d}};
  resize_many(img, targets, 2, &sum, &sum2);
  out.phash = phash_from(dct_8x8_of_32(px));
  std::uint64_t h = 0;
  for (std::size_t r = 0; r < 8; ++r)
    for (std::size_t c = 0; c < 8; ++c) h = (h << 1) | (d[r * 9 + c + 1] > d[r * 9 + c] ? 1u : 0u);
  out.dhash = h;
  const double n = static_cast<double>(img.rows) * static_cast<double>(img.cols);
  out.mean = sum / n;
  out.stddev = std::sqrt(std::max(0.0, sum2 / n - out.mean * out.mean));
  return out;
}

std::uint32_t HashIndex::insert(std::uint64_t h) {
  hashes_.push_back(h);
  return static_cast<std::uint32_t>(hashes_.size() - 1);
}

std::vector<HashIndex::Match> HashIndex::query(std::uint64_t h, int max_distance) const {
  if (max_distance < 0 || max_distance > 64) throw InvalidArgument("max_distance must be in [0, 64]");
  std::vector<Match> out;
  for (std::size_t i = 0; i < hashes_.size(); ++i) {
    int d = hamming(h, hashes_[i]);
    if (d <= max_distance) out.push_back({static_cast<std::uint32_t>(i), d});
  }
  std::sort(out.begin(), out.end(), [](const Match& a, const Match& b) { return a.distance < b.distance || (a.distance == b.distance && a.id < b.id); });
  return out;
}

}  // namespace tagger::verify
