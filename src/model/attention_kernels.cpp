#include "model/attention_kernels.hpp"

#include "model/simd_bf16.hpp"

#include <cstring>
#include <vector>

namespace jina3::cpu {

#if JINA3_X86_KERNELS

namespace {

using simd::load_bf16;
using simd::store_bf16;
using simd::tail_mask;

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
