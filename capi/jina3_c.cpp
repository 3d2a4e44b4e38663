// The C ABI (include/jina3/jina3.h) over the C++ API: argument checks and conversions only.
// Every fallible body runs inside guarded(), the one place where C++ exceptions become codes.
#include <jina3/jina3.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <jina3/jina3.hpp>

struct jina3_encoder {
  jina3::Encoder encoder;
};

struct jina3_error {
  jina3_status code;
  std::string message;
};

namespace {

// The C and C++ enums are one contract: a mismatch here is a build error, not a wrong code.
static_assert(JINA3_OK == static_cast<int>(jina3::ErrorCode::Ok));
static_assert(JINA3_ERR_INVALID_ARGUMENT == static_cast<int>(jina3::ErrorCode::InvalidArgument));
static_assert(JINA3_ERR_INPUT_TOO_LONG == static_cast<int>(jina3::ErrorCode::InputTooLong));
static_assert(JINA3_ERR_MODEL_NOT_FOUND == static_cast<int>(jina3::ErrorCode::ModelNotFound));
static_assert(JINA3_ERR_MODEL_INVALID == static_cast<int>(jina3::ErrorCode::ModelInvalid));
static_assert(JINA3_ERR_VERSION_MISMATCH == static_cast<int>(jina3::ErrorCode::VersionMismatch));
static_assert(JINA3_ERR_DEVICE == static_cast<int>(jina3::ErrorCode::Device));
static_assert(JINA3_ERR_BUFFER_TOO_SMALL == static_cast<int>(jina3::ErrorCode::BufferTooSmall));
static_assert(JINA3_ERR_OUT_OF_MEMORY == static_cast<int>(jina3::ErrorCode::OutOfMemory));
static_assert(JINA3_ERR_INTERNAL == static_cast<int>(jina3::ErrorCode::Internal));
static_assert(JINA3_TASK_NONE == static_cast<int>(jina3::Task::None));
static_assert(JINA3_TASK_RETRIEVAL_QUERY == static_cast<int>(jina3::Task::RetrievalQuery));
static_assert(JINA3_TASK_RETRIEVAL_PASSAGE == static_cast<int>(jina3::Task::RetrievalPassage));
static_assert(JINA3_TASK_SEPARATION == static_cast<int>(jina3::Task::Separation));
static_assert(JINA3_TASK_CLASSIFICATION == static_cast<int>(jina3::Task::Classification));
static_assert(JINA3_TASK_TEXT_MATCHING == static_cast<int>(jina3::Task::TextMatching));
static_assert(JINA3_DEVICE_CPU == static_cast<int>(jina3::Device::CPU));
static_assert(JINA3_DEVICE_CUDA == static_cast<int>(jina3::Device::CUDA));
static_assert(JINA3_DTYPE_AUTO == static_cast<int>(jina3::DType::Auto));
static_assert(JINA3_DTYPE_FLOAT32 == static_cast<int>(jina3::DType::Float32));
static_assert(JINA3_DTYPE_BFLOAT16 == static_cast<int>(jina3::DType::BFloat16));
static_assert(JINA3_DTYPE_FLOAT16 == static_cast<int>(jina3::DType::Float16));
static_assert(JINA3_DTYPE_INT8 == static_cast<int>(jina3::DType::Int8));
static_assert(sizeof(jina3::Task) == sizeof(jina3_task), "task arrays are passed through as they are");

// Sizes of the first published layouts: the smallest struct_size a caller may pass. Appending a
// field grows sizeof() but never these.
constexpr std::size_t kEncoderOptionsV1Size = offsetof(jina3_encoder_options, retain_host_memory);
constexpr std::size_t kEncodeOptionsV1Size = sizeof(jina3_encode_options);

// Returned when an error object cannot be allocated; jina3_error_free leaves it alone.
const jina3_error kOutOfMemoryError{JINA3_ERR_OUT_OF_MEMORY, "out of memory (while reporting another error)"};

// The thread-local last error. Storing a message may itself fail to allocate, so a fixed
// fallback text takes over then.
struct LastError {
  std::string text;
  const char* view = "";
};
thread_local LastError last_error;

jina3_status fail(jina3_status code, const char* message, jina3_error** error) noexcept {
  try {
    last_error.text = message;
    last_error.view = last_error.text.c_str();
  } catch (...) {
    last_error.view = kOutOfMemoryError.message.c_str();
  }
  if (error != nullptr) {
    try {
      *error = new jina3_error{code, message};
    } catch (...) {
      *error = const_cast<jina3_error*>(&kOutOfMemoryError);
    }
  }
  return code;
}

jina3_status status_of(jina3::ErrorCode code) noexcept {
  const int value = static_cast<int>(code);
  // An Error carrying Ok, or a value this header does not know, is still a failure.
  if (value <= JINA3_OK || value > JINA3_ERR_INTERNAL) return JINA3_ERR_INTERNAL;
  return static_cast<jina3_status>(value);
}

// Runs body, mapping what it throws: jina3::Error to its code, std::bad_alloc to OUT_OF_MEMORY,
// anything else to INTERNAL. Nothing escapes.
template <class Body>
jina3_status guarded(jina3_error** error, Body&& body) noexcept {
  try {
    body();
    return JINA3_OK;
  } catch (const jina3::Error& e) {
    return fail(status_of(e.code()), e.what(), error);
  } catch (const std::bad_alloc&) {
    return fail(JINA3_ERR_OUT_OF_MEMORY, "out of memory", error);
  } catch (const std::exception& e) {
    try {
      const std::string message = std::string("internal error: ") + e.what();
      return fail(JINA3_ERR_INTERNAL, message.c_str(), error);
    } catch (...) {
      return fail(JINA3_ERR_INTERNAL, "internal error", error);
    }
  } catch (...) {
    return fail(JINA3_ERR_INTERNAL, "internal error: unknown exception", error);
  }
}

[[noreturn]] void invalid(const char* function, const std::string& what) {
  throw jina3::InvalidArgument(std::string(function) + ": " + what);
}

void require(bool condition, const char* function, const char* what) {
  if (!condition) invalid(function, what);
}

// Reads a caller's options struct of any published size: the caller's bytes over our defaults,
// so fields appended after the caller's header keep their defaults.
template <class COptions>
COptions read_options(const COptions* given, std::size_t minimum_size, const char* function, const char* type_name,
                      void (*defaults)(COptions*, std::size_t)) {
  COptions options;
  defaults(&options, sizeof options);
  if (given == nullptr) return options;
  if (given->struct_size < minimum_size) {
    invalid(function, std::string("options->struct_size is ") + std::to_string(given->struct_size) + ", expected sizeof(" +
                          type_name + ") = " + std::to_string(sizeof(COptions)) + "; fill the options with " +
                          "the matching *_default_options(&options, sizeof options)");
  }
  if (given->struct_size > sizeof(COptions)) {
    throw jina3::VersionMismatch(std::string(function) + ": options->struct_size is " + std::to_string(given->struct_size) +
                                 " but this libjina3 " + jina3::version() + " knows " + type_name + " of " +
                                 std::to_string(sizeof(COptions)) + " bytes: the program was built with a newer " +
                                 "jina3.h than the library it runs with");
  }
  std::memcpy(static_cast<void*>(&options), given, given->struct_size);
  return options;
}

jina3::EncoderOptions to_cpp(const jina3_encoder_options& c) {
  jina3::EncoderOptions options;
  options.device = static_cast<jina3::Device>(c.device);
  options.device_index = c.device_index;
  options.dtype = static_cast<jina3::DType>(c.dtype);
  options.num_threads = c.num_threads;
  options.max_batch_tokens = c.max_batch_tokens;
  options.max_batch_size = c.max_batch_size;
  options.verify_checksums = c.verify_checksums;
  options.retain_host_memory = c.retain_host_memory;
  return options;
}

jina3::EncodeOptions to_cpp(const jina3_encode_options& c) {
  jina3::EncodeOptions options;
  options.normalize = c.normalize;
  options.truncate = c.truncate;
  options.max_length = c.max_length;
  options.batch_size = c.batch_size;
  return options;
}

// Pointer + optional length arrays as string views (no copies).
std::vector<std::string_view> text_views(const char* const* texts, const std::size_t* lengths, std::size_t count,
                                         const char* function) {
  if (count > 0 && texts == nullptr) invalid(function, "texts is NULL but count is " + std::to_string(count));
  std::vector<std::string_view> views(count);
  for (std::size_t i = 0; i < count; ++i) {
    if (lengths != nullptr) {
      if (texts[i] == nullptr && lengths[i] != 0) {
        invalid(function, "texts[" + std::to_string(i) + "] is NULL but lengths[" + std::to_string(i) + "] is " +
                              std::to_string(lengths[i]));
      }
      views[i] = texts[i] == nullptr ? std::string_view() : std::string_view(texts[i], lengths[i]);
    } else {
      if (texts[i] == nullptr) {
        invalid(function, "texts[" + std::to_string(i) + "] is NULL (pass lengths to give an empty text as NULL)");
      }
      views[i] = std::string_view(texts[i]);
    }
  }
  return views;
}

// The shared body of both encode functions: tasks holds task_count tasks (1, or one per text).
void encode(const char* function, const jina3_encoder* encoder, const char* const* texts, const std::size_t* lengths,
            std::size_t count, const jina3_task* tasks, std::size_t task_count, int dims,
            const jina3_encode_options* options, float* out, std::size_t out_capacity, std::uint8_t* truncated) {
  require(encoder != nullptr, function, "encoder is NULL");
  if (count > 0 && out == nullptr) invalid(function, "out is NULL but count is " + std::to_string(count));
  const jina3::EncodeOptions cpp_options =
      to_cpp(read_options(options, kEncodeOptionsV1Size, function, "jina3_encode_options", jina3_encode_default_options));
  const std::vector<std::string_view> views = text_views(texts, lengths, count, function);
  encoder->encoder.encode_into(views.data(), count, reinterpret_cast<const jina3::Task*>(tasks), task_count, dims, out,
                               out_capacity, cpp_options, truncated);
}

}  // namespace

extern "C" {

const char* jina3_version(void) { return jina3::version(); }

int jina3_abi_version(void) { return JINA3_ABI_VERSION; }

const char* jina3_status_name(jina3_status status) {
  const int value = static_cast<int>(status);
  if (value < JINA3_OK || value > JINA3_ERR_INTERNAL) return "unknown";
  return jina3::to_string(static_cast<jina3::ErrorCode>(value));
}

const char* jina3_last_error(void) { return last_error.view; }

jina3_status jina3_error_code(const jina3_error* error) { return error ? error->code : JINA3_OK; }

const char* jina3_error_message(const jina3_error* error) { return error ? error->message.c_str() : ""; }

void jina3_error_free(jina3_error* error) {
  if (error != &kOutOfMemoryError) delete error;
}

const char* jina3_task_name(jina3_task task) { return jina3::to_string(static_cast<jina3::Task>(task)); }

jina3_status jina3_task_from_name(const char* name, jina3_task* task, jina3_error** error) {
  return guarded(error, [&] {
    require(name != nullptr, "jina3_task_from_name", "name is NULL");
    require(task != nullptr, "jina3_task_from_name", "task is NULL");
    *task = static_cast<jina3_task>(jina3::task_from_string(name));
  });
}

const char* jina3_device_name(jina3_device device) { return jina3::to_string(static_cast<jina3::Device>(device)); }

jina3_status jina3_device_from_name(const char* name, jina3_device* device, int* index, jina3_error** error) {
  return guarded(error, [&] {
    require(name != nullptr, "jina3_device_from_name", "name is NULL");
    require(device != nullptr, "jina3_device_from_name", "device is NULL");
    int parsed_index = 0;
    const jina3::Device parsed = jina3::device_from_string(name, &parsed_index);
    *device = static_cast<jina3_device>(parsed);
    if (index != nullptr) *index = parsed_index;
  });
}

const char* jina3_dtype_name(jina3_dtype dtype) { return jina3::to_string(static_cast<jina3::DType>(dtype)); }

jina3_status jina3_dtype_from_name(const char* name, jina3_dtype* dtype, jina3_error** error) {
  return guarded(error, [&] {
    require(name != nullptr, "jina3_dtype_from_name", "name is NULL");
    require(dtype != nullptr, "jina3_dtype_from_name", "dtype is NULL");
    *dtype = static_cast<jina3_dtype>(jina3::dtype_from_string(name));
  });
}

void jina3_encoder_default_options(jina3_encoder_options* options, size_t struct_size) {
  if (options == nullptr || struct_size < sizeof(options->struct_size)) return;
  const jina3::EncoderOptions cpp;
  jina3_encoder_options c;
  std::memset(static_cast<void*>(&c), 0, sizeof c);  // padding too: the bytes are copied below
  c.struct_size = struct_size;
  c.device = static_cast<jina3_device>(cpp.device);
  c.device_index = cpp.device_index;
  c.dtype = static_cast<jina3_dtype>(cpp.dtype);
  c.num_threads = cpp.num_threads;
  c.max_batch_tokens = cpp.max_batch_tokens;
  c.max_batch_size = cpp.max_batch_size;
  c.verify_checksums = cpp.verify_checksums;
  c.retain_host_memory = cpp.retain_host_memory;
  std::memcpy(static_cast<void*>(options), &c, std::min(struct_size, sizeof c));
}

void jina3_encode_default_options(jina3_encode_options* options, size_t struct_size) {
  if (options == nullptr || struct_size < sizeof(options->struct_size)) return;
  const jina3::EncodeOptions cpp;
  jina3_encode_options c;
  std::memset(static_cast<void*>(&c), 0, sizeof c);
  c.struct_size = struct_size;
  c.max_length = cpp.max_length;
  c.batch_size = cpp.batch_size;
  c.normalize = cpp.normalize;
  c.truncate = cpp.truncate;
  std::memcpy(static_cast<void*>(options), &c, std::min(struct_size, sizeof c));
}

jina3_status jina3_encoder_create(const char* package_path, const jina3_encoder_options* options,
                                  jina3_encoder** encoder, jina3_error** error) {
  return guarded(error, [&] {
    constexpr const char* function = "jina3_encoder_create";
    require(package_path != nullptr, function, "package_path is NULL");
    require(encoder != nullptr, function, "encoder is NULL (pass the address of a jina3_encoder*)");
    const jina3::EncoderOptions cpp_options = to_cpp(
        read_options(options, kEncoderOptionsV1Size, function, "jina3_encoder_options", jina3_encoder_default_options));
    *encoder = new jina3_encoder{jina3::Encoder(package_path, cpp_options)};
  });
}

void jina3_encoder_free(jina3_encoder* encoder) { delete encoder; }

jina3_status jina3_encoder_encode(const jina3_encoder* encoder, const char* const* texts, const size_t* lengths,
                                  size_t count, jina3_task task, int dims, const jina3_encode_options* options,
                                  float* out, size_t out_capacity, uint8_t* truncated, jina3_error** error) {
  return guarded(error, [&] {
    encode("jina3_encoder_encode", encoder, texts, lengths, count, &task, 1, dims, options, out, out_capacity,
           truncated);
  });
}

jina3_status jina3_encoder_encode_tasks(const jina3_encoder* encoder, const char* const* texts, const size_t* lengths,
                                        size_t count, const jina3_task* tasks, int dims,
                                        const jina3_encode_options* options, float* out, size_t out_capacity,
                                        uint8_t* truncated, jina3_error** error) {
  return guarded(error, [&] {
    constexpr const char* function = "jina3_encoder_encode_tasks";
    if (count > 0 && tasks == nullptr) invalid(function, "tasks is NULL but count is " + std::to_string(count));
    encode(function, encoder, texts, lengths, count, tasks, count, dims, options, out, out_capacity, truncated);
  });
}

size_t jina3_encoder_dims(const jina3_encoder* encoder, int* dims, size_t capacity) {
  if (encoder == nullptr) return 0;
  const std::vector<int>& all = encoder->encoder.dims();
  if (dims != nullptr) std::copy_n(all.begin(), std::min(capacity, all.size()), dims);
  return all.size();
}

int jina3_encoder_hidden_size(const jina3_encoder* encoder) { return encoder ? encoder->encoder.hidden_size() : 0; }

int jina3_encoder_max_length(const jina3_encoder* encoder) { return encoder ? encoder->encoder.max_length() : 0; }

size_t jina3_encoder_task_count(const jina3_encoder* encoder) { return encoder ? encoder->encoder.tasks().size() : 0; }

jina3_task jina3_encoder_task(const jina3_encoder* encoder, size_t index) {
  if (encoder == nullptr || index >= encoder->encoder.tasks().size()) return JINA3_TASK_NONE;
  return static_cast<jina3_task>(encoder->encoder.tasks()[index]);
}

jina3_device jina3_encoder_device(const jina3_encoder* encoder) {
  return static_cast<jina3_device>(encoder ? encoder->encoder.device() : jina3::Device::CPU);
}

jina3_dtype jina3_encoder_dtype(const jina3_encoder* encoder) {
  return static_cast<jina3_dtype>(encoder ? encoder->encoder.dtype() : jina3::DType::Float32);
}

const char* jina3_encoder_package_path(const jina3_encoder* encoder) {
  return encoder ? encoder->encoder.package_path().c_str() : "";
}

jina3_status jina3_encoder_prompt(const jina3_encoder* encoder, jina3_task task, const char** prompt,
                                  jina3_error** error) {
  return guarded(error, [&] {
    require(encoder != nullptr, "jina3_encoder_prompt", "encoder is NULL");
    require(prompt != nullptr, "jina3_encoder_prompt", "prompt is NULL");
    *prompt = encoder->encoder.prompt(static_cast<jina3::Task>(task)).c_str();
  });
}

}  // extern "C"
