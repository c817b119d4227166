// Shared by the binding files: byte conversions and the registry through
// which each bind_<module>.cc adds its submodule. A registry (rather than a
// list in module.cc) lets modules be added without touching a shared file.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#if defined(__GLIBCXX__)
#include <cxxabi.h>
#endif

#include "tagger/bytes.h"
#include "tagger/huge_array.h"
#include "tagger/errors.h"

namespace tagger::bindings {
namespace py = pybind11;

using BindFn = void (*)(py::module_&);
int register_module(const char* name, BindFn fn);

// Holds a Python buffer (bytes, bytearray, memoryview, uint8 numpy) and views
// it without copying. The object stays alive as long as this does.
class BytesArg {
 public:
  BytesArg(const py::object& obj, const char* what);
  ByteView view() const { return {static_cast<const std::uint8_t*>(info_.ptr), static_cast<std::size_t>(info_.size)}; }
  std::size_t size() const { return static_cast<std::size_t>(info_.size); }

 private:
  py::buffer_info info_;
};

// Exactly N bytes from any buffer (ids, keys, hashes), else InvalidArgument.
template <std::size_t N>
std::array<std::uint8_t, N> fixed_bytes(const py::object& o, const char* what) {
  BytesArg b(o, what);
  if (b.size() != N)
    throw InvalidArgument(std::string(what) + " must be " + std::to_string(N) + " bytes, got " + std::to_string(b.size()));
  std::array<std::uint8_t, N> a;
  std::copy(b.view().begin(), b.view().end(), a.begin());
  return a;
}

// A numpy array that takes over `v` (moved, not copied); shape defaults to 1-d.
template <class T>
py::array_t<T> take(std::vector<T>&& v, std::vector<py::ssize_t> shape = {}) {
  auto heap = std::make_unique<std::vector<T>>(std::move(v));
  // The capsule takes ownership: the array's memory lives as long as the array.
  py::capsule owner(heap.get(), [](void* p) { std::unique_ptr<std::vector<T>> drop(static_cast<std::vector<T>*>(p)); });
  auto* data = heap.release();
  if (shape.empty()) shape = {static_cast<py::ssize_t>(data->size())};
  return py::array_t<T>(shape, data->data(), owner);
}
// The same for a HugeArray (its mapping goes back to the kept ones when the array is freed).
template <class T>
py::array_t<T> take(util::HugeArray<T>&& a) {
  if (a.empty()) return py::array_t<T>(0);
  auto heap = std::make_unique<util::HugeArray<T>>(std::move(a));
  py::capsule owner(heap.get(), [](void* p) { std::unique_ptr<util::HugeArray<T>> drop(static_cast<util::HugeArray<T>*>(p)); });
  auto* data = heap.release();
  return py::array_t<T>({static_cast<py::ssize_t>(data->size())}, data->data(), owner);
}
// For C++ objects whose methods mutate with the GIL released (Simulator,
// MinHashLSH): one reader/writer lock per instance, so two Python threads
// sharing an object are serialized instead of racing. Constructed and
// destroyed with the GIL held; while it waits for the lock it releases the
// GIL, and it is never waited on by a thread that holds the GIL, so it cannot
// deadlock with the GIL. Hold it across the GIL-released work and the
// conversions of its results.
class InstanceLock {
 public:
  InstanceLock(const void* obj, bool exclusive);
  ~InstanceLock();
  InstanceLock(const InstanceLock&) = delete;
  InstanceLock& operator=(const InstanceLock&) = delete;

 private:
  const void* obj_;
  bool exclusive_;
  std::shared_ptr<std::shared_mutex> mu_;
};

// True once the interpreter is shutting down; readable without the GIL. A thread that asks
// for the GIL then is ended by pthread_exit, whose forced unwind aborts the process where it
// meets a joinable std::thread or a noexcept frame: such code must not ask.
inline bool python_finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing() != 0;
#else
  return _Py_IsFinalizing() != 0;
#endif
}

[[noreturn]] inline void park_forever() {
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

// Called with the GIL released, before taking it back: a thread that asks for the GIL while the
// interpreter is finalizing is ended by pthread_exit, which from gil_scoped_release's destructor
// (it cannot unwind) aborts the process ("terminate called", exit status 134) when a fit in a
// daemon thread ends during shutdown. Such a thread is parked instead, as it would have been had
// the fit still been running when the process exited.
inline void park_if_finalizing() {
  if (python_finalizing()) park_forever();
}

// Runs take (which takes the GIL back) and parks the thread if CPython ends it meanwhile. Checking
// python_finalizing() first is not enough: a thread already waiting for the GIL when shutdown
// begins is ended by pthread_exit from inside take_gil, and that forced unwind aborted the
// process at the first noexcept frame (gil_scoped_release's destructor: 13 of 20 exits with a
// verbose fit in a daemon thread), or would have run destructors of Python objects without the
// GIL. Caught here and never rethrown, it leaves the thread asleep until the process exits, as a
// thread still busy in C++ at exit is.
template <class Take>
void take_gil_or_park(Take&& take) noexcept {
#if defined(__GLIBCXX__)
  try {
    take();
  } catch (abi::__forced_unwind&) {
    // Never leave this handler: ending it without rethrowing makes glibc abort ("exception not
    // rethrown"), and rethrowing brings back the unwind this catch exists to stop.
    park_forever();
  }
#else
  take();
#endif
}

// Runs fn, Python code called from C++ with the GIL held through a py::gil_scoped_acquire of the
// caller's, and parks the thread if CPython ends it meanwhile. Python code lets other threads run
// (the eval loop drops the GIL on request), and a daemon thread that asks for it back during
// shutdown is ended by pthread_exit. That unwind ran ~gil_scoped_acquire, whose
// PyEval_SaveThread cleared the *finalizing* thread's current state and released its GIL: the
// main thread then crashed in its final garbage collection (a verbose fit in a daemon thread,
// 2 to 5 of 60 exits under load, status -11). Other exceptions pass.
template <class Fn>
decltype(auto) run_python_or_park(Fn&& fn) {
#if defined(__GLIBCXX__)
  try {
    return fn();
  } catch (abi::__forced_unwind&) {
    park_forever();  // (as in take_gil_or_park: never leave this handler)
  }
#else
  return fn();
#endif
}

// The GIL released for a scope, as py::gil_scoped_release (also as a py::call_guard), taken
// back through take_gil_or_park: every binding uses it, since any call may run in a daemon thread.
class NoGil {
 public:
  NoGil() : state_(PyEval_SaveThread()) {}
  ~NoGil() {
    PyThreadState* state = state_;
    take_gil_or_park([state] { PyEval_RestoreThread(state); });
  }
  NoGil(const NoGil&) = delete;
  NoGil& operator=(const NoGil&) = delete;

 private:
  PyThreadState* state_;
};

// py::gil_scoped_acquire into `gil`, through take_gil_or_park.
inline void acquire_gil(std::optional<py::gil_scoped_acquire>& gil) noexcept {
  take_gil_or_park([&gil] { gil.emplace(); });
}

// Runs fn(stop) on a worker thread with the GIL released, while the calling thread checks for
// Python signals every 50 ms: on Ctrl-C (or any signal handler that raises) it sets `stop`,
// waits for fn to return or throw (a fit reading stop throws FitStopped within a few hundred
// examples), and raises the Python error (KeyboardInterrupt). A long fit was otherwise
// uninterruptible: its C++ loop never returns to the interpreter that runs signal handlers.
template <class Fn>
auto run_interruptible(Fn&& fn) -> decltype(fn(static_cast<const std::atomic<bool>*>(nullptr))) {
  using R = decltype(fn(static_cast<const std::atomic<bool>*>(nullptr)));
  std::atomic<bool> stop{false};
  std::optional<R> result;
  std::exception_ptr failure;
  std::optional<py::error_already_set> interrupted;
  {
    NoGil release;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::thread worker([&] {
      try {
        result.emplace(fn(&stop));
      } catch (...) {
        failure = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(mu);
      done = true;
      cv.notify_one();
    });
    // However this frame is left (a forced unwind included), the worker is stopped and joined
    // first: a joinable std::thread's destructor calls std::terminate.
    struct Joined {
      std::thread& t;
      std::atomic<bool>& stop;
      ~Joined() {
        if (t.joinable()) {
          stop.store(true, std::memory_order_relaxed);
          t.join();
        }
      }
    } joined{worker, stop};
    std::unique_lock<std::mutex> lock(mu);
    while (!cv.wait_for(lock, std::chrono::milliseconds(50), [&] { return done; })) {
      if (interrupted) continue;  // stop is set: wait for the worker to see it
      if (python_finalizing()) continue;  // no GIL to ask for; the fit goes on until the process exits
      lock.unlock();
      {
        std::optional<py::gil_scoped_acquire> gil;
        acquire_gil(gil);
        run_python_or_park([&] {
          if (PyErr_CheckSignals() != 0) {
            interrupted.emplace();  // takes the pending Python error
            stop.store(true, std::memory_order_relaxed);
          }
        });
      }
      lock.lock();
    }
    lock.unlock();
    worker.join();
    park_if_finalizing();
  }
  if (interrupted) throw std::move(*interrupted);
  if (failure) std::rethrow_exception(failure);
  return std::move(*result);
}

inline py::bytes to_py(ByteView b) { return py::bytes(reinterpret_cast<const char*>(b.data()), b.size()); }

}  // namespace tagger::bindings

#define TAGGER_BIND_MODULE(name)                                                              \
  static void tagger_bind_##name(pybind11::module_& m);                                      \
  [[maybe_unused]] static const int tagger_registered_##name =                               \
      ::tagger::bindings::register_module(#name, &tagger_bind_##name);                       \
  static void tagger_bind_##name(pybind11::module_& m)
