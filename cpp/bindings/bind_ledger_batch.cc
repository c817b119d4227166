// tagger._core.ledger, batch paths (cpp/src/ledger/batch.cc): numpy and list
// conversions only; called from bind_ledger.cc.
#include "common.h"
#include "tagger/ledger.h"

namespace tagger::bindings {
namespace L = tagger::ledger;
using GIL = NoGil;
using namespace pybind11::literals;


// ---- batch paths (cpp/src/ledger/batch.cc): numpy and list conversions only ----
using I32 = py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>;
using I64 = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;
using U32 = py::array_t<std::uint32_t, py::array::c_style | py::array::forcecast>;
static std::span<const std::int32_t> span_of(const I32& a) { return {a.data(), static_cast<std::size_t>(a.size())}; }
static std::span<const std::uint32_t> span_of(const U32& a) { return {a.data(), static_cast<std::size_t>(a.size())}; }
// Views of str (UTF-8, cached by CPython) or bytes items; `list` must outlive them.
static std::vector<std::string_view> text_views(const py::list& list, const char* what, bool allow_bytes) {
  std::vector<std::string_view> out;
  out.reserve(list.size());
  for (auto item : list) {
    PyObject* o = item.ptr();
    Py_ssize_t n = 0;
    if (PyUnicode_Check(o)) {
      const char* p = PyUnicode_AsUTF8AndSize(o, &n);
      if (p == nullptr) throw py::error_already_set();
      out.emplace_back(p, static_cast<std::size_t>(n));
    } else if (allow_bytes && PyBytes_Check(o)) {
      out.emplace_back(PyBytes_AS_STRING(o), static_cast<std::size_t>(PyBytes_GET_SIZE(o)));
    } else {
      throw InvalidArgument(std::string(what) + " must be " + (allow_bytes ? "str or bytes" : "str") + ", got " +
                            std::string(py::str(py::type::of(item).attr("__name__"))));
    }
  }
  return out;
}
static std::vector<ByteView> byte_views(const std::vector<std::string_view>& v) {
  std::vector<ByteView> out;
  out.reserve(v.size());
  for (auto s : v) out.push_back(as_bytes(s));
  return out;
}
static py::bytes packed(const std::vector<Hash32>& h) {
  static_assert(sizeof(Hash32) == 32);
  return to_py(ByteView(h.empty() ? nullptr : h.front().data(), 32 * h.size()));
}
static std::vector<Hash32> unpacked(const py::object& o) {
  BytesArg b(o, "packed hashes");
  if (b.size() % 32) throw InvalidArgument("packed hashes must be a multiple of 32 bytes, got " + std::to_string(b.size()));
  std::vector<Hash32> out(b.size() / 32);
  if (!out.empty()) std::copy(b.view().begin(), b.view().end(), out.front().begin());
  return out;
}

void bind_ledger_batch(py::module_& m) {
  m.attr("MAX_ANSWERS_PER_TX") = L::kMaxAnswersPerTx;
  m.def("answers_payload", [](const py::object& task, const I32& items, const I32& labels,
                              const std::optional<U32>& duration_ms, const std::optional<U32>& confidence_ppm) {
    return to_py(L::answers_payload(fixed_bytes<32>(task, "task id"), span_of(items), span_of(labels),
                                    duration_ms ? span_of(*duration_ms) : std::span<const std::uint32_t>{},
                                    confidence_ppm ? span_of(*confidence_ppm) : std::span<const std::uint32_t>{}));
  }, "task_id"_a, "items"_a, "labels"_a, "duration_ms"_a = py::none(), "confidence_ppm"_a = py::none());
  m.def("make_answers_txs", [](const std::vector<crypto::SigningKey>& signers, const std::vector<std::uint64_t>& nonces,
                               const I64& offsets, const I32& items, const I32& labels, const py::object& task,
                               std::uint64_t chain, unsigned threads, const std::optional<U32>& duration_ms) {
    auto id = fixed_bytes<32>(task, "task id");
    std::vector<Bytes> out;
    { GIL g; out = L::make_answers_txs(signers, nonces, {offsets.data(), static_cast<std::size_t>(offsets.size())},
                                       span_of(items), span_of(labels), id, chain, threads,
                                       duration_ms ? span_of(*duration_ms) : std::span<const std::uint32_t>{}); }
    py::list l;
    for (auto& b : out) l.append(to_py(b));
    return l;
  }, "signers"_a, "nonces"_a, "offsets"_a, "items"_a, "labels"_a, "task_id"_a, "chain_id"_a, "threads"_a = 0,
     "duration_ms"_a = py::none());
  m.def("manifest_leaves", [](const py::list& ids, const py::object& commitments, const I32& codes,
                              const std::vector<std::string>& names) {
    auto v = text_views(ids, "item id", false);
    BytesArg c(commitments, "commitments");
    std::vector<Bytes> out;
    { GIL g; out = L::manifest_leaves(v, c.view(), span_of(codes), names); }
    py::list l;
    for (auto& b : out) l.append(to_py(b));
    return l;
  }, "item_ids"_a, "commitments"_a, "label_codes"_a, "label_names"_a);
  m.def("manifest_leaf_ids", [](const py::list& leaves) {
    return L::manifest_leaf_ids(byte_views(text_views(leaves, "leaf", true)));
  }, "leaves"_a);
  m.def("merkle_leaf_hashes", [](const py::list& records, unsigned threads) {
    auto v = byte_views(text_views(records, "record", true));
    std::vector<Hash32> out;
    { GIL g; out = L::merkle_leaf_hashes(v, threads); }
    return packed(out);
  }, "records"_a, "threads"_a = 0);
  m.def("salted_sha256", [](const py::object& salt, const py::list& data, unsigned threads) {
    BytesArg s(salt, "salt");
    auto v = byte_views(text_views(data, "item data", true));
    std::vector<Hash32> out;
    { GIL g; out = L::salted_sha256(s.view(), v, threads); }
    return packed(out);
  }, "salt"_a, "data"_a, "threads"_a = 0);
  m.def("merkle_root_packed", [](const py::object& h) {
    auto v = unpacked(h);
    Hash32 r;
    { GIL g; r = L::merkle_root(v); }
    return to_py(r);
  }, "leaf_hashes"_a);
  m.def("merkle_proof_packed", [](const py::object& h, std::size_t i) {
    auto v = unpacked(h);
    std::vector<Hash32> p;
    { GIL g; p = L::merkle_proof(v, i); }
    py::list out;
    for (auto& x : p) out.append(to_py(x));
    return out;
  }, "leaf_hashes"_a, "index"_a);
  py::class_<L::MerkleTree>(m, "MerkleTree")
      .def(py::init([](const py::object& h) { auto v = unpacked(h); GIL g; return L::MerkleTree(std::move(v)); }),
           "leaf_hashes"_a)
      .def("__len__", &L::MerkleTree::size)
      .def("root", [](const L::MerkleTree& t) { return to_py(t.root()); })
      .def("leaf", [](const L::MerkleTree& t, std::size_t i) { return to_py(t.leaf(i)); }, "index"_a)
      .def("proof", [](const L::MerkleTree& t, std::size_t i) {
        py::list out;
        for (auto& x : t.proof(i)) out.append(to_py(x));
        return out;
      }, "index"_a);
}

}  // namespace tagger::bindings
