// Shared declarations of the _jina3 binding files: one register_* per public header, plus the
// argument converters more than one binding needs.
#pragma once

#include <exception>

#include <pybind11/pybind11.h>

#include <jina3/task.hpp>

namespace jina3::python {

namespace py = pybind11;

void register_errors(py::module_& m);   // errors.cpp: exception classes and translator
void register_task(py::module_& m);     // task.cpp: jina3.Task
void register_encoder(py::module_& m);  // encoder.cpp: jina3.Encoder

// None, a jina3.Task or a task name ("retrieval.query", ...). Raises TypeError for anything else
// and InvalidArgumentError (from the core) for an unknown name.
Task task_from_python(py::handle task);

// The Python exception for a C++ failure, built as the translator would raise it (the jina3 class
// for its code, MemoryError, RuntimeError, or the Python error it carries), for callers that hand
// exceptions on instead of raising them (asyncio futures). Needs the GIL.
py::object exception_object(std::exception_ptr failure);

}  // namespace jina3::python
