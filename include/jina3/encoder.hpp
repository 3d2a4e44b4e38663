// jina3::Encoder: jina-embeddings-v3 in-process.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <jina3/errors.hpp>
#include <jina3/export.hpp>
#include <jina3/kernels.hpp>
#include <jina3/options.hpp>
#include <jina3/outputs.hpp>
#include <jina3/stats.hpp>
#include <jina3/task.hpp>

namespace jina3 {

// A rows x dims float32 matrix, row-major and contiguous, rows in input order.
struct Embeddings {
  std::size_t rows = 0;
  std::size_t dims = 0;
  std::vector<float> data;              // rows * dims values
  std::vector<std::uint8_t> truncated;  // per row: 1 if the text was cut to max_length

  const float* row(std::size_t i) const { return data.data() + i * dims; }
};

// A text given as token ids: the text's own tokens (as tokenize() gives them between <s> and
// </s>, without the task prompt), which jina3 surrounds with the prompt, <s> and </s> as it does
// for a string. Each id must be < the vocabulary size; the length counts against max_length.
struct TokenIds {
  const std::int32_t* data = nullptr;
  std::size_t size = 0;
};

// One text's tokens in detail (Encoder::tokenize_details): what tokenize() gives, with each
// token's piece and byte offsets.
struct Tokenization {
  std::vector<std::int32_t> ids;      // prompt, <s> and </s> included
  std::vector<std::string> pieces;    // each id's piece ("<s>", "\u2581Hello", ...)
  std::vector<std::int64_t> offsets;  // two per token: [begin, end) bytes in the text; -1 -1 for
                                      // <s>, </s> and the prompt's tokens
  bool truncated = false;
};

class EncodeHandle;

// Loads a jina3 model package (see docs/package-format.md) and turns texts into embeddings the
// way Jina's own encode() does: task prompt prepended, <s> ... </s>, the task's LoRA adapter,
// mean pooling over all tokens, Matryoshka truncation, then L2 normalisation.
//
// Serving: every encode call, synchronous or not, becomes a request to the encoder's scheduler.
// One worker thread per encoder owns the forward passes and the intra-op threads; it merges the
// rows of all queued requests (any tasks and dims) into length-sorted passes, shares each pass
// fairly between requests so that a large call cannot hold up small ones, and hands each request
// its rows in its own order. Tokenising happens on the calling thread.
//
// Thread safety: encode(), encode_async(), tokenize() and stats() may be called concurrently on
// one instance from any number of threads. Construction, move and destruction must not overlap
// with any other call; requests still queued when the encoder is destroyed fail with Cancelled
// (a pass already running finishes first).
class JINA3_EXPORT Encoder {
 public:
  // Throws ModelNotFound, ModelInvalid, VersionMismatch or DeviceError.
  explicit Encoder(const std::string& package_path, const EncoderOptions& options = {});
  ~Encoder();
  Encoder(Encoder&&) noexcept;
  Encoder& operator=(Encoder&&) noexcept;
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  // Embeds texts (UTF-8) with one task. dims = 0 means the full hidden size; otherwise it must be
  // one of dims(). An empty list gives a 0 x dims result; an empty string is a valid text.
  // Throws InvalidArgument (unknown task, bad dims, invalid UTF-8) or InputTooLong.
  Embeddings encode(const std::vector<std::string>& texts, Task task = Task::None, int dims = 0,
                    const EncodeOptions& options = {}) const;
  // Same, with the task by name ("retrieval.query", ...; "" or "none" for no task).
  Embeddings encode(const std::vector<std::string>& texts, std::string_view task, int dims = 0,
                    const EncodeOptions& options = {}) const;
  // One task per text (tasks.size() == texts.size()); rows with different tasks share forward passes.
  Embeddings encode(const std::vector<std::string>& texts, const std::vector<Task>& tasks, int dims = 0,
                    const EncodeOptions& options = {}) const;

  // Form for bindings that own the output buffer: count texts in, count x dims floats copied to
  // output once the whole call has succeeded (capacity in floats; BufferTooSmall if short; on any
  // failure nothing is written). tasks points to count tasks, or to one task used for every
  // text. truncated, if not null, receives count flags.
  void encode_into(const std::string_view* texts, std::size_t count, const Task* tasks, std::size_t task_count,
                   int dims, float* output, std::size_t output_capacity, const EncodeOptions& options = {},
                   std::uint8_t* truncated = nullptr) const;

  // Asynchronous encode: checks the arguments and tokenises on the calling thread, queues the
  // request and returns at once. Argument errors (InvalidArgument, InputTooLong) and QueueFull
  // (when options.block_when_full is false) are thrown here; the future carries the result, or
  // DeadlineExceeded, Cancelled, OutOfMemory or Internal. If the queue is full and
  // block_when_full is true, the call waits for room (up to options.deadline_us).
  std::future<Embeddings> encode_async(const std::vector<std::string>& texts, Task task = Task::None, int dims = 0,
                                       const EncodeOptions& options = {}) const;
  std::future<Embeddings> encode_async(const std::vector<std::string>& texts, std::string_view task, int dims = 0,
                                       const EncodeOptions& options = {}) const;
  std::future<Embeddings> encode_async(const std::vector<std::string>& texts, const std::vector<Task>& tasks,
                                       int dims = 0, const EncodeOptions& options = {}) const;
  // The non-blocking "try" form: as encode_async with options.block_when_full = false.
  std::future<Embeddings> try_encode_async(const std::vector<std::string>& texts, Task task = Task::None,
                                           int dims = 0, const EncodeOptions& options = {}) const;
  // Form for bindings: texts are only read during the call. tasks points to task_count tasks (1,
  // or one per text). on_ready, if set, is called exactly once, right after the future becomes
  // ready: on the encoder's worker thread, or on this thread if the call completed at once (all
  // rows from the cache, or no texts). It must be quick, must not throw and must not destroy the
  // encoder. It is not called when this function throws.
  std::future<Embeddings> encode_async(const std::string_view* texts, std::size_t count, const Task* tasks,
                                       std::size_t task_count, int dims, const EncodeOptions& options,
                                       std::function<void()> on_ready) const;

  // Cancellable form (any thread): queues the request like encode_async and returns a handle
  // whose cancel() takes its rows out of the queue, skips its passes that have not started and
  // fails it with Cancelled (a pass already running finishes first). Throws as encode_async.
  EncodeHandle submit(const std::vector<std::string>& texts, Task task = Task::None, int dims = 0,
                      const EncodeOptions& options = {}) const;
  EncodeHandle submit(const std::vector<std::string>& texts, const std::vector<Task>& tasks, int dims = 0,
                      const EncodeOptions& options = {}) const;
  // Binding forms (texts or token ids only read during the call; on_ready as encode_async's).
  EncodeHandle submit(const std::string_view* texts, std::size_t count, const Task* tasks, std::size_t task_count,
                      int dims, const EncodeOptions& options, std::function<void()> on_ready = {}) const;
  EncodeHandle submit(const TokenIds* texts, std::size_t count, const Task* tasks, std::size_t task_count, int dims,
                      const EncodeOptions& options, std::function<void()> on_ready = {}) const;

  // Texts given as token ids (see TokenIds): the same rows as encode() of the texts they came
  // from. Throws InvalidArgument for an id outside the vocabulary, InputTooLong as encode().
  Embeddings encode_ids(const std::vector<std::vector<std::int32_t>>& texts, Task task = Task::None, int dims = 0,
                        const EncodeOptions& options = {}) const;

  // Block streaming, for inputs too large to hold at once. next_block(texts) fills texts (empty on
  // entry) with the next block of texts and returns false at the end of the input; the views must
  // stay valid until that block is handed to on_block. Each block is queued as soon as it is read,
  // up to in_flight blocks at a time (reading overlaps encoding), and on_block(texts, result) gets
  // every block's texts and rows in input order. Both callbacks run on this thread. An exception
  // from a callback or a block stops the stream: the blocks in flight complete, then it propagates.
  void encode_stream(const std::function<bool(std::vector<std::string_view>& texts)>& next_block,
                     const std::function<void(const std::vector<std::string_view>& texts, Embeddings&& result)>& on_block,
                     Task task = Task::None, int dims = 0, const EncodeOptions& options = {},
                     std::size_t in_flight = 3) const;

  // encode() followed by the precision stage (see Precision in outputs.hpp): rows x
  // row_bytes(precision, dims) bytes. ranges: per-dimension min/max for int8/uint8 (null: from
  // this call's rows). Throws InvalidArgument, before any pass, for a packed precision with dims not
  // a multiple of 8 or ranges of the wrong shape or with max <= min.
  QuantizedEmbeddings encode_quantized(const std::vector<std::string>& texts, Task task, int dims, Precision precision,
                                       const Ranges* ranges = nullptr, const EncodeOptions& options = {}) const;
  QuantizedEmbeddings encode_quantized(const std::string_view* texts, std::size_t count, const Task* tasks,
                                       std::size_t task_count, int dims, Precision precision, const Ranges* ranges,
                                       const EncodeOptions& options) const;

  // Token embeddings: per text its ids, the final hidden states with the task's adapter (before
  // pooling) and each token's byte offsets in the text. Truncation as options say (normalize and
  // batch_size do not apply).
  std::vector<TokenEmbeddings> encode_tokens(const std::vector<std::string>& texts, Task task = Task::None,
                                             const EncodeOptions& options = {}) const;
  std::vector<TokenEmbeddings> encode_tokens(const std::string_view* texts, std::size_t count, Task task,
                                             const EncodeOptions& options) const;

  // Late chunking: each text runs through the model whole (long texts as overlapping macro
  // windows, never truncated), and each chunk's vector is the mean of its tokens' states, then cut
  // to dims and normalised. See LateChunkOptions for where chunks come from. Throws
  // InvalidArgument for bad spans or options, before any pass.
  std::vector<ChunkEmbeddings> late_chunk(const std::vector<std::string>& texts, Task task = Task::RetrievalPassage,
                                          int dims = 0, const LateChunkOptions& options = {}) const;
  std::vector<ChunkEmbeddings> late_chunk(const std::string_view* texts, std::size_t count, Task task, int dims,
                                          const LateChunkOptions& options) const;

  // The checks encode() runs before it reads any text, for faces that must reject a call before
  // they size a buffer or read a stream: each task (known, and in this package; task_count tasks,
  // one or one per text), dims, the per-call options and, for the precision stage, precision and
  // ranges. Throws InvalidArgument; returns the output width, as output_dims(dims).
  std::size_t check(const Task* tasks, std::size_t task_count, int dims, const EncodeOptions& options = {},
                    Precision precision = Precision::Float32, const Ranges* ranges = nullptr) const;
  std::size_t check(Task task, int dims, const EncodeOptions& options = {}, Precision precision = Precision::Float32,
                    const Ranges* ranges = nullptr) const;
  // The width of a row for dims: hidden_size() for 0, dims itself when dims() offers it; throws
  // InvalidArgument otherwise, listing the valid values.
  std::size_t output_dims(int dims) const;

  // Counters since load; see EncoderStats.
  EncoderStats stats() const;

  // Which kernels run this encoder's passes (ISA, bfloat16 native or emulated, int8 engine),
  // fixed at load; see KernelReport. notice is not empty when this CPU emulates the bfloat16 this
  // encoder computes in (an int8 package runs faster there).
  KernelReport kernels() const;

  // The token ids encode() would run for each text: prompt, <s> and </s> included, truncated
  // (or InputTooLong) as options say.
  std::vector<std::vector<std::int32_t>> tokenize(const std::vector<std::string>& texts, Task task = Task::None,
                                                  const EncodeOptions& options = {}) const;

  // tokenize() with each token's piece and byte offsets.
  std::vector<Tokenization> tokenize_details(const std::vector<std::string>& texts, Task task = Task::None,
                                             const EncodeOptions& options = {}) const;

  int vocab_size() const noexcept;                  // token ids are < this
  // Effective values after load.
  const std::vector<Task>& tasks() const noexcept;  // adapters in the package
  const std::vector<int>& dims() const noexcept;    // accepted Matryoshka dims, ascending
  int hidden_size() const noexcept;                 // full embedding size (largest dims)
  int max_length() const noexcept;                  // token limit, specials included
  const std::string& prompt(Task task) const;       // instruction prepended for task ("" for None)
  Device device() const noexcept;
  DType dtype() const noexcept;                     // never Auto
  const std::string& package_path() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The pending result of Encoder::submit. Move-only; get() may be called once. Destroying a handle
// does not cancel its request (the result is then dropped); call cancel() for that.
class JINA3_EXPORT EncodeHandle {
 public:
  EncodeHandle() noexcept;
  ~EncodeHandle();
  EncodeHandle(EncodeHandle&&) noexcept;
  EncodeHandle& operator=(EncodeHandle&&) noexcept;
  EncodeHandle(const EncodeHandle&) = delete;
  EncodeHandle& operator=(const EncodeHandle&) = delete;

  bool valid() const noexcept;  // false for a default-constructed or moved-from handle, or after get()
  // Waits for the result; throws the request's failure (Cancelled after cancel()).
  Embeddings get();
  void wait() const;
  template <class Rep, class Period>
  std::future_status wait_for(const std::chrono::duration<Rep, Period>& timeout) const {
    return wait_for_us(std::chrono::duration_cast<std::chrono::microseconds>(timeout).count());
  }
  bool ready() const;  // wait_for(0) == ready
  // Cancels the request if it has not completed: its queued rows leave the queue and its
  // remaining passes are skipped; get() then throws Cancelled. Returns false when it had already
  // completed or failed (the result stays). Thread-safe; a second call returns false.
  bool cancel() noexcept;

  struct State;
  explicit EncodeHandle(std::shared_ptr<State> state) noexcept;

 private:
  std::future_status wait_for_us(std::int64_t microseconds) const;
  std::shared_ptr<State> state_;
};

}  // namespace jina3
