// jina3 error types. Every failure the library reports is a jina3::Error (or std::bad_alloc);
// each code maps to exactly one C status (jina3.h) and one Python exception class.
#pragma once

#include <stdexcept>
#include <string>

#include <jina3/export.hpp>

// The error codes, declared once. Values are stable ABI (JINA3_OK, JINA3_ERR_*; the C header's
// enum is checked against this table at build time).
// X(Name, value, canonical name, Python class ("" = jina3.Error), Python built-in base ("" = none), doc)
#define JINA3_ERROR_CODES(X)                                                                                   \
  X(Ok, 0, "ok", "", "", "success")                                                                            \
  X(InvalidArgument, 1, "invalid_argument", "InvalidArgumentError", "ValueError",                              \
    "a bad argument: unknown task, unsupported dims, invalid UTF-8, out-of-range option")                     \
  X(InputTooLong, 2, "input_too_long", "InputTooLongError", "ValueError",                                      \
    "a text is longer than max_length tokens and truncation is off")                                           \
  X(ModelNotFound, 3, "model_not_found", "ModelNotFoundError", "FileNotFoundError",                            \
    "the package directory, or a file in it, does not exist")                                                  \
  X(ModelInvalid, 4, "model_invalid", "ModelInvalidError", "", "the package is corrupt: bad manifest, "        \
    "checksum mismatch, missing or misshaped tensor")                                                          \
  X(VersionMismatch, 5, "version_mismatch", "VersionMismatchError", "", "the package format, or the torch "     \
    "version it was exported with, is one this build cannot read")                                             \
  X(Device, 6, "device", "DeviceError", "", "the device is unavailable (CUDA asked for, not built or present) " \
    "or does not support the dtype")                                                                           \
  X(BufferTooSmall, 7, "buffer_too_small", "", "", "a caller's output buffer is too small (C API, encode_into)") \
  X(OutOfMemory, 8, "out_of_memory", "", "MemoryError", "an allocation failed")                               \
  X(Internal, 9, "internal", "", "", "anything else: a bug in jina3 or its dependencies")                      \
  X(QueueFull, 10, "queue_full", "QueueFullError", "",                                                         \
    "the encoder's request queue (max_queued_requests) is full and the call asked not to wait")               \
  X(DeadlineExceeded, 11, "deadline_exceeded", "DeadlineExceededError", "TimeoutError",                        \
    "the request had not started when its deadline (deadline_us) passed")                                      \
  X(Cancelled, 12, "cancelled", "CancelledError", "", "the request was cancelled (cancel(), a disconnect, Ctrl-C), or its encoder was destroyed before it ran")

namespace jina3 {

enum class ErrorCode : int {
#define JINA3_X(name, value, text, py_class, py_base, doc) name = value,
  JINA3_ERROR_CODES(JINA3_X)
#undef JINA3_X
};

// Canonical lower-case name of a code, e.g. "invalid_argument"; "unknown" for other values.
JINA3_EXPORT const char* to_string(ErrorCode code) noexcept;

// Base class of all jina3 exceptions. Thread safety: immutable after construction.
class JINA3_EXPORT Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, ErrorCode code = ErrorCode::Internal)
      : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

#define JINA3_DEFINE_ERROR(Name)                                                     \
  class JINA3_EXPORT Name : public Error {                                           \
   public:                                                                           \
    explicit Name(const std::string& message) : Error(message, ErrorCode::Name) {}   \
  };
JINA3_DEFINE_ERROR(InvalidArgument)
JINA3_DEFINE_ERROR(InputTooLong)
JINA3_DEFINE_ERROR(ModelNotFound)
JINA3_DEFINE_ERROR(ModelInvalid)
JINA3_DEFINE_ERROR(VersionMismatch)
JINA3_DEFINE_ERROR(BufferTooSmall)
JINA3_DEFINE_ERROR(QueueFull)
JINA3_DEFINE_ERROR(DeadlineExceeded)
JINA3_DEFINE_ERROR(Cancelled)
#undef JINA3_DEFINE_ERROR

// Named DeviceError (not Device) so it does not clash with the jina3::Device enum.
class JINA3_EXPORT DeviceError : public Error {
 public:
  explicit DeviceError(const std::string& message) : Error(message, ErrorCode::Device) {}
};

}  // namespace jina3
