// tagger._core: one submodule per C++ module, registered by bind_<module>.cc.
#include <algorithm>
#include <utility>
#include <vector>

#include "common.h"

namespace tagger::bindings {

static std::vector<std::pair<std::string, BindFn>>& registry() {
  static std::vector<std::pair<std::string, BindFn>> r;
  return r;
}

int register_module(const char* name, BindFn fn) {
  registry().emplace_back(name, fn);
  return 0;
}

BytesArg::BytesArg(const py::object& obj, const char* what) {
  if (py::isinstance<py::str>(obj))
    throw InvalidArgument(std::string(what) + " must be bytes-like, got str (encode it first)");
  if (!PyObject_CheckBuffer(obj.ptr()))
    throw InvalidArgument(std::string(what) + " must be bytes-like, got " +
                          std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
  info_ = py::reinterpret_borrow<py::buffer>(obj).request();
  if (info_.itemsize != 1 && info_.ndim != 0)
    throw InvalidArgument(std::string(what) + " must be a buffer of bytes (itemsize 1), got itemsize " +
                          std::to_string(info_.itemsize));
  if (info_.ndim > 1)
    throw InvalidArgument(std::string(what) + " must be one-dimensional");
  if (info_.ndim == 1 && info_.strides[0] != 1)
    throw InvalidArgument(std::string(what) + " must be contiguous");
}

void bind_errors(py::module_& m);

}  // namespace tagger::bindings

PYBIND11_MODULE(_core, m) {
  using namespace tagger::bindings;
  m.doc() = "tagger's C++ core; use the tagger package, not this module";
  m.attr("__version__") = TAGGER_VERSION;
  bind_errors(m);
  auto entries = registry();
  std::sort(entries.begin(), entries.end());
  for (auto& [name, fn] : entries) {
    auto sub = m.def_submodule(name.c_str());
    fn(sub);
  }
}
