// The benchmark's report: built in memory, printed once, by nlohmann-json. Objects keep insertion
// order (ordered_json) so the report reads in the order it was measured. A thin wrapper keeps the
// chaining calls (set(...).set(...), push(...)) that bench_main.cpp builds the report with.
#pragma once

#include <ostream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace jina3_bench {

class Json {
 public:
  Json() = default;  // null
  // Any value nlohmann can hold: bool, integers, double, strings.
  template <typename T, typename = std::enable_if_t<!std::is_same_v<std::decay_t<T>, Json>>>
  Json(T&& value) : value_(std::forward<T>(value)) {}

  static Json array() { return Json(nlohmann::ordered_json::array()); }
  static Json object() { return Json(nlohmann::ordered_json::object()); }
  template <typename T>
  static Json array_of(const std::vector<T>& values) {
    Json j = array();
    for (const auto& v : values) j.push(Json(v));
    return j;
  }

  // Appends to an array.
  Json& push(Json value);
  // Sets a key of an object (replacing an existing one in place) and returns *this for chaining.
  Json& set(const std::string& key, Json value);

  // Indented JSON; a double that is NaN or infinite (a measurement that could not be taken) is
  // written as null, as nlohmann does.
  void write(std::ostream& out) const;

  const nlohmann::ordered_json& value() const { return value_; }

 private:
  nlohmann::ordered_json value_;
};

}  // namespace jina3_bench
