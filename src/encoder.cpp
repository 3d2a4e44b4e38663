// jina3::Encoder: ties the package, tokenizer, backbone, batching and pooling together.
#include <jina3/encoder.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <future>

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/types.h>

#include "batching.hpp"
#include "host_memory.hpp"
#include "package.hpp"
#include "pooling.hpp"
#include "runtime.hpp"
#include "tokenizer.hpp"
#include "utf8.hpp"

namespace jina3 {
namespace {

constexpr std::size_t kTaskCount = 5;  // Task::RetrievalQuery .. Task::TextMatching

bool is_adapter_task(Task task) {
  const int value = static_cast<int>(task);
  return value >= 0 && value < static_cast<int>(kTaskCount);
}

std::size_t task_slot(Task task) { return static_cast<std::size_t>(static_cast<int>(task)); }

[[noreturn]] void throw_moved_from() {
  throw InvalidArgument("this jina3::Encoder was moved from and holds no model");
}

// A task value as the user gave it, for messages (the C API can pass any int).
std::string describe(Task task) {
  if (task == Task::None || is_adapter_task(task)) return fmt::format("\"{}\"", to_string(task));
  return fmt::format("with value {}", static_cast<int>(task));
}

struct LoadedPackage {
  Package package;
  Tokenizer tokenizer;
  Backbone backbone;
};

LoadedPackage load(const std::string& path, const EncoderOptions& options) {
  Package package = load_package(path, options.verify_checksums);
  const Manifest& manifest = package.manifest;
  // sentencepiece takes about a second to build its tables for the 250k-piece XLM-R model, about
  // as long as LibTorch takes to read a small backbone: do both at once.
  auto tokenizer = std::async(std::launch::async, [model = package.tokenizer_path, special = manifest.special_ids,
                                                   offset = manifest.spm_id_offset, vocab = manifest.vocab_size] {
    return Tokenizer(model, special, offset, vocab);
  });
  Backbone backbone(BackboneSpec{package.backbone_path, manifest.dtype, manifest.hidden_size, manifest.special_ids.bos,
                                 manifest.special_ids.eos},
                    options.device, options.device_index, options.dtype);
  Tokenizer loaded_tokenizer = tokenizer.get();
  return LoadedPackage{std::move(package), std::move(loaded_tokenizer), std::move(backbone)};
}

}  // namespace

struct Encoder::Impl {
  Impl(const std::string& path, const EncoderOptions& options) : Impl(load(path, options), options) {}

  Impl(LoadedPackage&& loaded, const EncoderOptions& options)
      : package(std::move(loaded.package)),
        tokenizer(std::move(loaded.tokenizer)),
        backbone(std::move(loaded.backbone)) {
    const Manifest& manifest = package.manifest;
    adapter_index.fill(-1);
    for (std::size_t i = 0; i < manifest.tasks.size(); ++i) {
      const Task task = manifest.tasks[i];
      adapter_index[task_slot(task)] = static_cast<std::int64_t>(i);
      prompts[task_slot(task)] = manifest.prompts.at(task);
    }
    device = options.device;
    limits = automatic_batch_limits(device == Device::CUDA);
    if (options.max_batch_tokens > 0) limits.max_tokens = static_cast<std::size_t>(options.max_batch_tokens);
    if (options.max_batch_size > 0) limits.max_rows = static_cast<std::size_t>(options.max_batch_size);
  }

  // Everything about one call that can be wrong with the caller's input is found here, before any
  // forward pass and before anything is written.
  struct Prepared {
    std::vector<std::vector<std::int32_t>> ids;
    std::vector<std::int64_t> adapters;  // per row: package adapter index or -1
    std::vector<std::uint8_t> truncated;
  };

  void check_task(Task task) const {
    if (task == Task::None) return;
    if (!is_adapter_task(task)) throw InvalidArgument(fmt::format("unknown task {}", describe(task)));
    if (adapter_index[task_slot(task)] < 0) {
      std::vector<std::string> names;
      for (Task t : package.manifest.tasks) names.push_back(fmt::format("\"{}\"", to_string(t)));
      throw InvalidArgument(fmt::format("task {} is not in the package {} (it has {})", describe(task), package.path,
                                        names.empty() ? std::string("no adapters") : fmt::format("{}", fmt::join(names, ", "))));
    }
  }

  int resolve_dims(int dims) const {
    const auto& valid = package.manifest.matryoshka_dims;
    if (dims == 0) return package.manifest.hidden_size;
    if (std::find(valid.begin(), valid.end(), dims) == valid.end()) {
      throw InvalidArgument(fmt::format("dims {} is not supported by this model; use 0 (full size) or one of {}", dims,
                                        fmt::join(valid, ", ")));
    }
    return dims;
  }

  // Checks the per-call options; returns the effective token limit per text.
  std::size_t check_call_options(const EncodeOptions& options) const {
    if (options.batch_size < 0) throw InvalidArgument(fmt::format("batch_size {} is negative", options.batch_size));
    const int package_max = package.manifest.max_length;
    if (options.max_length == 0) return static_cast<std::size_t>(package_max);
    if (options.max_length < 2 || options.max_length > package_max) {
      throw InvalidArgument(fmt::format("max_length {} is out of range: use 0 (the package's {}) or a value in [2, {}] "
                                        "(<s> and </s> take two tokens)", options.max_length, package_max, package_max));
    }
    return static_cast<std::size_t>(options.max_length);
  }

  const std::string& prompt_for(Task task) const {
    return task == Task::None ? no_prompt : prompts[task_slot(task)];
  }

  // texts: count views; tasks: count tasks or one for all.
  Prepared prepare(const std::string_view* texts, std::size_t count, const Task* tasks, std::size_t task_count,
                   const EncodeOptions& options) const {
    if (count > 0 && texts == nullptr) throw InvalidArgument("texts is null but count is not zero");
    if (task_count != 1 && task_count != count) {
      throw InvalidArgument(fmt::format("{} tasks for {} texts: give one task, or one per text", task_count, count));
    }
    if (task_count > 0 && tasks == nullptr) throw InvalidArgument("tasks is null");
    for (std::size_t i = 0; i < task_count; ++i) check_task(tasks[i]);
    const std::size_t max_length = check_call_options(options);
    for (std::size_t i = 0; i < count; ++i) {
      if (auto problem = utf8::check(texts[i])) {
        throw InvalidArgument(fmt::format("text {} is not valid UTF-8: {} at byte offset {}", i, problem->reason,
                                          problem->offset));
      }
    }

    Prepared prepared;
    prepared.ids.resize(count);
    prepared.adapters.resize(count);
    prepared.truncated.assign(count, 0);
    for (std::size_t i = 0; i < count; ++i) {
      const Task task = tasks[task_count == 1 ? 0 : i];
      prepared.adapters[i] = task == Task::None ? -1 : adapter_index[task_slot(task)];
    }
    // Tokenising thousands of texts would keep a GPU waiting; sentencepiece's Encode is const and
    // thread-safe, so texts are split over LibTorch's intra-op threads.
    constexpr std::int64_t kTextsPerTask = 16;
    at::parallel_for(0, static_cast<std::int64_t>(count), kTextsPerTask, [&](std::int64_t begin, std::int64_t end) {
      for (auto i = static_cast<std::size_t>(begin); i < static_cast<std::size_t>(end); ++i) {
        prepared.ids[i] = tokenizer.encode(prompt_for(tasks[task_count == 1 ? 0 : i]), texts[i]);
      }
    });
    // In input order, so the first over-long text is the one reported.
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t length = prepared.ids[i].size();
      if (length > max_length && !options.truncate) {
        throw InputTooLong(fmt::format("text {} is {} tokens long (task prompt, <s> and </s> included), over the "
                                       "limit of {}; shorten it or allow truncation", i, length, max_length));
      }
      prepared.truncated[i] = truncate_ids(prepared.ids[i], max_length) ? 1 : 0;
    }
    return prepared;
  }

  // Runs the forward passes and writes row i of the result to output + i * dims.
  void run(const Prepared& prepared, int dims, const EncodeOptions& options, float* output) const {
    if (prepared.ids.empty()) return;
    BatchLimits call_limits = limits;
    if (options.batch_size > 0) call_limits.max_rows = static_cast<std::size_t>(options.batch_size);
    std::vector<std::size_t> lengths(prepared.ids.size());
    for (std::size_t i = 0; i < lengths.size(); ++i) lengths[i] = prepared.ids[i].size();

    const auto& device = backbone.device();
    const std::int64_t pad_id = package.manifest.special_ids.pad;
    try {
      for (const auto& rows : plan_batches(lengths, call_limits)) {
        BatchInputs inputs = make_batch_inputs(prepared.ids, prepared.adapters, rows, pad_id);
        torch::Tensor input_ids = inputs.input_ids.to(device);
        torch::Tensor mask = inputs.attention_mask.to(device);
        torch::Tensor task_ids = inputs.task_ids.to(device);
        torch::Tensor hidden = backbone.forward(input_ids, mask, task_ids);
        torch::Tensor pooled = pool_embeddings(hidden, mask, dims, options.normalize).to(torch::kCPU).contiguous();
        const float* pooled_data = pooled.data_ptr<float>();
        const auto row_floats = static_cast<std::size_t>(dims);
        for (std::size_t b = 0; b < rows.size(); ++b) {
          std::memcpy(output + rows[b] * row_floats, pooled_data + b * row_floats, sizeof(float) * row_floats);
        }
      }
    } catch (const c10::OutOfMemoryError& e) {
      throw Error(fmt::format("out of memory while encoding: {}", e.what_without_backtrace()), ErrorCode::OutOfMemory);
    } catch (const c10::Error& e) {
      throw Error(fmt::format("LibTorch failed while encoding: {}", e.what_without_backtrace()), ErrorCode::Internal);
    }
  }

  Embeddings encode(const std::vector<std::string_view>& texts, const Task* tasks, std::size_t task_count, int dims,
                    const EncodeOptions& options) const {
    Embeddings result;
    result.dims = static_cast<std::size_t>(resolve_dims(dims));
    if (texts.empty()) {
      for (std::size_t i = 0; i < task_count; ++i) check_task(tasks[i]);
      (void)check_call_options(options);
      return result;
    }
    Prepared prepared = prepare(texts.data(), texts.size(), tasks, task_count, options);
    result.rows = texts.size();
    result.data.resize(result.rows * result.dims);
    run(prepared, static_cast<int>(result.dims), options, result.data.data());
    result.truncated = std::move(prepared.truncated);
    return result;
  }

  Package package;
  Tokenizer tokenizer;
  Backbone backbone;
  Device device = Device::CPU;
  BatchLimits limits{};
  std::array<std::int64_t, kTaskCount> adapter_index{};
  std::array<std::string, kTaskCount> prompts;
  std::string no_prompt;
};

namespace {

void check_encoder_options(const EncoderOptions& options) {
  if (options.device != Device::CPU && options.device != Device::CUDA) {
    throw InvalidArgument(fmt::format("unknown device value {}", static_cast<int>(options.device)));
  }
  const int dtype = static_cast<int>(options.dtype);
  if (dtype < static_cast<int>(DType::Auto) || dtype > static_cast<int>(DType::Int8)) {
    throw InvalidArgument(fmt::format("unknown dtype value {}", dtype));
  }
  if (options.num_threads < 0) throw InvalidArgument(fmt::format("num_threads {} is negative", options.num_threads));
  if (options.max_batch_tokens < 0) {
    throw InvalidArgument(fmt::format("max_batch_tokens {} is negative", options.max_batch_tokens));
  }
  if (options.max_batch_size < 0) throw InvalidArgument(fmt::format("max_batch_size {} is negative", options.max_batch_size));
}

}  // namespace

Encoder::Encoder(const std::string& package_path, const EncoderOptions& options) {
  check_encoder_options(options);
  // LibTorch's intra-op thread count is process-wide: this affects every Encoder and any other
  // LibTorch user in the process.
  if (options.num_threads > 0) at::set_num_threads(options.num_threads);
  if (options.device == Device::CPU && options.retain_host_memory) retain_freed_host_memory();
  impl_ = std::make_unique<Impl>(package_path, options);
}

Encoder::~Encoder() = default;
Encoder::Encoder(Encoder&&) noexcept = default;
Encoder& Encoder::operator=(Encoder&&) noexcept = default;

Embeddings Encoder::encode(const std::vector<std::string>& texts, Task task, int dims, const EncodeOptions& options) const {
  if (!impl_) throw_moved_from();
  std::vector<std::string_view> views(texts.begin(), texts.end());
  return impl_->encode(views, &task, 1, dims, options);
}

Embeddings Encoder::encode(const std::vector<std::string>& texts, std::string_view task, int dims,
                           const EncodeOptions& options) const {
  return encode(texts, task_from_string(task), dims, options);
}

Embeddings Encoder::encode(const std::vector<std::string>& texts, const std::vector<Task>& tasks, int dims,
                           const EncodeOptions& options) const {
  if (!impl_) throw_moved_from();
  if (tasks.size() != texts.size()) {
    throw InvalidArgument(fmt::format("{} tasks for {} texts: give one task per text", tasks.size(), texts.size()));
  }
  std::vector<std::string_view> views(texts.begin(), texts.end());
  return impl_->encode(views, tasks.data(), tasks.size(), dims, options);
}

void Encoder::encode_into(const std::string_view* texts, std::size_t count, const Task* tasks, std::size_t task_count,
                          int dims, float* output, std::size_t output_capacity, const EncodeOptions& options,
                          std::uint8_t* truncated) const {
  if (!impl_) throw_moved_from();
  const auto resolved_dims = static_cast<std::size_t>(impl_->resolve_dims(dims));
  if (count == 0) {
    if (task_count > 1) throw InvalidArgument(fmt::format("{} tasks for 0 texts", task_count));
    if (task_count == 1) {
      if (tasks == nullptr) throw InvalidArgument("tasks is null");
      impl_->check_task(tasks[0]);
    }
    (void)impl_->check_call_options(options);
    return;
  }
  if (output == nullptr) throw InvalidArgument("output is null");
  // Checked before tokenising: cheap, and a wrong buffer is the caller's first problem. Written
  // without count * dims, which could overflow.
  if (count > output_capacity / resolved_dims) {
    throw BufferTooSmall(fmt::format("output holds {} floats; {} texts x {} dims need {}", output_capacity, count,
                                     resolved_dims, count * resolved_dims));
  }
  Impl::Prepared prepared = impl_->prepare(texts, count, tasks, task_count, options);
  impl_->run(prepared, static_cast<int>(resolved_dims), options, output);
  if (truncated) std::copy(prepared.truncated.begin(), prepared.truncated.end(), truncated);
}

std::vector<std::vector<std::int32_t>> Encoder::tokenize(const std::vector<std::string>& texts, Task task,
                                                         const EncodeOptions& options) const {
  if (!impl_) throw_moved_from();
  impl_->check_task(task);
  if (texts.empty()) {
    (void)impl_->check_call_options(options);
    return {};
  }
  std::vector<std::string_view> views(texts.begin(), texts.end());
  return impl_->prepare(views.data(), views.size(), &task, 1, options).ids;
}

namespace {
const std::vector<Task> kNoTasks;
const std::vector<int> kNoDims;
const std::string kNoString;
}  // namespace

const std::vector<Task>& Encoder::tasks() const noexcept { return impl_ ? impl_->package.manifest.tasks : kNoTasks; }
const std::vector<int>& Encoder::dims() const noexcept { return impl_ ? impl_->package.manifest.matryoshka_dims : kNoDims; }
int Encoder::hidden_size() const noexcept { return impl_ ? impl_->package.manifest.hidden_size : 0; }
int Encoder::max_length() const noexcept { return impl_ ? impl_->package.manifest.max_length : 0; }
Device Encoder::device() const noexcept { return impl_ ? impl_->device : Device::CPU; }
DType Encoder::dtype() const noexcept { return impl_ ? impl_->backbone.dtype() : DType::Float32; }
const std::string& Encoder::package_path() const noexcept { return impl_ ? impl_->package.path : kNoString; }

const std::string& Encoder::prompt(Task task) const {
  if (!impl_) throw_moved_from();
  impl_->check_task(task);
  return impl_->prompt_for(task);
}

}  // namespace jina3
