// Outputs beyond float32 sentence embeddings: quantised rows, token embeddings with offsets, and
// late-chunked embeddings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include <jina3/export.hpp>

namespace jina3 {

// Element type of an output row. Values are stable ABI (the C API uses the same numbers).
//   float32  dims floats (the default).
//   float16  dims IEEE half floats (uint16 bits), rounded to nearest even.
//   uint8    per dimension, step = (max - min) / 255, value = clip(floor((x - min) / step), 0, 255).
//   int8     trunc((x - min) / step - 128) computed in float32, clipped to [-128, 127]: sentence-transformers'
//            ((x - min) / step - 128).astype(int8), which truncates toward zero (127.5 - 128 gives 0).
//   ubinary  bit = (x > 0), 8 dims per byte, dim 0 the most significant bit of byte 0 (numpy.packbits).
//   binary   ubinary - 128, as int8.
// x is the float32 row after Matryoshka truncation and normalisation, as requested.
enum class Precision : int { Float32 = 0, Float16 = 1, Int8 = 2, UInt8 = 3, Binary = 4, UBinary = 5 };

// "float32", "float16", "int8", "uint8", "binary", "ubinary".
JINA3_EXPORT const char* to_string(Precision precision) noexcept;
// Throws InvalidArgument for any other name, listing the valid ones.
JINA3_EXPORT Precision precision_from_string(std::string_view name);
// Bytes one row of dims dimensions takes (dims / 8 for the packed precisions).
JINA3_EXPORT std::size_t row_bytes(Precision precision, std::size_t dims) noexcept;

// Per-dimension ranges for int8/uint8: min[d] and max[d], each dims values (a 2 x dims array).
struct Ranges {
  std::vector<float> min;
  std::vector<float> max;
};

// The ranges of a calibration set: rows x dims float32 values, row-major. Store them with a
// corpus and pass them again for its queries so both quantise alike. Throws InvalidArgument when
// rows is 0.
JINA3_EXPORT Ranges calibration_ranges(const float* values, std::size_t rows, std::size_t dims);

// rows x row_bytes(precision, dims) bytes, row-major, rows in input order.
struct QuantizedEmbeddings {
  std::size_t rows = 0;
  std::size_t dims = 0;  // dimensions per row (bits per row for the packed precisions)
  Precision precision = Precision::Float32;
  std::vector<std::uint8_t> data;
  std::vector<std::uint8_t> truncated;  // per row: 1 if the text was cut to max_length

  std::size_t row_size() const noexcept { return row_bytes(precision, dims); }
  const std::uint8_t* row(std::size_t i) const { return data.data() + i * row_size(); }
};

// Converts rows x dims float32 values to precision and writes rows x row_bytes bytes to out.
// ranges: for int8/uint8; null computes them from these rows. Throws InvalidArgument (packed
// precision with dims not a multiple of 8; ranges of the wrong size or with max <= min) before
// writing anything.
JINA3_EXPORT void quantize(const float* values, std::size_t rows, std::size_t dims, Precision precision,
                           const Ranges* ranges, std::uint8_t* out);

// One text's final hidden states, before pooling.
struct TokenEmbeddings {
  std::vector<std::int32_t> ids;        // n token ids: <s>, prompt, text, </s>
  std::size_t hidden = 0;               // floats per token
  std::vector<float> embeddings;        // n x hidden, float32, with the task's adapter
  // n x 2: each token's [begin, end) byte range in the caller's UTF-8 text, without the
  // whitespace sentencepiece marks with "▁"; (-1, -1) for <s>, </s> and the prompt's tokens.
  std::vector<std::int64_t> offsets;
  bool truncated = false;

  std::size_t size() const noexcept { return ids.size(); }
};

// Options of Encoder::late_chunk. Exactly one way of choosing chunks: spans, chunk_tokens or
// sentences (none given: the whole text is one chunk).
struct LateChunkOptions {
  // Caller spans, one list per text of [begin, end) byte offsets into that text (C++ and C:
  // bytes of the UTF-8 text; Python: str indices).
  const std::vector<std::vector<std::pair<std::size_t, std::size_t>>>* spans = nullptr;
  std::optional<int> chunk_tokens;  // chunks of this many content tokens (>= 1)
  std::optional<int> sentences;     // chunks of this many sentences (>= 1): split after . ! or ? followed
                                    // by whitespace or the end of the text
  // Texts longer than window tokens (prompt and specials included) run as overlapping macro
  // windows of window tokens, a new one every window - overlap tokens, each a raw slice of the ids;
  // every window after the first drops its first overlap outputs. Default window: the package's
  // max_length; default overlap: 512, or window / 2 for windows under 1024 tokens.
  std::optional<int> window;
  std::optional<int> overlap;
  bool normalize = true;   // L2-normalise each chunk vector after Matryoshka truncation
  // The first chunk also pools <s> and the prompt's tokens and the last chunk </s> (the
  // reference code's default); false pools content tokens only.
  bool include_special_tokens = true;
};

// One text's chunks.
struct ChunkEmbeddings {
  std::size_t dims = 0;
  std::vector<float> embeddings;                               // chunks x dims
  std::vector<std::pair<std::size_t, std::size_t>> spans;       // per chunk: [begin, end) of the text (bytes)
  std::vector<std::pair<std::size_t, std::size_t>> token_spans;  // per chunk: [begin, end) token indices, full sequence

  std::size_t size() const noexcept { return spans.size(); }
  const float* row(std::size_t i) const { return embeddings.data() + i * dims; }
};

}  // namespace jina3
