// The HTTP server's error: a status, OpenAI's error type and code, and the message. Every failure
// a client can cause ends as one of these, answered as {"error":{"message","type","param","code"}}.
// LibTorch- and libjina3-free, so that the body parser (and its fuzzer) can use it.
#pragma once

#include <stdexcept>
#include <string>

namespace jina3_http {

struct ApiError : std::runtime_error {
  ApiError(int status_, std::string type_, std::string code_, const std::string& message, std::string param_ = {})
      : std::runtime_error(message),
        status(status_),
        type(std::move(type_)),
        code(std::move(code_)),
        param(std::move(param_)) {}

  int status;
  std::string type;   // OpenAI's error type: invalid_request_error, authentication_error, ...
  std::string code;   // a stable machine-readable code ("invalid_json", "queue_full", ...)
  std::string param;  // the request field at fault, "" when none
};

// The errors the HTTP layer itself raises (those from libjina3 are mapped in server.cpp's table).
inline ApiError bad_request(const std::string& message, const std::string& param = {},
                            const std::string& code = "invalid_request") {
  return ApiError(400, "invalid_request_error", code, message, param);
}
inline ApiError invalid_value(const std::string& message, const std::string& param = {},
                              const std::string& code = "invalid_value") {
  return ApiError(422, "invalid_request_error", code, message, param);
}
inline ApiError too_large(const std::string& message, const std::string& param = {}) {
  return ApiError(413, "invalid_request_error", "request_too_large", message, param);
}

}  // namespace jina3_http
