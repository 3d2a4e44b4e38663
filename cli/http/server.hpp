// The HTTP server of `jina3 serve` (Boost.Beast/Asio): one event-loop thread holds every
// connection, a small pool parses bodies, queues requests with the encoder and writes results;
// the encoder's scheduler merges the requests into forward passes. See README "Serving over HTTP".
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <jina3/jina3.hpp>

namespace jina3_http {

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 8080;                        // 0: any free port (printed at start)
  std::vector<std::string> api_keys;      // empty: no key needed
  std::string model_name = "jina-embeddings-v3";
  jina3::Task default_task = jina3::Task::None;
  std::size_t max_inputs = 2048;
  std::size_t max_request_bytes = 16u << 20;
  double timeout_s = 0;                   // per request, from its last byte read to its answer; 0 = none
  double shutdown_timeout_s = 30;
  double read_timeout_s = 10;             // a request's header and body must arrive within this
  double idle_timeout_s = 60;             // a keep-alive connection may wait this long for its next request
  bool log_json = false;
  bool quiet = false;
  int work_threads = 4;                   // body parsing, tokenising, response formatting
};

// Until serve() installs its own handling, SIGTERM and SIGINT end the process at once with exit
// code 0 (nothing is in flight while the package loads), instead of killing it.
void catch_early_stop_signals();

// Listens, serves until SIGTERM or SIGINT, then stops accepting, finishes the requests in flight
// (bounded by shutdown_timeout_s) and returns 0. Throws std::runtime_error if it cannot listen.
int serve(const jina3::Encoder& encoder, const ServerConfig& config);

}  // namespace jina3_http
