// tagger::match — task-to-category matching and worker assignment.
//
// Four parts, usable alone:
//   Tokenizer      sentencepiece unigram model (the shipped one or any user model)
//   Embedder       hashed, IDF-weighted sparse vectors over pieces, piece bigrams
//                  and character n-grams; cosine similarity
//   LinearModel    multinomial logistic regression trained in C++ (few-shot)
//   CategoryIndex  Embedder + LinearModel over named categories: top_k, predict
//   assign()       exact maximum-suitability assignment by min-cost flow
//   make_subtasks  batches of items with hidden control items
//
// No sentencepiece or Eigen type appears here: every class holds its state
// behind a pointer. All const methods are safe to call from several threads.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tagger::match {

class StaticEmbedding;  // tagger/static_embedding.h

// ---------------------------------------------------------------- text checks

// Throws InvalidArgument with the reason when `text` cannot be matched: empty
// or only whitespace/punctuation, not valid UTF-8, or written mostly (> 50% of
// its letters) in a script other than Latin (the shipped tokenizer and catalog
// are English). `what` names the argument in the message.
void validate_text(std::string_view text, std::string_view what = "text");

// Why a text carries little signal for the model; queries are answered anyway
// (character n-grams, else the class prior) and flagged with the reason.
enum class TextSignal : std::uint8_t {
  ok = 0,
  empty = 1,               // nothing but whitespace
  no_letters = 2,          // digits, punctuation, emoji only ("10-4")
  unsupported_script = 3,  // mostly letters of a script other than Latin
  invalid_utf8 = 4,
  unseen = 5,              // no feature of the text occurred in training: the answer is the prior
};
// The same checks as validate_text, without throwing (unseen is never
// returned here: it needs a model). `latin_only` = false skips the script test.
TextSignal text_signal(std::string_view text, bool latin_only = true);
const char* text_signal_name(TextSignal s);

// ------------------------------------------------------------------ Tokenizer

// A sentencepiece model. Copies share one immutable processor (cheap, and
// thread-safe: sentencepiece's encode/decode are const).
class Tokenizer {
 public:
  // Loads a serialized sentencepiece ModelProto (the `.model` file). Throws
  // InvalidArgument when the file is missing or is not a sentencepiece model.
  static Tokenizer from_file(const std::string& path);
  static Tokenizer from_bytes(std::string_view model_bytes);

  std::vector<int> encode_ids(std::string_view text) const;
  std::vector<std::string> encode_pieces(std::string_view text) const;
  // One vector of ids per text; threads = 0 uses every core.
  std::vector<std::vector<int>> encode_ids_batch(const std::vector<std::string>& texts,
                                                 unsigned threads = 0) const;
  // Ids -> text. Out-of-range ids throw InvalidArgument.
  std::string decode(std::span<const int> ids) const;

  // The unigram model's log-probability (natural log) of piece `id`;
  // 0 for control/unknown pieces in sentencepiece's convention.
  float piece_score(int id) const;
  std::string id_to_piece(int id) const;
  int piece_to_id(std::string_view piece) const;  // unk_id() when absent
  int vocab_size() const;
  int unk_id() const;
  bool is_unknown(int id) const;
  bool is_control(int id) const;
  bool is_byte(int id) const;  // byte-fallback piece <0xNN> (a character the model has no piece for)

  // Mean per-piece log-probability of `text` under the unigram model,
  // sum_i score(piece_i) / n, with unknown and byte-fallback pieces scored
  // `unk_penalty`.
  // Natural text of the training language scores high; random characters low
  // (the gibberish signal tagger::verify uses). Empty text throws.
  double mean_log_prob(std::string_view text, double unk_penalty = -20.0) const;
  // The same sum divided by the number of non-space code points instead of
  // pieces: a per-character log-likelihood. Natural words fall into few
  // high-probability pieces, random strings into many single characters, so
  // this separates the two far better than the per-piece mean.
  double log_prob_per_char(std::string_view text, double unk_penalty = -20.0) const;

  // The serialized ModelProto (for pickling and saving).
  std::string serialized_model() const;

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// ------------------------------------------------------------------- Embedder

// A sparse vector: strictly increasing indices, float values. Vectors from
// Embedder::embed have unit L2 norm (or are empty).
struct SparseVector {
  std::vector<std::uint32_t> index;
  std::vector<float> value;
  std::size_t nnz() const { return index.size(); }
};

struct EmbedderConfig {
  int hash_bits = 20;          // feature space size 2^hash_bits
  int char_ngram_min = 2;      // character n-grams of each word, with boundary marks
  int char_ngram_max = 5;      // 0 disables character n-grams
  bool piece_bigrams = true;   // adjacent sentencepiece pieces
  bool word_unigrams = true;   // whole words (case-folded)
  bool sublinear_tf = true;    // tf -> 1 + log(tf)
};

// text -> pieces, piece bigrams, words, char n-grams -> hashed features ->
// tf * idf -> L2 normalized. IDF is idf(f) = log((1 + N) / (1 + df(f))) + 1
// (the scikit-learn smooth_idf convention) once fit_idf has seen a corpus,
// and 1 before. The text is NFKC-normalized and case-folded by the tokenizer.
class Embedder {
 public:
  explicit Embedder(Tokenizer tokenizer, EmbedderConfig config = {});
  Embedder(const Embedder&);
  Embedder& operator=(const Embedder&);
  Embedder(Embedder&&) noexcept;
  Embedder& operator=(Embedder&&) noexcept;
  ~Embedder();

  // Document frequencies from `corpus` (replaces any previous IDF).
  void fit_idf(const std::vector<std::string>& corpus, unsigned threads = 0);
  // fit_idf(corpus) then embed_batch(corpus), extracting each text's features once.
  std::vector<SparseVector> fit_transform(const std::vector<std::string>& corpus, unsigned threads = 0);
  SparseVector embed(std::string_view text) const;
  std::vector<SparseVector> embed_batch(const std::vector<std::string>& texts, unsigned threads = 0) const;

  // The three steps of fit_transform, for callers that weigh the same texts
  // under several IDFs (CategoryIndex::fit_with_folds): each text's hashed
  // features (sorted, repeats kept), the IDF of the rows `rows` of them (all
  // rows when null), and one text's features weighed by the current IDF.
  std::vector<std::vector<std::uint32_t>> features_batch(std::span<const std::string> texts,
                                                         unsigned threads = 0) const;
  void fit_idf_features(const std::vector<std::vector<std::uint32_t>>& features,
                        const std::vector<std::uint32_t>* rows = nullptr);
  SparseVector weigh(const std::vector<std::uint32_t>& sorted_features) const;

  // Cosine similarity of two embedded vectors (their dot product; both unit).
  static float similarity(const SparseVector& a, const SparseVector& b);
  float similarity(std::string_view a, std::string_view b) const;

  std::size_t dim() const;
  bool has_idf() const;
  const EmbedderConfig& config() const;
  const Tokenizer& tokenizer() const;
  // The IDF table (dim() entries; null before fit_idf), and setting one read
  // back from a saved index: InvalidArgument unless it has dim() entries, each
  // finite and >= 1 (what fit_idf produces).
  std::shared_ptr<const std::vector<float>> idf() const;
  void set_idf(std::vector<float> idf);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// --------------------------------------------------------------- LinearModel

// A row-major feature matrix, either CSR-sparse or dense (a view: the caller
// keeps the memory alive during the call).
struct FeatureMatrix {
  std::size_t rows = 0, cols = 0;
  // Sparse (CSR): indptr has rows + 1 entries.
  const std::int64_t* indptr = nullptr;
  const std::uint32_t* indices = nullptr;
  const float* values = nullptr;
  // Dense: rows * cols floats, row-major. Used when indptr is null.
  const float* dense = nullptr;

  static FeatureMatrix from_sparse(const std::vector<SparseVector>& rows, std::size_t cols,
                                   std::vector<std::int64_t>& indptr, std::vector<std::uint32_t>& indices,
                                   std::vector<float>& values);
};

struct TrainConfig {
  int epochs = 12;                 // passes over the data
  float learning_rate = 0.1f;      // AdaGrad base step
  float l2 = 1e-6f;                // weight decay per example
  std::uint64_t seed = 0x7461676765ull;
  unsigned threads = 0;            // 0: every core
  // Gradient entries below this are not applied (most of them, late in a
  // fit: the main reason a fit is fast). Small data sets that need every
  // step (a catalog of ~6 texts per category) pass a smaller value.
  float skip_grad = 5e-3f;
  // Set by another thread (the bindings', on Ctrl-C): a fit reading it true stops within a few
  // hundred examples by throwing FitStopped. Not part of what is saved or compared.
  const std::atomic<bool>* stop = nullptr;
};

// Thrown by a fit whose TrainConfig::stop was set; whoever set it reports why.
class FitStopped : public std::runtime_error {
 public:
  FitStopped() : std::runtime_error("the fit was stopped") {}
};

// Multinomial logistic regression p(c|x) = softmax(W x + b)_c, minimizing the
// mean cross-entropy + l2/2 ||W||^2 by shuffled per-example AdaGrad (Duchi,
// Hazan & Singer 2011); gradient entries below config.skip_grad are skipped.
// Deterministic for a given seed and thread count.
// Columns never seen in training are dropped (they would keep weight 0), so
// W is stored only for the features present: memory ~ 4 * C * distinct.
class LinearModel {
 public:
  static LinearModel fit(const FeatureMatrix& x, std::span<const std::int32_t> labels, int n_classes,
                         const TrainConfig& config = {});
  LinearModel(const LinearModel&);
  LinearModel& operator=(const LinearModel&);
  LinearModel(LinearModel&&) noexcept;
  LinearModel& operator=(LinearModel&&) noexcept;
  ~LinearModel();

  // Dense columns [first_col, first_col + dim) given apart from x, so that a
  // caller need not copy them into CSR: row r's value of column first_col + j
  // is scale * values[r * dim + j] (the same products as those values in x).
  struct DenseBlock {
    std::uint32_t first_col = 0;
    std::size_t dim = 0;
    const float* values = nullptr;
    float scale = 1.0f;
  };
  // out: rows * n_classes probabilities softmax(z / temperature), row-major.
  // known (optional, rows entries): 1 where the row has a feature seen in training.
  // dense (optional): columns of every row besides x's (x's must lie below them).
  void predict_proba(const FeatureMatrix& x, float* out, unsigned threads = 0, float temperature = 1.0f,
                     std::uint8_t* known = nullptr, const DenseBlock* dense = nullptr) const;
  std::vector<float> predict_proba(const SparseVector& x) const;
  int n_classes() const;
  std::size_t n_features() const;  // distinct training features kept

  // The fitted parameters, to save a model and read it back (CategoryIndex::
  // serialize): feature f is input column feature_cols[f], with weights
  // w[f * n_classes .. (f + 1) * n_classes).
  struct Parameters {
    int n_classes = 0;
    std::size_t cols = 0;
    std::vector<std::uint32_t> feature_cols;
    std::vector<float> w, b;
  };
  Parameters parameters() const;
  // InvalidArgument unless the parameters are consistent: sizes, distinct
  // columns below cols, finite weights.
  static LinearModel from_parameters(Parameters p);

  struct Impl;

 private:
  explicit LinearModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// -------------------------------------------------------------- CategoryIndex

struct Category {
  std::string id;                      // "text/sentiment"
  std::string description;
  std::vector<std::string> examples;   // task phrasings
};

struct Match {
  std::string category;
  float score;  // calibrated probability in [0, 1]; the scores of all categories sum to 1
};

struct IndexConfig {
  EmbedderConfig embedder;
  TrainConfig train;
  bool require_latin = true;  // validate_text on queries (the shipped tokenizer is English)
  // Dense features: the static embedding's unit vector times dense_weight,
  // appended after the sparse columns (docs/matching.md, "Dense features").
  // Null: sparse features only.
  std::shared_ptr<const StaticEmbedding> dense;
  float dense_weight = 1.0f;
};

// Categories scored by a LinearModel over Embedder vectors. The score of a
// category is the model's posterior probability, softmax over categories
// (see docs/matching.md, "Calibration").
class CategoryIndex {
 public:
  // Zero-shot index from a catalog: each category's description and examples
  // are its training texts. Throws InvalidArgument on an empty catalog, a
  // duplicate id or a category without any text.
  static CategoryIndex from_catalog(const std::vector<Category>& catalog, Tokenizer tokenizer,
                                    const IndexConfig& config = {});
  // Few-shot: labeled examples (labels are the category names).
  static CategoryIndex fit(const std::vector<std::string>& texts, const std::vector<std::string>& labels,
                           Tokenizer tokenizer, const IndexConfig& config = {});
  // Held-out scores for calibration: fold k's model trains on the examples
  // folds[k].train (its IDF from them alone) and scores folds[k].eval.
  struct Fold {
    std::vector<std::uint32_t> train, eval;
  };
  struct FoldScores {
    std::vector<std::string> categories;  // the fold model's: those with a training example, sorted
    std::vector<float> proba;             // eval.size() * categories.size(), temperature 1
  };
  // fit(), plus the fold models: every text is featurized once for all of
  // them, and the models train side by side on config.train.threads threads
  // (each model single-threaded and deterministic, so the results do not
  // depend on the thread count). scores (optional) gets one entry per fold.
  static CategoryIndex fit_with_folds(const std::vector<std::string>& texts, const std::vector<std::string>& labels,
                                      Tokenizer tokenizer, const IndexConfig& config, const std::vector<Fold>& folds,
                                      std::vector<FoldScores>* scores);

  std::vector<Match> top_k(std::string_view text, int k = 5) const;
  std::vector<std::vector<Match>> top_k_batch(const std::vector<std::string>& texts, int k = 5,
                                              unsigned threads = 0) const;
  // rows * n_categories probabilities, row-major. Every text gets a row: one
  // without usable features gets the learned prior softmax(b / T). signals
  // (optional) receives one TextSignal per text.
  std::vector<float> predict_proba(const std::vector<std::string>& texts, unsigned threads = 0,
                                   std::vector<TextSignal>* signals = nullptr) const;
  // Index of the most probable category for each text.
  std::vector<std::int32_t> predict(const std::vector<std::string>& texts, unsigned threads = 0) const;

  const std::vector<std::string>& categories() const;
  const Embedder& embedder() const;
  const LinearModel& model() const;
  bool has_dense() const { return dense_ != nullptr; }
  // Temperature scaling (Guo et al. 2017) of every score: softmax(z / T).
  // Fitted on held-out folds by the Python layer; 1 = the raw model.
  float temperature() const { return temperature_; }
  void set_temperature(float t);

  // The fitted index as canonical msgpack (index_io.cc): categories, embedder
  // config and IDF, model parameters, dense weight, temperature. The tokenizer
  // and the dense table are not included; deserialize takes them back (the
  // caller records which they were) and checks they fit (dense or not, its
  // dimension). Malformed bytes throw DecodeError, inconsistent ones
  // InvalidArgument; the predictions of a read-back index equal the
  // original's bit for bit.
  std::string serialize() const;
  static CategoryIndex deserialize(std::string_view data, Tokenizer tokenizer,
                                   std::shared_ptr<const StaticEmbedding> dense);

 private:
  CategoryIndex(std::vector<std::string> categories, Embedder embedder, LinearModel model);
  std::shared_ptr<const StaticEmbedding> dense_;
  float dense_weight_ = 1.0f;
  std::vector<std::string> categories_;
  std::shared_ptr<const Embedder> embedder_;
  std::shared_ptr<const LinearModel> model_;
  bool require_latin_ = true;
  float temperature_ = 1.0f;
};

// ---------------------------------------------------------------- Assignment

// Candidate (item, worker) pairs in CSR form over items: item i may go to
// workers indices[indptr[i] .. indptr[i+1]) with the matching suitability
// (higher is better, finite). Pairs not listed are forbidden (exclusions are
// applied by leaving them out).
struct AssignmentProblem {
  std::size_t n_items = 0, n_workers = 0;
  std::span<const std::int64_t> indptr;       // n_items + 1
  std::span<const std::int32_t> indices;      // worker of each candidate pair
  std::span<const double> suitability;        // same length as indices
  int overlap = 1;                            // distinct workers per item
  std::span<const std::int64_t> capacity;     // n_workers, items each worker may take
};

struct AssignmentResult {
  // n_items * overlap worker indices, row-major, each row's workers sorted
  // ascending, then -1 for each slot left empty (partial mode, or an
  // infeasible strict solve).
  std::vector<std::int32_t> workers;
  double objective = 0;                       // total suitability of the filled slots
  std::int64_t shortfall = 0;                 // slots that no assignment can fill
  std::vector<std::int32_t> item_shortfall;   // per item (n_items), sums to shortfall
  std::int64_t augmentations = 0;             // shortest-path searches run (diagnostics)
};

// Maximum total suitability assignment in which every item gets `overlap`
// distinct workers and worker j takes at most capacity[j] items: a min-cost
// flow, solved exactly by successive shortest paths with Johnson potentials
// and early-terminating Dijkstra (docs/matching.md).
//   partial = false: every slot must be filled. When no assignment fills them
//     all, the result has shortfall > 0 = (slots) - (maximum flow), exactly,
//     and item_shortfall says which items a maximum assignment leaves short;
//     the slots it fills are a maximum (not necessarily best) assignment.
//     assign_or_throw turns that into InfeasibleAssignment.
//   partial = true: fills as many slots as possible and, among those
//     assignments, maximizes total suitability.
// Throws InvalidArgument on malformed input (sizes, negative capacity,
// overlap < 1, worker index out of range, duplicate pair, non-finite score).
AssignmentResult assign(const AssignmentProblem& problem, bool partial = false);
AssignmentResult assign_or_throw(const AssignmentProblem& problem);

// ---------------------------------------------------------------- Subtasks

struct Subtask {
  std::vector<std::int64_t> items;     // item ids, in presentation order
  std::vector<std::uint8_t> is_control;  // same length: 1 where the item is a control item
};

// Splits items 0..n_items-1 into subtasks of `batch_size` regular items (the
// last may be shorter) and mixes into each round(control_share * size /
// (1 - control_share)) (at least 1 when control items exist and share > 0)
// control items drawn from `control_items`, at uniformly random positions so
// workers cannot tell them apart. Control items are drawn without replacement
// within a subtask and cycle through the pool across subtasks. Deterministic
// for a given seed. Throws InvalidArgument for batch_size < 1, share outside
// [0, 1), or share > 0 with an empty pool.
std::vector<Subtask> make_subtasks(std::int64_t n_items, int batch_size,
                                   std::span<const std::int64_t> control_items, double control_share,
                                   std::uint64_t seed);

}  // namespace tagger::match
