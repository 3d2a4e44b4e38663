// The backbone's padded inputs for one pass (planning is in batch_plan.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "batch_plan.hpp"
#include "scheduler.hpp"

namespace jina3 {

// The backbone's inputs for one pass, on the CPU.
struct BatchInputs {
  torch::Tensor input_ids;       // int64 [B, L], right-padded with pad_id
  torch::Tensor attention_mask;  // int64 [B, L]
  torch::Tensor task_ids;        // int64 [B]
};

// The rows of one pass, right-padded to the longest.
BatchInputs make_batch_inputs(const std::vector<detail::PassRow>& rows, std::int64_t pad_id);

}  // namespace jina3
