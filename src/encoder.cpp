// jina3::Encoder, the facade: each public overload becomes a pipeline::Request, which the
// pipeline's stages check (prepare), run (passes, through the scheduler) and shape (sentences,
// tokens, chunks, precision). No checks and no LibTorch calls live here.
#include <jina3/encoder.hpp>

#include <sched.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <thread>

#include <ATen/Parallel.h>
#include <fmt/format.h>

#include "encode_handle.hpp"
#include "model/model.hpp"
#include "pipeline/chunks.hpp"
#include "pipeline/passes.hpp"
#include "pipeline/precision.hpp"
#include "pipeline/prepare.hpp"
#include "pipeline/sentences.hpp"
#include "pipeline/stream.hpp"
#include "pipeline/tokens.hpp"
#include "serving/cache.hpp"
#include "serving/scheduler.hpp"
#include "util/host_memory.hpp"

namespace jina3 {
namespace {

[[noreturn]] void throw_moved_from() {
  throw InvalidArgument("this jina3::Encoder was moved from and holds no model");
}

// The CPUs this process may run on (its affinity mask): what num_threads = 0 means.
int process_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

detail::SchedulerOptions scheduling(const EncoderOptions& options) {
  detail::SchedulerOptions scheduling;
  scheduling.limits = automatic_batch_limits(options.device == Device::CUDA);
  if (options.max_batch_tokens > 0) scheduling.limits.max_tokens = static_cast<std::size_t>(options.max_batch_tokens);
  if (options.max_batch_size > 0) scheduling.limits.max_rows = static_cast<std::size_t>(options.max_batch_size);
  scheduling.max_queued_requests =
      options.max_queued_requests > 0 ? static_cast<std::size_t>(options.max_queued_requests) : 1024;
  scheduling.max_wait = std::chrono::microseconds(options.max_wait_us);
  scheduling.use_worker = options.use_scheduler;
  scheduling.bulk_share = options.bulk_share;
  // A CPU pass costs about its tokens: 256 full-size tokens take a few hundred ms on a 2-core VM,
  // which is what an interactive call may wait behind a bulk pass; a GPU pass is short anyway.
  if (options.bulk_pass_tokens > 0) scheduling.bulk_pass_tokens = static_cast<std::size_t>(options.bulk_pass_tokens);
  else if (options.device == Device::CPU) scheduling.bulk_pass_tokens = 256;
  return scheduling;
}

std::vector<std::string_view> views_of(const std::vector<std::string>& texts) {
  return std::vector<std::string_view>(texts.begin(), texts.end());
}

pipeline::Request request_of(const std::string_view* texts, std::size_t count, const Task* tasks,
                             std::size_t task_count, int dims, const EncodeOptions& options) {
  return pipeline::Request{texts, count, tasks, task_count, /*task_per_text=*/false, dims, options};
}

}  // namespace

// Hidden: nothing of the implementation (nor the typeinfo of its lambdas) leaves libjina3.
struct __attribute__((visibility("hidden"))) Encoder::Impl {
  Impl(const std::string& path, const EncoderOptions& options)
      : model(path, options), device(options.device) {
    if (options.cache_bytes > 0) cache = std::make_unique<detail::EmbeddingCache>(options.cache_bytes);
    const int threads = options.num_threads > 0 ? options.num_threads : process_cpus();
    // The worker runs the forward passes, so its intra-op thread count is the one that matters.
    scheduler = std::make_shared<detail::Scheduler>(
        [this](const std::vector<detail::PassRow>& rows) { pipeline::run_pass(model, rows); }, scheduling(options),
        [threads] { at::set_num_threads(threads); });
  }

  // A handle may still hold the scheduler (weakly, locked for a moment in cancel()): stop it here,
  // while the model its passes use is alive.
  ~Impl() { scheduler->shutdown(); }

  pipeline::Services services() { return pipeline::Services{model, *scheduler, cache.get(), direct.data()}; }

  // Checks and queues a pooled-rows request.
  pipeline::Submitted submit(const pipeline::Request& request, std::function<void()> on_ready) {
    const pipeline::Checked checked = pipeline::check(model, request);
    return pipeline::submit_sentences(services(), request, checked, std::move(on_ready));
  }

  EncodeHandle handle(const pipeline::Request& request, std::function<void()> on_ready) {
    pipeline::Submitted submitted = submit(request, std::move(on_ready));
    auto state = std::make_shared<EncodeHandle::State>();
    state->future = std::move(submitted.future);
    state->ticket = submitted.ticket;
    state->scheduler = scheduler;
    return EncodeHandle(std::move(state));
  }

  Model model;
  Device device;
  std::unique_ptr<detail::EmbeddingCache> cache;
  std::array<pipeline::Services::Direct, kPriorityCount> direct;
  // Last, so destroyed first: the worker has stopped and every request is settled before the
  // cache and the model that requests use go away.
  std::shared_ptr<detail::Scheduler> scheduler;
};

Encoder::Encoder(const std::string& package_path, const EncoderOptions& options) {
  pipeline::check_encoder_options(options);
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

// --- pooled rows --------------------------------------------------------------------------------

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
  const auto views = views_of(texts);
  return encode_async(views.data(), views.size(), &task, 1, dims, options, {});
}

std::future<Embeddings> Encoder::encode_async(const std::vector<std::string>& texts, std::string_view task, int dims,
                                              const EncodeOptions& options) const {
  return encode_async(texts, task_from_string(task), dims, options);
}

std::future<Embeddings> Encoder::encode_async(const std::vector<std::string>& texts, const std::vector<Task>& tasks,
                                              int dims, const EncodeOptions& options) const {
  const auto views = views_of(texts);
  pipeline::Request request = request_of(views.data(), views.size(), tasks.data(), tasks.size(), dims, options);
  request.task_per_text = true;  // a list of tasks always means one per text, even a list of one
  if (!impl_) throw_moved_from();
  return impl_->submit(request, {}).future;
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
  return impl_->submit(request_of(texts, count, tasks, task_count, dims, options), std::move(on_ready)).future;
}

EncodeHandle Encoder::submit(const std::vector<std::string>& texts, Task task, int dims,
                             const EncodeOptions& options) const {
  const auto views = views_of(texts);
  return submit(views.data(), views.size(), &task, 1, dims, options, {});
}

EncodeHandle Encoder::submit(const std::vector<std::string>& texts, const std::vector<Task>& tasks, int dims,
                             const EncodeOptions& options) const {
  if (!impl_) throw_moved_from();
  const auto views = views_of(texts);
  pipeline::Request request = request_of(views.data(), views.size(), tasks.data(), tasks.size(), dims, options);
  request.task_per_text = true;
  return impl_->handle(request, {});
}

EncodeHandle Encoder::submit(const std::string_view* texts, std::size_t count, const Task* tasks,
                             std::size_t task_count, int dims, const EncodeOptions& options,
                             std::function<void()> on_ready) const {
  if (!impl_) throw_moved_from();
  return impl_->handle(request_of(texts, count, tasks, task_count, dims, options), std::move(on_ready));
}

EncodeHandle Encoder::submit(const TokenIds* texts, std::size_t count, const Task* tasks, std::size_t task_count,
                             int dims, const EncodeOptions& options, std::function<void()> on_ready) const {
  if (!impl_) throw_moved_from();
  pipeline::Request request = request_of(nullptr, count, tasks, task_count, dims, options);
  request.ids = texts;
  if (count > 0 && texts == nullptr) throw InvalidArgument("texts is null but count is not zero");
  return impl_->handle(request, std::move(on_ready));
}

Embeddings Encoder::encode_ids(const std::vector<std::vector<std::int32_t>>& texts, Task task, int dims,
                               const EncodeOptions& options) const {
  std::vector<TokenIds> views(texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) views[i] = TokenIds{texts[i].data(), texts[i].size()};
  return submit(views.data(), views.size(), &task, 1, dims, options).get();
}

void Encoder::encode_into(const std::string_view* texts, std::size_t count, const Task* tasks, std::size_t task_count,
                          int dims, float* output, std::size_t output_capacity, const EncodeOptions& options,
                          std::uint8_t* truncated) const {
  if (!impl_) throw_moved_from();
  const pipeline::Request request = request_of(texts, count, tasks, task_count, dims, options);
  const pipeline::Checked checked = pipeline::check(impl_->model, request);
  if (count > 0 && output == nullptr) throw InvalidArgument("output is null");
  // Checked before tokenising: cheap, and a wrong buffer is the caller's first problem. Written
  // without count * dims, which could overflow.
  if (count > 0 && count > output_capacity / checked.dims) {
    throw BufferTooSmall(fmt::format("output holds {} floats; {} texts x {} dims need {}", output_capacity, count,
                                     checked.dims, count * checked.dims));
  }
  // Copied out only once the whole call has succeeded: a failure at any stage leaves output and
  // truncated untouched.
  Embeddings result = pipeline::submit_sentences(impl_->services(), request, checked, {}).future.get();
  std::copy(result.data.begin(), result.data.end(), output);
  if (truncated) std::copy(result.truncated.begin(), result.truncated.end(), truncated);
}

void Encoder::encode_stream(const std::function<bool(std::vector<std::string_view>&)>& next_block,
                            const std::function<void(const std::vector<std::string_view>&, Embeddings&&)>& on_block,
                            Task task, int dims, const EncodeOptions& options, std::size_t in_flight) const {
  if (!impl_) throw_moved_from();
  pipeline::Request request = request_of(nullptr, 0, &task, 1, dims, options);
  const pipeline::Checked checked = pipeline::check(impl_->model, request);
  pipeline::stream(impl_->services(), request, checked, next_block, on_block, in_flight);
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
  pipeline::Request request = request_of(texts, count, tasks, task_count, dims, options);
  request.precision = precision;
  request.ranges = ranges;
  const pipeline::Checked checked = pipeline::check(impl_->model, request);
  Embeddings rows = pipeline::submit_sentences(impl_->services(), request, checked, {}).future.get();
  return pipeline::to_precision(std::move(rows), precision, ranges);
}

// --- token states and chunks --------------------------------------------------------------------

std::vector<TokenEmbeddings> Encoder::encode_tokens(const std::vector<std::string>& texts, Task task,
                                                    const EncodeOptions& options) const {
  const auto views = views_of(texts);
  return encode_tokens(views.data(), views.size(), task, options);
}

std::vector<TokenEmbeddings> Encoder::encode_tokens(const std::string_view* texts, std::size_t count, Task task,
                                                    const EncodeOptions& options) const {
  if (!impl_) throw_moved_from();
  pipeline::Request request = request_of(texts, count, &task, 1, 0, options);
  request.output = pipeline::Output::Tokens;
  const pipeline::Checked checked = pipeline::check(impl_->model, request);
  return pipeline::encode_tokens(impl_->services(), request, checked);
}

std::vector<ChunkEmbeddings> Encoder::late_chunk(const std::vector<std::string>& texts, Task task, int dims,
                                                 const LateChunkOptions& options) const {
  const auto views = views_of(texts);
  return late_chunk(views.data(), views.size(), task, dims, options);
}

std::vector<ChunkEmbeddings> Encoder::late_chunk(const std::string_view* texts, std::size_t count, Task task, int dims,
                                                 const LateChunkOptions& options) const {
  if (!impl_) throw_moved_from();
  pipeline::Request request = request_of(texts, count, &task, 1, dims, {});
  request.output = pipeline::Output::Chunks;
  request.chunking = &options;
  const pipeline::Checked checked = pipeline::check(impl_->model, request);
  return pipeline::late_chunk(impl_->services(), request, checked);
}

std::vector<std::vector<std::int32_t>> Encoder::tokenize(const std::vector<std::string>& texts, Task task,
                                                         const EncodeOptions& options) const {
  if (!impl_) throw_moved_from();
  const auto views = views_of(texts);
  const pipeline::Request request = request_of(views.data(), views.size(), &task, 1, 0, options);
  const pipeline::Checked checked = pipeline::check(impl_->model, request);
  std::vector<std::size_t> rows(views.size());
  for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = i;
  return pipeline::tokenize(impl_->model, request, checked, rows).ids;
}

std::vector<Tokenization> Encoder::tokenize_details(const std::vector<std::string>& texts, Task task,
                                                    const EncodeOptions& options) const {
  if (!impl_) throw_moved_from();
  const auto views = views_of(texts);
  pipeline::Request request = request_of(views.data(), views.size(), &task, 1, 0, options);
  request.output = pipeline::Output::Tokens;  // pooled-row limits aside, what encode_tokens reads
  const pipeline::Checked checked = pipeline::check(impl_->model, request);
  std::vector<std::size_t> rows(views.size());
  for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = i;
  pipeline::Prepared prepared = pipeline::tokenize(impl_->model, request, checked, rows, /*offsets=*/true);
  std::vector<Tokenization> out(views.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i].ids = std::move(prepared.ids[i]);
    out[i].offsets = std::move(prepared.offsets[i]);
    out[i].truncated = prepared.truncated[i] != 0;
    out[i].pieces.reserve(out[i].ids.size());
    for (std::int32_t id : out[i].ids) out[i].pieces.push_back(impl_->model.tokenizer().piece(id));
  }
  return out;
}

// --- checks, stats and getters ------------------------------------------------------------------

std::size_t Encoder::check(const Task* tasks, std::size_t task_count, int dims, const EncodeOptions& options,
                           Precision precision, const Ranges* ranges) const {
  if (!impl_) throw_moved_from();
  pipeline::Request request = request_of(nullptr, task_count, tasks, task_count, dims, options);
  request.precision = precision;
  request.ranges = ranges;
  return pipeline::check(impl_->model, request, /*texts=*/false).dims;
}

std::size_t Encoder::check(Task task, int dims, const EncodeOptions& options, Precision precision,
                           const Ranges* ranges) const {
  return check(&task, 1, dims, options, precision, ranges);
}

std::size_t Encoder::output_dims(int dims) const {
  if (!impl_) throw_moved_from();
  return pipeline::output_dims(impl_->model, dims);
}

EncoderStats Encoder::stats() const {
  if (!impl_) throw_moved_from();
  EncoderStats stats = impl_->scheduler->stats();
  // Calls and rows the cache answered never reach the scheduler: counted here, per lane too.
  for (int lane = 0; lane < kPriorityCount; ++lane) {
    const auto requests = impl_->direct[lane].requests.load(std::memory_order_relaxed);
    stats.requests += requests;
    stats.lanes[lane].requests += requests;
    stats.lanes[lane].rows += impl_->direct[lane].cached_rows.load(std::memory_order_relaxed);
  }
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

KernelReport Encoder::kernels() const {
  if (!impl_) throw_moved_from();
  return impl_->model.kernels();
}

namespace {
const std::vector<Task> kNoTasks;
const std::vector<int> kNoDims;
const std::string kNoString;
}  // namespace

const std::vector<Task>& Encoder::tasks() const noexcept { return impl_ ? impl_->model.manifest().tasks : kNoTasks; }
const std::vector<int>& Encoder::dims() const noexcept { return impl_ ? impl_->model.manifest().matryoshka_dims : kNoDims; }
int Encoder::hidden_size() const noexcept { return impl_ ? impl_->model.manifest().hidden_size : 0; }
int Encoder::vocab_size() const noexcept { return impl_ ? impl_->model.manifest().vocab_size : 0; }
int Encoder::max_length() const noexcept { return impl_ ? impl_->model.manifest().max_length : 0; }
Device Encoder::device() const noexcept { return impl_ ? impl_->device : Device::CPU; }
DType Encoder::dtype() const noexcept { return impl_ ? impl_->model.backbone().dtype() : DType::Float32; }
const std::string& Encoder::package_path() const noexcept { return impl_ ? impl_->model.package().path : kNoString; }

const std::string& Encoder::prompt(Task task) const {
  if (!impl_) throw_moved_from();
  impl_->model.check_task(task);
  return impl_->model.prompt_for(task);
}

}  // namespace jina3
