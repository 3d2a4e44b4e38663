// What a loaded package is: the package on disk, its tokenizer, its backbone, the table from a task
// to its adapter index and prompt, and the report of the kernels it runs.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <jina3/kernels.hpp>
#include <jina3/options.hpp>
#include <jina3/task.hpp>

#include "model/backbone.hpp"
#include "model/package.hpp"
#include "model/tokenizer.hpp"

namespace jina3 {

constexpr std::size_t kTaskCount = 5;  // Task::RetrievalQuery .. Task::TextMatching

// True for the five adapter tasks (not None, not an out-of-range value from the C API).
inline bool is_adapter_task(Task task) {
  const int value = static_cast<int>(task);
  return value >= 0 && value < static_cast<int>(kTaskCount);
}

// A task value as the user gave it, for messages: its name in quotes, or the number.
std::string describe(Task task);

// Thread safety: immutable after load; every member function may run concurrently.
class Model {
 public:
  // Reads the package at path (checksums as options say) and loads tokenizer and backbone.
  // Throws ModelNotFound, ModelInvalid, VersionMismatch or DeviceError; InvalidArgument for an
  // unknown JINA3_MAX_CPU_ISA value (util/cpu_info.hpp).
  Model(const std::string& path, const EncoderOptions& options);

  const Package& package() const noexcept { return package_; }
  const Manifest& manifest() const noexcept { return package_.manifest; }
  const Tokenizer& tokenizer() const noexcept { return tokenizer_; }
  const Backbone& backbone() const noexcept { return backbone_; }
  // Which kernels this model runs, fixed at load (Encoder::kernels()).
  const KernelReport& kernels() const noexcept { return kernels_; }

  // What loading reads, before the task table is made from it.
  struct Loaded;

  // InvalidArgument unless task is None or one of this package's adapters.
  void check_task(Task task) const;
  // The package's adapter index of a checked task; -1 (no adapter) for Task::None.
  std::int64_t adapter_for(Task task) const;
  // The instruction prepended for a checked task ("" for Task::None).
  const std::string& prompt_for(Task task) const;
  // The prompt's token ids alone (no <s>, </s>): what precedes a text given as token ids.
  const std::vector<std::int32_t>& prompt_ids_for(Task task) const;

 private:
  explicit Model(Loaded&& loaded);

  Package package_;
  Tokenizer tokenizer_;
  Backbone backbone_;
  std::array<std::int64_t, kTaskCount> adapter_index_{};
  std::array<std::string, kTaskCount> prompts_;
  std::array<std::vector<std::int32_t>, kTaskCount> prompt_ids_;
  std::vector<std::int32_t> no_prompt_ids_;
  std::string no_prompt_;
  KernelReport kernels_;
};

}  // namespace jina3
