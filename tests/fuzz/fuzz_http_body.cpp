// fuzz_http_body: the request-body parser of `jina3 serve` (cli/http/request_body.cpp) on fuzzed
// bodies. Input: one control byte, then the body.
//   control bits 0-1: the route (0 /v1/embeddings, 1 /embed, 2 /tokenize, 3 /v1/embeddings);
//   bits 2-4: --max-inputs = 1 + value.
// Checked on each input:
// - only ApiError comes out, with status 400, 413 or 422, a non-empty type and code, and a message;
//   anything else (a nlohmann-json exception leaking, a crash, a sanitizer report) fails;
// - a parsed request has at least one input and at most --max-inputs (one token-id array counts
//   as one input), texts or token ids but never both, texts of valid UTF-8 (nlohmann checks it);
// - dims is 0 (not given) or positive; late_chunking never comes with token ids;
// - parsing is deterministic: the same body gives the same result again.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "http/request_body.hpp"
#include "util/utf8.hpp"

const char* const jina3::fuzz::kTarget = "fuzz_http_body";

namespace {

using jina3::fuzz::expect;
using jina3_http::ApiError;

void check_inputs(const jina3_http::Inputs& inputs, std::size_t max_inputs, bool allow_ids) {
  expect(inputs.size() >= 1, "a parsed request has no input");
  if (inputs.token_ids) {
    expect(allow_ids, "token ids where the route takes texts only");
    expect(inputs.texts.empty(), "texts beside token ids");
    expect(inputs.ids.size() == 1 || inputs.ids.size() <= max_inputs, "more token-id inputs than --max-inputs");
  } else {
    expect(inputs.ids.empty(), "token ids beside texts");
    expect(inputs.texts.size() == 1 || inputs.texts.size() <= max_inputs, "more texts than --max-inputs");
    for (const std::string& text : inputs.texts) {
      expect(!jina3::utf8::check(text).has_value(), "a text that is not valid UTF-8");
    }
  }
}

// A summary of the result, to compare two parses of one body.
std::string run(int route, std::string_view body, std::size_t max_inputs) {
  const jina3_http::BodyLimits limits{max_inputs};
  try {
    if (route == 2) {
      const auto request = jina3_http::parse_tokenize(body, limits);
      check_inputs(request.inputs, max_inputs, false);
      return "ok " + std::to_string(request.inputs.size());
    }
    const auto request = route == 1 ? jina3_http::parse_tei_embed(body, limits)
                                    : jina3_http::parse_openai_embeddings(body, limits);
    check_inputs(request.inputs, max_inputs, true);
    expect(request.dims >= 0, "negative dims");
    expect(!(request.late_chunking && request.inputs.token_ids), "late_chunking with token ids");
    expect(request.type != jina3_http::EmbeddingType::Base64, "embedding_type base64 not folded into the base64 flag");
    return "ok " + std::to_string(request.inputs.size()) + " " + std::to_string(request.dims) + " " +
           jina3_http::to_string(request.type) + (request.base64 ? " base64" : "");
  } catch (const ApiError& e) {
    expect(e.status == 400 || e.status == 413 || e.status == 422, "an ApiError status other than 400, 413, 422");
    expect(!e.type.empty() && !e.code.empty() && *e.what() != '\0', "an ApiError without type, code or message");
    return "error " + std::to_string(e.status) + " " + e.code;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const int route = data[0] & 3;
  const std::size_t max_inputs = 1 + ((data[0] >> 2) & 7);
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string first = run(route, body, max_inputs);
  expect(run(route, body, max_inputs) == first, "two parses of one body differ");
  return 0;
}
