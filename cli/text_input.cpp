// Input files of `jina3 embed`; see text_input.hpp.
#include "text_input.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include <fmt/format.h>

#include "errors.hpp"
#include "util/utf8.hpp"

namespace jina3_cli {
namespace {

constexpr std::size_t kReadBuffer = 1 << 20;

bool ends_with(const std::string& text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// The error's own text, without its "[json.exception.parse_error.101] parse error at line 1,
// column 5: " preamble (the line is ours, as each line is parsed alone, and the column is given
// apart), or for other errors (out_of_range.406) without the "[json.exception...] " tag.
std::string parse_error_detail(const nlohmann::json::exception& e) {
  std::string what = e.what();
  const auto column = what.find("column ");
  const auto colon = column == std::string::npos ? std::string::npos : what.find(": ", column);
  if (colon != std::string::npos) return what.substr(colon + 2);
  const auto bracket = what.find("] ");
  return bracket == std::string::npos ? what : what.substr(bracket + 2);
}

const char* type_name(const InputJson& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::boolean: return "a boolean";
    case nlohmann::json::value_t::string: return "a string";
    case nlohmann::json::value_t::array: return "an array";
    case nlohmann::json::value_t::object: return "an object";
    default: return "a number";
  }
}

// An `id` for the float-typed output rows. Strings, integers, booleans and null (and arrays and
// objects of them) carry over exactly; a non-integer number only if float32 holds it exactly,
// since the output would otherwise change it silently.
RowJson to_row_json(const InputJson& value, const std::string& where) {
  switch (value.type()) {
    case nlohmann::json::value_t::null: return nullptr;
    case nlohmann::json::value_t::boolean: return value.get<bool>();
    case nlohmann::json::value_t::string: return value.get_ref<const std::string&>();
    case nlohmann::json::value_t::number_integer: return value.get<std::int64_t>();
    case nlohmann::json::value_t::number_unsigned: return value.get<std::uint64_t>();
    case nlohmann::json::value_t::number_float: {
      const double number = value.get<double>();
      const auto narrow = static_cast<float>(number);
      if (static_cast<double>(narrow) != number || !std::isfinite(number)) {
        throw IoError(fmt::format("{}: `id` {} is a non-integer number that the output (float32 numbers) cannot "
                                  "carry exactly; use a string or an integer id", where, value.dump()));
      }
      return narrow;
    }
    case nlohmann::json::value_t::array: {
      RowJson out = RowJson::array();
      for (const auto& item : value) out.push_back(to_row_json(item, where));
      return out;
    }
    case nlohmann::json::value_t::object: {
      RowJson out = RowJson::object();
      for (const auto& [key, item] : value.items()) out[key] = to_row_json(item, where);
      return out;
    }
    default:
      throw IoError(fmt::format("{}: `id` cannot be carried to the output", where));
  }
}

// A text's spans: [[start, end], ...], non-negative integer character offsets. Whether they fit the
// text is the library's to judge (Encoder::late_chunk).
CharSpans read_spans(const InputJson& row, const std::string& field, const std::string& where) {
  const auto spans = row.find(field);
  if (spans == row.end()) throw IoError(fmt::format("{}: missing field `{}` (the text's spans)", where, field));
  if (!spans->is_array()) {
    throw IoError(fmt::format("{}: field `{}` is {}, not a list of [start, end] pairs", where, field,
                              type_name(*spans)));
  }
  CharSpans out;
  for (std::size_t k = 0; k < spans->size(); ++k) {
    const InputJson& pair = (*spans)[k];
    const auto offset_ok = [](const InputJson& v) { return v.is_number_unsigned(); };
    if (!pair.is_array() || pair.size() != 2 || !offset_ok(pair[0]) || !offset_ok(pair[1])) {
      throw IoError(fmt::format("{}: `{}`[{}] is {}, not a [start, end] pair of character offsets (integers >= 0)",
                                where, field, k, pair.dump()));
    }
    out.emplace_back(pair[0].get<std::uint64_t>(), pair[1].get<std::uint64_t>());
  }
  return out;
}

}  // namespace

void TextReader::warn_if_jsonl(const std::string& line) const {
  if (line.empty() || line.front() != '{') return;
  try {
    const InputJson value = InputJson::parse(line);
    if (!value.is_object() || !value.contains(field_)) return;
  } catch (const nlohmann::json::exception&) {
    return;
  }
  std::cerr << fmt::format("jina3: warning: {} line 1 is a JSON object with a `{}` field, but the input is read as "
                           "plain text lines (each line whole is a text); pass --format jsonl to embed the field, "
                           "or --format text to keep lines and silence this\n", name_, field_);
}

std::string block_lines(const std::string& input, const InputBlock& block) {
  if (block.lines.empty()) return input;
  if (block.lines.front() == block.lines.back()) return fmt::format("{}, line {}", input, block.lines.front());
  return fmt::format("{}, lines {}-{}", input, block.lines.front(), block.lines.back());
}

std::optional<std::pair<std::size_t, std::string>> split_text_error(const std::string& message) {
  if (message.rfind("text ", 0) != 0) return std::nullopt;
  std::size_t end = 5;
  while (end < message.size() && message[end] >= '0' && message[end] <= '9') ++end;
  if (end == 5 || end - 5 > 18 || end >= message.size() || message[end] != ' ') return std::nullopt;
  return std::make_pair(static_cast<std::size_t>(std::strtoull(message.c_str() + 5, nullptr, 10)),
                        "the text" + message.substr(end));
}

std::string text_error_where(const std::string& input, const InputBlock& block, const std::string& message) {
  if (const auto split = split_text_error(message); split && split->first < block.lines.size()) {
    return fmt::format("{}, line {}: {}", input, block.lines[split->first], split->second);
  }
  return fmt::format("{}: {}", block_lines(input, block), message);
}

std::vector<std::int64_t> char_offsets(std::string_view text, const std::vector<std::int64_t>& byte_offsets) {
  // chars[b]: the code points that start before byte b.
  std::vector<std::int64_t> chars(text.size() + 1, 0);
  std::int64_t count = 0;
  for (std::size_t b = 0; b < text.size(); ++b) {
    chars[b] = count;
    if ((static_cast<unsigned char>(text[b]) & 0xC0) != 0x80) ++count;
  }
  chars[text.size()] = count;
  std::vector<std::int64_t> out(byte_offsets.size());
  for (std::size_t i = 0; i < byte_offsets.size(); ++i) {
    const std::int64_t b = byte_offsets[i];
    out[i] = b < 0 ? b : b >= static_cast<std::int64_t>(text.size()) ? count + (b - static_cast<std::int64_t>(text.size())) : chars[b];
  }
  return out;
}

std::uint64_t char_to_byte(std::string_view text, std::uint64_t chars) {
  std::uint64_t seen = 0;
  for (std::size_t b = 0; b < text.size(); ++b) {
    if ((static_cast<unsigned char>(text[b]) & 0xC0) != 0x80) {
      if (seen == chars) return b;
      ++seen;
    }
  }
  return text.size() + (chars - seen);  // at or past the end: the library judges a span there
}

InputFormat input_format(const std::string& path, const std::string& format) {
  if (format == "text") return InputFormat::Text;
  if (format == "jsonl") return InputFormat::Jsonl;
  if (!format.empty()) throw UsageError(fmt::format("--format {}: use text or jsonl", format));
  if (path == "-" || ends_with(path, ".txt")) return InputFormat::Text;
  if (ends_with(path, ".jsonl")) return InputFormat::Jsonl;
  throw UsageError(fmt::format("cannot tell the format of input '{}': use a .txt file (one text per line), a "
                               ".jsonl file, - for lines on standard input, or --format text|jsonl", path));
}

void InputBlock::clear() {
  texts.clear();
  lines.clear();
  ids.clear();
  spans.clear();
}

TextReader::TextReader(const std::string& path, InputFormat format, std::string field, bool keep_ids,
                       std::string spans_field, bool warn_json)
    : name_(path == "-" ? "<stdin>" : path),
      format_(format),
      field_(std::move(field)),
      keep_ids_(keep_ids),
      spans_field_(std::move(spans_field)),
      warn_json_(warn_json && format == InputFormat::Text) {
  if (path == "-") {
    in_ = &std::cin;
    return;
  }
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    throw IoError(fmt::format("cannot open input {}: {}", path, std::strerror(errno)));
  }
  if (S_ISDIR(info.st_mode)) throw IoError(fmt::format("cannot open input {}: it is a directory", path));
  buffer_ = std::make_unique<char[]>(kReadBuffer);
  file_.rdbuf()->pubsetbuf(buffer_.get(), kReadBuffer);
  file_.open(path, std::ios::binary);
  if (!file_) throw IoError(fmt::format("cannot open input {}: {}", path, std::strerror(errno)));
  in_ = &file_;
}

bool TextReader::next_line(std::string& line) {
  if (!std::getline(*in_, line)) {
    if (in_->bad()) throw IoError(fmt::format("{}: read error after line {}", name_, line_number_));
    return false;
  }
  ++line_number_;
  if (!line.empty() && line.back() == '\r') line.pop_back();  // CRLF files
  // A UTF-8 byte order mark is not part of the first text.
  if (line_number_ == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
  return true;
}

void TextReader::add_jsonl(const std::string& line, InputBlock& block) {
  const auto where = [&] { return fmt::format("{}, line {}", name_, line_number_); };
  InputJson value;
  try {
    value = InputJson::parse(line);
  } catch (const nlohmann::json::parse_error& e) {
    throw IoError(fmt::format("{}: bad JSON at column {}: {}", where(), e.byte, parse_error_detail(e)));
  } catch (const nlohmann::json::exception& e) {
    // Not a syntax error but a value the parser cannot hold, e.g. out_of_range.406 for a number
    // such as 1e5000 (found by fuzz_cli_jsonl).
    throw IoError(fmt::format("{}: bad JSON: {}", where(), parse_error_detail(e)));
  }
  if (!value.is_object()) throw IoError(fmt::format("{}: expected a JSON object, got {}", where(), type_name(value)));
  const auto text = value.find(field_);
  if (text == value.end()) throw IoError(fmt::format("{}: missing field `{}`", where(), field_));
  if (!text->is_string()) {
    throw IoError(fmt::format("{}: field `{}` is {}, not a string", where(), field_, type_name(*text)));
  }
  if (!spans_field_.empty()) block.spans.push_back(read_spans(value, spans_field_, where()));
  if (keep_ids_) {  // before the text is moved out: --field may be `id` itself
    const auto id = value.find("id");
    block.ids.push_back(id == value.end() ? std::nullopt : std::optional<RowJson>(to_row_json(*id, where())));
  }
  block.texts.push_back(std::move(text->get_ref<std::string&>()));
  block.lines.push_back(line_number_);
}

bool TextReader::read_block(std::size_t max_texts, InputBlock& block) {
  block.clear();
  while (block.size() < max_texts && next_line(line_)) {
    if (format_ == InputFormat::Jsonl) {
      if (is_blank(line_)) continue;
      add_jsonl(line_, block);
    } else {
      if (warn_json_ && line_number_ == 1) warn_if_jsonl(line_);
      block.texts.push_back(line_);
      block.lines.push_back(line_number_);
      if (keep_ids_) block.ids.emplace_back();
    }
    if (const auto problem = jina3::utf8::check(block.texts.back())) {
      throw IoError(fmt::format("{}, line {}: invalid UTF-8 at byte {} of the text ({})", name_, line_number_,
                                problem->offset, problem->reason));
    }
  }
  return block.size() > 0;
}

std::optional<std::uint64_t> count_texts(const std::string& path, InputFormat format, const std::atomic<bool>& stop) {
  if (path == "-") return std::nullopt;
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) return std::nullopt;
  std::vector<char> buffer(kReadBuffer);
  std::uint64_t count = 0;
  bool in_line = false;   // bytes seen since the last newline
  bool nonblank = false;  // ... and one of them was not white space
  std::size_t got = 0;
  while (!stop.load(std::memory_order_relaxed) && (got = std::fread(buffer.data(), 1, buffer.size(), file)) > 0) {
    for (std::size_t i = 0; i < got; ++i) {
      const char c = buffer[i];
      if (c == '\n') {
        if (format == InputFormat::Text || nonblank) ++count;
        in_line = nonblank = false;
      } else {
        in_line = true;
        if (c != ' ' && c != '\t' && c != '\r') nonblank = true;
      }
    }
  }
  const bool failed = std::ferror(file) != 0 || stop.load();
  std::fclose(file);
  if (failed) return std::nullopt;
  if (in_line && (format == InputFormat::Text || nonblank)) ++count;  // a last line without its newline
  return count;
}

}  // namespace jina3_cli
