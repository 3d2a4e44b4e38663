// Writing embeddings for `jina3 embed` and `jina3 chunk`: a .npy file (rows x columns of the
// precision's dtype), a .jsonl file (one object per text) or JSONL on standard output, written
// block by block as the texts are embedded.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include <jina3/jina3.hpp>

#include "json_types.hpp"
#include "text_input.hpp"

namespace jina3_cli {

enum class OutputFormat { Npy, Jsonl };

// The format of an OUTPUT argument: "-" (JSONL on stdout), *.npy or *.jsonl. Throws UsageError.
OutputFormat output_format(const std::string& path);

// How a row's numbers are written into JSON: as numbers (floats for float32/float16, integers for
// the others), or as one base64 string of the row's bytes (little-endian for float32/float16, as
// OpenAI's encoding_format=base64).
enum class JsonEncoding { Numbers, Base64 };
JsonEncoding json_encoding(const std::string& name);  // "numbers" or "base64"; throws UsageError

// The layout of one output row: precision and dims, row_bytes(precision, dims) bytes.
struct RowLayout {
  jina3::Precision precision = jina3::Precision::Float32;
  std::size_t dims = 0;
  JsonEncoding encoding = JsonEncoding::Numbers;

  std::size_t bytes() const noexcept { return jina3::row_bytes(precision, dims); }
};

// One row as a JSON value: an array of numbers, or a base64 string, as layout says.
RowJson row_json(const std::uint8_t* row, const RowLayout& layout);

// The destination file. A named file is written as a temporary file in the same directory and
// renamed over the name by commit(); until then (an error, an exception, SIGINT/SIGTERM/SIGHUP)
// the temporary file is removed, so a failed run leaves no partial output. "-" is standard output.
class OutputFile {
 public:
  explicit OutputFile(const std::string& path);  // throws IoError if the temporary file cannot be made
  ~OutputFile();                                 // removes the temporary file unless committed
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  void write(const void* data, std::size_t size);
  void rewind();   // to offset 0 (files only), to rewrite a header
  void commit();   // flush, close and rename into place; throws IoError
  bool seekable() const noexcept { return !is_stdout_; }

 private:
  [[noreturn]] void fail(const char* what) const;

  std::string path_;
  std::string temp_path_;
  std::FILE* stream_ = nullptr;
  bool is_stdout_ = false;
  bool committed_ = false;
};

class EmbeddingWriter {
 public:
  virtual ~EmbeddingWriter() = default;
  // Writes count rows of layout.bytes() each; first_index is the index of the first in the whole
  // input; ids (JSONL), when not null, holds each row's `id` (nullopt: none).
  virtual void write(const std::uint8_t* rows, std::size_t count, std::uint64_t first_index,
                     const std::optional<RowJson>* ids) = 0;
  // After the last block: completes the file (the .npy header gets its final shape).
  virtual void finish(std::uint64_t rows) = 0;
};

std::unique_ptr<EmbeddingWriter> make_writer(OutputFormat format, OutputFile& file, const RowLayout& layout);

// A whole .npy file of float32 values (rows x columns), e.g. int8/uint8 ranges (2 x dims).
void write_npy_f32(const std::string& path, const float* values, std::size_t rows, std::size_t columns);
// Reads int8/uint8 ranges from a .npy file of shape (2, dims), float32 or float64 (as
// jina3.calibration_ranges or numpy gives them). Throws IoError naming the file.
jina3::Ranges read_ranges_npy(const std::string& path);

}  // namespace jina3_cli
