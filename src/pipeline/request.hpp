// The one request type of the pipeline. A face's call becomes a Request; prepare checks it once
// (Checked) and tokenises it (Prepared); the output stage (sentences, tokens or chunks) hands its
// rows to the scheduler with a RowSpec that the pass function follows.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include <jina3/encoder.hpp>
#include <jina3/options.hpp>
#include <jina3/outputs.hpp>
#include <jina3/task.hpp>

#include "serving/scheduler.hpp"

namespace jina3 {
class Model;
namespace detail {
class EmbeddingCache;
}

namespace pipeline {

using Clock = detail::Clock;

// What a request asks for.
enum class Output {
  Pooled,  // one row per text (sentences.cpp), then the precision stage
  Tokens,  // every token's final hidden state (tokens.cpp)
  Chunks,  // late chunking (chunks.cpp)
};

// One call as a face gives it. Texts and tasks are only read during the call.
struct Request {
  const std::string_view* texts = nullptr;
  std::size_t count = 0;
  const Task* tasks = nullptr;
  std::size_t task_count = 0;  // 1 (one task for every text) or count
  bool task_per_text = false;  // tasks is a list with one task per text, even when it holds one
  int dims = 0;                // 0 = full size
  EncodeOptions options;
  Output output = Output::Pooled;
  Precision precision = Precision::Float32;
  const Ranges* ranges = nullptr;               // int8/uint8 calibration, or null
  const LateChunkOptions* chunking = nullptr;   // Output::Chunks
  Clock::time_point start = Clock::now();       // deadlines count from here
  const TokenIds* ids = nullptr;  // instead of texts: count texts given as token ids (Pooled only)

  Task task_of(std::size_t i) const { return tasks[task_count == 1 ? 0 : i]; }
};

// What prepare's checks resolve: every value a later stage needs, computed once.
struct Checked {
  std::size_t dims = 0;        // output width (Pooled, Chunks)
  std::size_t max_length = 0;  // effective token limit per text (Pooled, Tokens)
  std::size_t window = 0;      // macro window and overlap (Chunks)
  std::size_t overlap = 0;
};

// The tokenised rows of a request (or of the subset of its texts that the cache did not answer).
struct Prepared {
  std::vector<std::vector<std::int32_t>> ids;
  std::vector<std::int64_t> adapters;              // per row: the package's adapter index or -1
  std::vector<std::uint8_t> truncated;             // per row
  std::vector<std::vector<std::int64_t>> offsets;  // per row, two per token (Tokens, Chunks)
};

// How the pass function treats every row of one job (the scheduler's opaque Job::spec).
struct RowSpec {
  std::size_t width = 0;      // floats per output row, or per token with token_states
  bool token_states = false;  // every token's states (ids x width), not one pooled row
  bool normalize = true;
};

// What the stages run on: the loaded model, the encoder's scheduler and its cache (or null).
struct Services {
  const Model& model;
  detail::Scheduler& scheduler;
  detail::EmbeddingCache* cache;
  // Per lane (Priority): what never reaches the scheduler, so that stats() can count it.
  struct Direct {
    std::atomic<std::uint64_t> requests{0};  // calls that needed no pass (cache, no texts)
    std::atomic<std::uint64_t> cached_rows{0};  // rows answered from the cache
  };
  Direct* direct;  // kPriorityCount entries
};

}  // namespace pipeline
}  // namespace jina3
