// Request bodies -> parsed requests (see request_body.hpp).
#include "request_body.hpp"

#include <limits>

#include <nlohmann/json.hpp>

namespace jina3_http {
namespace {

using Json = nlohmann::json;

// Deeper bodies are refused while they are parsed (no request field nests more than 3 levels).
constexpr int kMaxDepth = 16;

struct TooDeep {};

Json parse_json(std::string_view body) {
  if (body.empty()) throw bad_request("the request body is empty: it must be a JSON object", {}, "invalid_json");
  Json value;
  try {
    value = Json::parse(
        body.begin(), body.end(),
        [](int depth, Json::parse_event_t, Json&) {
          if (depth > kMaxDepth) throw TooDeep{};
          return true;
        });
  } catch (const TooDeep&) {
    throw bad_request("the JSON body nests deeper than " + std::to_string(kMaxDepth) + " levels", {}, "invalid_json");
  } catch (const Json::exception& e) {
    // A parse error (its message names the byte and what was expected; invalid UTF-8 in a string
    // included) or a number too large for a double (out_of_range 406).
    std::string what = e.what();
    if (what.rfind("[json.exception.", 0) == 0) {
      const auto close = what.find("] ");
      if (close != std::string::npos) what.erase(0, close + 2);
    }
    throw bad_request("malformed JSON: " + what, {}, "invalid_json");
  }
  if (!value.is_object()) throw bad_request("the request body must be a JSON object", {}, "invalid_json");
  return value;
}

const char* type_name(const Json& value) {
  return value.type_name();  // "null", "object", "array", "string", "boolean", "number", ...
}

// A field, or nullptr when it is absent or null (clients send null for "not given").
const Json* field(const Json& body, const char* name) {
  const auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

ApiError wrong_type(const char* name, const char* wanted, const Json& got) {
  return bad_request(std::string("'") + name + "' must be " + wanted + ", got " + type_name(got), name,
                     "invalid_type");
}

std::optional<std::string> string_field(const Json& body, const char* name) {
  const Json* value = field(body, name);
  if (!value) return std::nullopt;
  if (!value->is_string()) throw wrong_type(name, "a string", *value);
  return value->get<std::string>();
}

std::optional<bool> bool_field(const Json& body, const char* name) {
  const Json* value = field(body, name);
  if (!value) return std::nullopt;
  if (!value->is_boolean()) throw wrong_type(name, "a boolean", *value);
  return value->get<bool>();
}

int dims_field(const Json& body, const char* name) {
  const Json* value = field(body, name);
  if (!value) return 0;
  if (!value->is_number_integer()) throw wrong_type(name, "an integer", *value);
  // nlohmann reads non-negative integers as unsigned and negative ones as signed.
  const bool positive_int = value->is_number_unsigned()
                                ? value->get<std::uint64_t>() >= 1 &&
                                      value->get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<int>::max())
                                : false;
  if (!positive_int) {
    throw invalid_value(std::string("'") + name + "' must be a positive integer (one of the model's dims)", name);
  }
  return value->get<int>();
}

std::int32_t token_id(const Json& value, const char* name) {
  if (!value.is_number_integer()) throw wrong_type(name, "an array of integer token-id arrays", value);
  const bool fits = value.is_number_unsigned()
                        ? value.get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())
                        : value.get<std::int64_t>() >= std::numeric_limits<std::int32_t>::min() &&
                              value.get<std::int64_t>() <= std::numeric_limits<std::int32_t>::max();
  if (!fits) throw invalid_value(std::string("a token id in '") + name + "' is out of range", name, "invalid_token_id");
  return static_cast<std::int32_t>(value.get<std::int64_t>());
}

std::vector<std::int32_t> id_array(const Json& value, const char* name) {
  std::vector<std::int32_t> ids;
  ids.reserve(value.size());
  for (const Json& id : value) ids.push_back(token_id(id, name));
  return ids;
}

// A string, an array of strings, one array of token ids, or an array of token-id arrays.
Inputs inputs_field(const Json& body, const char* name, const BodyLimits& limits, bool allow_ids) {
  const Json* value = field(body, name);
  if (!value) throw bad_request(std::string("'") + name + "' is required", name, "missing_field");
  Inputs inputs;
  if (value->is_string()) {
    inputs.texts.push_back(value->get<std::string>());
    return inputs;
  }
  const char* wanted = allow_ids ? "a string, an array of strings or an array of token-id arrays"
                                 : "a string or an array of strings";
  if (!value->is_array()) throw wrong_type(name, wanted, *value);
  if (value->empty()) throw invalid_value(std::string("'") + name + "' is empty: give at least one input", name);
  const Json& first = value->front();
  if (allow_ids && first.is_number()) {  // one text as token ids: [1, 2, 3]
    inputs.token_ids = true;
    inputs.ids.push_back(id_array(*value, name));
    return inputs;
  }
  if (value->size() > limits.max_inputs) {
    throw too_large(std::string("'") + name + "' has " + std::to_string(value->size()) + " inputs; this server takes " +
                        std::to_string(limits.max_inputs) + " at most per request (--max-inputs)",
                    name);
  }
  if (first.is_string()) {
    inputs.texts.reserve(value->size());
    for (const Json& text : *value) {
      if (!text.is_string()) throw wrong_type(name, wanted, text);
      inputs.texts.push_back(text.get<std::string>());
    }
    return inputs;
  }
  if (allow_ids && first.is_array()) {
    inputs.token_ids = true;
    inputs.ids.reserve(value->size());
    for (const Json& ids : *value) {
      if (!ids.is_array()) throw wrong_type(name, wanted, ids);
      inputs.ids.push_back(id_array(ids, name));
    }
    return inputs;
  }
  throw bad_request(std::string("'") + name + "' must be " + wanted + ", got an array of " + type_name(first), name,
                    "invalid_type");
}

EmbeddingType embedding_type_of(const std::string& name, const char* field_name) {
  static const std::pair<const char*, EmbeddingType> kNames[] = {
      {"float", EmbeddingType::Float},   {"base64", EmbeddingType::Base64}, {"binary", EmbeddingType::Binary},
      {"ubinary", EmbeddingType::UBinary}, {"int8", EmbeddingType::Int8},   {"uint8", EmbeddingType::UInt8}};
  for (const auto& [text, type] : kNames) {
    if (name == text) return type;
  }
  throw invalid_value(std::string("'") + field_name + "' must be one of float, base64, binary, ubinary, int8, uint8; got '" +
                          name + "'",
                      field_name);
}

}  // namespace

const char* to_string(EmbeddingType type) noexcept {
  switch (type) {
    case EmbeddingType::Float: return "float";
    case EmbeddingType::Base64: return "base64";
    case EmbeddingType::Binary: return "binary";
    case EmbeddingType::UBinary: return "ubinary";
    case EmbeddingType::Int8: return "int8";
    case EmbeddingType::UInt8: return "uint8";
  }
  return "float";
}

EmbedRequest parse_openai_embeddings(std::string_view body, const BodyLimits& limits) {
  const Json json = parse_json(body);
  EmbedRequest request;
  request.inputs = inputs_field(json, "input", limits, true);
  request.model = string_field(json, "model");
  request.user = string_field(json, "user");
  request.task = string_field(json, "task");
  request.priority = string_field(json, "priority");
  request.dims = dims_field(json, "dimensions");
  request.normalize = bool_field(json, "normalized");
  request.truncate = bool_field(json, "truncate");
  request.late_chunking = bool_field(json, "late_chunking").value_or(false);
  // OpenAI's encoding_format (float | base64), or the Jina API's embedding_type, which adds the
  // quantised types; base64 with a quantised type writes those bytes as base64.
  const auto format = string_field(json, "encoding_format");
  if (format && *format != "float" && *format != "base64") {
    throw invalid_value("'encoding_format' must be float or base64; got '" + *format + "'", "encoding_format");
  }
  if (const auto type = string_field(json, "embedding_type")) request.type = embedding_type_of(*type, "embedding_type");
  request.base64 = (format && *format == "base64") || request.type == EmbeddingType::Base64;
  if (request.type == EmbeddingType::Base64) request.type = EmbeddingType::Float;
  if (request.late_chunking && request.inputs.token_ids) {
    throw invalid_value("'late_chunking' takes text inputs (the chunks of one document), not token ids", "input");
  }
  return request;
}

EmbedRequest parse_tei_embed(std::string_view body, const BodyLimits& limits) {
  const Json json = parse_json(body);
  EmbedRequest request;
  request.inputs = inputs_field(json, "inputs", limits, true);
  request.task = string_field(json, "prompt_name");
  request.priority = string_field(json, "priority");
  request.dims = dims_field(json, "dimensions");
  request.normalize = bool_field(json, "normalize");
  request.truncate = bool_field(json, "truncate");
  return request;
}

TokenizeRequest parse_tokenize(std::string_view body, const BodyLimits& limits) {
  const Json json = parse_json(body);
  TokenizeRequest request;
  const char* name = json.contains("input") && !json.contains("inputs") ? "input" : "inputs";
  request.inputs = inputs_field(json, name, limits, false);
  request.task = string_field(json, "task");
  if (!request.task) request.task = string_field(json, "prompt_name");
  request.truncate = bool_field(json, "truncate");
  return request;
}

}  // namespace jina3_http
