// Writing embeddings for `jina3 embed`: a .npy file (float32, rows x dims), a .jsonl file (one
// object per text) or JSONL on standard output, written block by block as the texts are embedded.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include <jina3/jina3.hpp>

#include "text_input.hpp"

namespace jina3_cli {

enum class OutputFormat { Npy, Jsonl };

// The format of an OUTPUT argument: "-" (JSONL on stdout), *.npy or *.jsonl. Throws UsageError.
OutputFormat output_format(const std::string& path);

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
  // Writes the rows of one block; first_index is the index of its first text in the whole input.
  virtual void write(const InputBlock& block, const jina3::Embeddings& embeddings, std::uint64_t first_index) = 0;
  // After the last block: completes the file (the .npy header gets its final shape).
  virtual void finish(std::uint64_t rows) = 0;
};

std::unique_ptr<EmbeddingWriter> make_writer(OutputFormat format, OutputFile& file, int dims);

}  // namespace jina3_cli
