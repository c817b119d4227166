// Multinomial logistic regression by per-example AdaGrad.
//
// Loss per example: -log softmax(W x + b)_y + (l2/2) ||W_touched||^2, where
// only the rows of W that the example touches are decayed (the usual lazy
// regularization of sparse SGD). Gradients of class c: (p_c - [c == y]) x.
// Classes whose gradient magnitude is below config.skip_grad are skipped: once the
// model is confident, most of the C-wide update is nearly nothing, and
// skipping it makes an epoch several times faster.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_map>

#include "tagger/errors.h"
#include "tagger/match.h"
#include "util/parallel.h"

namespace tagger::match {

struct LinearModel::Impl {
  int n_classes = 0;
  std::size_t cols = 0;
  // Training column -> row of W. A dense table when the space is small enough,
  // a hash map otherwise.
  std::vector<std::int32_t> col_table;
  std::unordered_map<std::uint32_t, std::int32_t> col_hash;
  std::vector<float> w;  // n_features * n_classes, row-major by feature
  std::vector<float> b;  // n_classes
  std::size_t n_features = 0;

  std::int32_t row_of(std::uint32_t col) const {
    if (!col_table.empty()) return col < col_table.size() ? col_table[col] : -1;
    auto it = col_hash.find(col);
    return it == col_hash.end() ? -1 : it->second;
  }
  // z = b + W^T x for row r of x (columns unseen in training contribute 0),
  // then the dense block's columns; returns whether any column was seen.
  bool logits(const FeatureMatrix& x, std::size_t r, float* z, const DenseBlock* dense) const;
};

namespace {

constexpr float kAdaEps = 1e-8f;
constexpr std::size_t kDenseColTable = std::size_t{1} << 25;

template <class Fn>
void for_row(const FeatureMatrix& x, std::size_t r, Fn&& fn) {
  if (x.indptr) {
    for (std::int64_t k = x.indptr[r]; k < x.indptr[r + 1]; ++k) fn(x.indices[k], x.values[k]);
  } else {
    const float* row = x.dense + r * x.cols;
    for (std::size_t c = 0; c < x.cols; ++c)
      if (row[c] != 0.0f) fn(static_cast<std::uint32_t>(c), row[c]);
  }
}

void check_matrix(const FeatureMatrix& x, const char* what) {
  if (!x.indptr && !x.dense && x.rows > 0) throw InvalidArgument(std::string(what) + ": no data");
  if (x.indptr) {
    if (x.indptr[0] != 0) throw InvalidArgument(std::string(what) + ": indptr[0] must be 0");
    for (std::size_t r = 0; r < x.rows; ++r)
      if (x.indptr[r + 1] < x.indptr[r]) throw InvalidArgument(std::string(what) + ": indptr must be non-decreasing");
    std::int64_t nnz = x.indptr[x.rows];
    for (std::int64_t k = 0; k < nnz; ++k) {
      if (x.indices[k] >= x.cols) throw InvalidArgument(std::string(what) + ": column index out of range");
      if (!std::isfinite(x.values[k])) throw InvalidArgument(std::string(what) + ": non-finite feature value");
    }
  } else {
    for (std::size_t k = 0; k < x.rows * x.cols; ++k)
      if (!std::isfinite(x.dense[k])) throw InvalidArgument(std::string(what) + ": non-finite feature value (NaN or inf)");
  }
}

void softmax(float* z, int n) {
  float m = *std::max_element(z, z + n);
  double s = 0;
  for (int c = 0; c < n; ++c) s += (z[c] = std::exp(z[c] - m));
  float inv = static_cast<float>(1.0 / s);
  for (int c = 0; c < n; ++c) z[c] *= inv;
}

struct SplitMix {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  std::uint64_t below(std::uint64_t n) { return next() % n; }  // bias < 2^-40 for our sizes
};

}  // namespace

namespace {

// z[c] += v * w[c]: elementwise, so the AVX-512 and AVX2 clones give the same
// bits as the baseline (no fused multiply-add: -ffp-contract=off).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__SANITIZE_THREAD__)
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#endif
void axpy_rows(const std::int32_t* rows, const float* v, std::size_t n, const float* __restrict w, std::size_t nc,
               float* __restrict z) {
  for (std::size_t k = 0; k < n; ++k) {
    if (rows[k] < 0) continue;
    const float* __restrict wr = w + static_cast<std::size_t>(rows[k]) * nc;
    const float a = v[k];
    for (std::size_t c = 0; c < nc; ++c) z[c] += a * wr[c];
  }
}

}  // namespace

bool LinearModel::Impl::logits(const FeatureMatrix& x, std::size_t r, float* z, const DenseBlock* dense) const {
  std::copy(b.begin(), b.end(), z);
  const std::size_t nc = static_cast<std::size_t>(n_classes);
  // Rows of W first (the look-ups miss the cache; the products then stream).
  thread_local std::vector<std::int32_t> rows;
  thread_local std::vector<float> vals;
  rows.clear();
  vals.clear();
  for_row(x, r, [&](std::uint32_t col, float v) {
    rows.push_back(row_of(col));
    vals.push_back(v);
  });
  // Known: a sparse feature seen in training, or a non-zero dense vector. The dense columns
  // always have rows, so counting them called every text known and the `unseen` reason was
  // never given with dense features on (a text whose vector is zero gets the prior).
  bool known = std::any_of(rows.begin(), rows.end(), [](std::int32_t f) { return f >= 0; });
  if (dense) {
    for (std::size_t j = 0; j < dense->dim; ++j) {
      rows.push_back(row_of(dense->first_col + static_cast<std::uint32_t>(j)));
      // scale * value, rounded to float as it was when the block was a CSR entry
      vals.push_back(dense->scale * dense->values[r * dense->dim + j]);
      known = known || (vals.back() != 0.0f && rows.back() >= 0);
    }
  }
  axpy_rows(rows.data(), vals.data(), rows.size(), w.data(), nc, z);
  return known;
}

FeatureMatrix FeatureMatrix::from_sparse(const std::vector<SparseVector>& rows, std::size_t cols,
                                         std::vector<std::int64_t>& indptr, std::vector<std::uint32_t>& indices,
                                         std::vector<float>& values) {
  indptr.assign(1, 0);
  indices.clear();
  values.clear();
  for (const auto& r : rows) {
    indices.insert(indices.end(), r.index.begin(), r.index.end());
    values.insert(values.end(), r.value.begin(), r.value.end());
    indptr.push_back(static_cast<std::int64_t>(indices.size()));
  }
  FeatureMatrix m;
  m.rows = rows.size();
  m.cols = cols;
  m.indptr = indptr.data();
  m.indices = indices.data();
  m.values = values.data();
  return m;
}

LinearModel::LinearModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LinearModel::LinearModel(const LinearModel& o) : impl_(std::make_unique<Impl>(*o.impl_)) {}
LinearModel& LinearModel::operator=(const LinearModel& o) {
  if (this != &o) impl_ = std::make_unique<Impl>(*o.impl_);
  return *this;
}
LinearModel::LinearModel(LinearModel&&) noexcept = default;
LinearModel& LinearModel::operator=(LinearModel&&) noexcept = default;
LinearModel::~LinearModel() = default;

LinearModel LinearModel::fit(const FeatureMatrix& x, std::span<const std::int32_t> labels, int n_classes,
                             const TrainConfig& config) {
  if (x.rows == 0) throw InvalidArgument("fit needs at least one example");
  if (labels.size() != x.rows)
    throw InvalidArgument("labels has " + std::to_string(labels.size()) + " entries for " + std::to_string(x.rows) + " rows");
  if (n_classes < 2) throw InvalidArgument("fit needs at least 2 classes, got " + std::to_string(n_classes));
  for (auto y : labels)
    if (y < 0 || y >= n_classes) throw InvalidArgument("label " + std::to_string(y) + " out of range");
  if (config.epochs < 1 || !(config.learning_rate > 0) || !(config.l2 >= 0) || !(config.skip_grad >= 0))
    throw InvalidArgument("TrainConfig needs epochs >= 1, learning_rate > 0, l2 >= 0, skip_grad >= 0");
  check_matrix(x, "features");

  auto impl = std::make_unique<Impl>();
  impl->n_classes = n_classes;
  impl->cols = x.cols;
  // Compact the columns that occur, and the training rows into that space.
  std::vector<std::int64_t> ptr(1, 0);
  std::vector<std::int32_t> idx;
  std::vector<float> val;
  std::int32_t next = 0;
  if (x.cols <= kDenseColTable) impl->col_table.assign(x.cols, -1);
  for (std::size_t r = 0; r < x.rows; ++r) {
    for_row(x, r, [&](std::uint32_t col, float v) {
      std::int32_t f;
      if (!impl->col_table.empty()) {
        auto& slot = impl->col_table[col];
        if (slot < 0) slot = next++;
        f = slot;
      } else {
        auto [it, fresh] = impl->col_hash.try_emplace(col, next);
        if (fresh) ++next;
        f = it->second;
      }
      idx.push_back(f);
      val.push_back(v);
    });
    ptr.push_back(static_cast<std::int64_t>(idx.size()));
  }
  const std::size_t nf = static_cast<std::size_t>(next), nc = static_cast<std::size_t>(n_classes);
  impl->n_features = nf;
  impl->w.assign(nf * nc, 0.0f);
  impl->b.assign(nc, 0.0f);
  std::vector<float> gw(nf * nc, 0.0f), gb(nc, 0.0f);  // AdaGrad accumulators

  std::vector<std::size_t> order(x.rows);
  std::iota(order.begin(), order.end(), 0);
  SplitMix rng{config.seed};
  std::vector<float> p(nc), keep(nc);
  std::vector<std::uint32_t> act(nc);
  const float lr = config.learning_rate, l2 = config.l2;
  // 5e-3 (the default; was a fixed 1e-5) skips most class updates in late
  // epochs at equal accuracy (Banking77, docs/matching.md).
  const float skip = config.skip_grad;
  for (int epoch = 0; epoch < config.epochs; ++epoch) {
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
    for (std::size_t oi = 0; oi < order.size(); ++oi) {
      // A relaxed load every 256 examples: free beside an example's update, and a 10,000-category
      // fit (seconds per thousand examples) stops within a fraction of a second.
      if ((oi & 255) == 0 && config.stop != nullptr && config.stop->load(std::memory_order_relaxed)) throw FitStopped();
      const std::size_t r = order[oi];
      // Training is memory-bound: the rows of W and of the accumulators an
      // example touches lie far apart. Fetch the next example's W rows, and
      // this example's accumulator rows, while this one computes (~12% faster;
      // no effect on the result).
      if (oi + 1 < order.size()) {
        const std::size_t rn = order[oi + 1];
        for (std::int64_t k = ptr[rn]; k < ptr[rn + 1]; ++k) {
          const float* wn = impl->w.data() + static_cast<std::size_t>(idx[k]) * nc;
          for (std::size_t off = 0; off < nc; off += 16) __builtin_prefetch(wn + off);
        }
      }
      float* __restrict pp = p.data();
      std::copy(impl->b.begin(), impl->b.end(), pp);
      for (std::int64_t k = ptr[r]; k < ptr[r + 1]; ++k) {
        const float* __restrict wr = impl->w.data() + static_cast<std::size_t>(idx[k]) * nc;
        const float* gnext = gw.data() + static_cast<std::size_t>(idx[k]) * nc;
        for (std::size_t off = 0; off < nc; off += 16) __builtin_prefetch(gnext + off, 1);
        const float v = val[k];
        for (std::size_t c = 0; c < nc; ++c) pp[c] += v * wr[c];
      }
      softmax(pp, n_classes);
      pp[static_cast<std::size_t>(labels[r])] -= 1.0f;  // p is now the gradient wrt the logits
      // Negligible gradient entries (|g| < skip) are skipped. Two equivalent
      // loops: when few classes are active, over the list of active classes;
      // otherwise branch-free over all of them, masked (a masked entry adds
      // exactly 0 to its accumulator and subtracts exactly 0 from its weight,
      // the same bits as skipping it), which vectorizes.
      std::size_t na = 0;
      for (std::size_t c = 0; c < nc; ++c)
        if (std::fabs(pp[c]) >= skip) act[na++] = static_cast<std::uint32_t>(c);
      for (std::size_t a = 0; a < na; ++a) {
        const std::size_t c = act[a];
        gb[c] += pp[c] * pp[c];
        impl->b[c] -= lr * pp[c] / std::sqrt(gb[c] + kAdaEps);
      }
      if (na == 0) continue;
      const bool sparse = na * 4 <= nc;
      float* __restrict kp = keep.data();
      if (!sparse)
        for (std::size_t c = 0; c < nc; ++c) kp[c] = std::fabs(pp[c]) < skip ? 0.0f : 1.0f;
      for (std::int64_t k = ptr[r]; k < ptr[r + 1]; ++k) {
        const std::size_t f = static_cast<std::size_t>(idx[k]);
        float* __restrict wr = impl->w.data() + f * nc;
        float* __restrict gr = gw.data() + f * nc;
        const float v = val[k];
        if (sparse) {
          for (std::size_t a = 0; a < na; ++a) {
            const std::size_t c = act[a];
            const float grad = v * pp[c] + l2 * wr[c];
            gr[c] += grad * grad;
            wr[c] -= lr * grad / std::sqrt(gr[c] + kAdaEps);
          }
        } else {
          for (std::size_t c = 0; c < nc; ++c) {
            const float grad = kp[c] * (v * pp[c] + l2 * wr[c]);
            gr[c] += grad * grad;
            wr[c] -= lr * grad / std::sqrt(gr[c] + kAdaEps);
          }
        }
      }
    }
  }
  return LinearModel(std::move(impl));
}

void LinearModel::predict_proba(const FeatureMatrix& x, float* out, unsigned threads, float temperature,
                                std::uint8_t* known, const DenseBlock* dense) const {
  if (x.cols != impl_->cols)
    throw InvalidArgument("features have " + std::to_string(x.cols) + " columns, the model was trained on " +
                          std::to_string(impl_->cols));
  if (!(temperature > 0.0f) || !std::isfinite(temperature))
    throw InvalidArgument("temperature must be a positive finite number");
  check_matrix(x, "features");
  // An empty batch has no dense values to point at (an empty vector's data() may be null).
  if (dense && (dense->first_col + dense->dim > impl_->cols || (dense->dim && x.rows && !dense->values)))
    throw InvalidArgument("the dense block lies outside the model's columns");
  const int nc = impl_->n_classes;
  const float inv_t = 1.0f / temperature;
  util::parallel_for(x.rows, threads, 256, [&](std::size_t b, std::size_t e) {
    for (std::size_t r = b; r < e; ++r) {
      float* z = out + r * static_cast<std::size_t>(nc);
      const bool any = impl_->logits(x, r, z, dense);
      if (temperature != 1.0f)
        for (int c = 0; c < nc; ++c) z[c] *= inv_t;
      softmax(z, nc);
      if (known) known[r] = any ? 1 : 0;
    }
  });
}

std::vector<float> LinearModel::predict_proba(const SparseVector& v) const {
  std::int64_t ptr[2] = {0, static_cast<std::int64_t>(v.nnz())};
  FeatureMatrix x;
  x.rows = 1;
  x.cols = impl_->cols;
  x.indptr = ptr;
  x.indices = v.index.data();
  x.values = v.value.data();
  std::vector<float> out(static_cast<std::size_t>(impl_->n_classes));
  predict_proba(x, out.data(), 1);
  return out;
}

LinearModel::Parameters LinearModel::parameters() const {
  Parameters p;
  p.n_classes = impl_->n_classes;
  p.cols = impl_->cols;
  p.feature_cols.assign(impl_->n_features, 0);
  if (!impl_->col_table.empty()) {
    for (std::size_t col = 0; col < impl_->col_table.size(); ++col)
      if (impl_->col_table[col] >= 0) p.feature_cols[static_cast<std::size_t>(impl_->col_table[col])] = static_cast<std::uint32_t>(col);
  } else {
    for (const auto& [col, f] : impl_->col_hash) p.feature_cols[static_cast<std::size_t>(f)] = col;
  }
  p.w = impl_->w;
  p.b = impl_->b;
  return p;
}

LinearModel LinearModel::from_parameters(Parameters p) {
  if (p.n_classes < 2) throw InvalidArgument("a saved model needs at least 2 classes");
  const std::size_t nc = static_cast<std::size_t>(p.n_classes), nf = p.feature_cols.size();
  if (p.cols == 0 || p.cols > (std::size_t{1} << 32)) throw InvalidArgument("a saved model has a bad column count");
  if (p.b.size() != nc || p.w.size() / nc != nf || p.w.size() % nc != 0)
    throw InvalidArgument("a saved model's weights do not match its " + std::to_string(nf) + " features and " +
                          std::to_string(nc) + " classes");
  for (float v : p.w)
    if (!std::isfinite(v)) throw InvalidArgument("a saved model has a non-finite weight");
  for (float v : p.b)
    if (!std::isfinite(v)) throw InvalidArgument("a saved model has a non-finite bias");
  auto impl = std::make_unique<Impl>();
  impl->n_classes = p.n_classes;
  impl->cols = p.cols;
  impl->n_features = nf;
  if (p.cols <= kDenseColTable) impl->col_table.assign(p.cols, -1);
  for (std::size_t f = 0; f < nf; ++f) {
    const std::uint32_t col = p.feature_cols[f];
    if (col >= p.cols) throw InvalidArgument("a saved model names column " + std::to_string(col) + " of " + std::to_string(p.cols));
    bool fresh;
    if (!impl->col_table.empty()) {
      fresh = impl->col_table[col] < 0;
      impl->col_table[col] = static_cast<std::int32_t>(f);
    } else {
      fresh = impl->col_hash.try_emplace(col, static_cast<std::int32_t>(f)).second;
    }
    if (!fresh) throw InvalidArgument("a saved model names column " + std::to_string(col) + " twice");
  }
  impl->w = std::move(p.w);
  impl->b = std::move(p.b);
  return LinearModel(std::move(impl));
}

int LinearModel::n_classes() const { return impl_->n_classes; }
std::size_t LinearModel::n_features() const { return impl_->n_features; }

}  // namespace tagger::match
