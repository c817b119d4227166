// Maps every tagger::Error onto the class of the same name in tagger.errors.
#include "common.h"

namespace tagger::bindings {

void bind_errors(py::module_& m) {
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const tagger::Error& e) {
      py::object errors = py::module_::import("tagger.errors");
      py::object cls = py::getattr(errors, e.kind(), errors.attr("TaggerError"));
      PyErr_SetString(cls.ptr(), e.what());
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
