// The passes stage: the pass function the scheduler calls (pad the rows, run the backbone, then
// mean-pool or keep every token's states, cut to width and normalise, as each row's RowSpec says),
// and a helper that runs rows through the scheduler and waits for them.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "pipeline/request.hpp"
#include "serving/scheduler.hpp"

namespace jina3 {
class Model;

namespace pipeline {

// The backbone's inputs for one pass, on the CPU.
struct BatchInputs {
  torch::Tensor input_ids;       // int64 [B, L], right-padded with pad_id
  torch::Tensor attention_mask;  // int64 [B, L]
  torch::Tensor task_ids;        // int64 [B]
};

// The rows of one pass, right-padded to the longest.
BatchInputs make_batch_inputs(const std::vector<detail::PassRow>& rows, std::int64_t pad_id);

// hidden: [B, L, H] in any float dtype; attention_mask: int64 [B, L] on the same device. Returns
// float32 [B, H] on the same device: the mean over real tokens, computed in float32.
torch::Tensor mean_pool(const torch::Tensor& hidden, const torch::Tensor& attention_mask);

// One forward pass over rows (rows of different requests, tasks and specs share it); each row's
// output as its RowSpec says. Throws OutOfMemory or Internal for LibTorch's failures.
void run_pass(const Model& model, const std::vector<detail::PassRow>& rows);

// Queues job (its spec must outlive the call) and waits until its rows have run; rethrows the
// request's failure.
void run_and_wait(const Services& services, detail::Job job);

}  // namespace pipeline
}  // namespace jina3
