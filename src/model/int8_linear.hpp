// The int8 linear layers of int8 packages: weights quantised at export (int8, symmetric, one scale
// per output channel), activations quantised per row at run time (int8, symmetric), products
// accumulated in int32 by oneDNN (VNNI or AMX-INT8 where the CPU has them), then scaled in float32,
// with the LoRA adapters and the bias added in floating point, as the bf16/f32 layers do
// (python/jina3/export/backbone.py Int8LoRALinear; the TorchScript operator jina3::lora_linear_int8).
#pragma once

#include <string>

#include <ATen/ATen.h>

namespace jina3::int8 {

// What runs the int8 products on this CPU, for reports: "oneDNN 2.6.3 brg:avx512_core_vnni".
std::string engine_description();

// qweight [N, K] int8 (an nn.Linear weight) in oneDNN's layout for this CPU: a 1-D int8 tensor
// that lora_linear_int8 takes in place of qweight, without repacking it on every call.
at::Tensor pack_weight(const at::Tensor& qweight);

// input [..., K] (bfloat16 or float32, CPU) -> [..., N] in input's dtype:
//   (quantised input) @ qweightᵀ * row scale * wscale + the LoRA tail (cpu::LoraTail):
// qweight [N, K] int8 or pack_weight's tensor; wscale [N] float32; down [J, K] and up_t [J + 1, N]
// (every task's scale * B transposed, then the bias) in input's dtype; task_mask [G, 1, J] with
// G dividing input's rows (one mask row per G-th of the rows: per batch row for [B, L, K]).
at::Tensor lora_linear_int8(const at::Tensor& input, const at::Tensor& qweight, const at::Tensor& wscale,
                            const at::Tensor& down, const at::Tensor& up_t, const at::Tensor& task_mask);

// GELU(lora_linear_int8(...)) (erf form, float32 arithmetic; in bfloat16 of the sum rounded to
// bfloat16): fc1 and its activation in one operator.
at::Tensor lora_linear_int8_gelu(const at::Tensor& input, const at::Tensor& qweight, const at::Tensor& wscale,
                                 const at::Tensor& down, const at::Tensor& up_t, const at::Tensor& task_mask);

// Per-row quantisation as lora_linear_int8 does it: (q int8 [rows, K], scales float32 [rows]).
std::tuple<at::Tensor, at::Tensor> quantize_rows(const at::Tensor& input);

}  // namespace jina3::int8
