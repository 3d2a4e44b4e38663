// UTF-8 validation following the well-formed byte sequence table of Unicode (section 3.9, D92).
#include "util/utf8.hpp"

namespace jina3::utf8 {
namespace {

bool is_continuation(unsigned char byte) { return (byte & 0xC0) == 0x80; }

}  // namespace

std::optional<Problem> check(std::string_view text) noexcept {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t size = text.size();
  std::size_t i = 0;
  while (i < size) {
    const unsigned char lead = bytes[i];
    if (lead < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    if (lead >= 0xC2 && lead <= 0xDF) length = 2;
    else if (lead >= 0xE0 && lead <= 0xEF) length = 3;
    else if (lead >= 0xF0 && lead <= 0xF4) length = 4;
    else if (lead == 0xC0 || lead == 0xC1) return Problem{i, "overlong encoding"};
    else if (lead >= 0x80 && lead <= 0xBF) return Problem{i, "unexpected continuation byte"};
    else return Problem{i, "byte that never occurs in UTF-8"};  // 0xF5..0xFF

    for (std::size_t k = 1; k < length; ++k) {
      if (i + k >= size || !is_continuation(bytes[i + k])) return Problem{i, "truncated sequence"};
    }
    // The second byte's range rules out overlong forms, surrogates and values above U+10FFFF.
    const unsigned char second = bytes[i + 1];
    if (lead == 0xE0 && second < 0xA0) return Problem{i, "overlong encoding"};
    if (lead == 0xF0 && second < 0x90) return Problem{i, "overlong encoding"};
    if (lead == 0xED && second >= 0xA0) return Problem{i, "surrogate code point"};
    if (lead == 0xF4 && second >= 0x90) return Problem{i, "code point above U+10FFFF"};
    i += length;
  }
  return std::nullopt;
}

void append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace jina3::utf8
