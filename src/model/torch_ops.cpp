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

#include "model/cpu_kernels.hpp"
#include "model/int8_linear.hpp"
#include "model/linear_shapes.hpp"

namespace jina3 {
namespace {

// Rows up to which the bfloat16 kernel beats oneDNN: measured on 96 full-size projections with
// weights cold in memory, 0.71x oneDNN's time at 16 rows, 0.91x at 30, 0.99x at 48, 1.03x at 64.
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

bool is_bf16_cpu(const at::Tensor& t) { return t.is_cpu() && t.scalar_type() == at::kBFloat16; }

// Whether input [..., K] @ weight[N, K]ᵀ (+ bias[N]) can take the bfloat16 kernel.
bool use_linear_kernel(const at::Tensor& input, const at::Tensor& weight, const c10::optional<at::Tensor>& bias) {
  if (!cpu::has_avx512_bf16() || !is_bf16_cpu(input) || input.dim() < 1 || !input.is_contiguous() ||
      !is_bf16_cpu(weight) || weight.dim() != 2 || !weight.is_contiguous() || weight.size(1) != input.size(-1)) {
    return false;
  }
  if (bias.has_value() && bias->defined() &&
      (!is_bf16_cpu(*bias) || !bias->is_contiguous() || bias->dim() != 1 || bias->size(0) != weight.size(0))) {
    return false;
  }
  const std::int64_t rows = rows_of(input);
  return rows >= 1 && rows <= kSmallLinearMaxRows;
}

// out [rows, N] (= or += when accumulate) alpha * input @ weightᵀ + bias, on LibTorch's threads,
// which split the output columns (so the weight) in blocks of 4, the kernel's tile width.
void run_linear_kernel(const at::Tensor& input, const at::Tensor& weight, const at::Tensor* bias, at::Tensor& out,
                       float alpha, bool accumulate) {
  cpu::LinearBf16 args;
  args.x = static_cast<const std::uint16_t*>(input.data_ptr());
  args.x_stride = input.size(-1);
  args.weight = static_cast<const std::uint16_t*>(weight.data_ptr());
  args.bias = bias != nullptr && bias->defined() ? static_cast<const std::uint16_t*>(bias->data_ptr()) : nullptr;
  args.y = static_cast<std::uint16_t*>(out.data_ptr());
  args.y_stride = weight.size(0);
  args.rows = rows_of(input);
  args.depth = input.size(-1);
  args.alpha = alpha;
  args.accumulate = accumulate;
  const std::int64_t outputs = weight.size(0);
  at::parallel_for(0, (outputs + 3) / 4, 1, [&](std::int64_t begin, std::int64_t end) {
    cpu::linear_bf16(args, begin * 4, std::min(outputs, end * 4));
  });
}

// input [..., K] @ weight[N, K]ᵀ + bias[N], as nn.Linear. The model calls lora_linear; this is the
// kernel on its own, which the tests probe at every tile edge.
at::Tensor linear(const at::Tensor& input, const at::Tensor& weight, const c10::optional<at::Tensor>& bias) {
  if (!use_linear_kernel(input, weight, bias)) return at::linear(input, weight, bias);
  at::Tensor out = empty_output(input, weight.size(0));
  run_linear_kernel(input, weight, bias.has_value() ? &*bias : nullptr, out, 1.0f, false);
  return out;
}

// LoRALinear's forward (python/jina3/export/backbone.py KernelLoRALinear) in one operator:
//   input [..., K] @ weightᵀ + [(input @ downᵀ) ⊙ task_mask, 1] @ up_biasᵀ
// with weight [N, K], down [T·r, K] (every task's A), task_mask broadcastable to [..., T·r] and
// up_bias [N, T·r + 1] = [scale · every task's B | bias]: the bias rides in the adapter product
// instead of being copied into the output before the base product. For few rows all three
// products take the bfloat16 kernel (LibTorch's cost more for the thin adapter products than for
// the base one there).
// Output bytes per row block on the many-rows path of lora_linear: the block's base product is
// still in the last-level cache when the LoRA tail reads and rewrites it.
constexpr std::int64_t kBlockOutputBytes = 4 << 20;

bool use_tail_kernel(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& down,
                     const at::Tensor& up_bias) {
  const at::ScalarType dtype = input.scalar_type();
  return cpu::has_avx512() && input.is_cpu() && (dtype == at::kBFloat16 || dtype == at::kFloat) &&
         input.dim() >= 2 && weight.scalar_type() == dtype && weight.dim() == 2 && weight.is_cpu() &&
         down.scalar_type() == dtype && down.is_cpu() && up_bias.scalar_type() == dtype && up_bias.is_cpu();
}

// The many-rows path: per block of rows, LibTorch's (oneDNN's) product into the output, then the
// LoRA tail kernel (cpu::lora_tail: the row's own adapter columns and the bias) on the block
// while it is cache-resident. LibTorch's adapter products cost a pass over the whole output and
// thin products of 20 and 21 columns.
at::Tensor lora_linear_blocked(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& down,
                               const at::Tensor& up_bias, const at::Tensor& task_mask, bool gelu) {
  const at::Tensor x = input.contiguous();
  const std::int64_t depth = x.size(-1), outputs = weight.size(0), rows = rows_of(x);
  const std::int64_t adapters = down.size(0);
  at::Tensor y = empty_output(x, outputs);
  if (rows == 0) return y;
  const at::Tensor mask = task_mask.to(at::kFloat).contiguous();
  TORCH_CHECK(adapters > 0 && mask.numel() % adapters == 0 && rows % (mask.numel() / adapters) == 0,
              "jina3::lora_linear: task_mask must be [G, 1, T*r] with G dividing the rows");
  const at::Tensor up_t = up_bias.t().contiguous();
  const at::Tensor down_c = down.contiguous();
  const at::Tensor weight_t = weight.t();
  const at::Tensor x2 = x.view({rows, depth});
  at::Tensor y2 = y.view({rows, outputs});
  const std::int64_t element = x.element_size();
  const std::int64_t block = std::max<std::int64_t>(1, std::min(rows, kBlockOutputBytes / (element * outputs)));
  const std::int64_t grain = std::max<std::int64_t>(1, 8192 / outputs);
  cpu::LoraTail tail;
  tail.x_stride = depth;
  tail.depth = depth;
  tail.down = down_c.data_ptr();
  tail.mask = mask.data_ptr<float>();
  tail.rows_per_group = rows / (mask.numel() / adapters);
  tail.adapters = adapters;
  tail.up = up_t.data_ptr();
  tail.y_stride = outputs;
  tail.outputs = outputs;
  tail.bf16 = x.scalar_type() == at::kBFloat16;
  tail.gelu = gelu;
  for (std::int64_t first = 0; first < rows; first += block) {
    const std::int64_t n = std::min(block, rows - first);
    at::Tensor y_block = y2.narrow(0, first, n);
    at::mm_out(y_block, x2.narrow(0, first, n), weight_t);
    tail.x = static_cast<const char*>(x.data_ptr()) + first * depth * element;
    tail.y = static_cast<char*>(y.data_ptr()) + first * outputs * element;
    tail.first_row = first;
    at::parallel_for(0, n, grain, [&](std::int64_t begin, std::int64_t end) {
      cpu::LoraTail part = tail;
      cpu::lora_tail(part, begin, end);
    });
  }
  return y;
}

// LoRALinear's forward (python/jina3/export/backbone.py KernelLoRALinear) in one operator:
//   input [..., K] @ weightᵀ + [(input @ downᵀ) ⊙ task_mask, 1] @ up_biasᵀ
// with weight [N, K], down [T·r, K] (every task's A), task_mask [G, 1, T·r] (one row per G-th of
// the rows: per batch row) and up_bias [N, T·r + 1] = [scale · every task's B | bias]: the bias
// rides in the adapter product instead of being copied into the output before the base product.
// For few rows (a query) on CPUs with AVX-512 BF16 all three products take the bfloat16 kernel
// (LibTorch's cost more for the thin adapter products than for the base one there); for more rows
// the base product is LibTorch's and the adapters and bias are added by the LoRA tail kernel.
at::Tensor gelu_(at::Tensor x);

at::Tensor lora_linear_impl(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& down,
                            const at::Tensor& up_bias, const at::Tensor& task_mask, bool gelu) {
  TORCH_CHECK(up_bias.dim() == 2 && up_bias.size(0) == weight.size(0) && up_bias.size(1) == down.size(0) + 1,
              "jina3::lora_linear: up_bias must be [N, T*r + 1]");
  const bool kernel = use_linear_kernel(input, weight, c10::nullopt) &&
                      use_linear_kernel(input, down, c10::nullopt) && is_bf16_cpu(up_bias) && up_bias.is_contiguous();
  if (!kernel && use_tail_kernel(input, weight, down, up_bias)) {
    return lora_linear_blocked(input, weight, down, up_bias, task_mask, gelu);
  }
  at::Tensor low;
  at::Tensor y;
  if (kernel) {
    y = empty_output(input, weight.size(0));
    run_linear_kernel(input, weight, nullptr, y, 1.0f, false);
    low = empty_output(input, down.size(0));
    run_linear_kernel(input, down, nullptr, low, 1.0f, false);
  } else {
    y = at::matmul(input, weight.t());
    low = at::matmul(input, down.t());
  }
  low.mul_(task_mask);
  const at::Tensor low_and_one = at::constant_pad_nd(low, {0, 1}, 1.0);
  if (kernel) {
    run_linear_kernel(low_and_one, up_bias, nullptr, y, 1.0f, true);
  } else {
    y.view({-1, y.size(-1)}).addmm_(low_and_one.view({-1, low_and_one.size(-1)}), up_bias.t());
  }
  if (gelu) return jina3::gelu_(y);
  return y;
}

at::Tensor lora_linear(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& down,
                       const at::Tensor& up_bias, const at::Tensor& task_mask) {
  return lora_linear_impl(input, weight, down, up_bias, task_mask, false);
}

// GELU(lora_linear(...)) (the erf form): fc1 and its activation in one operator, the GELU applied
// by the LoRA tail while the block is in the cache instead of in a pass of its own over fc1's
// output (in bfloat16 to the sum rounded to bfloat16, as jina3::gelu_ would see it).
at::Tensor lora_linear_gelu(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& down,
                            const at::Tensor& up_bias, const at::Tensor& task_mask) {
  return lora_linear_impl(input, weight, down, up_bias, task_mask, true);
}

// LayerNorm(x + residual) of reduced-precision x (python/jina3/export/backbone.py FloatLayerNorm): in float32,
// returned in x's dtype. weight and bias are [width] in x's dtype.
at::Tensor add_layer_norm(const at::Tensor& x, const c10::optional<at::Tensor>& residual, const at::Tensor& weight,
                          const at::Tensor& bias, double eps) {
  const std::int64_t width = x.size(-1);
  const bool has_residual = residual.has_value() && residual->defined();
  const bool kernel = cpu::has_avx512() && is_bf16_cpu(x) && x.is_contiguous() && is_bf16_cpu(weight) &&
                      weight.is_contiguous() && weight.numel() == width && is_bf16_cpu(bias) &&
                      bias.is_contiguous() && bias.numel() == width &&
                      (!has_residual || (is_bf16_cpu(*residual) && residual->is_contiguous() &&
                                         residual->sizes() == x.sizes()));
  if (!kernel) {
    at::Tensor sum = x.to(at::kFloat);
    if (has_residual) sum = sum.add(*residual);
    return at::layer_norm(sum, {width}, weight.to(at::kFloat), bias.to(at::kFloat), eps).to(x.scalar_type());
  }
  at::Tensor out = at::empty_like(x);
  const std::int64_t rows = x.numel() / std::max<std::int64_t>(1, width);
  const auto* x_data = static_cast<const std::uint16_t*>(x.data_ptr());
  const auto* r_data = has_residual ? static_cast<const std::uint16_t*>(residual->data_ptr()) : nullptr;
  const auto* w_data = static_cast<const std::uint16_t*>(weight.data_ptr());
  const auto* b_data = static_cast<const std::uint16_t*>(bias.data_ptr());
  auto* out_data = static_cast<std::uint16_t*>(out.data_ptr());
  at::parallel_for(0, rows, 16, [&](std::int64_t begin, std::int64_t end) {
    cpu::add_layer_norm_bf16(x_data + begin * width, r_data != nullptr ? r_data + begin * width : nullptr, w_data,
                             b_data, static_cast<float>(eps), out_data + begin * width, end - begin, width);
  });
  return out;
}

// x <- GELU(x) (the erf form, F.gelu's default), in place.
at::Tensor gelu_(at::Tensor x) {
  if (!cpu::has_avx512() || !is_bf16_cpu(x) || !x.is_contiguous()) {
    x.copy_(at::gelu(x));
    return x;
  }
  auto* data = static_cast<std::uint16_t*>(x.data_ptr());
  at::parallel_for(0, x.numel(), 16384, [&](std::int64_t begin, std::int64_t end) {
    cpu::gelu_bf16(data + begin, end - begin);
  });
  return x;
}

// Which kernels this process runs, e.g. "softmax:avx512 linear:avx512_bf16" or
// "softmax:torch linear:torch" ("softmax" stands for every AVX-512 kernel: softmax, LayerNorm,
// GELU; "linear" for the bfloat16 matrix product). For tests and benchmark reports.
std::string cpu_kernels() {
  std::string out = cpu::has_avx512() ? "softmax:avx512" : "softmax:torch";
  out += cpu::has_avx512_bf16() ? " linear:avx512_bf16" : " linear:torch";
  out += cpu::has_avx512() ? " lora_tail:avx512" : " lora_tail:scalar";
  out += " int8:" + int8::engine_description();
  return out;
}

}  // namespace
}  // namespace jina3

TORCH_LIBRARY(jina3, m) {
  m.def("softmax_with_bias_(Tensor(a!) scores, Tensor bias) -> Tensor(a!)", &jina3::softmax_with_bias_);
  m.def("linear(Tensor input, Tensor weight, Tensor? bias) -> Tensor", &jina3::linear);
  m.def("lora_linear(Tensor input, Tensor weight, Tensor down, Tensor up_bias, Tensor task_mask) -> Tensor",
        &jina3::lora_linear);
  m.def("add_layer_norm(Tensor x, Tensor? residual, Tensor weight, Tensor bias, float eps) -> Tensor",
        &jina3::add_layer_norm);
  m.def("gelu_(Tensor(a!) x) -> Tensor(a!)", &jina3::gelu_);
  m.def("cpu_kernels() -> str", &jina3::cpu_kernels);
  m.def("lora_linear_int8(Tensor input, Tensor qweight, Tensor wscale, Tensor down, Tensor up_t, Tensor task_mask) "
        "-> Tensor", &jina3::int8::lora_linear_int8);
  m.def("lora_linear_int8_gelu(Tensor input, Tensor qweight, Tensor wscale, Tensor down, Tensor up_t, "
        "Tensor task_mask) -> Tensor", &jina3::int8::lora_linear_int8_gelu);
  m.def("lora_linear_gelu(Tensor input, Tensor weight, Tensor down, Tensor up_bias, Tensor task_mask) -> Tensor",
        &jina3::lora_linear_gelu);
  m.def("pack_int8_weight(Tensor qweight) -> Tensor", &jina3::int8::pack_weight);
  m.def("quantize_rows_int8(Tensor input) -> (Tensor, Tensor)", &jina3::int8::quantize_rows);
}
