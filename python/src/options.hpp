// Python keywords from the option tables (include/jina3/options.hpp). Each row of
// JINA3_ENCODER_OPTION_FIELDS and JINA3_ENCODE_OPTION_FIELDS becomes one keyword argument, with its
// type, default and doc line taken from the row, so a new row is a new keyword of every function
// that takes that table's options (and a line of its docstring).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include <jina3/options.hpp>
#include <jina3/task.hpp>

#include "module.hpp"

namespace jina3::python {

// A list of rows: types made from the table below, one per option.
template <typename... Rows>
struct RowList {};

// How Python spells an option of C++ type T in table Options: the parameter type pybind11
// converts (its name shows in the signature) and the conversion to the field's value.
template <typename T, typename Options>
struct Keyword {
  using type = T;
  static T value(const type& given, const T& /*table default*/) { return given; }
  static py::object python_default(const T& value) { return py::cast(value); }
  static std::string note(const T& /*table default*/) { return ""; }
};

// The dtype as its name: "auto", "float32", ...
template <>
struct Keyword<DType, EncoderOptions> {
  using type = std::string;
  static DType value(const std::string& name, DType /*table default*/) { return dtype_from_string(name); }
  static py::object python_default(DType value) { return py::str(to_string(value)); }
  static std::string note(DType /*table default*/) { return ""; }
};

// The lane as its name: "interactive" or "bulk".
template <>
struct Keyword<Priority, EncodeOptions> {
  using type = std::string;
  static Priority value(const std::string& name, Priority /*table default*/) { return priority_from_string(name); }
  static py::object python_default(Priority value) { return py::str(to_string(value)); }
  static std::string note(Priority /*table default*/) { return ""; }
};

// A per-call int also takes None, its default: 0 there means "not set" (the package's max_length,
// the encoder's limits), and None is how Python says that.
template <>
struct Keyword<int, EncodeOptions> {
  using type = std::optional<int>;
  static int value(const type& given, int table_default) { return given.value_or(table_default); }
  static py::object python_default(int /*table default*/) { return py::none(); }
  static std::string note(int table_default) { return "; None = " + std::to_string(table_default); }
};

namespace rows {

// One type per row: its name, doc line and field.
#define JINA3_PYTHON_ROW(Table, type_, name_, doc_)                                \
  struct name_ {                                                                   \
    using Options = Table;                                                         \
    using type = type_;                                                            \
    static constexpr const char* name = #name_;                                    \
    static constexpr const char* doc = doc_;                                       \
    static type_& field(Table& options) { return options.name_; }                  \
  };
#define JINA3_X(type_, name_, value_, flag_, doc_) JINA3_PYTHON_ROW(EncoderOptions, type_, name_, doc_)
namespace encoder {
JINA3_ENCODER_OPTION_FIELDS(JINA3_X)
}
#undef JINA3_X
#define JINA3_X(type_, name_, value_, keyed_, flag_, doc_) JINA3_PYTHON_ROW(EncodeOptions, type_, name_, doc_)
namespace encode {
JINA3_ENCODE_OPTION_FIELDS(JINA3_X)
}
#undef JINA3_X
#undef JINA3_PYTHON_ROW

template <typename Ignored, typename... Rows>
using Tail = RowList<Rows...>;

}  // namespace rows

// Every row of each table, in table order.
#define JINA3_X(type_, name_, ...) , rows::encoder::name_
using EncoderRows = rows::Tail<void JINA3_ENCODER_OPTION_FIELDS(JINA3_X)>;
#undef JINA3_X
#define JINA3_X(type_, name_, ...) , rows::encode::name_
using EncodeRows = rows::Tail<void JINA3_ENCODE_OPTION_FIELDS(JINA3_X)>;
#undef JINA3_X

// The rows of List for which Keep<Row>::value holds, in table order.
template <template <typename> class Keep, typename List, typename Kept = RowList<>>
struct Filter;
template <template <typename> class Keep, typename... Kept>
struct Filter<Keep, RowList<>, RowList<Kept...>> {
  using type = RowList<Kept...>;
};
template <template <typename> class Keep, typename Row, typename... Rest, typename... Kept>
struct Filter<Keep, RowList<Row, Rest...>, RowList<Kept...>>
    : Filter<Keep, RowList<Rest...>,
             std::conditional_t<Keep<Row>::value, RowList<Kept..., Row>, RowList<Kept...>>> {};

template <typename Row>
using KeywordOf = Keyword<typename Row::type, typename Row::Options>;
template <typename Row>
using PythonType = typename KeywordOf<Row>::type;

// The table default of a row.
template <typename Row>
typename Row::type table_default() {
  typename Row::Options defaults;
  return Row::field(defaults);
}

// pybind11 arguments, one per row: py::arg_v(name, default).
template <typename... Rows>
auto keyword_arguments(RowList<Rows...>) {
  return std::make_tuple(py::arg_v(Rows::name, KeywordOf<Rows>::python_default(table_default<Rows>()))...);
}

// A function for pybind11 that takes body's arguments after options, then one per row, and calls
// body with the rows' values gathered in their options struct.
template <typename... Rows, typename Result, typename Options, typename... Fixed>
auto with_keywords(RowList<Rows...>, Result (*body)(const Options&, Fixed...)) {
  return [body](Fixed... fixed, PythonType<Rows>... given) -> Result {
    Options options;
    ((Rows::field(options) = KeywordOf<Rows>::value(given, Rows::field(options))), ...);
    return body(options, std::forward<Fixed>(fixed)...);
  };
}

// "name: text." as docstring lines of at most 100 columns, the lines after the first indented.
inline std::string doc_line(const std::string& name, const std::string& text) {
  constexpr std::size_t kWidth = 100;
  std::string out;
  std::string line = name + ":";
  std::size_t at = 0;
  const std::string words = text + ".";
  while (at < words.size()) {
    std::size_t end = words.find(' ', at);
    if (end == std::string::npos) end = words.size();
    const std::string word = words.substr(at, end - at);
    if (line.size() + 1 + word.size() > kWidth) {
      out += line + "\n";
      line = "   ";
    }
    line += " " + word;
    at = end + 1;
  }
  return out + line + "\n";
}

// Docstring lines for the keywords of rows, one entry per row: "name: doc".
template <typename... Rows>
std::string keyword_docs(RowList<Rows...>) {
  std::string lines;
  ((lines += doc_line(Rows::name, Rows::doc + KeywordOf<Rows>::note(table_default<Rows>()))), ...);
  return lines;
}

}  // namespace jina3::python
