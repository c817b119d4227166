// tagger._core.store: the content-addressed blob store.
#include "common.h"
#include "tagger/store.h"

namespace tagger::bindings {
namespace s = tagger::store;

static Hash32 to_hash(const py::object& h) {
  BytesArg b(h, "blob hash");
  if (b.size() != 32) throw InvalidArgument("blob hash must be 32 bytes, got " + std::to_string(b.size()));
  Hash32 out;
  std::copy(b.view().begin(), b.view().end(), out.begin());
  return out;
}

TAGGER_BIND_MODULE(store) {
  py::class_<s::BlobStore>(m, "BlobStore")
      .def_static("open", &s::BlobStore::open, py::arg("root"))
      .def_static("memory", &s::BlobStore::memory)
      .def("put", [](s::BlobStore& st, const py::object& sealed) {
        BytesArg d(sealed, "sealed");
        Hash32 h;
        {
          NoGil release;
          h = st.put(d.view());
        }
        return to_py(h);
      }, py::arg("sealed"))
      .def("put_file", [](s::BlobStore& st, const std::string& path) {
        Hash32 h;
        {
          NoGil release;
          h = st.put_file(path);
        }
        return to_py(h);
      }, py::arg("path"))
      .def("get", [](const s::BlobStore& st, const py::object& hash) -> py::object {
        Hash32 h = to_hash(hash);
        std::optional<Bytes> b;
        {
          NoGil release;
          b = st.get(h);
        }
        if (!b) return py::none();
        return to_py(*b);
      }, py::arg("hash"))
      .def("contains", [](const s::BlobStore& st, const py::object& h) { return st.contains(to_hash(h)); })
      .def("remove", [](s::BlobStore& st, const py::object& h) { return st.remove(to_hash(h)); })
      .def("list", [](const s::BlobStore& st) {
        py::list out;
        for (const auto& h : st.list()) out.append(to_py(h));
        return out;
      })
      .def("size", &s::BlobStore::size)
      .def("in_memory", &s::BlobStore::in_memory)
      .def("root", &s::BlobStore::root)
      .def("path_of", [](const s::BlobStore& st, const py::object& h) { return st.path_of(to_hash(h)); });
}

}  // namespace tagger::bindings
