// Python classes for the jina3 error taxonomy and the translator from the C++ exceptions:
//
//   jina3::Error (base)      -> jina3.Error(RuntimeError)
//   jina3::InvalidArgument   -> jina3.InvalidArgumentError(Error, ValueError)
//   jina3::InputTooLong      -> jina3.InputTooLongError(Error, ValueError)
//   jina3::ModelNotFound     -> jina3.ModelNotFoundError(Error, FileNotFoundError)
//   jina3::ModelInvalid      -> jina3.ModelInvalidError(Error)
//   jina3::VersionMismatch   -> jina3.VersionMismatchError(Error)
//   jina3::DeviceError       -> jina3.DeviceError(Error)
//   jina3::QueueFull         -> jina3.QueueFullError(Error)
//   jina3::DeadlineExceeded  -> jina3.DeadlineExceededError(Error, TimeoutError)
//   jina3::Cancelled         -> jina3.CancelledError(Error)
//   std::bad_alloc           -> MemoryError
//
// Each class also derives from the matching built-in so that callers who only know Python's own
// exceptions (except ValueError, except FileNotFoundError) still catch them. jina3.CancelledError is
// deliberately not asyncio.CancelledError: that one means "this task was cancelled" and is a
// BaseException, while the encoder cancelling a request is an ordinary failure of the call.
#include <new>
#include <string>

#include <jina3/errors.hpp>

#include "module.hpp"

namespace jina3::python {
namespace {

// Created once at import; the module and these statics each hold a reference, so the classes
// outlive every exception the translator can raise.
struct ErrorClasses {
  PyObject* base = nullptr;
  PyObject* invalid_argument = nullptr;
  PyObject* input_too_long = nullptr;
  PyObject* model_not_found = nullptr;
  PyObject* model_invalid = nullptr;
  PyObject* version_mismatch = nullptr;
  PyObject* device = nullptr;
  PyObject* queue_full = nullptr;
  PyObject* deadline_exceeded = nullptr;
  PyObject* cancelled = nullptr;
};
ErrorClasses classes;

PyObject* add_class(py::module_& m, const char* name, const char* doc, py::tuple bases) {
  const std::string qualified = std::string("jina3.") + name;
  PyObject* cls = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases.ptr(), nullptr);
  if (cls == nullptr) throw py::error_already_set();
  m.add_object(name, py::reinterpret_borrow<py::object>(cls));
  return cls;  // the new reference from PyErr_NewExceptionWithDoc is the static's
}

// The class of a jina3::Error, from its code: subclasses always carry their own code, and the
// core also throws the base class with a specific code (e.g. OutOfMemory from LibTorch).
PyObject* class_for(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidArgument: return classes.invalid_argument;
    case ErrorCode::InputTooLong: return classes.input_too_long;
    case ErrorCode::ModelNotFound: return classes.model_not_found;
    case ErrorCode::ModelInvalid: return classes.model_invalid;
    case ErrorCode::VersionMismatch: return classes.version_mismatch;
    case ErrorCode::Device: return classes.device;
    case ErrorCode::QueueFull: return classes.queue_full;
    case ErrorCode::DeadlineExceeded: return classes.deadline_exceeded;
    case ErrorCode::Cancelled: return classes.cancelled;
    case ErrorCode::OutOfMemory: return PyExc_MemoryError;
    default: return classes.base;  // Internal, BufferTooSmall (never raised here), anything new
  }
}

// Raises cls(message) with .code set to the canonical code name ("invalid_argument", ...). The
// message may quote user text, so undecodable bytes are replaced rather than failing the raise.
void raise(PyObject* cls, const Error& error) {
  const std::string message = error.what();
  py::object text = py::reinterpret_steal<py::object>(
      PyUnicode_DecodeUTF8(message.data(), static_cast<Py_ssize_t>(message.size()), "replace"));
  if (!text) return;  // PyUnicode_DecodeUTF8 has set MemoryError
  py::object exception = py::reinterpret_steal<py::object>(PyObject_CallOneArg(cls, text.ptr()));
  if (!exception) return;  // constructing it failed; that error is set and is raised instead
  if (PyObject_SetAttrString(exception.ptr(), "code", py::str(to_string(error.code())).ptr()) != 0) return;
  PyErr_SetObject(cls, exception.ptr());
}

}  // namespace

void register_errors(py::module_& m) {
  classes.base = add_class(m, "Error",
                           "Base class of every jina3 error (a RuntimeError). The attribute ``code`` holds the\n"
                           "canonical code name shared with the C API, e.g. ``'invalid_argument'``.\n\n"
                           "Example::\n\n"
                           "    try:\n"
                           "        encoder.encode(['hi'], task='no-such-task')\n"
                           "    except jina3.Error as e:\n"
                           "        print(e.code, e)\n",
                           py::make_tuple(py::handle(PyExc_RuntimeError)));
  const py::handle base(classes.base);
  classes.invalid_argument = add_class(
      m, "InvalidArgumentError",
      "A bad argument: unknown task, unsupported dims, invalid UTF-8, out-of-range option.\n\n"
      "Example::\n\n    encoder.encode(['hi'], dims=7)  # raises InvalidArgumentError\n",
      py::make_tuple(base, py::handle(PyExc_ValueError)));
  classes.input_too_long = add_class(
      m, "InputTooLongError",
      "A text is longer than max_length tokens and truncation is off.\n\n"
      "Example::\n\n    encoder.encode([long_text], max_length=16, truncate=False)  # raises InputTooLongError\n",
      py::make_tuple(base, py::handle(PyExc_ValueError)));
  classes.model_not_found = add_class(
      m, "ModelNotFoundError",
      "The package directory, or a file in it, does not exist.\n\n"
      "Example::\n\n    jina3.Encoder('/no/such/package')  # raises ModelNotFoundError\n",
      py::make_tuple(base, py::handle(PyExc_FileNotFoundError)));
  classes.model_invalid = add_class(
      m, "ModelInvalidError",
      "The package is corrupt: bad manifest, checksum mismatch, missing or misshaped tensor.\n\n"
      "Example::\n\n    jina3.Encoder(damaged_package)  # raises ModelInvalidError\n",
      py::make_tuple(base));
  classes.version_mismatch = add_class(
      m, "VersionMismatchError",
      "The package format (or the torch version it was exported with) is one this build cannot read.\n\n"
      "Example::\n\n    jina3.Encoder(package_from_the_future)  # raises VersionMismatchError\n",
      py::make_tuple(base));
  classes.device = add_class(
      m, "DeviceError",
      "The device is unavailable (CUDA asked for but absent) or does not support the dtype.\n\n"
      "Example::\n\n    jina3.Encoder(path, device='cuda')  # raises DeviceError on a machine without CUDA\n",
      py::make_tuple(base));

  classes.queue_full = add_class(
      m, "QueueFullError",
      "The encoder's request queue (max_queued_requests) is full and the call asked not to wait.\n\n"
      "Example::\n\n    encoder.encode(texts, block_when_full=False)  # raises QueueFullError when full\n",
      py::make_tuple(base));
  classes.deadline_exceeded = add_class(
      m, "DeadlineExceededError",
      "The request had not started when its deadline (deadline_us) passed. Also a TimeoutError.\n\n"
      "Example::\n\n    encoder.encode(texts, deadline_us=50_000)  # raises it if not started within 50 ms\n",
      py::make_tuple(base, py::handle(PyExc_TimeoutError)));
  classes.cancelled = add_class(
      m, "CancelledError",
      "The encoder was deleted before the request ran. Not asyncio.CancelledError, which means that\n"
      "the awaiting task itself was cancelled.\n\n"
      "Example::\n\n    pending = asyncio.ensure_future(encoder.encode_async(texts))\n"
      "    del encoder  # pending raises CancelledError unless it had already started\n",
      py::make_tuple(base));

  py::register_exception_translator([](std::exception_ptr pending) {
    try {
      if (pending) std::rethrow_exception(pending);
    } catch (const Error& e) {  // every subclass carries its own code, so the code picks the class
      raise(class_for(e.code()), e);
    } catch (const std::bad_alloc&) {
      PyErr_SetString(PyExc_MemoryError, "jina3: out of memory");
    }
    // Anything else propagates to pybind11's own translators (std::exception -> RuntimeError).
  });
}

py::object exception_object(std::exception_ptr failure) {
  try {
    std::rethrow_exception(failure);
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (const Error& e) {
    raise(class_for(e.code()), e);
  } catch (const std::bad_alloc&) {
    PyErr_SetString(PyExc_MemoryError, "jina3: out of memory");
  } catch (const std::exception& e) {  // what pybind11 would raise for it
    PyErr_SetString(PyExc_RuntimeError, e.what());
  } catch (...) {
    PyErr_SetString(PyExc_RuntimeError, "jina3: unknown C++ exception");
  }
  py::error_already_set raised;  // takes the error just set (normalised) off the thread state
  return raised.value();
}

}  // namespace jina3::python
