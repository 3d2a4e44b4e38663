#include "json.hpp"

#include <stdexcept>

namespace jina3_bench {

Json& Json::push(Json value) {
  if (!value_.is_array()) throw std::logic_error("Json::push on a non-array");
  value_.push_back(std::move(value.value_));
  return *this;
}

Json& Json::set(const std::string& key, Json value) {
  if (!value_.is_object()) throw std::logic_error("Json::set on a non-object");
  value_[key] = std::move(value.value_);
  return *this;
}

void Json::write(std::ostream& out) const { out << value_.dump(2); }

}  // namespace jina3_bench
