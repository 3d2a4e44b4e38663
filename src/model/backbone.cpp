// TorchScript backbone: load onto the device, cast, check the interface once, run forward.
#include "model/backbone.hpp"

#include <torch/cuda.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <fmt/format.h>

#include <jina3/errors.hpp>

#include "model/int8_linear.hpp"
#include "util/cpu_info.hpp"

namespace jina3 {
namespace {

torch::ScalarType scalar_type(DType dtype) {
  switch (dtype) {
    case DType::BFloat16: return torch::kBFloat16;
    case DType::Float16: return torch::kFloat16;
    default: return torch::kFloat32;
  }
}

// int8 packages store their floating-point tensors in bfloat16 (python/jina3/export/backbone.py
// quantize_int8); they compute in it where the CPU has native bfloat16 dot products, and in
// float32 elsewhere, where emulated bfloat16 would cost more than the int8 products save.
DType compute_dtype_of(DType dtype) {
  if (dtype != DType::Int8) return dtype;
  return util::bf16_native() ? DType::BFloat16 : DType::Float32;
}

// Every floating-point tensor of `from` in the module (parameters and buffers, recursively) becomes
// `to`; others (the int8 weights, their float32 scales) stay as they are.
void cast_floating(torch::jit::Module& module, torch::ScalarType from, torch::ScalarType to) {
  for (const auto& parameter : module.parameters(/*recurse=*/true)) {
    if (parameter.scalar_type() == from) parameter.set_data(parameter.to(to));
  }
  for (const auto& buffer : module.buffers(/*recurse=*/true)) {
    if (buffer.scalar_type() == from) buffer.set_data(buffer.to(to));
  }
}

bool is_qweight(const std::string& name) {
  return name == "qweight" || (name.size() > 8 && name.compare(name.size() - 8, 8, ".qweight") == 0);
}

// The int8 weights (buffers named qweight, [N, K]) repacked once into oneDNN's layout for this CPU.
// Returns how many there were: none in an int8 package of jina3 0.1's exporter (LibTorch's
// dynamically quantised layers, which compute in float32).
int pack_int8_weights(torch::jit::Module& module) {
  int count = 0;
  for (const auto& buffer : module.named_buffers(/*recurse=*/true)) {
    if (is_qweight(buffer.name) && buffer.value.scalar_type() == torch::kChar && buffer.value.dim() == 2) {
      buffer.value.set_data(int8::pack_weight(buffer.value.contiguous()));
      ++count;
    }
  }
  return count;
}

// c10 messages can carry a C++ backtrace; the first lines say what happened.
std::string short_message(const c10::Error& e) {
  std::string message = e.what_without_backtrace();
  constexpr std::size_t kMaxChars = 2000;
  if (message.size() > kMaxChars) message = message.substr(0, kMaxChars) + " ...";
  return message;
}

DType resolve_dtype(const BackboneSpec& spec, Device device, DType requested) {
  const DType effective = requested == DType::Auto ? spec.package_dtype : requested;
  if (spec.package_dtype == DType::Int8) {
    if (effective != DType::Int8) {
      throw DeviceError(fmt::format("{}: an int8 package cannot run as {}; export the model again with --dtype {}",
                                    spec.path, to_string(effective), to_string(effective)));
    }
    if (device != Device::CPU) {
      throw DeviceError(fmt::format("{}: int8 packages (int8 linear layers on oneDNN) run on the CPU only; "
                                    "use a float32, bfloat16 or float16 package on CUDA", spec.path));
    }
  } else if (effective == DType::Int8) {
    throw DeviceError(fmt::format("{}: int8 is chosen at export time (jina3.export --dtype int8); this package "
                                  "holds {} weights", spec.path, to_string(spec.package_dtype)));
  }
  if (effective == DType::Float16 && device == Device::CPU) {
    // LibTorch's CPU kernels lack float16 matrix products; bfloat16 is the CPU half type.
    throw DeviceError(fmt::format("{}: float16 is not supported on the CPU; use bfloat16 or float32 there",
                                  spec.path));
  }
  return effective;
}

}  // namespace

void require_cuda(int device_index) {
  if (!torch::cuda::is_available()) {
    throw DeviceError("CUDA was requested, but this LibTorch has no CUDA support or no CUDA device is visible");
  }
  const auto count = static_cast<int>(torch::cuda::device_count());
  if (device_index < 0 || device_index >= count) {
    throw DeviceError(fmt::format("CUDA device {} was requested, but {} device(s) are visible", device_index, count));
  }
}

Backbone::Backbone(const BackboneSpec& spec, Device device, int device_index, DType requested_dtype)
    : device_(torch::kCPU),
      dtype_(resolve_dtype(spec, device, requested_dtype)),
      compute_dtype_(compute_dtype_of(dtype_)),
      hidden_size_(spec.hidden_size) {
  if (device == Device::CUDA) {
    require_cuda(device_index);
    device_ = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(device_index));
  }

  try {
    module_ = torch::jit::load(spec.path, device_);
  } catch (const c10::Error& e) {
    throw ModelInvalid(fmt::format("{}: cannot be loaded as a TorchScript module: {}", spec.path, short_message(e)));
  } catch (const std::exception& e) {
    throw ModelInvalid(fmt::format("{}: cannot be loaded as a TorchScript module: {}", spec.path, e.what()));
  }
  try {
    module_.eval();
    if (dtype_ == DType::Int8) {
      if (compute_dtype_ != DType::BFloat16) cast_floating(module_, torch::kBFloat16, scalar_type(compute_dtype_));
      if (pack_int8_weights(module_) == 0) compute_dtype_ = DType::Float32;
    } else if (dtype_ != spec.package_dtype) {
      module_.to(scalar_type(dtype_));
    }
  } catch (const c10::Error& e) {
    throw ModelInvalid(fmt::format("{}: cannot be prepared as {} on {}: {}", spec.path, to_string(dtype_),
                                   device_.str(), short_message(e)));
  }

  auto method = module_.find_method("forward");
  // self, input_ids, attention_mask, task_ids
  if (!method || method->function().getSchema().arguments().size() != 4) {
    throw ModelInvalid(fmt::format("{}: forward must take (input_ids, attention_mask, task_ids)", spec.path));
  }

  // One tiny pass proves the module runs and returns [B, L, hidden_size] before any caller relies on it.
  auto ids_options = torch::TensorOptions().dtype(torch::kInt64).device(device_);
  torch::Tensor ids = torch::tensor({static_cast<std::int64_t>(spec.bos_id), static_cast<std::int64_t>(spec.eos_id)},
                                    ids_options).unsqueeze(0);
  torch::Tensor mask = torch::ones({1, 2}, ids_options);
  torch::Tensor task_ids = torch::full({1}, -1, ids_options);
  torch::Tensor hidden;
  try {
    hidden = forward(ids, mask, task_ids);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::OutOfMemory) throw;
    throw ModelInvalid(fmt::format("{}: test forward pass failed: {}", spec.path, e.what()));
  }
  const auto expected_dtype = scalar_type(compute_dtype_);
  if (hidden.dim() != 3 || hidden.size(0) != 1 || hidden.size(1) != 2 || hidden.size(2) != hidden_size_ ||
      hidden.scalar_type() != expected_dtype) {
    throw ModelInvalid(fmt::format("{}: forward returned {} {}, expected [1, 2, {}] {}", spec.path,
                                   c10::toString(hidden.scalar_type()), fmt::join(hidden.sizes(), "x"), hidden_size_,
                                   c10::toString(expected_dtype)));
  }
}

torch::Tensor Backbone::forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                const torch::Tensor& task_ids) const {
  // InferenceMode is thread-local and makes forward re-entrant (no autograd state is recorded).
  c10::InferenceMode inference;
  // Also thread-local: run the graph without the profiling executor's shape specialisation and
  // fusion, which would recompile for every new padded length and vary kernels from call to call.
  torch::jit::GraphOptimizerEnabledGuard no_specialisation(false);
  try {
    torch::jit::IValue output = module_.forward({input_ids, attention_mask, task_ids});
    if (!output.isTensor()) throw Error("the backbone's forward did not return a tensor", ErrorCode::Internal);
    return output.toTensor();
  } catch (const c10::OutOfMemoryError& e) {
    throw Error(fmt::format("out of memory in the backbone's forward pass: {}", short_message(e)), ErrorCode::OutOfMemory);
  } catch (const c10::Error& e) {
    throw Error(fmt::format("the backbone's forward pass failed: {}", short_message(e)), ErrorCode::Internal);
  }
}

}  // namespace jina3
