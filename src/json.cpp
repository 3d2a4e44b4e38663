// Recursive-descent JSON parser; see json.hpp for what "strict" means here.
#include "json.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <string>
#include <unordered_set>

#include <fmt/format.h>

#include "utf8.hpp"

namespace jina3::json {

const char* kind_name(Kind kind) noexcept {
  switch (kind) {
    case Kind::Null: return "null";
    case Kind::Bool: return "boolean";
    case Kind::Number: return "number";
    case Kind::String: return "string";
    case Kind::Array: return "array";
    case Kind::Object: return "object";
  }
  return "unknown";
}

Value Value::boolean(bool value) {
  Value v;
  v.kind_ = Kind::Bool;
  v.bool_ = value;
  return v;
}

Value Value::number(double value, bool is_integer, std::int64_t integer) {
  Value v;
  v.kind_ = Kind::Number;
  v.number_ = value;
  v.is_integer_ = is_integer;
  v.integer_ = integer;
  return v;
}

Value Value::string(std::string value) {
  Value v;
  v.kind_ = Kind::String;
  v.string_ = std::move(value);
  return v;
}

Value Value::array(std::vector<Value> items) {
  Value v;
  v.kind_ = Kind::Array;
  v.array_ = std::move(items);
  return v;
}

Value Value::object(std::vector<Member> members) {
  Value v;
  v.kind_ = Kind::Object;
  v.object_ = std::move(members);
  return v;
}

namespace {

[[noreturn]] void wrong_kind(Kind have, const char* want) {
  throw std::logic_error(fmt::format("JSON value is a {}, not a {}", kind_name(have), want));
}

}  // namespace

bool Value::as_bool() const {
  if (kind_ != Kind::Bool) wrong_kind(kind_, "boolean");
  return bool_;
}

double Value::as_double() const {
  if (kind_ != Kind::Number) wrong_kind(kind_, "number");
  return number_;
}

std::int64_t Value::as_int() const {
  if (!is_integer()) wrong_kind(kind_, "integer");
  return integer_;
}

const std::string& Value::as_string() const {
  if (kind_ != Kind::String) wrong_kind(kind_, "string");
  return string_;
}

const std::vector<Value>& Value::as_array() const {
  if (kind_ != Kind::Array) wrong_kind(kind_, "array");
  return array_;
}

const std::vector<Member>& Value::as_object() const {
  if (kind_ != Kind::Object) wrong_kind(kind_, "object");
  return object_;
}

const Value* Value::find(std::string_view key) const noexcept {
  if (kind_ != Kind::Object) return nullptr;
  for (const Member& member : object_) {
    if (member.key == key) return &member.value;
  }
  return nullptr;
}

namespace {

// Nesting deeper than this is refused rather than risking the stack.
constexpr int kMaxDepth = 256;

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Value document() {
    if (auto problem = utf8::check(text_)) {
      pos_ = problem->offset;
      fail(fmt::format("invalid UTF-8 ({})", problem->reason));
    }
    skip_whitespace();
    Value root = value(0);
    skip_whitespace();
    if (pos_ != text_.size()) fail("unexpected data after the JSON document");
    return root;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < pos_ && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    throw ParseError(fmt::format("{} at line {}, column {}", what, line, column));
  }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }

  void skip_whitespace() {
    while (!at_end()) {
      char c = text_[pos_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++pos_;
    }
  }

  void expect_literal(std::string_view literal) {
    if (text_.substr(pos_, literal.size()) != literal) fail("invalid literal");
    pos_ += literal.size();
  }

  Value value(int depth) {
    if (depth > kMaxDepth) fail("nesting too deep");
    if (at_end()) fail("unexpected end of input");
    switch (peek()) {
      case '{': return object(depth);
      case '[': return array(depth);
      case '"': return Value::string(string());
      case 't': expect_literal("true"); return Value::boolean(true);
      case 'f': expect_literal("false"); return Value::boolean(false);
      case 'n': expect_literal("null"); return Value::null();
      default:
        if (peek() == '-' || (peek() >= '0' && peek() <= '9')) return number();
        fail(fmt::format("unexpected character '{}'", peek()));
    }
  }

  Value object(int depth) {
    ++pos_;  // '{'
    std::vector<Member> members;
    std::unordered_set<std::string> keys;
    skip_whitespace();
    if (peek() == '}') {
      ++pos_;
      return Value::object(std::move(members));
    }
    while (true) {
      skip_whitespace();
      if (peek() != '"') fail("expected a string key");
      std::size_t key_pos = pos_;
      std::string key = string();
      if (!keys.insert(key).second) {
        pos_ = key_pos;
        fail(fmt::format("duplicate key \"{}\"", key));
      }
      skip_whitespace();
      if (peek() != ':') fail("expected ':'");
      ++pos_;
      skip_whitespace();
      Value member = value(depth + 1);
      members.push_back(Member{std::move(key), std::move(member)});
      skip_whitespace();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') {
        ++pos_;
        return Value::object(std::move(members));
      }
      fail("expected ',' or '}'");
    }
  }

  Value array(int depth) {
    ++pos_;  // '['
    std::vector<Value> items;
    skip_whitespace();
    if (peek() == ']') {
      ++pos_;
      return Value::array(std::move(items));
    }
    while (true) {
      skip_whitespace();
      items.push_back(value(depth + 1));
      skip_whitespace();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == ']') {
        ++pos_;
        return Value::array(std::move(items));
      }
      fail("expected ',' or ']'");
    }
  }

  unsigned hex4() {
    if (pos_ + 4 > text_.size()) fail("truncated \\u escape");
    unsigned value = 0;
    for (int k = 0; k < 4; ++k) {
      char c = text_[pos_++];
      value <<= 4;
      if (c >= '0' && c <= '9') value |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') value |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') value |= static_cast<unsigned>(c - 'A' + 10);
      else fail("invalid hex digit in \\u escape");
    }
    return value;
  }

  std::string string() {
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (at_end()) fail("unterminated string");
      char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      ++pos_;
      if (at_end()) fail("unterminated string");
      char escape = text_[pos_++];
      switch (escape) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          char32_t cp = hex4();
          if (cp >= 0xDC00 && cp <= 0xDFFF) fail("lone low surrogate in \\u escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (text_.substr(pos_, 2) != "\\u") fail("lone high surrogate in \\u escape");
            pos_ += 2;
            char32_t low = hex4();
            if (low < 0xDC00 || low > 0xDFFF) fail("high surrogate not followed by a low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          utf8::append(out, cp);
          break;
        }
        default:
          --pos_;
          fail("invalid escape in string");
      }
    }
  }

  Value number() {
    const std::size_t start = pos_;
    bool integer = true;
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
    } else if (peek() >= '1' && peek() <= '9') {
      while (peek() >= '0' && peek() <= '9') ++pos_;
    } else {
      fail("invalid number");
    }
    if (peek() == '.') {
      integer = false;
      ++pos_;
      if (!(peek() >= '0' && peek() <= '9')) fail("invalid number: digit expected after '.'");
      while (peek() >= '0' && peek() <= '9') ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      integer = false;
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!(peek() >= '0' && peek() <= '9')) fail("invalid number: digit expected in exponent");
      while (peek() >= '0' && peek() <= '9') ++pos_;
    }
    const char* first = text_.data() + start;
    const char* last = text_.data() + pos_;
    double as_double = 0.0;
    auto [end, error] = std::from_chars(first, last, as_double);
    if (error == std::errc::result_out_of_range) {
      // Underflow (a negative exponent) rounds to zero, as every float consumer would; overflow is
      // an error rather than a silent infinity.
      std::string_view literal(first, static_cast<std::size_t>(last - first));
      std::size_t exponent = literal.find_first_of("eE");
      if (exponent == std::string_view::npos || exponent + 1 >= literal.size() || literal[exponent + 1] != '-') {
        pos_ = start;
        fail("number out of range");
      }
      as_double = literal[0] == '-' ? -0.0 : 0.0;
      error = std::errc();
      end = last;
    }
    if (error != std::errc() || end != last) {
      pos_ = start;
      fail("invalid number");
    }
    std::int64_t as_integer = 0;
    if (integer) {
      auto [int_end, int_error] = std::from_chars(first, last, as_integer);
      integer = int_error == std::errc() && int_end == last;  // false when it does not fit int64
    }
    return Value::number(as_double, integer, integer ? as_integer : 0);
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

Value parse(std::string_view text) { return Parser(text).document(); }

}  // namespace jina3::json
