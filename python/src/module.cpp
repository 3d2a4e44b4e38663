// The compiled module jina3._jina3; python/jina3/__init__.py re-exports everything in it.
#include <jina3/version.hpp>

#include "async.hpp"
#include "module.hpp"
#include "outputs.hpp"

PYBIND11_MODULE(_jina3, m) {
  namespace py = pybind11;
  m.doc() = "jina-embeddings-v3 in-process (the compiled core of the jina3 package).";
  // The library's own version string, so Python reports what is actually loaded.
  m.attr("__version__") = jina3::version();
  // Errors first: the other registrations' default arguments may already need the translator.
  jina3::python::register_errors(m);
  jina3::python::register_task(m);
  jina3::python::register_outputs(m);
  jina3::python::register_encoder(m);
  jina3::python::init_async();
}
