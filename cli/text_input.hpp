// Reading texts for `jina3 embed`: a .txt file (one text per line), a .jsonl file (one JSON object
// per line, the text in a named field) or lines on standard input, read in blocks so that memory
// does not grow with the input.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <istream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "json_types.hpp"

namespace jina3_cli {

enum class InputFormat { Text, Jsonl };

// The format of an INPUT argument: "-" (lines on stdin), *.txt or *.jsonl. Throws UsageError.
InputFormat input_format(const std::string& path);

// One block of texts, in input order.
struct InputBlock {
  std::vector<std::string> texts;
  std::vector<std::uint64_t> lines;  // line number (from 1) of each text, for error messages
  std::vector<std::optional<RowJson>> ids;  // with ids kept: each text's `id`, if it had one

  std::size_t size() const { return lines.size(); }
  void clear();
};

class TextReader {
 public:
  // path "-" reads standard input (plain lines). field is the JSONL key holding the text; with
  // keep_ids the JSONL `id` of each text is kept for the output. Throws IoError if the file
  // cannot be opened.
  TextReader(const std::string& path, InputFormat format, std::string field, bool keep_ids);

  // Replaces block's contents with up to max_texts texts; returns false at the end of the input
  // (block then empty). Throws IoError naming the file and line for a bad line (invalid JSON or
  // UTF-8, ...) or a read error.
  bool read_block(std::size_t max_texts, InputBlock& block);

  const std::string& name() const noexcept { return name_; }

 private:
  bool next_line(std::string& line);
  void add_jsonl(const std::string& line, InputBlock& block);

  std::string name_;  // for messages: the path, or "<stdin>"
  InputFormat format_;
  std::string field_;
  bool keep_ids_;
  std::unique_ptr<char[]> buffer_;
  std::ifstream file_;
  std::istream* in_ = nullptr;
  std::uint64_t line_number_ = 0;
  std::string line_;
};

// How many texts the file holds (lines; for JSONL, lines that are not blank), read quickly for
// the progress display. Gives nullopt for stdin, on a read error, or once stop is set.
std::optional<std::uint64_t> count_texts(const std::string& path, InputFormat format, const std::atomic<bool>& stop);

}  // namespace jina3_cli
