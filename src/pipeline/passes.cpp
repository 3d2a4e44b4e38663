// The passes stage (see passes.hpp).
#include "pipeline/passes.hpp"

#include <algorithm>
#include <cstring>
#include <future>
#include <memory>

#include <fmt/format.h>

#include <jina3/errors.hpp>

#include "model/model.hpp"
#include "pipeline/normalize.hpp"

namespace jina3::pipeline {

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

// Jina's encode(): mean pooling in float32; truncation to dims and normalisation follow per row.
torch::Tensor mean_pool(const torch::Tensor& hidden, const torch::Tensor& attention_mask) {
  c10::InferenceMode inference;
  torch::Tensor mask = attention_mask.to(torch::kFloat32).unsqueeze(-1);  // [B, L, 1]
  torch::Tensor summed = (hidden.to(torch::kFloat32) * mask).sum(1);       // [B, H]
  // Every row has at least <s> and </s>, so the count is never zero; the clamp only guards.
  torch::Tensor counts = mask.sum(1).clamp_min(1.0f);                      // [B, 1]
  return (summed / counts).contiguous();
}

void run_pass(const Model& model, const std::vector<detail::PassRow>& rows) {
  const auto& on = model.backbone().device();
  try {
    BatchInputs inputs = make_batch_inputs(rows, model.manifest().special_ids.pad);
    torch::Tensor input_ids = inputs.input_ids.to(on);
    torch::Tensor mask = inputs.attention_mask.to(on);
    torch::Tensor task_ids = inputs.task_ids.to(on);
    torch::Tensor hidden = model.backbone().forward(input_ids, mask, task_ids);
    const auto hidden_size = static_cast<std::size_t>(model.manifest().hidden_size);
    const auto spec_of = [](const detail::PassRow& row) { return static_cast<const RowSpec*>(row.spec); };
    const bool any_pooled = std::any_of(rows.begin(), rows.end(), [&](const auto& r) { return !spec_of(r)->token_states; });
    torch::Tensor pooled;
    if (any_pooled) pooled = mean_pool(hidden, mask).to(torch::kCPU).contiguous();
    for (std::size_t b = 0; b < rows.size(); ++b) {
      const detail::PassRow& row = rows[b];
      const RowSpec& spec = *spec_of(row);
      if (spec.token_states) {  // the output stage pools these itself (spans) or returns them
        const auto n = static_cast<std::int64_t>(row.ids->size());
        torch::Tensor states =
            hidden[static_cast<std::int64_t>(b)].narrow(0, 0, n).to(torch::kCPU, torch::kFloat32).contiguous();
        std::memcpy(row.output, states.data_ptr<float>(), sizeof(float) * static_cast<std::size_t>(n) * hidden_size);
        continue;
      }
      std::memcpy(row.output, pooled.data_ptr<float>() + b * hidden_size, sizeof(float) * spec.width);
      if (spec.normalize) detail::normalize_row(row.output, spec.width);
    }
  } catch (const c10::OutOfMemoryError& e) {
    throw Error(fmt::format("out of memory while encoding: {}", e.what_without_backtrace()), ErrorCode::OutOfMemory);
  } catch (const c10::Error& e) {
    throw Error(fmt::format("LibTorch failed while encoding: {}", e.what_without_backtrace()), ErrorCode::Internal);
  }
}

void run_and_wait(const Services& services, detail::Job job) {
  if (job.ids.empty()) return;
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> finished = done->get_future();
  services.scheduler.submit(std::move(job), true, [done](std::exception_ptr error) {
    if (error) done->set_exception(error);
    else done->set_value();
  });
  finished.get();
}

}  // namespace jina3::pipeline
