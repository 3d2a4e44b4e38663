// Python classes for the jina3 error codes and the translator from the C++ exceptions. The classes
// come from the error table (JINA3_ERROR_CODES in include/jina3/errors.hpp): each row with a
// Python class name gets jina3.<Name>(jina3.Error[, its built-in base]), with the row's doc line;
// the other codes raise jina3.Error itself (Internal, BufferTooSmall) or, for OutOfMemory, the
// built-in MemoryError. jina3.Error derives from RuntimeError, and std::bad_alloc raises
// MemoryError too.
//
// The built-in bases let callers who only know Python's own exceptions (except ValueError,
// except FileNotFoundError) still catch them. jina3.CancelledError is deliberately not
// asyncio.CancelledError: that one means "this task was cancelled" and is a BaseException, while
// the encoder cancelling a request is an ordinary failure of the call.
#include <cctype>
#include <iterator>
#include <new>
#include <string>

#include <jina3/errors.hpp>

#include "module.hpp"

namespace jina3::python {
namespace {

// One row of the error table as Python sees it.
struct ErrorRow {
  ErrorCode code;
  const char* canonical;  // "invalid_argument", ...
  const char* python_class;
  const char* builtin_base;
  const char* doc;
};
constexpr ErrorRow kErrorRows[] = {
#define JINA3_X(name, value, text, py_class, py_base, doc) {ErrorCode::name, text, py_class, py_base, doc},
    JINA3_ERROR_CODES(JINA3_X)
#undef JINA3_X
};

// The class raised for each row's code, filled at import. The module and these hold references,
// so the classes outlive every exception the translator can raise.
PyObject* base_class = nullptr;
PyObject* row_classes[std::size(kErrorRows)] = {};

PyObject* add_class(py::module_& m, const char* name, const std::string& doc, py::tuple bases) {
  const std::string qualified = std::string("jina3.") + name;
  PyObject* cls = PyErr_NewExceptionWithDoc(qualified.c_str(), doc.c_str(), bases.ptr(), nullptr);
  if (cls == nullptr) throw py::error_already_set();
  m.add_object(name, py::reinterpret_borrow<py::object>(cls));
  return cls;  // the new reference from PyErr_NewExceptionWithDoc is the caller's
}

// A row's docstring: its doc line as a sentence, the built-in base it also is, and how to catch it.
std::string class_doc(const ErrorRow& row) {
  std::string doc = row.doc;
  doc[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(doc[0])));
  doc += ".";
  if (*row.builtin_base) doc += std::string(" Also a ") + row.builtin_base + ".";
  return doc + "\n\nExample::\n\n    try:\n        ...  # a jina3 call\n    except jina3." + row.python_class +
         " as e:\n        print(e.code, e)  # e.code == '" + row.canonical + "'\n";
}

// The class of a jina3::Error, from its code: subclasses always carry their own code, and the
// core also throws the base class with a specific code (e.g. OutOfMemory from LibTorch).
PyObject* class_for(ErrorCode code) {
  for (std::size_t i = 0; i < std::size(kErrorRows); ++i) {
    if (kErrorRows[i].code == code && row_classes[i] != nullptr) return row_classes[i];
  }
  return base_class;  // codes without a class of their own, and any value outside the table
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
  base_class = add_class(m, "Error",
                         "Base class of every jina3 error (a RuntimeError). The attribute ``code`` holds the\n"
                         "canonical code name shared with the C API, e.g. ``'invalid_argument'``.\n"
                         "jina3.CancelledError is not asyncio.CancelledError, which means that the awaiting\n"
                         "task itself was cancelled.\n\n"
                         "Example::\n\n"
                         "    try:\n"
                         "        encoder.encode(['hi'], task='no-such-task')\n"
                         "    except jina3.Error as e:\n"
                         "        print(e.code, e)\n",
                         py::make_tuple(py::handle(PyExc_RuntimeError)));
  const py::module_ builtins = py::module_::import("builtins");
  for (std::size_t i = 0; i < std::size(kErrorRows); ++i) {
    const ErrorRow& row = kErrorRows[i];
    const bool own_class = *row.python_class != '\0';
    if (!own_class && *row.builtin_base != '\0') {  // the built-in itself (MemoryError)
      row_classes[i] = py::object(builtins.attr(row.builtin_base)).release().ptr();
    } else if (own_class) {
      py::tuple bases = *row.builtin_base ? py::make_tuple(py::handle(base_class), builtins.attr(row.builtin_base))
                                          : py::make_tuple(py::handle(base_class));
      row_classes[i] = add_class(m, row.python_class, class_doc(row), bases);
    }
  }

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
