// The C API against the C++ API it wraps: names, options, getters, round trips and every error path.
#include <jina3/jina3.h>

#include <cmath>
#include <cstddef>
#include <algorithm>
#include <cstring>
#include <functional>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "capi_support.hpp"
#include "support.hpp"

using namespace jina3;
using namespace jina3::capi_test;

namespace {

// A pointer value no call may write: failed calls must leave out-params alone.
template <class T>
T* sentinel_pointer() {
  return reinterpret_cast<T*>(static_cast<std::uintptr_t>(0x5e17e1));
}

std::string long_text(std::size_t words) {
  std::string text;
  for (std::size_t i = 0; i < words; ++i) text += "word ";
  return text;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Library, names, options
// ---------------------------------------------------------------------------------------------

TEST_CASE("version and ABI version match the headers", "[capi][unit]") {
  CHECK(std::string(jina3_version()) == JINA3_VERSION_STRING);
  CHECK(std::string(jina3_version()) == jina3::version());
  CHECK(jina3_abi_version() == JINA3_ABI_VERSION);
}

TEST_CASE("status names equal the C++ error code names", "[capi][unit]") {
  for (int code = JINA3_OK; code <= JINA3_ERR_INTERNAL; ++code) {
    CHECK(std::string(jina3_status_name(static_cast<jina3_status>(code))) ==
          to_string(static_cast<ErrorCode>(code)));
  }
  CHECK(std::string(jina3_status_name(JINA3_ERR_BUFFER_TOO_SMALL)) == "buffer_too_small");
  CHECK(std::string(jina3_status_name(static_cast<jina3_status>(42))) == "unknown");
  CHECK(std::string(jina3_status_name(static_cast<jina3_status>(-1))) == "unknown");
}

TEST_CASE("task names round-trip and unknown names are INVALID_ARGUMENT", "[capi][unit]") {
  const std::vector<std::pair<jina3_task, std::string>> tasks = {
      {JINA3_TASK_NONE, "none"},
      {JINA3_TASK_RETRIEVAL_QUERY, "retrieval.query"},
      {JINA3_TASK_RETRIEVAL_PASSAGE, "retrieval.passage"},
      {JINA3_TASK_SEPARATION, "separation"},
      {JINA3_TASK_CLASSIFICATION, "classification"},
      {JINA3_TASK_TEXT_MATCHING, "text-matching"}};
  for (const auto& [task, name] : tasks) {
    CHECK(jina3_task_name(task) == name);
    jina3_task parsed = static_cast<jina3_task>(99);
    REQUIRE(jina3_task_from_name(name.c_str(), &parsed, nullptr) == JINA3_OK);
    CHECK(parsed == task);
  }
  jina3_task parsed = JINA3_TASK_CLASSIFICATION;
  REQUIRE(jina3_task_from_name("", &parsed, nullptr) == JINA3_OK);
  CHECK(parsed == JINA3_TASK_NONE);
  CHECK(std::string(jina3_task_name(static_cast<jina3_task>(42))) == "unknown");

  SECTION("unknown name") {
    jina3_task task = JINA3_TASK_SEPARATION;
    jina3_error* error = nullptr;
    check_failure(jina3_task_from_name("retrieval", &task, &error), error, JINA3_ERR_INVALID_ARGUMENT,
                  "retrieval.query");
    CHECK(task == JINA3_TASK_SEPARATION);
  }
  SECTION("NULL name or out-pointer") {
    jina3_error* error = nullptr;
    check_failure(jina3_task_from_name(nullptr, &parsed, &error), error, JINA3_ERR_INVALID_ARGUMENT, "name is NULL");
    error = nullptr;
    check_failure(jina3_task_from_name("separation", nullptr, &error), error, JINA3_ERR_INVALID_ARGUMENT,
                  "task is NULL");
  }
}

TEST_CASE("device and dtype names parse like the C++ converters", "[capi][unit]") {
  jina3_device device = JINA3_DEVICE_CPU;
  int index = -1;
  REQUIRE(jina3_device_from_name("cuda:3", &device, &index, nullptr) == JINA3_OK);
  CHECK(device == JINA3_DEVICE_CUDA);
  CHECK(index == 3);
  REQUIRE(jina3_device_from_name("cpu", &device, nullptr, nullptr) == JINA3_OK);
  CHECK(device == JINA3_DEVICE_CPU);
  CHECK(std::string(jina3_device_name(JINA3_DEVICE_CUDA)) == "cuda");

  jina3_error* error = nullptr;
  check_failure(jina3_device_from_name("gpu", &device, &index, &error), error, JINA3_ERR_INVALID_ARGUMENT, "gpu");
  CHECK(device == JINA3_DEVICE_CPU);

  jina3_dtype dtype = JINA3_DTYPE_AUTO;
  REQUIRE(jina3_dtype_from_name("bfloat16", &dtype, nullptr) == JINA3_OK);
  CHECK(dtype == JINA3_DTYPE_BFLOAT16);
  CHECK(std::string(jina3_dtype_name(JINA3_DTYPE_INT8)) == "int8");
  error = nullptr;
  check_failure(jina3_dtype_from_name("float64", &dtype, &error), error, JINA3_ERR_INVALID_ARGUMENT, "float64");
  CHECK(dtype == JINA3_DTYPE_BFLOAT16);
}

TEST_CASE("default options are the C++ defaults", "[capi][unit]") {
  check_default_options();

  SECTION("a NULL struct or one too small for struct_size is left alone") {
    jina3_encoder_default_options(nullptr, sizeof(jina3_encoder_options));
    unsigned char bytes[sizeof(jina3_encode_options)];
    std::memset(bytes, 0x5a, sizeof bytes);
    jina3_encode_default_options(reinterpret_cast<jina3_encode_options*>(bytes), sizeof(std::size_t) - 1);
    for (unsigned char b : bytes) CHECK(b == 0x5a);
  }
  SECTION("a smaller struct_size writes only that many bytes") {
    unsigned char bytes[sizeof(jina3_encode_options) + 8];
    std::memset(bytes, 0x5a, sizeof bytes);
    jina3_encode_default_options(reinterpret_cast<jina3_encode_options*>(bytes), sizeof(std::size_t));
    std::size_t written = 0;
    std::memcpy(&written, bytes, sizeof written);
    CHECK(written == sizeof(std::size_t));
    for (std::size_t i = sizeof(std::size_t); i < sizeof bytes; ++i) CHECK(bytes[i] == 0x5a);
  }
}

// ---------------------------------------------------------------------------------------------
// Encoder creation and getters
// ---------------------------------------------------------------------------------------------

TEST_CASE("getters report the same values as the C++ encoder", "[capi]") {
  const jina3_encoder* c = shared_c_encoder();
  const Encoder& cpp = test::shared_encoder("float32");

  CHECK(jina3_encoder_hidden_size(c) == cpp.hidden_size());
  CHECK(jina3_encoder_max_length(c) == cpp.max_length());
  CHECK(jina3_encoder_device(c) == static_cast<jina3_device>(cpp.device()));
  CHECK(jina3_encoder_dtype(c) == static_cast<jina3_dtype>(cpp.dtype()));
  CHECK(jina3_encoder_dtype(c) == JINA3_DTYPE_FLOAT32);
  CHECK(std::string(jina3_encoder_package_path(c)) == cpp.package_path());

  const std::size_t count = jina3_encoder_dims(c, nullptr, 0);
  REQUIRE(count == cpp.dims().size());
  std::vector<int> dims(count + 2, -7);
  CHECK(jina3_encoder_dims(c, dims.data(), dims.size()) == count);
  CHECK(std::vector<int>(dims.begin(), dims.begin() + count) == cpp.dims());
  CHECK(dims[count] == -7);
  std::vector<int> first_two(3, -7);
  CHECK(jina3_encoder_dims(c, first_two.data(), 2) == count);
  CHECK(first_two[0] == cpp.dims()[0]);
  CHECK(first_two[1] == cpp.dims()[1]);
  CHECK(first_two[2] == -7);

  REQUIRE(jina3_encoder_task_count(c) == cpp.tasks().size());
  for (std::size_t i = 0; i < cpp.tasks().size(); ++i) {
    const jina3_task task = jina3_encoder_task(c, i);
    CHECK(task == static_cast<jina3_task>(cpp.tasks()[i]));
    const char* prompt = nullptr;
    REQUIRE(jina3_encoder_prompt(c, task, &prompt, nullptr) == JINA3_OK);
    CHECK(std::string(prompt) == cpp.prompt(cpp.tasks()[i]));
  }
  CHECK(jina3_encoder_task(c, cpp.tasks().size()) == JINA3_TASK_NONE);
  const char* none_prompt = nullptr;
  REQUIRE(jina3_encoder_prompt(c, JINA3_TASK_NONE, &none_prompt, nullptr) == JINA3_OK);
  CHECK(std::string(none_prompt).empty());

  SECTION("prompt of an unknown task fails and leaves the out-pointer alone") {
    const char* prompt = sentinel_pointer<const char>();
    jina3_error* error = nullptr;
    check_failure(jina3_encoder_prompt(c, static_cast<jina3_task>(9), &prompt, &error), error,
                  JINA3_ERR_INVALID_ARGUMENT, "9");
    CHECK(prompt == sentinel_pointer<const char>());
  }
}

TEST_CASE("the kernel report reads every field of the C++ report", "[capi]") {
  const jina3_encoder* c = shared_c_encoder();
  const KernelReport cpp = test::shared_encoder("float32").kernels();
  std::size_t index = 0;
#define JINA3_X(name, doc)                                                                 \
  {                                                                                        \
    INFO(#name);                                                                           \
    REQUIRE(jina3_kernel_field_name(index) != nullptr);                                    \
    CHECK(std::string(jina3_kernel_field_name(index)) == #name);                           \
    const char* value = nullptr;                                                           \
    REQUIRE(jina3_encoder_kernel_report(c, #name, &value, nullptr) == JINA3_OK);           \
    CHECK(std::string(value) == cpp.name);                                                 \
    ++index;                                                                               \
  }
  JINA3_KERNEL_FIELDS(JINA3_X)
#undef JINA3_X
  CHECK(jina3_kernel_field_count() == index);
  CHECK(jina3_kernel_field_name(index) == nullptr);
  const char* device = nullptr;
  REQUIRE(jina3_encoder_kernel_report(c, "device", &device, nullptr) == JINA3_OK);
  CHECK(std::string(device) == "cpu");
  const char* dtype = nullptr;
  REQUIRE(jina3_encoder_kernel_report(c, "compute_dtype", &dtype, nullptr) == JINA3_OK);
  CHECK(std::string(dtype) == "float32");

  SECTION("an unknown field fails naming the fields and leaves the out-pointer alone") {
    const char* value = sentinel_pointer<const char>();
    jina3_error* error = nullptr;
    check_failure(jina3_encoder_kernel_report(c, "ISA", &value, &error), error, JINA3_ERR_INVALID_ARGUMENT,
                  "unknown field \"ISA\"; the fields are device, isa, bf16");
    CHECK(value == sentinel_pointer<const char>());
  }
  SECTION("NULL arguments") {
    const char* value = nullptr;
    jina3_error* error = nullptr;
    check_failure(jina3_encoder_kernel_report(nullptr, "isa", &value, &error), error, JINA3_ERR_INVALID_ARGUMENT,
                  "encoder is NULL");
    error = nullptr;
    check_failure(jina3_encoder_kernel_report(c, nullptr, &value, &error), error, JINA3_ERR_INVALID_ARGUMENT,
                  "field is NULL");
    error = nullptr;
    check_failure(jina3_encoder_kernel_report(c, "isa", nullptr, &error), error, JINA3_ERR_INVALID_ARGUMENT,
                  "value is NULL");
  }
}

TEST_CASE("getters accept a NULL encoder", "[capi][unit]") {
  CHECK(jina3_encoder_hidden_size(nullptr) == 0);
  CHECK(jina3_encoder_max_length(nullptr) == 0);
  CHECK(jina3_encoder_dims(nullptr, nullptr, 0) == 0);
  CHECK(jina3_encoder_task_count(nullptr) == 0);
  CHECK(jina3_encoder_task(nullptr, 0) == JINA3_TASK_NONE);
  CHECK(jina3_encoder_device(nullptr) == JINA3_DEVICE_CPU);
  CHECK(jina3_encoder_dtype(nullptr) == JINA3_DTYPE_FLOAT32);
  CHECK(std::string(jina3_encoder_package_path(nullptr)).empty());
  jina3_encoder_free(nullptr);
  jina3_error_free(nullptr);
  CHECK(jina3_error_code(nullptr) == JINA3_OK);
  CHECK(std::string(jina3_error_message(nullptr)).empty());
  const char* prompt = nullptr;
  jina3_error* error = nullptr;
  check_failure(jina3_encoder_prompt(nullptr, JINA3_TASK_NONE, &prompt, &error), error, JINA3_ERR_INVALID_ARGUMENT,
                "encoder is NULL");
}

TEST_CASE("create reports each load failure with its code and leaves *encoder alone", "[capi][errors]") {
  jina3_encoder* encoder = sentinel_pointer<jina3_encoder>();
  jina3_error* error = nullptr;
  const std::string good = test::package_dir("float32").string();

  SECTION("NULL path") {
    check_failure(jina3_encoder_create(nullptr, nullptr, &encoder, &error), error, JINA3_ERR_INVALID_ARGUMENT,
                  "package_path is NULL");
  }
  SECTION("NULL out-pointer") {
    check_failure(jina3_encoder_create(good.c_str(), nullptr, nullptr, &error), error, JINA3_ERR_INVALID_ARGUMENT,
                  "encoder is NULL");
  }
  SECTION("missing package") {
    test::TempDir dir;
    const std::string missing = (dir.path() / "no-such-package").string();
    check_failure(jina3_encoder_create(missing.c_str(), nullptr, &encoder, &error), error, JINA3_ERR_MODEL_NOT_FOUND,
                  "no-such-package");
  }
  SECTION("missing file in the package") {
    test::PackageCopy copy(test::package_dir("float32"));
    std::filesystem::remove(copy.path() / "tokenizer.model");
    check_failure(jina3_encoder_create(copy.str().c_str(), nullptr, &encoder, &error), error,
                  JINA3_ERR_MODEL_NOT_FOUND, "tokenizer.model");
  }
  SECTION("corrupt backbone (checksum mismatch)") {
    test::PackageCopy copy(test::package_dir("float32"), {"backbone.pt"});
    {
      std::fstream file(copy.path() / "backbone.pt", std::ios::in | std::ios::out | std::ios::binary);
      file.seekp(1000);
      file.write("CORRUPT", 7);
    }
    check_failure(jina3_encoder_create(copy.str().c_str(), nullptr, &encoder, &error), error,
                  JINA3_ERR_MODEL_INVALID, "backbone.pt");
  }
  SECTION("corrupt manifest") {
    test::PackageCopy copy(test::package_dir("float32"));
    copy.write_manifest_text("{\"format\": \"jina3.package\", ");
    check_failure(jina3_encoder_create(copy.str().c_str(), nullptr, &encoder, &error), error,
                  JINA3_ERR_MODEL_INVALID, "manifest.json");
  }
  SECTION("package format version mismatch") {
    test::PackageCopy copy(test::package_dir("float32"));
    copy.edit_manifest("format_version", [](const json::Value*) { return test::json_int(JINA3_PACKAGE_FORMAT_VERSION + 1); });
    check_failure(jina3_encoder_create(copy.str().c_str(), nullptr, &encoder, &error), error,
                  JINA3_ERR_VERSION_MISMATCH);
  }
  SECTION("option out of range") {
    jina3_encoder_options options;
    jina3_encoder_default_options(&options, sizeof options);
    options.num_threads = -1;
    check_failure(jina3_encoder_create(good.c_str(), &options, &encoder, &error), error, JINA3_ERR_INVALID_ARGUMENT,
                  "num_threads");
  }
  SECTION("unknown dtype value") {
    jina3_encoder_options options;
    jina3_encoder_default_options(&options, sizeof options);
    options.dtype = static_cast<jina3_dtype>(42);
    check_failure(jina3_encoder_create(good.c_str(), &options, &encoder, &error), error, JINA3_ERR_INVALID_ARGUMENT,
                  "42");
  }
  SECTION("unavailable device") {
    jina3_encoder_options options;
    jina3_encoder_default_options(&options, sizeof options);
    options.device = JINA3_DEVICE_CUDA;
    options.device_index = 99;  // no machine has a hundred GPUs
    check_failure(jina3_encoder_create(good.c_str(), &options, &encoder, &error), error, JINA3_ERR_DEVICE);
  }
  SECTION("struct_size not set") {
    jina3_encoder_options options;
    jina3_encoder_default_options(&options, sizeof options);
    options.struct_size = 0;
    check_failure(jina3_encoder_create(good.c_str(), &options, &encoder, &error), error, JINA3_ERR_INVALID_ARGUMENT,
                  "struct_size");
  }
  SECTION("struct_size smaller than the first published layout") {
    jina3_encoder_options options;
    jina3_encoder_default_options(&options, sizeof options);
    // The first published layout ended with verify_checksums.
    options.struct_size = offsetof(jina3_encoder_options, verify_checksums);
    check_failure(jina3_encoder_create(good.c_str(), &options, &encoder, &error), error, JINA3_ERR_INVALID_ARGUMENT,
                  "struct_size");
  }
  SECTION("struct_size from a newer header") {
    struct Newer {
      jina3_encoder_options known;
      std::int64_t appended_field;
    } newer{};
    jina3_encoder_default_options(&newer.known, sizeof newer.known);
    newer.known.struct_size = sizeof newer;
    check_failure(jina3_encoder_create(good.c_str(), &newer.known, &encoder, &error), error,
                  JINA3_ERR_VERSION_MISMATCH, "newer");
  }
  CHECK(encoder == sentinel_pointer<jina3_encoder>());
}

TEST_CASE("create accepts explicit options and NULL options alike", "[capi]") {
  jina3_encoder_options options;
  jina3_encoder_default_options(&options, sizeof options);
  options.verify_checksums = false;
  options.max_batch_size = 2;
  EncoderHandle with_options = open_encoder("float32", &options);
  const std::vector<std::string>& texts = sample_texts();
  const CResult a = c_encode(with_options.get(), texts, JINA3_TASK_TEXT_MATCHING, 0);
  REQUIRE(a.status == JINA3_OK);
  const Embeddings expected = cpp_encode(texts, Task::TextMatching, 0);
  // Different batch limits give different padding; rows must agree within float noise.
  for (std::size_t i = 0; i < texts.size(); ++i) {
    CHECK(test::max_abs_diff(a.data.data() + i * expected.dims, expected.row(i), expected.dims) <= 1e-5);
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding: round trips with the C++ API
// ---------------------------------------------------------------------------------------------

TEST_CASE("encode equals the C++ API for every task and Matryoshka size", "[capi]") {
  const jina3_encoder* c = shared_c_encoder();
  const std::vector<std::string>& texts = sample_texts();
  const std::vector<int> all_dims = test::shared_encoder("float32").dims();
  for (int task_value = JINA3_TASK_NONE; task_value <= JINA3_TASK_TEXT_MATCHING; ++task_value) {
    for (int dims : {0, all_dims.front(), all_dims[all_dims.size() / 2]}) {
      INFO("task " << task_value << ", dims " << dims);
      const CResult result = c_encode(c, texts, static_cast<jina3_task>(task_value), dims);
      REQUIRE(result.status == JINA3_OK);
      const Embeddings expected = cpp_encode(texts, static_cast<Task>(task_value), dims);
      REQUIRE(result.data.size() == expected.data.size());
      CHECK(result.data == expected.data);
      CHECK(result.truncated == expected.truncated);
    }
  }
}

TEST_CASE("encode matches the Python reference within 1e-5", "[capi]") {
  const test::Reference& reference = test::reference();
  const jina3_encoder* c = shared_c_encoder();
  for (const test::ReferenceCase& reference_case : reference.cases) {
    jina3_encode_options options;
    jina3_encode_default_options(&options, sizeof options);
    options.normalize = reference_case.normalize;
    options.max_length = reference_case.max_length;
    const CResult result =
        c_encode(c, reference.texts, static_cast<jina3_task>(reference_case.task), reference_case.dims, &options);
    INFO("task " << to_string(reference_case.task) << ", dims " << reference_case.dims << ", normalize "
                 << reference_case.normalize << ", max_length " << reference_case.max_length << ": "
                 << jina3_last_error());
    REQUIRE(result.status == JINA3_OK);
    const std::size_t dims = reference_case.embeddings.front().size();
    for (std::size_t i = 0; i < reference.texts.size(); ++i) {
      CHECK(test::max_abs_diff(result.data.data() + i * dims, reference_case.embeddings[i]) <= 1e-5);
    }
  }
}

TEST_CASE("texts given with lengths need no NUL and may contain NUL", "[capi]") {
  const jina3_encoder* c = shared_c_encoder();
  const int dims = jina3_encoder_hidden_size(c);

  // One buffer without terminators between texts, an embedded NUL, and an empty NULL text.
  const std::string buffer = "Paris is in France.Berlin is in Germany.";
  const std::string with_nul("before\0after", 12);
  const char* texts[] = {buffer.data(), buffer.data() + 19, with_nul.data(), nullptr};
  const std::size_t lengths[] = {19, 21, with_nul.size(), 0};
  std::vector<float> out(4 * static_cast<std::size_t>(dims));
  REQUIRE(jina3_encoder_encode(c, texts, lengths, 4, JINA3_TASK_RETRIEVAL_PASSAGE, 0, nullptr, out.data(), out.size(),
                               nullptr, nullptr) == JINA3_OK);

  const Embeddings expected = cpp_encode({"Paris is in France.", "Berlin is in Germany.", with_nul, ""},
                                         Task::RetrievalPassage, 0);
  CHECK(out == expected.data);
  // The two halves of the buffer really are different texts.
  CHECK(test::max_abs_diff(out.data(), out.data() + dims, static_cast<std::size_t>(dims)) > 1e-3);
}

TEST_CASE("per-text tasks equal the C++ per-text overload", "[capi]") {
  const jina3_encoder* c = shared_c_encoder();
  const std::vector<std::string>& texts = sample_texts();
  std::vector<jina3_task> c_tasks;
  std::vector<Task> cpp_tasks;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const int value = static_cast<int>(i % 6) - 1;  // none, query, passage, separation, ...
    c_tasks.push_back(static_cast<jina3_task>(value));
    cpp_tasks.push_back(static_cast<Task>(value));
  }
  std::vector<const char*> pointers;
  for (const auto& text : texts) pointers.push_back(text.c_str());
  const int dims = 16;
  std::vector<float> out(texts.size() * dims);
  std::vector<std::uint8_t> truncated(texts.size(), 9);
  REQUIRE(jina3_encoder_encode_tasks(c, pointers.data(), nullptr, texts.size(), c_tasks.data(), dims, nullptr,
                                     out.data(), out.size(), truncated.data(), nullptr) == JINA3_OK);
  const Embeddings expected = test::shared_encoder("float32").encode(texts, cpp_tasks, dims);
  CHECK(out == expected.data);
  CHECK(truncated == expected.truncated);

  SECTION("NULL tasks") {
    jina3_error* error = nullptr;
    check_failure(jina3_encoder_encode_tasks(c, pointers.data(), nullptr, texts.size(), nullptr, dims, nullptr,
                                             out.data(), out.size(), nullptr, &error),
                  error, JINA3_ERR_INVALID_ARGUMENT, "tasks is NULL");
  }
}

TEST_CASE("encode options reach the encoder", "[capi]") {
  const jina3_encoder* c = shared_c_encoder();
  const std::vector<std::string> texts = {long_text(40), "short"};
  jina3_encode_options options;
  jina3_encode_default_options(&options, sizeof options);
  options.normalize = false;
  options.max_length = 16;
  options.batch_size = 1;
  const CResult result = c_encode(c, texts, JINA3_TASK_CLASSIFICATION, 32, &options);
  REQUIRE(result.status == JINA3_OK);
  EncodeOptions cpp_options;
  cpp_options.normalize = false;
  cpp_options.max_length = 16;
  cpp_options.batch_size = 1;
  const Embeddings expected = cpp_encode(texts, Task::Classification, 32, cpp_options);
  CHECK(result.data == expected.data);
  CHECK(result.truncated == std::vector<std::uint8_t>{1, 0});
  // Not normalised: the norm of a row is not 1.
  double norm = 0.0;
  for (int i = 0; i < 32; ++i) norm += static_cast<double>(result.data[i]) * result.data[i];
  CHECK(std::fabs(std::sqrt(norm) - 1.0) > 1e-3);
}

TEST_CASE("an empty batch succeeds without buffers but still checks its arguments", "[capi]") {
  const jina3_encoder* c = shared_c_encoder();
  CHECK(jina3_encoder_encode(c, nullptr, nullptr, 0, JINA3_TASK_RETRIEVAL_QUERY, 0, nullptr, nullptr, 0, nullptr,
                             nullptr) == JINA3_OK);
  jina3_error* error = nullptr;
  check_failure(jina3_encoder_encode(c, nullptr, nullptr, 0, JINA3_TASK_RETRIEVAL_QUERY, 5, nullptr, nullptr, 0,
                                     nullptr, &error),
                error, JINA3_ERR_INVALID_ARGUMENT, "dims 5");
}

// ---------------------------------------------------------------------------------------------
// Encoding: error paths. Each leaves out and truncated untouched.
// ---------------------------------------------------------------------------------------------

TEST_CASE("encode reports each bad call with its code and writes nothing", "[capi][errors]") {
  const jina3_encoder* c = shared_c_encoder();
  const int hidden = jina3_encoder_hidden_size(c);

  // One call's arguments; each case below breaks one of them.
  struct Call {
    const jina3_encoder* encoder;
    std::vector<std::string> texts = {"first text", "second text"};
    std::vector<const char*> pointers;
    const char* const* text_array = nullptr;
    std::size_t lengths_storage[2] = {0, 0};
    const std::size_t* lengths = nullptr;
    jina3_task task = JINA3_TASK_RETRIEVAL_QUERY;
    int dims = 0;
    jina3_encode_options options{};
    bool out_is_null = false;
    std::size_t capacity = 0;
  };
  struct Case {
    const char* name;
    jina3_status expected;
    std::string contains;
    std::function<void(Call&)> edit;
  };
  const auto set_text = [](Call& call, std::size_t i, const std::string& text) {
    call.texts[i] = text;
    call.pointers[i] = call.texts[i].c_str();
  };
  const std::vector<Case> cases = {
      {"NULL encoder", JINA3_ERR_INVALID_ARGUMENT, "encoder is NULL", [](Call& call) { call.encoder = nullptr; }},
      {"NULL texts", JINA3_ERR_INVALID_ARGUMENT, "texts is NULL", [](Call& call) { call.text_array = nullptr; }},
      {"NULL text without lengths", JINA3_ERR_INVALID_ARGUMENT, "texts[1] is NULL",
       [](Call& call) { call.pointers[1] = nullptr; }},
      {"NULL text with a non-zero length", JINA3_ERR_INVALID_ARGUMENT, "texts[0] is NULL",
       [](Call& call) {
         call.pointers[0] = nullptr;
         call.lengths_storage[0] = 3;
         call.lengths_storage[1] = call.texts[1].size();
         call.lengths = call.lengths_storage;
       }},
      {"NULL out", JINA3_ERR_INVALID_ARGUMENT, "out is NULL", [](Call& call) { call.out_is_null = true; }},
      {"buffer one float too small", JINA3_ERR_BUFFER_TOO_SMALL, std::to_string(2 * hidden),
       [](Call& call) { call.capacity -= 1; }},
      {"buffer too small for the requested dims", JINA3_ERR_BUFFER_TOO_SMALL, "need 32",
       [](Call& call) {
         call.dims = 16;
         call.capacity = 31;
       }},
      {"unknown task value", JINA3_ERR_INVALID_ARGUMENT, "7",
       [](Call& call) { call.task = static_cast<jina3_task>(7); }},
      {"negative task value other than NONE", JINA3_ERR_INVALID_ARGUMENT, "-2",
       [](Call& call) { call.task = static_cast<jina3_task>(-2); }},
      {"dims not offered by the model", JINA3_ERR_INVALID_ARGUMENT, "dims 5", [](Call& call) { call.dims = 5; }},
      {"negative dims", JINA3_ERR_INVALID_ARGUMENT, "-16", [](Call& call) { call.dims = -16; }},
      {"invalid UTF-8", JINA3_ERR_INVALID_ARGUMENT, "UTF-8",
       [&](Call& call) { set_text(call, 1, "valid then \xC3\x28 invalid"); }},
      {"over-long text with truncation off (call limit)", JINA3_ERR_INPUT_TOO_LONG, "text 0",
       [&](Call& call) {
         set_text(call, 0, long_text(50));
         call.options.truncate = false;
         call.options.max_length = 8;
       }},
      {"over-long text with truncation off (package limit)", JINA3_ERR_INPUT_TOO_LONG, "text 1",
       [&](Call& call) {
         set_text(call, 1, long_text(static_cast<std::size_t>(jina3_encoder_max_length(c)) + 10));
         call.options.truncate = false;
       }},
      {"max_length out of range", JINA3_ERR_INVALID_ARGUMENT, "max_length",
       [](Call& call) { call.options.max_length = 1; }},
      {"negative batch_size", JINA3_ERR_INVALID_ARGUMENT, "batch_size",
       [](Call& call) { call.options.batch_size = -1; }},
      {"options struct_size not set", JINA3_ERR_INVALID_ARGUMENT, "struct_size",
       [](Call& call) { call.options.struct_size = 0; }},
      {"options struct_size from a newer header", JINA3_ERR_VERSION_MISMATCH, "newer",
       [](Call& call) { call.options.struct_size = sizeof call.options + 8; }},
  };

  for (const Case& bad : cases) {
    INFO("case: " << bad.name);
    Call call;
    call.encoder = c;
    call.pointers = {call.texts[0].c_str(), call.texts[1].c_str()};
    call.text_array = call.pointers.data();
    jina3_encode_default_options(&call.options, sizeof call.options);
    std::vector<float> out(2 * static_cast<std::size_t>(hidden), 7.0f);
    std::vector<std::uint8_t> truncated(2, 0xAB);
    call.capacity = out.size();
    bad.edit(call);

    jina3_error* error = nullptr;
    const jina3_status status =
        jina3_encoder_encode(call.encoder, call.text_array, call.lengths, 2, call.task, call.dims, &call.options,
                             call.out_is_null ? nullptr : out.data(), call.capacity, truncated.data(), &error);
    check_failure(status, error, bad.expected, bad.contains);
    CHECK(std::count(out.begin(), out.end(), 7.0f) == static_cast<std::ptrdiff_t>(out.size()));
    CHECK(truncated == std::vector<std::uint8_t>(2, 0xAB));
  }
}

TEST_CASE("an error object is not written by a successful call", "[capi]") {
  const jina3_encoder* c = shared_c_encoder();
  jina3_error* error = sentinel_pointer<jina3_error>();
  const char* text = "hello";
  std::vector<float> out(static_cast<std::size_t>(jina3_encoder_hidden_size(c)));
  REQUIRE(jina3_encoder_encode(c, &text, nullptr, 1, JINA3_TASK_NONE, 0, nullptr, out.data(), out.size(), nullptr,
                               &error) == JINA3_OK);
  CHECK(error == sentinel_pointer<jina3_error>());
}

TEST_CASE("the last error survives successful calls and each failure replaces it", "[capi]") {
  jina3_task task;
  REQUIRE(jina3_task_from_name("nope-1", &task, nullptr) == JINA3_ERR_INVALID_ARGUMENT);
  const std::string first = jina3_last_error();
  CHECK(first.find("nope-1") != std::string::npos);
  REQUIRE(jina3_task_from_name("separation", &task, nullptr) == JINA3_OK);
  CHECK(jina3_last_error() == first);
  REQUIRE(jina3_task_from_name("nope-2", &task, nullptr) == JINA3_ERR_INVALID_ARGUMENT);
  CHECK(std::string(jina3_last_error()).find("nope-2") != std::string::npos);
}
