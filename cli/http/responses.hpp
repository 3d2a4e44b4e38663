// Response bodies of `jina3 serve`: embeddings in OpenAI's and TEI's shapes (float lists, base64
// little-endian float32, or the library's precision bytes as integer lists), /tokenize's tokens,
// errors in OpenAI's shape, and /metrics in the Prometheus text format from the stats tables.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <jina3/jina3.hpp>

#include "api_error.hpp"
#include "request_body.hpp"

namespace jina3_http {

// Rows to write: rows x row_size bytes (float32 when type is Float or Base64).
struct RowsView {
  const std::uint8_t* data = nullptr;
  std::size_t rows = 0;
  std::size_t row_size = 0;  // bytes per row
};

// {"object":"list","data":[{"object":"embedding","index":i,"embedding":...}],"model":...,"usage":...}
std::string openai_embeddings_body(const RowsView& rows, EmbeddingType type, const std::string& model,
                                   std::size_t prompt_tokens);
// [[...], ...]: float32 rows.
std::string tei_embed_body(const jina3::Embeddings& rows);
// TEI's /tokenize shape: per input, [{"id","text","special","start","stop"}]; start/stop are
// character (code point) offsets into the input, null for <s>, </s> and the prompt's tokens.
std::string tokenize_body(const std::vector<std::string>& texts, const std::vector<jina3::Tokenization>& tokens);
// {"error":{"message","type","param","code"}}
std::string error_body(const ApiError& error);

// Base64 (RFC 4648, with padding) of bytes.
std::string base64(const std::uint8_t* data, std::size_t size);

// What the server counts itself, for /metrics beside the encoder's stats.
struct ServerCounters {
  std::map<int, std::uint64_t> responses;  // by HTTP status
  std::uint64_t open_connections = 0;
  std::uint64_t in_flight = 0;
  bool ready = false;
};
// The Prometheus text exposition format (version 0.0.4): every JINA3_STATS_FIELDS counter as
// jina3_<name> (counters with _total), every JINA3_LANE_STATS_FIELDS counter as
// jina3_lane_<name>_total{lane=...}, every JINA3_LANE_HISTOGRAMS histogram as a Prometheus histogram
// jina3_lane_<name>{lane=...,le=...} with cumulative buckets, then the server's own.
std::string metrics_body(const jina3::EncoderStats& stats, const ServerCounters& server);

}  // namespace jina3_http
