#include "model/attention_kernels.hpp"

#include <cstring>
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

namespace {

#define JINA3_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

JINA3_AVX512 __mmask16 tail_mask(std::int64_t remaining) {
  return remaining >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << remaining) - 1u);
}

JINA3_AVX512 __m512 load_bf16(const std::uint16_t* source, __mmask16 mask) {
  const __m256i packed = _mm256_maskz_loadu_epi16(mask, source);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(packed), 16));
}

// Round to nearest even in integer arithmetic, NaN kept a (quiet) NaN, as LibTorch's conversion
// (the same as cpu_kernels.cpp's).
JINA3_AVX512 void store_bf16(std::uint16_t* dest, __m512 value, __mmask16 mask) {
  const __m512i bits = _mm512_castps_si512(value);
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7FFF))), 16);
  const __mmask16 nan = _mm512_cmp_ps_mask(value, value, _CMP_UNORD_Q);
  rounded = _mm512_mask_mov_epi32(rounded, nan, _mm512_set1_epi32(0x7FC0));
  _mm256_mask_storeu_epi16(dest, mask, _mm512_cvtepi32_epi16(rounded));
}

// One head's half-rotation: out[j] = x1 c - x2 s, out[j + half] = x2 c + x1 s for j < half, with
// c, s the (pre-scaled) float32 tables of the token's position.
JINA3_AVX512 void rotate_head(const std::uint16_t* x, const float* c, const float* s, std::uint16_t* out,
                              std::int64_t half) {
  for (std::int64_t j = 0; j < half; j += 16) {
    const __mmask16 mask = tail_mask(half - j);
    const __m512 x1 = load_bf16(x + j, mask);
    const __m512 x2 = load_bf16(x + half + j, mask);
    const __m512 cv = _mm512_maskz_loadu_ps(mask, c + j);
    const __m512 sv = _mm512_maskz_loadu_ps(mask, s + j);
    store_bf16(out + j, _mm512_fmsub_ps(x1, cv, _mm512_mul_ps(x2, sv)), mask);
    store_bf16(out + half + j, _mm512_fmadd_ps(x2, cv, _mm512_mul_ps(x1, sv)), mask);
  }
}

// The token's tables as float32: [cos · q_scale | sin · q_scale | cos | sin], half values each.
JINA3_AVX512 void load_tables(const std::uint16_t* cos, const std::uint16_t* sin, float q_scale, std::int64_t half,
                              float* tables) {
  const __m512 scale = _mm512_set1_ps(q_scale);
  for (std::int64_t j = 0; j < half; j += 16) {
    const __mmask16 mask = tail_mask(half - j);
    const __m512 c = load_bf16(cos + j, mask);
    const __m512 s = load_bf16(sin + j, mask);
    _mm512_mask_storeu_ps(tables + j, mask, _mm512_mul_ps(c, scale));
    _mm512_mask_storeu_ps(tables + half + j, mask, _mm512_mul_ps(s, scale));
    _mm512_mask_storeu_ps(tables + 2 * half + j, mask, c);
    _mm512_mask_storeu_ps(tables + 3 * half + j, mask, s);
  }
}

}  // namespace

void split_qkv_rotary_bf16(const SplitQkvRotaryBf16& args, std::int64_t token_begin, std::int64_t token_end) {
  const std::int64_t heads = args.heads, dim = args.dim, half = dim / 2, length = args.length;
  const std::int64_t hidden = heads * dim;
  thread_local std::vector<float> tables;
  if (static_cast<std::int64_t>(tables.size()) < 4 * half) tables.resize(static_cast<std::size_t>(4 * half));
  float* const t = tables.data();
  // Token by token: its qkv row (3 x hidden values) is read once, front to back, and each head's
  // q, k and v go to their own rows of the outputs (dim values each, consecutive across the
  // consecutive tokens of a task, so every output stream is written in order).
  for (std::int64_t token = token_begin; token < token_end; ++token) {
    const std::int64_t batch = token / length, position = token % length;
    load_tables(args.cos + position * half, args.sin + position * half, args.q_scale, half, t);
    const std::uint16_t* row = args.qkv + token * 3 * hidden;
    for (std::int64_t h = 0; h < heads; ++h) {
      const std::int64_t dest = ((batch * heads + h) * length + position) * dim;
      rotate_head(row + h * dim, t, t + half, args.q + dest, half);
      rotate_head(row + hidden + h * dim, t + 2 * half, t + 3 * half, args.k + dest, half);
      std::memcpy(args.v + dest, row + 2 * hidden + h * dim, static_cast<std::size_t>(dim) * sizeof(std::uint16_t));
    }
  }
}

#else  // not x86-64 with GCC/Clang: no kernels (has_avx512() is false); callers use LibTorch.

void split_qkv_rotary_bf16(const SplitQkvRotaryBf16&, std::int64_t, std::int64_t) {}

#endif

}  // namespace jina3::cpu
