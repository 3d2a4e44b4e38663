// Conversions for the outputs beyond float32 sentence embeddings (include/jina3/outputs.hpp):
// precisions and ranges, and text positions as Python counts them. The quantisation, token and
// chunking logic is the core's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include <pybind11/numpy.h>

#include <jina3/outputs.hpp>

#include "arrays.hpp"
#include "module.hpp"

namespace jina3::python {

// The precision keyword: a name the core knows ("float32", ..., "ubinary").
Precision precision_from_python(py::handle precision);

// ranges=None gives nullopt; otherwise an array-like of shape (2, k), float32 (min row, max row).
// Any other shape is an InvalidArgumentError naming it; k and max > min are the core's to check.
std::optional<Ranges> ranges_from_python(py::handle ranges);

// rows x dims output of precision, from row_bytes(precision, dims) bytes per row: float32,
// float16, int8 (int8, binary) or uint8 (uint8, ubinary), shape (rows, dims) or (rows, dims / 8).
py::array precision_array(std::vector<std::uint8_t>&& bytes, std::size_t rows, std::size_t dims,
                          Precision precision);

// Positions in one text as Python indexes it: str indices (code points) for a str, byte offsets
// for bytes. The core counts bytes of the UTF-8 text.
class TextPositions {
 public:
  // owner: the str or bytes object; utf8: its UTF-8 bytes (alive as long as this object).
  TextPositions(py::handle owner, std::string_view utf8);

  std::size_t length() const noexcept;  // len(owner)
  const char* unit() const noexcept { return bytes_text_ ? "bytes" : "characters"; }  // what length() counts
  // The byte offset of Python index i (0 <= i <= length()).
  std::size_t to_bytes(std::size_t index) const noexcept;
  // The Python index of a byte offset at a character boundary (-1 stays -1, for specials).
  std::int64_t from_bytes(std::int64_t byte) const noexcept;

 private:
  std::size_t bytes_ = 0;
  bool bytes_text_ = false;
  std::vector<std::size_t> starts_;  // byte offset of each code point, then bytes_; empty when 1:1
};

// spans= of Encoder.late_chunk: one list of (start, end) pairs per text, in Python positions, as
// byte offsets for the core. Raises InvalidArgumentError naming the span for one outside its
// text or empty or reversed (in the caller's units); whether a span holds a token is the core's
// check. A list count that differs from the texts' is passed on for the core to report.
std::vector<std::vector<std::pair<std::size_t, std::size_t>>> spans_from_python(
    py::handle spans, const std::vector<TextPositions>& texts);

// Registers jina3.calibration_ranges, jina3.quantize and the result classes
// jina3.TokenEmbeddings and jina3.ChunkEmbeddings.
void register_outputs(py::module_& m);

// Python objects for the core's results (texts: the positions of each input text).
py::list token_results(std::vector<TokenEmbeddings>&& results, const std::vector<TextPositions>& texts);
py::list chunk_results(std::vector<ChunkEmbeddings>&& results, const std::vector<TextPositions>& texts);

}  // namespace jina3::python
