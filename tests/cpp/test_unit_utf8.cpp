// UTF-8 validation: every class of ill-formed sequence, with the byte offset of the problem.
#include <catch2/catch.hpp>

#include <string>

#include "util/utf8.hpp"

using jina3::utf8::check;

TEST_CASE("utf8 accepts well-formed text", "[unit][utf8]") {
  CHECK_FALSE(check(""));
  CHECK_FALSE(check("plain ascii"));
  CHECK_FALSE(check(std::string("nul\0inside", 10)));
  CHECK_FALSE(check("\xC3\xA9t\xC3\xA9"));                 // é
  CHECK_FALSE(check("\xE2\x82\xAC"));                     // €
  CHECK_FALSE(check("\xED\x9F\xBF"));                     // U+D7FF, just below the surrogates
  CHECK_FALSE(check("\xEE\x80\x80"));                     // U+E000, just above
  CHECK_FALSE(check("\xF0\x9F\x98\x80"));                 // U+1F600
  CHECK_FALSE(check("\xF4\x8F\xBF\xBF"));                 // U+10FFFF
  CHECK_FALSE(check("\xE4\xBD\xA0\xE5\xA5\xBD"));         // 你好
}

TEST_CASE("utf8 reports the offset and kind of each error", "[unit][utf8]") {
  struct Case {
    std::string text;
    std::size_t offset;
    std::string reason;
  };
  const Case cases[] = {
      {"ab\xFF", 2, "byte that never occurs in UTF-8"},
      {"\xFE", 0, "byte that never occurs in UTF-8"},
      {"\xF5\x80\x80\x80", 0, "byte that never occurs in UTF-8"},
      {"x\x80", 1, "unexpected continuation byte"},
      {"\xC3", 0, "truncated sequence"},
      {"abc\xE2\x82", 3, "truncated sequence"},
      {"\xF0\x9F\x98", 0, "truncated sequence"},
      {"\xE2\x82x", 0, "truncated sequence"},
      {"\xC0\xAF", 0, "overlong encoding"},
      {"\xC1\xBF", 0, "overlong encoding"},
      {"\xE0\x80\xAF", 0, "overlong encoding"},
      {"\xF0\x80\x80\xAF", 0, "overlong encoding"},
      {"ok\xED\xA0\x80", 2, "surrogate code point"},
      {"\xED\xBF\xBF", 0, "surrogate code point"},
      {"\xF4\x90\x80\x80", 0, "code point above U+10FFFF"},
  };
  for (const auto& c : cases) {
    INFO("case with expected reason " << c.reason << " at " << c.offset);
    auto problem = check(c.text);
    REQUIRE(problem);
    CHECK(problem->offset == c.offset);
    CHECK(std::string(problem->reason) == c.reason);
  }
}

TEST_CASE("utf8 append encodes scalar values", "[unit][utf8]") {
  std::string out;
  for (char32_t cp : {U'A', U'\u00E9', U'\u20AC', U'\U0001F600', U'\U0010FFFF'}) jina3::utf8::append(out, cp);
  CHECK(out == "A\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF");
  CHECK_FALSE(check(out));
}
