// The backbone's padded inputs for one pass.
#include "batching.hpp"

#include <algorithm>

namespace jina3 {

BatchInputs make_batch_inputs(const std::vector<detail::PassRow>& rows, std::int64_t pad_id) {
  std::size_t width = 0;
  for (const auto& row : rows) width = std::max(width, row.ids->size());
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
    const auto& row = rows[static_cast<std::size_t>(b)];
    std::copy(row.ids->begin(), row.ids->end(), id_data + b * length);
    std::fill_n(mask_data + b * length, row.ids->size(), std::int64_t{1});
    task_data[b] = row.adapter;
  }
  return inputs;
}

}  // namespace jina3
