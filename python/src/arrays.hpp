// NumPy arrays over C++ vectors, without copying them: the one way the bindings hand results on.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include <pybind11/numpy.h>

#include <jina3/encoder.hpp>

#include "module.hpp"

namespace jina3::python {

// An array of dtype and shape over values, which it takes over: a capsule frees the vector with
// the array's last view. dtype may differ from T when the bytes mean the same thing (uint8 bytes
// shown as int8 or float16). Needs the GIL.
template <typename T>
py::array owned_array(std::vector<T>&& values, const py::dtype& dtype, std::vector<py::ssize_t> shape) {
  auto owned = std::make_unique<std::vector<T>>(std::move(values));
  if (owned->data() == nullptr) owned->reserve(1);  // NumPy reads a null pointer as "allocate"
  T* data = owned->data();
  py::capsule owner(owned.get(), [](void* vector) { delete static_cast<std::vector<T>*>(vector); });
  owned.release();
  return py::array(dtype, std::move(shape), data, owner);  // C-contiguous strides from the dtype
}

// A (rows, dims) float32 array over a result's rows, the buffer the forward passes wrote.
inline py::array embeddings_array(Embeddings&& result) {
  return owned_array(std::move(result.data), py::dtype::of<float>(),
                     {static_cast<py::ssize_t>(result.rows), static_cast<py::ssize_t>(result.dims)});
}

}  // namespace jina3::python
