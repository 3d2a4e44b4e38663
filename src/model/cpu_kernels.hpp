// Hand-written x86-64 kernels for the places where LibTorch 1.13's CPU kernels waste most time:
// the masked softmax of attention, the residual sum + LayerNorm and GELU in bfloat16 (a separate
// pass over memory per step, float32 copies in between), and bfloat16 matrix products with few
// rows (a query). Each entry point reports whether this CPU can run it; callers fall back to
// LibTorch when it cannot.
#pragma once

#include <cstdint>

namespace jina3::cpu {

// AVX-512 F/BW/VL: the softmax, LayerNorm and GELU kernels. AVX-512 BF16 (vdpbf16ps): the
// bfloat16 matrix product.
bool has_avx512() noexcept;
bool has_avx512_bf16() noexcept;

// rows x length scores, each row turned into softmax(row + bias) in place, in float32 arithmetic.
// bias: `length` floats shared by the rows (0 for a kept key, a large negative number for a
// padded one); row r starts at scores + r * length. Needs has_avx512().
void softmax_with_bias_f32(float* scores, const float* bias, std::int64_t rows, std::int64_t length);
void softmax_with_bias_bf16(std::uint16_t* scores, const float* bias, std::int64_t rows, std::int64_t length);

// rows x width, bfloat16: out = LayerNorm(x + residual) * weight + bias over each row, in float32
// arithmetic (two-pass mean and biased variance, as LibTorch), rounded once. residual may be null;
// out may alias x. Needs has_avx512().
void add_layer_norm_bf16(const std::uint16_t* x, const std::uint16_t* residual, const std::uint16_t* weight,
                         const std::uint16_t* bias, float eps, std::uint16_t* out, std::int64_t rows,
                         std::int64_t width);

// values[i] = GELU(values[i]) = x/2 (1 + erf(x/√2)) in place, bfloat16, float32 arithmetic with
// erf to 1.5e-7 (Abramowitz & Stegun 7.1.26), far below bfloat16's resolution. Needs has_avx512().
void gelu_bf16(std::uint16_t* values, std::int64_t count);

// y[m, n] = alpha * sum_k x[m, k] * weight[n, k] + bias[n] (+ y[m, n] when accumulating), for
// m < rows: bfloat16 in and out, float32 accumulation, one rounding. weight is [N, depth] row-major
// (nn.Linear's layout); bias may be null.
struct LinearBf16 {
  const std::uint16_t* x;
  std::int64_t x_stride;  // elements between rows of x
  const std::uint16_t* weight;
  const std::uint16_t* bias;
  std::uint16_t* y;
  std::int64_t y_stride;
  std::int64_t rows;
  std::int64_t depth;
  float alpha = 1.0f;
  bool accumulate = false;
};

// Computes the columns [n_begin, n_end) of args.y. Needs has_avx512_bf16().
void linear_bf16(const LinearBf16& args, std::int64_t n_begin, std::int64_t n_end);


// ---- int8 linear layers and the LoRA tail (python/jina3/export/backbone.py Int8LoRALinear) ----

// Per-row symmetric int8 quantisation: scales[r] = max|x[r, :]| / 127 and q[r, k] =
// round_half_even(x[r, k] * (127 / max|x[r, :]|)), in float32 arithmetic; an all-zero row gets
// scale 0 and zeros. x is bfloat16 (x_bf16) or float32. Runs everywhere (AVX-512 where
// has_avx512(), scalar code otherwise, with identical results).
void quantize_rows(const void* x, bool x_bf16, std::int64_t x_stride, std::int64_t rows, std::int64_t depth,
                   std::int8_t* q, std::int64_t q_stride, float* scales);

// The part of a LoRA linear layer after its base product, per row r:
//   y[r, n] = base[r, n] + sum_j low[r, j] * up[j, n] + up[adapters, n]
//   low[r, j] = mask[r / rows_per_group, j] * (x[r, :] . down[j, :])   (only where the mask is not 0)
// base is acc[r, n] * row_scale[r] * col_scale[n] (int8 accumulators) or, when acc is null, what
// y holds already. x, down, up and y are all bfloat16 (bf16) or all float32; float32 arithmetic,
// y rounded once (in bfloat16 each low value is rounded to bfloat16 first, as LibTorch's adapter
// product and the few-rows path store it, so a row gets the same numbers in either path).
// up is [adapters + 1, outputs]: every task's scale * B transposed, then the bias.
struct LoraTail {
  const void* x;
  std::int64_t x_stride;
  std::int64_t depth;
  const void* down;  // [adapters, depth]
  const float* mask;  // [groups, adapters]
  std::int64_t rows_per_group;
  std::int64_t first_row = 0;  // row 0's index in the mask's numbering (row r uses mask row (first_row + r) / rows_per_group)
  std::int64_t adapters;
  const void* up;  // [adapters + 1, outputs]
  const std::int32_t* acc = nullptr;
  std::int64_t acc_stride = 0;
  const float* row_scale = nullptr;
  const float* col_scale = nullptr;
  void* y;
  std::int64_t y_stride;
  std::int64_t outputs;
  bool bf16;
  bool gelu = false;  // y = GELU(the sum above) (erf form, float32; in bfloat16 of the sum rounded to bfloat16, as
                      // the few-rows path computes it): fc1's activation
};

// Rows [row_begin, row_end) of args. Runs everywhere (AVX-512 where has_avx512()).
void lora_tail(const LoraTail& args, std::int64_t row_begin, std::int64_t row_end);

}  // namespace jina3::cpu
