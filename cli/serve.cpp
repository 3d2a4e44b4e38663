// `jina3 serve` (see serve.hpp): its flags, loading the encoder, and the server in http/.
#include "serve.hpp"

#include <fstream>
#include <iostream>
#include <stdexcept>

#include <jina3/jina3.hpp>

#include "arguments.hpp"
#include "encoder_setup.hpp"
#include "errors.hpp"
#include "http/server.hpp"

namespace jina3_cli {
namespace {

// Seconds: a decimal number >= 0.
CLI::Validator seconds() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        try {
          std::size_t used = 0;
          const double value = std::stod(text, &used);
          if (used != text.size() || !(value >= 0) || value > 1e7) return "needs seconds >= 0, got '" + text + "'";
          return {};
        } catch (const std::exception&) {
          return "needs seconds >= 0, got '" + text + "'";
        }
      },
      "SECONDS");
}

// One key per line; blank lines and lines starting with # are skipped; spaces around a key dropped.
std::vector<std::string> read_key_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IoError("--api-key-file " + path + ": cannot be read");
  std::vector<std::string> keys;
  std::string line;
  while (std::getline(in, line)) {
    const auto begin = line.find_first_not_of(" \t\r");
    if (begin == std::string::npos || line[begin] == '#') continue;
    const auto end = line.find_last_not_of(" \t\r");
    keys.push_back(line.substr(begin, end - begin + 1));
  }
  if (keys.empty()) throw UsageError("--api-key-file " + path + " holds no key");
  return keys;
}

}  // namespace

CLI::App* add_serve_command(CLI::App& app, ServeArgs& args) {
  CLI::App* cmd = app.add_subcommand(
      "serve", "Serve the model over HTTP: OpenAI /v1/embeddings, TEI /embed, /tokenize, /health, /ready, /metrics, "
               "/v1/models, /info (README \"Serving over HTTP\"); SIGTERM or SIGINT stop it");
  cmd->add_option("PACKAGE", args.package, "jina3 model package (a directory)")->required();
  cmd->add_option("--host", args.host, "address to listen on (0.0.0.0: every interface)")->capture_default_str();
  cmd->add_option("--port", args.port, "TCP port (0: any free port, printed at start)")
      ->transform(jina3_args::decimal_at_least(0))
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_option("--api-key", args.api_keys,
                  "a key clients must send as 'Authorization: Bearer KEY' (repeatable; /health and /ready stay open)");
  cmd->add_option("--api-key-file", args.api_key_file, "a file of keys, one per line (# comments)");
  cmd->add_option("--model-name", args.model_name, "the model name /v1/models, /info and responses give")
      ->capture_default_str();
  cmd->add_option("--default-task", args.default_task,
                  "the task of requests that name none: retrieval.query, retrieval.passage, separation, "
                  "classification, text-matching, or none (the default, as in the library)");
  cmd->add_option("--max-inputs", args.max_inputs, "inputs per request, at most (413 beyond)")
      ->transform(jina3_args::decimal_at_least<std::size_t>(1))
      ->capture_default_str();
  cmd->add_option("--max-request-bytes", args.max_request_bytes,
                  "request body size, at most (413 beyond, refused from its Content-Length before it is read)")
      ->transform(jina3_args::decimal_at_least<std::size_t>(1))
      ->capture_default_str();
  cmd->add_option("--timeout", args.timeout,
                  "seconds a request may take from its last byte to its answer (504 beyond; its rows are "
                  "cancelled); 0 = no limit")
      ->check(seconds())
      ->capture_default_str();
  cmd->add_option("--shutdown-timeout", args.shutdown_timeout,
                  "on SIGTERM/SIGINT, seconds the requests in flight get to finish before they are cancelled")
      ->check(seconds())
      ->capture_default_str();
  cmd->add_option("--read-timeout", args.read_timeout,
                  "seconds a request's headers and body may take to arrive (408 beyond): slow clients")
      ->check(seconds())
      ->capture_default_str();
  cmd->add_option("--idle-timeout", args.idle_timeout,
                  "seconds a keep-alive connection may wait for its next request before it is closed")
      ->check(seconds())
      ->capture_default_str();
  cmd->add_option("--log-format", args.log_format, "one line per request: text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->add_flag("-q,--quiet", args.quiet, "no per-request log lines (nor start and stop lines)");
  jina3_args::add_encoder_option_flags(cmd, args.encoder_options);
  return cmd;
}

int run_serve(const ServeArgs& args) {
  jina3_http::ServerConfig config;
  config.host = args.host;
  config.port = args.port;
  config.api_keys = args.api_keys;
  if (!args.api_key_file.empty()) {
    for (std::string& key : read_key_file(args.api_key_file)) config.api_keys.push_back(std::move(key));
  }
  for (const std::string& key : config.api_keys) {
    if (key.empty()) throw UsageError("--api-key: a key must not be empty");
  }
  config.model_name = args.model_name;
  config.default_task = parse_task(args.default_task);
  config.max_inputs = args.max_inputs;
  config.max_request_bytes = args.max_request_bytes;
  config.timeout_s = args.timeout;
  config.shutdown_timeout_s = args.shutdown_timeout;
  config.read_timeout_s = args.read_timeout;
  config.idle_timeout_s = args.idle_timeout;
  config.log_json = args.log_format == "json";
  config.quiet = args.quiet;

  jina3_http::catch_early_stop_signals();  // SIGTERM while loading: exit 0, not killed
  const jina3::Encoder encoder = load_encoder(args.package, args.encoder_options);
  encoder.check(config.default_task, 0);  // the package has the default task's adapter
  try {
    return jina3_http::serve(encoder, config);
  } catch (const jina3::Error&) {
    throw;
  } catch (const std::runtime_error& e) {
    throw IoError(e.what());
  }
}

}  // namespace jina3_cli
