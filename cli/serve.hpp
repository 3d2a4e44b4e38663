// `jina3 serve PACKAGE`: the model over HTTP (OpenAI /v1/embeddings, TEI /embed, /tokenize,
// /health, /ready, /metrics, /v1/models, /info). See README "Serving over HTTP" and http/.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <jina3/options.hpp>

namespace jina3_cli {

struct ServeArgs {
  std::string package;
  std::string host = "127.0.0.1";
  int port = 8080;
  std::vector<std::string> api_keys;
  std::string api_key_file;
  std::string model_name = "jina-embeddings-v3";
  std::string default_task;
  std::size_t max_inputs = 2048;
  std::size_t max_request_bytes = 16u << 20;
  double timeout = 0;
  double shutdown_timeout = 30;
  double read_timeout = 10;
  double idle_timeout = 60;
  std::string log_format = "text";
  bool quiet = false;
  jina3::EncoderOptions encoder_options;  // the options table's flags (--threads, --cache-bytes, ...)
};

// Adds the `serve` subcommand to app, parsing into args (which must outlive the parse).
CLI::App* add_serve_command(CLI::App& app, ServeArgs& args);
int run_serve(const ServeArgs& args);

}  // namespace jina3_cli
