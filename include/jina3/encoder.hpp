// jina3::Encoder: jina-embeddings-v3 in-process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <jina3/errors.hpp>
#include <jina3/export.hpp>
#include <jina3/options.hpp>
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

// Loads a jina3 model package (see docs/package-format.md) and turns texts into embeddings the
// way Jina's own encode() does: task prompt prepended, <s> ... </s>, the task's LoRA adapter,
// mean pooling over all tokens, Matryoshka truncation, then L2 normalisation.
//
// Thread safety: encode() and tokenize() may be called concurrently on one instance from any
// number of threads. Construction, move and destruction must not overlap with any other call.
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

  // Zero-copy form for bindings: count texts in, count x dims floats written to output (capacity
  // in floats; BufferTooSmall if short, nothing written). tasks points to count tasks, or to one
  // task used for every text. truncated, if not null, receives count flags.
  void encode_into(const std::string_view* texts, std::size_t count, const Task* tasks, std::size_t task_count,
                   int dims, float* output, std::size_t output_capacity, const EncodeOptions& options = {},
                   std::uint8_t* truncated = nullptr) const;

  // The token ids encode() would run for each text: prompt, <s> and </s> included, truncated
  // (or InputTooLong) as options say.
  std::vector<std::vector<std::int32_t>> tokenize(const std::vector<std::string>& texts, Task task = Task::None,
                                                  const EncodeOptions& options = {}) const;

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

}  // namespace jina3
