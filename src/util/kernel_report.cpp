// See kernel_report.hpp.
#include "util/kernel_report.hpp"

#include <fmt/format.h>

namespace jina3::util {
namespace {

// What runs an encoder's matrix products. bfloat16 on the CPU: LibTorch hands them to oneDNN from
// AVX-512 on (bfloat16 products widened to float32 where the CPU lacks AVX512-BF16) and to its own
// loops below it; jina3's AVX512-BF16 kernel (model/torch_ops.cpp) takes the products of few rows
// (its kSmallLinearMaxRows, 48) where the backbone calls jina3's operators.
std::string matmul(const KernelFacts& facts, const CpuFeatures& cpu) {
  if (!facts.on_cpu) return fmt::format("LibTorch CUDA (cuBLAS) {}", to_string(facts.compute_dtype));
  if (facts.package_dtype == DType::Int8) return "oneDNN int8";
  if (facts.compute_dtype == DType::BFloat16) {
    if (!cpu.avx512) return fmt::format("LibTorch bf16, emulated in float32 ({})", cpu.isa);
    if (!cpu.bf16_native()) return fmt::format("oneDNN bf16, emulated in float32 ({})", cpu.isa);
    if (facts.jina3_kernels && cpu.avx512_bf16) return "oneDNN bf16 + jina3 avx512_bf16 (<= 48 rows)";
    return "oneDNN bf16";
  }
  return fmt::format("LibTorch {}", to_string(facts.compute_dtype));
}

}  // namespace

KernelReport kernel_report(const KernelFacts& facts, const CpuFeatures& cpu) {
  KernelReport report;
  report.device = facts.device;
  report.isa = cpu.isa;
  report.bf16 = !facts.on_cpu ? "n/a" : cpu.bf16_native() ? "native" : "emulated";
  report.compute_dtype = to_string(facts.compute_dtype);
  report.matmul = matmul(facts, cpu);
  if (facts.package_dtype == DType::Int8) report.int8_engine = facts.int8_engine;
  // A bfloat16 encoder (a bfloat16 package, or another run as bfloat16) where bfloat16 is emulated.
  if (facts.on_cpu && facts.compute_dtype == DType::BFloat16 && facts.package_dtype != DType::Int8) {
    report.notice = bf16_emulation_notice(cpu);
  }
  return report;
}

}  // namespace jina3::util
