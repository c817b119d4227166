// CategoryIndex: Embedder vectors scored by a LinearModel. A catalog is just
// a small labeled dataset (each category's id words, description and example
// phrasings), so the zero-shot and few-shot paths share one trainer.
#include <algorithm>
#include <cmath>
#include <numeric>
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

// The embedder's rows with the dense block appended after the sparse columns
// (indices stay increasing). Both parts have unit norm before weighting.
// Appends the dense block (weight x the text's static embedding) after the
// sparse columns [0, base); a no-op without a dense model.
void append_dense(std::vector<SparseVector>& rows, std::uint32_t base, const StaticEmbedding* dense, float weight,
                  const std::vector<std::string>& texts, unsigned threads) {
  if (dense == nullptr) return;
  const auto v = dense->embed_batch(texts, threads);
  const std::size_t d = dense->dim();
  util::parallel_for(rows.size(), threads, 256, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i) {
      auto& r = rows[i];
      r.index.reserve(r.index.size() + d);
      r.value.reserve(r.value.size() + d);
      for (std::size_t j = 0; j < d; ++j) {
        r.index.push_back(base + static_cast<std::uint32_t>(j));
        r.value.push_back(weight * v[i * d + j]);
      }
    }
  });
}

}  // namespace

CategoryIndex CategoryIndex::fit(const std::vector<std::string>& texts, const std::vector<std::string>& labels,
                                 Tokenizer tokenizer, const IndexConfig& config) {
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

  Embedder embedder(std::move(tokenizer), config.embedder);
  auto rows = embedder.fit_transform(texts, config.train.threads);
  append_dense(rows, static_cast<std::uint32_t>(embedder.dim()), config.dense.get(), config.dense_weight, texts,
               config.train.threads);
  std::vector<std::int64_t> indptr;
  std::vector<std::uint32_t> indices;
  std::vector<float> values;
  const std::size_t cols = embedder.dim() + (config.dense ? config.dense->dim() : 0);
  auto x = FeatureMatrix::from_sparse(rows, cols, indptr, indices, values);
  auto model = LinearModel::fit(x, y, static_cast<int>(sorted.size()), config.train);
  CategoryIndex index(std::move(sorted), std::move(embedder), std::move(model));
  index.require_latin_ = config.require_latin;
  index.dense_ = config.dense;
  index.dense_weight_ = config.dense_weight;
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
    std::size_t before = texts.size();
    texts.push_back(id_words(c.id));
    if (has_text(c.description)) texts.push_back(c.description);
    for (const auto& e : c.examples)
      if (has_text(e)) texts.push_back(e);
    if (texts.size() - before < 2)
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
  append_dense(rows, static_cast<std::uint32_t>(embedder_->dim()), dense_.get(), dense_weight_, texts, threads);
  std::vector<std::int64_t> indptr;
  std::vector<std::uint32_t> indices;
  std::vector<float> values;
  const std::size_t cols = embedder_->dim() + (dense_ ? dense_->dim() : 0);
  auto x = FeatureMatrix::from_sparse(rows, cols, indptr, indices, values);
  std::vector<float> out(texts.size() * categories_.size());
  std::vector<std::uint8_t> known(signals ? texts.size() : 0);
  model_->predict_proba(x, out.data(), threads, temperature_, signals ? known.data() : nullptr);
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
