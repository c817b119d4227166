// tagger._core.match: conversions and GIL release only; see tagger/match.h.
#include <optional>

#include "common.h"
#include "tagger/match.h"
#include "tagger/static_embedding.h"
#include "tagger/zero_shot.h"

namespace tagger::bindings {
namespace mt = tagger::match;
using F32 = py::array_t<float, py::array::c_style | py::array::forcecast>;
template <class T>
using Arr = py::array_t<T, py::array::c_style>;  // exact dtype: the Python layer converts

template <class T>
static py::array_t<T> to_np(std::vector<T>&& v) {
  auto* heap = new std::vector<T>(std::move(v));  // owned by the capsule
  py::capsule owner(heap, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>(heap->size(), heap->data(), owner);
}

static py::tuple csr(const std::vector<mt::SparseVector>& rows) {
  std::vector<std::int64_t> indptr;
  std::vector<std::uint32_t> indices;
  std::vector<float> values;
  mt::FeatureMatrix::from_sparse(rows, 0, indptr, indices, values);
  return py::make_tuple(to_np(std::move(indptr)), to_np(std::move(indices)), to_np(std::move(values)));
}

using I64 = Arr<std::int64_t>;
using U32 = Arr<std::uint32_t>;

// CSR when indptr is non-empty, else the dense rows x cols array.
static mt::FeatureMatrix view(const I64& indptr, const U32& indices, const F32& values, const F32& dense,
                              std::size_t rows, std::size_t cols) {
  mt::FeatureMatrix x;
  x.rows = rows;
  x.cols = cols;
  if (indptr.size() > 0) {
    if (static_cast<std::size_t>(indptr.size()) != rows + 1 || indices.size() != values.size() ||
        indices.size() < indptr.data()[rows])
      throw InvalidArgument("inconsistent CSR arrays");
    x.indptr = indptr.data();
    x.indices = indices.data();
    x.values = values.data();
  } else {
    if (static_cast<std::size_t>(dense.size()) != rows * cols) throw InvalidArgument("dense features have the wrong size");
    x.dense = dense.data();
  }
  return x;
}

TAGGER_BIND_MODULE(match) {
  m.def("validate_text", [](std::string_view t, std::string_view what) { mt::validate_text(t, what); },
        py::arg("text"), py::arg("what") = "text");
  m.def("text_signals", [](const std::vector<std::string>& texts, bool latin_only) {
    std::vector<std::uint8_t> out(texts.size());
    {
      NoGil release;
      for (std::size_t i = 0; i < texts.size(); ++i) out[i] = static_cast<std::uint8_t>(mt::text_signal(texts[i], latin_only));
    }
    return to_np(std::move(out));
  }, py::arg("texts"), py::arg("latin_only") = true);
  m.def("text_signal_names", [] {
    std::vector<std::string> names;
    for (int s = 0; s <= static_cast<int>(mt::TextSignal::unseen); ++s)
      names.push_back(mt::text_signal_name(static_cast<mt::TextSignal>(s)));
    return names;
  });

  py::class_<mt::Tokenizer>(m, "Tokenizer")
      .def_static("from_file", &mt::Tokenizer::from_file, py::arg("path"))
      .def_static("from_bytes", [](const py::object& b) {
        BytesArg a(b, "model");
        return mt::Tokenizer::from_bytes({reinterpret_cast<const char*>(a.view().data()), a.size()});
      }, py::arg("model_bytes"))
      .def("encode_ids", &mt::Tokenizer::encode_ids, py::arg("text"))
      .def("encode_pieces", &mt::Tokenizer::encode_pieces, py::arg("text"))
      .def("encode_ids_batch", &mt::Tokenizer::encode_ids_batch, py::arg("texts"), py::arg("threads") = 0,
           py::call_guard<NoGil>())
      .def("decode", [](const mt::Tokenizer& t, const std::vector<int>& ids) { return t.decode(ids); }, py::arg("ids"))
      .def("piece_score", &mt::Tokenizer::piece_score, py::arg("id"))
      .def("id_to_piece", &mt::Tokenizer::id_to_piece, py::arg("id"))
      .def("piece_to_id", &mt::Tokenizer::piece_to_id, py::arg("piece"))
      .def("vocab_size", &mt::Tokenizer::vocab_size)
      .def("unk_id", &mt::Tokenizer::unk_id)
      .def("is_unknown", &mt::Tokenizer::is_unknown, py::arg("id"))
      .def("is_control", &mt::Tokenizer::is_control, py::arg("id"))
      .def("is_byte", &mt::Tokenizer::is_byte, py::arg("id"))
      .def("mean_log_prob", &mt::Tokenizer::mean_log_prob, py::arg("text"), py::arg("unk_penalty") = -20.0)
      .def("log_prob_per_char", &mt::Tokenizer::log_prob_per_char, py::arg("text"), py::arg("unk_penalty") = -20.0)
      .def("serialized_model", [](const mt::Tokenizer& t) { return py::bytes(t.serialized_model()); });

  py::class_<mt::EmbedderConfig>(m, "EmbedderConfig")
      .def(py::init<>())
      .def_readwrite("hash_bits", &mt::EmbedderConfig::hash_bits)
      .def_readwrite("char_ngram_min", &mt::EmbedderConfig::char_ngram_min)
      .def_readwrite("char_ngram_max", &mt::EmbedderConfig::char_ngram_max)
      .def_readwrite("piece_bigrams", &mt::EmbedderConfig::piece_bigrams)
      .def_readwrite("word_unigrams", &mt::EmbedderConfig::word_unigrams)
      .def_readwrite("sublinear_tf", &mt::EmbedderConfig::sublinear_tf);
  py::class_<mt::TrainConfig>(m, "TrainConfig")
      .def(py::init<>())
      .def_readwrite("epochs", &mt::TrainConfig::epochs)
      .def_readwrite("learning_rate", &mt::TrainConfig::learning_rate)
      .def_readwrite("l2", &mt::TrainConfig::l2)
      .def_readwrite("seed", &mt::TrainConfig::seed)
      .def_readwrite("threads", &mt::TrainConfig::threads)
      .def_readwrite("skip_grad", &mt::TrainConfig::skip_grad);
  py::class_<mt::WordPiece>(m, "WordPiece")
      .def_static("from_vocab", &mt::WordPiece::from_vocab, py::arg("vocab"))
      .def("encode", &mt::WordPiece::encode, py::arg("text"))
      .def("tokenize", &mt::WordPiece::tokenize, py::arg("text"))
      .def("vocab_size", &mt::WordPiece::vocab_size)
      .def("unk_id", &mt::WordPiece::unk_id)
      .def("token", &mt::WordPiece::token, py::arg("id"));

  py::class_<mt::StaticEmbedding, std::shared_ptr<mt::StaticEmbedding>>(m, "StaticEmbedding")
      .def_static("from_bytes", [](const py::bytes& b) {
        std::string v = b;
        return std::make_shared<mt::StaticEmbedding>(mt::StaticEmbedding::from_bytes(v));
      }, py::arg("data"))
      .def_static("from_file", [](const std::string& path) {
        return std::make_shared<mt::StaticEmbedding>(mt::StaticEmbedding::from_file(path));
      }, py::arg("path"))
      .def("dim", &mt::StaticEmbedding::dim)
      .def("tokenizer", [](const mt::StaticEmbedding& e) { return e.tokenizer(); })
      .def("embed_batch", [](const mt::StaticEmbedding& e, const std::vector<std::string>& texts, unsigned threads) {
        std::vector<float> out;
        {
          NoGil release;
          out = e.embed_batch(texts, threads);
        }
        return to_np(std::move(out)).reshape({texts.size(), e.dim()});
      }, py::arg("texts"), py::arg("threads") = 0);

  py::class_<mt::ZeroShotConfig>(m, "ZeroShotConfig")
      .def(py::init<>())
      .def_readwrite("idf_power", &mt::ZeroShotConfig::idf_power)
      .def_readwrite("pooled", &mt::ZeroShotConfig::pooled)
      .def_readwrite("precision_weight", &mt::ZeroShotConfig::precision_weight)
      .def_readwrite("align_weight", &mt::ZeroShotConfig::align_weight)
      .def_readwrite("dense_weight", &mt::ZeroShotConfig::dense_weight)
      .def_readwrite("dense_max", &mt::ZeroShotConfig::dense_max)
      .def_readwrite("unseen_df", &mt::ZeroShotConfig::unseen_df)
      .def_readwrite("soft_df_power", &mt::ZeroShotConfig::soft_df_power);
  py::class_<mt::ZeroShotScorer>(m, "ZeroShotScorer")
      .def_static("build", [](std::shared_ptr<mt::StaticEmbedding> e, const std::vector<std::string>& texts,
                              const std::vector<int>& labels, int n_categories, const mt::ZeroShotConfig& cfg,
                              unsigned threads) {
        NoGil release;
        return mt::ZeroShotScorer::build(std::move(e), texts, labels, n_categories, cfg, threads);
      }, py::arg("embedding"), py::arg("texts"), py::arg("labels"), py::arg("n_categories"), py::arg("config"),
         py::arg("threads") = 0)
      .def("n_categories", &mt::ZeroShotScorer::n_categories)
      .def("config", &mt::ZeroShotScorer::config)
      .def("scores", [](const mt::ZeroShotScorer& z, const std::vector<std::string>& texts, unsigned threads) {
        std::vector<double> s;
        {
          NoGil release;
          s = z.scores(texts, threads);
        }
        return to_np(std::move(s)).reshape({texts.size(), static_cast<std::size_t>(z.n_categories())});
      }, py::arg("texts"), py::arg("threads") = 0)
      .def("predict_proba", [](const mt::ZeroShotScorer& z, const std::vector<std::string>& texts, double temperature,
                               unsigned threads) {
        std::vector<float> p;
        {
          NoGil release;
          p = z.predict_proba(texts, temperature, threads);
        }
        return to_np(std::move(p)).reshape({texts.size(), static_cast<std::size_t>(z.n_categories())});
      }, py::arg("texts"), py::arg("temperature") = 1.0, py::arg("threads") = 0);

  py::class_<mt::IndexConfig>(m, "IndexConfig")
      .def(py::init<>())
      .def_readwrite("embedder", &mt::IndexConfig::embedder)
      .def_readwrite("train", &mt::IndexConfig::train)
      .def_readwrite("require_latin", &mt::IndexConfig::require_latin)
      .def_property("dense", [](const mt::IndexConfig& c) { return std::const_pointer_cast<mt::StaticEmbedding>(c.dense); },
                    [](mt::IndexConfig& c, std::shared_ptr<mt::StaticEmbedding> d) { c.dense = std::move(d); })
      .def_readwrite("dense_weight", &mt::IndexConfig::dense_weight);

  py::class_<mt::Embedder>(m, "Embedder")
      .def(py::init<mt::Tokenizer, mt::EmbedderConfig>(), py::arg("tokenizer"), py::arg("config"))
      .def("fit_idf", &mt::Embedder::fit_idf, py::arg("corpus"), py::arg("threads") = 0,
           py::call_guard<NoGil>())
      .def("embed", [](const mt::Embedder& e, std::string_view t) {
        auto v = e.embed(t);
        return py::make_tuple(to_np(std::move(v.index)), to_np(std::move(v.value)));
      }, py::arg("text"))
      .def("embed_batch", [](const mt::Embedder& e, const std::vector<std::string>& texts, unsigned threads) {
        std::vector<mt::SparseVector> rows;
        {
          NoGil release;
          rows = e.embed_batch(texts, threads);
        }
        return csr(rows);
      }, py::arg("texts"), py::arg("threads") = 0)
      .def("similarity", py::overload_cast<std::string_view, std::string_view>(&mt::Embedder::similarity, py::const_),
           py::arg("a"), py::arg("b"))
      .def("dim", &mt::Embedder::dim)
      .def("has_idf", &mt::Embedder::has_idf)
      .def("idf", [](const mt::Embedder& e) -> py::object {
        auto table = e.idf();
        if (!table) return py::none();
        return to_np(std::vector<float>(*table));
      })
      .def("set_idf", [](mt::Embedder& e, std::vector<float> idf) { e.set_idf(std::move(idf)); }, py::arg("idf"))
      .def("config", &mt::Embedder::config)
      .def("tokenizer", &mt::Embedder::tokenizer);

  py::class_<mt::LinearModel>(m, "LinearModel")
      .def_static("fit", [](const I64& ip, const U32& ix, const F32& vals, const F32& dense, std::size_t rows, std::size_t cols, const Arr<std::int32_t>& y, int n_classes,
                            const mt::TrainConfig& cfg) {
        auto x = view(ip, ix, vals, dense, rows, cols);
        return run_interruptible([&](const std::atomic<bool>* stop) {
          mt::TrainConfig c = cfg;
          c.stop = stop;
          return mt::LinearModel::fit(x, {y.data(), static_cast<std::size_t>(y.size())}, n_classes, c);
        });
      }, py::arg("indptr"), py::arg("indices"), py::arg("values"), py::arg("dense"), py::arg("rows"), py::arg("cols"),
         py::arg("labels"), py::arg("n_classes"), py::arg("config"))
      .def("predict_proba", [](const mt::LinearModel& lm, const I64& ip, const U32& ix, const F32& vals, const F32& dense, std::size_t rows, std::size_t cols,
                               unsigned threads, float temperature) {
        auto x = view(ip, ix, vals, dense, rows, cols);
        py::array_t<float> out({rows, static_cast<std::size_t>(lm.n_classes())});
        float* o = out.mutable_data();
        NoGil release;
        lm.predict_proba(x, o, threads, temperature);
        return out;
      }, py::arg("indptr"), py::arg("indices"), py::arg("values"), py::arg("dense"), py::arg("rows"), py::arg("cols"),
         py::arg("threads") = 0, py::arg("temperature") = 1.0f)
      .def("n_classes", &mt::LinearModel::n_classes)
      .def("n_features", &mt::LinearModel::n_features);

  py::class_<mt::CategoryIndex>(m, "CategoryIndex")
      .def_static("from_catalog", [](const std::vector<std::tuple<std::string, std::string, std::vector<std::string>>>& cat,
                                     mt::Tokenizer tok, const mt::IndexConfig& cfg) {
        std::vector<mt::Category> c;
        for (auto& [id, d, ex] : cat) c.push_back({id, d, ex});
        return run_interruptible([&](const std::atomic<bool>* stop) {
          mt::IndexConfig with_stop = cfg;
          with_stop.train.stop = stop;
          return mt::CategoryIndex::from_catalog(c, std::move(tok), with_stop);
        });
      }, py::arg("catalog"), py::arg("tokenizer"), py::arg("config"))
      .def_static("fit", &mt::CategoryIndex::fit, py::arg("texts"), py::arg("labels"), py::arg("tokenizer"),
                  py::arg("config"), py::call_guard<NoGil>())
      .def_static("fit_with_folds", [](const std::vector<std::string>& texts, const std::vector<std::string>& labels,
                                       mt::Tokenizer tok, const mt::IndexConfig& cfg,
                                       const std::vector<std::pair<std::vector<std::uint32_t>, std::vector<std::uint32_t>>>& folds) {
        std::vector<mt::CategoryIndex::Fold> f;
        for (const auto& [train, eval] : folds) f.push_back({train, eval});
        std::vector<mt::CategoryIndex::FoldScores> scores;
        std::optional<mt::CategoryIndex> index = run_interruptible([&](const std::atomic<bool>* stop) {
          mt::IndexConfig with_stop = cfg;
          with_stop.train.stop = stop;
          return std::optional<mt::CategoryIndex>(mt::CategoryIndex::fit_with_folds(texts, labels, std::move(tok), with_stop, f, &scores));
        });
        py::list out;
        for (std::size_t k = 0; k < scores.size(); ++k) {
          const std::size_t n = f[k].eval.size(), c = scores[k].categories.size();
          out.append(py::make_tuple(scores[k].categories, to_np(std::move(scores[k].proba)).reshape({n, c})));
        }
        return py::make_tuple(std::move(*index), out);
      }, py::arg("texts"), py::arg("labels"), py::arg("tokenizer"), py::arg("config"), py::arg("folds"))
      .def("top_k_batch", [](const mt::CategoryIndex& ix, const std::vector<std::string>& texts, int k, unsigned threads) {
        std::vector<std::vector<mt::Match>> r;
        {
          NoGil release;
          r = ix.top_k_batch(texts, k, threads);
        }
        py::list out;
        for (auto& row : r) {
          py::list l;
          for (auto& mm : row) l.append(py::make_tuple(mm.category, mm.score));
          out.append(l);
        }
        return out;
      }, py::arg("texts"), py::arg("k") = 5, py::arg("threads") = 0)
      .def("predict_proba", [](const mt::CategoryIndex& ix, const std::vector<std::string>& texts, unsigned threads) {
        std::vector<float> p;
        std::vector<mt::TextSignal> sig;
        {
          NoGil release;
          p = ix.predict_proba(texts, threads, &sig);
        }
        std::vector<std::uint8_t> codes(sig.size());
        for (std::size_t i = 0; i < sig.size(); ++i) codes[i] = static_cast<std::uint8_t>(sig[i]);
        return py::make_tuple(to_np(std::move(p)).reshape({texts.size(), ix.categories().size()}), to_np(std::move(codes)));
      }, py::arg("texts"), py::arg("threads") = 0)
      .def("temperature", &mt::CategoryIndex::temperature)
      .def("set_temperature", &mt::CategoryIndex::set_temperature, py::arg("temperature"))
      .def("categories", &mt::CategoryIndex::categories)
      .def("embedder", &mt::CategoryIndex::embedder)
      .def("model", &mt::CategoryIndex::model)
      .def("has_dense", &mt::CategoryIndex::has_dense)
      .def("serialize", [](const mt::CategoryIndex& ix) {
        std::string out;
        {
          NoGil release;
          out = ix.serialize();
        }
        return py::bytes(out);
      })
      .def_static("deserialize", [](const py::bytes& data, mt::Tokenizer tok,
                                    std::optional<std::shared_ptr<mt::StaticEmbedding>> dense) {
        std::string bytes = data;
        NoGil release;
        return mt::CategoryIndex::deserialize(bytes, std::move(tok), dense ? std::move(*dense) : nullptr);
      }, py::arg("data"), py::arg("tokenizer"), py::arg("dense") = py::none());

  m.def("assign", [](const Arr<std::int64_t>& indptr, const Arr<std::int32_t>& indices, const Arr<double>& suit,
                     std::size_t n_items, std::size_t n_workers, int overlap, const Arr<std::int64_t>& capacity,
                     bool partial) {
    mt::AssignmentProblem p;
    p.n_items = n_items;
    p.n_workers = n_workers;
    p.indptr = {indptr.data(), static_cast<std::size_t>(indptr.size())};
    p.indices = {indices.data(), static_cast<std::size_t>(indices.size())};
    p.suitability = {suit.data(), static_cast<std::size_t>(suit.size())};
    p.overlap = overlap;
    p.capacity = {capacity.data(), static_cast<std::size_t>(capacity.size())};
    mt::AssignmentResult r;
    {
      NoGil release;
      r = mt::assign(p, partial);
    }
    return py::make_tuple(to_np(std::move(r.workers)).reshape({static_cast<py::ssize_t>(n_items), static_cast<py::ssize_t>(overlap)}),
                          r.objective, r.shortfall, to_np(std::move(r.item_shortfall)), r.augmentations);
  }, py::arg("indptr"), py::arg("indices"), py::arg("suitability"), py::arg("n_items"), py::arg("n_workers"),
     py::arg("overlap"), py::arg("capacity"), py::arg("partial") = false);

  m.def("make_subtasks", [](std::int64_t n, int batch, const Arr<std::int64_t>& control, double share, std::uint64_t seed) {
    auto st = mt::make_subtasks(n, batch, {control.data(), static_cast<std::size_t>(control.size())}, share, seed);
    py::list out;
    for (auto& s : st) out.append(py::make_tuple(to_np(std::move(s.items)), to_np(std::move(s.is_control))));
    return out;
  }, py::arg("n_items"), py::arg("batch_size"), py::arg("control_items"), py::arg("control_share"), py::arg("seed"));
}

}  // namespace tagger::bindings
