// CategoryIndex: Embedder vectors scored by a LinearModel. A catalog is just
// a small labeled dataset (each category's id words, description and example
// phrasings), so the zero-shot and few-shot paths share one trainer.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <iterator>
#include <numeric>
#include <optional>
#include <span>
#include <unordered_map>
#include <unordered_set>

#include "tagger/errors.h"
#include "tagger/match.h"
#include "tagger/static_embedding.h"
#include "util/parallel.h"

namespace tagger::match {

CategoryIndex::CategoryIndex(std::vector<std::string> categories, Embedder embedder, LinearModel model)
    : categories_(std::move(categories)),
      embedder_(std::make_shared<const Embedder>(std::move(embedder))),
      model_(std::make_shared<const LinearModel>(std::move(model))) {}

namespace {

// "text/named_entities" -> "text named entities": the id is a phrasing too.
std::string id_words(const std::string& id) {
  std::string s = id;
  for (auto& ch : s)
    if (ch == '/' || ch == '_' || ch == '-') ch = ' ';
  return s;
}

bool has_text(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return !std::isspace(c); });
}

// Appends the dense block (weight x the text's static embedding, d values at
// columns [base, base + d)) after a row's sparse columns (indices stay
// increasing). Both parts have unit norm before weighting.
void append_dense(SparseVector& r, std::uint32_t base, const float* v, std::size_t d, float weight) {
  r.index.reserve(r.index.size() + d);
  r.value.reserve(r.value.size() + d);
  for (std::size_t j = 0; j < d; ++j) {
    r.index.push_back(base + static_cast<std::uint32_t>(j));
    r.value.push_back(weight * v[j]);
  }
}

// What the full model and every fold model share: each text's hashed
// features (extracted once) and its dense vector (embedded once).
struct Featurized {
  std::vector<std::vector<std::uint32_t>> features;
  std::vector<float> dense;  // n * d, empty without a dense model
  std::size_t d = 0;
};

// The texts' hashed features and dense vectors, a block of texts at a time so that a stop
// request (Ctrl-C) is seen between blocks: the fit read it only once training began, and
// featurizing 60,000 texts kept Ctrl-C waiting for up to 5 s.
Featurized featurize(const Embedder& embedder, const IndexConfig& config, const std::vector<std::string>& texts,
                     unsigned threads) {
  constexpr std::size_t kBlock = 4096;
  Featurized f;
  f.features.reserve(texts.size());
  if (config.dense) {
    f.d = config.dense->dim();
    f.dense.reserve(texts.size() * f.d);
  }
  const std::atomic<bool>* stop = config.train.stop;
  for (std::size_t b = 0; b < texts.size(); b += kBlock) {
    if (stop != nullptr && stop->load(std::memory_order_relaxed)) throw FitStopped();
    const std::size_t e = std::min(texts.size(), b + kBlock);
    const std::span<const std::string> block = std::span(texts).subspan(b, e - b);
    auto features = embedder.features_batch(block, threads);
    std::move(features.begin(), features.end(), std::back_inserter(f.features));
    if (config.dense) {
      const std::vector<float> dense = config.dense->embed_batch(block, threads);
      f.dense.insert(f.dense.end(), dense.begin(), dense.end());
    }
  }
  if (stop != nullptr && stop->load(std::memory_order_relaxed)) throw FitStopped();
  return f;
}

// Rows `rows` of the featurized texts weighed by `embedder`'s IDF, with the
// dense block when `dense_weight` is given (training), as CSR arrays.
FeatureMatrix matrix_of(const Embedder& embedder, const Featurized& f, const std::vector<std::uint32_t>& rows,
                        std::optional<float> dense_weight, unsigned threads, std::vector<std::int64_t>& indptr,
                        std::vector<std::uint32_t>& indices, std::vector<float>& values) {
  std::vector<SparseVector> out(rows.size());
  const auto base = static_cast<std::uint32_t>(embedder.dim());
  util::parallel_for(rows.size(), threads, 256, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i) {
      out[i] = embedder.weigh(f.features[rows[i]]);
      if (f.d && dense_weight)
        append_dense(out[i], base, f.dense.data() + static_cast<std::size_t>(rows[i]) * f.d, f.d, *dense_weight);
    }
  });
  return FeatureMatrix::from_sparse(out, embedder.dim() + f.d, indptr, indices, values);
}

// Runs tasks 0..n-1 on up to `threads` threads, biggest first (the caller
// orders them so); each task writes only its own result, so the outcome does
// not depend on the thread count or on which thread ran what.
template <class Fn>
void run_tasks(std::size_t n, unsigned threads, Fn&& fn) {
  const std::size_t t = std::min<std::size_t>(util::resolve_threads(threads), n);
  if (t <= 1) {
    for (std::size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<std::size_t> next{0};
  util::parallel_for(t, static_cast<unsigned>(t), 1, [&](std::size_t, std::size_t) {
    for (std::size_t i; (i = next.fetch_add(1)) < n;) fn(i);
  });
}

}  // namespace

CategoryIndex CategoryIndex::fit(const std::vector<std::string>& texts, const std::vector<std::string>& labels,
                                 Tokenizer tokenizer, const IndexConfig& config) {
  return fit_with_folds(texts, labels, std::move(tokenizer), config, {}, nullptr);
}

CategoryIndex CategoryIndex::fit_with_folds(const std::vector<std::string>& texts, const std::vector<std::string>& labels,
                                            Tokenizer tokenizer, const IndexConfig& config,
                                            const std::vector<Fold>& folds, std::vector<FoldScores>* scores) {
  if (texts.size() != labels.size())
    throw InvalidArgument("fit got " + std::to_string(texts.size()) + " texts and " + std::to_string(labels.size()) +
                          " labels");
  if (texts.empty()) throw InvalidArgument("fit needs at least one labeled example");
  std::vector<std::string> names;
  std::unordered_map<std::string, std::int32_t> id_of;
  std::vector<std::int32_t> y;
  y.reserve(labels.size());
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i].empty()) throw InvalidArgument("label " + std::to_string(i) + " is empty");
    if (!has_text(texts[i])) throw InvalidArgument("text " + std::to_string(i) + " is empty");
    auto [it, fresh] = id_of.try_emplace(labels[i], static_cast<std::int32_t>(names.size()));
    if (fresh) names.push_back(labels[i]);
    y.push_back(it->second);
  }
  if (names.size() < 2) throw InvalidArgument("fit needs examples of at least 2 categories");
  // Categories in sorted order, so the index does not depend on example order.
  std::vector<std::int32_t> perm(names.size());
  std::iota(perm.begin(), perm.end(), 0);
  std::sort(perm.begin(), perm.end(), [&](auto a, auto b) { return names[a] < names[b]; });
  std::vector<std::int32_t> rank(names.size());
  std::vector<std::string> sorted(names.size());
  for (std::size_t r = 0; r < perm.size(); ++r) rank[perm[r]] = static_cast<std::int32_t>(r), sorted[r] = names[perm[r]];
  for (auto& v : y) v = rank[v];
  for (std::size_t k = 0; k < folds.size(); ++k) {
    for (const auto* part : {&folds[k].train, &folds[k].eval})
      for (auto r : *part)
        if (r >= texts.size())
          throw InvalidArgument("fold " + std::to_string(k) + " names example " + std::to_string(r) + " of " +
                                std::to_string(texts.size()));
    if (folds[k].train.empty()) throw InvalidArgument("fold " + std::to_string(k) + " has no training examples");
  }

  const unsigned threads = util::resolve_threads(config.train.threads);
  Embedder embedder(std::move(tokenizer), config.embedder);
  Featurized f = featurize(embedder, config, texts, threads);
  // Task 0 is the full model, task k + 1 fold k; with several tasks each runs
  // on one thread and the tasks run side by side.
  const std::size_t n_tasks = 1 + folds.size();
  const unsigned inner = n_tasks > 1 ? 1 : threads;
  std::vector<std::uint32_t> all(texts.size());
  std::iota(all.begin(), all.end(), 0u);
  embedder.fit_idf_features(f.features);  // before the fold tasks copy the embedder
  const auto base = static_cast<std::uint32_t>(embedder.dim());
  std::optional<LinearModel> full;
  std::vector<FoldScores> fold_out(folds.size());
  run_tasks(n_tasks, threads, [&](std::size_t task) {
    std::vector<std::int64_t> indptr;
    std::vector<std::uint32_t> indices;
    std::vector<float> values;
    if (task == 0) {
      auto x = matrix_of(embedder, f, all, config.dense_weight, inner, indptr, indices, values);
      full.emplace(LinearModel::fit(x, y, static_cast<int>(sorted.size()), config.train));
      return;
    }
    const Fold& fold = folds[task - 1];
    Embedder e = embedder;  // shares the tokenizer; gets its own IDF below
    e.fit_idf_features(f.features, &fold.train);
    // The fold's categories: those with a training example, in index order.
    std::vector<std::int32_t> local(sorted.size(), -1);
    for (auto r : fold.train) local[y[r]] = 0;
    FoldScores& out = fold_out[task - 1];
    for (std::size_t c = 0; c < sorted.size(); ++c)
      if (local[c] == 0) local[c] = static_cast<std::int32_t>(out.categories.size()), out.categories.push_back(sorted[c]);
    if (out.categories.size() < 2)
      throw InvalidArgument("fold " + std::to_string(task - 1) + " trains on fewer than 2 categories");
    std::vector<std::int32_t> yf;
    yf.reserve(fold.train.size());
    for (auto r : fold.train) yf.push_back(local[y[r]]);
    auto x = matrix_of(e, f, fold.train, config.dense_weight, 1, indptr, indices, values);
    const auto model = LinearModel::fit(x, yf, static_cast<int>(out.categories.size()), config.train);
    // Scored as predict_proba scores: the dense block beside the sparse rows.
    auto xe = matrix_of(e, f, fold.eval, std::nullopt, 1, indptr, indices, values);
    std::vector<float> v;
    LinearModel::DenseBlock block;
    if (f.d) {
      v.reserve(fold.eval.size() * f.d);
      for (auto r : fold.eval) v.insert(v.end(), f.dense.begin() + r * f.d, f.dense.begin() + (r + 1) * f.d);
      block = {base, f.d, v.data(), config.dense_weight};
    }
    out.proba.resize(fold.eval.size() * out.categories.size());
    model.predict_proba(xe, out.proba.data(), 1, 1.0f, nullptr, f.d ? &block : nullptr);
  });
  CategoryIndex index(std::move(sorted), std::move(embedder), std::move(*full));
  index.require_latin_ = config.require_latin;
  index.dense_ = config.dense;
  index.dense_weight_ = config.dense_weight;
  if (scores) *scores = std::move(fold_out);
  return index;
}

CategoryIndex CategoryIndex::from_catalog(const std::vector<Category>& catalog, Tokenizer tokenizer,
                                          const IndexConfig& config) {
  if (catalog.empty()) throw InvalidArgument("the category catalog is empty");
  if (catalog.size() < 2) throw InvalidArgument("a category catalog needs at least 2 categories");
  std::unordered_set<std::string> seen;
  std::vector<std::string> texts, labels;
  for (const auto& c : catalog) {
    if (c.id.empty()) throw InvalidArgument("a catalog category has an empty id");
    if (!seen.insert(c.id).second) throw InvalidArgument("duplicate category id in catalog: " + c.id);
    // An id of separators only ("///") has no words: its texts are the description and examples
    // (an empty first text failed the fit as "text 0 is empty", naming no category).
    const std::string words = id_words(c.id);
    if (has_text(words)) texts.push_back(words);
    const std::size_t before = texts.size();
    if (has_text(c.description)) texts.push_back(c.description);
    for (const auto& e : c.examples)
      if (has_text(e)) texts.push_back(e);
    if (texts.size() == before)
      throw InvalidArgument("category " + c.id + " has neither a description nor examples");
    labels.resize(texts.size(), c.id);
  }
  return fit(texts, labels, std::move(tokenizer), config);
}

std::vector<float> CategoryIndex::predict_proba(const std::vector<std::string>& texts, unsigned threads,
                                                std::vector<TextSignal>* signals) const {
  // No check throws here: one odd text must not cost the caller the whole
  // batch. A text without known features scores the prior softmax(b / T).
  auto rows = embedder_->embed_batch(texts, threads);
  std::vector<std::int64_t> indptr;
  std::vector<std::uint32_t> indices;
  std::vector<float> values;
  const std::size_t cols = embedder_->dim() + (dense_ ? dense_->dim() : 0);
  auto x = FeatureMatrix::from_sparse(rows, cols, indptr, indices, values);
  // The dense block goes to the model as it is (no copy into the CSR rows).
  std::vector<float> v;
  LinearModel::DenseBlock block;
  if (dense_) {
    v = dense_->embed_batch(texts, threads);
    block = {static_cast<std::uint32_t>(embedder_->dim()), dense_->dim(), v.data(), dense_weight_};
  }
  std::vector<float> out(texts.size() * categories_.size());
  std::vector<std::uint8_t> known(signals ? texts.size() : 0);
  model_->predict_proba(x, out.data(), threads, temperature_, signals ? known.data() : nullptr, dense_ ? &block : nullptr);
  if (signals) {
    signals->resize(texts.size());
    for (std::size_t i = 0; i < texts.size(); ++i) {
      auto s = text_signal(texts[i], require_latin_);
      (*signals)[i] = s == TextSignal::ok && !known[i] ? TextSignal::unseen : s;
    }
  }
  return out;
}

void CategoryIndex::set_temperature(float t) {
  if (!(t > 0.0f) || !std::isfinite(t)) throw InvalidArgument("temperature must be a positive finite number");
  temperature_ = t;
}

std::vector<std::int32_t> CategoryIndex::predict(const std::vector<std::string>& texts, unsigned threads) const {
  auto p = predict_proba(texts, threads);
  const std::size_t c = categories_.size();
  std::vector<std::int32_t> out(texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i)
    out[i] = static_cast<std::int32_t>(std::max_element(p.begin() + i * c, p.begin() + (i + 1) * c) - (p.begin() + i * c));
  return out;
}

std::vector<std::vector<Match>> CategoryIndex::top_k_batch(const std::vector<std::string>& texts, int k,
                                                           unsigned threads) const {
  if (k < 1) throw InvalidArgument("k must be >= 1, got " + std::to_string(k));
  auto p = predict_proba(texts, threads);
  const std::size_t c = categories_.size(), kk = std::min<std::size_t>(static_cast<std::size_t>(k), c);
  std::vector<std::vector<Match>> out(texts.size());
  std::vector<std::int32_t> order(c);
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const float* row = p.data() + i * c;
    std::iota(order.begin(), order.end(), 0);
    // Ties broken by category name order (the index order), so results are stable.
    std::partial_sort(order.begin(), order.begin() + kk, order.end(),
                      [&](auto a, auto b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
    for (std::size_t j = 0; j < kk; ++j) out[i].push_back({categories_[order[j]], row[order[j]]});
  }
  return out;
}

std::vector<Match> CategoryIndex::top_k(std::string_view text, int k) const {
  return std::move(top_k_batch({std::string(text)}, k, 1)[0]);
}

const std::vector<std::string>& CategoryIndex::categories() const { return categories_; }
const Embedder& CategoryIndex::embedder() const { return *embedder_; }
const LinearModel& CategoryIndex::model() const { return *model_; }

}  // namespace tagger::match
