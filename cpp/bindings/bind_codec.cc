#include "common.h"
#include "tagger/codec.h"

namespace tagger::bindings {
namespace cd = tagger::codec;

// Python object <-> codec::Value: pure type conversion, recursion bounded by
// the same depth limit the decoder enforces.
static cd::Value from_py(const py::handle& o, int depth, int max_depth) {
  if (o.is_none()) return cd::Value(cd::Nil{});
  if (py::isinstance<py::bool_>(o)) return cd::Value(o.cast<bool>());
  if (py::isinstance<py::int_>(o)) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o.ptr(), &overflow);
    if (overflow == 0) return cd::Value(static_cast<std::int64_t>(v));
    if (overflow > 0) {
      unsigned long long u = PyLong_AsUnsignedLongLong(o.ptr());
      if (PyErr_Occurred()) { PyErr_Clear(); throw InvalidArgument("integer does not fit in 64 bits"); }
      return cd::Value(static_cast<std::uint64_t>(u));
    }
    throw InvalidArgument("integer does not fit in 64 bits");
  }
  if (py::isinstance<py::float_>(o))
    throw InvalidArgument("floats are not allowed in canonical records (use integers, e.g. base units or basis points)");
  if (py::isinstance<py::str>(o)) return cd::Value(o.cast<std::string>());
  if (py::isinstance<py::bytes>(o) || py::isinstance<py::bytearray>(o) || py::isinstance<py::memoryview>(o)) {
    BytesArg b(py::reinterpret_borrow<py::object>(o), "bytes");
    return cd::Value(Bytes(b.view().begin(), b.view().end()));
  }
  if (py::isinstance<py::list>(o) || py::isinstance<py::tuple>(o)) {
    if (depth >= max_depth) throw InvalidArgument("nesting deeper than the limit of " + std::to_string(max_depth));
    cd::Array a;
    for (auto item : o) a.push_back(from_py(item, depth + 1, max_depth));
    return cd::Value(std::move(a));
  }
  if (py::isinstance<py::dict>(o))
    throw InvalidArgument("maps are not allowed in canonical records (use an array in a fixed field order)");
  throw InvalidArgument("cannot encode an object of type " + std::string(py::str(py::type::handle_of(o).attr("__name__"))));
}

static py::object to_py_value(const cd::Value& v) {
  struct Visit {
    py::object operator()(const cd::Nil&) { return py::none(); }
    py::object operator()(bool b) { return py::bool_(b); }
    py::object operator()(std::uint64_t u) { return py::int_(u); }
    py::object operator()(std::int64_t i) { return py::int_(i); }
    py::object operator()(const std::string& s) { return py::str(s); }
    py::object operator()(const Bytes& b) { return to_py(b); }
    py::object operator()(const cd::Array& a) {
      py::list l(a.size());
      for (std::size_t i = 0; i < a.size(); ++i) l[i] = to_py_value(a[i]);
      return l;
    }
  };
  return std::visit(Visit{}, v.v);
}

TAGGER_BIND_MODULE(codec) {
  cd::Limits defaults;
  m.attr("MAX_LENGTH") = defaults.max_length;
  m.attr("MAX_ITEMS") = defaults.max_items;
  m.attr("MAX_DEPTH") = defaults.max_depth;
  m.def("encode", [](const py::object& obj, int max_depth) {
    return to_py(cd::encode(from_py(obj, 0, max_depth)));
  }, py::arg("obj"), py::arg("max_depth") = defaults.max_depth);
  m.def("decode", [](const py::object& data, std::size_t max_length, std::size_t max_items, int max_depth) {
    BytesArg d(data, "data");
    cd::Limits limits{max_length, max_items, max_depth};
    return to_py_value(cd::decode(d.view(), limits));
  }, py::arg("data"), py::arg("max_length") = defaults.max_length, py::arg("max_items") = defaults.max_items,
     py::arg("max_depth") = defaults.max_depth);
}

}  // namespace tagger::bindings
