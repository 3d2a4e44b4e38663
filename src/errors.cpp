// Names of the error codes shared by the C++, C and Python faces.
#include <jina3/errors.hpp>

namespace jina3 {

const char* to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::Ok: return "ok";
    case ErrorCode::InvalidArgument: return "invalid_argument";
    case ErrorCode::InputTooLong: return "input_too_long";
    case ErrorCode::ModelNotFound: return "model_not_found";
    case ErrorCode::ModelInvalid: return "model_invalid";
    case ErrorCode::VersionMismatch: return "version_mismatch";
    case ErrorCode::Device: return "device";
    case ErrorCode::BufferTooSmall: return "buffer_too_small";
    case ErrorCode::OutOfMemory: return "out_of_memory";
    case ErrorCode::Internal: return "internal";
    case ErrorCode::QueueFull: return "queue_full";
    case ErrorCode::DeadlineExceeded: return "deadline_exceeded";
    case ErrorCode::Cancelled: return "cancelled";
  }
  return "unknown";
}

}  // namespace jina3
