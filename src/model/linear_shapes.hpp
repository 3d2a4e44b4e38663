// Shape helpers shared by the linear-layer operators (torch_ops.cpp, int8_linear.cpp): an input
// [..., K] is rows x K, and an output keeps the leading dimensions with N in place of K.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

namespace jina3 {

inline std::int64_t rows_of(const at::Tensor& input) {
  return input.numel() / std::max<std::int64_t>(1, input.size(-1));
}

// An uninitialised [..., outputs] tensor with input's leading dimensions and options.
inline at::Tensor empty_output(const at::Tensor& input, std::int64_t outputs) {
  std::vector<std::int64_t> shape(input.sizes().begin(), input.sizes().end());
  shape.back() = outputs;
  return at::empty(shape, input.options());
}

}  // namespace jina3
