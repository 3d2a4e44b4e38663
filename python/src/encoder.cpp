// jina3.Encoder: loads a package and encodes texts. Every decision about the model, and every
// check of the arguments, lives in the C++ core; this file only converts arguments and results.
// encode of a list returns an array over the buffer the forward passes wrote (the core's
// Embeddings::data, taken over without a copy); an iterable goes through the core's block
// streaming (Encoder::encode_stream), its rows gathered into one buffer.
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <jina3/encoder.hpp>
#include <jina3/kernels.hpp>
#include <jina3/stats.hpp>

#include "arrays.hpp"
#include "async.hpp"
#include "gil.hpp"
#include "module.hpp"
#include "options.hpp"
#include "outputs.hpp"

namespace jina3::python {
namespace {

// Python defaults come from default-constructed structs and the option tables, never from
// retyped literals.
const LateChunkOptions kLateChunkDefaults{};

// The keywords each function takes (options.hpp): the Encoder all load-time options but the
// device, which is the positional "cpu" / "cuda:N" (device and device_index in one); encode and
// encode_async every per-call option; encode_tokens and tokenize the ones that shape tokens
// (normalize and batch_size do not apply, and neither runs through the scheduler's queue).
template <typename Row>
struct LoadKeyword : std::bool_constant<std::string_view(Row::name) != "device" &&
                                        std::string_view(Row::name) != "device_index"> {};
template <typename Row>
struct TokenKeyword : std::bool_constant<std::string_view(Row::name) == "max_length" ||
                                         std::string_view(Row::name) == "truncate" ||
                                         std::string_view(Row::name) == "split_special_tokens"> {};
using LoadKeywords = Filter<LoadKeyword, EncoderRows>::type;
using EncodeKeywords = EncodeRows;
using TokenKeywords = Filter<TokenKeyword, EncodeRows>::type;

// The holder frees the model (LibTorch modules, maybe GPU memory) with the GIL released.
struct DeleteWithoutGil {
  void operator()(Encoder* encoder) const noexcept {
    without_gil([encoder] { delete encoder; });  // ~Encoder does not throw
  }
};
using EncoderHolder = std::unique_ptr<Encoder, DeleteWithoutGil>;

std::string type_name(py::handle object) { return py::str(py::type::handle_of(object).attr("__name__")); }

// Texts as UTF-8 views into the caller's str (or bytes) objects. Both are immutable, and owners
// keeps each one alive while the GIL is released, even if the caller's list changes meanwhile.
//
// A text may also be given as its token ids (a list or tuple of int, or a 1-D integer array): the
// text's own tokens, without <s>, </s> or the prompt (Encoder::submit's TokenIds form). A call
// gives every text one way.
struct Texts {
  std::vector<py::object> owners;
  std::vector<std::string_view> views;
  std::vector<std::vector<std::int32_t>> id_rows;  // texts given as token ids

  std::size_t size() const noexcept { return id_rows.empty() ? views.size() : id_rows.size(); }
  bool given_as_ids() const noexcept { return !id_rows.empty(); }
  std::vector<TokenIds> id_views() const {
    std::vector<TokenIds> result;
    result.reserve(id_rows.size());
    for (const auto& row : id_rows) result.push_back(TokenIds{row.data(), row.size()});
    return result;
  }

  // Adds item, text number index of the call (for messages).
  void add(py::handle item, std::size_t index) {
    const char* data = nullptr;
    Py_ssize_t size = 0;
    const bool id_list = PyList_Check(item.ptr()) || PyTuple_Check(item.ptr()) ||
                         (py::isinstance<py::array>(item) && py::array::ensure(item).ndim() == 1);
    if (id_list != given_as_ids() && index > 0) {
      throw py::type_error("texts[" + std::to_string(index) + "] is " + type_name(item) +
                           ": give every text of a call as a str, or every one as a list of token ids");
    }
    if (id_list) {
      add_ids(item, index);
      return;
    }
    if (PyUnicode_Check(item.ptr())) {
      data = PyUnicode_AsUTF8AndSize(item.ptr(), &size);
      if (data == nullptr) {  // lone surrogates: a str that has no UTF-8 form
        py::error_already_set cause;
        throw InvalidArgument("text " + std::to_string(index) + " is not valid UTF-8: " + cause.what());
      }
    } else if (PyBytes_Check(item.ptr())) {  // raw UTF-8, checked by the core
      char* bytes = nullptr;
      if (PyBytes_AsStringAndSize(item.ptr(), &bytes, &size) != 0) throw py::error_already_set();
      data = bytes;
    } else {
      throw py::type_error("texts[" + std::to_string(index) + "] is " + type_name(item) + ", expected str");
    }
    owners.push_back(py::reinterpret_borrow<py::object>(item));
    views.emplace_back(data, static_cast<std::size_t>(size));
  }

  void add_ids(py::handle item, std::size_t index) {
    std::vector<std::int32_t> row;
    for (py::handle id : item) {
      if (!PyLong_Check(id.ptr()) && !PyIndex_Check(id.ptr())) {
        throw py::type_error("texts[" + std::to_string(index) + "] is " + type_name(item) + " holding " +
                             type_name(id) + ": a text is a str, or a list of int token ids");
      }
      int overflow = 0;
      const long long value = PyLong_AsLongLongAndOverflow(py::reinterpret_steal<py::object>(PyNumber_Index(id.ptr())).ptr(), &overflow);
      if (PyErr_Occurred()) throw py::error_already_set();
      // Outside int32: the core's vocabulary check names it (as the largest or smallest int32).
      if (overflow != 0 || value > INT32_MAX) row.push_back(INT32_MAX);
      else if (value < INT32_MIN) row.push_back(INT32_MIN);
      else row.push_back(static_cast<std::int32_t>(value));
    }
    id_rows.push_back(std::move(row));
  }
};

void reject_single_text(py::handle texts) {
  if (py::isinstance<py::str>(texts) || py::isinstance<py::bytes>(texts)) {
    throw py::type_error("texts must be a list of str, not a single " + type_name(texts) +
                         ": wrap one text in a list, e.g. encoder.encode([text])");
  }
}

std::string not_a_list(py::handle texts) { return "texts must be a list of str, not " + type_name(texts); }

// allow_ids: the call also takes texts given as token ids (encode, encode_async).
Texts texts_from_python(py::handle texts, bool allow_ids = false) {
  reject_single_text(texts);
  const std::string message = not_a_list(texts);
  py::object sequence = py::reinterpret_steal<py::object>(PySequence_Fast(texts.ptr(), message.c_str()));
  if (!sequence) throw py::error_already_set();

  Texts result;
  const Py_ssize_t count = PySequence_Fast_GET_SIZE(sequence.ptr());
  PyObject** items = PySequence_Fast_ITEMS(sequence.ptr());
  result.owners.reserve(static_cast<std::size_t>(count));
  result.views.reserve(static_cast<std::size_t>(count));
  for (Py_ssize_t i = 0; i < count; ++i) result.add(items[i], static_cast<std::size_t>(i));
  if (result.given_as_ids() && !allow_ids) {
    throw py::type_error("texts given as token ids work with encode and encode_async only: give str texts here");
  }
  return result;
}

// An iterator over texts (any iterable but a single str or bytes).
py::object iterate(py::handle texts) {
  reject_single_text(texts);
  py::object iterator = py::reinterpret_steal<py::object>(PyObject_GetIter(texts.ptr()));
  if (!iterator) {
    PyErr_Clear();
    throw py::type_error(not_a_list(texts));
  }
  return iterator;
}

// Adds texts from iterator to block until it holds limit texts; first is the call's index of the
// block's first text (for messages). Returns false once the iterator has ended.
bool read_texts(py::handle iterator, Texts& block, std::size_t limit, std::size_t first) {
  while (block.size() < limit) {
    py::object item = py::reinterpret_steal<py::object>(PyIter_Next(iterator.ptr()));
    if (!item) {
      if (PyErr_Occurred()) throw py::error_already_set();
      return false;
    }
    block.add(item, first + block.size());
  }
  return true;
}

// How Python indexes each text (str indices, or bytes), for offsets and spans.
std::vector<TextPositions> positions_of(const Texts& texts) {
  std::vector<TextPositions> positions;
  positions.reserve(texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) positions.emplace_back(texts.owners[i], texts.views[i]);
  return positions;
}

// task: one task for every text, or a list/tuple with one per text.
bool is_task_list(py::handle task) { return py::isinstance<py::list>(task) || py::isinstance<py::tuple>(task); }

std::vector<Task> tasks_from_python(py::handle task) {
  if (!is_task_list(task)) return {task_from_python(task)};
  std::vector<Task> tasks;
  for (py::handle item : task) tasks.push_back(task_from_python(item));
  return tasks;
}

// A Python list of tasks always means one per text, even a list of one. The core's bindings forms
// (pointer and count) read one task as "for every text" and have no way to be told otherwise
// (only its std::vector<Task> overloads can, which need std::string copies of the texts), so this
// one check stays here.
void check_task_count(py::handle task, std::size_t tasks, std::size_t texts) {
  if (is_task_list(task) && tasks != texts) {
    throw InvalidArgument(std::to_string(tasks) + " tasks for " + std::to_string(texts) +
                          " texts: give one task, or a list with one task per text");
  }
}

// tqdm's bar on stderr, counting texts (total < 0: unknown), when show is set; tqdm is imported
// only then. Closed by close(), or by the destructor when an error propagates (with the GIL).
class ProgressBar {
 public:
  ProgressBar(bool show, Py_ssize_t total) {
    if (!show) return;
    py::module_ tqdm;
    try {
      tqdm = py::module_::import("tqdm");
    } catch (py::error_already_set& e) {
      if (!e.matches(PyExc_ImportError)) throw;
      throw py::import_error(std::string("show_progress_bar=True needs tqdm (Debian: apt install python3-tqdm): ") +
                             e.what());
    }
    bar_ = tqdm.attr("tqdm")(py::arg("total") = total >= 0 ? py::object(py::int_(total)) : py::object(py::none()),
                             py::arg("unit") = "text");
  }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  ~ProgressBar() {
    try {
      close();
    } catch (...) {  // the first error is the one to report
    }
  }

  void update(std::size_t texts) {
    if (bar_) bar_.attr("update")(texts);
  }
  void close() {
    if (bar_) std::exchange(bar_, py::object()).attr("close")();
  }

 private:
  py::object bar_;
};

// How often a synchronous call looks for a signal (Ctrl-C) while it waits.
constexpr auto kSignalPoll = std::chrono::milliseconds(10);

// Waits for a request with the GIL released, and every kSignalPoll runs Python's signal handlers
// (on the main thread). When one raises (KeyboardInterrupt from Ctrl-C), the request is cancelled
// in the core: its queued rows leave the queue and its remaining passes are skipped. The wait
// then ends with the pass that is running, and the handler's exception propagates.
Embeddings wait_interruptibly(EncodeHandle& handle) {
  for (;;) {
    const bool ready = without_gil([&] { return handle.wait_for(kSignalPoll) == std::future_status::ready; });
    if (ready) break;
    if (PyErr_CheckSignals() != 0) {
      py::error_already_set interrupted;  // takes the pending exception
      handle.cancel();
      without_gil([&] { handle.wait(); });
      throw interrupted;
    }
  }
  return without_gil([&] { return handle.get(); });
}

// Texts in memory, one call, interruptible. float32: the array takes over the rows the passes
// wrote; other precisions go through the core's precision stage (checked before anything is
// queued, like encode_quantized).
py::array encode_texts(const Encoder& self, const Texts& texts, const std::vector<Task>& tasks, int dims,
                       Precision precision, const Ranges* ranges, const EncodeOptions& options) {
  const std::size_t width = self.check(tasks.data(), tasks.size(), dims, options, precision, ranges);
  EncodeHandle handle = without_gil([&] {
    if (texts.given_as_ids()) {
      const std::vector<TokenIds> ids = texts.id_views();
      return self.submit(ids.data(), ids.size(), tasks.data(), tasks.size(), dims, options);
    }
    return self.submit(texts.views.data(), texts.size(), tasks.data(), tasks.size(), dims, options);
  });
  Embeddings result = wait_interruptibly(handle);
  if (precision == Precision::Float32) return embeddings_array(std::move(result));
  std::vector<std::uint8_t> bytes(result.rows * row_bytes(precision, width));
  without_gil([&] { quantize(result.data.data(), result.rows, width, precision, ranges, bytes.data()); });
  return precision_array(std::move(bytes), result.rows, width, precision);
}

// Texts per block when encode streams an iterable: batch_size if given, else this. Large enough
// that the core still sorts plenty of rows by length into each pass.
constexpr std::size_t kDefaultBlockTexts = 1024;

// Any iterable of texts with one task, or a list with a progress bar, through the core's block
// streaming: it asks for the next block (read here, with the GIL, so a generator is read lazily
// and never held whole) and queues each block as it is read, while this function gathers the
// rows of finished blocks into one buffer (reserved up front when the length is known), which
// the array then owns.
//
// Other precisions: each block's float32 rows go through the core's quantize, so only the
// smaller output is kept, except for int8/uint8 without ranges. Those ranges are computed from
// the call's rows, all of them, as for a list: so the float32 rows are kept and quantised once at
// the end (per-block ranges would give each block a different scale).
py::array encode_stream(const Encoder& self, py::handle texts, Task task, int dims, Precision precision,
                        const Ranges* ranges, const EncodeOptions& options, bool show_progress_bar) {
  reject_single_text(texts);
  // Every check that needs no text, before any text is read.
  const std::size_t width = self.check(task, dims, options, precision, ranges);
  const bool whole_call_ranges = (precision == Precision::Int8 || precision == Precision::UInt8) && !ranges;
  const bool keep_floats = precision == Precision::Float32 || whole_call_ranges;
  const std::size_t out_row = row_bytes(precision, width);
  const py::object iterator = iterate(texts);
  const Py_ssize_t known = PyObject_LengthHint(texts.ptr(), -1);
  if (known < 0 && PyErr_Occurred()) throw py::error_already_set();
  const std::size_t block_size =
      options.batch_size > 0 ? static_cast<std::size_t>(options.batch_size) : kDefaultBlockTexts;

  std::vector<float> values;        // float32 rows: all of them (keep_floats), else none
  std::vector<std::uint8_t> bytes;  // quantised rows, when they are made block by block
  if (known > 0 && keep_floats) values.reserve(static_cast<std::size_t>(known) * width);
  if (known > 0 && !keep_floats) bytes.reserve(static_cast<std::size_t>(known) * out_row);
  ProgressBar bar(show_progress_bar, known);
  std::deque<Texts> queued;  // the blocks in the core, oldest first: their objects keep the views valid
  std::size_t read = 0;
  std::size_t rows = 0;
  bool ended = false;

  // Both run on this thread, inside encode_stream, which runs without the GIL.
  const auto next_block = [&](std::vector<std::string_view>& block_texts) {
    return with_gil([&] {
      Texts block;
      if (!ended) ended = !read_texts(iterator, block, block_size, read);
      if (block.size() == 0) return false;
      if (block.given_as_ids()) {
        throw py::type_error("texts given as token ids must come as a list (or tuple), not another iterable, and "
                             "without show_progress_bar");
      }
      read += block.size();
      block_texts = block.views;
      queued.push_back(std::move(block));
      return true;
    });
  };
  const auto on_block = [&](const std::vector<std::string_view>&, Embeddings&& result) {
    const std::size_t count = result.rows;
    if (keep_floats) {
      values.insert(values.end(), result.data.begin(), result.data.end());
    } else {
      bytes.resize((rows + count) * out_row);
      quantize(result.data.data(), count, width, precision, ranges, bytes.data() + rows * out_row);
    }
    rows += count;
    with_gil([&] {
      queued.pop_front();
      bar.update(count);
    });
  };
  without_gil([&] { self.encode_stream(next_block, on_block, task, dims, options); });
  bar.close();

  if (precision == Precision::Float32) {
    return owned_array(std::move(values), py::dtype::of<float>(),
                       {static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(width)});
  }
  if (whole_call_ranges) {
    bytes.resize(rows * out_row);
    without_gil([&] { quantize(values.data(), rows, width, precision, nullptr, bytes.data()); });
  }
  return precision_array(std::move(bytes), rows, width, precision);
}

py::array encode(const EncodeOptions& options, const Encoder& self, py::object texts, py::object task,
                 std::optional<int> dims, py::object precision, py::object ranges, bool show_progress_bar) {
  const int requested = dims.value_or(0);
  const Precision wanted = precision_from_python(precision);
  const std::optional<Ranges> given = ranges_from_python(ranges);
  const Ranges* given_ranges = given ? &*given : nullptr;
  const bool in_memory = PyList_Check(texts.ptr()) || PyTuple_Check(texts.ptr());
  if (!is_task_list(task) && (show_progress_bar || !in_memory)) {
    return encode_stream(self, texts, task_from_python(task), requested, wanted, given_ranges, options,
                         show_progress_bar);
  }
  Texts batch;
  std::vector<Task> tasks;
  if (in_memory) {
    batch = texts_from_python(texts, /*allow_ids=*/true);
    tasks = tasks_from_python(task);
  } else {
    // One task per text from an iterable. The core streams with one task for the whole input,
    // so this input is read whole (the tasks already hold one entry per text; reading stops one
    // text past them) and encoded as one list, after the checks that need no text.
    tasks = tasks_from_python(task);
    self.check(tasks.data(), tasks.size(), requested, options, wanted, given_ranges);
    read_texts(iterate(texts), batch, tasks.size() + 1, 0);
  }
  check_task_count(task, tasks.size(), batch.size());
  ProgressBar bar(show_progress_bar, static_cast<Py_ssize_t>(batch.size()));
  py::array result = encode_texts(self, batch, tasks, requested, wanted, given_ranges, options);
  bar.update(batch.size());
  bar.close();
  return result;
}

// What one encode_async call needs until it is queued, kept together so that a call that must
// wait for room in the queue can do so later on an executor thread.
struct AsyncCall {
  py::object encoder;  // keeps the Encoder alive until the request is queued
  Texts texts;
  std::vector<Task> tasks;
  int dims = 0;
  EncodeOptions options;
  py::object loop;
  py::object future;

  void submit() const {
    const Encoder& self = encoder.cast<const Encoder&>();
    submit_to_future(loop, future, [&](std::function<void()> on_ready) {
      if (texts.given_as_ids()) {
        const std::vector<TokenIds> ids = texts.id_views();
        return self.submit(ids.data(), ids.size(), tasks.data(), tasks.size(), dims, options, std::move(on_ready));
      }
      return self.submit(texts.views.data(), texts.size(), tasks.data(), tasks.size(), dims, options,
                         std::move(on_ready));
    });
  }
};

// The C++ half of Encoder.encode_async (python/jina3/__init__.py): queues the request, whose
// result then resolves future. Returns None, or, when the queue is full and the call may wait for
// room, a callable that does the waiting submit, for the caller to run off the event loop.
//
// precision and ranges are only checked here (Encoder::check, before anything is queued): the
// coroutine quantises the float32 result with jina3.quantize once it has arrived, so that ranges
// computed from the call's rows are the same as encode()'s.
py::object submit_async(const EncodeOptions& options, py::object self, py::object loop, py::object future,
                        py::object texts, py::object task, std::optional<int> dims, py::object precision,
                        py::object ranges) {
  const Precision wanted = precision_from_python(precision);
  const std::optional<Ranges> given = ranges_from_python(ranges);
  auto call = std::make_shared<AsyncCall>();
  call->encoder = self;
  call->texts = texts_from_python(texts, /*allow_ids=*/true);
  call->tasks = tasks_from_python(task);
  check_task_count(task, call->tasks.size(), call->texts.size());
  call->dims = dims.value_or(0);
  self.cast<const Encoder&>().check(call->tasks.data(), call->tasks.size(), call->dims, options, wanted,
                                    given ? &*given : nullptr);
  call->options = options;
  call->options.block_when_full = false;  // never waits: the event loop's thread must not block
  call->loop = loop;
  call->future = future;
  try {
    call->submit();
    return py::none();
  } catch (const Error& e) {
    if (e.code() != ErrorCode::QueueFull || !options.block_when_full) throw;
  }
  call->options.block_when_full = true;
  return py::cpp_function([call] { call->submit(); });
}

// The kernel report as a dict of str, one key per JINA3_KERNEL_FIELDS row.
py::dict kernels(const Encoder& self) {
  const KernelReport report = self.kernels();
  py::dict result;
#define JINA3_X(name, doc) result[#name] = report.name;
  JINA3_KERNEL_FIELDS(JINA3_X)
#undef JINA3_X
  return result;
}

py::dict stats(const Encoder& self) {
  const EncoderStats counters = self.stats();
  py::dict result;
#define JINA3_X(name, doc) result[#name] = counters.name;
  JINA3_STATS_FIELDS(JINA3_X)
#undef JINA3_X
  // Per lane: its counters, and each histogram as {"buckets": [(upper bound or None, count), ...],
  // "count": n, "sum": s} (counts per bucket, not cumulative; None is the last, unbounded one).
  py::dict lanes;
  for (int lane = 0; lane < kPriorityCount; ++lane) {
    const LaneStats& l = counters.lanes[lane];
    py::dict entry;
#define JINA3_X(name, doc) entry[#name] = l.name;
    JINA3_LANE_STATS_FIELDS(JINA3_X)
#undef JINA3_X
    const auto histogram = [](const Histogram& h) {
      py::list buckets;
      for (std::size_t i = 0; i < kHistogramBuckets; ++i) {
        py::object bound = i + 1 < kHistogramBuckets ? py::object(py::int_(histogram_bound(i))) : py::object(py::none());
        buckets.append(py::make_tuple(bound, h.buckets[i]));
      }
      py::dict d;
      d["buckets"] = buckets;
      d["count"] = h.count;
      d["sum"] = h.sum;
      return d;
    };
#define JINA3_X(name, unit, doc) entry[#name] = histogram(l.name);
    JINA3_LANE_HISTOGRAMS(JINA3_X)
#undef JINA3_X
    lanes[to_string(static_cast<Priority>(lane))] = entry;
  }
  result["lanes"] = lanes;
  result["kernels"] = kernels(self);
  return result;
}

py::list encode_tokens(const EncodeOptions& options, const Encoder& self, py::object texts, py::object task) {
  const Texts batch = texts_from_python(texts);
  const std::vector<TextPositions> positions = positions_of(batch);
  const Task one_task = task_from_python(task);
  std::vector<TokenEmbeddings> results =
      without_gil([&] { return self.encode_tokens(batch.views.data(), batch.size(), one_task, options); });
  return token_results(std::move(results), positions);
}

py::list late_chunk(const Encoder& self, py::object texts, py::object task, std::optional<int> dims, py::object spans,
                    std::optional<int> chunk_tokens, std::optional<int> sentences, std::optional<int> window,
                    std::optional<int> overlap, bool normalize, bool include_special_tokens) {
  const Texts batch = texts_from_python(texts);
  const std::vector<TextPositions> positions = positions_of(batch);
  const Task one_task = task_from_python(task);
  LateChunkOptions options = kLateChunkDefaults;
  std::vector<std::vector<std::pair<std::size_t, std::size_t>>> byte_spans;
  if (!spans.is_none()) {
    byte_spans = spans_from_python(spans, positions);
    options.spans = &byte_spans;
  }
  // Set as given (0 included), so that the core checks every value the caller passed.
  options.chunk_tokens = chunk_tokens;
  options.sentences = sentences;
  options.window = window;
  options.overlap = overlap;
  options.normalize = normalize;
  options.include_special_tokens = include_special_tokens;
  std::vector<ChunkEmbeddings> results = without_gil([&] {
    return self.late_chunk(batch.views.data(), batch.size(), one_task, dims.value_or(0), options);
  });
  return chunk_results(std::move(results), positions);
}

std::vector<std::vector<std::int32_t>> tokenize(const EncodeOptions& options, const Encoder& self, py::object texts,
                                                py::object task) {
  const Texts batch = texts_from_python(texts);
  const std::vector<std::string> copies(batch.views.begin(), batch.views.end());
  const Task one_task = task_from_python(task);
  return without_gil([&] { return self.tokenize(copies, one_task, options); });
}

// Paths travel as bytes in the file system encoding, so any name the OS can hold round-trips.
std::string path_from_python(py::handle path) {
  return py::bytes(py::module_::import("os").attr("fsencode")(path));
}
py::object path_to_python(const std::string& path) {
  return py::module_::import("os").attr("fsdecode")(py::bytes(path));
}

std::vector<std::string> task_names(const Encoder& self) {
  std::vector<std::string> names;
  for (Task task : self.tasks()) names.emplace_back(to_string(task));
  return names;
}

py::str describe(const Encoder& self) {
  return py::str("<jina3.Encoder {!r} device={!r} dtype={!r} hidden_size={} dims={} max_length={} tasks={}>")
      .format(path_to_python(self.package_path()), to_string(self.device()), to_string(self.dtype()),
              self.hidden_size(), py::cast(self.dims()), self.max_length(), py::cast(task_names(self)));
}

EncoderHolder load(const EncoderOptions& keywords, py::object path, const std::string& device) {
  EncoderOptions options = keywords;
  options.device = device_from_string(device, &options.device_index);
  const std::string package_path = path_from_python(path);
  // Loading reads and hashes the whole package: no reason to hold up other threads.
  return EncoderHolder(without_gil([&] { return new Encoder(package_path, options); }));
}

// Calls define(keywords...) with one pybind11 argument per row of rows, for a def that lists
// the function's own arguments first.
template <typename List, typename Define>
void with_keyword_arguments(List rows, Define define) {
  std::apply(define, keyword_arguments(rows));
}

}  // namespace

void register_encoder(py::module_& m) {
  py::class_<Encoder, EncoderHolder> encoder(m, "Encoder", R"doc(
A jina-embeddings-v3 model package loaded in-process.

Texts get the task's prompt, ``<s>`` ... ``</s>``, the task's LoRA adapter, mean pooling,
Matryoshka truncation and L2 normalisation, exactly as Jina's own ``encode()`` does.
``encode``, ``encode_async``, ``encode_tokens``, ``late_chunk``, ``tokenize`` and ``stats`` may be
called from many threads at once;
they release the GIL. Every call becomes a request to the encoder's scheduler, which merges the
rows of concurrent callers (threads or asyncio tasks) into shared forward passes.

Example::

    import jina3
    encoder = jina3.Encoder("jina-v3-package", device="cpu")
    vectors = encoder.encode(["How is the weather?"], task="retrieval.query", dims=256)
    vectors.shape  # (1, 256), float32, rows L2-normalised
)doc");

  const std::string load_doc = R"doc(Loads the package directory ``path`` (str or os.PathLike).

device: "cpu", "cuda" or "cuda:N" (N: the )doc" + std::string(rows::encoder::device_index::doc) +
                               R"doc(, 0 for "cuda").
)doc" + keyword_docs(LoadKeywords{}) + R"doc(
Raises ModelNotFoundError, ModelInvalidError, VersionMismatchError, DeviceError or
InvalidArgumentError.

Example::

    encoder = jina3.Encoder("package-bfloat16", device="cuda:0", max_batch_tokens=16384)
    server = jina3.Encoder("package-bfloat16", cache_bytes=256 << 20, max_queued_requests=256)
)doc";
  with_keyword_arguments(LoadKeywords{}, [&](const auto&... keywords) {
    encoder.def(py::init(with_keywords(LoadKeywords{}, &load)), py::arg("path"),
                py::arg("device") = std::string(to_string(EncoderOptions{}.device)), py::kw_only(), keywords...,
                load_doc.c_str());
  });

  const std::string encode_doc = R"doc(Embeds texts; returns an array of shape (number of texts, dims), float32 by default.

texts: a list of str (bytes are taken as UTF-8), or any iterable of them, such as a generator
or a file: those are read and embedded batch_size texts at a time (1024 without batch_size),
never held whole (except with a list of tasks: then the iterable is read first, as a list). A
single str is a TypeError.
task: None (no adapter, no prompt), a name such as "retrieval.query", a jina3.Task, or a list
with one task per text (rows with different tasks still share forward passes).
dims: None for the full size, or one of encoder.dims (Matryoshka).
precision: "float32" (the default), "float16", "int8", "uint8", "binary" or "ubinary", each of
the rows as normalised and truncated: float16 gives np.float16; uint8 per dimension
clip(floor((x - min) / ((max - min) / 255)), 0, 255) as np.uint8, int8 ((x - min) / step - 128)
truncated toward zero and clipped to [-128, 127] as np.int8 (sentence-transformers' formula);
ubinary the bits x > 0 packed 8 per byte (numpy.packbits order) as np.uint8, binary that - 128
as np.int8, both of shape (texts, dims // 8) (dims must be a multiple of 8).
ranges: for int8/uint8, a (2, dims) array, the min row and the max row (see
jina3.calibration_ranges); None computes them from all the rows of this call (for an iterable,
all of its blocks: the float32 rows are kept until the end then). Give the same ranges to a corpus
and to its queries.
show_progress_bar: show a tqdm bar on stderr counting texts (needs tqdm: python3-tqdm).
)doc" + keyword_docs(EncodeKeywords{}) + R"doc(
For a list, the float32 array is the buffer the forward passes wrote, taken over without a copy.
The GIL is released while encoding.

Example::

    q = encoder.encode(["What is LoRA?"], task="retrieval.query", dims=128)
    d = encoder.encode(docs, task=jina3.Task.RetrievalPassage, dims=128)
    scores = q @ d.T
    bits = encoder.encode(docs, task="retrieval.passage", dims=128, precision="ubinary")  # (n, 16) uint8
    vectors = encoder.encode((line.rstrip("\n") for line in open("corpus.txt")), show_progress_bar=True)
)doc";
  with_keyword_arguments(EncodeKeywords{}, [&](const auto&... keywords) {
    encoder.def("encode", with_keywords(EncodeKeywords{}, &encode), py::arg("texts"), py::arg("task") = py::none(),
                py::arg("dims") = py::none(), py::kw_only(),
                py::arg("precision") = std::string(to_string(Precision::Float32)), py::arg("ranges") = py::none(),
                py::arg("show_progress_bar") = false, keywords..., encode_doc.c_str());
    // encode_async itself is the coroutine in python/jina3/__init__.py; this is its C++ half.
    encoder.def("_submit_async", with_keywords(EncodeKeywords{}, &submit_async), py::arg("loop"), py::arg("future"),
                py::arg("texts"), py::arg("task") = py::none(), py::arg("dims") = py::none(), py::kw_only(),
                py::arg("precision") = std::string(to_string(Precision::Float32)), py::arg("ranges") = py::none(),
                keywords..., "Queues an encode whose result resolves the asyncio future (see encode_async).");
  });

  std::string counters;
#define JINA3_X(name, doc) counters += doc_line(#name, doc);
  JINA3_STATS_FIELDS(JINA3_X)
#undef JINA3_X
  std::string lane_fields;
#define JINA3_X(name, doc) lane_fields += "``" #name "`` (" doc "); ";
  JINA3_LANE_STATS_FIELDS(JINA3_X)
#undef JINA3_X
#define JINA3_X(name, unit, doc) lane_fields += "``" #name "`` (histogram of " unit ": " doc "); ";
  JINA3_LANE_HISTOGRAMS(JINA3_X)
#undef JINA3_X
  counters += doc_line("lanes", "per priority lane (\"interactive\", \"bulk\"), a dict: " + lane_fields +
                                    "a histogram is {\"buckets\": [(upper bound, count), ..., (None, count)], "
                                    "\"count\": n, \"sum\": total}, counts per bucket (not cumulative)");
  counters += doc_line("kernels", "which kernels run this encoder, the dict kernels() gives");
  const std::string stats_doc = R"doc(Counters of this encoder since it was loaded, as a dict of int (times in microseconds).

)doc" + counters + R"doc(
Example::

    s = encoder.stats()
    print(s["rows"] / max(s["passes"], 1), "rows per pass;", s["cache_hits"], "cache hits")
)doc";
  encoder.def("stats", &stats, stats_doc.c_str());

  std::string kernel_fields;
#define JINA3_X(name, doc) kernel_fields += doc_line(#name, doc);
  JINA3_KERNEL_FIELDS(JINA3_X)
#undef JINA3_X
  const std::string kernels_doc = R"doc(Which kernels run this encoder's passes, fixed at load, as a dict of str.

)doc" + kernel_fields + R"doc(
Loading an encoder whose notice is not empty warns with it (jina3.PerformanceWarning). The
environment variable JINA3_MAX_CPU_ISA (one of the isa names) caps the CPU features jina3 uses
and reports, as if the CPU were older.

Example::

    k = encoder.kernels()
    print(k["isa"], "bfloat16", k["bf16"], "matmul:", k["matmul"])
)doc";
  encoder.def("kernels", &kernels, kernels_doc.c_str());

  const std::string tokens_doc = R"doc(Token embeddings: a list with one jina3.TokenEmbeddings per text.

Each has ids ((n,) int32: <s>, the task's prompt, the text, </s>), embeddings ((n, hidden_size)
float32: the final hidden states with the task's adapter, before pooling) and offsets ((n, 2)
int64: each token's [start, end) in the text as str indices, without the whitespace sentencepiece
marks with "▁"; (-1, -1) for <s>, </s> and the prompt's tokens; byte offsets for a bytes text).
A cut text keeps its first max_length - 1 tokens and </s>.
)doc" + keyword_docs(TokenKeywords{}) + R"doc(
The GIL is released while encoding.

Example::

    out = encoder.encode_tokens(["Grüße aus München"], task="retrieval.passage")[0]
    start, end = out.offsets[-2]
    "Grüße aus München"[start:end]  # the last token's text
)doc";
  const std::string tokenize_doc = R"doc(The token ids encode() runs for each text: task prompt, <s> and </s> included.

Returns a list with one list of int per text.
)doc" + keyword_docs(TokenKeywords{}) + R"doc(
Example::

    encoder.tokenize(["hello"], task="text-matching")  # [[0, ..., 2]]
)doc";
  with_keyword_arguments(TokenKeywords{}, [&](const auto&... keywords) {
    encoder.def("encode_tokens", with_keywords(TokenKeywords{}, &encode_tokens), py::arg("texts"),
                py::arg("task") = py::none(), py::kw_only(), keywords..., tokens_doc.c_str());
    encoder.def("tokenize", with_keywords(TokenKeywords{}, &tokenize), py::arg("texts"), py::arg("task") = py::none(),
                py::kw_only(), keywords..., tokenize_doc.c_str());
  });

  encoder.def("late_chunk", &late_chunk, py::arg("texts"),
              // The core's default task for late chunking (Encoder::late_chunk).
              py::arg("task") = std::string(to_string(Task::RetrievalPassage)), py::arg("dims") = py::none(),
              py::kw_only(), py::arg("spans") = py::none(), py::arg("chunk_tokens") = py::none(),
              py::arg("sentences") = py::none(), py::arg("window") = py::none(), py::arg("overlap") = py::none(),
              py::arg("normalize") = kLateChunkDefaults.normalize,
              py::arg("include_special_tokens") = kLateChunkDefaults.include_special_tokens,
              R"doc(Late chunking: a list with one jina3.ChunkEmbeddings per text.

Each text runs through the model whole, and each chunk's vector is the mean of its tokens' final
hidden states, cut to dims (None = full size) and L2-normalised (normalize=False: not). A token
belongs to a chunk when its range (see encode_tokens) lies inside the chunk's span. Chunks come
from one of: spans, one list of (start, end) str-index pairs per text; chunk_tokens=N, N content
tokens per chunk; sentences=N, N sentences per chunk (split after ., ! or ? followed by
whitespace or the end of the text); none of them: the whole text is one chunk.
include_special_tokens: the first chunk also pools <s> and the prompt's tokens, the last </s>.
Texts longer than window tokens (None = the package's max_length) run as overlapping windows,
one every window - overlap tokens (overlap None = 512, or window // 2 for windows under 1024),
stitched to one output per token; texts are never truncated.

Each result has embeddings ((chunks, dims) float32), spans ((chunks, 2) str indices) and
token_spans ((chunks, 2) token indices into the full sequence, as encode_tokens numbers them).
Raises InvalidArgumentError naming the bad value for a span outside its text, empty, reversed or
holding no token, chunk_tokens or sentences < 1, overlap >= window, or more than one of spans,
chunk_tokens and sentences. The GIL is released while encoding.

Example::

    doc = "Berlin is the capital of Germany. Its population is 3.8 million."
    chunks = encoder.late_chunk([doc], sentences=1)[0]
    for (start, end), vector in zip(chunks.spans, chunks.embeddings):
        print(doc[start:end], vector[:4])
)doc");

  encoder.def("prompt", [](const Encoder& self, py::object task) { return self.prompt(task_from_python(task)); },
              py::arg("task"), R"doc(The instruction prepended to texts for ``task`` ('' for None).

Example::

    encoder.prompt("retrieval.query")  # 'Represent the query for retrieving evidence documents: '
)doc");

  encoder.def_property_readonly(
      "tasks", &task_names,
      "Names of the task adapters in the package, e.g. ['retrieval.query', ...].");
  encoder.def_property_readonly("dims", &Encoder::dims,
                                "Accepted Matryoshka dims, ascending, e.g. [32, 64, ..., 1024].");
  encoder.def_property_readonly("hidden_size", &Encoder::hidden_size, "Full embedding size (the largest dims).");
  encoder.def_property_readonly("vocab_size", &Encoder::vocab_size,
                                "Vocabulary size: token ids (texts given as lists of int) are below it.");
  encoder.def_property_readonly("max_length", &Encoder::max_length,
                                "Token limit per text, <s> and </s> included.");
  encoder.def_property_readonly(
      "device", [](const Encoder& self) { return std::string(to_string(self.device())); },
      "The device the model runs on: 'cpu' or 'cuda'.");
  encoder.def_property_readonly(
      "dtype", [](const Encoder& self) { return std::string(to_string(self.dtype())); },
      "The effective compute dtype ('float32', 'bfloat16', 'float16' or 'int8'; never 'auto').");
  encoder.def_property_readonly(
      "package_path", [](const Encoder& self) { return path_to_python(self.package_path()); },
      "The package directory as given when loading.");
  encoder.def("__repr__", &describe);
  encoder.attr("__module__") = "jina3";  // where users import it from
}

}  // namespace jina3::python
