// jina3.calibration_ranges, jina3.quantize, the TokenEmbeddings and ChunkEmbeddings result
// classes, and the conversions of precisions, ranges and text positions (see outputs.hpp).
#include "outputs.hpp"

#include <algorithm>
#include <string>

#include <jina3/errors.hpp>

#include "gil.hpp"

namespace jina3::python {
namespace {

std::string type_name(py::handle object) { return py::str(py::type::handle_of(object).attr("__name__")); }

using FloatRows = py::array_t<float, py::array::c_style | py::array::forcecast>;

// An array-like as C-contiguous float32 (a copy only when it is not one already).
FloatRows float_array(py::handle values, const char* name) {
  FloatRows array = FloatRows::ensure(values);
  if (!array) {
    throw py::type_error(std::string(name) + " must be an array-like of float32 values, not " + type_name(values));
  }
  return array;
}

std::string shape_of(const py::array& array) { return py::repr(array.attr("shape")); }

// embeddings as rows x dims float32.
FloatRows float_rows(py::handle embeddings) {
  FloatRows array = float_array(embeddings, "embeddings");
  if (array.ndim() != 2) {
    throw InvalidArgument("embeddings must be a 2-D array (rows, dims), not shape " + shape_of(array));
  }
  return array;
}

// One result of Encoder.encode_tokens.
struct TokenResult {
  py::object ids;         // (n,) int32
  py::object embeddings;  // (n, hidden) float32
  py::object offsets;     // (n, 2) int64
  bool truncated = false;
};

// One result of Encoder.late_chunk.
struct ChunkResult {
  py::object embeddings;   // (chunks, dims) float32
  py::object spans;        // (chunks, 2) int64
  py::object token_spans;  // (chunks, 2) int64
};

// pairs as an (n, 2) int64 array, each position converted by convert.
template <typename Convert>
py::array pair_array(const std::vector<std::pair<std::size_t, std::size_t>>& pairs, Convert convert) {
  std::vector<std::int64_t> flat;
  flat.reserve(2 * pairs.size());
  for (const auto& [begin, end] : pairs) {
    flat.push_back(convert(static_cast<std::int64_t>(begin)));
    flat.push_back(convert(static_cast<std::int64_t>(end)));
  }
  return owned_array(std::move(flat), py::dtype::of<std::int64_t>(),
                     {static_cast<py::ssize_t>(pairs.size()), py::ssize_t{2}});
}

// A Python int as long long; TypeError for anything that is not an integer.
long long index_value(py::handle item, const std::string& where) {
  py::object number = py::reinterpret_steal<py::object>(PyNumber_Index(item.ptr()));
  if (!number) {
    PyErr_Clear();
    throw py::type_error(where + " must be an int, not " + type_name(item));
  }
  const long long value = PyLong_AsLongLong(number.ptr());
  if (value == -1 && PyErr_Occurred()) throw py::error_already_set();  // OverflowError
  return value;
}

}  // namespace

Precision precision_from_python(py::handle precision) {
  if (!py::isinstance<py::str>(precision)) {
    throw py::type_error("precision must be a str such as 'int8' or 'ubinary', not " + type_name(precision));
  }
  return precision_from_string(precision.cast<std::string>());
}

std::optional<Ranges> ranges_from_python(py::handle ranges) {
  if (ranges.is_none()) return std::nullopt;
  const FloatRows array = float_array(ranges, "ranges");
  if (array.ndim() != 2 || array.shape(0) != 2) {
    throw InvalidArgument("ranges must have shape (2, dims), a min row and a max row, not " + shape_of(array));
  }
  const auto dims = static_cast<std::size_t>(array.shape(1));
  const float* values = array.data();
  return Ranges{std::vector<float>(values, values + dims), std::vector<float>(values + dims, values + 2 * dims)};
}

py::array precision_array(std::vector<std::uint8_t>&& bytes, std::size_t rows, std::size_t dims,
                          Precision precision) {
  const auto height = static_cast<py::ssize_t>(rows);
  switch (precision) {
    case Precision::Float32:  // operator new aligns the bytes for float
      return owned_array(std::move(bytes), py::dtype::of<float>(), {height, static_cast<py::ssize_t>(dims)});
    case Precision::Float16:
      return owned_array(std::move(bytes), py::dtype("float16"), {height, static_cast<py::ssize_t>(dims)});
    case Precision::Int8:
      return owned_array(std::move(bytes), py::dtype::of<std::int8_t>(), {height, static_cast<py::ssize_t>(dims)});
    case Precision::UInt8:
      return owned_array(std::move(bytes), py::dtype::of<std::uint8_t>(), {height, static_cast<py::ssize_t>(dims)});
    case Precision::Binary:
      return owned_array(std::move(bytes), py::dtype::of<std::int8_t>(),
                         {height, static_cast<py::ssize_t>(row_bytes(precision, dims))});
    case Precision::UBinary:
      return owned_array(std::move(bytes), py::dtype::of<std::uint8_t>(),
                         {height, static_cast<py::ssize_t>(row_bytes(precision, dims))});
  }
  throw InvalidArgument("unknown precision value " + std::to_string(static_cast<int>(precision)));
}

TextPositions::TextPositions(py::handle owner, std::string_view utf8)
    : bytes_(utf8.size()), bytes_text_(!PyUnicode_Check(owner.ptr())) {
  // ASCII str and bytes index their bytes 1:1; any other str counts code points.
  if (!PyUnicode_Check(owner.ptr()) || PyUnicode_IS_ASCII(owner.ptr())) return;
  starts_.reserve(static_cast<std::size_t>(PyUnicode_GET_LENGTH(owner.ptr())) + 1);
  for (std::size_t at = 0; at < utf8.size(); ++at) {
    if ((static_cast<unsigned char>(utf8[at]) & 0xc0) != 0x80) starts_.push_back(at);  // not a continuation byte
  }
  starts_.push_back(utf8.size());
}

std::size_t TextPositions::length() const noexcept { return starts_.empty() ? bytes_ : starts_.size() - 1; }

std::size_t TextPositions::to_bytes(std::size_t index) const noexcept {
  return starts_.empty() ? index : starts_[index];
}

std::int64_t TextPositions::from_bytes(std::int64_t byte) const noexcept {
  if (byte < 0 || starts_.empty()) return byte;
  const auto at = std::lower_bound(starts_.begin(), starts_.end(), static_cast<std::size_t>(byte));
  return static_cast<std::int64_t>(at - starts_.begin());
}

std::vector<std::vector<std::pair<std::size_t, std::size_t>>> spans_from_python(
    py::handle spans, const std::vector<TextPositions>& texts) {
  if (py::isinstance<py::str>(spans) || py::isinstance<py::bytes>(spans)) {
    throw py::type_error("spans must be a list with one list of (start, end) pairs per text, not a " +
                         type_name(spans));
  }
  const std::string message = "spans must be a list with one list of (start, end) pairs per text, not " +
                              type_name(spans);
  py::object lists = py::reinterpret_steal<py::object>(PySequence_Fast(spans.ptr(), message.c_str()));
  if (!lists) throw py::error_already_set();
  const auto count = static_cast<std::size_t>(PySequence_Fast_GET_SIZE(lists.ptr()));
  // A count that does not match the texts is the core's to report; the lists are not read then.
  std::vector<std::vector<std::pair<std::size_t, std::size_t>>> result(count);
  if (count != texts.size()) return result;
  PyObject** items = PySequence_Fast_ITEMS(lists.ptr());
  for (std::size_t i = 0; i < count; ++i) {
    const std::string list_name = "spans[" + std::to_string(i) + "]";
    const std::string list_message = list_name + " must be a list of (start, end) pairs";
    py::object pairs = py::reinterpret_steal<py::object>(PySequence_Fast(items[i], list_message.c_str()));
    if (!pairs) throw py::error_already_set();
    const Py_ssize_t size = PySequence_Fast_GET_SIZE(pairs.ptr());
    PyObject** pair_items = PySequence_Fast_ITEMS(pairs.ptr());
    const TextPositions& text = texts[i];
    for (Py_ssize_t k = 0; k < size; ++k) {
      const std::string name = list_name + "[" + std::to_string(k) + "]";
      const std::string pair_message = name + " must be a (start, end) pair";
      py::object pair = py::reinterpret_steal<py::object>(PySequence_Fast(pair_items[k], pair_message.c_str()));
      if (!pair) throw py::error_already_set();
      if (PySequence_Fast_GET_SIZE(pair.ptr()) != 2) throw py::type_error(pair_message);
      const long long start = index_value(PySequence_Fast_GET_ITEM(pair.ptr(), 0), name + "[0]");
      const long long end = index_value(PySequence_Fast_GET_ITEM(pair.ptr(), 1), name + "[1]");
      // Checked here in the caller's units: the core checks the same on bytes, and its messages
      // would name byte offsets, not the str indices the caller wrote. A span that holds no
      // token is still the core's to find.
      const std::string where = "span " + std::to_string(k) + " (" + std::to_string(start) + ", " +
                                std::to_string(end) + ") of text " + std::to_string(i);
      const auto length = static_cast<long long>(text.length());
      if (start < 0 || end < 0 || (start < end && end > length)) {
        throw InvalidArgument(where + " is outside the text (" + std::to_string(length) + " " + text.unit() + ")");
      }
      if (start >= end) throw InvalidArgument(where + " is empty or reversed");
      result[i].emplace_back(text.to_bytes(static_cast<std::size_t>(start)), text.to_bytes(static_cast<std::size_t>(end)));
    }
  }
  return result;
}

py::list token_results(std::vector<TokenEmbeddings>&& results, const std::vector<TextPositions>& texts) {
  py::list list;
  for (std::size_t i = 0; i < results.size(); ++i) {
    TokenEmbeddings& r = results[i];
    const auto n = static_cast<py::ssize_t>(r.size());
    for (std::int64_t& offset : r.offsets) offset = texts[i].from_bytes(offset);
    TokenResult out;
    out.ids = owned_array(std::move(r.ids), py::dtype::of<std::int32_t>(), {n});
    out.embeddings = owned_array(std::move(r.embeddings), py::dtype::of<float>(), {n, static_cast<py::ssize_t>(r.hidden)});
    out.offsets = owned_array(std::move(r.offsets), py::dtype::of<std::int64_t>(), {n, py::ssize_t{2}});
    out.truncated = r.truncated;
    list.append(py::cast(std::move(out)));
  }
  return list;
}

py::list chunk_results(std::vector<ChunkEmbeddings>&& results, const std::vector<TextPositions>& texts) {
  py::list list;
  for (std::size_t i = 0; i < results.size(); ++i) {
    ChunkEmbeddings& r = results[i];
    const TextPositions& text = texts[i];
    ChunkResult out;
    out.spans = pair_array(r.spans, [&](std::int64_t byte) { return text.from_bytes(byte); });
    out.token_spans = pair_array(r.token_spans, [](std::int64_t token) { return token; });
    out.embeddings = owned_array(std::move(r.embeddings), py::dtype::of<float>(),
                                 {static_cast<py::ssize_t>(r.size()), static_cast<py::ssize_t>(r.dims)});
    list.append(py::cast(std::move(out)));
  }
  return list;
}

void register_outputs(py::module_& m) {
  py::class_<TokenResult> tokens(m, "TokenEmbeddings", R"doc(
One text's token embeddings (Encoder.encode_tokens).

ids: (n,) int32, the token ids (<s>, the task's prompt, the text, </s>).
embeddings: (n, hidden_size) float32, the final hidden states with the task's adapter, before
pooling. offsets: (n, 2) int64, each token's [start, end) in the text as str indices (byte
offsets for a bytes text), without the whitespace sentencepiece marks with "▁", so that
text[start:end] is the token's text; (-1, -1) for <s>, </s> and the prompt's tokens.
truncated: the text was cut to max_length.
)doc");
  tokens.def_readonly("ids", &TokenResult::ids)
      .def_readonly("embeddings", &TokenResult::embeddings)
      .def_readonly("offsets", &TokenResult::offsets)
      .def_readonly("truncated", &TokenResult::truncated)
      .def("__len__", [](const TokenResult& r) { return py::len(r.ids); })
      .def("__repr__", [](const TokenResult& r) {
        return py::str("<jina3.TokenEmbeddings tokens={} hidden_size={} truncated={}>")
            .format(py::len(r.ids), r.embeddings.attr("shape")[py::int_(1)], r.truncated);
      });
  tokens.attr("__module__") = "jina3";

  py::class_<ChunkResult> chunks(m, "ChunkEmbeddings", R"doc(
One text's late-chunked embeddings (Encoder.late_chunk).

embeddings: (chunks, dims) float32, one row per chunk. spans: (chunks, 2) int64, each chunk's
[start, end) in the text as str indices (byte offsets for a bytes text). token_spans:
(chunks, 2) int64, the [start, end) token indices pooled, into the full token sequence (<s> and
the prompt included, as encode_tokens numbers them).
)doc");
  chunks.def_readonly("embeddings", &ChunkResult::embeddings)
      .def_readonly("spans", &ChunkResult::spans)
      .def_readonly("token_spans", &ChunkResult::token_spans)
      .def("__len__", [](const ChunkResult& r) { return py::len(r.spans); })
      .def("__repr__", [](const ChunkResult& r) {
        return py::str("<jina3.ChunkEmbeddings chunks={} dims={}>")
            .format(py::len(r.spans), r.embeddings.attr("shape")[py::int_(1)]);
      });
  chunks.attr("__module__") = "jina3";

  m.def(
      "calibration_ranges",
      [](py::object embeddings) {
        const FloatRows values = float_rows(embeddings);
        const auto rows = static_cast<std::size_t>(values.shape(0));
        const auto dims = static_cast<std::size_t>(values.shape(1));
        const Ranges ranges = without_gil([&] { return calibration_ranges(values.data(), rows, dims); });
        std::vector<float> both(ranges.min);
        both.insert(both.end(), ranges.max.begin(), ranges.max.end());
        return owned_array(std::move(both), py::dtype::of<float>(), {py::ssize_t{2}, static_cast<py::ssize_t>(dims)});
      },
      py::arg("embeddings"), R"doc(Per-dimension ranges of a calibration set, for int8/uint8 output.

embeddings: a (rows, dims) array-like of float32 (e.g. encode() of a sample of the corpus).
Returns a (2, dims) float32 array: the min row and the max row. Store it with the corpus and pass
it as ranges= for its queries too, so that both quantise alike. Raises InvalidArgumentError for no rows.

Example::

    ranges = jina3.calibration_ranges(encoder.encode(sample, "retrieval.passage", 256))
    corpus = encoder.encode(docs, "retrieval.passage", 256, precision="int8", ranges=ranges)
    query = encoder.encode([q], "retrieval.query", 256, precision="int8", ranges=ranges)
)doc");

  m.def(
      "quantize",
      [](py::object embeddings, py::object precision, py::object ranges) {
        const FloatRows values = float_rows(embeddings);
        const auto rows = static_cast<std::size_t>(values.shape(0));
        const auto dims = static_cast<std::size_t>(values.shape(1));
        const Precision wanted = precision_from_python(precision);
        const std::optional<Ranges> given = ranges_from_python(ranges);
        std::vector<std::uint8_t> bytes(rows * row_bytes(wanted, dims));
        without_gil([&] { quantize(values.data(), rows, dims, wanted, given ? &*given : nullptr, bytes.data()); });
        return precision_array(std::move(bytes), rows, dims, wanted);
      },
      py::arg("embeddings"), py::arg("precision"), py::arg("ranges") = py::none(),
      R"doc(Converts (rows, dims) float32 embeddings to another precision, as encode(precision=) does.

precision: "float32", "float16", "int8", "uint8", "binary" or "ubinary". uint8: per dimension,
step = (max - min) / 255 and value = clip(floor((x - min) / step), 0, 255); int8: sentence-
transformers' ((x - min) / step - 128).astype(int8) in float32 (truncated toward zero), clipped;
ubinary: bit = (x > 0), 8 dims per byte in numpy.packbits order; binary: ubinary - 128 as int8.
ranges: for int8/uint8, a (2, dims) array (see calibration_ranges); None computes them from these
rows. Returns float32, float16, int8 (int8, binary) or uint8 (uint8, ubinary) arrays, shape
(rows, dims), or (rows, dims // 8) for the packed precisions. Raises InvalidArgumentError for a
packed precision with dims not a multiple of 8, or ranges of the wrong shape or with max <= min.

Example::

    bits = jina3.quantize(vectors, "ubinary")  # uint8, (rows, dims // 8)
)doc");
}

}  // namespace jina3::python
