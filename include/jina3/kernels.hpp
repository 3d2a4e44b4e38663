// Which kernels an encoder runs (Encoder::kernels()), declared once: the struct, the C API's
// jina3_encoder_kernel_report (capi/), Python's kernels() and stats()["kernels"], the HTTP
// server's /info and the CLI's load-time note come from this table. Every field is a string, fixed
// when the encoder is loaded.
#pragma once

#include <string>

// X(name, doc)
#define JINA3_KERNEL_FIELDS(X)                                                                             \
  X(device, "where the model runs: \"cpu\", \"cuda:0\", ...")                                              \
  X(isa, "the host CPU's best instruction set, in oneDNN's names (\"avx512_core_bf16\", \"avx512_core\", " \
         "\"avx2\", ...), capped by JINA3_MAX_CPU_ISA")                                                    \
  X(bf16, "\"native\" (AVX512-BF16 or AMX), \"emulated\" (no bfloat16 products in this CPU), \"n/a\" "     \
          "off the CPU")                                                                                   \
  X(compute_dtype, "the activations' dtype: Encoder::dtype(), but for int8 packages \"bfloat16\" where "   \
                   "bfloat16 is native and \"float32\" elsewhere")                                         \
  X(matmul, "what runs the matrix products for this package's dtype, e.g. \"oneDNN bf16 + jina3 "          \
            "avx512_bf16 (<= 48 rows)\", \"oneDNN int8\", \"LibTorch float32\"")                           \
  X(int8_engine, "for an int8 package, the engine and ISA of its int8 products (\"oneDNN 2.6.3 "           \
                 "brg:avx512_core_vnni\"); \"\" otherwise")                                                \
  X(notice, "\"\", or advice: bfloat16 emulated on this CPU, where an int8 package runs faster")

namespace jina3 {

struct KernelReport {
#define JINA3_X(name, doc) std::string name;
  JINA3_KERNEL_FIELDS(JINA3_X)
#undef JINA3_X
};

}  // namespace jina3
