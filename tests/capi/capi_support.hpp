// Helpers for the C API tests: an owning encoder handle, error checks and call shorthands.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <jina3/jina3.h>
#include <jina3/jina3.hpp>

#include <catch2/catch.hpp>

namespace jina3::capi_test {

struct EncoderDeleter {
  void operator()(jina3_encoder* encoder) const noexcept { jina3_encoder_free(encoder); }
};
using EncoderHandle = std::unique_ptr<jina3_encoder, EncoderDeleter>;

struct ErrorDeleter {
  void operator()(jina3_error* error) const noexcept { jina3_error_free(error); }
};
using ErrorHandle = std::unique_ptr<jina3_error, ErrorDeleter>;

struct RequestDeleter {
  void operator()(jina3_request* request) const noexcept { jina3_request_free(request); }
};
using RequestHandle = std::unique_ptr<jina3_request, RequestDeleter>;

// Texts as the C API takes them (NUL-terminated pointers into strings that outlive the call).
struct CTexts {
  std::vector<std::string> strings;
  std::vector<const char*> pointers;
  explicit CTexts(std::vector<std::string> texts) : strings(std::move(texts)) {
    for (const auto& text : strings) pointers.push_back(text.c_str());
  }
  const char* const* data() const { return pointers.empty() ? nullptr : pointers.data(); }
  std::size_t size() const { return strings.size(); }
};

// The width of a row for dims (0: the encoder's hidden size).
int row_size(const jina3_encoder* encoder, int dims);

// Loads package-<dtype> through the C API; fails the test on error.
EncoderHandle open_encoder(const std::string& dtype = "float32", const jina3_encoder_options* options = nullptr);

// One C encoder for package-float32, loaded once and shared (encode is thread-safe).
const jina3_encoder* shared_c_encoder();

// Checks a failed call: the status, a non-empty thread-local message, and an error object with
// the same status and message, which is freed (error is reset to NULL). `contains` must occur in
// the message when not empty. error is a reference so that it is read after the call in the
// first argument has run (argument evaluation order is unspecified).
void check_failure(jina3_status status, jina3_error*& error, jina3_status expected, const std::string& contains = "");

// Checks jina3_encoder_default_options and jina3_encode_default_options on structs of this header's
// size: struct_size is set and every field holds the C++ default (compared row by row from the
// option tables in jina3/options.hpp, so a new option is checked once it is in its table).
void check_default_options();

// jina3_encoder_encode for NUL-terminated std::strings into a vector sized for texts x dims.
struct CResult {
  jina3_status status;
  std::vector<float> data;
  std::vector<std::uint8_t> truncated;
};
CResult c_encode(const jina3_encoder* encoder, const std::vector<std::string>& texts, jina3_task task, int dims,
                 const jina3_encode_options* options = nullptr);

// jina3_encoder_submit on the calling (test) thread; the test fails unless the call succeeds.
RequestHandle submit(const jina3_encoder* encoder, const CTexts& texts, const std::vector<jina3_task>& tasks, int dims,
                     const jina3_encode_options* options = nullptr, jina3_request_callback callback = nullptr,
                     void* user_data = nullptr);

// jina3_request_wait into buffers of the request's size, prefilled with 7.0f / 0xAB (which a failed
// wait must leave as they are).
CResult wait_result(jina3_request* request);

// The C++ API's result for the same call, from the shared C++ encoder of package-float32.
Embeddings cpp_encode(const std::vector<std::string>& texts, Task task, int dims, const EncodeOptions& options = {});

// Texts that exercise the tokenizer: ASCII, multilingual, emoji, empty, whitespace.
const std::vector<std::string>& sample_texts();

}  // namespace jina3::capi_test
