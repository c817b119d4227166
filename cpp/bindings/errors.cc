// Maps every tagger::Error onto the class of the same name in tagger.errors.
#include <string_view>

#include "common.h"

namespace tagger::bindings {

void bind_errors(py::module_& m) {
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const tagger::Error& e) {
      py::object errors = py::module_::import("tagger.errors");
      py::object cls = py::getattr(errors, e.kind(), errors.attr("TaggerError"));
      // A message may quote the input's bytes (a damaged tokenizer model's piece): PyErr_SetString
      // decodes strictly and raised UnicodeDecodeError instead, outside tagger.errors.
      const std::string_view msg = e.what();
      PyObject* text = PyUnicode_DecodeUTF8(msg.data(), static_cast<Py_ssize_t>(msg.size()), "backslashreplace");
      if (text == nullptr) {
        PyErr_Clear();
        PyErr_SetString(cls.ptr(), e.kind());
        return;
      }
      PyErr_SetObject(cls.ptr(), text);
      Py_DECREF(text);
    }
  });
  // The C++ kinds, so a test can check every one has its Python class.
  m.def("error_kinds", [] {
    std::vector<std::string> kinds{"TaggerError"};
#define TAGGER_ADD_KIND(Name, Base) kinds.push_back(#Name);
    TAGGER_ERROR_KINDS(TAGGER_ADD_KIND)
#undef TAGGER_ADD_KIND
    return kinds;
  });
}

}  // namespace tagger::bindings
