// nlohmann-json types of the jina3 tool.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace jina3_cli {

// Input lines are parsed into ordered_json (keys in file order, numbers as double).
using InputJson = nlohmann::ordered_json;

// Output rows: keys in insertion order, and float (not double) numbers, so that each embedding
// value prints as the shortest text that reads back as the same float32 ("0.1234567", not
// "0.12345670163631439").
using RowJson = nlohmann::basic_json<nlohmann::ordered_map, std::vector, std::string, bool, std::int64_t,
                                     std::uint64_t, float>;

}  // namespace jina3_cli
