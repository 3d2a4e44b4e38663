// jina3.Encoder: loads a package and encodes texts into a NumPy array that owns the buffer the
// core writes into (no copy). Every decision about the model lives in the C++ core; this file
// only converts arguments and results.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <jina3/encoder.hpp>

#include "gil.hpp"
#include "module.hpp"

namespace jina3::python {
namespace {

// Python defaults come from these default-constructed structs, never from retyped literals.
const EncoderOptions kEncoderDefaults{};
const EncodeOptions kEncodeDefaults{};

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
};

Texts texts_from_python(py::handle texts) {
  if (py::isinstance<py::str>(texts) || py::isinstance<py::bytes>(texts)) {
    throw py::type_error("texts must be a list of str, not a single " + type_name(texts) +
                         ": wrap one text in a list, e.g. encoder.encode([text])");
  }
  const std::string not_a_list = "texts must be a list of str, not " + type_name(texts);
  py::object sequence = py::reinterpret_steal<py::object>(PySequence_Fast(texts.ptr(), not_a_list.c_str()));
  if (!sequence) throw py::error_already_set();

  Texts result;
  const Py_ssize_t count = PySequence_Fast_GET_SIZE(sequence.ptr());
  PyObject** items = PySequence_Fast_ITEMS(sequence.ptr());
  result.owners.reserve(static_cast<std::size_t>(count));
  result.views.reserve(static_cast<std::size_t>(count));
  for (Py_ssize_t i = 0; i < count; ++i) {
    PyObject* item = items[i];
    const char* data = nullptr;
    Py_ssize_t size = 0;
    if (PyUnicode_Check(item)) {
      data = PyUnicode_AsUTF8AndSize(item, &size);
      if (data == nullptr) {  // lone surrogates: a str that has no UTF-8 form
        py::error_already_set cause;
        throw InvalidArgument("text " + std::to_string(i) + " is not valid UTF-8: " + cause.what());
      }
    } else if (PyBytes_Check(item)) {  // raw UTF-8, checked by the core
      char* bytes = nullptr;
      if (PyBytes_AsStringAndSize(item, &bytes, &size) != 0) throw py::error_already_set();
      data = bytes;
    } else {
      throw py::type_error("texts[" + std::to_string(i) + "] is " + type_name(item) + ", expected str");
    }
    result.owners.push_back(py::reinterpret_borrow<py::object>(item));
    result.views.emplace_back(data, static_cast<std::size_t>(size));
  }
  return result;
}

// task: one task for every text, or a list/tuple with one per text.
std::vector<Task> tasks_from_python(py::handle task, std::size_t text_count) {
  if (!py::isinstance<py::list>(task) && !py::isinstance<py::tuple>(task)) return {task_from_python(task)};
  std::vector<Task> tasks;
  for (py::handle item : task) tasks.push_back(task_from_python(item));
  // The core reads a single task as "for every text"; a Python list always means one per text.
  if (tasks.size() != text_count) {
    throw InvalidArgument(std::to_string(tasks.size()) + " tasks for " + std::to_string(text_count) +
                          " texts: give one task, or a list with one task per text");
  }
  return tasks;
}

EncodeOptions encode_options(bool normalize, std::optional<int> max_length, std::optional<int> batch_size,
                             bool truncate) {
  EncodeOptions options = kEncodeDefaults;
  options.normalize = normalize;
  options.truncate = truncate;
  if (max_length) options.max_length = *max_length;
  if (batch_size) options.batch_size = *batch_size;
  return options;
}

py::array_t<float> encode(const Encoder& self, py::object texts, py::object task, std::optional<int> dims,
                          bool normalize, std::optional<int> max_length, std::optional<int> batch_size,
                          bool truncate) {
  const Texts batch = texts_from_python(texts);
  const std::size_t rows = batch.views.size();
  const std::vector<Task> tasks = tasks_from_python(task, rows);
  const EncodeOptions options = encode_options(normalize, max_length, batch_size, truncate);

  // The buffer is sized for a dims the package accepts; any other value gets no buffer and the
  // core rejects it (it checks dims before anything else), so a huge dims allocates nothing.
  const int requested = dims.value_or(0);
  const auto& valid = self.dims();
  std::size_t width = 0;
  if (requested == 0) width = static_cast<std::size_t>(self.hidden_size());
  else if (std::find(valid.begin(), valid.end(), requested) != valid.end()) width = static_cast<std::size_t>(requested);
  std::unique_ptr<float[]> data(new float[rows * width]);

  without_gil([&] {
    self.encode_into(batch.views.data(), rows, tasks.data(), tasks.size(), requested, data.get(), rows * width,
                     options);
  });

  // NumPy takes the buffer: the capsule frees it when the last view of the array goes.
  float* values = data.get();
  py::capsule owner(values, [](void* buffer) { delete[] static_cast<float*>(buffer); });
  data.release();
  const auto stride = static_cast<py::ssize_t>(width * sizeof(float));
  return py::array_t<float>({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(width)},
                            {stride, static_cast<py::ssize_t>(sizeof(float))}, values, owner);
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
``encode`` and ``tokenize`` may be called from many threads at once; they release the GIL.

Example::

    import jina3
    encoder = jina3.Encoder("jina-v3-package", device="cpu")
    vectors = encoder.encode(["How is the weather?"], task="retrieval.query", dims=256)
    vectors.shape  # (1, 256), float32, rows L2-normalised
)doc");

  encoder.def(
      py::init([](py::object path, const std::string& device, const std::string& dtype, int num_threads,
                  int max_batch_tokens, int max_batch_size, bool verify_checksums, bool retain_host_memory) {
        EncoderOptions options = kEncoderDefaults;
        options.device = device_from_string(device, &options.device_index);
        options.dtype = dtype_from_string(dtype);
        options.num_threads = num_threads;
        options.max_batch_tokens = max_batch_tokens;
        options.max_batch_size = max_batch_size;
        options.verify_checksums = verify_checksums;
        options.retain_host_memory = retain_host_memory;
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
      R"doc(Loads the package directory ``path`` (str or os.PathLike).

device: "cpu", "cuda" or "cuda:N". dtype: "auto" (as stored in the package), "float32",
"bfloat16", "float16" or "int8". num_threads: intra-op CPU threads, 0 = LibTorch default
(process-wide). max_batch_tokens / max_batch_size: padded tokens / rows per forward pass,
0 = automatic. verify_checksums: check each file's SHA-256 against the manifest.
retain_host_memory: on the CPU, keep freed memory in the process (glibc: no mmap for large
blocks, no trimming) so that passes reuse their pages; process-wide and permanent once set.

Raises ModelNotFoundError, ModelInvalidError, VersionMismatchError, DeviceError or
InvalidArgumentError.

Example::

    encoder = jina3.Encoder("package-bfloat16", device="cuda:0", max_batch_tokens=16384)
)doc");

  encoder.def("encode", &encode, py::arg("texts"), py::arg("task") = py::none(), py::arg("dims") = py::none(),
              py::kw_only(), py::arg("normalize") = kEncodeDefaults.normalize,
              py::arg("max_length") = py::none(), py::arg("batch_size") = py::none(),
              py::arg("truncate") = kEncodeDefaults.truncate,
              R"doc(Embeds a list of texts; returns a float32 array of shape (len(texts), dims).

texts: list of str (bytes are taken as UTF-8). A single str is a TypeError.
task: None (no adapter, no prompt), a name such as "retrieval.query", a jina3.Task, or a list
with one task per text (rows with different tasks still share forward passes).
dims: None for the full size, or one of encoder.dims (Matryoshka).
normalize: L2-normalise each row. max_length: token limit per text including <s> and </s>,
None = the package's. batch_size: rows per forward pass, None = the encoder's limits.
truncate: cut over-long texts; False raises InputTooLongError instead.

The array owns the buffer the library wrote (no copy). The GIL is released while encoding.

Example::

    q = encoder.encode(["What is LoRA?"], task="retrieval.query", dims=128)
    d = encoder.encode(docs, task=jina3.Task.RetrievalPassage, dims=128)
    scores = q @ d.T
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
