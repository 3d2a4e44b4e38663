// The strict JSON reader used for manifest.json.
#include <catch2/catch.hpp>

#include <string>

#include "json.hpp"

using jina3::json::Kind;
using jina3::json::parse;
using jina3::json::ParseError;

TEST_CASE("json parses every kind of value", "[unit][json]") {
  auto root = parse(R"({"a": null, "b": true, "c": false, "d": -12, "e": 1.5e2, "f": "x\"y",
                       "g": [1, [2], {}], "h": {"k": "v"}})");
  REQUIRE(root.is_object());
  CHECK(root.as_object().size() == 8);
  CHECK(root.as_object()[0].key == "a");  // document order kept
  CHECK(root.find("a")->is_null());
  CHECK(root.find("b")->as_bool() == true);
  CHECK(root.find("c")->as_bool() == false);
  CHECK(root.find("d")->is_integer());
  CHECK(root.find("d")->as_int() == -12);
  CHECK_FALSE(root.find("e")->is_integer());
  CHECK(root.find("e")->as_double() == 150.0);
  CHECK(root.find("f")->as_string() == "x\"y");
  CHECK(root.find("g")->as_array().size() == 3);
  CHECK(root.find("g")->as_array()[1].as_array()[0].as_int() == 2);
  CHECK(root.find("h")->find("k")->as_string() == "v");
  CHECK(root.find("missing") == nullptr);
}

TEST_CASE("json decodes escapes and unicode", "[unit][json]") {
  CHECK(parse(R"("\n\t\r\b\f\/\\")").as_string() == "\n\t\r\b\f/\\");
  CHECK(parse(R"("\u00e9")").as_string() == "\xC3\xA9");
  CHECK(parse(R"("\u20AC")").as_string() == "\xE2\x82\xAC");
  CHECK(parse(R"("\ud83d\ude00")").as_string() == "\xF0\x9F\x98\x80");  // surrogate pair -> U+1F600
  CHECK(parse("\"\xF0\x9F\x98\x80 raw\"").as_string() == "\xF0\x9F\x98\x80 raw");
}

TEST_CASE("json numbers", "[unit][json]") {
  CHECK(parse("0").as_int() == 0);
  CHECK(parse("-0.25").as_double() == -0.25);
  CHECK(parse("9223372036854775807").as_int() == INT64_C(9223372036854775807));
  auto big = parse("9223372036854775808");  // beyond int64: still a number, not an integer
  CHECK(big.is_number());
  CHECK_FALSE(big.is_integer());
  CHECK(parse("1e-400").as_double() == 0.0);  // underflow rounds to zero
  CHECK(parse("0.1").as_double() == 0.1);
  CHECK(parse("1.0").is_integer() == false);
}

TEST_CASE("json rejects malformed documents", "[unit][json]") {
  const char* bad[] = {
      "",             "   ",          "{",          "[1, 2",        "[1,]",         "{\"a\":1,}",
      "{\"a\" 1}",    "{a: 1}",       "'x'",        "tru",          "nul",          "01",
      "1.",           ".5",           "-",          "1e",           "+1",           "\"abc",
      "\"\\x\"",      "\"\\u12\"",    "\"\\ud800\"", "\"\\udc00\"",  "\"a\nb\"",     "[1] 2",
      "{\"a\":1,\"a\":2}", "1e999",   "// c\n1",    "NaN",          "\"\xff\"",     "\"\xC0\xAF\"",
  };
  for (const char* text : bad) {
    INFO("input: " << text);
    CHECK_THROWS_AS(parse(text), ParseError);
  }
}

TEST_CASE("json errors say where", "[unit][json]") {
  try {
    parse("{\n  \"a\": [1, 2,]\n}");
    FAIL("no exception");
  } catch (const ParseError& e) {
    CHECK_THAT(e.what(), Catch::Contains("line 2"));
  }
}

TEST_CASE("json refuses absurd nesting instead of overflowing the stack", "[unit][json]") {
  std::string deep(100000, '[');
  CHECK_THROWS_AS(parse(deep), ParseError);
  std::string ok = std::string(200, '[') + std::string(200, ']');
  CHECK(parse(ok).is_array());
}

TEST_CASE("json accessors check the kind", "[unit][json]") {
  auto value = parse("\"s\"");
  CHECK_THROWS_AS(value.as_int(), std::logic_error);
  CHECK_THROWS_AS(value.as_array(), std::logic_error);
  CHECK(jina3::json::kind_name(value.kind()) == std::string("string"));
  CHECK(value.kind() == Kind::String);
}
