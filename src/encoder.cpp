// jina3::Encoder: ties the package, tokenizer, backbone, scheduler, cache and pooling together.
#include <jina3/encoder.hpp>

#include <sched.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <numeric>
#include <thread>

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/types.h>

#include "batching.hpp"
#include "cache.hpp"
#include "host_memory.hpp"
#include "late_chunk.hpp"
#include "normalize.hpp"
#include "package.hpp"
#include "pooling.hpp"
#include "precision.hpp"
#include "runtime.hpp"
#include "scheduler.hpp"
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

// The CPUs this process may run on (its affinity mask): what num_threads = 0 means.
int process_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// Each text is checked before anything is tokenised; index names it in the message.
void check_utf8(std::string_view text, std::size_t index) {
  if (auto problem = utf8::check(text)) {
    throw InvalidArgument(fmt::format("text {} is not valid UTF-8: {} at byte offset {}", index, problem->reason,
                                      problem->offset));
  }
}

[[noreturn]] void throw_too_long(std::size_t index, std::size_t length, std::size_t max_length) {
  throw InputTooLong(fmt::format("text {} is {} tokens long (task prompt, <s> and </s> included), over the "
                                 "limit of {}; shorten it or allow truncation", index, length, max_length));
}

// Runs tokenise(k) for k in [0, count). Tokenising thousands of texts would keep a GPU waiting;
// sentencepiece's Encode is const and thread-safe, so a large call's texts are split over
// LibTorch's intra-op threads. A short call (the usual one when many callers share the encoder)
// stays on its own thread.
template <class Tokenise>
void tokenise_all(std::size_t count, const Tokenise& tokenise) {
  constexpr std::int64_t kTextsPerTask = 16;
  at::parallel_for(0, static_cast<std::int64_t>(count), kTextsPerTask, [&](std::int64_t begin, std::int64_t end) {
    for (auto k = static_cast<std::size_t>(begin); k < static_cast<std::size_t>(end); ++k) tokenise(k);
  });
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

// Hidden: nothing of the implementation (nor the typeinfo of its lambdas) leaves libjina3.
struct __attribute__((visibility("hidden"))) Encoder::Impl {
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
    BatchLimits limits = automatic_batch_limits(device == Device::CUDA);
    if (options.max_batch_tokens > 0) limits.max_tokens = static_cast<std::size_t>(options.max_batch_tokens);
    if (options.max_batch_size > 0) limits.max_rows = static_cast<std::size_t>(options.max_batch_size);
    if (options.cache_bytes > 0) cache = std::make_unique<detail::EmbeddingCache>(options.cache_bytes);

    detail::SchedulerOptions scheduling;
    scheduling.limits = limits;
    scheduling.max_queued_requests =
        options.max_queued_requests > 0 ? static_cast<std::size_t>(options.max_queued_requests) : 1024;
    scheduling.max_wait = std::chrono::microseconds(options.max_wait_us);
    scheduling.use_worker = options.use_scheduler;
    const int threads = options.num_threads > 0 ? options.num_threads : process_cpus();
    // The worker runs the forward passes, so its intra-op thread count is the one that matters.
    scheduler = std::make_unique<detail::Scheduler>(
        [this](const std::vector<detail::PassRow>& rows) { run_pass(rows); }, scheduling,
        [threads] { at::set_num_threads(threads); });
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

  // The package's adapter index of a checked task; -1 (no adapter) for Task::None.
  std::int64_t adapter_for(Task task) const { return task == Task::None ? -1 : adapter_index[task_slot(task)]; }

  // Validates and tokenises texts[rows[k]] for each k; tasks holds task_count tasks (one for all,
  // or one per text). The call's other arguments were checked by the caller, and max_length is
  // the effective token limit. Messages name texts by their index in the call.
  Prepared prepare(const std::string_view* texts, const Task* tasks, std::size_t task_count,
                   const std::vector<std::size_t>& rows, const EncodeOptions& options, std::size_t max_length) const {
    for (std::size_t i : rows) check_utf8(texts[i], i);
    const std::size_t count = rows.size();
    const auto task_of = [&](std::size_t i) { return tasks[task_count == 1 ? 0 : i]; };
    Prepared prepared;
    prepared.ids.resize(count);
    prepared.adapters.resize(count);
    prepared.truncated.assign(count, 0);
    for (std::size_t k = 0; k < count; ++k) prepared.adapters[k] = adapter_for(task_of(rows[k]));
    tokenise_all(count, [&](std::size_t k) {
      prepared.ids[k] = tokenizer.encode(prompt_for(task_of(rows[k])), texts[rows[k]]);
    });
    // In input order, so the first over-long text is the one reported.
    for (std::size_t k = 0; k < count; ++k) {
      const std::size_t length = prepared.ids[k].size();
      if (length > max_length && !options.truncate) throw_too_long(rows[k], length, max_length);
      prepared.truncated[k] = truncate_ids(prepared.ids[k], max_length) ? 1 : 0;
    }
    return prepared;
  }

  // One forward pass for the scheduler: mean pooling in float32, then each row cut to its own
  // dims and normalised as its request asked (rows of different requests share the pass).
  void run_pass(const std::vector<detail::PassRow>& rows) const {
    const auto& on = backbone.device();
    try {
      BatchInputs inputs = make_batch_inputs(rows, package.manifest.special_ids.pad);
      torch::Tensor input_ids = inputs.input_ids.to(on);
      torch::Tensor mask = inputs.attention_mask.to(on);
      torch::Tensor task_ids = inputs.task_ids.to(on);
      torch::Tensor hidden = backbone.forward(input_ids, mask, task_ids);
      const auto hidden_size = static_cast<std::size_t>(package.manifest.hidden_size);
      const bool any_pooled = std::any_of(rows.begin(), rows.end(), [](const auto& r) { return !r.token_states; });
      torch::Tensor pooled;
      if (any_pooled) {
        pooled = pool_embeddings(hidden, mask, static_cast<int>(hidden_size), false).to(torch::kCPU).contiguous();
      }
      for (std::size_t b = 0; b < rows.size(); ++b) {
        const detail::PassRow& row = rows[b];
        if (row.token_states) {  // the output stage pools these itself (spans) or returns them
          const auto n = static_cast<std::int64_t>(row.ids->size());
          torch::Tensor states =
              hidden[static_cast<std::int64_t>(b)].narrow(0, 0, n).to(torch::kCPU, torch::kFloat32).contiguous();
          std::memcpy(row.output, states.data_ptr<float>(), sizeof(float) * static_cast<std::size_t>(n) * hidden_size);
          continue;
        }
        std::memcpy(row.output, pooled.data_ptr<float>() + b * hidden_size, sizeof(float) * row.dims);
        if (row.normalize) detail::normalize_row(row.output, row.dims);
      }
    } catch (const c10::OutOfMemoryError& e) {
      throw Error(fmt::format("out of memory while encoding: {}", e.what_without_backtrace()), ErrorCode::OutOfMemory);
    } catch (const c10::Error& e) {
      throw Error(fmt::format("LibTorch failed while encoding: {}", e.what_without_backtrace()), ErrorCode::Internal);
    }
  }

  // The cache key of one text: every setting that changes its vector, then the exact text bytes.
  // The cache belongs to this encoder, so the package is part of every key implicitly.
  static std::string cache_key(Task task, std::size_t dims, std::size_t max_length, const EncodeOptions& options,
                               std::string_view text) {
    std::string key;
    key.reserve(13 + text.size());
    const auto put = [&key](std::uint32_t value) {
      for (int shift = 0; shift < 32; shift += 8) key.push_back(static_cast<char>((value >> shift) & 0xff));
    };
    put(static_cast<std::uint32_t>(static_cast<int>(task) + 1));
    put(static_cast<std::uint32_t>(dims));
    put(static_cast<std::uint32_t>(max_length));
    key.push_back(static_cast<char>((options.normalize ? 1 : 0) | (options.truncate ? 2 : 0)));
    key.append(text);
    return key;
  }

  // One call in flight: its result (rows filled from the cache or by passes) and its delivery.
  struct Call {
    Embeddings result;
    std::vector<std::size_t> computed;  // rows that passes compute; the others came from the cache
    std::vector<std::string> keys;      // their cache keys, when the cache is on
    std::promise<Embeddings> promise;
    std::function<void()> on_ready;
  };

  // Checks everything about a call, answers what the cache holds, tokenises the rest and queues it.
  std::future<Embeddings> submit(const std::string_view* texts, std::size_t count, const Task* tasks,
                                 std::size_t task_count, int dims, const EncodeOptions& options,
                                 std::function<void()> on_ready) const {
    const auto call_start = detail::Clock::now();
    const auto resolved_dims = static_cast<std::size_t>(resolve_dims(dims));
    if (count > 0 && texts == nullptr) throw InvalidArgument("texts is null but count is not zero");
    if (task_count != 1 && task_count != count) {
      throw InvalidArgument(fmt::format("{} tasks for {} texts: give one task, or one per text", task_count, count));
    }
    if (task_count > 0 && tasks == nullptr) throw InvalidArgument("tasks is null");
    for (std::size_t i = 0; i < task_count; ++i) check_task(tasks[i]);
    const std::size_t max_length = check_call_options(options);
    if (options.deadline_us < 0) throw InvalidArgument(fmt::format("deadline_us {} is negative", options.deadline_us));

    auto call = std::make_shared<Call>();
    call->on_ready = std::move(on_ready);
    Embeddings& result = call->result;
    result.rows = count;
    result.dims = resolved_dims;
    result.data.resize(count * resolved_dims);
    result.truncated.assign(count, 0);
    if (cache) {
      for (std::size_t i = 0; i < count; ++i) {
        std::string key = cache_key(tasks[task_count == 1 ? 0 : i], resolved_dims, max_length, options, texts[i]);
        if (!cache->lookup(key, result.data.data() + i * resolved_dims, resolved_dims, &result.truncated[i])) {
          call->computed.push_back(i);
          call->keys.push_back(std::move(key));
        }
      }
    } else {
      call->computed.resize(count);
      std::iota(call->computed.begin(), call->computed.end(), std::size_t{0});
    }

    std::future<Embeddings> future = call->promise.get_future();
    if (call->computed.empty()) {  // no texts, or every row from the cache
      answered_directly.fetch_add(1, std::memory_order_relaxed);
      call->promise.set_value(std::move(call->result));
      if (call->on_ready) call->on_ready();
      return future;
    }

    Prepared prepared = prepare(texts, tasks, task_count, call->computed, options, max_length);
    detail::Job job;
    job.ids = std::move(prepared.ids);
    job.adapters = std::move(prepared.adapters);
    job.outputs.reserve(call->computed.size());
    for (std::size_t k = 0; k < call->computed.size(); ++k) {
      const std::size_t i = call->computed[k];
      job.outputs.push_back(result.data.data() + i * resolved_dims);
      result.truncated[i] = prepared.truncated[k];
    }
    job.dims = resolved_dims;
    job.normalize = options.normalize;
    job.max_rows_per_pass = static_cast<std::size_t>(options.batch_size);
    if (options.deadline_us > 0) job.deadline = call_start + std::chrono::microseconds(options.deadline_us);

    scheduler->submit(std::move(job), options.block_when_full, [this, call](std::exception_ptr error) {
      if (error) {
        call->promise.set_exception(error);
      } else {
        Embeddings& done = call->result;
        if (cache) {
          for (std::size_t k = 0; k < call->computed.size(); ++k) {
            const std::size_t i = call->computed[k];
            cache->insert(call->keys[k], done.data.data() + i * done.dims, done.dims, done.truncated[i]);
          }
        }
        call->promise.set_value(std::move(done));
      }
      if (call->on_ready) call->on_ready();
    });
    return future;
  }

  // Token ids and offsets of texts[i] for each i, the task's prompt prepended (untruncated).
  void tokenize_with_offsets(const std::string_view* texts, std::size_t count, Task task,
                             std::vector<std::vector<std::int32_t>>& ids,
                             std::vector<std::vector<std::int64_t>>& offsets) const {
    for (std::size_t i = 0; i < count; ++i) check_utf8(texts[i], i);
    ids.resize(count);
    offsets.resize(count);
    tokenise_all(count, [&](std::size_t i) { ids[i] = tokenizer.encode(prompt_for(task), texts[i], offsets[i]); });
  }

  // The passes stage for unpooled outputs: rows through the scheduler, each row's token states
  // (rows[k].size() x hidden floats) to outputs[k]. Waits for them.
  void run_token_rows(std::vector<std::vector<std::int32_t>> rows, Task task, std::vector<float*> outputs) const {
    if (rows.empty()) return;
    detail::Job job;
    job.adapters.assign(rows.size(), adapter_for(task));
    job.ids = std::move(rows);
    job.outputs = std::move(outputs);
    job.dims = static_cast<std::size_t>(package.manifest.hidden_size);
    job.token_states = true;
    auto done = std::make_shared<std::promise<void>>();
    std::future<void> finished = done->get_future();
    scheduler->submit(std::move(job), true, [done](std::exception_ptr error) {
      if (error) done->set_exception(error);
      else done->set_value();
    });
    finished.get();
  }

  std::vector<TokenEmbeddings> encode_tokens(const std::string_view* texts, std::size_t count, Task task,
                                             const EncodeOptions& options) const {
    check_task(task);
    const std::size_t max_length = check_call_options(options);
    if (count > 0 && texts == nullptr) throw InvalidArgument("texts is null but count is not zero");
    std::vector<std::vector<std::int32_t>> ids;
    std::vector<std::vector<std::int64_t>> offsets;
    tokenize_with_offsets(texts, count, task, ids, offsets);
    const auto hidden = static_cast<std::size_t>(package.manifest.hidden_size);
    std::vector<TokenEmbeddings> result(count);
    std::vector<float*> outputs(count);
    for (std::size_t i = 0; i < count; ++i) {
      if (ids[i].size() > max_length && !options.truncate) throw_too_long(i, ids[i].size(), max_length);
      TokenEmbeddings& out = result[i];
      out.truncated = truncate_ids(ids[i], max_length);
      if (out.truncated) {  // as truncate_ids: keep the first max_length - 1 tokens and </s>
        offsets[i].resize(2 * (max_length - 1));
        offsets[i].insert(offsets[i].end(), {-1, -1});
      }
      out.ids = ids[i];
      out.offsets = std::move(offsets[i]);
      out.hidden = hidden;
      out.embeddings.resize(ids[i].size() * hidden);
      outputs[i] = out.embeddings.data();
    }
    run_token_rows(std::move(ids), task, std::move(outputs));
    return result;
  }

  std::vector<ChunkEmbeddings> late_chunk(const std::string_view* texts, std::size_t count, Task task, int dims,
                                          const LateChunkOptions& options) const {
    check_task(task);
    const auto resolved_dims = static_cast<std::size_t>(resolve_dims(dims));
    if (count > 0 && texts == nullptr) throw InvalidArgument("texts is null but count is not zero");
    const int ways = (options.spans ? 1 : 0) + (options.chunk_tokens ? 1 : 0) + (options.sentences ? 1 : 0);
    if (ways > 1) throw InvalidArgument("give at most one of spans, chunk_tokens and sentences");
    if (options.chunk_tokens && *options.chunk_tokens < 1) {
      throw InvalidArgument(fmt::format("chunk_tokens {} is < 1", *options.chunk_tokens));
    }
    if (options.sentences && *options.sentences < 1) {
      throw InvalidArgument(fmt::format("sentences {} is < 1", *options.sentences));
    }
    if (options.spans && options.spans->size() != count) {
      throw InvalidArgument(fmt::format("spans has {} lists for {} texts: give one list of spans per text",
                                        options.spans->size(), count));
    }
    const int package_max = package.manifest.max_length;
    const int window = options.window.value_or(package_max);
    if (window < 2 || window > package_max) {
      throw InvalidArgument(fmt::format("window {} is out of range: use a value in [2, {}] (the package's "
                                        "max_length)", window, package_max));
    }
    const int overlap = options.overlap.value_or(window >= 1024 ? 512 : window / 2);
    if (overlap < 0 || overlap >= window) {
      throw InvalidArgument(fmt::format("overlap {} must be in [0, window) = [0, {})", overlap, window));
    }

    // prepare: tokens with offsets, and every text's chunks (all bad input is found here)
    std::vector<std::vector<std::int32_t>> ids;
    std::vector<std::vector<std::int64_t>> offsets;
    tokenize_with_offsets(texts, count, task, ids, offsets);
    std::vector<detail::ChunkPlan> plans(count);
    for (std::size_t i = 0; i < count; ++i) {
      plans[i] = detail::plan_chunks(texts[i], i, offsets[i], options.spans ? &(*options.spans)[i] : nullptr,
                                     options.chunk_tokens.value_or(0), options.sentences.value_or(0),
                                     options.include_special_tokens);
    }

    // passes: each text whole, or as macro windows
    const auto hidden = static_cast<std::size_t>(package.manifest.hidden_size);
    std::vector<std::vector<detail::Window>> windows(count);
    std::vector<std::vector<std::vector<float>>> window_states(count);
    std::vector<std::vector<std::int32_t>> rows;
    std::vector<float*> outputs;
    for (std::size_t i = 0; i < count; ++i) {
      if (plans[i].token_spans.empty()) continue;
      windows[i] = detail::plan_windows(ids[i].size(), static_cast<std::size_t>(window),
                                        static_cast<std::size_t>(overlap));
      window_states[i].resize(windows[i].size());
      for (std::size_t w = 0; w < windows[i].size(); ++w) {
        const detail::Window& win = windows[i][w];
        rows.emplace_back(ids[i].begin() + static_cast<std::ptrdiff_t>(win.begin),
                          ids[i].begin() + static_cast<std::ptrdiff_t>(win.end));
        window_states[i][w].resize((win.end - win.begin) * hidden);
        outputs.push_back(window_states[i][w].data());
      }
    }
    run_token_rows(std::move(rows), task, std::move(outputs));

    // output: stitch the windows (one output per token) and pool each chunk
    std::vector<ChunkEmbeddings> result(count);
    std::vector<float> stitched;
    for (std::size_t i = 0; i < count; ++i) {
      ChunkEmbeddings& out = result[i];
      out.dims = resolved_dims;
      out.spans = plans[i].spans;
      out.token_spans = plans[i].token_spans;
      if (plans[i].token_spans.empty()) continue;
      const float* states = window_states[i][0].data();
      if (windows[i].size() > 1) {
        stitched.resize(ids[i].size() * hidden);
        for (std::size_t w = 0; w < windows[i].size(); ++w) {
          const detail::Window& win = windows[i][w];
          std::copy(window_states[i][w].begin() + static_cast<std::ptrdiff_t>(win.keep * hidden),
                    window_states[i][w].end(), stitched.begin() + static_cast<std::ptrdiff_t>((win.begin + win.keep) * hidden));
          std::vector<float>().swap(window_states[i][w]);
        }
        states = stitched.data();
      }
      out.embeddings.resize(plans[i].token_spans.size() * resolved_dims);
      detail::pool_chunks(states, hidden, plans[i], resolved_dims, options.normalize, out.embeddings.data());
    }
    return result;
  }

  Package package;
  Tokenizer tokenizer;
  Backbone backbone;
  Device device = Device::CPU;
  std::array<std::int64_t, kTaskCount> adapter_index{};
  std::array<std::string, kTaskCount> prompts;
  std::string no_prompt;
  std::unique_ptr<detail::EmbeddingCache> cache;
  mutable std::atomic<std::uint64_t> answered_directly{0};  // calls that needed no pass (cache, no texts)
  // Last, so destroyed first: the worker has stopped and every request is settled before the
  // cache, backbone and tokenizer that requests use go away.
  std::unique_ptr<detail::Scheduler> scheduler;
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
  if (options.max_wait_us < 0) throw InvalidArgument(fmt::format("max_wait_us {} is negative", options.max_wait_us));
  if (options.max_queued_requests < 0) {
    throw InvalidArgument(fmt::format("max_queued_requests {} is negative", options.max_queued_requests));
  }
}

}  // namespace

Encoder::Encoder(const std::string& package_path, const EncoderOptions& options) {
  check_encoder_options(options);
  // LibTorch's intra-op thread count is process-wide: this affects every Encoder and any other
  // LibTorch user in the process. 0 means every CPU the process may use, not LibTorch's own
  // default (which counts cores its own way: 1 on some 2-core VMs).
  at::set_num_threads(options.num_threads > 0 ? options.num_threads : process_cpus());
  if (options.device == Device::CPU && options.retain_host_memory) retain_freed_host_memory();
  impl_ = std::make_unique<Impl>(package_path, options);
}

Encoder::~Encoder() = default;
Encoder::Encoder(Encoder&&) noexcept = default;
Encoder& Encoder::operator=(Encoder&&) noexcept = default;

namespace {

std::vector<std::string_view> views_of(const std::vector<std::string>& texts) {
  return std::vector<std::string_view>(texts.begin(), texts.end());
}

}  // namespace

Embeddings Encoder::encode(const std::vector<std::string>& texts, Task task, int dims, const EncodeOptions& options) const {
  return encode_async(texts, task, dims, options).get();
}

Embeddings Encoder::encode(const std::vector<std::string>& texts, std::string_view task, int dims,
                           const EncodeOptions& options) const {
  return encode(texts, task_from_string(task), dims, options);
}

Embeddings Encoder::encode(const std::vector<std::string>& texts, const std::vector<Task>& tasks, int dims,
                           const EncodeOptions& options) const {
  return encode_async(texts, tasks, dims, options).get();
}

std::future<Embeddings> Encoder::encode_async(const std::vector<std::string>& texts, Task task, int dims,
                                              const EncodeOptions& options) const {
  if (!impl_) throw_moved_from();
  const auto views = views_of(texts);
  return impl_->submit(views.data(), views.size(), &task, 1, dims, options, {});
}

std::future<Embeddings> Encoder::encode_async(const std::vector<std::string>& texts, std::string_view task, int dims,
                                              const EncodeOptions& options) const {
  return encode_async(texts, task_from_string(task), dims, options);
}

std::future<Embeddings> Encoder::encode_async(const std::vector<std::string>& texts, const std::vector<Task>& tasks,
                                              int dims, const EncodeOptions& options) const {
  if (!impl_) throw_moved_from();
  if (tasks.size() != texts.size()) {
    throw InvalidArgument(fmt::format("{} tasks for {} texts: give one task per text", tasks.size(), texts.size()));
  }
  const auto views = views_of(texts);
  return impl_->submit(views.data(), views.size(), tasks.data(), tasks.size(), dims, options, {});
}

std::future<Embeddings> Encoder::try_encode_async(const std::vector<std::string>& texts, Task task, int dims,
                                                  const EncodeOptions& options) const {
  EncodeOptions no_wait = options;
  no_wait.block_when_full = false;
  return encode_async(texts, task, dims, no_wait);
}

std::future<Embeddings> Encoder::encode_async(const std::string_view* texts, std::size_t count, const Task* tasks,
                                              std::size_t task_count, int dims, const EncodeOptions& options,
                                              std::function<void()> on_ready) const {
  if (!impl_) throw_moved_from();
  return impl_->submit(texts, count, tasks, task_count, dims, options, std::move(on_ready));
}

void Encoder::encode_into(const std::string_view* texts, std::size_t count, const Task* tasks, std::size_t task_count,
                          int dims, float* output, std::size_t output_capacity, const EncodeOptions& options,
                          std::uint8_t* truncated) const {
  if (!impl_) throw_moved_from();
  const auto resolved_dims = static_cast<std::size_t>(impl_->resolve_dims(dims));
  if (count > 0 && output == nullptr) throw InvalidArgument("output is null");
  // Checked before tokenising: cheap, and a wrong buffer is the caller's first problem. Written
  // without count * dims, which could overflow.
  if (count > 0 && count > output_capacity / resolved_dims) {
    throw BufferTooSmall(fmt::format("output holds {} floats; {} texts x {} dims need {}", output_capacity, count,
                                     resolved_dims, count * resolved_dims));
  }
  // Copied out only once the whole call has succeeded: a failure at any stage leaves output and
  // truncated untouched.
  Embeddings result = impl_->submit(texts, count, tasks, task_count, dims, options, {}).get();
  std::copy(result.data.begin(), result.data.end(), output);
  if (truncated) std::copy(result.truncated.begin(), result.truncated.end(), truncated);
}

QuantizedEmbeddings Encoder::encode_quantized(const std::vector<std::string>& texts, Task task, int dims,
                                              Precision precision, const Ranges* ranges,
                                              const EncodeOptions& options) const {
  const auto views = views_of(texts);
  return encode_quantized(views.data(), views.size(), &task, 1, dims, precision, ranges, options);
}

QuantizedEmbeddings Encoder::encode_quantized(const std::string_view* texts, std::size_t count, const Task* tasks,
                                              std::size_t task_count, int dims, Precision precision,
                                              const Ranges* ranges, const EncodeOptions& options) const {
  if (!impl_) throw_moved_from();
  const auto resolved_dims = static_cast<std::size_t>(impl_->resolve_dims(dims));
  check_precision(precision, resolved_dims, ranges);
  Embeddings rows = impl_->submit(texts, count, tasks, task_count, dims, options, {}).get();
  QuantizedEmbeddings result;
  result.rows = rows.rows;
  result.dims = rows.dims;
  result.precision = precision;
  result.data.resize(rows.rows * row_bytes(precision, rows.dims));
  quantize(rows.data.data(), rows.rows, rows.dims, precision, ranges, result.data.data());
  result.truncated = std::move(rows.truncated);
  return result;
}

std::vector<TokenEmbeddings> Encoder::encode_tokens(const std::vector<std::string>& texts, Task task,
                                                    const EncodeOptions& options) const {
  const auto views = views_of(texts);
  return encode_tokens(views.data(), views.size(), task, options);
}

std::vector<TokenEmbeddings> Encoder::encode_tokens(const std::string_view* texts, std::size_t count, Task task,
                                                    const EncodeOptions& options) const {
  if (!impl_) throw_moved_from();
  return impl_->encode_tokens(texts, count, task, options);
}

std::vector<ChunkEmbeddings> Encoder::late_chunk(const std::vector<std::string>& texts, Task task, int dims,
                                                 const LateChunkOptions& options) const {
  const auto views = views_of(texts);
  return late_chunk(views.data(), views.size(), task, dims, options);
}

std::vector<ChunkEmbeddings> Encoder::late_chunk(const std::string_view* texts, std::size_t count, Task task, int dims,
                                                 const LateChunkOptions& options) const {
  if (!impl_) throw_moved_from();
  return impl_->late_chunk(texts, count, task, dims, options);
}

EncoderStats Encoder::stats() const {
  if (!impl_) throw_moved_from();
  const detail::SchedulerStats s = impl_->scheduler->stats();
  EncoderStats stats;
  stats.requests = s.requests + impl_->answered_directly.load(std::memory_order_relaxed);
  stats.rows = s.rows;
  stats.passes = s.passes;
  stats.tokens = s.tokens;
  stats.padded_tokens = s.padded_tokens;
  stats.queue_depth = s.queue_depth;
  stats.max_queue_depth = s.max_queue_depth;
  stats.rejected = s.rejected;
  stats.deadline_exceeded = s.deadline_exceeded;
  stats.failed = s.failed;
  stats.queue_wait_us = s.queue_wait_us;
  stats.pass_us = s.pass_us;
  if (impl_->cache) {
    const auto c = impl_->cache->counters();
    stats.cache_hits = c.hits;
    stats.cache_misses = c.misses;
    stats.cache_evictions = c.evictions;
    stats.cache_bytes = c.bytes;
    stats.cache_entries = c.entries;
    stats.rows += c.hits;  // rows answered from the cache never reach the scheduler
  }
  return stats;
}

std::vector<std::vector<std::int32_t>> Encoder::tokenize(const std::vector<std::string>& texts, Task task,
                                                         const EncodeOptions& options) const {
  if (!impl_) throw_moved_from();
  impl_->check_task(task);
  const std::size_t max_length = impl_->check_call_options(options);
  const auto views = views_of(texts);
  std::vector<std::size_t> rows(views.size());
  std::iota(rows.begin(), rows.end(), std::size_t{0});
  return impl_->prepare(views.data(), &task, 1, rows, options, max_length).ids;
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
