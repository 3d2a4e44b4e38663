// The shared part of the C ABI (see boundary.hpp), and the error report with its four readers:
// the thread-local last error and the error objects are written here and nowhere else.
#include "boundary.hpp"

#include <cstdint>
#include <string>

namespace jina3::capi {
namespace {

// The C and C++ enums are one contract: a mismatch here is a build error, not a wrong value.
// The C names are in no table, so each is listed; the last-row check makes a code appended to
// JINA3_ERROR_CODES without its JINA3_ERR_* (and its line here) a build error too.
static_assert(JINA3_OK == static_cast<int>(ErrorCode::Ok));
static_assert(JINA3_ERR_INVALID_ARGUMENT == static_cast<int>(ErrorCode::InvalidArgument));
static_assert(JINA3_ERR_INPUT_TOO_LONG == static_cast<int>(ErrorCode::InputTooLong));
static_assert(JINA3_ERR_MODEL_NOT_FOUND == static_cast<int>(ErrorCode::ModelNotFound));
static_assert(JINA3_ERR_MODEL_INVALID == static_cast<int>(ErrorCode::ModelInvalid));
static_assert(JINA3_ERR_VERSION_MISMATCH == static_cast<int>(ErrorCode::VersionMismatch));
static_assert(JINA3_ERR_DEVICE == static_cast<int>(ErrorCode::Device));
static_assert(JINA3_ERR_BUFFER_TOO_SMALL == static_cast<int>(ErrorCode::BufferTooSmall));
static_assert(JINA3_ERR_OUT_OF_MEMORY == static_cast<int>(ErrorCode::OutOfMemory));
static_assert(JINA3_ERR_INTERNAL == static_cast<int>(ErrorCode::Internal));
static_assert(JINA3_ERR_QUEUE_FULL == static_cast<int>(ErrorCode::QueueFull));
static_assert(JINA3_ERR_DEADLINE_EXCEEDED == static_cast<int>(ErrorCode::DeadlineExceeded));
static_assert(JINA3_ERR_CANCELLED == static_cast<int>(ErrorCode::Cancelled));
static_assert(JINA3_TASK_NONE == static_cast<int>(Task::None));
static_assert(JINA3_TASK_RETRIEVAL_QUERY == static_cast<int>(Task::RetrievalQuery));
static_assert(JINA3_TASK_RETRIEVAL_PASSAGE == static_cast<int>(Task::RetrievalPassage));
static_assert(JINA3_TASK_SEPARATION == static_cast<int>(Task::Separation));
static_assert(JINA3_TASK_CLASSIFICATION == static_cast<int>(Task::Classification));
static_assert(JINA3_TASK_TEXT_MATCHING == static_cast<int>(Task::TextMatching));
static_assert(JINA3_DEVICE_CPU == static_cast<int>(Device::CPU));
static_assert(JINA3_DEVICE_CUDA == static_cast<int>(Device::CUDA));
static_assert(JINA3_DTYPE_AUTO == static_cast<int>(DType::Auto));
static_assert(JINA3_DTYPE_FLOAT32 == static_cast<int>(DType::Float32));
static_assert(JINA3_DTYPE_BFLOAT16 == static_cast<int>(DType::BFloat16));
static_assert(JINA3_DTYPE_FLOAT16 == static_cast<int>(DType::Float16));
static_assert(JINA3_DTYPE_INT8 == static_cast<int>(DType::Int8));
static_assert(JINA3_PRECISION_FLOAT32 == static_cast<int>(Precision::Float32));
static_assert(JINA3_PRECISION_FLOAT16 == static_cast<int>(Precision::Float16));
static_assert(JINA3_PRECISION_INT8 == static_cast<int>(Precision::Int8));
static_assert(JINA3_PRECISION_UINT8 == static_cast<int>(Precision::UInt8));
static_assert(JINA3_PRECISION_BINARY == static_cast<int>(Precision::Binary));
static_assert(JINA3_PRECISION_UBINARY == static_cast<int>(Precision::UBinary));

constexpr bool dense(const int* values, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) {
    if (values[i] != static_cast<int>(i)) return false;
  }
  return true;
}
static_assert(dense(kStatusValues, std::size(kStatusValues)), "JINA3_ERROR_CODES values must be 0, 1, 2, ...");
static_assert(kLastStatus == JINA3_ERR_CANCELLED, "every JINA3_ERROR_CODES row needs its jina3_status");

// Returned when an error object cannot be allocated; jina3_error_free leaves it alone.
const jina3_error kOutOfMemoryError{JINA3_ERR_OUT_OF_MEMORY, "out of memory (while reporting another error)"};

// The thread-local last error. Storing a message may itself fail to allocate, so a fixed
// fallback text takes over then.
struct LastError {
  std::string text;
  const char* view = "";
};
thread_local LastError last_error;

}  // namespace

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

jina3_status status_of(ErrorCode code) noexcept {
  const int value = static_cast<int>(code);
  // An Error carrying Ok, or a value this header does not know, is still a failure.
  if (value <= JINA3_OK || value > kLastStatus) return JINA3_ERR_INTERNAL;
  return static_cast<jina3_status>(value);
}

[[noreturn]] void invalid(const char* function, const std::string& what) {
  throw InvalidArgument(std::string(function) + ": " + what);
}

void require(bool condition, const char* function, const char* what) {
  if (!condition) invalid(function, what);
}

void require_array(const void* pointer, std::size_t count, const char* function, const char* name,
                   const char* count_name) {
  if (pointer == nullptr && count > 0) {
    invalid(function, std::string(name) + " is NULL but " + count_name + " is " + std::to_string(count));
  }
}

std::vector<std::string_view> text_views(const char* const* texts, const std::size_t* lengths, std::size_t count,
                                         const char* function) {
  require_array(texts, count, function, "texts", "count");
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

std::string_view text_view(const char* text, std::size_t length, const char* function) {
  if (length == SIZE_MAX) {
    require(text != nullptr, function, "text is NULL (pass length 0 for an empty text)");
    return std::string_view(text);
  }
  require_array(text, length, function, "text", "length");
  return text == nullptr ? std::string_view() : std::string_view(text, length);
}

std::vector<TokenIds> token_id_views(const int32_t* const* ids, const size_t* lengths,
                                                         size_t count, const char* function) {
  require_array(ids, count, function, "ids", "count");
  require_array(lengths, count, function, "lengths", "count");
  std::vector<TokenIds> views(count);
  for (std::size_t i = 0; i < count; ++i) {
    if (lengths[i] > 0 && ids[i] == nullptr) {
      invalid(function, "ids[" + std::to_string(i) + "] is NULL but lengths[" + std::to_string(i) + "] is " +
                            std::to_string(lengths[i]));
    }
    views[i] = TokenIds{ids[i], lengths[i]};
  }
  return views;
}

}  // namespace jina3::capi

extern "C" {

const char* jina3_last_error(void) { return jina3::capi::last_error.view; }

jina3_status jina3_error_code(const jina3_error* error) { return error ? error->code : JINA3_OK; }

const char* jina3_error_message(const jina3_error* error) { return error ? error->message.c_str() : ""; }

void jina3_error_free(jina3_error* error) {
  if (error != &jina3::capi::kOutOfMemoryError) delete error;
}

}  // extern "C"
