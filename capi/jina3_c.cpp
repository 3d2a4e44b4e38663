// The C ABI (include/jina3/jina3.h) over the C++ API: argument checks and conversions only.
// Every fallible body runs inside guarded(), the one place where C++ exceptions become codes.
#include <jina3/jina3.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <future>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
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

struct jina3_tokens {
  jina3::TokenEmbeddings tokens;
};

// Spans flattened to count x 2 size_t, the layout the getters promise.
struct jina3_chunks {
  jina3::ChunkEmbeddings chunks;
  std::vector<std::size_t> spans;
  std::vector<std::size_t> token_spans;
};

namespace {

// What a request shares with its on_ready function, which the encoder calls on its worker thread
// and which may outlive the request (jina3_request_free may come first). The caller's callback
// runs with mutex held, so detach() (under the same mutex) returns only once no callback can run.
struct RequestNotifier {
  std::mutex mutex;
  jina3_request_callback callback = nullptr;  // nullptr once the request was freed
  void* user_data = nullptr;
  jina3_request* request = nullptr;
  bool armed = false;                         // submit has stored the future: the callback may run
  std::atomic<bool> ready{false};             // the future is ready (jina3_request_ready)
  std::atomic<std::thread::id> calling{};     // the thread running the callback now, if any

  // on_ready of encode_async. It may run inside encode_async, or on the worker before
  // encode_async has returned the future; then the callback waits for arm().
  void on_ready() noexcept {
    std::lock_guard<std::mutex> lock(mutex);
    ready.store(true, std::memory_order_release);
    if (armed) invoke();
  }
  // Called by submit once the request is complete and returned.
  void arm() noexcept {
    std::lock_guard<std::mutex> lock(mutex);
    armed = true;
    if (ready.load(std::memory_order_acquire)) invoke();
  }
  // With mutex held.
  void invoke() noexcept {
    if (callback == nullptr) return;
    calling.store(std::this_thread::get_id());
    callback(request, user_data);
    calling.store(std::thread::id());
  }
  void detach() noexcept {
    // From inside the callback this thread already holds mutex (and the callback is not called again).
    if (calling.load() == std::this_thread::get_id()) {
      callback = nullptr;
      return;
    }
    std::lock_guard<std::mutex> lock(mutex);
    callback = nullptr;
  }
};

}  // namespace

struct jina3_request {
  std::shared_ptr<RequestNotifier> notifier;
  std::size_t rows = 0;
  int dims = 0;
  std::mutex mutex;                        // serialises collecting the result (concurrent waits)
  std::future<jina3::Embeddings> future;   // valid until the result is collected
  std::optional<jina3::Embeddings> result;  // once collected, kept until jina3_request_free
  std::exception_ptr failure;              // or the request's failure, rethrown by every wait
  // Set once wait has the outcome: on_ready (and so notifier->ready) may come a moment after
  // the future is ready, and ready() must not report false after a wait returned.
  std::atomic<bool> collected{false};
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
static_assert(JINA3_ERR_QUEUE_FULL == static_cast<int>(jina3::ErrorCode::QueueFull));
static_assert(JINA3_ERR_DEADLINE_EXCEEDED == static_cast<int>(jina3::ErrorCode::DeadlineExceeded));
static_assert(JINA3_ERR_CANCELLED == static_cast<int>(jina3::ErrorCode::Cancelled));
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
static_assert(JINA3_PRECISION_FLOAT32 == static_cast<int>(jina3::Precision::Float32));
static_assert(JINA3_PRECISION_FLOAT16 == static_cast<int>(jina3::Precision::Float16));
static_assert(JINA3_PRECISION_INT8 == static_cast<int>(jina3::Precision::Int8));
static_assert(JINA3_PRECISION_UINT8 == static_cast<int>(jina3::Precision::UInt8));
static_assert(JINA3_PRECISION_BINARY == static_cast<int>(jina3::Precision::Binary));
static_assert(JINA3_PRECISION_UBINARY == static_cast<int>(jina3::Precision::UBinary));
static_assert(sizeof(jina3::Task) == sizeof(jina3_task), "task arrays are passed through as they are");
// The int a C caller passed as one of this header's enums. C lets any int through an enum
// parameter, while loading a value that is none of the enumerators as the C++ view of that enum
// type is undefined (UBSan: -fsanitize=enum); so the bits are copied out as an int first, and only
// the C++ enum classes (fixed underlying int) hold them afterwards.
template <class Enum>
int raw(const Enum& value) noexcept {
  static_assert(sizeof(Enum) == sizeof(int), "the C enums are int-sized");
  int bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

// The last status this header defines: larger values are not a jina3_status.
constexpr int kLastStatus = JINA3_ERR_CANCELLED;

// One counter per jina3::EncoderStats field, all 64-bit: a field added on one side only is a
// build error here.
static_assert(sizeof(jina3::EncoderStats) % sizeof(std::uint64_t) == 0);
static_assert(sizeof(jina3_stats) == offsetof(jina3_stats, requests) + sizeof(jina3::EncoderStats),
              "jina3_stats must have one uint64_t per jina3::EncoderStats field");

// The layouts published before the serving fields were appended, as the headers of that time
// declared them: their sizes are the struct_size values older programs pass.
struct EncoderOptionsV2 {
  std::size_t struct_size;
  jina3_device device;
  int device_index;
  jina3_dtype dtype;
  int num_threads;
  int max_batch_tokens;
  int max_batch_size;
  bool verify_checksums;
  bool retain_host_memory;
};
static_assert(offsetof(EncoderOptionsV2, retain_host_memory) == offsetof(jina3_encoder_options, retain_host_memory));
struct EncodeOptionsV1 {
  std::size_t struct_size;
  int max_length;
  int batch_size;
  bool normalize;
  bool truncate;
};
static_assert(offsetof(EncodeOptionsV1, truncate) == offsetof(jina3_encode_options, truncate));

// What read_options needs to know of a struct's published layouts.
struct Layouts {
  // The first published layout: the smallest struct_size a caller may pass. Appending a field
  // grows sizeof() but never this.
  std::size_t minimum_size;
  // The layout before the current one and where its fields end. Its tail padding may hold fields
  // appended since (max_wait_us lies in the padding of EncoderOptionsV2), bytes that a caller
  // built with that header never set: those fields keep their defaults.
  std::size_t previous_size;
  std::size_t previous_fields_end;
};
constexpr Layouts kEncoderOptionsLayouts{offsetof(jina3_encoder_options, retain_host_memory),
                                         sizeof(EncoderOptionsV2), offsetof(jina3_encoder_options, max_wait_us)};
constexpr Layouts kEncodeOptionsLayouts{sizeof(EncodeOptionsV1), sizeof(EncodeOptionsV1),
                                        offsetof(jina3_encode_options, deadline_us)};

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
  if (value <= JINA3_OK || value > kLastStatus) return JINA3_ERR_INTERNAL;
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
COptions read_options(const COptions* given, const Layouts& layouts, const char* function, const char* type_name,
                      void (*defaults)(COptions*, std::size_t)) {
  COptions options;
  defaults(&options, sizeof options);
  if (given == nullptr) return options;
  if (given->struct_size < layouts.minimum_size) {
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
  std::size_t bytes = given->struct_size;
  if (bytes <= layouts.previous_size) bytes = std::min(bytes, layouts.previous_fields_end);
  std::memcpy(static_cast<void*>(&options), given, bytes);
  return options;
}

jina3::EncoderOptions to_cpp(const jina3_encoder_options& c) {
  jina3::EncoderOptions options;
  options.device = static_cast<jina3::Device>(raw(c.device));
  options.device_index = c.device_index;
  options.dtype = static_cast<jina3::DType>(raw(c.dtype));
  options.num_threads = c.num_threads;
  options.max_batch_tokens = c.max_batch_tokens;
  options.max_batch_size = c.max_batch_size;
  options.verify_checksums = c.verify_checksums;
  options.retain_host_memory = c.retain_host_memory;
  options.max_wait_us = c.max_wait_us;
  options.max_queued_requests = c.max_queued_requests;
  options.cache_bytes = c.cache_bytes;
  options.use_scheduler = c.use_scheduler;
  return options;
}

jina3::EncodeOptions to_cpp(const jina3_encode_options& c) {
  jina3::EncodeOptions options;
  options.normalize = c.normalize;
  options.truncate = c.truncate;
  options.max_length = c.max_length;
  options.batch_size = c.batch_size;
  options.deadline_us = c.deadline_us;
  options.block_when_full = c.block_when_full;
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
  const jina3::EncodeOptions cpp_options = to_cpp(
      read_options(options, kEncodeOptionsLayouts, function, "jina3_encode_options", jina3_encode_default_options));
  const std::vector<std::string_view> views = text_views(texts, lengths, count, function);
  encoder->encoder.encode_into(views.data(), count, reinterpret_cast<const jina3::Task*>(tasks), task_count, dims, out,
                               out_capacity, cpp_options, truncated);
}

// One text and its length (SIZE_MAX: NUL-terminated) as a view.
std::string_view text_view(const char* text, std::size_t length, const char* function) {
  if (length == SIZE_MAX) {
    require(text != nullptr, function, "text is NULL (pass length 0 for an empty text)");
    return std::string_view(text);
  }
  if (text == nullptr && length != 0) invalid(function, "text is NULL but length is " + std::to_string(length));
  return text == nullptr ? std::string_view() : std::string_view(text, length);
}

constexpr Layouts kLateChunkOptionsLayouts{sizeof(jina3_late_chunk_options), sizeof(jina3_late_chunk_options),
                                           sizeof(jina3_late_chunk_options)};

// A jina3_precision argument as jina3::Precision; INVALID_ARGUMENT for a value that is none.
// By reference: a copy would load the enum, which raw() exists to avoid.
jina3::Precision checked_precision(const jina3_precision& precision, const char* function) {
  const int value = raw(precision);
  if (value < JINA3_PRECISION_FLOAT32 || value > JINA3_PRECISION_UBINARY) {
    invalid(function, "unknown precision value " + std::to_string(value) + "; use a jina3_precision constant");
  }
  return static_cast<jina3::Precision>(value);
}

// Caller ranges, 2 x dims floats (the min row, then the max row); nullopt for NULL.
std::optional<jina3::Ranges> ranges_from_c(const float* ranges, std::size_t dims) {
  if (ranges == nullptr) return std::nullopt;
  return jina3::Ranges{std::vector<float>(ranges, ranges + dims), std::vector<float>(ranges + dims, ranges + 2 * dims)};
}

// BUFFER_TOO_SMALL unless rows x row_bytes fit in capacity bytes (checked before any work).
void require_capacity(const char* function, std::size_t capacity, std::size_t rows, std::size_t row_bytes) {
  if (rows > 0 && capacity / rows < row_bytes) {
    throw jina3::BufferTooSmall(std::string(function) + ": out_capacity_bytes is " + std::to_string(capacity) +
                                ", need " + std::to_string(rows * row_bytes) + " (" + std::to_string(rows) +
                                " rows x " + std::to_string(row_bytes) + " bytes)");
  }
}

}  // namespace

extern "C" {

const char* jina3_version(void) { return jina3::version(); }

int jina3_abi_version(void) { return JINA3_ABI_VERSION; }

const char* jina3_status_name(jina3_status status) {
  const int value = static_cast<int>(status);
  if (value < JINA3_OK || value > kLastStatus) return "unknown";
  return jina3::to_string(static_cast<jina3::ErrorCode>(value));
}

const char* jina3_last_error(void) { return last_error.view; }

jina3_status jina3_error_code(const jina3_error* error) { return error ? error->code : JINA3_OK; }

const char* jina3_error_message(const jina3_error* error) { return error ? error->message.c_str() : ""; }

void jina3_error_free(jina3_error* error) {
  if (error != &kOutOfMemoryError) delete error;
}

const char* jina3_task_name(jina3_task task) { return jina3::to_string(static_cast<jina3::Task>(raw(task))); }

jina3_status jina3_task_from_name(const char* name, jina3_task* task, jina3_error** error) {
  return guarded(error, [&] {
    require(name != nullptr, "jina3_task_from_name", "name is NULL");
    require(task != nullptr, "jina3_task_from_name", "task is NULL");
    *task = static_cast<jina3_task>(jina3::task_from_string(name));
  });
}

const char* jina3_device_name(jina3_device device) { return jina3::to_string(static_cast<jina3::Device>(raw(device))); }

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

const char* jina3_dtype_name(jina3_dtype dtype) { return jina3::to_string(static_cast<jina3::DType>(raw(dtype))); }

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
  c.max_wait_us = cpp.max_wait_us;
  c.max_queued_requests = cpp.max_queued_requests;
  c.cache_bytes = cpp.cache_bytes;
  c.use_scheduler = cpp.use_scheduler;
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
  c.deadline_us = cpp.deadline_us;
  c.block_when_full = cpp.block_when_full;
  std::memcpy(static_cast<void*>(options), &c, std::min(struct_size, sizeof c));
}

jina3_status jina3_encoder_create(const char* package_path, const jina3_encoder_options* options,
                                  jina3_encoder** encoder, jina3_error** error) {
  return guarded(error, [&] {
    constexpr const char* function = "jina3_encoder_create";
    require(package_path != nullptr, function, "package_path is NULL");
    require(encoder != nullptr, function, "encoder is NULL (pass the address of a jina3_encoder*)");
    const jina3::EncoderOptions cpp_options = to_cpp(read_options(options, kEncoderOptionsLayouts, function,
                                                                  "jina3_encoder_options",
                                                                  jina3_encoder_default_options));
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
    *prompt = encoder->encoder.prompt(static_cast<jina3::Task>(raw(task))).c_str();
  });
}

jina3_status jina3_encoder_submit(const jina3_encoder* encoder, const char* const* texts, const size_t* lengths,
                                  size_t count, const jina3_task* tasks, size_t task_count, int dims,
                                  const jina3_encode_options* options, jina3_request_callback callback,
                                  void* user_data, jina3_request** request, jina3_error** error) {
  return guarded(error, [&] {
    constexpr const char* function = "jina3_encoder_submit";
    require(encoder != nullptr, function, "encoder is NULL");
    require(request != nullptr, function, "request is NULL (pass the address of a jina3_request*)");
    if (task_count > 0 && tasks == nullptr) {
      invalid(function, "tasks is NULL but task_count is " + std::to_string(task_count));
    }
    const jina3::EncodeOptions cpp_options = to_cpp(
        read_options(options, kEncodeOptionsLayouts, function, "jina3_encode_options", jina3_encode_default_options));
    const std::vector<std::string_view> views = text_views(texts, lengths, count, function);

    // The request exists before encode_async, since on_ready may run before that returns.
    auto notifier = std::make_shared<RequestNotifier>();
    auto owned = std::make_unique<jina3_request>();
    notifier->callback = callback;
    notifier->user_data = user_data;
    notifier->request = owned.get();
    owned->notifier = notifier;
    owned->rows = count;
    owned->dims = dims == 0 ? encoder->encoder.hidden_size() : dims;
    owned->future = encoder->encoder.encode_async(views.data(), count, reinterpret_cast<const jina3::Task*>(tasks),
                                                  task_count, dims, cpp_options, [notifier] { notifier->on_ready(); });
    *request = owned.release();
    // notifier, not the request, stays in use here: the callback may free the request.
    notifier->arm();
  });
}

jina3_status jina3_request_wait(jina3_request* request, float* out, size_t out_capacity, uint8_t* truncated,
                                jina3_error** error) {
  return guarded(error, [&] {
    constexpr const char* function = "jina3_request_wait";
    require(request != nullptr, function, "request is NULL");
    const std::size_t needed = request->rows * static_cast<std::size_t>(request->dims);
    if (needed > 0 && out == nullptr) {
      invalid(function, "out is NULL but the result has " + std::to_string(needed) + " floats");
    }
    std::lock_guard<std::mutex> lock(request->mutex);
    if (request->future.valid()) {
      try {
        request->result = request->future.get();
      } catch (...) {
        request->failure = std::current_exception();
      }
      request->collected.store(true, std::memory_order_release);
    }
    if (request->failure) std::rethrow_exception(request->failure);
    const jina3::Embeddings& result = *request->result;
    if (out_capacity < result.data.size()) {
      throw jina3::BufferTooSmall(std::string(function) + ": out_capacity is " + std::to_string(out_capacity) +
                                  " floats, need " + std::to_string(result.data.size()) + " (" +
                                  std::to_string(result.rows) + " rows x " + std::to_string(result.dims) + " dims)");
    }
    std::copy(result.data.begin(), result.data.end(), out);
    if (truncated != nullptr) std::copy(result.truncated.begin(), result.truncated.end(), truncated);
  });
}

bool jina3_request_ready(const jina3_request* request) {
  return request != nullptr && (request->notifier->ready.load(std::memory_order_acquire) ||
                                request->collected.load(std::memory_order_acquire));
}

size_t jina3_request_rows(const jina3_request* request) { return request ? request->rows : 0; }

int jina3_request_dims(const jina3_request* request) { return request ? request->dims : 0; }

void jina3_request_free(jina3_request* request) {
  if (request == nullptr) return;
  request->notifier->detach();
  delete request;
}

jina3_status jina3_encoder_stats(const jina3_encoder* encoder, jina3_stats* stats, jina3_error** error) {
  return guarded(error, [&] {
    constexpr const char* function = "jina3_encoder_stats";
    require(encoder != nullptr, function, "encoder is NULL");
    require(stats != nullptr, function, "stats is NULL");
    constexpr std::size_t counters = offsetof(jina3_stats, requests);
    if (stats->struct_size < counters + sizeof(std::uint64_t)) {
      invalid(function, "stats->struct_size is " + std::to_string(stats->struct_size) +
                            ": set it to sizeof(jina3_stats) = " + std::to_string(sizeof(jina3_stats)) +
                            " before the call");
    }
    const jina3::EncoderStats cpp = encoder->encoder.stats();
    jina3_stats c;
    std::memset(static_cast<void*>(&c), 0, sizeof c);
    c.requests = cpp.requests;
    c.rows = cpp.rows;
    c.passes = cpp.passes;
    c.tokens = cpp.tokens;
    c.padded_tokens = cpp.padded_tokens;
    c.queue_depth = cpp.queue_depth;
    c.max_queue_depth = cpp.max_queue_depth;
    c.rejected = cpp.rejected;
    c.deadline_exceeded = cpp.deadline_exceeded;
    c.failed = cpp.failed;
    c.cache_hits = cpp.cache_hits;
    c.cache_misses = cpp.cache_misses;
    c.cache_evictions = cpp.cache_evictions;
    c.cache_bytes = cpp.cache_bytes;
    c.cache_entries = cpp.cache_entries;
    c.queue_wait_us = cpp.queue_wait_us;
    c.pass_us = cpp.pass_us;
    // Whole counters only: a struct_size that ends inside one writes the counters before it.
    const std::size_t fits = std::min(stats->struct_size, sizeof c);
    c.struct_size = counters + (fits - counters) / sizeof(std::uint64_t) * sizeof(std::uint64_t);
    std::memcpy(static_cast<void*>(stats), &c, c.struct_size);
  });
}

size_t jina3_precision_row_bytes(jina3_precision precision, int dims) {
  const int value = raw(precision);
  if (dims < 0 || value < JINA3_PRECISION_FLOAT32 || value > JINA3_PRECISION_UBINARY) return 0;
  return jina3::row_bytes(static_cast<jina3::Precision>(raw(precision)), static_cast<std::size_t>(dims));
}

jina3_status jina3_encoder_encode_quantized(const jina3_encoder* encoder, const char* const* texts,
                                            const size_t* lengths, size_t count, jina3_task task, int dims,
                                            jina3_precision precision, const float* ranges,
                                            const jina3_encode_options* options, void* out,
                                            size_t out_capacity_bytes, uint8_t* truncated, jina3_error** error) {
  return guarded(error, [&] {
    constexpr const char* function = "jina3_encoder_encode_quantized";
    require(encoder != nullptr, function, "encoder is NULL");
    if (count > 0 && out == nullptr) invalid(function, "out is NULL but count is " + std::to_string(count));
    const jina3::Precision cpp_precision = checked_precision(precision, function);
    const jina3::EncodeOptions cpp_options = to_cpp(
        read_options(options, kEncodeOptionsLayouts, function, "jina3_encode_options", jina3_encode_default_options));
    const std::vector<std::string_view> views = text_views(texts, lengths, count, function);
    // The buffer is checked before any pass, so dims must be known good here (the C++ call
    // checks them too, but only after a too-small buffer would have been reported).
    const std::vector<int>& offered = encoder->encoder.dims();
    const int resolved = dims == 0 ? encoder->encoder.hidden_size() : dims;
    if (std::find(offered.begin(), offered.end(), resolved) == offered.end()) {
      invalid(function, "dims " + std::to_string(dims) + " is not offered by the package (see jina3_encoder_dims)");
    }
    const bool packed = cpp_precision == jina3::Precision::Binary || cpp_precision == jina3::Precision::UBinary;
    if (packed && resolved % 8 != 0) {
      invalid(function, std::string("precision ") + jina3::to_string(cpp_precision) +
                            " packs 8 dimensions per byte: dims " + std::to_string(resolved) +
                            " is not a multiple of 8");
    }
    require_capacity(function, out_capacity_bytes, count,
                     jina3::row_bytes(cpp_precision, static_cast<std::size_t>(resolved)));
    const bool ranged = cpp_precision == jina3::Precision::Int8 || cpp_precision == jina3::Precision::UInt8;
    const std::optional<jina3::Ranges> cpp_ranges =
        ranged ? ranges_from_c(ranges, static_cast<std::size_t>(resolved)) : std::nullopt;
    const jina3::Task cpp_task = static_cast<jina3::Task>(raw(task));
    const jina3::QuantizedEmbeddings result = encoder->encoder.encode_quantized(
        views.data(), count, &cpp_task, 1, dims, cpp_precision, cpp_ranges ? &*cpp_ranges : nullptr, cpp_options);
    // Copied only once the whole call succeeded.
    if (!result.data.empty()) std::memcpy(out, result.data.data(), result.data.size());
    if (truncated != nullptr) std::copy(result.truncated.begin(), result.truncated.end(), truncated);
  });
}

jina3_status jina3_calibration_ranges(const float* values, size_t rows, int dims, float* ranges, jina3_error** error) {
  return guarded(error, [&] {
    constexpr const char* function = "jina3_calibration_ranges";
    require(values != nullptr, function, "values is NULL");
    require(ranges != nullptr, function, "ranges is NULL (pass 2 x dims floats)");
    if (dims < 1) invalid(function, "dims " + std::to_string(dims) + " must be at least 1");
    const jina3::Ranges cpp = jina3::calibration_ranges(values, rows, static_cast<std::size_t>(dims));
    std::copy(cpp.min.begin(), cpp.min.end(), ranges);
    std::copy(cpp.max.begin(), cpp.max.end(), ranges + dims);
  });
}

jina3_status jina3_quantize(const float* values, size_t rows, int dims, jina3_precision precision,
                            const float* ranges, void* out, size_t out_capacity_bytes, jina3_error** error) {
  return guarded(error, [&] {
    constexpr const char* function = "jina3_quantize";
    if (rows > 0) {
      require(values != nullptr, function, "values is NULL");
      require(out != nullptr, function, "out is NULL");
    }
    if (dims < 1) invalid(function, "dims " + std::to_string(dims) + " must be at least 1");
    const jina3::Precision cpp_precision = checked_precision(precision, function);
    const auto n = static_cast<std::size_t>(dims);
    const std::size_t row = jina3::row_bytes(cpp_precision, n);
    require_capacity(function, out_capacity_bytes, rows, row);
    const std::optional<jina3::Ranges> cpp_ranges = ranges_from_c(ranges, n);
    // Into a scratch buffer first: quantize checks its arguments before writing, but the caller's
    // buffer must stay untouched on any failure.
    std::vector<std::uint8_t> scratch(rows * row);
    jina3::quantize(values, rows, n, cpp_precision, cpp_ranges ? &*cpp_ranges : nullptr, scratch.data());
    if (!scratch.empty()) std::memcpy(out, scratch.data(), scratch.size());
  });
}

jina3_status jina3_encoder_encode_tokens(const jina3_encoder* encoder, const char* text, size_t length,
                                         jina3_task task, const jina3_encode_options* options, jina3_tokens** tokens,
                                         jina3_error** error) {
  return guarded(error, [&] {
    constexpr const char* function = "jina3_encoder_encode_tokens";
    require(encoder != nullptr, function, "encoder is NULL");
    require(tokens != nullptr, function, "tokens is NULL (pass the address of a jina3_tokens*)");
    const jina3::EncodeOptions cpp_options = to_cpp(
        read_options(options, kEncodeOptionsLayouts, function, "jina3_encode_options", jina3_encode_default_options));
    const std::string_view view = text_view(text, length, function);
    std::vector<jina3::TokenEmbeddings> result =
        encoder->encoder.encode_tokens(&view, 1, static_cast<jina3::Task>(raw(task)), cpp_options);
    if (result.size() != 1) {
      throw std::logic_error("encode_tokens returned " + std::to_string(result.size()) + " results for one text");
    }
    auto owned = std::make_unique<jina3_tokens>();
    owned->tokens = std::move(result[0]);
    *tokens = owned.release();
  });
}

size_t jina3_tokens_count(const jina3_tokens* tokens) { return tokens ? tokens->tokens.size() : 0; }
size_t jina3_tokens_hidden(const jina3_tokens* tokens) { return tokens ? tokens->tokens.hidden : 0; }
const int32_t* jina3_tokens_ids(const jina3_tokens* tokens) { return tokens ? tokens->tokens.ids.data() : nullptr; }
const float* jina3_tokens_embeddings(const jina3_tokens* tokens) {
  return tokens ? tokens->tokens.embeddings.data() : nullptr;
}
const int64_t* jina3_tokens_offsets(const jina3_tokens* tokens) {
  return tokens ? tokens->tokens.offsets.data() : nullptr;
}
bool jina3_tokens_truncated(const jina3_tokens* tokens) { return tokens != nullptr && tokens->tokens.truncated; }
void jina3_tokens_free(jina3_tokens* tokens) { delete tokens; }

void jina3_late_chunk_default_options(jina3_late_chunk_options* options, size_t struct_size) {
  if (options == nullptr || struct_size < sizeof(options->struct_size)) return;
  const jina3::LateChunkOptions cpp;
  jina3_late_chunk_options c;
  std::memset(static_cast<void*>(&c), 0, sizeof c);
  c.struct_size = struct_size;
  c.chunk_tokens = 0;
  c.sentences = 0;
  c.window = 0;
  c.overlap = -1;
  c.normalize = cpp.normalize;
  c.include_special_tokens = cpp.include_special_tokens;
  std::memcpy(static_cast<void*>(options), &c, std::min(struct_size, sizeof c));
}

jina3_status jina3_encoder_late_chunk(const jina3_encoder* encoder, const char* text, size_t length, jina3_task task,
                                      int dims, const size_t* spans, size_t span_count,
                                      const jina3_late_chunk_options* options, jina3_chunks** chunks,
                                      jina3_error** error) {
  return guarded(error, [&] {
    constexpr const char* function = "jina3_encoder_late_chunk";
    require(encoder != nullptr, function, "encoder is NULL");
    require(chunks != nullptr, function, "chunks is NULL (pass the address of a jina3_chunks*)");
    if (spans == nullptr && span_count > 0) {
      invalid(function, "spans is NULL but span_count is " + std::to_string(span_count));
    }
    const jina3_late_chunk_options c = read_options(options, kLateChunkOptionsLayouts, function,
                                                    "jina3_late_chunk_options", jina3_late_chunk_default_options);
    // 0 means "not set" in C; a negative count is passed on so the C++ check names it.
    jina3::LateChunkOptions cpp;
    if (c.chunk_tokens != 0) cpp.chunk_tokens = c.chunk_tokens;
    if (c.sentences != 0) cpp.sentences = c.sentences;
    if (c.window != 0) cpp.window = c.window;
    if (c.overlap >= 0) cpp.overlap = c.overlap;
    cpp.normalize = c.normalize;
    cpp.include_special_tokens = c.include_special_tokens;
    std::vector<std::vector<std::pair<std::size_t, std::size_t>>> span_lists;
    if (spans != nullptr) {
      span_lists.emplace_back();
      for (std::size_t i = 0; i < span_count; ++i) span_lists[0].emplace_back(spans[2 * i], spans[2 * i + 1]);
      cpp.spans = &span_lists;
    }
    const std::string_view view = text_view(text, length, function);
    std::vector<jina3::ChunkEmbeddings> result =
        encoder->encoder.late_chunk(&view, 1, static_cast<jina3::Task>(raw(task)), dims, cpp);
    if (result.size() != 1) {
      throw std::logic_error("late_chunk returned " + std::to_string(result.size()) + " results for one text");
    }
    auto owned = std::make_unique<jina3_chunks>();
    owned->chunks = std::move(result[0]);
    for (const auto& [begin, end] : owned->chunks.spans) owned->spans.insert(owned->spans.end(), {begin, end});
    for (const auto& [begin, end] : owned->chunks.token_spans) {
      owned->token_spans.insert(owned->token_spans.end(), {begin, end});
    }
    *chunks = owned.release();
  });
}

size_t jina3_chunks_count(const jina3_chunks* chunks) { return chunks ? chunks->chunks.size() : 0; }
size_t jina3_chunks_dims(const jina3_chunks* chunks) { return chunks ? chunks->chunks.dims : 0; }
const float* jina3_chunks_embeddings(const jina3_chunks* chunks) {
  return chunks ? chunks->chunks.embeddings.data() : nullptr;
}
const size_t* jina3_chunks_spans(const jina3_chunks* chunks) { return chunks ? chunks->spans.data() : nullptr; }
const size_t* jina3_chunks_token_spans(const jina3_chunks* chunks) {
  return chunks ? chunks->token_spans.data() : nullptr;
}
void jina3_chunks_free(jina3_chunks* chunks) { delete chunks; }

}  // extern "C"
