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
#include <string_view>
#include <utility>
#include <vector>

#include "json_types.hpp"

namespace jina3_cli {

enum class InputFormat { Text, Jsonl };

// The format of an INPUT argument: format ("text" or "jsonl") when given, else by the name: "-"
// (lines on stdin), *.txt or *.jsonl. Throws UsageError.
InputFormat input_format(const std::string& path, const std::string& format = "");

// A text's spans (late chunking): [start, end) in characters (code points) of the text.
using CharSpans = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

// One block of texts, in input order.
struct InputBlock {
  std::vector<std::string> texts;
  std::vector<std::uint64_t> lines;  // line number (from 1) of each text, for error messages
  std::vector<std::optional<RowJson>> ids;  // with ids kept: each text's `id`, if it had one
  std::vector<CharSpans> spans;             // with a spans field: each text's spans

  std::size_t size() const { return lines.size(); }
  void clear();
};

// "in.txt, lines 21-30": where a block is, for messages.
std::string block_lines(const std::string& input, const InputBlock& block);
// An error of the library about one text of a block ("text 5 is 40 tokens long ..."), as a
// message naming the input and the text's line ("in.txt, line 26: the text is 40 tokens long ...");
// other messages get the block's lines.
std::string text_error_where(const std::string& input, const InputBlock& block, const std::string& message);
// The index and the rest ("the text is 40 tokens long ...") of such a message; nullopt for others.
std::optional<std::pair<std::size_t, std::string>> split_text_error(const std::string& message);

// Character (code point) offsets of a valid UTF-8 text for its byte offsets; negative offsets
// (-1 for <s>, </s> and the prompt) stay as they are.
std::vector<std::int64_t> char_offsets(std::string_view text, const std::vector<std::int64_t>& byte_offsets);
// The byte offset of character index chars; past the end, the end plus the characters beyond it.
std::uint64_t char_to_byte(std::string_view text, std::uint64_t chars);

class TextReader {
 public:
  // path "-" reads standard input. field is the JSONL key holding the text; with keep_ids the
  // JSONL `id` of each text is kept for the output; spans_field, when not empty, is the JSONL key
  // of each text's spans (a list of [start, end] character offsets; required on every line).
  // warn_json: plain lines whose first one is a JSON object with the text field get a warning on
  // stderr (JSONL piped in without --format jsonl). Throws IoError if the file cannot be opened.
  TextReader(const std::string& path, InputFormat format, std::string field, bool keep_ids,
             std::string spans_field = "", bool warn_json = false);

  // Replaces block's contents with up to max_texts texts; returns false at the end of the input
  // (block then empty). Throws IoError naming the file and line for a bad line (invalid JSON or
  // UTF-8, ...) or a read error.
  bool read_block(std::size_t max_texts, InputBlock& block);

  const std::string& name() const noexcept { return name_; }

 private:
  bool next_line(std::string& line);
  void add_jsonl(const std::string& line, InputBlock& block);
  void warn_if_jsonl(const std::string& line) const;

  std::string name_;  // for messages: the path, or "<stdin>"
  InputFormat format_;
  std::string field_;
  bool keep_ids_;
  std::string spans_field_;
  bool warn_json_;
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
