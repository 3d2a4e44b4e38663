// Argument helpers shared by the jina3 command-line tool (cli/) and the benchmarks (benchmarks/),
// which all parse their arguments with CLI11.
#pragma once

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <CLI/CLI.hpp>

#include <jina3/errors.hpp>
#include <jina3/options.hpp>
#include <jina3/task.hpp>

namespace jina3_args {

// An integer option's check, given to CLI::Option::transform (check() would not let it rewrite the
// text): plain decimal digits (an optional '-'), at least min_value, within T.
// CLI11 converts integers with strtoll(..., 0), which would read "010" as 8 and accept "0x10"; the
// check runs on the text before that conversion and rewrites it in canonical decimal form.
template <class T = int>
CLI::Validator decimal_at_least(long long min_value) {
  constexpr unsigned long long max_value =
      std::min<unsigned long long>(std::numeric_limits<T>::max(), static_cast<unsigned long long>(LLONG_MAX));
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
        if (errno == ERANGE || value < min_value || (value > 0 && static_cast<unsigned long long>(value) > max_value)) {
          return "needs " + wanted;
        }
        text = std::to_string(value);  // without leading zeros, which base 0 would read as octal
        return {};
      },
      "");
}

namespace detail {

// Whether a row of an options table gets a flag: it has one ("" = not exposed), and the command
// asked for all of them (only empty) or for this one.
inline bool wanted(const std::string& flag, const std::vector<std::string>& only) {
  return !flag.empty() && (only.empty() || std::find(only.begin(), only.end(), flag) != only.end());
}

// A name the library parses (device_from_string, dtype_from_string): checked while CLI11 parses,
// so that a bad one is a usage error like any other bad value, with the library's message.
template <class Parse>
CLI::Validator library_name(Parse parse) {
  return CLI::Validator(
      [parse](std::string& text) -> std::string {
        try {
          parse(text);
          return {};
        } catch (const jina3::Error& e) {
          return e.what();
        }
      },
      "");
}

// One flag per table row, by the field's type. Options is the struct the row belongs to (device
// needs its neighbour device_index).
template <class Options>
void add_table_flag(CLI::App* app, const std::string& flag, bool& value, const std::string& doc, Options&) {
  // "--no-x" clears a bool that defaults to true (the doc says what it does when on); any other
  // name sets it.
  const bool set_to = flag.rfind("--no-", 0) != 0;
  app->add_flag_callback(flag, [&value, set_to] { value = set_to; }, set_to ? doc : "turns off: " + doc);
}

template <class T, class Options, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
void add_table_flag(CLI::App* app, const std::string& flag, T& value, const std::string& doc, Options&) {
  app->add_option(flag, value, doc)->transform(decimal_at_least<T>(0))->capture_default_str();
}

// A share in [0, 1] (bulk_share); the library checks the range again at load.
template <class Options>
void add_table_flag(CLI::App* app, const std::string& flag, double& value, const std::string& doc, Options&) {
  app->add_option(flag, value, doc)->check(CLI::Range(0.0, 1.0))->capture_default_str();
}

template <class Options>
void add_table_flag(CLI::App* app, const std::string& flag, jina3::Priority& priority, const std::string& doc,
                    Options&) {
  app->add_option_function<std::string>(
         flag, [&priority](const std::string& name) { priority = jina3::priority_from_string(name); }, doc)
      ->check(library_name([](const std::string& name) { jina3::priority_from_string(name); }))
      ->default_str(jina3::to_string(priority));
}

inline void add_table_flag(CLI::App* app, const std::string& flag, jina3::Device& device, const std::string& doc,
                           jina3::EncoderOptions& options) {
  int& index = options.device_index;
  app->add_option_function<std::string>(
         flag, [&device, &index](const std::string& name) { device = jina3::device_from_string(name, &index); },
         doc + "; on the command line cpu, cuda or cuda:N")
      ->check(library_name([](const std::string& name) { jina3::device_from_string(name); }))
      ->default_str(jina3::to_string(device));
}

template <class Options>
void add_table_flag(CLI::App* app, const std::string& flag, jina3::DType& dtype, const std::string& doc, Options&) {
  app->add_option_function<std::string>(
         flag, [&dtype](const std::string& name) { dtype = jina3::dtype_from_string(name); }, doc)
      ->check(library_name([](const std::string& name) { jina3::dtype_from_string(name); }))
      ->default_str(jina3::to_string(dtype));
}

}  // namespace detail

// The flags of the options tables (include/jina3/options.hpp: the cli_flag column, the doc column
// as help), parsed straight into options, which must outlive the parse. A command that takes only
// some of them names them in only (empty: every flag the table has). Bad values are CLI11
// validation errors.
inline void add_encoder_option_flags(CLI::App* app, jina3::EncoderOptions& options,
                                     const std::vector<std::string>& only = {}) {
#define JINA3_X(type, name, value, flag, doc) \
  if (detail::wanted(flag, only)) detail::add_table_flag(app, flag, options.name, doc, options);
  JINA3_ENCODER_OPTION_FIELDS(JINA3_X)
#undef JINA3_X
}

inline void add_encode_option_flags(CLI::App* app, jina3::EncodeOptions& options,
                                    const std::vector<std::string>& only = {}) {
#define JINA3_X(type, name, value, keyed, flag, doc) \
  if (detail::wanted(flag, only)) detail::add_table_flag(app, flag, options.name, doc, options);
  JINA3_ENCODE_OPTION_FIELDS(JINA3_X)
#undef JINA3_X
}

}  // namespace jina3_args
