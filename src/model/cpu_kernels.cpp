#include "model/cpu_kernels.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define JINA3_X86_KERNELS 1
#include <immintrin.h>
#endif

#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's AVX-512 intrinsics start from deliberately undefined vectors, which these warnings report.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace jina3::cpu {

#if JINA3_X86_KERNELS

bool has_avx512() noexcept {
  static const bool supported = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                                 __builtin_cpu_supports("avx512vl");
  return supported;
}

bool has_avx512_bf16() noexcept {
  static const bool supported = has_avx512() && __builtin_cpu_supports("avx512bf16");
  return supported;
}

namespace {

#define JINA3_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))
#define JINA3_AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

JINA3_AVX512 __m512 load_bf16(const std::uint16_t* source, __mmask16 mask) {
  const __m256i packed = _mm256_maskz_loadu_epi16(mask, source);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(packed), 16));
}

// Round to nearest even in integer arithmetic, NaN kept a (quiet) NaN, as LibTorch's conversion.
JINA3_AVX512 void store_bf16(std::uint16_t* dest, __m512 value, __mmask16 mask) {
  const __m512i bits = _mm512_castps_si512(value);
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7FFF))), 16);
  const __mmask16 nan = _mm512_cmp_ps_mask(value, value, _CMP_UNORD_Q);
  rounded = _mm512_mask_mov_epi32(rounded, nan, _mm512_set1_epi32(0x7FC0));
  _mm256_mask_storeu_epi16(dest, mask, _mm512_cvtepi32_epi16(rounded));
}

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

JINA3_AVX512 __mmask16 tail_mask(std::int64_t remaining) {
  return remaining >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << remaining) - 1u);
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

}  // namespace jina3::cpu
