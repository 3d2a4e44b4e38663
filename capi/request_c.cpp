// The C ABI's requests: jina3_encoder_submit and jina3_encoder_submit_ids over Encoder::submit,
// and the jina3_request_* functions that wait for, poll, cancel and release the result.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "boundary.hpp"

namespace {

// What a request shares with its on_ready function, which the encoder calls on its worker thread
// and which may outlive the request (jina3_request_free may come first). The caller's callback
// runs with mutex held, so detach() (under the same mutex) returns only once no callback can run.
struct RequestNotifier {
  std::mutex mutex;
  jina3_request_callback callback = nullptr;  // nullptr once the request was freed
  void* user_data = nullptr;
  jina3_request* request = nullptr;
  bool armed = false;                         // submit has stored the future: the callback may run
  std::atomic<bool> ready{false};             // the future is ready (jina3_request_ready)
  std::atomic<std::thread::id> calling{};     // the thread running the callback now, if any

  // on_ready of encode_async. It may run inside encode_async, or on the worker before
  // encode_async has returned the future; then the callback waits for arm().
  void on_ready() noexcept {
    std::lock_guard<std::mutex> lock(mutex);
    ready.store(true, std::memory_order_release);
    if (armed) invoke();
  }
  // Called by submit once the request is complete and returned.
  void arm() noexcept {
    std::lock_guard<std::mutex> lock(mutex);
    armed = true;
    if (ready.load(std::memory_order_acquire)) invoke();
  }
  // With mutex held.
  void invoke() noexcept {
    if (callback == nullptr) return;
    calling.store(std::this_thread::get_id());
    callback(request, user_data);
    calling.store(std::thread::id());
  }
  void detach() noexcept {
    // From inside the callback this thread already holds mutex (and the callback is not called again).
    if (calling.load() == std::this_thread::get_id()) {
      callback = nullptr;
      return;
    }
    std::lock_guard<std::mutex> lock(mutex);
    callback = nullptr;
  }
};

}  // namespace

struct jina3_request {
  std::shared_ptr<RequestNotifier> notifier;
  std::size_t rows = 0;
  int dims = 0;
  std::mutex mutex;                        // serialises collecting the result (concurrent waits)
  jina3::EncodeHandle handle;              // valid until the result is collected; cancel() any time
  std::optional<jina3::Embeddings> result;  // once collected, kept until jina3_request_free
  std::exception_ptr failure;              // or the request's failure, rethrown by every wait
  // Set once wait has the outcome: on_ready (and so notifier->ready) may come a moment after
  // the future is ready, and ready() must not report false after a wait returned.
  std::atomic<bool> collected{false};
};

using jina3::capi::guarded;
using jina3::capi::invalid;
using jina3::capi::require;

namespace {

// What both submit functions share. inputs: a C++ array of string_view or jina3::TokenIds.
template <class Input>
void submit(const char* function, const jina3_encoder* encoder, const std::vector<Input>& inputs,
            const jina3_task* tasks, size_t task_count, int dims, const jina3_encode_options* options,
            jina3_request_callback callback, void* user_data, jina3_request** request) {
  require(encoder != nullptr, function, "encoder is NULL");
  require(request != nullptr, function, "request is NULL (pass the address of a jina3_request*)");
  jina3::capi::require_array(tasks, task_count, function, "tasks", "task_count");
  const jina3::EncodeOptions cpp_options = jina3::capi::read_encode_options(options, function);
  // The request exists before Encoder::submit, since on_ready may run before that returns.
  auto notifier = std::make_shared<RequestNotifier>();
  auto owned = std::make_unique<jina3_request>();
  notifier->callback = callback;
  notifier->user_data = user_data;
  notifier->request = owned.get();
  owned->notifier = notifier;
  owned->rows = inputs.size();
  owned->dims = static_cast<int>(encoder->encoder.output_dims(dims));
  owned->handle = encoder->encoder.submit(inputs.data(), inputs.size(), jina3::capi::tasks_of(tasks), task_count,
                                          dims, cpp_options, [notifier] { notifier->on_ready(); });
  *request = owned.release();
  // notifier, not the request, stays in use here: the callback may free the request.
  notifier->arm();
}

}  // namespace

extern "C" {

jina3_status jina3_encoder_submit(const jina3_encoder* encoder, const char* const* texts, const size_t* lengths,
                                  size_t count, const jina3_task* tasks, size_t task_count, int dims,
                                  const jina3_encode_options* options, jina3_request_callback callback,
                                  void* user_data, jina3_request** request, jina3_error** error) {
  return guarded(error, [&] {
    constexpr const char* function = "jina3_encoder_submit";
    submit(function, encoder, jina3::capi::text_views(texts, lengths, count, function), tasks, task_count, dims,
           options, callback, user_data, request);
  });
}

jina3_status jina3_encoder_submit_ids(const jina3_encoder* encoder, const int32_t* const* ids, const size_t* lengths,
                                      size_t count, const jina3_task* tasks, size_t task_count, int dims,
                                      const jina3_encode_options* options, jina3_request_callback callback,
                                      void* user_data, jina3_request** request, jina3_error** error) {
  return guarded(error, [&] {
    constexpr const char* function = "jina3_encoder_submit_ids";
    submit(function, encoder, jina3::capi::token_id_views(ids, lengths, count, function), tasks, task_count, dims,
           options, callback, user_data, request);
  });
}

bool jina3_request_cancel(jina3_request* request) { return request != nullptr && request->handle.cancel(); }

jina3_status jina3_request_wait(jina3_request* request, float* out, size_t out_capacity, uint8_t* truncated,
                                jina3_error** error) {
  return guarded(error, [&] {
    constexpr const char* function = "jina3_request_wait";
    require(request != nullptr, function, "request is NULL");
    const std::size_t needed = request->rows * static_cast<std::size_t>(request->dims);
    if (needed > 0 && out == nullptr) {
      invalid(function, "out is NULL but the result has " + std::to_string(needed) + " floats");
    }
    std::lock_guard<std::mutex> lock(request->mutex);
    if (request->handle.valid()) {
      try {
        request->result = request->handle.get();
      } catch (...) {
        request->failure = std::current_exception();
      }
      request->collected.store(true, std::memory_order_release);
    }
    if (request->failure) std::rethrow_exception(request->failure);
    const jina3::Embeddings& result = *request->result;
    if (out_capacity < result.data.size()) {
      throw jina3::BufferTooSmall(std::string(function) + ": out_capacity is " + std::to_string(out_capacity) +
                                  " floats, need " + std::to_string(result.data.size()) + " (" +
                                  std::to_string(result.rows) + " rows x " + std::to_string(result.dims) + " dims)");
    }
    std::copy(result.data.begin(), result.data.end(), out);
    if (truncated != nullptr) std::copy(result.truncated.begin(), result.truncated.end(), truncated);
  });
}

bool jina3_request_ready(const jina3_request* request) {
  return request != nullptr && (request->notifier->ready.load(std::memory_order_acquire) ||
                                request->collected.load(std::memory_order_acquire));
}

size_t jina3_request_rows(const jina3_request* request) { return request ? request->rows : 0; }

int jina3_request_dims(const jina3_request* request) { return request ? request->dims : 0; }

void jina3_request_free(jina3_request* request) {
  if (request == nullptr) return;
  request->notifier->detach();
  delete request;
}

}  // extern "C"
