// CPU feature detection (see cpu_info.hpp).
#include "util/cpu_info.hpp"

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include <jina3/errors.hpp>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define JINA3_CPU_X86_64 1
#else
#define JINA3_CPU_X86_64 0
#endif

namespace jina3::util {
namespace {

constexpr const char* kCapVariable = "JINA3_MAX_CPU_ISA";

enum Level : int { kNone, kSse41, kAvx2, kAvx2Vnni, kAvx512Core, kAvx512CoreVnni, kAvx512CoreBf16, kAvx512CoreAmx };

// The best level these features (and sse41, which the struct does not hold) make up.
int level_of(const CpuFeatures& f, bool sse41) {
  if (f.avx512 && f.avx2 && f.avx512_vnni && f.avx512_bf16 && f.amx_bf16 && f.amx_int8) return kAvx512CoreAmx;
  if (f.avx512 && f.avx2 && f.avx512_vnni && f.avx512_bf16) return kAvx512CoreBf16;
  if (f.avx512 && f.avx2 && f.avx512_vnni) return kAvx512CoreVnni;
  if (f.avx512 && f.avx2) return kAvx512Core;
  if (f.avx2 && f.avx2_vnni) return kAvx2Vnni;
  if (f.avx2) return kAvx2;
  return sse41 ? kSse41 : kNone;
}

int level_index(std::string_view name) {
  for (std::size_t i = 0; i < kCpuIsaNames.size(); ++i) {
    if (kCpuIsaNames[i] == name) return static_cast<int>(i);
  }
  return -1;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

#if JINA3_CPU_X86_64
// XCR0, the state components the OS saves (valid only where CPUID says OSXSAVE).
std::uint64_t xcr0() {
  std::uint32_t eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<std::uint64_t>(edx) << 32) | eax;
}
#endif

struct Process {
  CpuFeatures features;
  std::string error;  // an unknown JINA3_MAX_CPU_ISA value's message
};

Process detect_process() noexcept {
  Process process;
  try {
    process.features = detect_cpu_features();
    const char* cap = std::getenv(kCapVariable);
    if (cap != nullptr) {
      try {
        process.features = cap_cpu_features(process.features, cap);
      } catch (const InvalidArgument& e) {
        process.error = e.what();
      }
    }
  } catch (...) {  // only allocation can fail here; the features stay as far as they got
  }
  return process;
}

const Process& process() noexcept {
  static const Process detected = detect_process();
  return detected;
}

}  // namespace

CpuFeatures detect_cpu_features() {
  CpuFeatures f;
#if JINA3_CPU_X86_64
  __builtin_cpu_init();
  // __builtin_cpu_supports checks that the OS saves the AVX and AVX-512 registers too.
  f.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  f.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl");
  f.avx512_vnni = f.avx512 && __builtin_cpu_supports("avx512vnni");
  f.avx512_bf16 = f.avx512 && __builtin_cpu_supports("avx512bf16");
  const bool sse41 = __builtin_cpu_supports("sse4.1");
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  // Leaf 7 sub-leaf 1, EAX bit 4: AVX-VNNI (VEX); it needs the AVX state, which avx2 implies.
  if (f.avx2 && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) f.avx2_vnni = (eax >> 4) & 1u;
  // Leaf 7 sub-leaf 0, EDX bits 22 (AMX-BF16), 24 (AMX-TILE), 25 (AMX-INT8); and the tile state
  // (XCR0 bits 17 TILECFG, 18 TILEDATA) enabled by the OS (leaf 1 ECX bit 27: OSXSAVE).
  unsigned leaf1_ecx = 0;
  if (__get_cpuid(1, &eax, &ebx, &leaf1_ecx, &edx) && ((leaf1_ecx >> 27) & 1u) &&
      __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) {
    const bool tile = (edx >> 24) & 1u;
    const std::uint64_t tile_state = (std::uint64_t{1} << 17) | (std::uint64_t{1} << 18);
    const bool os_tiles = tile && (xcr0() & tile_state) == tile_state;
    f.amx_bf16 = os_tiles && f.avx512 && ((edx >> 22) & 1u);
    f.amx_int8 = os_tiles && f.avx512 && ((edx >> 25) & 1u);
  }
  f.isa = std::string(kCpuIsaNames[static_cast<std::size_t>(level_of(f, sse41))]);
#endif
  return f;
}

CpuFeatures cap_cpu_features(const CpuFeatures& features, std::string_view max_isa) {
  if (max_isa.empty()) return features;
  const int cap = level_index(lower(max_isa));
  if (cap < 0) {
    std::string names;
    for (std::string_view name : kCpuIsaNames) names += fmt::format("{}{}", names.empty() ? "" : ", ", name);
    throw InvalidArgument(fmt::format("{}=\"{}\" is not an ISA name; use one of {} (oneDNN's names, any case), "
                                      "or leave it unset for no cap",
                                      kCapVariable, max_isa, names));
  }
  CpuFeatures f = features;
  f.avx2 = f.avx2 && cap >= kAvx2;
  f.avx2_vnni = f.avx2_vnni && cap >= kAvx2Vnni;
  f.avx512 = f.avx512 && cap >= kAvx512Core;
  f.avx512_vnni = f.avx512_vnni && cap >= kAvx512CoreVnni;
  f.avx512_bf16 = f.avx512_bf16 && cap >= kAvx512CoreBf16;
  f.amx_bf16 = f.amx_bf16 && cap >= kAvx512CoreAmx;
  f.amx_int8 = f.amx_int8 && cap >= kAvx512CoreAmx;
  const bool sse41 = level_index(features.isa) >= kSse41 && cap >= kSse41;
  f.isa = std::string(kCpuIsaNames[static_cast<std::size_t>(level_of(f, sse41))]);
  return f;
}

const CpuFeatures& cpu_features() noexcept { return process().features; }

void check_cpu_isa_cap() {
  if (!process().error.empty()) throw InvalidArgument(process().error);
}

std::string int8_isa(const CpuFeatures& f) {
  if (f.amx_int8) return "avx512_core_amx";
  if (f.avx512_vnni) return "avx512_core_vnni";
  if (f.avx2_vnni) return "avx2_vnni";
  if (f.avx512) return "avx512_core";
  if (f.avx2) return "avx2";
  return f.isa;
}

std::string bf16_emulation_notice(const CpuFeatures& f) {
  if (f.bf16_native()) return {};
  return fmt::format("bfloat16 is emulated on this CPU ({}: no AVX512-BF16 or AMX): an int8 package runs faster "
                     "here: python3 -m jina3.export CHECKPOINT OUT --dtype int8",
                     f.isa);
}

}  // namespace jina3::util
