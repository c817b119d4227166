// ZeroShotScorer: token alignment + dense similarity to a catalog's texts
// (tagger/zero_shot.h). Queries are scored in chunks: the tokens of a chunk's
// queries are deduplicated, and each distinct token's cosines to the catalog
// tokens (and its best match in every catalog text) are computed once.
#include "tagger/zero_shot.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "tagger/errors.h"
#include "tagger/static_embedding.h"
#include "util/parallel.h"

namespace tagger::match {

using RowMat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct ZeroShotScorer::Impl {
  std::shared_ptr<const StaticEmbedding> emb;
  ZeroShotConfig cfg;
  int n = 0;             // categories
  std::size_t d = 0;     // dim
  std::vector<double> norm;  // per vocabulary token: ||row|| (0 for tokens the scorer ignores)
  std::vector<int> df;       // per vocabulary token: categories whose texts hold it
  std::vector<int> vocab;    // the catalog's distinct tokens, increasing
  RowMat unit;               // vocab.size() x d unit rows
  // One "unit" per catalog text, or per category when pooled: its token
  // sequence as columns of `unit`, its category, and (precision) weights.
  std::vector<std::vector<int>> cols;
  std::vector<int> unit_label;
  std::vector<std::vector<double>> col_w;
  std::vector<double> col_wsum;
  std::vector<float> dense;  // texts x d sentence vectors
  // categories x d: the mean of a category's text vectors (the mean cosine is
  // the cosine to it, with a sixth of the work)
  std::vector<double> centroid;
  std::vector<int> text_label;
  std::vector<double> count;  // texts per category

  double weight_df(int id, double d) const {
    const double idf = std::log(static_cast<double>(n + 1) / (d + 1.0)) + 1.0;
    return norm[id] * std::pow(idf, cfg.idf_power);
  }
  double weight(int id) const { return weight_df(id, static_cast<double>(df[id])); }
  std::vector<int> tokens(const std::string& text) const {
    auto ids = emb->tokenizer().encode(text);
    std::erase_if(ids, [&](int i) { return !(norm[i] > 0); });
    return ids;
  }
};

namespace {

void check_config(const ZeroShotConfig& c) {
  auto bad = [](double v) { return !std::isfinite(v) || v < 0; };
  if (bad(c.idf_power)) throw InvalidArgument("zero-shot idf_power must be finite and >= 0");
  if (bad(c.align_weight) || bad(c.dense_weight)) throw InvalidArgument("zero-shot weights must be finite and >= 0");
  if (bad(c.unseen_df) || bad(c.soft_df_power)) throw InvalidArgument("zero-shot unseen_df and soft_df_power must be finite and >= 0");
  if (!(c.precision_weight >= 0 && c.precision_weight <= 1))
    throw InvalidArgument("zero-shot precision_weight must be in [0, 1]");
}

// z-scores over the row (population standard deviation); zeros when constant.
void zscore(std::vector<double>& s) {
  double mean = 0;
  for (double v : s) mean += v;
  mean /= static_cast<double>(s.size());
  double var = 0;
  for (double v : s) var += (v - mean) * (v - mean);
  const double sd = std::sqrt(var / static_cast<double>(s.size()));
  for (double& v : s) v = sd > 0 ? (v - mean) / sd : 0.0;
}

}  // namespace

ZeroShotScorer ZeroShotScorer::build(std::shared_ptr<const StaticEmbedding> embedding, const std::vector<std::string>& texts,
                                     const std::vector<int>& labels, int n_categories, ZeroShotConfig config,
                                     unsigned threads) {
  if (!embedding) throw InvalidArgument("zero-shot scoring needs a static embedding");
  if (texts.size() != labels.size())
    throw InvalidArgument("zero-shot scorer got " + std::to_string(texts.size()) + " texts and " +
                          std::to_string(labels.size()) + " labels");
  if (n_categories <= 0) throw InvalidArgument("zero-shot scorer needs at least one category");
  check_config(config);
  auto im = std::make_shared<Impl>();
  im->emb = std::move(embedding);
  im->cfg = config;
  im->n = n_categories;
  im->d = im->emb->dim();
  const std::size_t v = static_cast<std::size_t>(im->emb->tokenizer().vocab_size()), d = im->d;
  im->norm.resize(v);
  for (std::size_t i = 0; i < v; ++i) {
    const float* r = im->emb->row(static_cast<int>(i));
    double s = 0;
    for (std::size_t k = 0; k < d; ++k) s += static_cast<double>(r[k]) * r[k];
    im->norm[i] = std::sqrt(s);
  }
  im->count.assign(n_categories, 0.0);
  for (std::size_t j = 0; j < labels.size(); ++j) {
    if (labels[j] < 0 || labels[j] >= n_categories)
      throw InvalidArgument("zero-shot label " + std::to_string(labels[j]) + " of text " + std::to_string(j) +
                            " is not in [0, " + std::to_string(n_categories) + ")");
    im->count[labels[j]] += 1;
  }
  for (int c = 0; c < n_categories; ++c)
    if (im->count[c] == 0) throw InvalidArgument("zero-shot category " + std::to_string(c) + " has no texts");
  im->text_label = labels;

  std::vector<std::vector<int>> toks(texts.size());
  for (std::size_t j = 0; j < texts.size(); ++j) toks[j] = im->tokens(texts[j]);
  im->df.assign(v, 0);
  std::vector<int> seen_in(v, -1);  // last category counted, per token
  std::vector<std::size_t> by_cat(texts.size());
  for (std::size_t j = 0; j < texts.size(); ++j) by_cat[j] = j;
  std::stable_sort(by_cat.begin(), by_cat.end(), [&](auto a, auto b) { return labels[a] < labels[b]; });
  for (std::size_t j : by_cat)
    for (int id : toks[j])
      if (seen_in[id] != labels[j]) {
        seen_in[id] = labels[j];
        ++im->df[id];
      }

  std::vector<int> pos(v, -1);
  for (const auto& t : toks)
    for (int id : t) pos[id] = 0;
  for (std::size_t i = 0; i < v; ++i)
    if (pos[i] == 0) {
      pos[i] = static_cast<int>(im->vocab.size());
      im->vocab.push_back(static_cast<int>(i));
    }
  im->unit.resize(static_cast<Eigen::Index>(im->vocab.size()), static_cast<Eigen::Index>(d));
  for (std::size_t a = 0; a < im->vocab.size(); ++a) {
    const float* r = im->emb->row(im->vocab[a]);
    for (std::size_t k = 0; k < d; ++k) im->unit(a, k) = static_cast<double>(r[k]) / im->norm[im->vocab[a]];
  }

  const std::size_t units = config.pooled ? static_cast<std::size_t>(n_categories) : texts.size();
  im->cols.assign(units, {});
  im->col_w.assign(units, {});
  im->col_wsum.assign(units, 0.0);
  im->unit_label.resize(units);
  for (std::size_t u = 0; u < units; ++u) im->unit_label[u] = config.pooled ? static_cast<int>(u) : labels[u];
  for (std::size_t j = 0; j < texts.size(); ++j) {
    const std::size_t u = config.pooled ? static_cast<std::size_t>(labels[j]) : j;
    for (int id : toks[j]) {
      im->cols[u].push_back(pos[id]);
      im->col_w[u].push_back(im->weight(id));
    }
  }
  for (std::size_t u = 0; u < units; ++u)
    for (double w : im->col_w[u]) im->col_wsum[u] += w;
  im->dense = im->emb->embed_batch(texts, threads);
  im->centroid.assign(static_cast<std::size_t>(n_categories) * d, 0.0);
  for (std::size_t j = 0; j < texts.size(); ++j)
    for (std::size_t k = 0; k < d; ++k) im->centroid[static_cast<std::size_t>(labels[j]) * d + k] += im->dense[j * d + k];
  for (int c = 0; c < n_categories; ++c)
    for (std::size_t k = 0; k < d; ++k) im->centroid[static_cast<std::size_t>(c) * d + k] /= im->count[static_cast<std::size_t>(c)];
  return ZeroShotScorer(std::move(im));
}

int ZeroShotScorer::n_categories() const { return impl_->n; }
const ZeroShotConfig& ZeroShotScorer::config() const { return impl_->cfg; }

std::vector<double> ZeroShotScorer::scores(const std::vector<std::string>& texts, unsigned threads) const {
  const Impl& im = *impl_;
  const std::size_t n = static_cast<std::size_t>(im.n), d = im.d, nv = im.vocab.size(), units = im.cols.size();
  const std::size_t nt = im.text_label.size();
  const bool precision = im.cfg.precision_weight > 0;
  std::vector<double> out(texts.size() * n, 0.0);
  // Bounds the per-chunk tables (distinct tokens x catalog texts / tokens).
  constexpr std::size_t kChunk = 4096;
  std::vector<int> slot(static_cast<std::size_t>(im.emb->tokenizer().vocab_size()), -1);
  for (std::size_t c0 = 0; c0 < texts.size(); c0 += kChunk) {
    const std::size_t c1 = std::min(texts.size(), c0 + kChunk);
    std::vector<std::vector<int>> q(c1 - c0);
    util::parallel_for(q.size(), threads, 32, [&](std::size_t b, std::size_t e) {
      for (std::size_t i = b; i < e; ++i) q[i] = im.tokens(texts[c0 + i]);
    });
    std::vector<int> distinct;
    for (const auto& t : q)
      for (int id : t)
        if (slot[id] < 0) {
          slot[id] = static_cast<int>(distinct.size());
          distinct.push_back(id);
        }
    // best[s * units + u]: token s's best cosine in unit u; sims[s * nv + a]: its cosine to catalog token a.
    std::vector<double> best(distinct.size() * units), sims(precision ? distinct.size() * nv : 0);
    std::vector<double> qw(distinct.size());  // each distinct token's weight as a query token
    util::parallel_for(distinct.size(), threads, 16, [&](std::size_t b, std::size_t e) {
      Eigen::VectorXd u(static_cast<Eigen::Index>(d)), s(static_cast<Eigen::Index>(nv));
      for (std::size_t k = b; k < e; ++k) {
        const float* r = im.emb->row(distinct[k]);
        const double nr = im.norm[distinct[k]];
        for (std::size_t x = 0; x < d; ++x) u[static_cast<Eigen::Index>(x)] = static_cast<double>(r[x]) / nr;
        if (nv > 0) s.noalias() = im.unit * u;
        for (std::size_t t = 0; t < units; ++t) {
          double m = -std::numeric_limits<double>::infinity();
          for (int a : im.cols[t]) m = std::max(m, s[a]);
          best[k * units + t] = m;
        }
        if (precision) std::copy(s.data(), s.data() + nv, sims.data() + k * nv);
        double df = std::max(static_cast<double>(im.df[distinct[k]]), im.cfg.unseen_df);
        if (im.cfg.soft_df_power > 0) {
          std::vector<double> cat(n, 0.0);
          for (std::size_t t = 0; t < units; ++t)
            cat[im.unit_label[t]] = std::max(cat[im.unit_label[t]], best[k * units + t]);
          df = 0;
          for (double v : cat) df += std::pow(v, im.cfg.soft_df_power);
        }
        qw[k] = im.weight_df(distinct[k], df);
      }
    });
    util::parallel_for(q.size(), threads, 8, [&](std::size_t b, std::size_t e) {
      std::vector<double> align(n), dense(n), pmax(precision ? nv : 0);
      std::vector<float> qv(d);
      for (std::size_t i = b; i < e; ++i) {
        const auto& ids = q[i];
        double* row = out.data() + (c0 + i) * n;
        if (ids.empty()) continue;  // zeros: no known token, no dense vector either
        std::vector<double> w(ids.size());
        double wsum = 0;
        for (std::size_t k = 0; k < ids.size(); ++k) wsum += (w[k] = qw[static_cast<std::size_t>(slot[ids[k]])]);
        std::fill(align.begin(), align.end(), -std::numeric_limits<double>::infinity());
        if (precision) {
          std::fill(pmax.begin(), pmax.end(), -std::numeric_limits<double>::infinity());
          for (int id : ids) {
            const double* s = sims.data() + static_cast<std::size_t>(slot[id]) * nv;
            for (std::size_t a = 0; a < nv; ++a) pmax[a] = std::max(pmax[a], s[a]);
          }
        }
        for (std::size_t t = 0; t < units; ++t) {
          if (im.cols[t].empty()) continue;
          double r = 0;
          for (std::size_t k = 0; k < ids.size(); ++k) r += w[k] * best[static_cast<std::size_t>(slot[ids[k]]) * units + t];
          r /= wsum;
          if (precision) {
            double p = 0;
            for (std::size_t a = 0; a < im.cols[t].size(); ++a) p += im.col_w[t][a] * pmax[im.cols[t][a]];
            p /= im.col_wsum[t];
            r = (1 - im.cfg.precision_weight) * r + im.cfg.precision_weight * p;
          }
          double& cell = align[im.unit_label[t]];
          cell = std::max(cell, r);
        }
        for (double& a : align)
          if (!std::isfinite(a)) a = 0.0;
        im.emb->embed_into(texts[c0 + i], qv.data());
        if (im.cfg.dense_max) {
          std::fill(dense.begin(), dense.end(), -std::numeric_limits<double>::infinity());
          for (std::size_t j = 0; j < nt; ++j) {
            const float* tv = im.dense.data() + j * d;
            double c = 0;
            for (std::size_t x = 0; x < d; ++x) c += static_cast<double>(qv[x]) * tv[x];
            dense[im.text_label[j]] = std::max(dense[im.text_label[j]], c);
          }
        } else {
          for (std::size_t c = 0; c < n; ++c) {
            const double* cv = im.centroid.data() + c * d;
            double v = 0;
            for (std::size_t x = 0; x < d; ++x) v += qv[x] * cv[x];
            dense[c] = v;
          }
        }
        zscore(align);
        zscore(dense);
        for (std::size_t c = 0; c < n; ++c) row[c] = im.cfg.align_weight * align[c] + im.cfg.dense_weight * dense[c];
      }
    });
    for (int id : distinct) slot[id] = -1;
  }
  return out;
}

std::vector<float> ZeroShotScorer::predict_proba(const std::vector<std::string>& texts, double temperature,
                                                 unsigned threads) const {
  if (!(temperature > 0) || !std::isfinite(temperature))
    throw InvalidArgument("temperature must be finite and > 0, got " + std::to_string(temperature));
  const std::size_t n = static_cast<std::size_t>(impl_->n);
  auto s = scores(texts, threads);
  std::vector<float> out(s.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const double* r = s.data() + i * n;
    double mx = -std::numeric_limits<double>::infinity();
    for (std::size_t c = 0; c < n; ++c) mx = std::max(mx, r[c] / temperature);
    double z = 0;
    for (std::size_t c = 0; c < n; ++c) z += std::exp(r[c] / temperature - mx);
    for (std::size_t c = 0; c < n; ++c) out[i * n + c] = static_cast<float>(std::exp(r[c] / temperature - mx) / z);
  }
  return out;
}

}  // namespace tagger::match
