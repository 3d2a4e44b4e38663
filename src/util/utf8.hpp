// UTF-8 validation (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace jina3::utf8 {

// Where and why a byte string stops being valid UTF-8.
struct Problem {
  std::size_t offset;  // byte offset of the first byte of the offending sequence
  const char* reason;  // e.g. "truncated sequence", "overlong encoding"
};

// nullopt when text is valid UTF-8.
std::optional<Problem> check(std::string_view text) noexcept;

// Appends the UTF-8 encoding of a Unicode scalar value (caller guarantees cp <= 0x10FFFF and
// cp is not a surrogate).
void append(std::string& out, char32_t cp);

}  // namespace jina3::utf8
