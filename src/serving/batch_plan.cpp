// Length-sorted batching under a padded-token budget.
#include "serving/batch_plan.hpp"

#include <algorithm>
#include <numeric>

namespace jina3 {

BatchLimits automatic_batch_limits(bool cuda) {
  if (cuda) return BatchLimits{65536, 512};
  return BatchLimits{4096, 64};
}

std::vector<std::vector<std::size_t>> plan_batches(const std::vector<std::size_t>& lengths, const BatchLimits& limits) {
  std::vector<std::size_t> order(lengths.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  // Stable: equal lengths keep input order, so planning is deterministic.
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return lengths[a] > lengths[b]; });

  const std::size_t max_rows = std::max<std::size_t>(limits.max_rows, 1);
  std::vector<std::vector<std::size_t>> batches;
  std::size_t longest = 0;  // the first row of a batch is its longest
  for (std::size_t row : order) {
    bool fits = !batches.empty() && batches.back().size() < max_rows &&
                (batches.back().size() + 1) * longest <= limits.max_tokens;
    if (!fits) {
      batches.emplace_back();
      longest = lengths[row];
    }
    batches.back().push_back(row);
  }
  return batches;
}

}  // namespace jina3
