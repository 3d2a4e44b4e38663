// The kernel report of an encoder (jina3::KernelReport, include/jina3/kernels.hpp) from plain
// facts about it and the CPU's features, without LibTorch: the model (model/model.cpp) gathers
// the facts at load, the tests try every combination.
#pragma once

#include <string>

#include <jina3/kernels.hpp>
#include <jina3/task.hpp>

#include "util/cpu_info.hpp"

namespace jina3::util {

struct KernelFacts {
  bool on_cpu = true;
  std::string device = "cpu";            // "cpu", "cuda:0", ...
  DType package_dtype = DType::Float32;  // as stored
  DType compute_dtype = DType::Float32;  // the activations', as the backbone reports it
  bool jina3_kernels = false;            // the backbone calls jina3's operators (manifest)
  std::string int8_engine;               // int8 packages: what runs their int8 products
};

KernelReport kernel_report(const KernelFacts& facts, const CpuFeatures& cpu);

}  // namespace jina3::util
