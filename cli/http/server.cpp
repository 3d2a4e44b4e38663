// The HTTP server of `jina3 serve` (see server.hpp).
//
// Threads: one event-loop thread (Asio) owns every socket and every Session; a pool of
// work_threads parses bodies, checks and queues requests with the encoder (Encoder::submit, which
// tokenises on the calling thread), and formats results; the encoder's worker runs the passes.
// A request's completion (EncodeHandle's on_ready, on the encoder's worker) posts its formatting
// to the pool, which posts the response to the event loop. Nothing blocks the event loop.
#include "server.hpp"

#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "api_error.hpp"
#include "request_body.hpp"
#include "responses.hpp"

namespace jina3_http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// ---- jina3::Error codes -> HTTP, in one table -------------------------------------------------

struct ErrorHttp {
  jina3::ErrorCode code;
  int status;
  const char* type;  // OpenAI's error type
};

constexpr ErrorHttp kErrorHttp[] = {
    {jina3::ErrorCode::Ok, 200, ""},
    {jina3::ErrorCode::InvalidArgument, 422, "invalid_request_error"},
    {jina3::ErrorCode::InputTooLong, 422, "invalid_request_error"},
    {jina3::ErrorCode::ModelNotFound, 500, "server_error"},
    {jina3::ErrorCode::ModelInvalid, 500, "server_error"},
    {jina3::ErrorCode::VersionMismatch, 500, "server_error"},
    {jina3::ErrorCode::Device, 500, "server_error"},
    {jina3::ErrorCode::BufferTooSmall, 500, "server_error"},
    {jina3::ErrorCode::OutOfMemory, 503, "service_unavailable_error"},
    {jina3::ErrorCode::Internal, 500, "server_error"},
    {jina3::ErrorCode::QueueFull, 429, "rate_limit_error"},         // with Retry-After
    {jina3::ErrorCode::DeadlineExceeded, 504, "timeout_error"},
    {jina3::ErrorCode::Cancelled, 503, "service_unavailable_error"},  // shutting down
};

constexpr bool mapped(jina3::ErrorCode code) {
  for (const ErrorHttp& row : kErrorHttp) {
    if (row.code == code) return true;
  }
  return false;
}
#define JINA3_X(name, value, text, py_class, py_base, doc) \
  static_assert(mapped(jina3::ErrorCode::name), "kErrorHttp has no row for jina3::ErrorCode::" #name);
JINA3_ERROR_CODES(JINA3_X)
#undef JINA3_X

ApiError api_error_of(const jina3::Error& error, const std::string& param = {}) {
  for (const ErrorHttp& row : kErrorHttp) {
    if (row.code == error.code()) return ApiError(row.status, row.type, jina3::to_string(error.code()), error.what(), param);
  }
  return ApiError(500, "server_error", "internal", error.what(), param);
}

// ---- what a request produces -----------------------------------------------------------------

struct Reply {
  int status = 200;
  std::string body;
  const char* content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::size_t inputs = 0;
  std::size_t tokens = 0;
  const char* lane = "-";
};

Reply error_reply(const ApiError& error) {
  Reply reply;
  reply.status = error.status;
  reply.body = error_body(error);
  if (error.status == 429) reply.headers.emplace_back("Retry-After", "1");
  if (error.status == 401) reply.headers.emplace_back("WWW-Authenticate", "Bearer");
  return reply;
}

// One queued request, shared by the session (event loop), the pool and the encoder's worker.
// ready() (EncodeHandle's on_ready) takes no lock: the core may call it from inside cancel() or
// submit(), on the thread that holds mutex_. Whichever of set() and ready() comes second runs the
// completion, exactly once.
class Call {
 public:
  enum class Reason { None, Gone, Timeout, Shutdown };

  // What runs once the queued request has completed (set before submit(), on the pool).
  void on_complete(std::function<void()> fn) { on_complete_ = std::move(fn); }

  // The handle from submit().
  void set(jina3::EncodeHandle handle) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      handle_ = std::move(handle);
      if (cancelled_) handle_.cancel();
    }
    if (flags_.fetch_or(kHandle) & kReady) complete();
  }
  // EncodeHandle's on_ready (the encoder's worker, or the thread in submit() or cancel()).
  void ready() {
    if (flags_.fetch_or(kReady) & kHandle) complete();
  }
  // Any thread: the client left, the request's --timeout passed, or shutdown.
  void cancel(Reason reason) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cancelled_) return;
    cancelled_ = true;
    reason_ = reason;
    if (handle_.valid()) handle_.cancel();
  }
  bool cancelled() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return cancelled_;
  }
  Reason reason() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return reason_;
  }
  jina3::Embeddings get() {
    std::lock_guard<std::mutex> lock(mutex_);
    return handle_.get();  // ready: does not wait
  }

 private:
  void complete() {
    std::function<void()> fn = std::move(on_complete_);  // runs once: set() and ready() race for it
    if (fn) fn();
  }

  static constexpr int kReady = 1;
  static constexpr int kHandle = 2;
  mutable std::mutex mutex_;
  jina3::EncodeHandle handle_;
  bool cancelled_ = false;
  Reason reason_ = Reason::None;
  std::atomic<int> flags_{0};
  std::function<void()> on_complete_;
};

enum class Route { Embeddings, Embed, Tokenize };

class Server;

// ---- one connection ----------------------------------------------------------------------------

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server& server, tcp::socket socket);
  ~Session();
  void start() { read_request(); }
  // Shutdown: a connection with no request in flight closes now.
  void close_if_idle() {
    if (!call_ && !writing_) close();
  }
  void cancel_call(Call::Reason reason) {
    if (call_) call_->cancel(reason);
  }
  // From the pool, on the event loop: the response.
  void finish(Reply reply);

 private:
  void read_request();
  void read_header();
  void on_header(beast::error_code ec);
  void read_body();
  void on_request(beast::error_code ec);
  void on_read_error(beast::error_code ec);
  void dispatch();
  void start_call(Route route);
  void watch_disconnect();
  void write(Reply reply, bool close_after = false);
  void close(bool drain = false);
  void arm_read_deadline();

  Server& server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  asio::steady_timer read_deadline_;
  asio::steady_timer call_deadline_;
  std::shared_ptr<Call> call_;
  std::shared_ptr<Session> keep_;  // itself, while a call is in flight
  Clock::time_point started_;
  std::string method_ = "-";
  std::string path_ = "-";
  bool keep_alive_ = true;
  bool read_timed_out_ = false;
  bool watching_ = false;
  bool gone_ = false;
  bool writing_ = false;
  bool closed_ = false;
  friend class Server;
};

// ---- the server --------------------------------------------------------------------------------

class Server {
 public:
  Server(const jina3::Encoder& encoder, const ServerConfig& config)
      : encoder_(encoder),
        config_(config),
        io_(1),
        acceptor_(io_),
        signals_(io_, SIGINT, SIGTERM),
        shutdown_timer_(io_),
        pool_(static_cast<std::size_t>(std::max(1, config.work_threads))) {
    // Tokens the library adds around a text given as token ids: the prompt, <s> and </s>.
    for (jina3::Task task : encoder.tasks()) added_tokens_[static_cast<int>(task) + 1] = added_tokens(task);
    added_tokens_[0] = added_tokens(jina3::Task::None);
  }

  int run();

  const ServerConfig& config() const { return config_; }
  asio::io_context& io() { return io_; }
  asio::thread_pool& pool() { return pool_; }
  bool shutting_down() const { return shutting_down_; }

  // Event loop only.
  void add(Session* session) {
    sessions_.insert(session);
  }
  void remove(Session* session) { sessions_.erase(session); }
  void call_started() { ++in_flight_; }
  void call_ended() { --in_flight_; }
  void count(int status) { ++counters_.responses[status]; }
  void log(const std::string& method, const std::string& path, int status, std::size_t inputs, std::size_t tokens,
           double ms, const char* lane);

  // Event loop: the answers that need no pool.
  std::optional<Reply> answer_here(const http::request<http::string_body>& request, const std::string& path);
  // Pool: parses, checks and queues (or runs) a request; reply_to gets the Reply on the pool,
  // the encoder's worker or this thread, exactly once.
  void handle(Route route, std::string body, std::string x_priority, const std::shared_ptr<Call>& call,
              std::function<void(Reply)> reply_to);

 private:
  void accept();
  void begin_shutdown();
  void poll_shutdown();
  void warm_up();
  bool authorized(const http::request<http::string_body>& request) const;
  std::size_t added_tokens(jina3::Task task) const {
    return encoder_.tokenize({std::string()}, task).front().size();
  }
  std::size_t added_tokens_of(jina3::Task task) const { return added_tokens_[static_cast<int>(task) + 1]; }

  Reply embed(Route route, const std::string& body, const std::string& x_priority, const std::shared_ptr<Call>& call,
              const std::function<void(Reply)>& reply_to, bool& deferred);
  Reply tokenize(const std::string& body);
  Reply late_chunk(const EmbedRequest& request, jina3::Task task);

  const jina3::Encoder& encoder_;
  ServerConfig config_;
  std::size_t added_tokens_[6] = {};
  std::unordered_set<Session*> sessions_;  // before io_: its handlers (holding Sessions) die first
  asio::io_context io_;
  tcp::acceptor acceptor_;
  asio::signal_set signals_;
  asio::steady_timer shutdown_timer_;
  asio::thread_pool pool_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> shutting_down_{false};
  Clock::time_point shutdown_started_;
  bool shutdown_cancelled_ = false;
  std::size_t in_flight_ = 0;
  ServerCounters counters_;
  int exit_code_ = 0;
  friend class Session;
};

// ---- helpers -----------------------------------------------------------------------------------

extern "C" void on_early_stop_signal(int) { _exit(0); }  // async-signal-safe

std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000.0));
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && beast::iequals(beast::string_view(a.data(), a.size()), beast::string_view(b.data(), b.size()));
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  const std::size_t n = std::max(a.size(), b.size());
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned>(x ^ y);
  }
  return diff == 0;
}

std::string iso_time_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  return fmt::format("{}.{:03}Z", text, ms);
}

Reply json_reply(int status, const nlohmann::json& body) {
  Reply reply;
  reply.status = status;
  reply.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return reply;
}

// The request's lane: the body's "priority", else the X-Priority header, else interactive.
jina3::Priority lane_of(const std::optional<std::string>& body_priority, const std::string& header) {
  try {
    if (body_priority) return jina3::priority_from_string(*body_priority);
    if (!header.empty()) return jina3::priority_from_string(header);
  } catch (const jina3::Error& e) {
    throw api_error_of(e, body_priority ? "priority" : "X-Priority");
  }
  return jina3::Priority::Interactive;
}

jina3::Task task_of(const std::optional<std::string>& name, jina3::Task default_task, const char* param) {
  if (!name) return default_task;
  try {
    return jina3::task_from_string(*name);
  } catch (const jina3::Error& e) {
    throw api_error_of(e, param);
  }
}

// Runs fn, turning every exception into an error Reply.
template <class Fn>
Reply guarded(Fn&& fn) {
  try {
    return fn();
  } catch (const ApiError& e) {
    return error_reply(e);
  } catch (const jina3::Error& e) {
    return error_reply(api_error_of(e));
  } catch (const std::bad_alloc&) {
    return error_reply(ApiError(503, "service_unavailable_error", "out_of_memory", "out of memory"));
  } catch (const std::exception& e) {
    return error_reply(ApiError(500, "server_error", "internal", e.what()));
  }
}

jina3::Precision precision_of(EmbeddingType type) {
  switch (type) {
    case EmbeddingType::Binary: return jina3::Precision::Binary;
    case EmbeddingType::UBinary: return jina3::Precision::UBinary;
    case EmbeddingType::Int8: return jina3::Precision::Int8;
    case EmbeddingType::UInt8: return jina3::Precision::UInt8;
    default: return jina3::Precision::Float32;
  }
}

// The rows as the response writes them: float32 bytes, or the library's precision bytes.
std::string openai_body(const float* values, std::size_t rows, std::size_t dims, const EmbedRequest& request,
                        const std::string& model, std::size_t tokens) {
  const jina3::Precision precision = precision_of(request.type);
  const EmbeddingType written = request.base64 ? EmbeddingType::Base64 : request.type;
  if (precision == jina3::Precision::Float32) {
    return openai_embeddings_body({reinterpret_cast<const std::uint8_t*>(values), rows, dims * sizeof(float)},
                                  written, model, tokens);
  }
  const std::size_t row_size = jina3::row_bytes(precision, dims);
  std::vector<std::uint8_t> bytes(rows * row_size);
  if (rows > 0) jina3::quantize(values, rows, dims, precision, nullptr, bytes.data());
  return openai_embeddings_body({bytes.data(), rows, row_size}, written, model, tokens);
}

// ---- Server ------------------------------------------------------------------------------------

void Server::log(const std::string& method, const std::string& path, int status, std::size_t inputs,
                 std::size_t tokens, double ms, const char* lane) {
  if (config_.quiet) return;
  std::string line;
  if (config_.log_json) {
    nlohmann::json entry = {{"time", iso_time_now()}, {"method", method}, {"path", path}, {"status", status},
                            {"inputs", inputs},       {"tokens", tokens}, {"ms", std::round(ms * 100) / 100},
                            {"lane", lane}};
    line = entry.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = fmt::format("{} {} {} {} inputs={} tokens={} ms={:.2f} lane={}", iso_time_now(), method, path, status, inputs,
                       tokens, ms, lane);
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

bool Server::authorized(const http::request<http::string_body>& request) const {
  if (config_.api_keys.empty()) return true;
  const auto header = request[http::field::authorization];
  std::string_view given(header.data(), header.size());
  constexpr std::string_view kBearer = "Bearer ";
  if (given.size() < kBearer.size() || !iequals(given.substr(0, kBearer.size()), kBearer)) return false;
  given.remove_prefix(kBearer.size());
  bool match = false;
  for (const std::string& key : config_.api_keys) match |= constant_time_equal(given, key);  // every key, always
  return match;
}

std::optional<Reply> Server::answer_here(const http::request<http::string_body>& request, const std::string& path) {
  const bool get = request.method() == http::verb::get;
  const bool post = request.method() == http::verb::post;
  const bool is_post_route = path == "/v1/embeddings" || path == "/embed" || path == "/tokenize" ||
                             path == "/embeddings";
  const bool is_get_route = path == "/health" || path == "/ready" || path == "/metrics" || path == "/v1/models" ||
                            path == "/info";
  if (!is_post_route && !is_get_route) {
    return error_reply(ApiError(404, "not_found_error", "not_found", "no route " + path));
  }
  if ((is_post_route && !post) || (is_get_route && !get)) {
    Reply reply = error_reply(ApiError(405, "invalid_request_error", "method_not_allowed",
                                       fmt::format("{} takes {}", path, is_post_route ? "POST" : "GET")));
    reply.headers.emplace_back("Allow", is_post_route ? "POST" : "GET");
    return reply;
  }
  if (path == "/health") return json_reply(200, {{"status", "ok"}});
  if (path == "/ready") {
    if (ready_ && !shutting_down_) return json_reply(200, {{"status", "ready"}});
    return error_reply(ApiError(503, "service_unavailable_error", shutting_down_ ? "shutting_down" : "warming_up",
                                shutting_down_ ? "the server is shutting down" : "the warm-up pass has not finished"));
  }
  if (!authorized(request)) {
    return error_reply(ApiError(401, "authentication_error", "invalid_api_key",
                                "a valid API key is required: send 'Authorization: Bearer KEY'"));
  }
  if (is_post_route) {
    if (shutting_down_) {
      return error_reply(ApiError(503, "service_unavailable_error", "shutting_down", "the server is shutting down"));
    }
    return std::nullopt;  // to the pool
  }
  if (path == "/metrics") {
    counters_.open_connections = sessions_.size();
    counters_.in_flight = in_flight_;
    counters_.ready = ready_ && !shutting_down_;
    Reply reply;
    reply.body = metrics_body(encoder_.stats(), counters_);
    reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return reply;
  }
  if (path == "/v1/models") {
    return json_reply(200, {{"object", "list"},
                            {"data", nlohmann::json::array({{{"id", config_.model_name},
                                                             {"object", "model"},
                                                             {"created", 0},
                                                             {"owned_by", "jina3"}}})}});
  }
  // /info
  nlohmann::json tasks = nlohmann::json::array();
  for (jina3::Task task : encoder_.tasks()) tasks.push_back(jina3::to_string(task));
  const jina3::KernelReport report = encoder_.kernels();
  nlohmann::json kernels = nlohmann::json::object();
#define JINA3_X(name, doc) kernels[#name] = report.name;
  JINA3_KERNEL_FIELDS(JINA3_X)
#undef JINA3_X
  return json_reply(200, {{"model_id", config_.model_name},
                          {"model_name", config_.model_name},
                          {"version", jina3::version()},
                          {"package", encoder_.package_path()},
                          {"tasks", tasks},
                          {"default_task", jina3::to_string(config_.default_task)},
                          {"dims", encoder_.dims()},
                          {"hidden_size", encoder_.hidden_size()},
                          {"max_input_length", encoder_.max_length()},
                          {"dtype", jina3::to_string(encoder_.dtype())},
                          {"device", jina3::to_string(encoder_.device())},
                          {"kernels", kernels},
                          {"max_client_batch_size", config_.max_inputs},
                          {"max_request_bytes", config_.max_request_bytes},
                          {"ready", ready_ && !shutting_down_}});
}

void Server::handle(Route route, std::string body, std::string x_priority, const std::shared_ptr<Call>& call,
                    std::function<void(Reply)> reply_to) {
  if (call->cancelled()) {
    reply_to(error_reply(ApiError(499, "invalid_request_error", "client_closed", "the client closed the connection")));
    return;
  }
  bool deferred = false;
  Reply reply = guarded([&] {
    if (route == Route::Tokenize) return tokenize(body);
    return embed(route, body, x_priority, call, reply_to, deferred);
  });
  if (!deferred) reply_to(std::move(reply));
}

Reply Server::tokenize(const std::string& body) {
  const TokenizeRequest request = parse_tokenize(body, {config_.max_inputs});
  const jina3::Task task = task_of(request.task, config_.default_task, "task");
  jina3::EncodeOptions options;
  options.truncate = request.truncate.value_or(true);
  const std::vector<jina3::Tokenization> tokens = encoder_.tokenize_details(request.inputs.texts, task, options);
  Reply reply;
  reply.body = tokenize_body(request.inputs.texts, tokens);
  reply.inputs = request.inputs.size();
  for (const auto& one : tokens) reply.tokens += one.ids.size();
  return reply;
}

Reply Server::late_chunk(const EmbedRequest& request, jina3::Task task) {
  // The inputs are consecutive chunks of one document: joined with single spaces, encoded once,
  // each chunk pooled over its own span of that one pass.
  const auto& chunks = request.inputs.texts;
  std::string document;
  std::vector<std::vector<std::pair<std::size_t, std::size_t>>> spans(1);
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    if (i) document += ' ';
    spans[0].emplace_back(document.size(), document.size() + chunks[i].size());
    document += chunks[i];
  }
  jina3::LateChunkOptions options;
  options.spans = &spans;
  options.normalize = request.normalize.value_or(true);
  const std::string_view text(document);
  const std::vector<jina3::ChunkEmbeddings> result = encoder_.late_chunk(&text, 1, task, request.dims, options);
  const jina3::ChunkEmbeddings& one = result.front();
  jina3::EncodeOptions count_options;
  count_options.truncate = false;
  std::size_t tokens = 0;
  try {
    tokens = encoder_.tokenize({document}, task, count_options).front().size();
  } catch (const jina3::InputTooLong&) {
    tokens = one.token_spans.empty() ? 0 : one.token_spans.back().second;
  }
  Reply reply;
  reply.body = openai_body(one.embeddings.data(), one.size(), one.dims, request, config_.model_name, tokens);
  reply.inputs = chunks.size();
  reply.tokens = tokens;
  return reply;
}

Reply Server::embed(Route route, const std::string& body, const std::string& x_priority,
                    const std::shared_ptr<Call>& call, const std::function<void(Reply)>& reply_to, bool& deferred) {
  const BodyLimits limits{config_.max_inputs};
  EmbedRequest request = route == Route::Embed ? parse_tei_embed(body, limits) : parse_openai_embeddings(body, limits);
  const jina3::Task task = task_of(request.task, config_.default_task, route == Route::Embed ? "prompt_name" : "task");
  jina3::EncodeOptions options;
  options.normalize = request.normalize.value_or(true);
  options.truncate = request.truncate.value_or(true);
  options.block_when_full = false;  // a full queue is a 429, not a wait
  options.priority = lane_of(request.priority, x_priority);
  const char* lane = jina3::to_string(options.priority);
  const jina3::Precision precision = precision_of(request.type);
  std::size_t dims = 0;
  try {
    dims = encoder_.check(task, request.dims, options, precision);
  } catch (const jina3::Error& e) {
    throw api_error_of(e, request.dims ? "dimensions" : "");
  }
  if (request.late_chunking) {
    Reply reply = late_chunk(request, task);
    reply.lane = lane;
    return reply;
  }

  // Queued with the encoder; the rest runs when the request completes.
  struct Pending {
    EmbedRequest request;
    jina3::Task task;
    jina3::EncodeOptions options;
    std::size_t dims;
    const char* lane;
    Route route;
  };
  auto pending = std::make_shared<Pending>(Pending{std::move(request), task, options, dims, lane, route});
  // The Call holds its completion, so the completion holds the Call weakly (the session keeps the
  // Call until it has its answer); so does on_ready, which the core keeps with the request.
  std::weak_ptr<Call> weak_call = call;
  call->on_complete([this, pending, weak_call, reply_to] {
    std::shared_ptr<Call> call = weak_call.lock();
    if (!call) return;
    asio::post(pool_, [this, pending, call, reply_to] {
      Reply reply = guarded([&] {
        jina3::Embeddings rows;
        try {
          rows = call->get();
        } catch (const jina3::Cancelled&) {
          switch (call->reason()) {
            case Call::Reason::Timeout:
              throw ApiError(504, "timeout_error", "timeout",
                             fmt::format("the request took longer than --timeout {} s", config_.timeout_s));
            case Call::Reason::Gone:
              throw ApiError(499, "invalid_request_error", "client_closed", "the client closed the connection");
            default: throw;
          }
        }
        const Pending& p = *pending;
        std::size_t tokens = 0;
        if (p.request.inputs.token_ids) {
          const std::size_t added = added_tokens_of(p.task);
          const std::size_t limit = static_cast<std::size_t>(encoder_.max_length());
          for (const auto& ids : p.request.inputs.ids) tokens += std::min(ids.size() + added, limit);
        } else {
          for (const auto& ids : encoder_.tokenize(p.request.inputs.texts, p.task, p.options)) tokens += ids.size();
        }
        Reply reply;
        reply.body = p.route == Route::Embed
                         ? tei_embed_body(rows)
                         : openai_body(rows.data.data(), rows.rows, rows.dims, p.request, config_.model_name, tokens);
        reply.inputs = rows.rows;
        reply.tokens = tokens;
        return reply;
      });
      reply.lane = pending->lane;
      if (reply.inputs == 0) reply.inputs = pending->request.inputs.size();
      reply_to(std::move(reply));
    });
  });
  const Pending& p = *pending;
  auto on_ready = [weak_call] {
    if (auto alive = weak_call.lock()) alive->ready();
  };
  if (p.request.inputs.token_ids) {
    std::vector<jina3::TokenIds> ids;
    ids.reserve(p.request.inputs.ids.size());
    for (const auto& one : p.request.inputs.ids) ids.push_back({one.data(), one.size()});
    call->set(encoder_.submit(ids.data(), ids.size(), &p.task, 1, p.request.dims, p.options, on_ready));
  } else {
    std::vector<std::string_view> texts(p.request.inputs.texts.begin(), p.request.inputs.texts.end());
    call->set(encoder_.submit(texts.data(), texts.size(), &p.task, 1, p.request.dims, p.options, on_ready));
  }
  deferred = true;
  return {};
}

void Server::accept() {
  acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (shutting_down_ || !acceptor_.is_open()) return;
    if (ec) {
      // Out of descriptors (EMFILE) or a transient failure: try again shortly, without spinning.
      auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(50));
      timer->async_wait([this, timer](beast::error_code) {
        if (!shutting_down_) accept();
      });
      return;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    std::make_shared<Session>(*this, std::move(socket))->start();
    accept();
  });
}

void Server::warm_up() {
  asio::post(pool_, [this] {
    try {
      encoder_.encode(std::vector<std::string>{"warm-up"}, config_.default_task);
      ready_ = true;
      if (!config_.quiet) std::fprintf(stderr, "jina3 serve: ready\n");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "jina3 serve: the warm-up pass failed: %s\n", e.what());
      asio::post(io_, [this] {
        exit_code_ = 1;
        begin_shutdown();
      });
    }
  });
}

void Server::begin_shutdown() {
  if (shutting_down_) {  // a second signal: cancel what is left now
    shutdown_started_ = Clock::now() - millis(config_.shutdown_timeout_s);
    return;
  }
  shutting_down_ = true;
  shutdown_started_ = Clock::now();
  if (!config_.quiet) {
    std::fprintf(stderr, "jina3 serve: shutting down: %zu request(s) in flight\n", in_flight_);
  }
  beast::error_code ignored;
  acceptor_.close(ignored);
  std::vector<Session*> sessions(sessions_.begin(), sessions_.end());
  for (Session* session : sessions) session->close_if_idle();
  poll_shutdown();
}

void Server::poll_shutdown() {
  bool writing = false;
  for (Session* session : sessions_) writing |= session->writing_;
  const auto elapsed = Clock::now() - shutdown_started_;
  if (in_flight_ == 0 && !writing) {
    io_.stop();
    return;
  }
  if (elapsed >= millis(config_.shutdown_timeout_s) && !shutdown_cancelled_) {
    shutdown_cancelled_ = true;
    for (Session* session : sessions_) session->cancel_call(Call::Reason::Shutdown);
  }
  if (elapsed >= millis(config_.shutdown_timeout_s + 5)) {  // a pass that will not end: give up on it
    std::fprintf(stderr, "jina3 serve: %zu request(s) still running after --shutdown-timeout; exiting\n", in_flight_);
    io_.stop();
    return;
  }
  shutdown_timer_.expires_after(std::chrono::milliseconds(20));
  shutdown_timer_.async_wait([this](beast::error_code ec) {
    if (!ec) poll_shutdown();
  });
}

int Server::run() {
  // Room for many connections: the soft descriptor limit up to the hard one.
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  std::signal(SIGPIPE, SIG_IGN);
  beast::error_code ec;
  const auto address = asio::ip::make_address(config_.host, ec);
  if (ec) throw std::runtime_error(fmt::format("--host {}: not an IP address ({})", config_.host, ec.message()));
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(config_.port));
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(4096, ec);
  if (ec) throw std::runtime_error(fmt::format("cannot listen on {}:{}: {}", config_.host, config_.port, ec.message()));
  const auto bound = acceptor_.local_endpoint();
  if (!config_.quiet) {
    std::fprintf(stderr, "jina3 serve: listening on http://%s:%u (model %s, package %s)\n",
                 bound.address().to_string().c_str(), bound.port(), config_.model_name.c_str(),
                 encoder_.package_path().c_str());
  }
  signals_.async_wait([this](beast::error_code error, int) {
    if (error) return;
    begin_shutdown();
    signals_.async_wait([this](beast::error_code again, int) {
      if (!again) begin_shutdown();
    });
  });
  accept();
  warm_up();
  io_.run();
  // The event loop has stopped: no request is in flight (or --shutdown-timeout has passed).
  for (Session* session : sessions_) session->cancel_call(Call::Reason::Shutdown);
  pool_.join();
  if (!config_.quiet) std::fprintf(stderr, "jina3 serve: stopped\n");
  if (in_flight_ > 0) {
    // Only after --shutdown-timeout + 5 s with a pass that would not end: the encoder may still
    // call into this server when it completes that request, so leave without destroying it.
    std::fflush(nullptr);
    std::_Exit(exit_code_);
  }
  return exit_code_;
}

// ---- Session -----------------------------------------------------------------------------------

Session::Session(Server& server, tcp::socket socket)
    : server_(server),
      stream_(std::move(socket)),
      read_deadline_(server.io()),
      call_deadline_(server.io()) {
  server_.add(this);
}

Session::~Session() { server_.remove(this); }

void Session::read_request() {
  if (closed_) return;
  if (server_.shutting_down()) return close();
  parser_.emplace();
  parser_->header_limit(64 * 1024);
  parser_->body_limit(server_.config().max_request_bytes);
  read_timed_out_ = false;
  if (buffer_.size() > 0) return read_header();  // pipelined: the next request has begun
  // Idle: wait for the first byte of the next request, at most idle_timeout_s (the stream's own
  // timer closes the socket then).
  stream_.expires_after(millis(server_.config().idle_timeout_s));
  stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
    self->stream_.expires_never();
    if (ec) return self->close();
    self->buffer_.commit(n);
    self->read_header();
  });
}

void Session::arm_read_deadline() {
  read_deadline_.expires_after(millis(server_.config().read_timeout_s));
  read_deadline_.async_wait([weak = weak_from_this()](beast::error_code ec) {
    if (ec) return;
    if (auto self = weak.lock()) {
      self->read_timed_out_ = true;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    }
  });
}

void Session::read_header() {
  started_ = Clock::now();
  arm_read_deadline();
  http::async_read_header(stream_, buffer_, *parser_,
                          [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
}

void Session::on_header(beast::error_code ec) {
  if (ec) return on_read_error(ec);
  const auto& request = parser_->get();
  method_ = std::string(request.method_string());
  path_ = std::string(request.target().substr(0, request.target().find('?')));
  const auto expect = request[http::field::expect];
  if (iequals(std::string_view(expect.data(), expect.size()), "100-continue") && !parser_->is_done()) {
    static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    asio::async_write(stream_, asio::buffer(kContinue), [self = shared_from_this()](beast::error_code error, std::size_t) {
      if (error) return self->close();
      self->read_body();
    });
    return;
  }
  read_body();
}

void Session::read_body() {
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_request(ec); });
}

void Session::on_read_error(beast::error_code ec) {
  read_deadline_.cancel();
  if (read_timed_out_) {
    write(error_reply(ApiError(408, "invalid_request_error", "request_timeout",
                               fmt::format("the request did not arrive within {} s", server_.config().read_timeout_s))),
          true);
    return;
  }
  if (ec == http::error::body_limit) {
    write(error_reply(too_large(fmt::format("the body is larger than this server's --max-request-bytes {}",
                                            server_.config().max_request_bytes))),
          true);
    return;
  }
  if (ec == http::error::header_limit) {
    write(error_reply(ApiError(431, "invalid_request_error", "headers_too_large", "the request's headers are too large")),
          true);
    return;
  }
  if (ec.category() != beast::error_code(http::error::body_limit).category() || ec == http::error::end_of_stream ||
      ec == http::error::partial_message) {
    return close();  // the client closed or the connection broke, between or inside requests
  }
  write(error_reply(bad_request("malformed HTTP request: " + ec.message(), {}, "bad_http")), true);
}

void Session::on_request(beast::error_code ec) {
  if (ec) return on_read_error(ec);
  read_deadline_.cancel();
  dispatch();
}

void Session::dispatch() {
  const auto& request = parser_->get();
  keep_alive_ = request.keep_alive();
  if (std::optional<Reply> reply = server_.answer_here(request, path_)) return write(std::move(*reply));
  Route route = Route::Embeddings;
  if (path_ == "/embed") route = Route::Embed;
  if (path_ == "/tokenize") route = Route::Tokenize;
  start_call(route);
}

void Session::start_call(Route route) {
  auto& request = parser_->get();
  std::string body = std::move(request.body());
  std::string x_priority(request["X-Priority"]);
  keep_ = shared_from_this();
  server_.call_started();
  call_ = std::make_shared<Call>();
  std::weak_ptr<Session> weak = weak_from_this();
  asio::io_context& io = server_.io();
  auto reply_to = [weak, &io](Reply reply) {
    asio::post(io, [weak, reply = std::move(reply)]() mutable {
      if (auto self = weak.lock()) self->finish(std::move(reply));
    });
  };
  if (server_.config().timeout_s > 0) {
    call_deadline_.expires_after(millis(server_.config().timeout_s));
    call_deadline_.async_wait([weak](beast::error_code ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->cancel_call(Call::Reason::Timeout);
    });
  }
  asio::post(server_.pool(), [server = &server_, route, body = std::move(body), x_priority = std::move(x_priority),
                              call = call_, reply_to]() mutable {
    server->handle(route, std::move(body), std::move(x_priority), call, reply_to);
  });
  watch_disconnect();
}

void Session::watch_disconnect() {
  watching_ = true;
  stream_.socket().async_wait(tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
    if (!self->watching_ || ec == asio::error::operation_aborted) return;
    if (!ec) {
      char byte;
      const ssize_t n = ::recv(self->stream_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n > 0) {  // the next (pipelined) request: the client is still there
        self->watching_ = false;
        return;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return self->watch_disconnect();
    }
    // EOF or an error: the client has gone. Its queued rows leave the queue.
    self->watching_ = false;
    self->gone_ = true;
    self->cancel_call(Call::Reason::Gone);
  });
}

void Session::finish(Reply reply) {
  auto keep = std::move(keep_);
  server_.call_ended();
  call_deadline_.cancel();
  call_.reset();
  if (watching_) {
    watching_ = false;
    beast::error_code ignored;
    stream_.socket().cancel(ignored);
  }
  if (gone_) {
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - started_).count();
    server_.count(499);
    server_.log(method_, path_, 499, reply.inputs, reply.tokens, ms, reply.lane);
    return close();
  }
  write(std::move(reply));
}

void Session::write(Reply reply, bool close_after) {
  if (closed_) return;
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - started_).count();
  server_.count(reply.status);
  server_.log(method_, path_, reply.status, reply.inputs, reply.tokens, ms, reply.lane);
  const bool keep_alive = keep_alive_ && !close_after && !server_.shutting_down();
  response_ = {};
  response_.version(11);
  response_.result(static_cast<unsigned>(reply.status));
  response_.set(http::field::server, "jina3");
  response_.set(http::field::content_type, reply.content_type);
  for (const auto& [name, value] : reply.headers) response_.set(name, value);
  response_.keep_alive(keep_alive);
  response_.body() = std::move(reply.body);
  response_.prepare_payload();
  writing_ = true;
  stream_.expires_after(std::chrono::seconds(60));  // a client that does not read its answer
  http::async_write(stream_, response_, [self = shared_from_this(), keep_alive, close_after](beast::error_code ec, std::size_t) {
    self->writing_ = false;
    self->stream_.expires_never();
    if (ec) return self->close();
    if (!keep_alive) return self->close(close_after);
    self->read_request();
  });
}

void Session::close(bool drain) {
  if (closed_) return;
  closed_ = true;
  read_deadline_.cancel();
  call_deadline_.cancel();
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  if (!drain) {
    stream_.socket().close(ignored);
    return;
  }
  // After an error answer the client may still be sending its body: read and drop it for a moment,
  // so that closing does not reset the connection before the client reads the answer.
  auto scratch = std::make_shared<std::array<char, 16384>>();
  stream_.expires_after(std::chrono::seconds(2));
  auto self = shared_from_this();
  auto step = std::make_shared<std::function<void()>>();
  *step = [self, scratch, step] {
    self->stream_.async_read_some(asio::buffer(*scratch), [self, scratch, step](beast::error_code ec, std::size_t) {
      if (ec) {
        beast::error_code ignored2;
        self->stream_.socket().close(ignored2);
        *step = nullptr;
        return;
      }
      (*step)();
    });
  };
  (*step)();
}

}  // namespace

void catch_early_stop_signals() {
  std::signal(SIGTERM, on_early_stop_signal);
  std::signal(SIGINT, on_early_stop_signal);
}

int serve(const jina3::Encoder& encoder, const ServerConfig& config) {
  Server server(encoder, config);
  return server.run();
}

}  // namespace jina3_http
