// The strict JSON reader used for manifest.json: nlohmann-json plus jina3's duplicate-key and
// nesting checks.
#include <catch2/catch.hpp>

#include <cstdint>
#include <iterator>
#include <string>

#include "util/json.hpp"

using jina3::json::parse;
using jina3::json::ParseError;
using jina3::json::Value;

TEST_CASE("json parses every kind of value", "[unit][json]") {
  auto root = parse(R"({"a": null, "b": true, "c": false, "d": -12, "e": 1.5e2, "f": "x\"y",
                       "g": [1, [2], {}], "h": {"k": "v"}})");
  REQUIRE(root.is_object());
  CHECK(root.size() == 8);
  CHECK(root.begin().key() == "a");  // document order kept
  CHECK(std::prev(root.end()).key() == "h");
  CHECK(root.at("a").is_null());
  CHECK(root.at("b").get<bool>() == true);
  CHECK(root.at("c").get<bool>() == false);
  CHECK(root.at("d").is_number_integer());
  CHECK(root.at("d").get<std::int64_t>() == -12);
  CHECK_FALSE(root.at("e").is_number_integer());
  CHECK(root.at("e").get<double>() == 150.0);
  CHECK(root.at("f").get<std::string>() == "x\"y");
  CHECK(root.at("g").size() == 3);
  CHECK(root.at("g")[1][0].get<std::int64_t>() == 2);
  CHECK(root.at("h").at("k").get<std::string>() == "v");
  CHECK(root.find("missing") == root.end());
}

TEST_CASE("json decodes escapes and unicode", "[unit][json]") {
  CHECK(parse(R"("\n\t\r\b\f\/\\")").get<std::string>() == "\n\t\r\b\f/\\");
  CHECK(parse(R"("\u00e9")").get<std::string>() == "\xC3\xA9");
  CHECK(parse(R"("\u20AC")").get<std::string>() == "\xE2\x82\xAC");
  CHECK(parse(R"("\ud83d\ude00")").get<std::string>() == "\xF0\x9F\x98\x80");  // surrogate pair -> U+1F600
  CHECK(parse("\"\xF0\x9F\x98\x80 raw\"").get<std::string>() == "\xF0\x9F\x98\x80 raw");
}

TEST_CASE("json numbers", "[unit][json]") {
  CHECK(parse("0").get<std::int64_t>() == 0);
  CHECK(parse("-0.25").get<double>() == -0.25);
  CHECK(parse("9223372036854775807").get<std::int64_t>() == INT64_C(9223372036854775807));
  auto big = parse("9223372036854775808");  // beyond int64: kept exactly, as unsigned (the manifest reader range-checks)
  CHECK(big.is_number_unsigned());
  CHECK(big.get<std::uint64_t>() == UINT64_C(9223372036854775808));
  auto huge = parse("18446744073709551616");  // beyond uint64: a float, not an integer
  CHECK(huge.is_number_float());
  CHECK_FALSE(huge.is_number_integer());
  CHECK(parse("1e-400").get<double>() == 0.0);  // underflow rounds to zero
  CHECK(parse("0.1").get<double>() == 0.1);
  CHECK(parse("1.0").is_number_integer() == false);
}

TEST_CASE("json rejects malformed documents", "[unit][json]") {
  const char* bad[] = {
      "",             "   ",          "{",          "[1, 2",        "[1,]",         "{\"a\":1,}",
      "{\"a\" 1}",    "{a: 1}",       "'x'",        "tru",          "nul",          "01",
      "1.",           ".5",           "-",          "1e",           "+1",           "\"abc",
      "\"\\x\"",      "\"\\u12\"",    "\"\\ud800\"", "\"\\udc00\"",  "\"a\nb\"",     "[1] 2",
      "{\"a\":1,\"a\":2}", "1e999",   "// c\n1",    "NaN",          "\"\xff\"",     "\"\xC0\xAF\"",
      "\xEF\xBB\xBF{}", "/* c */ 1",  "[1] // c",   "{\"a\":{\"b\":1,\"b\":2}}",
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
    CHECK_THAT(e.what(), !Catch::Contains("json.exception"));  // nlohmann's exception id is dropped
  }
}

TEST_CASE("json names a duplicate key with its path", "[unit][json]") {
  auto message = [](const char* text) -> std::string {
    try {
      parse(text);
    } catch (const ParseError& e) {
      return e.what();
    }
    return "no exception";
  };
  CHECK(message(R"({"a": 1, "a": 2})") == "duplicate key \"a\"");
  CHECK(message(R"({"x": {"eos": 2, "eos": 3}})") == "duplicate key \"x.eos\"");
  CHECK(message(R"({"x": [{"k": 1}, {"k": 1, "k": 2}]})") == "duplicate key \"x[1].k\"");
  CHECK(message(R"([[], [0, {"a": [], "a": {}}]])") == "duplicate key \"[1][1].a\"");
  // The same key in sibling or nested objects is not a duplicate.
  auto fine = parse(R"({"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}], "c": {"b": {"a": {}}}})");
  CHECK(fine.at("b")[1].at("a").get<int>() == 2);
}

TEST_CASE("json refuses absurd nesting instead of overflowing the stack", "[unit][json]") {
  std::string deep(100000, '[');
  CHECK_THROWS_AS(parse(deep), ParseError);
  std::string ok = std::string(200, '[') + std::string(200, ']');
  CHECK(parse(ok).is_array());
  const int limit = jina3::json::kMaxDepth;
  CHECK(parse(std::string(limit, '[') + std::string(limit, ']')).is_array());
  CHECK_THROWS_WITH(parse(std::string(limit + 1, '[') + std::string(limit + 1, ']')), Catch::Contains("nesting"));
}

TEST_CASE("json accessors check the kind", "[unit][json]") {
  auto value = parse("\"s\"");
  CHECK_THROWS_AS(value.get<std::int64_t>(), Value::type_error);
  CHECK_THROWS_AS(value.at(0), Value::type_error);
  CHECK(value.type_name() == std::string("string"));
  CHECK(value.is_string());
}
