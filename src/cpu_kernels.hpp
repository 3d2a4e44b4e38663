// Hand-written x86-64 kernels for the two places where LibTorch 1.13's CPU kernels leave most of
// the machine idle: the masked softmax of attention (a separate pass per step, and a slow exp),
// and bfloat16 matrix products with few rows (a query: oneDNN reaches under half its large-batch
// rate there). Each entry point reports whether this CPU can run it; callers fall back to
// LibTorch when it cannot.
#pragma once

#include <cstdint>

namespace jina3::cpu {

// AVX-512 F/BW/VL: the softmax kernels. AVX-512 BF16 (vdpbf16ps): the bfloat16 matrix product.
bool has_avx512() noexcept;
bool has_avx512_bf16() noexcept;

// rows x length scores, each row turned into softmax(row + bias) in place, in float32 arithmetic.
// bias: `length` floats shared by the rows (0 for a kept key, a large negative number for a
// padded one); row r starts at scores + r * length. Needs has_avx512().
void softmax_with_bias_f32(float* scores, const float* bias, std::int64_t rows, std::int64_t length);
void softmax_with_bias_bf16(std::uint16_t* scores, const float* bias, std::int64_t rows, std::int64_t length);

// y[m, n] = bias[n] + sum_k x[m, k] * weight[n, k] for m < rows, n in [n_begin, n_end): bfloat16
// in and out, float32 accumulation, one rounding. x rows are x_stride apart, y rows y_stride;
// weight is [N, depth] row-major (nn.Linear's layout), bias may be null. Needs has_avx512_bf16().
void linear_bf16(const std::uint16_t* x, std::int64_t x_stride, const std::uint16_t* weight,
                 const std::uint16_t* bias, std::uint16_t* y, std::int64_t y_stride, std::int64_t rows,
                 std::int64_t depth, std::int64_t n_begin, std::int64_t n_end);

}  // namespace jina3::cpu
