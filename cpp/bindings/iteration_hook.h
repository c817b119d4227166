// The per-iteration hook of an iterative consensus fit, shared by the binding files: it
// re-acquires the GIL once per iteration to run the Python progress callback and to let
// Ctrl-C stop the fit (the fit itself runs with the GIL released, so signal handlers would
// otherwise wait for its end). A Python error raised there is kept until the fit returns.
#pragma once

#include <chrono>
#include <memory>
#include <optional>

#include "common.h"
#include "tagger/consensus.h"

namespace tagger::bindings {

using PendingError = std::shared_ptr<std::optional<py::error_already_set>>;

// Sets o.on_iteration: callback(iteration, n_iter, objective, change) where given (returning
// False stops the fit), and a signal check. Returns where a raised Python error is kept.
//
// `callback` is held as a handle, not an object: the cores copy their Options with the GIL
// released, and a captured py::object would be reference-counted there. The caller's object
// outlives the fit (it is an argument of the binding call). Without a callback the GIL is taken
// only to check for signals, at most every 100 ms: every iteration, it cost a switch interval
// (~5 ms) per iteration beside a busy Python thread. Once the interpreter is finalizing the
// GIL is not taken at all (a thread asking for it then is ended by pthread_exit, whose unwind
// through the core aborts the process) and the fit goes on, as it did without a hook, until
// the process exits (stopping it early only brought the thread to the GIL sooner).
inline PendingError hook_iterations(consensus::Options& o, const py::object& callback) {
  PendingError error = std::make_shared<std::optional<py::error_already_set>>();
  const py::handle cb = callback;
  const bool call = !callback.is_none();
  auto last_check = std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
  o.on_iteration = [cb, call, error, last_check](const consensus::IterationInfo& i) {
    if (python_finalizing()) return true;
    const auto now = std::chrono::steady_clock::now();
    // A check inside an iteration is for Ctrl-C only: the callback reports whole iterations.
    if ((!call || i.within) && now - *last_check < std::chrono::milliseconds(100)) return true;
    *last_check = now;
    std::optional<py::gil_scoped_acquire> gil;
    acquire_gil(gil);
    return run_python_or_park([&] {
      try {
        if (PyErr_CheckSignals() != 0) throw py::error_already_set();
        if (i.within || !call) return true;
        // Raw references, not py::objects: if the thread is ended inside the call, the unwind
        // meets no destructor that would free a Python object without the GIL.
        PyObject* args = Py_BuildValue("(iidd)", static_cast<int>(i.iteration), static_cast<int>(i.n_iter),
                                       i.objective, i.change);
        if (args == nullptr) throw py::error_already_set();
        PyObject* out = PyObject_CallObject(cb.ptr(), args);
        Py_DECREF(args);
        if (out == nullptr) throw py::error_already_set();
        const bool stop = out == Py_False;
        Py_DECREF(out);
        return !stop;
      } catch (py::error_already_set& e) {
        error->emplace(std::move(e));
        return false;
      }
    });
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
