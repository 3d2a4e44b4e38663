// Response bodies of `jina3 serve` (see responses.hpp).
#include "responses.hpp"

#include <cmath>
#include <cstring>
#include <iterator>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace jina3_http {
namespace {

using Out = std::back_insert_iterator<std::string>;

// A JSON string literal; invalid UTF-8 (never expected: texts were checked) is replaced, not thrown.
std::string json_string(std::string_view text) {
  return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void write_float(Out out, float value) {
  if (std::isfinite(value)) {
    fmt::format_to(out, "{}", value);  // the shortest text that reads back as the same float32
  } else {
    fmt::format_to(out, "null");
  }
}

void write_floats(std::string& body, const float* values, std::size_t count) {
  body += '[';
  for (std::size_t i = 0; i < count; ++i) {
    if (i) body += ',';
    write_float(std::back_inserter(body), values[i]);
  }
  body += ']';
}

// One row as OpenAI/Jina write it.
void write_row(std::string& body, const std::uint8_t* row, std::size_t size, EmbeddingType type) {
  switch (type) {
    case EmbeddingType::Float: {
      std::vector<float> values(size / sizeof(float));
      std::memcpy(values.data(), row, values.size() * sizeof(float));
      write_floats(body, values.data(), values.size());
      return;
    }
    case EmbeddingType::Base64:
      body += '"';
      body += base64(row, size);
      body += '"';
      return;
    case EmbeddingType::Binary:
    case EmbeddingType::Int8:
      body += '[';
      for (std::size_t i = 0; i < size; ++i) {
        if (i) body += ',';
        fmt::format_to(std::back_inserter(body), "{}", static_cast<int>(static_cast<std::int8_t>(row[i])));
      }
      body += ']';
      return;
    case EmbeddingType::UBinary:
    case EmbeddingType::UInt8:
      body += '[';
      for (std::size_t i = 0; i < size; ++i) {
        if (i) body += ',';
        fmt::format_to(std::back_inserter(body), "{}", static_cast<unsigned>(row[i]));
      }
      body += ']';
      return;
  }
}

// Byte offset -> code point offset, for valid UTF-8: the code points that start before byte.
std::vector<std::int64_t> code_point_index(std::string_view text) {
  std::vector<std::int64_t> index(text.size() + 1);
  std::int64_t count = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    index[i] = count;
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) ++count;
  }
  index[text.size()] = count;
  // A byte inside a code point maps to that code point's start; the count above already does so
  // for continuation bytes, since they do not add.
  return index;
}

const char* kGauges[] = {"queue_depth", "max_queue_depth", "cache_bytes", "cache_entries"};

bool is_gauge(std::string_view name) {
  for (const char* gauge : kGauges) {
    if (name == gauge) return true;
  }
  return false;
}

void metric_header(Out out, std::string_view name, std::string_view type, std::string_view doc) {
  fmt::format_to(out, "# HELP {} {}\n# TYPE {} {}\n", name, doc, name, type);
}

}  // namespace

std::string base64(const std::uint8_t* data, std::size_t size) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= size; i += 3) {
    const std::uint32_t v = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8) | data[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (const std::size_t rest = size - i) {
    const std::uint32_t v = (std::uint32_t{data[i]} << 16) | (rest == 2 ? std::uint32_t{data[i + 1]} << 8 : 0);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string openai_embeddings_body(const RowsView& rows, EmbeddingType type, const std::string& model,
                                   std::size_t prompt_tokens) {
  std::string body;
  body.reserve(64 + rows.rows * (type == EmbeddingType::Float ? rows.row_size * 3 : rows.row_size * 2));
  body += R"({"object":"list","data":[)";
  for (std::size_t i = 0; i < rows.rows; ++i) {
    if (i) body += ',';
    fmt::format_to(std::back_inserter(body), R"({{"object":"embedding","index":{},"embedding":)", i);
    write_row(body, rows.data + i * rows.row_size, rows.row_size, type);
    body += '}';
  }
  fmt::format_to(std::back_inserter(body), R"(],"model":{},"usage":{{"prompt_tokens":{},"total_tokens":{}}}}})",
                 json_string(model), prompt_tokens, prompt_tokens);
  return body;
}

std::string tei_embed_body(const jina3::Embeddings& rows) {
  std::string body = "[";
  for (std::size_t i = 0; i < rows.rows; ++i) {
    if (i) body += ',';
    write_floats(body, rows.row(i), rows.dims);
  }
  body += ']';
  return body;
}

std::string tokenize_body(const std::vector<std::string>& texts, const std::vector<jina3::Tokenization>& tokens) {
  std::string body = "[";
  for (std::size_t t = 0; t < tokens.size(); ++t) {
    if (t) body += ',';
    body += '[';
    const jina3::Tokenization& one = tokens[t];
    const std::vector<std::int64_t> index = code_point_index(texts[t]);
    for (std::size_t i = 0; i < one.ids.size(); ++i) {
      if (i) body += ',';
      const std::int64_t begin = one.offsets[2 * i];
      const std::int64_t end = one.offsets[2 * i + 1];
      const bool from_text = begin >= 0 && end >= begin && static_cast<std::size_t>(end) < index.size();
      fmt::format_to(std::back_inserter(body), R"({{"id":{},"text":{},"special":{},"start":{},"stop":{}}})",
                     one.ids[i], json_string(one.pieces[i]), from_text ? "false" : "true",
                     from_text ? std::to_string(index[begin]) : "null",
                     from_text ? std::to_string(index[end]) : "null");
    }
    body += ']';
  }
  body += ']';
  return body;
}

std::string error_body(const ApiError& error) {
  nlohmann::json body = {{"error",
                          {{"message", error.what()},
                           {"type", error.type},
                           {"param", error.param.empty() ? nlohmann::json() : nlohmann::json(error.param)},
                           {"code", error.code}}}};
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string metrics_body(const jina3::EncoderStats& stats, const ServerCounters& server) {
  std::string body;
  Out out = std::back_inserter(body);
#define JINA3_X(name, doc)                                                                          \
  if (is_gauge(#name)) {                                                                            \
    metric_header(out, "jina3_" #name, "gauge", doc);                                               \
    fmt::format_to(out, "jina3_" #name " {}\n", stats.name);                                      \
  } else {                                                                                          \
    metric_header(out, "jina3_" #name "_total", "counter", doc);                                    \
    fmt::format_to(out, "jina3_" #name "_total {}\n", stats.name);                                \
  }
  JINA3_STATS_FIELDS(JINA3_X)
#undef JINA3_X
#define JINA3_X(name, doc)                                                                          \
  metric_header(out, "jina3_lane_" #name "_total", "counter", doc);                                 \
  for (int lane = 0; lane < jina3::kPriorityCount; ++lane) {                                        \
    fmt::format_to(out, "jina3_lane_" #name "_total{{lane=\"{}\"}} {}\n",                         \
                   jina3::to_string(static_cast<jina3::Priority>(lane)), stats.lanes[lane].name);   \
  }
  JINA3_LANE_STATS_FIELDS(JINA3_X)
#undef JINA3_X
#define JINA3_X(name, unit, doc)                                                                    \
  metric_header(out, "jina3_lane_" #name, "histogram", std::string(doc) + " (" + unit + ")");     \
  for (int lane = 0; lane < jina3::kPriorityCount; ++lane) {                                        \
    const jina3::Histogram& h = stats.lanes[lane].name;                                             \
    const char* lane_name = jina3::to_string(static_cast<jina3::Priority>(lane));                   \
    std::uint64_t cumulative = 0;                                                                   \
    for (std::size_t i = 0; i + 1 < jina3::kHistogramBuckets; ++i) {                                \
      cumulative += h.buckets[i];                                                                   \
      fmt::format_to(out, "jina3_lane_" #name "_bucket{{lane=\"{}\",le=\"{}\"}} {}\n", lane_name,  \
                     jina3::histogram_bound(i), cumulative);                                        \
    }                                                                                               \
    fmt::format_to(out, "jina3_lane_" #name "_bucket{{lane=\"{}\",le=\"+Inf\"}} {}\n", lane_name,  \
                   h.count);                                                                        \
    fmt::format_to(out, "jina3_lane_" #name "_sum{{lane=\"{}\"}} {}\n", lane_name, h.sum);         \
    fmt::format_to(out, "jina3_lane_" #name "_count{{lane=\"{}\"}} {}\n", lane_name, h.count);     \
  }
  JINA3_LANE_HISTOGRAMS(JINA3_X)
#undef JINA3_X
  metric_header(out, "jina3_http_responses_total", "counter", "HTTP responses sent, by status");
  for (const auto& [status, count] : server.responses) {
    fmt::format_to(out, "jina3_http_responses_total{{code=\"{}\"}} {}\n", status, count);
  }
  metric_header(out, "jina3_http_open_connections", "gauge", "client connections open now");
  fmt::format_to(out, "jina3_http_open_connections {}\n", server.open_connections);
  metric_header(out, "jina3_http_in_flight_requests", "gauge", "requests read and not yet answered");
  fmt::format_to(out, "jina3_http_in_flight_requests {}\n", server.in_flight);
  metric_header(out, "jina3_ready", "gauge", "1 once the warm-up pass is done, 0 before and while shutting down");
  fmt::format_to(out, "jina3_ready {}\n", server.ready ? 1 : 0);
  return body;
}

}  // namespace jina3_http
