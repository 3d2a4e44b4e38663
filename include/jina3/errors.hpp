// jina3 error types. Every failure the library reports is a jina3::Error (or std::bad_alloc);
// each subclass maps to exactly one C status code (jina3.h) and one Python exception class.
#pragma once

#include <stdexcept>
#include <string>

#include <jina3/export.hpp>

namespace jina3 {

// Numeric codes shared with the C API (JINA3_OK, JINA3_ERR_*). Values are stable ABI.
enum class ErrorCode : int {
  Ok = 0,
  InvalidArgument = 1,  // unknown task, bad dims, invalid UTF-8, bad option value
  InputTooLong = 2,     // a text is over the token limit and truncation is off
  ModelNotFound = 3,    // package directory or one of its files is missing
  ModelInvalid = 4,     // corrupt file, checksum mismatch, bad manifest, missing or misshaped tensor
  VersionMismatch = 5,  // package format or torch version this build cannot read
  Device = 6,           // device unavailable (CUDA asked for, not built/present) or dtype unsupported there
  BufferTooSmall = 7,   // caller-provided output buffer is too small (C API and zero-copy C++ overloads)
  OutOfMemory = 8,      // allocation failed
  Internal = 9,         // anything else: a bug in jina3 or its dependencies
  QueueFull = 10,       // the encoder's request queue is full and the call asked not to wait
  DeadlineExceeded = 11,  // the request had not started when its deadline passed
  Cancelled = 12,       // the encoder was destroyed before the request ran
};

// Canonical lower-case name of a code, e.g. "invalid_argument".
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
