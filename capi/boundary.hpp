// What every function of the C ABI (include/jina3/jina3.h) shares: the handles the faces pass
// around, guarded() (the one place where C++ exceptions become statuses), argument checks that
// name the C function, and the readers of caller texts and option structs. The faces follow the
// header's parts: encoder_c.cpp, request_c.cpp, outputs_c.cpp and options_c.cpp. They check C
// arguments (NULL pointers, sizes, struct_size) and convert; every other check is the core's.
#pragma once

#include <jina3/jina3.h>

#include <cstddef>
#include <cstring>
#include <exception>
#include <iterator>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include <jina3/jina3.hpp>

struct jina3_encoder {
  jina3::Encoder encoder;
  jina3::KernelReport kernels;  // encoder.kernels(), kept for jina3_encoder_kernel_report's strings
};

struct jina3_error {
  jina3_status code;
  std::string message;
};

namespace jina3::capi {

// The statuses in JINA3_ERROR_CODES order. status_of() and jina3_status_name() take every value
// up to the last row's as a status, so the values must run 0, 1, 2, ... without gaps.
#define JINA3_X(name, value, text, py_class, py_base, doc) value,
inline constexpr int kStatusValues[] = {JINA3_ERROR_CODES(JINA3_X)};
#undef JINA3_X
inline constexpr int kLastStatus = kStatusValues[std::size(kStatusValues) - 1];

// The int a C caller passed as one of the header's enums. C lets any int through an enum
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

static_assert(sizeof(Task) == sizeof(jina3_task), "task arrays are passed through as they are");
inline const Task* tasks_of(const jina3_task* tasks) noexcept { return reinterpret_cast<const Task*>(tasks); }

// Records a failure: the thread-local last error and, when error is not NULL, an error object
// for the caller. Returns code.
jina3_status fail(jina3_status code, const char* message, jina3_error** error) noexcept;

// A C++ code as a status; INTERNAL for Ok or a value the header does not define.
jina3_status status_of(ErrorCode code) noexcept;

// Runs body, mapping what it throws: jina3::Error to its code, std::bad_alloc to OUT_OF_MEMORY,
// anything else to INTERNAL. Nothing escapes.
template <class Body>
jina3_status guarded(jina3_error** error, Body&& body) noexcept {
  try {
    body();
    return JINA3_OK;
  } catch (const Error& e) {
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

// InvalidArgument "<function>: <what>": the C checks name the function the caller called.
[[noreturn]] void invalid(const char* function, const std::string& what);
void require(bool condition, const char* function, const char* what);
// A pointer to count elements: NULL only when count is 0 ("<name> is NULL but <count_name> is N").
void require_array(const void* pointer, std::size_t count, const char* function, const char* name,
                   const char* count_name);

// Pointer + optional length arrays as string views (no copies).
std::vector<std::string_view> text_views(const char* const* texts, const std::size_t* lengths, std::size_t count,
                                         const char* function);
// Token-id arrays (ids[i]: lengths[i] ids) as jina3::TokenIds views (no copies).
std::vector<TokenIds> token_id_views(const int32_t* const* ids, const std::size_t* lengths, std::size_t count,
                                     const char* function);
// One text and its length (SIZE_MAX: NUL-terminated) as a view.
std::string_view text_view(const char* text, std::size_t length, const char* function);

// A caller's options struct of any published size (NULL: the defaults) as the C++ options
// (options_c.cpp). INVALID_ARGUMENT for a struct_size below the first published layout,
// VERSION_MISMATCH for one larger than this library knows.
EncoderOptions read_encoder_options(const jina3_encoder_options* given, const char* function);
EncodeOptions read_encode_options(const jina3_encode_options* given, const char* function);
// Without spans, which are an argument of jina3_encoder_late_chunk.
LateChunkOptions read_late_chunk_options(const jina3_late_chunk_options* given, const char* function);

}  // namespace jina3::capi
