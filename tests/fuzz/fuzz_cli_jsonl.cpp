// fuzz_cli_jsonl: the jina3 tool's input reader (cli/text_input.cpp) on fuzzed .jsonl and .txt
// files. Input: one control byte, then the file's bytes.
//   control bit 0: .txt instead of .jsonl; bit 1: keep ids; bit 2: --field "id" instead of
//   "text"; bits 3-5: block size 1 + value.
// The bytes are written to a scratch file and read block by block, as `jina3 embed` reads.
// Checked on each input:
// - only IoError comes out (a bad line, missing field, wrong type, invalid UTF-8), and its message
//   names the file and a line number; anything else (a nlohmann-json exception leaking, a crash,
//   a sanitizer report) fails;
// - every text handed on is valid UTF-8; blocks hold at most the block size; line numbers rise;
// - with ids kept there is one id slot per text;
// - for .txt input, texts are exactly the file's lines: split at \n, one trailing \r dropped
//   (CRLF), a UTF-8 byte order mark dropped from the first, up to the first bad line.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "errors.hpp"
#include "fuzz_support.hpp"
#include "text_input.hpp"
#include "util/utf8.hpp"

const char* const jina3::fuzz::kTarget = "fuzz_cli_jsonl";

namespace {

using jina3::fuzz::fail;

std::string scratch_path(const char* extension) {
  static const std::string stem = [] {
    const char* tmp = std::getenv("TMPDIR");
    return std::string(tmp && *tmp ? tmp : "/tmp") + "/jina3-fuzz-jsonl-" + std::to_string(::getpid());
  }();
  return stem + extension;
}

// The lines of a .txt file as the reader promises to give them.
std::vector<std::string> expected_lines(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> lines;
  std::string line;
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == '\n') {
      lines.push_back(line);
      line.clear();
    } else {
      line += static_cast<char>(data[i]);
    }
  }
  if (!line.empty()) lines.push_back(line);
  for (auto& l : lines) {
    if (!l.empty() && l.back() == '\r') l.pop_back();
  }
  if (!lines.empty() && lines[0].compare(0, 3, "\xEF\xBB\xBF") == 0) lines[0].erase(0, 3);
  return lines;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t control = data[0];
  const bool text_format = control & 1;
  const bool keep_ids = control & 2;
  const std::string field = control & 4 ? "id" : "text";
  const std::size_t block_size = 1 + ((control >> 3) & 7);
  const std::string path = scratch_path(text_format ? ".txt" : ".jsonl");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
    if (!out) fail("cannot write the scratch file");
  }
  const auto format = jina3_cli::input_format(path);
  if ((format == jina3_cli::InputFormat::Text) != text_format) fail("input_format disagrees with the extension");
  std::uint64_t last_line = 0;
  std::size_t texts = 0;
  const std::vector<std::string> lines =
      text_format ? expected_lines(data + 1, size - 1) : std::vector<std::string>{};
  try {
    jina3_cli::TextReader reader(path, format, field, keep_ids);
    jina3_cli::InputBlock block;
    while (reader.read_block(block_size, block)) {
      if (block.size() == 0 || block.size() > block_size) fail("block size out of range");
      if (block.texts.size() != block.size()) fail("texts and line numbers differ in count");
      if (keep_ids && block.ids.size() != block.size()) fail("ids kept but not one per text");
      for (std::size_t i = 0; i < block.size(); ++i) {
        if (block.lines[i] <= last_line) fail("line numbers do not rise");
        last_line = block.lines[i];
        if (jina3::utf8::check(block.texts[i])) fail("invalid UTF-8 handed on");
        if (text_format && (texts >= lines.size() || block.texts[i] != lines[texts] || block.lines[i] != texts + 1)) {
          fail("a .txt text is not the file's line");
        }
        ++texts;
      }
    }
    if (block.size() != 0) fail("the end of input left a block");
    if (text_format && texts != lines.size()) fail("a .txt file's lines were not all read");
  } catch (const jina3_cli::IoError& e) {
    const std::string what = e.what();
    if (what.find(path) == std::string::npos) fail("an IoError that does not name the file");
    if (what.find(", line ") == std::string::npos) fail("an IoError that does not name the line");
  }
  return 0;
}
