// What jina3's hand-written x86-64 kernels share (cpu_kernels.cpp, attention_kernels.cpp): whether
// they are compiled (JINA3_X86_KERNELS), the per-function AVX-512 target attribute, and bfloat16
// loads and stores on 16 float32 lanes. Internal; include only from those kernel files.
#pragma once

#include <cstdint>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define JINA3_X86_KERNELS 1
#include <immintrin.h>
#endif

#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's AVX-512 intrinsics start from deliberately undefined vectors, which these warnings report.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#if JINA3_X86_KERNELS

#define JINA3_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))
#define JINA3_AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

namespace jina3::cpu::simd {

// The lanes of the last (partial) block of 16.
JINA3_AVX512 inline __mmask16 tail_mask(std::int64_t remaining) {
  return remaining >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << remaining) - 1u);
}

JINA3_AVX512 inline __m512 load_bf16(const std::uint16_t* source, __mmask16 mask) {
  const __m256i packed = _mm256_maskz_loadu_epi16(mask, source);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(packed), 16));
}

// Round to nearest even in integer arithmetic, NaN kept a (quiet) NaN, as LibTorch's conversion.
JINA3_AVX512 inline void store_bf16(std::uint16_t* dest, __m512 value, __mmask16 mask) {
  const __m512i bits = _mm512_castps_si512(value);
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7FFF))), 16);
  const __mmask16 nan = _mm512_cmp_ps_mask(value, value, _CMP_UNORD_Q);
  rounded = _mm512_mask_mov_epi32(rounded, nan, _mm512_set1_epi32(0x7FC0));
  _mm256_mask_storeu_epi16(dest, mask, _mm512_cvtepi32_epi16(rounded));
}

}  // namespace jina3::cpu::simd

#endif
