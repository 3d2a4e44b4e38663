// Grouping tokenised texts into padded forward passes, and restoring input order afterwards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <torch/types.h>

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

// The backbone's inputs for one pass, on the CPU.
struct BatchInputs {
  torch::Tensor input_ids;       // int64 [B, L], right-padded with pad_id
  torch::Tensor attention_mask;  // int64 [B, L]
  torch::Tensor task_ids;        // int64 [B]
};

// rows: indices into ids/adapters for this pass.
BatchInputs make_batch_inputs(const std::vector<std::vector<std::int32_t>>& ids, const std::vector<std::int64_t>& adapters,
                              const std::vector<std::size_t>& rows, std::int64_t pad_id);

}  // namespace jina3
