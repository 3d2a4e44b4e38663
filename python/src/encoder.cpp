// jina3.Encoder: loads a package and encodes texts into a NumPy array that owns the buffer the
// core writes into (no copy). Every decision about the model lives in the C++ core; this file
// only converts arguments and results.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <jina3/encoder.hpp>

#include "async.hpp"
#include "gil.hpp"
#include "module.hpp"
#include "outputs.hpp"

namespace jina3::python {
namespace {

// Python defaults come from these default-constructed structs, never from retyped literals.
const EncoderOptions kEncoderDefaults{};
const EncodeOptions kEncodeDefaults{};
const LateChunkOptions kLateChunkDefaults{};

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
struct Texts {
  std::vector<py::object> owners;
  std::vector<std::string_view> views;

  // Adds item, text number index of the call (for messages).
  void add(py::handle item, std::size_t index) {
    const char* data = nullptr;
    Py_ssize_t size = 0;
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
};

void reject_single_text(py::handle texts) {
  if (py::isinstance<py::str>(texts) || py::isinstance<py::bytes>(texts)) {
    throw py::type_error("texts must be a list of str, not a single " + type_name(texts) +
                         ": wrap one text in a list, e.g. encoder.encode([text])");
  }
}

std::string not_a_list(py::handle texts) { return "texts must be a list of str, not " + type_name(texts); }

Texts texts_from_python(py::handle texts) {
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
  return result;
}

// How Python indexes each text (str indices, or bytes), for offsets and spans.
std::vector<TextPositions> positions_of(const Texts& texts) {
  std::vector<TextPositions> positions;
  positions.reserve(texts.views.size());
  for (std::size_t i = 0; i < texts.views.size(); ++i) positions.emplace_back(texts.owners[i], texts.views[i]);
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

InvalidArgument task_count_mismatch(std::size_t tasks, std::size_t texts) {
  return InvalidArgument(std::to_string(tasks) + " tasks for " + std::to_string(texts) +
                         " texts: give one task, or a list with one task per text");
}

std::vector<Task> tasks_from_python(py::handle task, std::size_t text_count) {
  std::vector<Task> tasks = tasks_from_python(task);
  // The core reads a single task as "for every text"; a Python list always means one per text.
  if (is_task_list(task) && tasks.size() != text_count) throw task_count_mismatch(tasks.size(), text_count);
  return tasks;
}

EncodeOptions encode_options(bool normalize, std::optional<int> max_length, std::optional<int> batch_size,
                             bool truncate, std::int64_t deadline_us = kEncodeDefaults.deadline_us,
                             bool block_when_full = kEncodeDefaults.block_when_full) {
  EncodeOptions options = kEncodeDefaults;
  options.normalize = normalize;
  options.truncate = truncate;
  if (max_length) options.max_length = *max_length;
  if (batch_size) options.batch_size = *batch_size;
  options.deadline_us = deadline_us;
  options.block_when_full = block_when_full;
  return options;
}

// The row width of a result: the buffer is sized for a dims the package accepts, and any other
// value gets width 0 (no buffer), which the core then rejects (it checks dims before anything
// else), so a huge dims allocates nothing.
std::size_t output_width(const Encoder& self, int requested) {
  const auto& valid = self.dims();
  if (requested == 0) return static_cast<std::size_t>(self.hidden_size());
  if (std::find(valid.begin(), valid.end(), requested) != valid.end()) return static_cast<std::size_t>(requested);
  return 0;
}

// A list or tuple of texts: one call, straight into the buffer the array then owns (float32), or
// the core's precision stage (encode_quantized) and its bytes.
py::array encode_sequence(const Encoder& self, py::handle texts, py::handle task, int dims, Precision precision,
                          const std::optional<Ranges>& ranges, const EncodeOptions& options) {
  const Texts batch = texts_from_python(texts);
  const std::size_t rows = batch.views.size();
  const std::vector<Task> tasks = tasks_from_python(task, rows);
  if (precision != Precision::Float32) {
    QuantizedEmbeddings result = without_gil([&] {
      return self.encode_quantized(batch.views.data(), rows, tasks.data(), tasks.size(), dims, precision,
                                   ranges ? &*ranges : nullptr, options);
    });
    return precision_array(std::move(result.data), result.rows, result.dims, precision);
  }
  const std::size_t width = output_width(self, dims);
  std::unique_ptr<float[]> data(new float[rows * width]);

  without_gil([&] {
    self.encode_into(batch.views.data(), rows, tasks.data(), tasks.size(), dims, data.get(), rows * width, options);
  });

  // NumPy takes the buffer: the capsule frees it when the last view of the array goes.
  float* values = data.get();
  py::capsule owner(values, [](void* buffer) { delete[] static_cast<float*>(buffer); });
  data.release();
  const auto stride = static_cast<py::ssize_t>(width * sizeof(float));
  return py::array_t<float>({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(width)},
                            {stride, static_cast<py::ssize_t>(sizeof(float))}, values, owner);
}

// Texts per call when encode reads an iterable block by block: batch_size if given, else this.
// Large enough that the core still sorts plenty of rows by length into each pass.
constexpr std::size_t kDefaultBlockTexts = 1024;

// tqdm's bar on stderr, counting texts; total < 0 = unknown. tqdm is imported only here.
py::object progress_bar(Py_ssize_t total) {
  py::module_ tqdm;
  try {
    tqdm = py::module_::import("tqdm");
  } catch (py::error_already_set& e) {
    if (!e.matches(PyExc_ImportError)) throw;
    throw py::import_error(std::string("show_progress_bar=True needs tqdm (Debian: apt install python3-tqdm): ") +
                           e.what());
  }
  return tqdm.attr("tqdm")(py::arg("total") = total >= 0 ? py::object(py::int_(total)) : py::object(py::none()),
                           py::arg("unit") = "text");
}

// Any iterable of texts, or a list with a progress bar: one core call per block of texts, so a
// generator is read lazily and never held whole. The rows go into one buffer, reserved up front
// when the length is known, which the array then owns.
//
// Other precisions: each block's float32 rows go through the core's quantize, so only the
// smaller output is kept, except for int8/uint8 without ranges. Those ranges are computed from
// the call's rows, all of them, as for a list: so the float32 rows are kept and quantised once at
// the end (per-block ranges would give each block a different scale).
py::array encode_blocks(const Encoder& self, py::handle texts, py::handle task, int dims, Precision precision,
                        const std::optional<Ranges>& ranges, const EncodeOptions& options, bool show_progress_bar) {
  reject_single_text(texts);
  const std::size_t width = output_width(self, dims);
  const std::vector<Task> tasks = tasks_from_python(task);
  const bool task_per_text = is_task_list(task);
  if (width == 0) {  // an unaccepted dims: the core's error, before any text is read
    self.encode_into(nullptr, 0, tasks.data(), tasks.size(), dims, nullptr, 0, options);
  }
  const Ranges* given = ranges ? &*ranges : nullptr;
  // The precision's own errors (packed dims, ranges), also before any text is read: no rows.
  quantize(nullptr, 0, width, precision, given, nullptr);
  const bool whole_call_ranges = (precision == Precision::Int8 || precision == Precision::UInt8) && !given;
  const bool keep_floats = precision == Precision::Float32 || whole_call_ranges;
  const std::size_t out_row = row_bytes(precision, width);
  py::object iterator = py::reinterpret_steal<py::object>(PyObject_GetIter(texts.ptr()));
  if (!iterator) {
    PyErr_Clear();
    throw py::type_error(not_a_list(texts));
  }
  const Py_ssize_t known = PyObject_LengthHint(texts.ptr(), -1);
  if (known < 0 && PyErr_Occurred()) throw py::error_already_set();
  const std::size_t block_size =
      options.batch_size > 0 ? static_cast<std::size_t>(options.batch_size) : kDefaultBlockTexts;

  std::vector<float> values;    // float32 rows: all of them (keep_floats) or the current block's
  std::vector<std::uint8_t> bytes;  // quantised rows, when they are made block by block
  if (known > 0 && keep_floats) values.reserve(static_cast<std::size_t>(known) * width);
  if (known > 0 && !keep_floats) bytes.reserve(static_cast<std::size_t>(known) * out_row);
  py::object bar = show_progress_bar ? progress_bar(known) : py::object();
  std::size_t rows = 0;
  try {
    for (bool more = true; more;) {
      Texts block;
      while (block.views.size() < block_size) {
        py::object item = py::reinterpret_steal<py::object>(PyIter_Next(iterator.ptr()));
        if (!item) {
          if (PyErr_Occurred()) throw py::error_already_set();
          more = false;
          break;
        }
        block.add(item, rows + block.views.size());
      }
      const std::size_t count = block.views.size();
      if (count == 0) break;
      const Task* block_tasks = tasks.data();
      std::size_t task_count = tasks.size();
      if (task_per_text) {
        if (rows + count > tasks.size()) throw task_count_mismatch(tasks.size(), rows + count);
        block_tasks += rows;
        task_count = count;
      }
      values.resize(((keep_floats ? rows : 0) + count) * width);
      float* output = values.data() + (keep_floats ? rows : 0) * width;
      without_gil([&] {
        self.encode_into(block.views.data(), count, block_tasks, task_count, dims, output, count * width, options);
        if (!keep_floats) {
          bytes.resize((rows + count) * out_row);
          quantize(output, count, width, precision, given, bytes.data() + rows * out_row);
        }
      });
      rows += count;
      if (bar) bar.attr("update")(count);
    }
    if (task_per_text && rows != tasks.size()) throw task_count_mismatch(tasks.size(), rows);
  } catch (...) {
    if (bar) {
      try {
        bar.attr("close")();
      } catch (py::error_already_set&) {  // the first error is the one to report
      }
    }
    throw;
  }
  if (bar) bar.attr("close")();
  if (precision == Precision::Float32) return owning_array(std::move(values), rows, width);
  if (whole_call_ranges) {
    bytes.resize(rows * out_row);
    without_gil([&] { quantize(values.data(), rows, width, precision, nullptr, bytes.data()); });
  }
  return precision_array(std::move(bytes), rows, width, precision);
}

py::array encode(const Encoder& self, py::object texts, py::object task, std::optional<int> dims,
                 py::object precision, py::object ranges, bool normalize, std::optional<int> max_length,
                 std::optional<int> batch_size, bool truncate, std::int64_t deadline_us, bool block_when_full,
                 bool show_progress_bar) {
  const EncodeOptions options = encode_options(normalize, max_length, batch_size, truncate, deadline_us,
                                               block_when_full);
  const int requested = dims.value_or(0);
  const Precision wanted = precision_from_python(precision);
  const std::optional<Ranges> given = ranges_from_python(ranges);
  if (!show_progress_bar && (PyList_Check(texts.ptr()) || PyTuple_Check(texts.ptr()))) {
    return encode_sequence(self, texts, task, requested, wanted, given, options);
  }
  return encode_blocks(self, texts, task, requested, wanted, given, options, show_progress_bar);
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
      return self.encode_async(texts.views.data(), texts.views.size(), tasks.data(), tasks.size(), dims, options,
                               std::move(on_ready));
    });
  }
};

// The C++ half of Encoder.encode_async (python/jina3/__init__.py): queues the request, whose
// result then resolves future. Returns None, or, when the queue is full and the call may wait for
// room, a callable that does the waiting submit, for the caller to run off the event loop.
//
// precision and ranges are only checked here (before anything is queued): the coroutine quantises
// the float32 result with jina3.quantize once it has arrived, so that ranges computed from the
// call's rows are the same as encode()'s.
py::object submit_async(py::object self, py::object loop, py::object future, py::object texts, py::object task,
                        std::optional<int> dims, py::object precision, py::object ranges, bool normalize,
                        std::optional<int> max_length, std::optional<int> batch_size, bool truncate,
                        std::int64_t deadline_us, bool block_when_full) {
  const Precision wanted = precision_from_python(precision);
  const std::optional<Ranges> given = ranges_from_python(ranges);
  const std::size_t width = output_width(self.cast<const Encoder&>(), dims.value_or(0));
  if (width > 0) quantize(nullptr, 0, width, wanted, given ? &*given : nullptr, nullptr);  // else: the dims error
  auto call = std::make_shared<AsyncCall>();
  call->encoder = self;
  call->texts = texts_from_python(texts);
  call->tasks = tasks_from_python(task, call->texts.views.size());
  call->dims = dims.value_or(0);
  call->options = encode_options(normalize, max_length, batch_size, truncate, deadline_us, false);
  call->loop = loop;
  call->future = future;
  try {
    call->submit();  // never waits: the event loop's thread must not block
    return py::none();
  } catch (const Error& e) {
    if (e.code() != ErrorCode::QueueFull || !block_when_full) throw;
  }
  call->options.block_when_full = true;
  return py::cpp_function([call] { call->submit(); });
}

py::dict stats(const Encoder& self) {
  const EncoderStats s = self.stats();
  py::dict result;
  result["requests"] = s.requests;
  result["rows"] = s.rows;
  result["passes"] = s.passes;
  result["tokens"] = s.tokens;
  result["padded_tokens"] = s.padded_tokens;
  result["queue_depth"] = s.queue_depth;
  result["max_queue_depth"] = s.max_queue_depth;
  result["rejected"] = s.rejected;
  result["deadline_exceeded"] = s.deadline_exceeded;
  result["failed"] = s.failed;
  result["cache_hits"] = s.cache_hits;
  result["cache_misses"] = s.cache_misses;
  result["cache_evictions"] = s.cache_evictions;
  result["cache_bytes"] = s.cache_bytes;
  result["cache_entries"] = s.cache_entries;
  result["queue_wait_us"] = s.queue_wait_us;
  result["pass_us"] = s.pass_us;
  return result;
}

py::list encode_tokens(const Encoder& self, py::object texts, py::object task, std::optional<int> max_length,
                       bool truncate) {
  const Texts batch = texts_from_python(texts);
  const std::vector<TextPositions> positions = positions_of(batch);
  const Task one_task = task_from_python(task);
  const EncodeOptions options = encode_options(kEncodeDefaults.normalize, max_length, std::nullopt, truncate);
  std::vector<TokenEmbeddings> results = without_gil(
      [&] { return self.encode_tokens(batch.views.data(), batch.views.size(), one_task, options); });
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
    return self.late_chunk(batch.views.data(), batch.views.size(), one_task, dims.value_or(0), options);
  });
  return chunk_results(std::move(results), positions);
}

std::vector<std::vector<std::int32_t>> tokenize(const Encoder& self, py::object texts, py::object task,
                                                std::optional<int> max_length, bool truncate) {
  const Texts batch = texts_from_python(texts);
  const std::vector<std::string> copies(batch.views.begin(), batch.views.end());
  const Task one_task = task_from_python(task);
  const EncodeOptions options = encode_options(kEncodeDefaults.normalize, max_length, std::nullopt, truncate);
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

  encoder.def(
      py::init([](py::object path, const std::string& device, const std::string& dtype, int num_threads,
                  int max_batch_tokens, int max_batch_size, bool verify_checksums, bool retain_host_memory,
                  int max_wait_us, int max_queued_requests, std::size_t cache_bytes, bool use_scheduler) {
        EncoderOptions options = kEncoderDefaults;
        options.device = device_from_string(device, &options.device_index);
        options.dtype = dtype_from_string(dtype);
        options.num_threads = num_threads;
        options.max_batch_tokens = max_batch_tokens;
        options.max_batch_size = max_batch_size;
        options.verify_checksums = verify_checksums;
        options.retain_host_memory = retain_host_memory;
        options.max_wait_us = max_wait_us;
        options.max_queued_requests = max_queued_requests;
        options.cache_bytes = cache_bytes;
        options.use_scheduler = use_scheduler;
        const std::string package_path = path_from_python(path);
        // Loading reads and hashes the whole package: no reason to hold up other threads.
        return EncoderHolder(without_gil([&] { return new Encoder(package_path, options); }));
      }),
      py::arg("path"), py::arg("device") = std::string(to_string(kEncoderDefaults.device)), py::kw_only(),
      py::arg("dtype") = std::string(to_string(kEncoderDefaults.dtype)),
      py::arg("num_threads") = kEncoderDefaults.num_threads,
      py::arg("max_batch_tokens") = kEncoderDefaults.max_batch_tokens,
      py::arg("max_batch_size") = kEncoderDefaults.max_batch_size,
      py::arg("verify_checksums") = kEncoderDefaults.verify_checksums,
      py::arg("retain_host_memory") = kEncoderDefaults.retain_host_memory,
      py::arg("max_wait_us") = kEncoderDefaults.max_wait_us,
      py::arg("max_queued_requests") = kEncoderDefaults.max_queued_requests,
      py::arg("cache_bytes") = kEncoderDefaults.cache_bytes,
      py::arg("use_scheduler") = kEncoderDefaults.use_scheduler,
      R"doc(Loads the package directory ``path`` (str or os.PathLike).

device: "cpu", "cuda" or "cuda:N". dtype: "auto" (as stored in the package), "float32",
"bfloat16", "float16" or "int8". num_threads: intra-op CPU threads of this encoder's worker,
0 = every CPU the process may run on (sched_getaffinity), not LibTorch's own default.
max_batch_tokens / max_batch_size: padded tokens / rows per forward pass, 0 = automatic.
verify_checksums: check each file's SHA-256 against the manifest.
retain_host_memory: on the CPU, keep freed memory in the process (glibc: no mmap for large
blocks, no trimming) so that passes reuse their pages; process-wide and permanent once set.

Serving: max_wait_us: after a pass that completed several requests, how long the next pass may
wait for those callers to come back before it starts with fewer rows (0 = never; an idle encoder
always starts at once). max_queued_requests: requests accepted and not yet completed, at most;
a full queue makes calls wait, or raise QueueFullError with block_when_full=False (0 = automatic).
cache_bytes: size of an in-process LRU cache of embeddings (exact text, task, dims and options
as the key); 0 = off. use_scheduler=False runs each call on its calling thread instead, with no
merging across callers (for comparison).

Raises ModelNotFoundError, ModelInvalidError, VersionMismatchError, DeviceError or
InvalidArgumentError.

Example::

    encoder = jina3.Encoder("package-bfloat16", device="cuda:0", max_batch_tokens=16384)
    server = jina3.Encoder("package-bfloat16", cache_bytes=256 << 20, max_queued_requests=256)
)doc");

  encoder.def("encode", &encode, py::arg("texts"), py::arg("task") = py::none(), py::arg("dims") = py::none(),
              py::kw_only(), py::arg("precision") = std::string(to_string(Precision::Float32)),
              py::arg("ranges") = py::none(), py::arg("normalize") = kEncodeDefaults.normalize,
              py::arg("max_length") = py::none(), py::arg("batch_size") = py::none(),
              py::arg("truncate") = kEncodeDefaults.truncate, py::arg("deadline_us") = kEncodeDefaults.deadline_us,
              py::arg("block_when_full") = kEncodeDefaults.block_when_full,
              py::arg("show_progress_bar") = false,
              R"doc(Embeds texts; returns an array of shape (number of texts, dims), float32 by default.

texts: a list of str (bytes are taken as UTF-8), or any iterable of them, such as a generator
or a file: those are read and embedded batch_size texts at a time (1024 without batch_size),
never held whole. A single str is a TypeError.
task: None (no adapter, no prompt), a name such as "retrieval.query", a jina3.Task, or a list
with one task per text (rows with different tasks still share forward passes).
dims: None for the full size, or one of encoder.dims (Matryoshka).
precision: "float32" (the default), "float16", "int8", "uint8", "binary" or "ubinary", each of
the rows as normalised and truncated: float16 gives np.float16; uint8 per dimension
clip(floor((x - min) / ((max - min) / 255)), 0, 255) as np.uint8, int8 that - 128 as np.int8;
ubinary the bits x > 0 packed 8 per byte (numpy.packbits order) as np.uint8, binary that - 128
as np.int8, both of shape (texts, dims // 8) (dims must be a multiple of 8).
ranges: for int8/uint8, a (2, dims) array, the min row and the max row (see
jina3.calibration_ranges); None computes them from all the rows of this call (for an iterable,
all of its blocks: the float32 rows are kept until the end then). Give the same ranges to a corpus
and to its queries.
normalize: L2-normalise each row. max_length: token limit per text including <s> and </s>,
None = the package's. batch_size: rows per forward pass, None = the encoder's limits.
truncate: cut over-long texts; False raises InputTooLongError instead.
deadline_us: raise DeadlineExceededError if the request has not started within this many
microseconds (0 = no deadline). block_when_full: when the encoder's queue is full, wait for room
(True) or raise QueueFullError at once (False).
show_progress_bar: show a tqdm bar on stderr counting texts (needs tqdm: python3-tqdm).

The array owns the buffer the library wrote (no copy). The GIL is released while encoding.

Example::

    q = encoder.encode(["What is LoRA?"], task="retrieval.query", dims=128)
    d = encoder.encode(docs, task=jina3.Task.RetrievalPassage, dims=128)
    scores = q @ d.T
    bits = encoder.encode(docs, task="retrieval.passage", dims=128, precision="ubinary")  # (n, 16) uint8
    vectors = encoder.encode((line.rstrip("\n") for line in open("corpus.txt")), show_progress_bar=True)
)doc");

  // encode_async itself is the coroutine in python/jina3/__init__.py; this is its C++ half.
  encoder.def("_submit_async", &submit_async, py::arg("loop"), py::arg("future"), py::arg("texts"),
              py::arg("task") = py::none(), py::arg("dims") = py::none(), py::kw_only(),
              py::arg("precision") = std::string(to_string(Precision::Float32)), py::arg("ranges") = py::none(),
              py::arg("normalize") = kEncodeDefaults.normalize, py::arg("max_length") = py::none(),
              py::arg("batch_size") = py::none(), py::arg("truncate") = kEncodeDefaults.truncate,
              py::arg("deadline_us") = kEncodeDefaults.deadline_us,
              py::arg("block_when_full") = kEncodeDefaults.block_when_full,
              "Queues an encode whose result resolves the asyncio future (see encode_async).");

  encoder.def("stats", &stats, R"doc(Counters of this encoder since it was loaded, as a dict of int.

requests / rows: calls accepted and their texts. passes, tokens, padded_tokens: forward passes
run, the real tokens in them and rows x longest row summed (padding = padded_tokens - tokens).
queue_depth / max_queue_depth: requests accepted and not completed, now and at most. rejected:
calls refused with QueueFullError (an encode_async that then waits for room counts once too).
deadline_exceeded, failed: requests that failed (failed also counts cancelled ones). cache_hits, cache_misses, cache_evictions, cache_bytes, cache_entries:
the embedding cache (cache_bytes=). queue_wait_us: summed over requests, from the call to its
first pass. pass_us: summed time inside forward passes.

Example::

    s = encoder.stats()
    print(s["rows"] / max(s["passes"], 1), "rows per pass;", s["cache_hits"], "cache hits")
)doc");

  encoder.def("encode_tokens", &encode_tokens, py::arg("texts"), py::arg("task") = py::none(), py::kw_only(),
              py::arg("max_length") = py::none(), py::arg("truncate") = kEncodeDefaults.truncate,
              R"doc(Token embeddings: a list with one jina3.TokenEmbeddings per text.

Each has ids ((n,) int32: <s>, the task's prompt, the text, </s>), embeddings ((n, hidden_size)
float32: the final hidden states with the task's adapter, before pooling) and offsets ((n, 2)
int64: each token's [start, end) in the text as str indices, without the whitespace sentencepiece
marks with "▁"; (-1, -1) for <s>, </s> and the prompt's tokens; byte offsets for a bytes text).
max_length / truncate: as for encode (a cut text keeps its first max_length - 1 tokens and </s>).
The GIL is released while encoding.

Example::

    out = encoder.encode_tokens(["Grüße aus München"], task="retrieval.passage")[0]
    start, end = out.offsets[-2]
    "Grüße aus München"[start:end]  # the last token's text
)doc");

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

  encoder.def("tokenize", &tokenize, py::arg("texts"), py::arg("task") = py::none(), py::kw_only(),
              py::arg("max_length") = py::none(), py::arg("truncate") = kEncodeDefaults.truncate,
              R"doc(The token ids encode() runs for each text: task prompt, <s> and </s> included.

Returns a list with one list of int per text, truncated to max_length (None = the package's)
unless truncate=False, which raises InputTooLongError for an over-long text.

Example::

    encoder.tokenize(["hello"], task="text-matching")  # [[0, ..., 2]]
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
