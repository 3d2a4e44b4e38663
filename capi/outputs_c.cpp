// The C ABI's outputs beyond float32 sentence rows: the precision stage (quantised rows and
// calibration ranges), token embeddings and late chunking, with their result objects.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "boundary.hpp"

struct jina3_tokens {
  jina3::TokenEmbeddings tokens;
};

// Spans flattened to count x 2 size_t, the layout the getters promise.
struct jina3_chunks {
  jina3::ChunkEmbeddings chunks;
  std::vector<std::size_t> spans;
  std::vector<std::size_t> token_spans;
};

namespace jina3::capi {
namespace {

// A jina3_precision argument as jina3::Precision, unchecked: the core names a value that is none.
// By reference: a copy would load the enum, which raw() exists to avoid.
Precision precision_of(const jina3_precision& precision) noexcept { return static_cast<Precision>(raw(precision)); }

// Bytes per row of a precision given as the int a C caller passed; 0 for a value that is none
// (or negative dims).
std::size_t row_bytes_of(int precision, int dims) noexcept {
  if (dims < 0 || precision < JINA3_PRECISION_FLOAT32 || precision > JINA3_PRECISION_UBINARY) return 0;
  return jina3::row_bytes(static_cast<Precision>(precision), static_cast<std::size_t>(dims));
}

bool ranged(Precision precision) noexcept { return precision == Precision::Int8 || precision == Precision::UInt8; }

// Caller ranges, 2 x dims floats (the min row, then the max row); nullopt for NULL.
std::optional<Ranges> ranges_from_c(const float* ranges, std::size_t dims) {
  if (ranges == nullptr) return std::nullopt;
  return Ranges{std::vector<float>(ranges, ranges + dims), std::vector<float>(ranges + dims, ranges + 2 * dims)};
}

// BUFFER_TOO_SMALL unless rows x row_bytes fit in capacity bytes (checked before any work).
void require_capacity(const char* function, std::size_t capacity, std::size_t rows, std::size_t row_bytes) {
  if (rows > 0 && capacity / rows < row_bytes) {
    throw BufferTooSmall(std::string(function) + ": out_capacity_bytes is " + std::to_string(capacity) + ", need " +
                         std::to_string(rows * row_bytes) + " (" + std::to_string(rows) + " rows x " +
                         std::to_string(row_bytes) + " bytes)");
  }
}

// [begin, end) pairs flattened to begin, end, begin, end, ...
std::vector<std::size_t> flat(const std::vector<std::pair<std::size_t, std::size_t>>& spans) {
  std::vector<std::size_t> out;
  out.reserve(2 * spans.size());
  for (const auto& [begin, end] : spans) out.insert(out.end(), {begin, end});
  return out;
}

}  // namespace
}  // namespace jina3::capi

using jina3::capi::guarded;
using jina3::capi::invalid;
using jina3::capi::raw;
using jina3::capi::require;

extern "C" {

size_t jina3_precision_row_bytes(jina3_precision precision, int dims) {
  return jina3::capi::row_bytes_of(raw(precision), dims);
}

jina3_status jina3_encoder_encode_quantized(const jina3_encoder* encoder, const char* const* texts,
                                            const size_t* lengths, size_t count, jina3_task task, int dims,
                                            jina3_precision precision, const float* ranges,
                                            const jina3_encode_options* options, void* out,
                                            size_t out_capacity_bytes, uint8_t* truncated, jina3_error** error) {
  return guarded(error, [&] {
    constexpr const char* function = "jina3_encoder_encode_quantized";
    require(encoder != nullptr, function, "encoder is NULL");
    jina3::capi::require_array(out, count, function, "out", "count");
    const jina3::EncodeOptions cpp_options = jina3::capi::read_encode_options(options, function);
    const std::vector<std::string_view> views = jina3::capi::text_views(texts, lengths, count, function);
    const jina3::Precision cpp_precision = jina3::capi::precision_of(precision);
    const jina3::Task cpp_task = static_cast<jina3::Task>(raw(task));
    // The caller's ranges are read with the row width, then every check that needs no text runs
    // (task, dims, options, precision, ranges), so that the buffer is checked before any pass.
    const std::optional<jina3::Ranges> cpp_ranges =
        jina3::capi::ranged(cpp_precision) ? jina3::capi::ranges_from_c(ranges, encoder->encoder.output_dims(dims))
                                           : std::nullopt;
    const jina3::Ranges* ranges_ptr = cpp_ranges ? &*cpp_ranges : nullptr;
    const std::size_t width = encoder->encoder.check(cpp_task, dims, cpp_options, cpp_precision, ranges_ptr);
    jina3::capi::require_capacity(function, out_capacity_bytes, count, jina3::row_bytes(cpp_precision, width));
    const jina3::QuantizedEmbeddings result = encoder->encoder.encode_quantized(
        views.data(), count, &cpp_task, 1, dims, cpp_precision, ranges_ptr, cpp_options);
    // Copied only once the whole call succeeded.
    if (!result.data.empty()) std::memcpy(out, result.data.data(), result.data.size());
    if (truncated != nullptr) std::copy(result.truncated.begin(), result.truncated.end(), truncated);
  });
}

jina3_status jina3_calibration_ranges(const float* values, size_t rows, int dims, float* ranges, jina3_error** error) {
  return guarded(error, [&] {
    constexpr const char* function = "jina3_calibration_ranges";
    require(values != nullptr, function, "values is NULL");
    require(ranges != nullptr, function, "ranges is NULL (pass 2 x dims floats)");
    if (dims < 1) invalid(function, "dims " + std::to_string(dims) + " must be at least 1");
    const jina3::Ranges cpp = jina3::calibration_ranges(values, rows, static_cast<std::size_t>(dims));
    std::copy(cpp.min.begin(), cpp.min.end(), ranges);
    std::copy(cpp.max.begin(), cpp.max.end(), ranges + dims);
  });
}

jina3_status jina3_quantize(const float* values, size_t rows, int dims, jina3_precision precision,
                            const float* ranges, void* out, size_t out_capacity_bytes, jina3_error** error) {
  return guarded(error, [&] {
    constexpr const char* function = "jina3_quantize";
    if (rows > 0) {
      require(values != nullptr, function, "values is NULL");
      require(out != nullptr, function, "out is NULL");
    }
    if (dims < 1) invalid(function, "dims " + std::to_string(dims) + " must be at least 1");
    const auto n = static_cast<std::size_t>(dims);
    // 0 for a value that is no precision: quantize then names it, and the capacity check passes.
    // By its int bits: passing the enum on by value would load a value that may be none of its
    // enumerators (undefined; UBSan's enum check).
    const std::size_t row = jina3::capi::row_bytes_of(raw(precision), dims);
    jina3::capi::require_capacity(function, out_capacity_bytes, rows, row);
    const std::optional<jina3::Ranges> cpp_ranges = jina3::capi::ranges_from_c(ranges, n);
    // Into a scratch buffer first: quantize checks its arguments before writing, but the caller's
    // buffer must stay untouched on any failure.
    std::vector<std::uint8_t> scratch(rows * row);
    jina3::quantize(values, rows, n, jina3::capi::precision_of(precision), cpp_ranges ? &*cpp_ranges : nullptr,
                    scratch.data());
    if (!scratch.empty()) std::memcpy(out, scratch.data(), scratch.size());
  });
}

jina3_status jina3_encoder_encode_tokens(const jina3_encoder* encoder, const char* text, size_t length,
                                         jina3_task task, const jina3_encode_options* options, jina3_tokens** tokens,
                                         jina3_error** error) {
  return guarded(error, [&] {
    constexpr const char* function = "jina3_encoder_encode_tokens";
    require(encoder != nullptr, function, "encoder is NULL");
    require(tokens != nullptr, function, "tokens is NULL (pass the address of a jina3_tokens*)");
    const jina3::EncodeOptions cpp_options = jina3::capi::read_encode_options(options, function);
    const std::string_view view = jina3::capi::text_view(text, length, function);
    std::vector<jina3::TokenEmbeddings> result =
        encoder->encoder.encode_tokens(&view, 1, static_cast<jina3::Task>(raw(task)), cpp_options);
    if (result.size() != 1) {
      throw std::logic_error("encode_tokens returned " + std::to_string(result.size()) + " results for one text");
    }
    auto owned = std::make_unique<jina3_tokens>();
    owned->tokens = std::move(result[0]);
    *tokens = owned.release();
  });
}

size_t jina3_tokens_count(const jina3_tokens* tokens) { return tokens ? tokens->tokens.size() : 0; }
size_t jina3_tokens_hidden(const jina3_tokens* tokens) { return tokens ? tokens->tokens.hidden : 0; }
const int32_t* jina3_tokens_ids(const jina3_tokens* tokens) { return tokens ? tokens->tokens.ids.data() : nullptr; }
const float* jina3_tokens_embeddings(const jina3_tokens* tokens) {
  return tokens ? tokens->tokens.embeddings.data() : nullptr;
}
const int64_t* jina3_tokens_offsets(const jina3_tokens* tokens) {
  return tokens ? tokens->tokens.offsets.data() : nullptr;
}
bool jina3_tokens_truncated(const jina3_tokens* tokens) { return tokens != nullptr && tokens->tokens.truncated; }
void jina3_tokens_free(jina3_tokens* tokens) { delete tokens; }

jina3_status jina3_encoder_late_chunk(const jina3_encoder* encoder, const char* text, size_t length, jina3_task task,
                                      int dims, const size_t* spans, size_t span_count,
                                      const jina3_late_chunk_options* options, jina3_chunks** chunks,
                                      jina3_error** error) {
  return guarded(error, [&] {
    constexpr const char* function = "jina3_encoder_late_chunk";
    require(encoder != nullptr, function, "encoder is NULL");
    require(chunks != nullptr, function, "chunks is NULL (pass the address of a jina3_chunks*)");
    jina3::capi::require_array(spans, span_count, function, "spans", "span_count");
    jina3::LateChunkOptions cpp = jina3::capi::read_late_chunk_options(options, function);
    std::vector<std::vector<std::pair<std::size_t, std::size_t>>> span_lists;
    if (spans != nullptr) {
      span_lists.emplace_back();
      for (std::size_t i = 0; i < span_count; ++i) span_lists[0].emplace_back(spans[2 * i], spans[2 * i + 1]);
      cpp.spans = &span_lists;
    }
    const std::string_view view = jina3::capi::text_view(text, length, function);
    std::vector<jina3::ChunkEmbeddings> result =
        encoder->encoder.late_chunk(&view, 1, static_cast<jina3::Task>(raw(task)), dims, cpp);
    if (result.size() != 1) {
      throw std::logic_error("late_chunk returned " + std::to_string(result.size()) + " results for one text");
    }
    auto owned = std::make_unique<jina3_chunks>();
    owned->chunks = std::move(result[0]);
    owned->spans = jina3::capi::flat(owned->chunks.spans);
    owned->token_spans = jina3::capi::flat(owned->chunks.token_spans);
    *chunks = owned.release();
  });
}

size_t jina3_chunks_count(const jina3_chunks* chunks) { return chunks ? chunks->chunks.size() : 0; }
size_t jina3_chunks_dims(const jina3_chunks* chunks) { return chunks ? chunks->chunks.dims : 0; }
const float* jina3_chunks_embeddings(const jina3_chunks* chunks) {
  return chunks ? chunks->chunks.embeddings.data() : nullptr;
}
const size_t* jina3_chunks_spans(const jina3_chunks* chunks) { return chunks ? chunks->spans.data() : nullptr; }
const size_t* jina3_chunks_token_spans(const jina3_chunks* chunks) {
  return chunks ? chunks->token_spans.data() : nullptr;
}
void jina3_chunks_free(jina3_chunks* chunks) { delete chunks; }

}  // extern "C"
