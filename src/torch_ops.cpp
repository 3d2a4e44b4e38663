// TorchScript operators jina3::* that an exported backbone calls where hand-written CPU kernels
// beat LibTorch's (see cpu_kernels.hpp). Registered when libjina3 is loaded, so they exist before
// any package is, and in Python once jina3._jina3 is imported (jina3.export scripts against them).
// Every operator computes the same function as its LibTorch fallback, which runs whenever the
// kernel cannot: another device or dtype, a CPU without the instructions, an unusual layout.
#include <cstdint>
#include <string>

#include <ATen/Parallel.h>
#include <torch/library.h>
#include <torch/torch.h>

#include "cpu_kernels.hpp"

namespace jina3 {
namespace {

// Rows up to which the bfloat16 kernel beats oneDNN (measured with benchmarks/cpu_kernels.py).
constexpr std::int64_t kSmallLinearMaxRows = 48;

bool use_softmax_kernel(const at::Tensor& scores, const at::Tensor& bias) {
  return cpu::has_avx512() && scores.is_cpu() && scores.dim() == 3 && scores.is_contiguous() &&
         (scores.scalar_type() == at::kFloat || scores.scalar_type() == at::kBFloat16) && bias.is_cpu() &&
         bias.scalar_type() == at::kFloat && bias.dim() == 3 && bias.is_contiguous() &&
         bias.size(0) == scores.size(0) && bias.size(1) == 1 && bias.size(2) == scores.size(2);
}

// scores [G, n, L] <- softmax(scores + bias) over L, float32 arithmetic; bias [G, 1, L] float32.
at::Tensor softmax_with_bias_(at::Tensor scores, const at::Tensor& bias) {
  if (!use_softmax_kernel(scores, bias)) {
    at::Tensor logits = scores.to(at::kFloat).add_(bias);
    scores.copy_(at::softmax(logits, -1));
    return scores;
  }
  const std::int64_t groups = scores.size(0), rows_per_group = scores.size(1), length = scores.size(2);
  const std::int64_t rows = groups * rows_per_group;
  if (rows == 0 || length == 0) return scores;
  const float* bias_data = bias.data_ptr<float>();
  const bool bf16 = scores.scalar_type() == at::kBFloat16;
  void* data = scores.data_ptr();
  // Grain: at least 32 KiB of scores per task.
  const std::int64_t grain = std::max<std::int64_t>(1, 8192 / std::max<std::int64_t>(1, length));
  at::parallel_for(0, rows, grain, [&](std::int64_t begin, std::int64_t end) {
    // Split at group boundaries: each group has its own bias row.
    for (std::int64_t r = begin; r < end;) {
      const std::int64_t group = r / rows_per_group;
      const std::int64_t stop = std::min(end, (group + 1) * rows_per_group);
      const float* group_bias = bias_data + group * length;
      if (bf16) {
        cpu::softmax_with_bias_bf16(static_cast<std::uint16_t*>(data) + r * length, group_bias, stop - r, length);
      } else {
        cpu::softmax_with_bias_f32(static_cast<float*>(data) + r * length, group_bias, stop - r, length);
      }
      r = stop;
    }
  });
  return scores;
}

bool use_linear_kernel(const at::Tensor& input, const at::Tensor& weight, const c10::optional<at::Tensor>& bias) {
  if (!cpu::has_avx512_bf16() || !input.is_cpu() || input.scalar_type() != at::kBFloat16 || input.dim() < 1 ||
      !weight.is_cpu() || weight.scalar_type() != at::kBFloat16 || weight.dim() != 2 || !weight.is_contiguous() ||
      weight.size(1) != input.size(-1) || !input.is_contiguous()) {
    return false;
  }
  if (bias.has_value() && bias->defined() &&
      (!bias->is_cpu() || bias->scalar_type() != at::kBFloat16 || !bias->is_contiguous() || bias->dim() != 1 ||
       bias->size(0) != weight.size(0))) {
    return false;
  }
  const std::int64_t rows = input.numel() / std::max<std::int64_t>(1, input.size(-1));
  return rows >= 1 && rows <= kSmallLinearMaxRows;
}

// input [..., K] @ weight[N, K]ᵀ + bias[N], as nn.Linear.
at::Tensor linear(const at::Tensor& input, const at::Tensor& weight, const c10::optional<at::Tensor>& bias) {
  if (!use_linear_kernel(input, weight, bias)) return at::linear(input, weight, bias);
  const std::int64_t depth = input.size(-1), outputs = weight.size(0);
  const std::int64_t rows = input.numel() / depth;
  std::vector<std::int64_t> shape(input.sizes().begin(), input.sizes().end());
  shape.back() = outputs;
  at::Tensor output = at::empty(shape, input.options());
  const auto* x = static_cast<const std::uint16_t*>(input.data_ptr());
  const auto* w = static_cast<const std::uint16_t*>(weight.data_ptr());
  const auto* b = bias.has_value() && bias->defined() ? static_cast<const std::uint16_t*>(bias->data_ptr()) : nullptr;
  auto* y = static_cast<std::uint16_t*>(output.data_ptr());
  // Threads split the output columns (so the weight) in blocks of 4, the kernel's tile width.
  const std::int64_t blocks = (outputs + 3) / 4;
  at::parallel_for(0, blocks, 1, [&](std::int64_t begin, std::int64_t end) {
    cpu::linear_bf16(x, depth, w, b, y, outputs, rows, depth, begin * 4, std::min(outputs, end * 4));
  });
  return output;
}

// Which kernels this process runs, e.g. "softmax:avx512 linear:avx512_bf16" or
// "softmax:torch linear:torch". For tests and benchmark reports.
std::string cpu_kernels() {
  std::string out = cpu::has_avx512() ? "softmax:avx512" : "softmax:torch";
  out += cpu::has_avx512_bf16() ? " linear:avx512_bf16" : " linear:torch";
  return out;
}

}  // namespace
}  // namespace jina3

TORCH_LIBRARY(jina3, m) {
  m.def("softmax_with_bias_(Tensor(a!) scores, Tensor bias) -> Tensor(a!)", &jina3::softmax_with_bias_);
  m.def("linear(Tensor input, Tensor weight, Tensor? bias) -> Tensor", &jina3::linear);
  m.def("cpu_kernels() -> str", &jina3::cpu_kernels);
}
