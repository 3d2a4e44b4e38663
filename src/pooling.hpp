// From the backbone's token states to embeddings: mean pooling, Matryoshka truncation, L2 norm.
#pragma once

#include <torch/types.h>

namespace jina3 {

// hidden: [B, L, H] in any float dtype; attention_mask: int64 [B, L] on the same device.
// Returns float32 [B, dims] on the same device: the mean over real tokens (computed in float32),
// cut to its first dims values, then L2-normalised if normalize.
torch::Tensor pool_embeddings(const torch::Tensor& hidden, const torch::Tensor& attention_mask, int dims, bool normalize);

}  // namespace jina3
