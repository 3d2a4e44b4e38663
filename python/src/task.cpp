// jina3.Task: the C++ enum with its canonical names ("retrieval.query", ...) as str().
#include <string>

#include <jina3/errors.hpp>
#include <jina3/task.hpp>

#include "module.hpp"

namespace jina3::python {

Task task_from_python(py::handle task) {
  if (task.is_none()) return Task::None;
  if (py::isinstance<Task>(task)) return task.cast<Task>();
  if (py::isinstance<py::str>(task)) {
    Py_ssize_t size = 0;
    const char* name = PyUnicode_AsUTF8AndSize(task.ptr(), &size);
    if (name == nullptr) {  // a lone surrogate cannot be UTF-8 and so cannot be a task name
      PyErr_Clear();
      throw InvalidArgument("the task name is not valid Unicode (it contains a lone surrogate)");
    }
    return task_from_string(std::string_view(name, static_cast<std::size_t>(size)));
  }
  throw py::type_error("task must be None, a str such as 'retrieval.query' or a jina3.Task, not " +
                       std::string(py::str(py::type::handle_of(task).attr("__name__"))));
}

void register_task(py::module_& m) {
  // Python names are the C++ enumerator names, except None, a Python keyword: Task.NONE. Any
  // task argument also accepts None and the canonical strings.
  py::enum_<Task> task(m, "Task",
                       "The task adapters of jina-embeddings-v3. ``str(task)`` is the canonical name that\n"
                       "every task argument also accepts.\n\n"
                       "Example::\n\n"
                       "    jina3.Task.RetrievalQuery          # str() -> 'retrieval.query'\n"
                       "    jina3.Task.from_string('separation')\n"
                       "    encoder.encode(texts, task=jina3.Task.TextMatching)\n");
  task.value("NONE", Task::None, "No adapter and no prompt (the same as task=None).")
      .value("RetrievalQuery", Task::RetrievalQuery, "'retrieval.query': queries for asymmetric retrieval.")
      .value("RetrievalPassage", Task::RetrievalPassage, "'retrieval.passage': documents for asymmetric retrieval.")
      .value("Separation", Task::Separation, "'separation': clustering and reranking.")
      .value("Classification", Task::Classification, "'classification': text classification.")
      .value("TextMatching", Task::TextMatching, "'text-matching': symmetric similarity (STS).");
  task.def_static(
      "from_string", [](py::object name) { return task_from_python(name); }, py::arg("name"),
      "The task with this canonical name; '' and 'none' give Task.NONE.\n\n"
      "Example::\n\n    jina3.Task.from_string('retrieval.passage')  # Task.RetrievalPassage\n");
  task.attr("__module__") = "jina3";  // where users import it from
  // Replaces pybind11's "Task.RetrievalQuery" str() (repr() keeps that form) with the name the
  // model, the C API and config files use.
  py::setattr(task, "__str__",
              py::cpp_function([](Task value) { return std::string(to_string(value)); }, py::name("__str__"),
                               py::is_method(task), "The canonical name, e.g. 'retrieval.query'."));
}

}  // namespace jina3::python
