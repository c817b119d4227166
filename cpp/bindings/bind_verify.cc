#include "common.h"
#include "tagger/static_embedding.h"
#include "tagger/verify.h"

namespace tagger::bindings {
namespace v = tagger::verify;

// A 2-D uint8 numpy array viewed in place (any strides, no copy).
static v::GrayView gray_view(const py::array& a) {
  if (a.ndim() != 2 || !py::isinstance<py::array_t<std::uint8_t>>(a) || a.dtype().kind() != 'u' || a.itemsize() != 1)
    throw InvalidArgument("expected a 2-D uint8 grayscale array, got ndim=" + std::to_string(a.ndim()) + " dtype=" +
                          std::string(py::str(a.dtype())));
  return {static_cast<const std::uint8_t*>(a.data()), static_cast<std::size_t>(a.shape(0)),
          static_cast<std::size_t>(a.shape(1)), a.strides(0), a.strides(1)};
}

// Python str/bytes sequence -> views into the (kept-alive) Python objects.
static std::vector<std::string_view> text_views(const py::sequence& texts, std::vector<py::object>& keep) {
  std::vector<std::string_view> out;
  out.reserve(py::len(texts));
  for (auto t : texts) {
    keep.push_back(py::reinterpret_borrow<py::object>(t));
    if (PyUnicode_Check(t.ptr())) {
      Py_ssize_t n = 0;
      const char* s = PyUnicode_AsUTF8AndSize(t.ptr(), &n);
      if (!s) throw py::error_already_set();
      out.emplace_back(s, static_cast<std::size_t>(n));
    } else {
      char* s = nullptr;
      Py_ssize_t n = 0;
      if (PyBytes_AsStringAndSize(t.ptr(), &s, &n) != 0) { PyErr_Clear(); throw InvalidArgument("texts must be str or bytes"); }
      out.emplace_back(s, static_cast<std::size_t>(n));
    }
  }
  return out;
}

static py::list matches_to_py(const std::vector<v::MinHashLSH::Match>& ms) {
  py::list l;
  for (const auto& m : ms) l.append(py::make_tuple(m.id, m.jaccard));
  return l;
}

TAGGER_BIND_MODULE(verify) {
  py::class_<v::TextStats>(m, "TextStats")
      .def_readonly("valid_utf8", &v::TextStats::valid_utf8).def_readonly("invalid_offset", &v::TextStats::invalid_offset)
      .def_readonly("bytes", &v::TextStats::bytes).def_readonly("chars", &v::TextStats::chars)
      .def_readonly("letters", &v::TextStats::letters).def_readonly("digits", &v::TextStats::digits)
      .def_readonly("spaces", &v::TextStats::spaces).def_readonly("controls", &v::TextStats::controls)
      .def_property_readonly("dominant_script", [](const v::TextStats& s) { return v::script_name(s.dominant_script()); })
      .def_property_readonly("script_letters", [](const v::TextStats& s) {
        py::dict d;
        for (std::size_t i = 0; i < v::kScriptCount; ++i)
          if (s.script_letters[i]) d[v::script_name(static_cast<v::Script>(i))] = s.script_letters[i];
        return d;
      })
      .def("script_fraction", [](const v::TextStats& s, const std::vector<std::string>& names) {
        std::vector<v::Script> allowed;
        for (const auto& n : names) allowed.push_back(v::script_from_name(n));
        return s.script_fraction(allowed);
      }, py::arg("scripts"));
  m.def("script_names", [] {
    py::list names;
    for (std::size_t i = 0; i < v::kScriptCount; ++i) names.append(v::script_name(static_cast<v::Script>(i)));
    return names;
  });
  m.def("text_stats", [](const py::object& data) {
    BytesArg b(data, "text");
    auto view = b.view();
    return v::text_stats({reinterpret_cast<const char*>(view.data()), view.size()});
  }, py::arg("data"));
  m.def("shingle_hashes", [](std::string_view text, int k) {
    auto h = v::shingle_hashes(text, {k, true});
    return py::array_t<std::uint64_t>(static_cast<py::ssize_t>(h.size()), h.data());
  }, py::arg("text"), py::arg("k") = 5);
  m.def("bounded_edit_distance", &v::bounded_edit_distance, py::arg("a"), py::arg("b"), py::arg("cap"));
  m.def("jaccard", [](std::string_view a, std::string_view b, int k) {
    return v::jaccard(v::shingle_hashes(a, {k, true}), v::shingle_hashes(b, {k, true}));
  }, py::arg("a"), py::arg("b"), py::arg("k") = 5);

  py::class_<v::TextScores>(m, "TextScores")
      .def_readonly("log_prob_per_char", &v::TextScores::log_prob_per_char)
      .def_readonly("mean_log_prob", &v::TextScores::mean_log_prob)
      .def_readonly("unknown_share", &v::TextScores::unknown_share)
      .def_readonly("pieces", &v::TextScores::pieces).def_readonly("relevance", &v::TextScores::relevance)
      .def_readonly("relevance_sparse", &v::TextScores::relevance_sparse)
      .def_readonly("relevance_dense", &v::TextScores::relevance_dense);
  py::class_<v::TextModel>(m, "TextModel")
      .def_static("from_bytes", [](const py::object& b) {
        BytesArg a(b, "model");
        return v::TextModel::from_bytes({reinterpret_cast<const char*>(a.view().data()), a.size()});
      }, py::arg("model_bytes"))
      .def_static("from_bytes_dense", [](const py::object& b, std::shared_ptr<tagger::match::StaticEmbedding> dense,
                                         double dense_share) {
        BytesArg a(b, "model");
        return v::TextModel::from_bytes({reinterpret_cast<const char*>(a.view().data()), a.size()}, std::move(dense),
                                        dense_share);
      }, py::arg("model_bytes"), py::arg("dense"), py::arg("dense_share"))
      .def("score", [](const v::TextModel& tm, std::string_view text, const py::sequence& refs) {
        std::vector<py::object> keep;
        return tm.score(text, text_views(refs, keep));
      }, py::arg("text"), py::arg("references") = py::list())
      .def("score_many", [](const v::TextModel& tm, const py::sequence& texts, const py::sequence& refs, unsigned threads) {
        std::vector<py::object> keep;
        auto views = text_views(texts, keep);
        auto rviews = text_views(refs, keep);
        NoGil release;
        return tm.score_many(views, rviews, threads);
      }, py::arg("texts"), py::arg("references") = py::list(), py::arg("threads") = 0);

  py::class_<v::MinHasher>(m, "MinHasher")
      .def(py::init([](std::size_t num_perm, std::uint64_t seed, int k) { return v::MinHasher(num_perm, seed, {k, true}); }),
           py::arg("num_perm") = 128, py::arg("seed") = 1, py::arg("k") = 5)
      .def_property_readonly("num_perm", &v::MinHasher::num_perm)
      .def("signatures", [](const v::MinHasher& h, const py::sequence& texts, unsigned threads) {
        std::vector<py::object> keep;
        auto views = text_views(texts, keep);
        py::array_t<std::uint32_t> out({static_cast<py::ssize_t>(views.size()), static_cast<py::ssize_t>(h.num_perm())});
        std::uint32_t* p = out.mutable_data();
        NoGil release;
        h.text_signatures(views, p, threads);
        return out;
      }, py::arg("texts"), py::arg("threads") = 0);

  py::class_<v::MinHashLSH>(m, "MinHashLSH")
      .def(py::init<std::size_t, double, double, std::uint64_t>(), py::arg("num_perm") = 128, py::arg("threshold") = 0.8,
           py::arg("cutoff") = -1.0, py::arg("seed") = 1)
      .def_property_readonly("num_perm", [](const v::MinHashLSH& l) { return l.hasher().num_perm(); })
      .def_property_readonly("threshold", &v::MinHashLSH::threshold)
      .def_property_readonly("cutoff", &v::MinHashLSH::cutoff)
      .def_property_readonly("bands", [](const v::MinHashLSH& l) { return l.params().bands; })
      .def_property_readonly("rows", [](const v::MinHashLSH& l) { return l.params().rows; })
      .def("__len__", [](const v::MinHashLSH& l) { InstanceLock lk(&l, false); return l.size(); })
      .def("insert", [](v::MinHashLSH& l, std::string_view t) { InstanceLock lk(&l, true); return l.insert(t); }, py::arg("text"))
      .def("query", [](const v::MinHashLSH& l, std::string_view t) { InstanceLock lk(&l, false); return matches_to_py(l.query(t)); }, py::arg("text"))
      .def("insert_many", [](v::MinHashLSH& l, const py::sequence& texts, unsigned threads) {
        std::vector<py::object> keep;
        auto views = text_views(texts, keep);
        std::vector<std::uint32_t> ids;
        InstanceLock lk(&l, true);
        { NoGil release; ids = l.insert_many(views, threads); }
        return py::array_t<std::uint32_t>(static_cast<py::ssize_t>(ids.size()), ids.data());
      }, py::arg("texts"), py::arg("threads") = 0)
      .def("query_many", [](const v::MinHashLSH& l, const py::sequence& texts, unsigned threads) {
        std::vector<py::object> keep;
        auto views = text_views(texts, keep);
        std::vector<std::vector<v::MinHashLSH::Match>> res;
        InstanceLock lk(&l, false);
        { NoGil release; res = l.query_many(views, threads); }
        py::list out;
        for (const auto& r : res) out.append(matches_to_py(r));
        return out;
      }, py::arg("texts"), py::arg("threads") = 0);

  py::class_<v::EditIndex>(m, "EditIndex")
      .def(py::init<double, std::size_t, std::size_t, std::uint64_t>(), py::arg("share") = 0.05,
           py::arg("min_length") = 10, py::arg("max_length") = 256, py::arg("seed") = 1)
      .def_property_readonly("share", &v::EditIndex::share)
      .def_property_readonly("min_length", &v::EditIndex::min_length)
      .def_property_readonly("max_length", &v::EditIndex::max_length)
      .def("cap", &v::EditIndex::cap, py::arg("length"))
      .def("forget", [](v::EditIndex& x, std::uint32_t id) { InstanceLock lk(&x, true); x.forget(id); }, py::arg("id"))
      .def("__len__", [](const v::EditIndex& x) { InstanceLock lk(&x, false); return x.size(); })
      .def("insert", [](v::EditIndex& x, std::string_view t) { InstanceLock lk(&x, true); return x.insert(t); }, py::arg("text"))
      .def("query", [](const v::EditIndex& x, std::string_view t, std::size_t limit) {
        std::vector<v::EditIndex::Match> ms;
        {
          InstanceLock lk(&x, false);
          NoGil release;
          ms = x.query(t, limit);
        }
        py::list out;
        for (const auto& mm : ms) out.append(py::make_tuple(mm.id, mm.edits, mm.length));
        return out;
      }, py::arg("text"), py::arg("limit") = 16);

  py::class_<v::ContainmentIndex>(m, "ContainmentIndex")
      .def(py::init<std::size_t, std::size_t, double, double, std::uint64_t>(), py::arg("min_length") = 20,
           py::arg("max_length") = 256, py::arg("inside_share") = 0.5, py::arg("part_share") = 0.6, py::arg("seed") = 1)
      .def("__len__", [](const v::ContainmentIndex& x) { InstanceLock lk(&x, false); return x.size(); })
      .def("insert", [](v::ContainmentIndex& x, std::string_view t) { InstanceLock lk(&x, true); return x.insert(t); },
           py::arg("text"))
      .def("forget", [](v::ContainmentIndex& x, std::uint32_t id) { InstanceLock lk(&x, true); x.forget(id); },
           py::arg("id"))
      .def("query", [](const v::ContainmentIndex& x, std::string_view t, std::size_t limit) {
        std::vector<v::ContainmentIndex::Match> ms;
        {
          InstanceLock lk(&x, false);
          NoGil release;
          ms = x.query(t, limit);
        }
        static const char* const kinds[] = {"inside", "start", "end", "middle"};
        py::list out;
        for (const auto& mm : ms) out.append(py::make_tuple(mm.id, kinds[static_cast<int>(mm.kind)], mm.length));
        return out;
      }, py::arg("text"), py::arg("limit") = 16);

  py::class_<v::ImageHashes>(m, "ImageHashes")
      .def_readonly("phash", &v::ImageHashes::phash).def_readonly("dhash", &v::ImageHashes::dhash)
      .def_readonly("mean", &v::ImageHashes::mean).def_readonly("stddev", &v::ImageHashes::stddev);
  m.def("image_hashes", [](const py::array& a) {
    auto g = gray_view(a);
    NoGil release;
    return v::image_hashes(g);
  }, py::arg("gray"));
  m.def("phash_coefficients", [](const py::array& a) {
    auto c = v::phash_coefficients(gray_view(a));
    return py::array_t<double>({8, 8}, c.data());
  }, py::arg("gray"));
  m.def("area_resize", [](const py::array& a, std::size_t rows, std::size_t cols) {
    auto g = gray_view(a);
    py::array_t<double> out({rows, cols});
    v::area_resize(g, rows, cols, out.mutable_data());
    return out;
  }, py::arg("gray"), py::arg("rows"), py::arg("cols"));
  m.def("hamming", &v::hamming, py::arg("a"), py::arg("b"));
  py::class_<v::HashIndex>(m, "HashIndex")
      .def(py::init<>())
      .def("insert", &v::HashIndex::insert, py::arg("hash"))
      .def("query", [](const v::HashIndex& ix, std::uint64_t h, int d) {
        py::list l;
        for (const auto& mm : ix.query(h, d)) l.append(py::make_tuple(mm.id, mm.distance));
        return l;
      }, py::arg("hash"), py::arg("max_distance"))
      .def("__len__", &v::HashIndex::size);

  py::class_<v::WavInfo>(m, "WavInfo")
      .def_readonly("reason", &v::WavInfo::reason).def_readonly("detail", &v::WavInfo::detail)
      .def_readonly("format", &v::WavInfo::format).def_readonly("channels", &v::WavInfo::channels)
      .def_readonly("sample_rate", &v::WavInfo::sample_rate).def_readonly("bits_per_sample", &v::WavInfo::bits_per_sample)
      .def_readonly("frames", &v::WavInfo::frames).def_readonly("duration_s", &v::WavInfo::duration_s)
      .def_readonly("data_offset", &v::WavInfo::data_offset).def_readonly("data_bytes", &v::WavInfo::data_bytes);
  py::class_<v::AudioStats>(m, "AudioStats")
      .def_readonly("silence_ratio", &v::AudioStats::silence_ratio).def_readonly("rms_dbfs", &v::AudioStats::rms_dbfs)
      .def_readonly("peak_dbfs", &v::AudioStats::peak_dbfs).def_readonly("clipping_ratio", &v::AudioStats::clipping_ratio)
      .def_readonly("nonfinite", &v::AudioStats::nonfinite);
  m.def("analyze_wav", [](const py::object& data, double window_ms, double silence_dbfs) {
    BytesArg b(data, "wav");
    NoGil release;
    auto info = v::parse_wav(b.view());
    auto stats = v::audio_stats(b.view(), info, window_ms, silence_dbfs);
    return std::make_pair(info, stats);
  }, py::arg("data"), py::arg("window_ms") = 20.0, py::arg("silence_dbfs") = -50.0);

  m.def("valid_reason_code", &v::valid_reason_code, py::arg("code"));
  m.attr("RECEIPT_DOMAIN") = py::bytes(std::string(v::kReceiptDomain));
  // Receipts cross as tuples; the Python Receipt class owns the object model.
  using Fields = std::tuple<std::string, std::string, py::bytes, std::string, std::vector<std::string>,
                            std::vector<std::pair<std::string, std::int64_t>>, py::bytes, py::bytes>;
  auto from_fields = [](const std::string& task_id, const std::string& item_id, const py::object& ct_hash,
                        const std::string& status, const std::vector<std::string>& reasons,
                        const std::vector<std::pair<std::string, std::int64_t>>& scores, const py::object& verifier,
                        const py::object& signature) {
    v::Receipt r{task_id, item_id, {}, status, reasons, scores, {}, {}};
    auto copy = [](const py::object& o, const char* what, auto& dst) {
      BytesArg b(o, what);
      if (b.size() != dst.size())
        throw InvalidArgument(std::string(what) + " must be " + std::to_string(dst.size()) + " bytes, got " + std::to_string(b.size()));
      std::copy(b.view().begin(), b.view().end(), dst.begin());
    };
    copy(ct_hash, "ciphertext_hash", r.ciphertext_hash);
    copy(verifier, "verifier", r.verifier);
    copy(signature, "signature", r.signature);
    return r;
  };
  auto to_fields = [](const v::Receipt& r) {
    return Fields{r.task_id, r.item_id, to_py(r.ciphertext_hash), r.status, r.reasons, r.scores_micro,
                  to_py(r.verifier), to_py(r.signature)};
  };
  m.def("receipt_encode", [=](const std::string& a, const std::string& b, const py::object& c, const std::string& d,
                              const std::vector<std::string>& e, const std::vector<std::pair<std::string, std::int64_t>>& f,
                              const py::object& g, const py::object& h) { return to_py(from_fields(a, b, c, d, e, f, g, h).encode()); });
  m.def("receipt_signed_message", [=](const std::string& a, const std::string& b, const py::object& c, const std::string& d,
                                      const std::vector<std::string>& e, const std::vector<std::pair<std::string, std::int64_t>>& f,
                                      const py::object& g) {
    return to_py(from_fields(a, b, c, d, e, f, g, py::bytes(std::string(64, '\0'))).signed_message());
  });
  m.def("receipt_decode", [=](const py::object& data) { return to_fields(v::Receipt::decode(BytesArg(data, "receipt").view())); },
        py::arg("data"));
  m.def("receipt_verify", [=](const py::object& data, const py::object& expected) {
    auto r = v::Receipt::decode(BytesArg(data, "receipt").view());
    if (expected.is_none()) return r.verify();
    tagger::crypto::VerifyKey vk(BytesArg(expected, "verify key").view());
    r.verify(&vk);
  }, py::arg("data"), py::arg("expected") = py::none());
}

}  // namespace tagger::bindings
