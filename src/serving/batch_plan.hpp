// Planning padded forward passes: limits and the length-sorted split. No LibTorch here, so the
// scheduler and its unit tests can use it alone.
#pragma once

#include <cstddef>
#include <vector>

namespace jina3 {

struct BatchLimits {
  std::size_t max_tokens;  // padded tokens (rows x longest row) per pass; a longer text runs alone
  std::size_t max_rows;    // rows per pass
};

// Default limits: the CPU gains little from big batches and long padded rows cost cache; a GPU
// needs large batches to be busy.
BatchLimits automatic_batch_limits(bool cuda);

// Splits rows into passes: rows sorted by length, longest first (so padding is small and memory
// peaks show up in the first pass), each pass within the limits. Returns row indices per pass.
std::vector<std::vector<std::size_t>> plan_batches(const std::vector<std::size_t>& lengths, const BatchLimits& limits);

}  // namespace jina3
