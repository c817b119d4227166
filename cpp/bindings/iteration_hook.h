// The per-iteration hook of an iterative consensus fit, shared by the binding files: it
// re-acquires the GIL once per iteration to run the Python progress callback and to let
// Ctrl-C stop the fit (the fit itself runs with the GIL released, so signal handlers would
// otherwise wait for its end). A Python error raised there is kept until the fit returns.
#pragma once

#include <memory>
#include <optional>

#include "common.h"
#include "tagger/consensus.h"

namespace tagger::bindings {

using PendingError = std::shared_ptr<std::optional<py::error_already_set>>;

// Sets o.on_iteration: callback(iteration, n_iter, objective, change) where given (returning
// False stops the fit), and a signal check. Returns where a raised Python error is kept.
inline PendingError hook_iterations(consensus::Options& o, const py::object& callback) {
  PendingError error = std::make_shared<std::optional<py::error_already_set>>();
  py::object cb = callback;
  o.on_iteration = [cb, error](const consensus::IterationInfo& i) {
    py::gil_scoped_acquire gil;
    try {
      if (PyErr_CheckSignals() != 0) throw py::error_already_set();
      if (!cb.is_none() && cb(i.iteration, i.n_iter, i.objective, i.change).is(py::bool_(false))) return false;
      return true;
    } catch (py::error_already_set& e) {
      error->emplace(std::move(e));
      return false;
    }
  };
  return error;
}

// Raises the error the hook kept, if any (call with the GIL held, after the fit returned).
inline void rethrow_pending(const PendingError& error) {
  if (*error) {
    py::error_already_set e = std::move(**error);
    error->reset();
    throw e;
  }
}

}  // namespace tagger::bindings
