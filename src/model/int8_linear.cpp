// int8 linear layers on oneDNN's matmul (s8 x s8 -> s32) with jina3's quantisation and LoRA tail
// kernels around it (cpu_kernels.hpp). See int8_linear.hpp.
#include "model/int8_linear.hpp"

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#if JINA3_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>
#endif

#include <fmt/format.h>

#include "model/cpu_kernels.hpp"
#include "model/linear_shapes.hpp"
#include "util/cpu_info.hpp"

namespace jina3::int8 {
namespace {

void check_weight(const at::Tensor& qweight) {
  TORCH_CHECK(qweight.scalar_type() == at::kChar && qweight.is_cpu() && qweight.is_contiguous(),
              "jina3::lora_linear_int8: qweight must be a contiguous int8 CPU tensor");
}

// rows x depth contiguous bfloat16 (bf16) or float32 values into q (rows x depth int8) and scales
// (rows), as cpu::quantize_rows defines them, on LibTorch's threads.
void quantize_contiguous_rows(const void* x, bool bf16, std::int64_t rows, std::int64_t depth, std::int8_t* q,
                              float* scales) {
  const std::int64_t element = bf16 ? 2 : 4;
  const auto* base = static_cast<const char*>(x);
  at::parallel_for(0, rows, 16, [&](std::int64_t begin, std::int64_t end) {
    cpu::quantize_rows(base + begin * depth * element, bf16, depth, end - begin, depth, q + begin * depth, depth,
                       scales + begin);
  });
}

bool supported_activation(const at::Tensor& t) {
  return t.scalar_type() == at::kBFloat16 || t.scalar_type() == at::kFloat;
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> quantize_rows(const at::Tensor& input) {
  TORCH_CHECK(input.is_cpu() && supported_activation(input) && input.dim() >= 1,
              "jina3::quantize_rows: input must be a bfloat16 or float32 CPU tensor");
  const at::Tensor x = input.contiguous();
  const std::int64_t rows = rows_of(x), depth = x.size(-1);
  at::Tensor q = at::empty({rows, depth}, x.options().dtype(at::kChar));
  at::Tensor scales = at::empty({rows}, x.options().dtype(at::kFloat));
  quantize_contiguous_rows(x.data_ptr(), x.scalar_type() == at::kBFloat16, rows, depth,
                           q.data_ptr<std::int8_t>(), scales.data_ptr<float>());
  return {q, scales};
}

#if JINA3_HAVE_ONEDNN

namespace {

using dnnl::memory;
using Dims = memory::dims;

// int32 accumulators per block of rows: the block's quantised rows go through oneDNN and then the
// LoRA tail while its accumulators are still in the last-level cache (32 MiB on the EPYC VMs).
constexpr std::int64_t kBlockAccumulatorBytes = 4 << 20;

// JINA3_MAX_CPU_ISA caps oneDNN too (the same libdnnl that LibTorch's bfloat16 products use), when
// this library is loaded: oneDNN takes a cap only before its first kernel. An unknown value is
// left to util::check_cpu_isa_cap(), which every Encoder load calls.
dnnl_cpu_isa_t onednn_isa(const std::string& name) {
  if (name == "avx512_core_amx") return dnnl_cpu_isa_avx512_core_amx;
  if (name == "avx512_core_bf16") return dnnl_cpu_isa_avx512_core_bf16;
  if (name == "avx512_core_vnni") return dnnl_cpu_isa_avx512_core_vnni;
  if (name == "avx512_core") return dnnl_cpu_isa_avx512_core;
  if (name == "avx2_vnni") return dnnl_cpu_isa_avx2_vnni;
  if (name == "avx2") return dnnl_cpu_isa_avx2;
  return dnnl_cpu_isa_sse41;
}

const bool kOneDnnCapped = [] {
  const char* cap = std::getenv("JINA3_MAX_CPU_ISA");
  if (cap == nullptr || *cap == '\0') return false;
  return dnnl_set_max_cpu_isa(onednn_isa(util::cpu_features().isa)) == dnnl_success;
}();

const dnnl::engine& cpu_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// s8 [M, K] x s8 [K, N] -> s32 [M, N] with the weights in the blocked layout oneDNN's brgemm
// kernels choose for this CPU and K, N (format_tag::any, asked once with kLayoutRows rows), a
// primitive per M (oneDNN's runtime-M matmul falls back to its slower gemm:jit kernels), and a
// scratchpad per call, so that concurrent calls share nothing but immutable primitives.
constexpr memory::dim kLayoutRows = 256;
constexpr std::size_t kMaxPrimitives = 512;  // per (K, N); a pass's blocks use one or two M values

struct Primitive {
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul matmul;
};

struct Gemm {
  memory::desc packed_weights;  // the layout pack_weight writes
  memory::desc plain_weights;   // nn.Linear's [N, K] row-major: the K x N matrix in format "ba"
  std::int64_t k = 0, n = 0;
  std::mutex mutex;
  std::map<std::int64_t, std::shared_ptr<const Primitive>> by_rows;
};

memory::desc rows_desc(memory::dim rows, memory::dim columns, memory::data_type type) {
  return memory::desc(Dims{rows, columns}, type, Dims{columns, 1});
}

dnnl::matmul::primitive_desc make_pd(memory::dim m, memory::dim k, memory::dim n, const memory::desc& weights) {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return dnnl::matmul::primitive_desc(
      dnnl::matmul::desc(rows_desc(m, k, memory::data_type::s8), weights, rows_desc(m, n, memory::data_type::s32)),
      attr, cpu_engine());
}

Gemm& gemm_for(std::int64_t k, std::int64_t n) {
  static std::mutex mutex;
  static std::map<std::pair<std::int64_t, std::int64_t>, std::unique_ptr<Gemm>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = cache[{k, n}];
  if (!slot) {
    auto gemm = std::make_unique<Gemm>();
    const memory::desc any(Dims{k, n}, memory::data_type::s8, memory::format_tag::any);
    gemm->packed_weights = make_pd(kLayoutRows, k, n, any).weights_desc();
    gemm->plain_weights = memory::desc(Dims{k, n}, memory::data_type::s8, memory::format_tag::ba);
    gemm->k = k;
    gemm->n = n;
    slot = std::move(gemm);
  }
  return *slot;
}

// The primitive for m rows on the packed weights (shared: the cache may drop it meanwhile).
std::shared_ptr<const Primitive> primitive_for(Gemm& gemm, std::int64_t m) {
  std::lock_guard<std::mutex> lock(gemm.mutex);
  auto found = gemm.by_rows.find(m);
  if (found != gemm.by_rows.end()) return found->second;
  if (gemm.by_rows.size() >= kMaxPrimitives) gemm.by_rows.clear();  // only reached by odd callers
  auto pd = make_pd(m, gemm.k, gemm.n, gemm.packed_weights);
  auto primitive = std::make_shared<const Primitive>(Primitive{pd, dnnl::matmul(pd)});
  gemm.by_rows.emplace(m, primitive);
  return primitive;
}

dnnl::stream& thread_stream() {
  thread_local dnnl::stream stream(cpu_engine());
  return stream;
}

at::Tensor pack_with(Gemm& gemm, const at::Tensor& qweight) {
  const auto size = static_cast<std::int64_t>(gemm.packed_weights.get_size());
  at::Tensor packed = at::empty({size}, qweight.options().dtype(at::kChar));
  memory plain(gemm.plain_weights, cpu_engine(), const_cast<void*>(qweight.data_ptr()));
  memory blocked(gemm.packed_weights, cpu_engine(), packed.data_ptr());
  dnnl::stream& stream = thread_stream();
  dnnl::reorder(plain, blocked).execute(stream, plain, blocked);
  stream.wait();
  return packed;
}

}  // namespace

std::string engine_description() {
  const dnnl_version_t* version = dnnl_version();
  std::string impl;
  try {
    impl = primitive_for(gemm_for(1024, 1024), kLayoutRows)->pd.impl_info_str();
  } catch (const dnnl::error& e) {
    impl = fmt::format("unavailable ({})", e.what());
  }
  return fmt::format("oneDNN {}.{}.{} {}", version->major, version->minor, version->patch, impl);
}

at::Tensor pack_weight(const at::Tensor& qweight) {
  check_weight(qweight);
  TORCH_CHECK(qweight.dim() == 2, "jina3::pack_int8_weight: qweight must be [N, K]");
  try {
    return pack_with(gemm_for(qweight.size(1), qweight.size(0)), qweight);
  } catch (const dnnl::error& e) {
    TORCH_CHECK(false, "jina3::pack_int8_weight: oneDNN failed: ", e.what());
  }
}

namespace {

at::Tensor lora_linear_int8_impl(const at::Tensor& input, const at::Tensor& qweight, const at::Tensor& wscale,
                                 const at::Tensor& down, const at::Tensor& up_t, const at::Tensor& task_mask,
                                 bool gelu) {
  TORCH_CHECK(input.is_cpu(), "jina3::lora_linear_int8: int8 layers run on the CPU only");
  TORCH_CHECK(supported_activation(input) && input.dim() >= 1,
              "jina3::lora_linear_int8: input must be bfloat16 or float32");
  check_weight(qweight);
  const std::int64_t depth = input.size(-1);
  TORCH_CHECK(wscale.dim() == 1 && wscale.scalar_type() == at::kFloat && wscale.is_cpu(),
              "jina3::lora_linear_int8: wscale must be a float32 [N] CPU tensor");
  const std::int64_t outputs = wscale.size(0);
  Gemm& gemm = gemm_for(depth, outputs);
  at::Tensor weights = qweight;
  if (qweight.dim() == 2) {
    TORCH_CHECK(qweight.size(0) == outputs && qweight.size(1) == depth,
                "jina3::lora_linear_int8: qweight must be [N, K] = [", outputs, ", ", depth, "]");
    weights = pack_with(gemm, qweight);
  } else {
    TORCH_CHECK(qweight.dim() == 1 && qweight.numel() == static_cast<std::int64_t>(gemm.packed_weights.get_size()),
                "jina3::lora_linear_int8: qweight is neither [N, K] nor packed for this CPU by pack_int8_weight");
  }
  const at::ScalarType dtype = input.scalar_type();
  TORCH_CHECK(down.dim() == 2 && down.size(1) == depth && down.scalar_type() == dtype && down.is_cpu(),
              "jina3::lora_linear_int8: down must be [J, K] in the input's dtype");
  const std::int64_t adapters = down.size(0);
  TORCH_CHECK(up_t.dim() == 2 && up_t.size(0) == adapters + 1 && up_t.size(1) == outputs &&
                  up_t.scalar_type() == dtype && up_t.is_cpu(),
              "jina3::lora_linear_int8: up_t must be [J + 1, N] in the input's dtype");
  const std::int64_t rows = rows_of(input);
  TORCH_CHECK(task_mask.numel() > 0 && task_mask.numel() % std::max<std::int64_t>(1, adapters) == 0,
              "jina3::lora_linear_int8: task_mask must be [G, 1, J]");
  const std::int64_t groups = adapters == 0 ? 1 : task_mask.numel() / adapters;
  TORCH_CHECK(rows % groups == 0, "jina3::lora_linear_int8: task_mask's ", groups, " rows do not divide the input's ",
              rows, " rows");

  const at::Tensor x = input.contiguous();
  const at::Tensor down_c = down.contiguous(), up_c = up_t.contiguous(), wscale_c = wscale.contiguous();
  const at::Tensor mask = task_mask.to(at::kFloat).contiguous();
  at::Tensor out = empty_output(x, outputs);
  if (rows == 0) return out;

  const bool bf16 = dtype == at::kBFloat16;
  const std::int64_t element = bf16 ? 2 : 4;
  const std::int64_t block = std::max<std::int64_t>(1, std::min(rows, kBlockAccumulatorBytes / (4 * outputs)));
  at::Tensor q = at::empty({block, depth}, x.options().dtype(at::kChar));
  at::Tensor row_scales = at::empty({block}, x.options().dtype(at::kFloat));
  at::Tensor acc = at::empty({block, outputs}, x.options().dtype(at::kInt));
  const auto* x_data = static_cast<const char*>(x.data_ptr());
  auto* out_data = static_cast<char*>(out.data_ptr());
  memory weights_memory(gemm.packed_weights, cpu_engine(), weights.data_ptr());
  dnnl::stream& stream = thread_stream();
  const std::int64_t tail_grain = std::max<std::int64_t>(1, 8192 / std::max<std::int64_t>(1, outputs));
  at::Tensor scratch;

  for (std::int64_t first = 0; first < rows; first += block) {
    const std::int64_t n = std::min(block, rows - first);
    const char* x_block = x_data + first * depth * element;
    quantize_contiguous_rows(x_block, bf16, n, depth, q.data_ptr<std::int8_t>(), row_scales.data_ptr<float>());
    const std::shared_ptr<const Primitive> primitive = primitive_for(gemm, n);
    const dnnl::matmul::primitive_desc& pd = primitive->pd;
    const auto scratch_bytes = static_cast<std::int64_t>(pd.scratchpad_desc().get_size());
    if (!scratch.defined() || scratch.numel() < scratch_bytes) {
      scratch = at::empty({std::max<std::int64_t>(1, scratch_bytes)}, x.options().dtype(at::kByte));
    }
    memory src(rows_desc(n, depth, memory::data_type::s8), cpu_engine(), q.data_ptr());
    memory dst(rows_desc(n, outputs, memory::data_type::s32), cpu_engine(), acc.data_ptr());
    memory scratch_memory(pd.scratchpad_desc(), cpu_engine(), scratch.data_ptr());
    primitive->matmul.execute(stream, {{DNNL_ARG_SRC, src},
                               {DNNL_ARG_WEIGHTS, weights_memory},
                               {DNNL_ARG_DST, dst},
                               {DNNL_ARG_SCRATCHPAD, scratch_memory}});
    stream.wait();

    cpu::LoraTail tail;
    tail.x = x_block;
    tail.x_stride = depth;
    tail.depth = depth;
    tail.down = down_c.data_ptr();
    tail.mask = mask.data_ptr<float>();
    tail.rows_per_group = rows / groups;
    tail.first_row = first;
    tail.adapters = adapters;
    tail.up = up_c.data_ptr();
    tail.acc = acc.data_ptr<std::int32_t>();
    tail.acc_stride = outputs;
    tail.row_scale = row_scales.data_ptr<float>();
    tail.col_scale = wscale_c.data_ptr<float>();
    tail.y = out_data + first * outputs * element;
    tail.y_stride = outputs;
    tail.outputs = outputs;
    tail.bf16 = bf16;
    tail.gelu = gelu;
    at::parallel_for(0, n, tail_grain, [&](std::int64_t begin, std::int64_t end) { cpu::lora_tail(tail, begin, end); });
  }
  return out;
}

}  // namespace

at::Tensor lora_linear_int8(const at::Tensor& input, const at::Tensor& qweight, const at::Tensor& wscale,
                            const at::Tensor& down, const at::Tensor& up_t, const at::Tensor& task_mask) {
  try {
    return lora_linear_int8_impl(input, qweight, wscale, down, up_t, task_mask, false);
  } catch (const dnnl::error& e) {
    TORCH_CHECK(false, "jina3::lora_linear_int8: oneDNN failed: ", e.what());
  }
}

at::Tensor lora_linear_int8_gelu(const at::Tensor& input, const at::Tensor& qweight, const at::Tensor& wscale,
                                 const at::Tensor& down, const at::Tensor& up_t, const at::Tensor& task_mask) {
  try {
    return lora_linear_int8_impl(input, qweight, wscale, down, up_t, task_mask, true);
  } catch (const dnnl::error& e) {
    TORCH_CHECK(false, "jina3::lora_linear_int8_gelu: oneDNN failed: ", e.what());
  }
}

#else  // built without oneDNN's headers (libdnnl-dev): int8 packages cannot run

namespace {
[[noreturn]] void no_onednn(const char* what) {
  TORCH_CHECK(false, what, ": this libjina3 was built without oneDNN (install libdnnl-dev and rebuild); "
              "int8 packages need it");
}
}  // namespace

std::string engine_description() { return "unavailable (built without oneDNN)"; }
at::Tensor pack_weight(const at::Tensor&) { no_onednn("jina3::pack_int8_weight"); }
at::Tensor lora_linear_int8(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                            const at::Tensor&, const at::Tensor&) {
  no_onednn("jina3::lora_linear_int8");
}
at::Tensor lora_linear_int8_gelu(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                 const at::Tensor&, const at::Tensor&) {
  no_onednn("jina3::lora_linear_int8_gelu");
}

#endif

}  // namespace jina3::int8
