// Input files of `jina3 embed`; see text_input.hpp.
#include "text_input.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
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

}  // namespace

InputFormat input_format(const std::string& path) {
  if (path == "-" || ends_with(path, ".txt")) return InputFormat::Text;
  if (ends_with(path, ".jsonl")) return InputFormat::Jsonl;
  throw UsageError(fmt::format("cannot tell the format of input '{}': use a .txt file (one text per line), a "
                               ".jsonl file, or - for lines on standard input", path));
}

void InputBlock::clear() {
  texts.clear();
  lines.clear();
  ids.clear();
}

TextReader::TextReader(const std::string& path, InputFormat format, std::string field, bool keep_ids)
    : name_(path == "-" ? "<stdin>" : path), format_(format), field_(std::move(field)), keep_ids_(keep_ids) {
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
