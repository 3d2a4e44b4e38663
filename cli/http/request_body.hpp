// Request bodies of `jina3 serve` -> parsed requests, or an ApiError: 400 for malformed JSON or a
// field of the wrong type, 413 for more inputs than allowed, 422 for values that are the HTTP
// layer's business (an empty input list, an unknown encoding_format or embedding_type, dimensions
// <= 0, a token id that is not an int32). Values the library judges (the task, dims in the
// Matryoshka list, a text too long, a token id outside the vocabulary) are passed on as given: the
// library's typed errors answer them. Neither LibTorch nor libjina3 is used here, so the fuzzer
// (tests/fuzz/fuzz_http_body.cpp) links this file alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api_error.hpp"

namespace jina3_http {

// The texts of a request: strings, or token-id arrays (the text's own tokens, without <s>, </s>
// or a prompt), never both.
struct Inputs {
  std::vector<std::string> texts;
  std::vector<std::vector<std::int32_t>> ids;
  bool token_ids = false;

  std::size_t size() const noexcept { return token_ids ? ids.size() : texts.size(); }
};

// embedding_type (the Jina API's field; encoding_format is OpenAI's): the numbers of each row. The
// parser folds Base64 into EmbedRequest::base64 (with Float); Base64 is then only how rows are written.
enum class EmbeddingType { Float, Base64, Binary, UBinary, Int8, UInt8 };

// POST /v1/embeddings (OpenAI + the Jina API's fields) and POST /embed (TEI).
struct EmbedRequest {
  Inputs inputs;
  std::optional<std::string> task;      // task (OpenAI route) or prompt_name (TEI); absent: --default-task
  std::optional<std::string> priority;  // "interactive" | "bulk" (judged by the library)
  std::optional<std::string> model;     // echoed back as the server's --model-name
  std::optional<std::string> user;
  int dims = 0;                         // 0: not given (the full size)
  EmbeddingType type = EmbeddingType::Float;
  bool base64 = false;                  // encoding_format base64: the row's bytes (of any type) as base64
  bool late_chunking = false;
  std::optional<bool> normalize;
  std::optional<bool> truncate;
};

// POST /tokenize: {"inputs" | "input": string or strings, "task" | "prompt_name", "truncate"}.
struct TokenizeRequest {
  Inputs inputs;
  std::optional<std::string> task;
  std::optional<bool> truncate;
};

struct BodyLimits {
  std::size_t max_inputs = 2048;  // inputs per request (413 beyond)
};

EmbedRequest parse_openai_embeddings(std::string_view body, const BodyLimits& limits);
EmbedRequest parse_tei_embed(std::string_view body, const BodyLimits& limits);
TokenizeRequest parse_tokenize(std::string_view body, const BodyLimits& limits);

// "float", "base64", "binary", "ubinary", "int8", "uint8".
const char* to_string(EmbeddingType type) noexcept;

}  // namespace jina3_http
