// Argument helpers shared by the jina3 command-line tool (cli/) and jina3_bench (benchmarks/),
// which both parse their arguments with CLI11.
#pragma once

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <string>

#include <CLI/CLI.hpp>

namespace jina3_args {

// An integer option's check, given to CLI::Option::transform (check() would not let it rewrite the
// text): plain decimal digits (an optional '-'), at least min_value, within int.
// CLI11 converts integers with strtoll(..., 0), which would read "010" as 8 and accept "0x10"; the
// check runs on the text before that conversion and rewrites it in canonical decimal form.
inline CLI::Validator decimal_at_least(int min_value) {
  return CLI::Validator(
      [min_value](std::string& text) -> std::string {
        const std::string wanted = "an integer >= " + std::to_string(min_value) + ", got '" + text + "'";
        std::size_t start = !text.empty() && text[0] == '-' ? 1 : 0;
        if (start == text.size()) return "needs " + wanted;
        for (std::size_t i = start; i < text.size(); ++i) {
          if (text[i] < '0' || text[i] > '9') return "needs " + wanted;
        }
        errno = 0;
        const long long value = std::strtoll(text.c_str(), nullptr, 10);
        if (errno == ERANGE || value < min_value || value > INT_MAX) return "needs " + wanted;
        text = std::to_string(value);  // without leading zeros, which base 0 would read as octal
        return {};
      },
      "");
}

}  // namespace jina3_args
