// Jina's encode(): mean pooling in float32, truncate to dims, then normalise (in that order).
#include "pooling.hpp"

namespace jina3 {

torch::Tensor pool_embeddings(const torch::Tensor& hidden, const torch::Tensor& attention_mask, int dims, bool normalize) {
  c10::InferenceMode inference;
  torch::Tensor mask = attention_mask.to(torch::kFloat32).unsqueeze(-1);  // [B, L, 1]
  torch::Tensor summed = (hidden.to(torch::kFloat32) * mask).sum(1);       // [B, H]
  // Every row has at least <s> and </s>, so the count is never zero; the clamp only guards.
  torch::Tensor counts = mask.sum(1).clamp_min(1.0f);                      // [B, 1]
  torch::Tensor pooled = summed / counts;
  if (dims < pooled.size(1)) pooled = pooled.narrow(1, 0, dims);
  if (normalize) {
    // As torch.nn.functional.normalize: divide by max(norm, 1e-12).
    pooled = pooled / pooled.norm(2, 1, true).clamp_min(1e-12);
  }
  return pooled.contiguous();
}

}  // namespace jina3
