// TorchScript operators jina3::* around attention (the rest are in torch_ops.cpp, which opens the
// library; this file adds to it). As there, every operator computes the same function as its
// LibTorch fallback, which runs whenever the kernel cannot: another device or dtype, a CPU without
// AVX-512, an unusual layout.
#include <algorithm>
#include <cstdint>
#include <tuple>

#include <ATen/Parallel.h>
#include <torch/library.h>
#include <torch/torch.h>

#include "model/attention_kernels.hpp"
#include "model/cpu_kernels.hpp"

namespace jina3 {
namespace {

bool is_bf16_cpu_contiguous(const at::Tensor& t) {
  return t.is_cpu() && t.scalar_type() == at::kBFloat16 && t.is_contiguous();
}

// Non-interleaved rotary of x [..., L, d] by the tables [L, d/2], times scale, in float32; the
// result in `dtype`, contiguous.
at::Tensor rotate_scaled(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, double scale,
                         at::ScalarType dtype) {
  const std::int64_t half = x.size(-1) / 2;
  const at::Tensor x32 = x.to(at::kFloat);
  const at::Tensor c = cos.to(at::kFloat), s = sin.to(at::kFloat);
  const at::Tensor x1 = x32.narrow(-1, 0, half), x2 = x32.narrow(-1, half, half);
  at::Tensor out = at::cat({x1 * c - x2 * s, x2 * c + x1 * s}, -1);
  if (scale != 1.0) out.mul_(scale);
  return out.to(dtype).contiguous();
}

// qkv [B, L, 3·heads·d] (the qkv projection's output: [q of all heads | k | v], each head's d
// values together); cos, sin [L, d/2] in qkv's dtype. Returns q = rotary(q) · q_scale, k =
// rotary(k) and v, each [B, heads, L, d] contiguous in qkv's dtype: python/jina3/export/backbone.py's
// permute + rotate + the attention's query scaling in one pass, in float32 arithmetic rounded
// once (LibTorch's own sequence, in bfloat16, rounds after every step: the two differ by about one
// bfloat16 unit in the last place).
std::tuple<at::Tensor, at::Tensor, at::Tensor> split_qkv_rotary(const at::Tensor& qkv, const at::Tensor& cos,
                                                                const at::Tensor& sin, std::int64_t heads,
                                                                double q_scale) {
  TORCH_CHECK(qkv.dim() == 3, "jina3::split_qkv_rotary: qkv must be [batch, length, 3 * hidden]");
  TORCH_CHECK(heads > 0 && qkv.size(2) % (3 * heads) == 0,
              "jina3::split_qkv_rotary: qkv's last dimension must be 3 x heads x head_dim");
  const std::int64_t batch = qkv.size(0), length = qkv.size(1), dim = qkv.size(2) / (3 * heads);
  TORCH_CHECK(dim % 2 == 0, "jina3::split_qkv_rotary: head_dim must be even");
  TORCH_CHECK(cos.dim() == 2 && cos.size(0) == length && cos.size(1) == dim / 2 && sin.sizes() == cos.sizes(),
              "jina3::split_qkv_rotary: cos and sin must be [length, head_dim / 2]");
  const bool kernel = cpu::has_avx512() && is_bf16_cpu_contiguous(qkv) && is_bf16_cpu_contiguous(cos) &&
                      is_bf16_cpu_contiguous(sin);
  if (!kernel) {
    const at::Tensor parts = qkv.reshape({batch, length, 3, heads, dim}).permute({2, 0, 3, 1, 4});
    return {rotate_scaled(parts[0], cos, sin, q_scale, qkv.scalar_type()),
            rotate_scaled(parts[1], cos, sin, 1.0, qkv.scalar_type()), parts[2].contiguous()};
  }
  const auto options = qkv.options();
  at::Tensor q = at::empty({batch, heads, length, dim}, options);
  at::Tensor k = at::empty({batch, heads, length, dim}, options);
  at::Tensor v = at::empty({batch, heads, length, dim}, options);
  cpu::SplitQkvRotaryBf16 args;
  args.qkv = static_cast<const std::uint16_t*>(qkv.data_ptr());
  args.cos = static_cast<const std::uint16_t*>(cos.data_ptr());
  args.sin = static_cast<const std::uint16_t*>(sin.data_ptr());
  args.q = static_cast<std::uint16_t*>(q.data_ptr());
  args.k = static_cast<std::uint16_t*>(k.data_ptr());
  args.v = static_cast<std::uint16_t*>(v.data_ptr());
  args.length = length;
  args.heads = heads;
  args.dim = dim;
  args.q_scale = static_cast<float>(q_scale);
  // Grain: at least 64 KiB of qkv per task.
  const std::int64_t grain = std::max<std::int64_t>(1, 32768 / std::max<std::int64_t>(1, qkv.size(2)));
  at::parallel_for(0, batch * length, grain, [&](std::int64_t begin, std::int64_t end) {
    cpu::split_qkv_rotary_bf16(args, begin, end);
  });
  return {q, k, v};
}

}  // namespace
}  // namespace jina3

TORCH_LIBRARY_FRAGMENT(jina3, m) {
  m.def("split_qkv_rotary(Tensor qkv, Tensor cos, Tensor sin, int heads, float q_scale) -> (Tensor, Tensor, Tensor)",
        &jina3::split_qkv_rotary);
}
