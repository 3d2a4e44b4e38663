// What this CPU can run: the x86-64 features the kernels choose between, detected once (CPUID, and
// for AMX the tile state the OS enables in XCR0), named with oneDNN's ISA names. The environment
// variable JINA3_MAX_CPU_ISA (one of those names) caps what is reported, as ONEDNN_MAX_CPU_ISA caps
// oneDNN, so that one machine can play an older CPU (tests: a CPU without native bfloat16). No
// LibTorch here: the `jina3 info` launcher reports these too.
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace jina3::util {

struct CpuFeatures {
  bool avx2 = false;
  bool avx512 = false;       // AVX-512 F + BW + VL
  bool avx512_vnni = false;
  bool avx512_bf16 = false;  // vdpbf16ps
  bool amx_bf16 = false;     // AMX tiles with bfloat16 products, enabled by the OS
  bool amx_int8 = false;
  bool avx2_vnni = false;    // AVX-VNNI (VEX encoded)
  std::string isa = "none";  // the best level, one of kCpuIsaNames

  // bfloat16 products in hardware (AVX512-BF16 or AMX-BF16); elsewhere bfloat16 is emulated.
  bool bf16_native() const noexcept { return avx512_bf16 || amx_bf16; }
};

// The levels, lowest first, with oneDNN's names. A feature belongs to the first level that has it:
// avx2 to "avx2", avx2_vnni to "avx2_vnni", avx512 to "avx512_core", avx512_vnni to
// "avx512_core_vnni", avx512_bf16 to "avx512_core_bf16", amx_bf16 and amx_int8 to
// "avx512_core_amx"; a level needs every feature of the levels below it but avx2_vnni (the AVX-512
// levels do not need AVX-VNNI).
inline constexpr std::array<std::string_view, 8> kCpuIsaNames = {
    "none", "sse41", "avx2", "avx2_vnni", "avx512_core", "avx512_core_vnni", "avx512_core_bf16", "avx512_core_amx"};

// The hardware's features, uncapped (everything false, isa "none", off x86-64).
CpuFeatures detect_cpu_features();

// features with every feature above max_isa reading false and isa = the lower of the two levels.
// max_isa: one of kCpuIsaNames, any case; "" means no cap. Throws InvalidArgument for any other
// value, naming the accepted ones.
CpuFeatures cap_cpu_features(const CpuFeatures& features, std::string_view max_isa);

// This process's features: detect_cpu_features() capped by JINA3_MAX_CPU_ISA, computed once and
// never failing, so that kernels may ask at any time. An unknown JINA3_MAX_CPU_ISA value leaves
// the features uncapped here; check_cpu_isa_cap() reports it (every Encoder load calls it).
const CpuFeatures& cpu_features() noexcept;
inline bool bf16_native() noexcept { return cpu_features().bf16_native(); }

// Throws InvalidArgument when JINA3_MAX_CPU_ISA holds a value that is not an ISA name.
void check_cpu_isa_cap();

// The ISA oneDNN's int8 matrix products (brgemm) run with on a CPU of these features:
// "avx512_core_amx" (AMX-INT8), "avx512_core_vnni", "avx2_vnni", else "avx512_core", "avx2" or
// the isa itself (no VNNI: int8 products widened in software).
std::string int8_isa(const CpuFeatures& features);

// The note to the user when a bfloat16 package is loaded on this CPU (device CPU) and bfloat16 is
// not native: bfloat16 is emulated here, and an int8 package runs faster. "" when it is native.
std::string bf16_emulation_notice(const CpuFeatures& features);

}  // namespace jina3::util
