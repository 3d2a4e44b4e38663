// AVX-512 kernels around attention in bfloat16 (see attention_ops.cpp for the operators): the split
// of the qkv projection into per-head q, k and v with the rotary positions applied, in one pass
// over memory where LibTorch makes a permuted copy and then several elementwise passes (multiply,
// subtract, add, concatenate, scale), each rounding to bfloat16.
#pragma once

#include <cstdint>

namespace jina3::cpu {

// Inputs and outputs of split_qkv_rotary_bf16, all bfloat16 and contiguous:
//   qkv   [batch, length, 3 * heads * dim]: [q of all heads | k | v], each head's dim values together
//   cos, sin [length, dim / 2]: the rotary tables (non-interleaved: pairs (x_j, x_{j + dim/2}))
//   q, k, v  [batch, heads, length, dim]
// q = rotary(q) * q_scale, k = rotary(k), v copied; the rotation and scale in float32, rounded once
// to bfloat16 (round to nearest even, as LibTorch).
struct SplitQkvRotaryBf16 {
  const std::uint16_t* qkv;
  const std::uint16_t* cos;
  const std::uint16_t* sin;
  std::uint16_t* q;
  std::uint16_t* k;
  std::uint16_t* v;
  std::int64_t length;
  std::int64_t heads;
  std::int64_t dim;  // even
  float q_scale = 1.0f;
};

// Does the tokens [token_begin, token_end) of the flattened batch x length. Needs has_avx512()
// (cpu_kernels.hpp).
void split_qkv_rotary_bf16(const SplitQkvRotaryBf16& args, std::int64_t token_begin, std::int64_t token_end);

}  // namespace jina3::cpu
