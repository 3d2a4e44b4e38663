// The TorchScript backbone: loading, device and dtype placement, forward.
#pragma once

#include <string>

#include <torch/script.h>

#include <jina3/task.hpp>

namespace jina3 {

struct BackboneSpec {
  std::string path;            // backbone.pt
  DType package_dtype;         // as stored (manifest)
  int hidden_size;
  int bos_id;
  int eos_id;
};

// Thread safety: forward() may run concurrently; the module is only read after construction.
class Backbone {
 public:
  // Throws DeviceError (device or dtype unavailable), ModelInvalid (file unreadable as TorchScript,
  // wrong forward signature, wrong output shape).
  Backbone(const BackboneSpec& spec, Device device, int device_index, DType requested_dtype);

  // input_ids, attention_mask: int64 [B, L]; task_ids: int64 [B] (-1 = no adapter); all on device().
  // Returns the last hidden state [B, L, hidden_size] on device() in the compute dtype.
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                        const torch::Tensor& task_ids) const;

  const torch::Device& device() const noexcept { return device_; }
  DType dtype() const noexcept { return dtype_; }  // effective: never Auto
  // The activations' dtype: dtype(), except for int8 packages, whose layers other than the int8
  // products compute in bfloat16 where the CPU has native bfloat16, float32 elsewhere.
  DType compute_dtype() const noexcept { return compute_dtype_; }

 private:
  // jit::Module is a shared handle whose forward() is not const-qualified; calling it does not
  // change the module.
  mutable torch::jit::Module module_;
  torch::Device device_;
  DType dtype_;
  DType compute_dtype_;
  int hidden_size_;
};

// Checks that a CUDA device is usable; throws DeviceError otherwise.
void require_cuda(int device_index);

}  // namespace jina3
