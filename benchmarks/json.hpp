// A minimal JSON value for the benchmark's report: built in memory, printed once. Objects keep
// insertion order so the report reads in the order it was measured.
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace jina3_bench {

class Json {
 public:
  enum class Kind { Null, Bool, Int, Number, String, Array, Object };

  Json() = default;  // null
  Json(bool value) : kind_(Kind::Bool), bool_(value) {}
  Json(int value) : kind_(Kind::Int), int_(value) {}
  Json(unsigned value) : kind_(Kind::Int), int_(value) {}
  Json(long value) : kind_(Kind::Int), int_(value) {}
  Json(long long value) : kind_(Kind::Int), int_(value) {}
  Json(unsigned long value) : kind_(Kind::Int), int_(static_cast<std::int64_t>(value)) {}
  Json(unsigned long long value) : kind_(Kind::Int), int_(static_cast<std::int64_t>(value)) {}
  Json(double value) : kind_(Kind::Number), number_(value) {}
  Json(const char* value) : kind_(Kind::String), string_(value) {}
  Json(std::string value) : kind_(Kind::String), string_(std::move(value)) {}

  static Json array() {
    Json j;
    j.kind_ = Kind::Array;
    return j;
  }
  static Json object() {
    Json j;
    j.kind_ = Kind::Object;
    return j;
  }
  template <typename T>
  static Json array_of(const std::vector<T>& values) {
    Json j = array();
    for (const auto& v : values) j.push(Json(v));
    return j;
  }

  // Appends to an array.
  Json& push(Json value);
  // Sets a key of an object (replacing an existing one) and returns *this for chaining.
  Json& set(const std::string& key, Json value);

  void write(std::ostream& out, int indent = 0) const;

 private:
  Kind kind_ = Kind::Null;
  bool bool_ = false;
  std::int64_t int_ = 0;
  double number_ = 0.0;
  std::string string_;
  std::vector<Json> items_;
  std::vector<std::pair<std::string, Json>> members_;
};

}  // namespace jina3_bench
