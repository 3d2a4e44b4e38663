// L2 normalisation of one float32 row, shared by sentence pooling (passes.cpp) and chunk pooling
// (chunk_plan.cpp). No LibTorch here.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace jina3::detail {

// As torch.nn.functional.normalize: divide by max(norm, 1e-12). The sum of squares is in double,
// so a row's result does not depend on which rows shared its pass.
inline void normalize_row(float* row, std::size_t dims) {
  double squares = 0;
  for (std::size_t d = 0; d < dims; ++d) squares += static_cast<double>(row[d]) * row[d];
  const float norm = std::max(static_cast<float>(std::sqrt(squares)), 1e-12f);
  for (std::size_t d = 0; d < dims; ++d) row[d] /= norm;
}

}  // namespace jina3::detail
