// A small, strict JSON reader (RFC 8259) for manifest.json and test references.
// Strict means: no comments, no trailing commas, no duplicate object keys, no lone surrogates,
// no invalid UTF-8, no bytes after the document. Objects keep their members in document order.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace jina3::json {

// Thrown for malformed text; what() says what is wrong and where ("line L, column C").
class ParseError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Kind { Null, Bool, Number, String, Array, Object };
const char* kind_name(Kind kind) noexcept;  // "null", "boolean", "number", "string", "array", "object"

class Value;
struct Member;

class Value {
 public:
  Value() = default;
  static Value null() { return Value(); }
  static Value boolean(bool value);
  static Value number(double value, bool is_integer, std::int64_t integer);
  static Value string(std::string value);
  static Value array(std::vector<Value> items);
  static Value object(std::vector<Member> members);

  Kind kind() const noexcept { return kind_; }
  bool is_null() const noexcept { return kind_ == Kind::Null; }
  bool is_bool() const noexcept { return kind_ == Kind::Bool; }
  bool is_number() const noexcept { return kind_ == Kind::Number; }
  // A number written without fraction or exponent that fits in int64.
  bool is_integer() const noexcept { return kind_ == Kind::Number && is_integer_; }
  bool is_string() const noexcept { return kind_ == Kind::String; }
  bool is_array() const noexcept { return kind_ == Kind::Array; }
  bool is_object() const noexcept { return kind_ == Kind::Object; }

  // Accessors throw std::logic_error on the wrong kind: callers check the kind first.
  bool as_bool() const;
  double as_double() const;
  std::int64_t as_int() const;
  const std::string& as_string() const;
  const std::vector<Value>& as_array() const;
  const std::vector<Member>& as_object() const;

  // Object member by key, or nullptr (also when this is not an object).
  const Value* find(std::string_view key) const noexcept;

 private:
  Kind kind_ = Kind::Null;
  bool bool_ = false;
  bool is_integer_ = false;
  double number_ = 0.0;
  std::int64_t integer_ = 0;
  std::string string_;
  std::vector<Value> array_;
  std::vector<Member> object_;
};

struct Member {
  std::string key;
  Value value;
};

// Parses one JSON document. Throws ParseError.
Value parse(std::string_view text);

}  // namespace jina3::json
