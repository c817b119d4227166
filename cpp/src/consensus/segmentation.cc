// Image segmentation aggregation, per task, on 0/1 masks: weighted majority
// vote, RASA (workers reweighted by 1 - IoU with the current vote) and the
// one-coin EM of Jung-Lin Lee et al. (2018), step for step as crowd-kit 1.4.2
// computes them. Sums that decide a threshold use numpy's summation order
// (sequential across workers, pairwise along pixels) so that ties at 0.5
// fall the same way.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <string>

#include "tagger/consensus_families.h"
#include "tagger/errors.h"

namespace tagger::consensus {
namespace {

// numpy's pairwise_sum for a contiguous double array (8 accumulators, blocks of 128).
double np_sum(const double* a, std::size_t n) {
  if (n < 8) {
    double r = -0.0;
    for (std::size_t i = 0; i < n; ++i) r += a[i];
    return r;
  }
  if (n <= 128) {
    double r[8];
    for (int k = 0; k < 8; ++k) r[k] = a[k];
    std::size_t i = 8;
    for (; i < n - (n % 8); i += 8)
      for (int k = 0; k < 8; ++k) r[k] += a[i + static_cast<std::size_t>(k)];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  std::size_t n2 = n / 2;
  n2 -= n2 % 8;
  return np_sum(a, n2) + np_sum(a + n2, n - n2);
}
double np_sum(const std::vector<double>& v) { return np_sum(v.data(), v.size()); }

// numpy.nan_to_num(x, nan=0): NaN -> 0, +-inf -> +-DBL_MAX.
double nan_to_num(double x) {
  if (std::isnan(x)) return 0.0;
  if (std::isinf(x)) return x > 0 ? DBL_MAX : -DBL_MAX;
  return x;
}

struct Task {
  const std::uint8_t* px;  // first answer's mask
  std::size_t n;           // answers
  std::size_t P;           // pixels per mask
  std::size_t out;         // offset of the task's output mask
  std::size_t first;       // index of its first answer
  std::uint8_t at(std::size_t k, std::size_t p) const { return px[k * P + p] != 0; }
};

std::vector<Task> tasks_of(const MaskBatch& b) {
  if (b.task_start.empty()) throw InvalidArgument("segmentation: task_start must have n_tasks + 1 entries");
  const std::size_t T = b.task_start.size() - 1;
  if (b.task_pixels.size() != T) throw InvalidArgument("segmentation: task_pixels must have one entry per task");
  if (b.task_start[0] != 0) throw InvalidArgument("segmentation: task_start must begin at 0");
  std::vector<Task> out;
  out.reserve(T);
  std::size_t off = 0, out_off = 0;
  for (std::size_t t = 0; t < T; ++t) {
    const std::int64_t a = b.task_start[t], e = b.task_start[t + 1], P = b.task_pixels[t];
    if (e <= a || P < 0) throw InvalidArgument("segmentation: every task needs at least one answer and a pixel count >= 0");
    const std::size_t n = static_cast<std::size_t>(e - a), p = static_cast<std::size_t>(P);
    if (off + n * p > b.pixels.size()) throw InvalidArgument("segmentation: pixels is shorter than the masks it should hold");
    out.push_back({b.pixels.data() + off, n, p, out_off, static_cast<std::size_t>(a)});
    off += n * p;
    out_off += p;
  }
  if (off != b.pixels.size()) throw InvalidArgument("segmentation: pixels is longer than the masks it should hold");
  return out;
}

std::size_t total_pixels(const std::vector<Task>& ts) { return ts.empty() ? 0 : ts.back().out + ts.back().P; }

// RASA for one task; weights of its answers end in `w`.
void rasa_one(const Task& t, std::int32_t n_iter, double tol, std::uint8_t* mv, double* w,
              std::vector<double>& loss_history) {
  const std::size_t n = t.n, P = t.P;
  std::vector<double> weights(n, 1.0 / static_cast<double>(n)), weighted(P), last(P), dist(n), logs(n);
  bool have_last = false;
  loss_history.clear();
  for (std::int32_t it = 0; it < n_iter; ++it) {
    std::fill(weighted.begin(), weighted.end(), 0.0);
    for (std::size_t k = 0; k < n; ++k)
      for (std::size_t p = 0; p < P; ++p) weighted[p] += weights[k] * static_cast<double>(t.at(k, p));
    for (std::size_t p = 0; p < P; ++p) mv[p] = weighted[p] >= 0.5;
    for (std::size_t k = 0; k < n; ++k) {
      double inter = 0, uni = 0;
      for (std::size_t p = 0; p < P; ++p) { inter += t.at(k, p) & mv[p]; uni += t.at(k, p) | mv[p]; }
      dist[k] = 1 - inter / uni;  // 0/0 = NaN for two empty masks, as numpy
      logs[k] = std::log(1 / (dist[k] + 1e-5) + 1);
    }
    const double s = np_sum(logs);
    for (std::size_t k = 0; k < n; ++k) weights[k] = logs[k] / s;
    if (have_last) {
      double num = 0, den = 0;
      // (delta * delta).sum() over a 1-d/2-d contiguous mask: pairwise
      std::vector<double> d2(P), w2(P);
      for (std::size_t p = 0; p < P; ++p) { const double d = weighted[p] - last[p]; d2[p] = d * d; w2[p] = weighted[p] * weighted[p]; }
      num = np_sum(d2);
      den = np_sum(w2);
      const double loss = num / den;
      loss_history.push_back(loss);
      if (loss < tol) break;
    }
    last = weighted;
    have_last = true;
  }
  std::copy(weights.begin(), weights.end(), w);
}

// crowd-kit's SegmentationEM._m_step: P(worker marks a pixel correctly).
void em_m_step(const Task& t, const std::vector<double>& post, double region, const std::vector<double>& sizes,
               std::vector<double>& errors) {
  const double post_sum = np_sum(post);
  std::vector<double> prod(t.P);
  for (std::size_t k = 0; k < t.n; ++k) {
    for (std::size_t p = 0; p < t.P; ++p) prod[p] = static_cast<double>(t.at(k, p)) * post[p];
    errors[k] = 1 - (sizes[k] + post_sum - 2 * np_sum(prod)) / region;
  }
}

void em_one(const Task& t, std::int32_t n_iter, double tol, double eps, std::uint8_t* out, double* w_out,
            std::vector<double>& loss_history) {
  const std::size_t n = t.n, P = t.P;
  std::vector<double> priors(P, 0.0), sizes(n, 0.0), errors(n), post(P);
  std::size_t region = 0;
  for (std::size_t p = 0; p < P; ++p) {
    std::size_t c = 0;
    for (std::size_t k = 0; k < n; ++k) c += t.at(k, p);
    priors[p] = static_cast<double>(c) / static_cast<double>(n);
    region += c > 0;
  }
  loss_history.clear();
  if (region == 0) {  // nobody marked anything: crowd-kit returns an empty mask and keeps the old history
    std::fill(out, out + P, 0);
    std::fill(w_out, w_out + n, std::numeric_limits<double>::quiet_NaN());
    return;
  }
  for (std::size_t k = 0; k < n; ++k) {
    std::size_t c = 0;
    for (std::size_t p = 0; p < P; ++p) c += t.at(k, p);
    sizes[k] = static_cast<double>(c);
  }
  for (std::size_t p = 0; p < P; ++p) post[p] = std::nearbyint(priors[p]);  // numpy round: half to even
  em_m_step(t, post, static_cast<double>(region), sizes, errors);
  double loss = -std::numeric_limits<double>::infinity();
  // weighted_seg = e*s + (1-e)*(1-s) takes two values per worker (s = 0 or 1),
  // so its logs are computed per worker and per pixel, not per (worker,
  // pixel): the same doubles as numpy's elementwise formula, far fewer logs.
  std::vector<double> lws(2 * n), l1ws(2 * n), lprior(P), l1prior(P), terms(n * P), ent(P);
  auto worker_logs = [&] {
    for (std::size_t k = 0; k < n; ++k)
      for (int sv = 0; sv < 2; ++sv) {
        const double sd = sv, ws = errors[k] * sd + (1 - errors[k]) * (1 - sd);
        lws[2 * k + static_cast<std::size_t>(sv)] = std::log(ws);
        l1ws[2 * k + static_cast<std::size_t>(sv)] = std::log(1 - ws);
      }
  };
  for (std::int32_t it = 0; it < n_iter; ++it) {
    // E-step
    worker_logs();
    for (std::size_t p = 0; p < P; ++p) { lprior[p] = std::log(priors[p]); l1prior[p] = std::log(1 - priors[p]); }
    for (std::size_t p = 0; p < P; ++p) {
      double sp = lws[t.at(0, p)], sn = l1ws[t.at(0, p)];
      for (std::size_t k = 1; k < n; ++k) { sp += lws[2 * k + t.at(k, p)]; sn += l1ws[2 * k + t.at(k, p)]; }
      const double ep = std::exp(lprior[p] + sp), en = std::exp(l1prior[p] + sn);
      double q = ep / (ep + en);
      if (std::isnan(q)) q = 0;
      if (q < eps) q = 0;
      post[p] = q;
    }
    em_m_step(t, post, static_cast<double>(region), sizes, errors);
    // Evidence lower bound, with the new errors and the old priors.
    worker_logs();  // lprior/l1prior still hold the old priors' logs, as the ELBO wants
    for (std::size_t k = 0; k < n; ++k)
      for (std::size_t p = 0; p < P; ++p)
        terms[k * P + p] = nan_to_num((lws[2 * k + t.at(k, p)] + lprior[p]) * post[p]);
    double elbo = np_sum(terms);
    for (std::size_t k = 0; k < n; ++k)
      for (std::size_t p = 0; p < P; ++p)
        terms[k * P + p] = nan_to_num((l1ws[2 * k + t.at(k, p)] + l1prior[p]) * (1 - post[p]));
    elbo += np_sum(terms);
    for (std::size_t p = 0; p < P; ++p) ent[p] = nan_to_num(std::log(post[p]) * post[p]);
    elbo -= np_sum(ent);
    const double new_loss = elbo / static_cast<double>(n * P);
    priors = post;
    loss_history.push_back(new_loss);
    if (new_loss - loss < tol) break;
    loss = new_loss;
  }
  for (std::size_t p = 0; p < P; ++p) out[p] = priors[p] > 0.5;
  std::copy(errors.begin(), errors.end(), w_out);
}

}  // namespace

SegmentationResult segmentation_majority_vote(const MaskBatch& b, std::span<const double> answer_weights) {
  const auto ts = tasks_of(b);
  const std::size_t n_answers = static_cast<std::size_t>(b.task_start.back());
  if (answer_weights.size() != n_answers) throw InvalidArgument("segmentation_majority_vote: one weight per answer is needed");
  SegmentationResult r;
  r.masks.assign(total_pixels(ts), 0);
  r.weights.assign(answer_weights.begin(), answer_weights.end());
  std::vector<double> score;
  for (const Task& t : ts) {
    score.assign(t.P, 0.0);
    double wsum = 0;
    for (std::size_t k = 0; k < t.n; ++k) {
      const double w = answer_weights[t.first + k];
      wsum += w;
      for (std::size_t p = 0; p < t.P; ++p) score[p] += static_cast<double>(t.at(k, p)) * w;
    }
    for (std::size_t p = 0; p < t.P; ++p) r.masks[t.out + p] = 2 * score[p] - wsum >= 0;
  }
  return r;
}

SegmentationResult segmentation_rasa(const MaskBatch& b, std::int32_t n_iter, double tol) {
  if (n_iter < 1) throw InvalidArgument("segmentation_rasa: n_iter must be >= 1");
  const auto ts = tasks_of(b);
  SegmentationResult r;
  r.masks.assign(total_pixels(ts), 0);
  r.weights.assign(static_cast<std::size_t>(b.task_start.back()), 0.0);
  for (const Task& t : ts) rasa_one(t, n_iter, tol, r.masks.data() + t.out, r.weights.data() + t.first, r.loss_history);
  return r;
}

SegmentationResult segmentation_em(const MaskBatch& b, std::int32_t n_iter, double tol, double eps) {
  if (n_iter < 1) throw InvalidArgument("segmentation_em: n_iter must be >= 1");
  const auto ts = tasks_of(b);
  SegmentationResult r;
  r.masks.assign(total_pixels(ts), 0);
  r.weights.assign(static_cast<std::size_t>(b.task_start.back()), 0.0);
  std::vector<double> hist;
  for (const Task& t : ts) {
    em_one(t, n_iter, tol, eps, r.masks.data() + t.out, r.weights.data() + t.first, hist);
    if (!hist.empty()) r.loss_history = hist;
  }
  return r;
}

}  // namespace tagger::consensus
