// Summaries of timing samples, shared by jina3_bench and jina3_load_bench (benchmarks/summary.py
// computes the Python side's the same way, so that the figures compare).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace jina3_bench {

// Nearest-rank percentile of an unsorted sample (p in (0, 100]); NaN for an empty one.
inline double percentile(std::vector<double> values, double p) {
  if (values.empty()) return NAN;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  return values[std::min(values.size(), std::max<std::size_t>(rank, 1)) - 1];
}

}  // namespace jina3_bench
