// Strict JSON reading (RFC 8259) for manifest.json and test references, on nlohmann-json.
// Strict means: no comments, no trailing commas, no duplicate object keys, no lone surrogates,
// no invalid UTF-8, no byte-order mark, no bytes after the document, no nesting deeper than
// kMaxDepth. Objects keep their members in document order (nlohmann::ordered_json).
#pragma once

#include <stdexcept>
#include <string_view>

#include <nlohmann/json.hpp>

namespace jina3::json {

using Value = nlohmann::ordered_json;

// Thrown for malformed text; what() says what is wrong and where ("line L, column C"), or for a
// duplicate key, which key (with its path, as in "special_ids.eos").
class ParseError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Objects and arrays nested deeper than this are refused.
constexpr int kMaxDepth = 256;

// Parses one JSON document. Throws ParseError.
Value parse(std::string_view text);

}  // namespace jina3::json
