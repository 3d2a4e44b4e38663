// Running C++ work with the GIL released, and Python work inside it.
#pragma once

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include <Python.h>

namespace jina3::python {

inline bool interpreter_is_finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing() != 0;
#else
  return _Py_IsFinalizing() != 0;
#endif
}

// Returns work() (or rethrows what it threw), run with the GIL released. Not pybind11's
// gil_scoped_release: when the interpreter exits while a daemon thread is in work(), that
// thread's PyEval_RestoreThread ends it with a forced unwind (pthread_exit), which std::terminates
// if it starts in a noexcept destructor. Here it starts in an ordinary call and unwinds normally.
template <typename Work>
auto without_gil(Work&& work) -> decltype(work()) {
  using Result = decltype(work());
  if (interpreter_is_finalizing()) return work();  // no other thread will run Python anyway
  std::exception_ptr failure;
  PyThreadState* state = PyEval_SaveThread();
  if constexpr (std::is_void_v<Result>) {
    try {
      work();
    } catch (...) {
      failure = std::current_exception();
    }
    PyEval_RestoreThread(state);
    if (failure) std::rethrow_exception(failure);
  } else {
    std::optional<Result> result;
    try {
      result.emplace(work());
    } catch (...) {
      failure = std::current_exception();
    }
    PyEval_RestoreThread(state);
    if (failure) std::rethrow_exception(failure);
    return std::move(*result);
  }
}

// Returns work() run with the GIL held, for a callback that the core calls on a thread that
// released it (inside without_gil). PyGILState_Ensure also works where this thread holds the GIL
// already (without_gil during finalisation). What work() throws propagates, the GIL released.
template <typename Work>
auto with_gil(Work&& work) -> decltype(work()) {
  struct Hold {
    PyGILState_STATE state = PyGILState_Ensure();
    ~Hold() { PyGILState_Release(state); }
  } hold;
  return work();
}

}  // namespace jina3::python
