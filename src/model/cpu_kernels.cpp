#include "model/cpu_kernels.hpp"

#include "model/simd_bf16.hpp"
#include "util/cpu_info.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace jina3::cpu {

#if JINA3_X86_KERNELS

// From util::cpu_features(): the CPU's features capped by JINA3_MAX_CPU_ISA, so that one machine
// can run the code paths of an older CPU.
bool has_avx512() noexcept { return util::cpu_features().avx512; }

bool has_avx512_bf16() noexcept { return util::cpu_features().avx512_bf16; }

namespace {

using simd::load_bf16;
using simd::store_bf16;
using simd::tail_mask;

// exp(x) for x <= 0 (scores minus their row maximum), to about 2 ulp: Cody-Waite reduction
// x = n ln2 + r and a degree-7 polynomial for e^r (Cephes' expf coefficients), scaled by 2^n.
// Arguments below -87.3 (padded keys among them) give exactly 0.
JINA3_AVX512 __m512 exp_nonpositive(__m512 x) {
  const __mmask16 underflow = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.3f), _CMP_LT_OQ);
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.3f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  const __m512 r2 = _mm512_mul_ps(r, r);
  p = _mm512_fmadd_ps(p, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_maskz_mov_ps(static_cast<__mmask16>(~underflow), _mm512_scalef_ps(p, n));
}

JINA3_AVX512 __m512 load_scores(const float* source, __mmask16 mask) { return _mm512_maskz_loadu_ps(mask, source); }
JINA3_AVX512 __m512 load_scores(const std::uint16_t* source, __mmask16 mask) { return load_bf16(source, mask); }
JINA3_AVX512 void store_scores(float* dest, __m512 value, __mmask16 mask) { _mm512_mask_storeu_ps(dest, mask, value); }
JINA3_AVX512 void store_scores(std::uint16_t* dest, __m512 value, __mmask16 mask) { store_bf16(dest, value, mask); }

// One row: logits (row + bias) into `work` (which may be the row itself in float32), then exp and
// sum there, then the scaled probabilities back into the row. Three passes over a row that stays
// in L1/L2, where LibTorch runs a kernel per step, each streaming the whole score block.
template <typename T>
JINA3_AVX512 void softmax_row(T* row, const float* bias, std::int64_t length, float* work) {
  __m512 vmax = _mm512_set1_ps(-INFINITY);
  for (std::int64_t j = 0; j < length; j += 16) {
    const __mmask16 mask = tail_mask(length - j);
    const __m512 logit = _mm512_add_ps(load_scores(row + j, mask), _mm512_maskz_loadu_ps(mask, bias + j));
    _mm512_mask_storeu_ps(work + j, mask, logit);
    vmax = _mm512_mask_max_ps(vmax, mask, vmax, logit);
  }
  const __m512 row_max = _mm512_set1_ps(_mm512_reduce_max_ps(vmax));
  __m512 vsum = _mm512_setzero_ps();
  for (std::int64_t j = 0; j < length; j += 16) {
    const __mmask16 mask = tail_mask(length - j);
    const __m512 e = exp_nonpositive(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, work + j), row_max));
    _mm512_mask_storeu_ps(work + j, mask, e);
    vsum = _mm512_add_ps(vsum, _mm512_maskz_mov_ps(mask, e));
  }
  const __m512 inverse = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(vsum));
  for (std::int64_t j = 0; j < length; j += 16) {
    const __mmask16 mask = tail_mask(length - j);
    store_scores(row + j, _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, work + j), inverse), mask);
  }
}

// The horizontal sums of four vectors, as one vector [sum a, sum b, sum c, sum d].
JINA3_AVX512 __m128 sum_each(__m512 a, __m512 b, __m512 c, __m512 d) {
  // 128-bit blocks: ab = [a0+a2, a1+a3, b0+b2, b1+b3], then s = [a, b, c, d] with 4 partials each.
  const __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
  const __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x44), _mm512_shuffle_f32x4(c, d, 0xEE));
  __m512 s = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88), _mm512_shuffle_f32x4(ab, cd, 0xDD));
  s = _mm512_add_ps(s, _mm512_permute_ps(s, 0xB1));
  s = _mm512_add_ps(s, _mm512_permute_ps(s, 0x4E));
  return _mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), s));
}

template <int NB>
JINA3_AVX512 __m512 column(const __m512 (&row)[NB], int j) {
  return j < NB ? row[j] : _mm512_setzero_ps();
}

// Four lanes (a tile's columns) through the 16-lane conversions.
JINA3_AVX512 __m128 load_bf16_x4(const std::uint16_t* source, __mmask8 mask) {
  return _mm512_castps512_ps128(load_bf16(source, static_cast<__mmask16>(mask)));
}

JINA3_AVX512 void store_bf16_x4(std::uint16_t* dest, __m128 value, __mmask8 mask) {
  store_bf16(dest, _mm512_zextps128_ps512(value), static_cast<__mmask16>(mask));
}

JINA3_AVX512 __m512 gelu(__m512 x) {
  // erf(|z|) = 1 - (a1 t + ... + a5 t^5) exp(-z^2), t = 1 / (1 + p|z|), z = x / sqrt(2).
  const __m512 z = _mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f));
  const __m512 az = _mm512_abs_ps(z);
  const __m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(az, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1.0f)));
  __m512 poly = _mm512_set1_ps(1.061405429f);
  poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(-1.453152027f));
  poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(1.421413741f));
  poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(-0.284496736f));
  poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(0.254829592f));
  poly = _mm512_mul_ps(poly, t);
  const __m512 e = exp_nonpositive(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(az, az)));
  const __m512 erf_abs = _mm512_fnmadd_ps(poly, e, _mm512_set1_ps(1.0f));
  // erf is odd: copy z's sign onto erf(|z|).
  const __m512i sign = _mm512_and_si512(_mm512_castps_si512(z), _mm512_set1_epi32(static_cast<int>(0x80000000u)));
  const __m512 erf = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(erf_abs), sign));
  return _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.5f)), _mm512_add_ps(erf, _mm512_set1_ps(1.0f)));
}

// One row of add_layer_norm_bf16; `work` holds the float32 sums between the passes.
JINA3_AVX512 void add_layer_norm_row(const std::uint16_t* x, const std::uint16_t* residual, const std::uint16_t* weight,
                                     const std::uint16_t* bias, float eps, std::uint16_t* out, std::int64_t width,
                                     float* work) {
  __m512 vsum = _mm512_setzero_ps();
  for (std::int64_t j = 0; j < width; j += 16) {
    const __mmask16 mask = tail_mask(width - j);
    __m512 v = load_bf16(x + j, mask);
    if (residual != nullptr) v = _mm512_add_ps(v, load_bf16(residual + j, mask));
    _mm512_mask_storeu_ps(work + j, mask, v);
    vsum = _mm512_add_ps(vsum, v);  // masked lanes loaded as 0
  }
  const float mean = _mm512_reduce_add_ps(vsum) / static_cast<float>(width);
  const __m512 vmean = _mm512_set1_ps(mean);
  __m512 vvar = _mm512_setzero_ps();
  for (std::int64_t j = 0; j < width; j += 16) {
    const __mmask16 mask = tail_mask(width - j);
    const __m512 d = _mm512_maskz_sub_ps(mask, _mm512_maskz_loadu_ps(mask, work + j), vmean);
    vvar = _mm512_fmadd_ps(d, d, vvar);
  }
  const float variance = _mm512_reduce_add_ps(vvar) / static_cast<float>(width);
  const __m512 rstd = _mm512_set1_ps(1.0f / std::sqrt(variance + eps));
  for (std::int64_t j = 0; j < width; j += 16) {
    const __mmask16 mask = tail_mask(width - j);
    const __m512 normed = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, work + j), vmean), rstd);
    store_bf16(out + j, _mm512_fmadd_ps(normed, load_bf16(weight + j, mask), load_bf16(bias + j, mask)), mask);
  }
}

// 32 values of depth: acc[i][j] += x row i . weight row j, a pair of bfloat16 per float lane.
template <int MB, int NB>
__attribute__((always_inline, target("avx512f,avx512bw,avx512vl,avx512bf16"))) inline void linear_step(
    __m512 (&acc)[MB][NB], const std::uint16_t* x, std::int64_t x_stride, const std::uint16_t* weight,
    std::int64_t depth, __mmask32 mask) {
  __m512bh w[NB];
#pragma GCC unroll 8
  for (int j = 0; j < NB; ++j) w[j] = (__m512bh)_mm512_maskz_loadu_epi16(mask, weight + j * depth);
#pragma GCC unroll 8
  for (int i = 0; i < MB; ++i) {
    const __m512bh xv = (__m512bh)_mm512_maskz_loadu_epi16(mask, x + i * x_stride);
#pragma GCC unroll 8
    for (int j = 0; j < NB; ++j) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], xv, w[j]);
  }
}

// The MB x NB outputs of `args` at row m, column n: acc[i][j] accumulates x row i . weight row j.
template <int MB, int NB>
JINA3_AVX512_BF16 void linear_tile(const LinearBf16& args, std::int64_t m, std::int64_t n) {
  const std::int64_t depth = args.depth;
  const std::uint16_t* x = args.x + m * args.x_stride;
  const std::uint16_t* weight = args.weight + n * depth;
  std::uint16_t* y = args.y + m * args.y_stride + n;
  __m512 acc[MB][NB];
#pragma GCC unroll 8
  for (int i = 0; i < MB; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NB; ++j) acc[i][j] = _mm512_setzero_ps();
  std::int64_t k = 0;
  for (; k + 32 <= depth; k += 32) linear_step<MB, NB>(acc, x + k, args.x_stride, weight + k, depth, ~__mmask32{0});
  if (k < depth) {
    linear_step<MB, NB>(acc, x + k, args.x_stride, weight + k, depth,
                        static_cast<__mmask32>((1ull << (depth - k)) - 1u));
  }
  const __mmask8 columns = static_cast<__mmask8>((1u << NB) - 1u);
  const __m128 alpha = _mm_set1_ps(args.alpha);
  const __m128 bias = args.bias != nullptr ? load_bf16_x4(args.bias + n, columns) : _mm_setzero_ps();
#pragma GCC unroll 8
  for (int i = 0; i < MB; ++i) {
    const __m128 sums = sum_each(column<NB>(acc[i], 0), column<NB>(acc[i], 1), column<NB>(acc[i], 2),
                                 column<NB>(acc[i], 3));
    __m128 out = _mm_add_ps(_mm_mul_ps(sums, alpha), bias);
    if (args.accumulate) out = _mm_add_ps(out, load_bf16_x4(y + i * args.y_stride, columns));
    store_bf16_x4(y + i * args.y_stride, out, columns);
  }
}

using TileFn = void (*)(const LinearBf16&, std::int64_t, std::int64_t);

constexpr int kTileRows = 6;     // 6 x 4 accumulators + 4 weight registers + 1 input of 32
constexpr int kTileColumns = 4;
constexpr std::int64_t kPanelBytes = 256 * 1024;

template <int MB>
constexpr TileFn tile_for_columns(int columns) {
  switch (columns) {
    case 1: return &linear_tile<MB, 1>;
    case 2: return &linear_tile<MB, 2>;
    case 3: return &linear_tile<MB, 3>;
    default: return &linear_tile<MB, 4>;
  }
}

TileFn tile_for(int rows, int columns) {
  switch (rows) {
    case 1: return tile_for_columns<1>(columns);
    case 2: return tile_for_columns<2>(columns);
    case 3: return tile_for_columns<3>(columns);
    case 4: return tile_for_columns<4>(columns);
    case 5: return tile_for_columns<5>(columns);
    default: return tile_for_columns<6>(columns);
  }
}

}  // namespace

void softmax_with_bias_f32(float* scores, const float* bias, std::int64_t rows, std::int64_t length) {
  for (std::int64_t r = 0; r < rows; ++r) softmax_row(scores + r * length, bias, length, scores + r * length);
}

void softmax_with_bias_bf16(std::uint16_t* scores, const float* bias, std::int64_t rows, std::int64_t length) {
  thread_local std::vector<float> work;
  if (static_cast<std::int64_t>(work.size()) < length) work.resize(static_cast<std::size_t>(length));
  for (std::int64_t r = 0; r < rows; ++r) softmax_row(scores + r * length, bias, length, work.data());
}

JINA3_AVX512 void gelu_bf16(std::uint16_t* values, std::int64_t count) {
  for (std::int64_t i = 0; i < count; i += 16) {
    const __mmask16 mask = tail_mask(count - i);
    store_bf16(values + i, gelu(load_bf16(values + i, mask)), mask);
  }
}

void add_layer_norm_bf16(const std::uint16_t* x, const std::uint16_t* residual, const std::uint16_t* weight,
                         const std::uint16_t* bias, float eps, std::uint16_t* out, std::int64_t rows,
                         std::int64_t width) {
  thread_local std::vector<float> work;
  if (static_cast<std::int64_t>(work.size()) < width) work.resize(static_cast<std::size_t>(width));
  for (std::int64_t r = 0; r < rows; ++r) {
    add_layer_norm_row(x + r * width, residual != nullptr ? residual + r * width : nullptr, weight, bias, eps,
                       out + r * width, width, work.data());
  }
}

void linear_bf16(const LinearBf16& args, std::int64_t n_begin, std::int64_t n_end) {
  // Panels of weight rows (kPanelBytes) stay in L2 while every row block passes them, and a row
  // block (6 x depth) stays in L1 while it meets the panel's columns: each weight comes from
  // memory once per call.
  const std::int64_t panel =
      std::max<std::int64_t>(kTileColumns, kPanelBytes / (2 * args.depth) / kTileColumns * kTileColumns);
  for (std::int64_t p = n_begin; p < n_end; p += panel) {
    const std::int64_t p_end = std::min(n_end, p + panel);
    for (std::int64_t m = 0; m < args.rows; m += kTileRows) {
      const int tile_rows = static_cast<int>(std::min<std::int64_t>(kTileRows, args.rows - m));
      for (std::int64_t n = p; n < p_end; n += kTileColumns) {
        tile_for(tile_rows, static_cast<int>(std::min<std::int64_t>(kTileColumns, p_end - n)))(args, m, n);
      }
    }
  }
}

#else  // not x86-64 with GCC/Clang: no kernels; callers use LibTorch.

bool has_avx512() noexcept { return false; }
bool has_avx512_bf16() noexcept { return false; }
void softmax_with_bias_f32(float*, const float*, std::int64_t, std::int64_t) {}
void softmax_with_bias_bf16(std::uint16_t*, const float*, std::int64_t, std::int64_t) {}
void add_layer_norm_bf16(const std::uint16_t*, const std::uint16_t*, const std::uint16_t*, const std::uint16_t*, float,
                         std::uint16_t*, std::int64_t, std::int64_t) {}
void gelu_bf16(std::uint16_t*, std::int64_t) {}
void linear_bf16(const LinearBf16&, std::int64_t, std::int64_t) {}

#endif

// ---- int8 quantisation and the LoRA tail: scalar code (any CPU), AVX-512 beside it ----

namespace {

float bf16_to_float(std::uint16_t value) {
  const std::uint32_t bits = static_cast<std::uint32_t>(value) << 16;
  float out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

// Round to nearest even, NaN kept a quiet NaN: the same rule as store_bf16 and LibTorch.
std::uint16_t float_to_bf16(float value) {
  if (std::isnan(value)) return 0x7FC0;
  std::uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<std::uint16_t>(bits >> 16);
}

float load_value(const void* data, bool bf16, std::int64_t i) {
  return bf16 ? bf16_to_float(static_cast<const std::uint16_t*>(data)[i]) : static_cast<const float*>(data)[i];
}

void store_value(void* data, bool bf16, std::int64_t i, float value) {
  if (bf16) {
    static_cast<std::uint16_t*>(data)[i] = float_to_bf16(value);
  } else {
    static_cast<float*>(data)[i] = value;
  }
}

// 127 / max|row| and max|row| / 127 as quantize_rows defines them (0 and 0 for a zero row).
struct RowScale {
  float inverse;
  float scale;
};

RowScale row_scale_of(float max_abs) {
  if (!(max_abs > 0.0f)) return {0.0f, 0.0f};
  return {127.0f / max_abs, max_abs / 127.0f};
}

std::int8_t quantize_value(float value, float inverse) {
  const float scaled = std::nearbyint(value * inverse);  // the default rounding mode: half to even
  return static_cast<std::int8_t>(std::max(-127.0f, std::min(127.0f, scaled)));
}

void quantize_rows_scalar(const void* x, bool x_bf16, std::int64_t x_stride, std::int64_t rows, std::int64_t depth,
                          std::int8_t* q, std::int64_t q_stride, float* scales) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float max_abs = 0.0f;
    for (std::int64_t k = 0; k < depth; ++k) max_abs = std::max(max_abs, std::fabs(load_value(x, x_bf16, r * x_stride + k)));
    const RowScale s = row_scale_of(max_abs);
    for (std::int64_t k = 0; k < depth; ++k) q[r * q_stride + k] = quantize_value(load_value(x, x_bf16, r * x_stride + k), s.inverse);
    scales[r] = s.scale;
  }
}

// The adapter columns a row keeps and their low values, the bias column (coefficient 1) last.
struct Active {
  std::int64_t column;
  float value;
};

std::size_t active_columns_scalar(const LoraTail& a, std::int64_t r, Active* out) {
  std::size_t count = 0;
  const float* mask = a.mask + ((a.first_row + r) / a.rows_per_group) * a.adapters;
  for (std::int64_t j = 0; j < a.adapters; ++j) {
    if (mask[j] == 0.0f) continue;
    float dot = 0.0f;
    for (std::int64_t k = 0; k < a.depth; ++k) {
      dot += load_value(a.x, a.bf16, r * a.x_stride + k) * load_value(a.down, a.bf16, j * a.depth + k);
    }
    out[count++] = {j, mask[j] * (a.bf16 ? bf16_to_float(float_to_bf16(dot)) : dot)};
  }
  out[count++] = {a.adapters, 1.0f};
  return count;
}

void lora_tail_scalar(const LoraTail& a, std::int64_t row_begin, std::int64_t row_end) {
  std::vector<Active> active(static_cast<std::size_t>(a.adapters + 1));
  for (std::int64_t r = row_begin; r < row_end; ++r) {
    const std::size_t count = active_columns_scalar(a, r, active.data());
    for (std::int64_t n = 0; n < a.outputs; ++n) {
      float value = a.acc != nullptr
                        ? static_cast<float>(a.acc[r * a.acc_stride + n]) * (a.row_scale[r] * a.col_scale[n])
                        : load_value(a.y, a.bf16, r * a.y_stride + n);
      for (std::size_t i = 0; i < count; ++i) {
        value += active[i].value * load_value(a.up, a.bf16, active[i].column * a.outputs + n);
      }
      if (a.gelu) {
        if (a.bf16) value = bf16_to_float(float_to_bf16(value));
        value = 0.5f * value * (1.0f + std::erf(value * 0.70710678118654752f));
      }
      store_value(a.y, a.bf16, r * a.y_stride + n, value);
    }
  }
}

#if JINA3_X86_KERNELS

JINA3_AVX512 __m512 load_any(const void* data, bool bf16, std::int64_t i, __mmask16 mask) {
  return bf16 ? load_bf16(static_cast<const std::uint16_t*>(data) + i, mask)
              : _mm512_maskz_loadu_ps(mask, static_cast<const float*>(data) + i);
}

JINA3_AVX512 void quantize_rows_avx512(const void* x, bool x_bf16, std::int64_t x_stride, std::int64_t rows,
                                       std::int64_t depth, std::int8_t* q, std::int64_t q_stride, float* scales) {
  const __m512 low = _mm512_set1_ps(-127.0f), high = _mm512_set1_ps(127.0f);
  for (std::int64_t r = 0; r < rows; ++r) {
    __m512 vmax = _mm512_setzero_ps();
    for (std::int64_t k = 0; k < depth; k += 16) {
      vmax = _mm512_max_ps(vmax, _mm512_abs_ps(load_any(x, x_bf16, r * x_stride + k, tail_mask(depth - k))));
    }
    const RowScale s = row_scale_of(_mm512_reduce_max_ps(vmax));
    const __m512 inverse = _mm512_set1_ps(s.inverse);
    for (std::int64_t k = 0; k < depth; k += 16) {
      const __mmask16 mask = tail_mask(depth - k);
      __m512 v = _mm512_mul_ps(load_any(x, x_bf16, r * x_stride + k, mask), inverse);
      v = _mm512_min_ps(_mm512_max_ps(_mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), low), high);
      _mm_mask_storeu_epi8(q + r * q_stride + k, mask, _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(v)));
    }
    scales[r] = s.scale;
  }
}

template <bool BF16>
JINA3_AVX512 __m512 load_as(const void* data, std::int64_t i, __mmask16 mask) {
  if constexpr (BF16) {
    return load_bf16(static_cast<const std::uint16_t*>(data) + i, mask);
  } else {
    return _mm512_maskz_loadu_ps(mask, static_cast<const float*>(data) + i);
  }
}

// The LoRA tail's functions carry the AVX-512 BF16 target so that, where the CPU has it (NATIVE),
// they convert with vcvtneps2bf16 and take dot products with vdpbf16ps; the NATIVE = false
// instantiations use no AVX-512 BF16 instruction and run on any AVX-512 CPU.
#define JINA3_TAIL __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

template <bool BF16, bool NATIVE = false>
JINA3_TAIL void store_as(void* data, std::int64_t i, __m512 value, __mmask16 mask) {
  if constexpr (BF16 && NATIVE) {
    // Round to nearest even, NaN to a quiet NaN: what store_bf16 computes.
    _mm256_mask_storeu_epi16(static_cast<std::uint16_t*>(data) + i, mask, (__m256i)_mm512_cvtneps_pbh(value));
  } else if constexpr (BF16) {
    store_bf16(static_cast<std::uint16_t*>(data) + i, value, mask);
  } else {
    _mm512_mask_storeu_ps(static_cast<float*>(data) + i, mask, value);
  }
}

template <bool BF16, bool NATIVE = false>
JINA3_TAIL float dot_as(const void* a, std::int64_t a_offset, const void* b, std::int64_t b_offset,
                        std::int64_t depth) {
  __m512 even = _mm512_setzero_ps(), odd = _mm512_setzero_ps();
  std::int64_t k = 0;
  if constexpr (BF16 && NATIVE) {
    // vdpbf16ps: 32 products of bfloat16 pairs per instruction, float32 sums.
    const auto* x = static_cast<const std::uint16_t*>(a) + a_offset;
    const auto* y = static_cast<const std::uint16_t*>(b) + b_offset;
    for (; k + 64 <= depth; k += 64) {
      even = _mm512_dpbf16_ps(even, (__m512bh)_mm512_loadu_si512(x + k), (__m512bh)_mm512_loadu_si512(y + k));
      odd = _mm512_dpbf16_ps(odd, (__m512bh)_mm512_loadu_si512(x + k + 32), (__m512bh)_mm512_loadu_si512(y + k + 32));
    }
    for (; k < depth; k += 32) {
      const __mmask32 m = depth - k >= 32 ? ~__mmask32{0} : static_cast<__mmask32>((1ull << (depth - k)) - 1u);
      even = _mm512_dpbf16_ps(even, (__m512bh)_mm512_maskz_loadu_epi16(m, x + k), (__m512bh)_mm512_maskz_loadu_epi16(m, y + k));
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(even, odd));
  }
  for (; k + 32 <= depth; k += 32) {
    even = _mm512_fmadd_ps(load_as<BF16>(a, a_offset + k, 0xFFFF), load_as<BF16>(b, b_offset + k, 0xFFFF), even);
    odd = _mm512_fmadd_ps(load_as<BF16>(a, a_offset + k + 16, 0xFFFF), load_as<BF16>(b, b_offset + k + 16, 0xFFFF),
                          odd);
  }
  for (; k < depth; k += 16) {
    const __mmask16 m = tail_mask(depth - k);
    even = _mm512_fmadd_ps(load_as<BF16>(a, a_offset + k, m), load_as<BF16>(b, b_offset + k, m), even);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(even, odd));
}

// value rounded to bfloat16 and widened back: in bfloat16, fc1's sum is rounded before its GELU,
// as the few-rows path stores fc1's output before jina3::gelu_ reads it (the same GELU code), so
// that a row gets the same numbers in either path.
template <bool NATIVE>
JINA3_TAIL __m512 round_bf16(__m512 value) {
  __m256i packed;
  if constexpr (NATIVE) {
    packed = (__m256i)_mm512_cvtneps_pbh(value);
  } else {
    const __m512i bits = _mm512_castps_si512(value);
    const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
    __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7FFF))), 16);
    const __mmask16 nan = _mm512_cmp_ps_mask(value, value, _CMP_UNORD_Q);
    rounded = _mm512_mask_mov_epi32(rounded, nan, _mm512_set1_epi32(0x7FC0));
    packed = _mm512_cvtepi32_epi16(rounded);
  }
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(packed), 16));
}

// Up to kTailRows rows at a time share each load of `up` (and of the column scales).
constexpr int kTailRows = 4;

template <bool BF16, bool INT8, bool NATIVE>
JINA3_TAIL void lora_tail_rows(const LoraTail& a, std::int64_t r0, int count, const std::int64_t* columns,
                                 int column_count, const float (*coef)[kTailRows]) {
  const std::int64_t outputs = a.outputs;
  const void* up = a.up;
  void* y = a.y;
  const std::int64_t y_stride = a.y_stride;
  const std::int32_t* acc = a.acc;
  const std::int64_t acc_stride = a.acc_stride;
  const float* col_scale = a.col_scale;
  __m512 row_scale[kTailRows];
  for (int i = 0; i < kTailRows; ++i) row_scale[i] = _mm512_set1_ps(INT8 && i < count ? a.row_scale[r0 + i] : 0.0f);
  for (std::int64_t n = 0; n < outputs; n += 16) {
    const __mmask16 mask = tail_mask(outputs - n);
    __m512 v[kTailRows];
    if constexpr (INT8) {
      const __m512 cs = _mm512_maskz_loadu_ps(mask, col_scale + n);
      for (int i = 0; i < kTailRows; ++i) {
        if (i < count) {
          const __m512 sums = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(mask, acc + (r0 + i) * acc_stride + n));
          v[i] = _mm512_mul_ps(sums, _mm512_mul_ps(cs, row_scale[i]));
        }
      }
    } else {
      for (int i = 0; i < kTailRows; ++i) {
        if (i < count) v[i] = load_as<BF16>(y, (r0 + i) * y_stride + n, mask);
      }
    }
    for (int c = 0; c < column_count; ++c) {
      const __m512 u = load_as<BF16>(up, columns[c] * outputs + n, mask);
      for (int i = 0; i < kTailRows; ++i) {
        if (i < count) v[i] = _mm512_fmadd_ps(_mm512_set1_ps(coef[c][i]), u, v[i]);
      }
    }
    for (int i = 0; i < kTailRows; ++i) {
      if (i < count) {
        store_as<BF16, NATIVE>(y, (r0 + i) * y_stride + n, a.gelu ? gelu(BF16 ? round_bf16<NATIVE>(v[i]) : v[i]) : v[i],
                               mask);
      }
    }
  }
}

template <bool BF16, bool INT8, bool NATIVE>
JINA3_TAIL void lora_tail_avx512_typed(const LoraTail& a, std::int64_t row_begin, std::int64_t row_end) {
  const std::int64_t adapters = a.adapters;
  std::vector<std::int64_t> columns(static_cast<std::size_t>(adapters + 1));
  std::vector<float> coef_storage(static_cast<std::size_t>((adapters + 1) * kTailRows));
  auto* coef = reinterpret_cast<float (*)[kTailRows]>(coef_storage.data());
  std::vector<char> used(static_cast<std::size_t>(adapters), 0);
  for (std::int64_t r0 = row_begin; r0 < row_end; r0 += kTailRows) {
    const int count = static_cast<int>(std::min<std::int64_t>(kTailRows, row_end - r0));
    // The union of the rows' kept adapter columns (one task's r columns when the rows share a
    // task), each row's low value there (0 where the row does not keep it), and the bias column.
    std::fill(used.begin(), used.end(), 0);
    for (int i = 0; i < count; ++i) {
      const float* mask = a.mask + ((a.first_row + r0 + i) / a.rows_per_group) * adapters;
      for (std::int64_t j = 0; j < adapters; ++j) used[static_cast<std::size_t>(j)] |= mask[j] != 0.0f;
    }
    int column_count = 0;
    for (std::int64_t j = 0; j < adapters; ++j) {
      if (!used[static_cast<std::size_t>(j)]) continue;
      columns[static_cast<std::size_t>(column_count)] = j;
      for (int i = 0; i < kTailRows; ++i) {
        float value = 0.0f;
        if (i < count) {
          const float keep = a.mask[((a.first_row + r0 + i) / a.rows_per_group) * adapters + j];
          if (keep != 0.0f) {
            // In bfloat16 the low values are rounded to bfloat16, as the few-rows path (and
            // LibTorch's products) store them: a row gets the same numbers in either path.
            const float dot = dot_as<BF16, NATIVE>(a.x, (r0 + i) * a.x_stride, a.down, j * a.depth, a.depth);
            value = keep * (BF16 ? bf16_to_float(float_to_bf16(dot)) : dot);
          }
        }
        coef[column_count][i] = value;
      }
      ++column_count;
    }
    columns[static_cast<std::size_t>(column_count)] = adapters;
    for (int i = 0; i < kTailRows; ++i) coef[column_count][i] = 1.0f;
    ++column_count;
    lora_tail_rows<BF16, INT8, NATIVE>(a, r0, count, columns.data(), column_count, coef);
  }
}

template <bool NATIVE>
JINA3_TAIL void lora_tail_avx512(const LoraTail& a, std::int64_t row_begin, std::int64_t row_end) {
  const bool int8 = a.acc != nullptr;
  if (a.bf16) {
    int8 ? lora_tail_avx512_typed<true, true, NATIVE>(a, row_begin, row_end)
         : lora_tail_avx512_typed<true, false, NATIVE>(a, row_begin, row_end);
  } else {
    int8 ? lora_tail_avx512_typed<false, true, false>(a, row_begin, row_end)
         : lora_tail_avx512_typed<false, false, false>(a, row_begin, row_end);
  }
}

#endif

}  // namespace

void quantize_rows(const void* x, bool x_bf16, std::int64_t x_stride, std::int64_t rows, std::int64_t depth,
                   std::int8_t* q, std::int64_t q_stride, float* scales) {
#if JINA3_X86_KERNELS
  if (has_avx512()) return quantize_rows_avx512(x, x_bf16, x_stride, rows, depth, q, q_stride, scales);
#endif
  quantize_rows_scalar(x, x_bf16, x_stride, rows, depth, q, q_stride, scales);
}

void lora_tail(const LoraTail& args, std::int64_t row_begin, std::int64_t row_end) {
#if JINA3_X86_KERNELS
  if (has_avx512_bf16()) return lora_tail_avx512<true>(args, row_begin, row_end);
  if (has_avx512()) return lora_tail_avx512<false>(args, row_begin, row_end);
#endif
  lora_tail_scalar(args, row_begin, row_end);
}

}  // namespace jina3::cpu
