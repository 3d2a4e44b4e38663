// Tasks, devices and numeric types, with converters to and from their canonical names.
#pragma once

#include <string>
#include <string_view>

#include <jina3/export.hpp>

namespace jina3 {

// The five LoRA task adapters of jina-embeddings-v3, plus None (no adapter, no prompt: Jina's
// task=None). Values are stable ABI (the C API uses the same numbers); they are NOT the adapter
// indices inside a package, which come from the package manifest.
enum class Task : int {
  None = -1,
  RetrievalQuery = 0,    // "retrieval.query"
  RetrievalPassage = 1,  // "retrieval.passage"
  Separation = 2,        // "separation"
  Classification = 3,    // "classification"
  TextMatching = 4,      // "text-matching"
};

// "retrieval.query", ..., and "none" for Task::None.
JINA3_EXPORT const char* to_string(Task task) noexcept;
// Accepts the canonical names; "" and "none" give Task::None. Throws InvalidArgument otherwise,
// listing the valid names.
JINA3_EXPORT Task task_from_string(std::string_view name);

enum class Device : int { CPU = 0, CUDA = 1 };
// "cpu", "cuda".
JINA3_EXPORT const char* to_string(Device device) noexcept;
// Accepts "cpu", "cuda" and "cuda:N" (N is written to *index when index is not null).
JINA3_EXPORT Device device_from_string(std::string_view name, int* index = nullptr);

// Numeric type of the backbone's weights and activations. Pooling, normalisation and the
// returned embeddings are always float32.
enum class DType : int {
  Auto = 0,      // as stored in the package
  Float32 = 1,
  BFloat16 = 2,
  Float16 = 3,
  Int8 = 4,      // dynamic int8 quantised linear layers (CPU; chosen at export time)
};
// "auto", "float32", "bfloat16", "float16", "int8".
JINA3_EXPORT const char* to_string(DType dtype) noexcept;
JINA3_EXPORT DType dtype_from_string(std::string_view name);

// A call's lane in the encoder's scheduler (EncodeOptions::priority). Steps serve interactive rows
// first; bulk rows keep at least EncoderOptions::bulk_share of a step's tokens while both lanes have
// work, and run in short passes while interactive rows wait.
enum class Priority : int {
  Interactive = 0,  // the default: queries, user-facing calls
  Bulk = 1,         // indexing, backfills: may wait, never starves
};
constexpr int kPriorityCount = 2;
// "interactive", "bulk".
JINA3_EXPORT const char* to_string(Priority priority) noexcept;
JINA3_EXPORT Priority priority_from_string(std::string_view name);

}  // namespace jina3
