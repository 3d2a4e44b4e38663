// Length-sorted batching under a padded-token budget.
#include "batching.hpp"

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

BatchInputs make_batch_inputs(const std::vector<std::vector<std::int32_t>>& ids, const std::vector<std::int64_t>& adapters,
                              const std::vector<std::size_t>& rows, std::int64_t pad_id) {
  std::size_t width = 0;
  for (std::size_t row : rows) width = std::max(width, ids[row].size());
  const auto batch = static_cast<std::int64_t>(rows.size());
  const auto length = static_cast<std::int64_t>(width);

  BatchInputs inputs;
  inputs.input_ids = torch::full({batch, length}, pad_id, torch::kInt64);
  inputs.attention_mask = torch::zeros({batch, length}, torch::kInt64);
  inputs.task_ids = torch::empty({batch}, torch::kInt64);
  auto* id_data = inputs.input_ids.data_ptr<std::int64_t>();
  auto* mask_data = inputs.attention_mask.data_ptr<std::int64_t>();
  auto* task_data = inputs.task_ids.data_ptr<std::int64_t>();
  for (std::int64_t b = 0; b < batch; ++b) {
    const auto& row_ids = ids[rows[static_cast<std::size_t>(b)]];
    std::copy(row_ids.begin(), row_ids.end(), id_data + b * length);
    std::fill_n(mask_data + b * length, row_ids.size(), std::int64_t{1});
    task_data[b] = adapters[rows[static_cast<std::size_t>(b)]];
  }
  return inputs;
}

}  // namespace jina3
