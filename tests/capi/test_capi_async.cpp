// The C API's serving calls: jina3_encoder_submit and the jina3_request_* functions (results equal
// to the synchronous ones, from many threads; polling; callbacks; freeing at any time; queue full;
// deadlines; buffer checks), jina3_encoder_stats, the serving options and the new status codes.
#include <jina3/jina3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "capi_support.hpp"
#include "support.hpp"

using namespace jina3;
using namespace jina3::capi_test;

namespace {

using Clock = std::chrono::steady_clock;

// Pointer values no call may write: failed calls must leave out-params alone.
jina3_request* sentinel_request() { return reinterpret_cast<jina3_request*>(static_cast<std::uintptr_t>(0x5e17e1)); }
jina3_encoder* sentinel_pointer_encoder() {
  return reinterpret_cast<jina3_encoder*>(static_cast<std::uintptr_t>(0x5e17e1));
}


// The synchronous result of the same call.
CResult sync_result(const jina3_encoder* encoder, const CTexts& texts, const std::vector<jina3_task>& tasks, int dims,
                    const jina3_encode_options* options = nullptr) {
  CResult result;
  result.data.assign(texts.size() * static_cast<std::size_t>(row_size(encoder, dims)), 0.0f);
  result.truncated.assign(texts.size(), 0xAB);
  std::vector<jina3_task> per_text = tasks;
  if (per_text.size() == 1) per_text.assign(texts.size(), tasks[0]);
  result.status = jina3_encoder_encode_tasks(encoder, texts.data(), nullptr, texts.size(), per_text.data(), dims,
                                             options, result.data.data(), result.data.size(), result.truncated.data(),
                                             nullptr);
  return result;
}

// Whether a wait wrote nothing into wait_result's buffers.
bool untouched(const CResult& result) {
  return std::count(result.data.begin(), result.data.end(), 7.0f) == static_cast<std::ptrdiff_t>(result.data.size()) &&
         std::count(result.truncated.begin(), result.truncated.end(), 0xAB) ==
             static_cast<std::ptrdiff_t>(result.truncated.size());
}

double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return 1e30;
  return a.empty() ? 0.0 : test::max_abs_diff(a.data(), b.data(), a.size());
}

jina3_stats read_stats(const jina3_encoder* encoder) {
  jina3_stats stats;
  std::memset(&stats, 0, sizeof stats);
  stats.struct_size = sizeof stats;
  const jina3_status status = jina3_encoder_stats(encoder, &stats, nullptr);
  INFO(jina3_last_error());
  REQUIRE(status == JINA3_OK);
  return stats;
}

// Waits until nothing is queued or running on the encoder (detached requests included).
void drain(const jina3_encoder* encoder) {
  const auto give_up = Clock::now() + std::chrono::seconds(120);
  while (read_stats(encoder).queue_depth != 0) {
    REQUIRE(Clock::now() < give_up);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// Polls condition every millisecond for up to 30 s; returns whether it became true.
bool eventually(const std::function<bool()>& condition) {
  const auto give_up = Clock::now() + std::chrono::seconds(30);
  while (!condition()) {
    if (Clock::now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Enough work to keep the worker busy for a good while on the tiny model (a thousand texts of some
// 150 tokens take about a second on a 2-core VM): a request queued behind it waits, and it is still
// pending when the next call runs. The tests free it unfinished, which cancels the rest.
CTexts busy_texts(std::size_t count = 1000) {
  std::vector<std::string> texts;
  std::string words;
  for (int i = 0; i < 60; ++i) words += "word" + std::to_string(i) + " ";
  for (std::size_t i = 0; i < count; ++i) texts.push_back(std::to_string(i) + " " + words);
  return CTexts(std::move(texts));
}

EncoderHandle open_with(const std::function<void(jina3_encoder_options&)>& edit) {
  jina3_encoder_options options;
  jina3_encoder_default_options(&options, sizeof options);
  edit(options);
  return open_encoder("float32", &options);
}

const std::vector<jina3_task> kQuery = {JINA3_TASK_RETRIEVAL_QUERY};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Status codes and options
// ---------------------------------------------------------------------------------------------

TEST_CASE("serving status codes have their C++ values and names", "[capi][unit]") {
  CHECK(JINA3_ERR_QUEUE_FULL == 10);
  CHECK(JINA3_ERR_DEADLINE_EXCEEDED == 11);
  CHECK(JINA3_ERR_CANCELLED == 12);
  CHECK(std::string(jina3_status_name(JINA3_ERR_QUEUE_FULL)) == "queue_full");
  CHECK(std::string(jina3_status_name(JINA3_ERR_DEADLINE_EXCEEDED)) == "deadline_exceeded");
  CHECK(std::string(jina3_status_name(JINA3_ERR_CANCELLED)) == "cancelled");
  CHECK(std::string(jina3_status_name(static_cast<jina3_status>(13))) == "unknown");
  for (int code = JINA3_OK; code <= JINA3_ERR_CANCELLED; ++code) {
    CHECK(std::string(jina3_status_name(static_cast<jina3_status>(code))) ==
          to_string(static_cast<ErrorCode>(code)));
  }
}

namespace {

// The layouts before the serving fields, as the headers of that time declared them.
struct EncoderOptionsV2 {
  std::size_t struct_size;
  jina3_device device;
  int device_index;
  jina3_dtype dtype;
  int num_threads;
  int max_batch_tokens;
  int max_batch_size;
  bool verify_checksums;
  bool retain_host_memory;
};
struct EncodeOptionsV1 {
  std::size_t struct_size;
  int max_length;
  int batch_size;
  bool normalize;
  bool truncate;
};

}  // namespace

TEST_CASE("options of the previous layouts are accepted, their new fields at the defaults", "[capi][async]") {
  const std::string path = test::package_dir("float32").string();

  SECTION("encoder options") {
    jina3_encoder_options options;
    jina3_encoder_default_options(&options, sizeof options);
    // Values that no call accepts, in the new fields: max_wait_us lies in the old layout's tail padding.
    options.max_wait_us = -1;
    options.max_queued_requests = -1;
    jina3_encoder* encoder = sentinel_pointer_encoder();
    jina3_error* error = nullptr;
    check_failure(jina3_encoder_create(path.c_str(), &options, &encoder, &error), error, JINA3_ERR_INVALID_ARGUMENT);
    CHECK(encoder == sentinel_pointer_encoder());

    options.struct_size = sizeof(EncoderOptionsV2);
    jina3_encoder* old = nullptr;
    REQUIRE(jina3_encoder_create(path.c_str(), &options, &old, nullptr) == JINA3_OK);
    EncoderHandle owned(old);
    const CTexts texts({"hello", "world"});
    const CResult result = sync_result(old, texts, kQuery, 0);
    REQUIRE(result.status == JINA3_OK);
    CHECK(result.data == sync_result(shared_c_encoder(), texts, kQuery, 0).data);
  }
  SECTION("encode options") {
    const jina3_encoder* c = shared_c_encoder();
    const CTexts texts({"hello", "world"});
    jina3_encode_options options;
    jina3_encode_default_options(&options, sizeof options);
    options.deadline_us = -1;
    const CResult bad = sync_result(c, texts, kQuery, 0, &options);
    CHECK(bad.status == JINA3_ERR_INVALID_ARGUMENT);
    CHECK(std::string(jina3_last_error()).find("deadline_us") != std::string::npos);

    options.struct_size = sizeof(EncodeOptionsV1);
    const CResult old = sync_result(c, texts, kQuery, 0, &options);
    REQUIRE(old.status == JINA3_OK);
    CHECK(old.data == sync_result(c, texts, kQuery, 0).data);

    jina3_request* request = nullptr;
    REQUIRE(jina3_encoder_submit(c, texts.data(), nullptr, texts.size(), kQuery.data(), 1, 0, &options, nullptr,
                                 nullptr, &request, nullptr) == JINA3_OK);
    RequestHandle owned(request);
    CHECK(wait_result(request).data == old.data);
  }
}

TEST_CASE("use_scheduler false and cache_bytes reach the encoder", "[capi][async]") {
  const CTexts texts({"What is the capital of France?", "Paris is the capital of France.", ""});
  const CResult expected = sync_result(shared_c_encoder(), texts, kQuery, 0);
  REQUIRE(expected.status == JINA3_OK);

  SECTION("without the scheduler") {
    EncoderHandle encoder = open_with([](jina3_encoder_options& o) { o.use_scheduler = false; });
    const CResult result = sync_result(encoder.get(), texts, kQuery, 0);
    REQUIRE(result.status == JINA3_OK);
    CHECK(max_diff(result.data, expected.data) <= 1e-6);
    RequestHandle request = submit(encoder.get(), texts, kQuery, 0);
    const CResult async = wait_result(request.get());
    REQUIRE(async.status == JINA3_OK);
    CHECK(max_diff(async.data, expected.data) <= 1e-6);
  }
  SECTION("with a cache") {
    EncoderHandle encoder = open_with([](jina3_encoder_options& o) { o.cache_bytes = 1 << 20; });
    REQUIRE(sync_result(encoder.get(), texts, kQuery, 0).status == JINA3_OK);
    const jina3_stats before = read_stats(encoder.get());
    const CResult again = sync_result(encoder.get(), texts, kQuery, 0);
    REQUIRE(again.status == JINA3_OK);
    const jina3_stats after = read_stats(encoder.get());
    CHECK(after.cache_hits == before.cache_hits + texts.size());
    CHECK(after.cache_entries == texts.size());
    CHECK(after.cache_bytes > 0);
    CHECK(after.cache_bytes <= (1u << 20));
    CHECK(max_diff(again.data, expected.data) <= 1e-6);
  }
}

// ---------------------------------------------------------------------------------------------
// Submit and wait
// ---------------------------------------------------------------------------------------------

TEST_CASE("submit then wait equals the synchronous call", "[capi][async]") {
  const jina3_encoder* c = shared_c_encoder();
  const CTexts texts(sample_texts());
  std::vector<jina3_task> per_text;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    per_text.push_back(static_cast<jina3_task>(static_cast<int>(i % 6) - 1));
  }
  const std::vector<int> all_dims = test::shared_encoder("float32").dims();

  for (const std::vector<jina3_task>& tasks : {kQuery, per_text}) {
    for (int dims : {0, all_dims.front()}) {
      INFO(tasks.size() << " tasks, dims " << dims);
      const CResult expected = sync_result(c, texts, tasks, dims);
      REQUIRE(expected.status == JINA3_OK);
      RequestHandle request = submit(c, texts, tasks, dims);
      CHECK(jina3_request_rows(request.get()) == texts.size());
      CHECK(jina3_request_dims(request.get()) == row_size(c, dims));
      const CResult result = wait_result(request.get());
      REQUIRE(result.status == JINA3_OK);
      CHECK(max_diff(result.data, expected.data) <= 1e-6);
      CHECK(result.truncated == expected.truncated);
      CHECK(jina3_request_ready(request.get()));
      // The result stays in the request: a second wait gives it again.
      const CResult again = wait_result(request.get());
      REQUIRE(again.status == JINA3_OK);
      CHECK(again.data == result.data);
    }
  }
}

TEST_CASE("texts are only read during submit", "[capi][async]") {
  const jina3_encoder* c = shared_c_encoder();
  std::vector<std::string> strings = {"Paris is the capital of France.", "Berlin is the capital of Germany."};
  const CResult expected = sync_result(c, CTexts(strings), kQuery, 0);
  std::vector<char*> buffers;
  for (const auto& text : strings) {
    buffers.push_back(new char[text.size() + 1]);
    std::memcpy(buffers.back(), text.c_str(), text.size() + 1);
  }
  std::vector<std::size_t> lengths = {strings[0].size(), strings[1].size()};
  jina3_request* raw = nullptr;
  REQUIRE(jina3_encoder_submit(c, buffers.data(), lengths.data(), 2, kQuery.data(), 1, 0, nullptr, nullptr, nullptr,
                               &raw, nullptr) == JINA3_OK);
  RequestHandle request(raw);
  // Overwritten and released before the request has run.
  for (char* buffer : buffers) {
    std::memset(buffer, 'x', std::strlen(buffer));
    delete[] buffer;
  }
  lengths.assign(2, 9999);
  const CResult result = wait_result(request.get());
  REQUIRE(result.status == JINA3_OK);
  CHECK(max_diff(result.data, expected.data) <= 1e-6);
}

TEST_CASE("polling jina3_request_ready until the request is ready", "[capi][async]") {
  const jina3_encoder* c = shared_c_encoder();
  const CTexts texts(sample_texts());
  const CResult expected = sync_result(c, texts, kQuery, 0);
  RequestHandle request = submit(c, texts, kQuery, 0);
  std::size_t polls = 0;
  REQUIRE(eventually([&] {
    ++polls;
    return jina3_request_ready(request.get());
  }));
  const CResult result = wait_result(request.get());
  REQUIRE(result.status == JINA3_OK);
  CHECK(max_diff(result.data, expected.data) <= 1e-6);
  CHECK(polls >= 1);
  CHECK_FALSE(jina3_request_ready(nullptr));
  CHECK(jina3_request_rows(nullptr) == 0);
  CHECK(jina3_request_dims(nullptr) == 0);
  jina3_request_free(nullptr);
}

TEST_CASE("wait with a short buffer writes nothing and keeps the result for the next wait", "[capi][async]") {
  const jina3_encoder* c = shared_c_encoder();
  const CTexts texts({"What is the capital of France?", busy_texts(1).strings[0]});
  const int dims = 32;
  jina3_encode_options options;
  jina3_encode_default_options(&options, sizeof options);
  options.max_length = 24;  // cuts the second text
  const CResult expected = sync_result(c, texts, kQuery, dims, &options);
  REQUIRE(expected.status == JINA3_OK);
  RequestHandle request = submit(c, texts, kQuery, dims, &options);

  std::vector<float> out(2 * dims, 7.0f);
  std::vector<std::uint8_t> truncated(2, 0xAB);
  jina3_error* error = nullptr;
  check_failure(jina3_request_wait(request.get(), out.data(), out.size() - 1, truncated.data(), &error), error,
                JINA3_ERR_BUFFER_TOO_SMALL, "need 64");
  CHECK(std::count(out.begin(), out.end(), 7.0f) == static_cast<std::ptrdiff_t>(out.size()));
  CHECK(truncated == std::vector<std::uint8_t>(2, 0xAB));

  REQUIRE(jina3_request_wait(request.get(), out.data(), out.size(), truncated.data(), nullptr) == JINA3_OK);
  CHECK(max_diff(out, expected.data) <= 1e-6);
  CHECK(truncated == expected.truncated);
  CHECK(truncated == std::vector<std::uint8_t>{0, 1});
}

TEST_CASE("32 threads submitting and waiting get the synchronous results", "[capi][async][threads]") {
  const jina3_encoder* c = shared_c_encoder();
  std::vector<int> all_dims(jina3_encoder_dims(c, nullptr, 0));
  (void)jina3_encoder_dims(c, all_dims.data(), all_dims.size());
  all_dims.push_back(0);
  const std::vector<std::string>& samples = sample_texts();
  constexpr int kThreads = 32;
  constexpr int kRequests = 4;

  // Every call, planned from a seeded generator, and its synchronous result.
  struct Call {
    std::unique_ptr<CTexts> texts;
    std::vector<jina3_task> tasks;
    int dims;
    CResult expected;
  };
  std::mt19937 random(20240611);
  std::vector<std::vector<Call>> calls(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    for (int r = 0; r < kRequests; ++r) {
      Call call;
      std::vector<std::string> texts;
      const std::size_t count = 1 + random() % 5;
      for (std::size_t i = 0; i < count; ++i) {
        texts.push_back(samples[random() % samples.size()] + " (" + std::to_string(t) + "." + std::to_string(r) + ")");
      }
      call.texts = std::make_unique<CTexts>(std::move(texts));
      const std::size_t task_count = random() % 2 == 0 ? 1 : count;
      for (std::size_t i = 0; i < task_count; ++i) call.tasks.push_back(static_cast<jina3_task>(int(random() % 6) - 1));
      call.dims = all_dims[random() % all_dims.size()];
      call.expected = sync_result(c, *call.texts, call.tasks, call.dims);
      REQUIRE(call.expected.status == JINA3_OK);
      calls[t].push_back(std::move(call));
    }
  }

  std::atomic<int> failures{0};
  std::atomic<int> mismatches{0};
  std::vector<double> worst(kThreads, 0.0);
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      // All of this thread's requests in flight at once, then collected in reverse order.
      std::vector<jina3_request*> requests(kRequests, nullptr);
      for (int r = 0; r < kRequests; ++r) {
        const Call& call = calls[t][r];
        jina3_error* error = nullptr;
        if (jina3_encoder_submit(c, call.texts->data(), nullptr, call.texts->size(), call.tasks.data(),
                                 call.tasks.size(), call.dims, nullptr, nullptr, nullptr, &requests[r],
                                 &error) != JINA3_OK) {
          std::fprintf(stderr, "submit failed: %s\n", jina3_error_message(error));
          jina3_error_free(error);
          ++failures;
        }
      }
      for (int r = kRequests - 1; r >= 0; --r) {
        if (requests[r] == nullptr) continue;
        const CResult result = wait_result(requests[r]);
        jina3_request_free(requests[r]);
        if (result.status != JINA3_OK) {
          ++failures;
          continue;
        }
        const double diff = max_diff(result.data, calls[t][r].expected.data);
        worst[t] = std::max(worst[t], diff);
        if (diff > 1e-6 || result.truncated != calls[t][r].expected.truncated) ++mismatches;
      }
    });
  }
  go = true;
  for (auto& thread : threads) thread.join();
  double overall = 0.0;
  for (double w : worst) overall = std::max(overall, w);
  std::printf("capi async: %d threads x %d requests in flight: %d failures, %d results off by > 1e-6, "
              "max |diff| %.3g\n",
              kThreads, kRequests, failures.load(), mismatches.load(), overall);
  CHECK(failures == 0);
  CHECK(mismatches == 0);
  CHECK(overall <= 1e-6);
}

// ---------------------------------------------------------------------------------------------
// Callbacks
// ---------------------------------------------------------------------------------------------

namespace {

// What one request's callback saw.
struct Slot {
  std::atomic<int> calls{0};
  std::atomic<jina3_request*> request{nullptr};
  std::atomic<bool> ready_inside{false};
  std::atomic<int> wait_status{-1};
  std::vector<float> out;  // sized before submit; written by the wait inside the callback
};

void record(jina3_request* request, void* user_data) {
  Slot* slot = static_cast<Slot*>(user_data);
  slot->request = request;
  slot->ready_inside = jina3_request_ready(request);
  // Inside the callback wait does not block: the result is ready.
  slot->wait_status = jina3_request_wait(request, slot->out.data(), slot->out.size(), nullptr, nullptr);
  ++slot->calls;
}

}  // namespace

TEST_CASE("the callback runs exactly once with its request and user_data", "[capi][async]") {
  const jina3_encoder* c = shared_c_encoder();
  constexpr int kCount = 16;
  std::vector<std::unique_ptr<CTexts>> texts;
  std::vector<std::unique_ptr<Slot>> slots;
  std::vector<RequestHandle> requests;
  for (int i = 0; i < kCount; ++i) {
    texts.push_back(std::make_unique<CTexts>(std::vector<std::string>(1 + i % 3, "text number " + std::to_string(i))));
    slots.push_back(std::make_unique<Slot>());
    slots.back()->out.assign(texts.back()->size() * static_cast<std::size_t>(jina3_encoder_hidden_size(c)), 7.0f);
    requests.push_back(submit(c, *texts.back(), kQuery, 0, nullptr, record, slots.back().get()));
  }
  for (int i = 0; i < kCount; ++i) {
    INFO("request " << i);
    const CResult result = wait_result(requests[i].get());
    REQUIRE(result.status == JINA3_OK);
    // ready turns true just before the callback, so the callback may still be on its way.
    REQUIRE(eventually([&] { return slots[i]->calls.load() == 1; }));
    CHECK(slots[i]->request.load() == requests[i].get());
    CHECK(slots[i]->ready_inside.load());
    CHECK(slots[i]->wait_status.load() == JINA3_OK);
    CHECK(slots[i]->out == result.data);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  for (const auto& slot : slots) CHECK(slot->calls.load() == 1);
}

TEST_CASE("a request that completes at once calls its callback inside submit", "[capi][async]") {
  const jina3_encoder* c = shared_c_encoder();
  Slot slot;
  jina3_request* raw = nullptr;
  REQUIRE(jina3_encoder_submit(c, nullptr, nullptr, 0, kQuery.data(), 1, 0, nullptr, record, &slot, &raw, nullptr) ==
          JINA3_OK);
  RequestHandle request(raw);
  CHECK(slot.calls.load() == 1);
  CHECK(slot.request.load() == raw);
  CHECK(slot.wait_status.load() == JINA3_OK);
  CHECK(jina3_request_ready(raw));
  CHECK(jina3_request_rows(raw) == 0);
  CHECK(jina3_request_dims(raw) == jina3_encoder_hidden_size(c));
  CHECK(jina3_request_wait(raw, nullptr, 0, nullptr, nullptr) == JINA3_OK);
}

namespace {

// A callback that takes the result and frees its request, as a fire-and-forget caller does.
struct Collected {
  std::atomic<int> done{0};
  std::atomic<int> bad{0};
  std::vector<std::vector<float>> out;
};

struct CollectSlot {
  Collected* collected;
  std::size_t index;
};

void collect_and_free(jina3_request* request, void* user_data) {
  CollectSlot* slot = static_cast<CollectSlot*>(user_data);
  std::vector<float>& out = slot->collected->out[slot->index];
  if (jina3_request_wait(request, out.data(), out.size(), nullptr, nullptr) != JINA3_OK) ++slot->collected->bad;
  jina3_request_free(request);
  ++slot->collected->done;
}

}  // namespace

TEST_CASE("a callback may free its own request", "[capi][async]") {
  const jina3_encoder* c = shared_c_encoder();
  constexpr std::size_t kCount = 24;
  const CTexts texts({"fire and forget", "second text"});
  const CResult expected = sync_result(c, texts, kQuery, 0);
  Collected collected;
  collected.out.assign(kCount, std::vector<float>(expected.data.size(), 7.0f));
  std::vector<CollectSlot> slots(kCount);
  for (std::size_t i = 0; i < kCount; ++i) {
    slots[i] = {&collected, i};
    jina3_request* raw = nullptr;
    REQUIRE(jina3_encoder_submit(c, texts.data(), nullptr, texts.size(), kQuery.data(), 1, 0, nullptr,
                                 collect_and_free, &slots[i], &raw, nullptr) == JINA3_OK);
    // raw belongs to the callback now.
  }
  REQUIRE(eventually([&] { return collected.done.load() == static_cast<int>(kCount); }));
  CHECK(collected.bad.load() == 0);
  for (const auto& out : collected.out) CHECK(max_diff(out, expected.data) <= 1e-6);
}

// ---------------------------------------------------------------------------------------------
// Freeing at any time
// ---------------------------------------------------------------------------------------------

namespace {

struct Detached {
  std::atomic<int> calls{0};
  std::atomic<bool> freed{false};
  std::atomic<int> after_free{0};
};

void count_call(jina3_request*, void* user_data) {
  Detached* detached = static_cast<Detached*>(user_data);
  if (detached->freed.load()) ++detached->after_free;
  ++detached->calls;
}

}  // namespace

TEST_CASE("freeing a request before it completes detaches it: no crash, no callback afterwards", "[capi][async]") {
  const jina3_encoder* c = shared_c_encoder();
  constexpr int kRounds = 200;
  const CTexts texts(sample_texts());
  std::vector<std::unique_ptr<Detached>> states;
  std::mt19937 random(7);
  int freed_before_ready = 0;
  for (int round = 0; round < kRounds; ++round) {
    states.push_back(std::make_unique<Detached>());
    Detached* state = states.back().get();
    jina3_request* request = nullptr;
    REQUIRE(jina3_encoder_submit(c, texts.data(), nullptr, texts.size(), kQuery.data(), 1, 0, nullptr, count_call,
                                 state, &request, nullptr) == JINA3_OK);
    // Free at once, after a short while, or while the callback may be running.
    const unsigned when = random() % 3;
    if (when == 1) std::this_thread::sleep_for(std::chrono::microseconds(random() % 3000));
    if (when == 2) {
      while (!jina3_request_ready(request)) std::this_thread::yield();
    }
    if (!jina3_request_ready(request)) ++freed_before_ready;
    jina3_request_free(request);
    state->freed = true;
  }
  drain(c);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  int after_free = 0, more_than_once = 0;
  for (const auto& state : states) {
    after_free += state->after_free.load();
    if (state->calls.load() > 1) ++more_than_once;
  }
  std::printf("capi async: %d requests freed, %d of them before they were ready; %d callbacks after free\n", kRounds,
              freed_before_ready, after_free);
  CHECK(after_free == 0);
  CHECK(more_than_once == 0);
  CHECK(freed_before_ready > 0);
  // The encoder still serves.
  CHECK(sync_result(c, texts, kQuery, 0).status == JINA3_OK);
}

TEST_CASE("requests outlive their encoder: completed, or failed with CANCELLED", "[capi][async]") {
  EncoderHandle encoder = open_encoder("float32");
  const CTexts busy = busy_texts(1500);
  const CTexts small({"a small request", "behind a big one"});
  const CResult expected = sync_result(encoder.get(), small, kQuery, 0);
  constexpr int kSmall = 8;
  std::vector<std::unique_ptr<Slot>> slots;
  std::vector<RequestHandle> requests;
  slots.push_back(std::make_unique<Slot>());
  slots.back()->out.resize(busy.size() * static_cast<std::size_t>(jina3_encoder_hidden_size(encoder.get())));
  requests.push_back(submit(encoder.get(), busy, kQuery, 0, nullptr, record, slots.back().get()));
  for (int i = 0; i < kSmall; ++i) {
    slots.push_back(std::make_unique<Slot>());
    slots.back()->out.resize(expected.data.size());
    requests.push_back(submit(encoder.get(), small, kQuery, 0, nullptr, record, slots.back().get()));
  }
  encoder.reset();  // jina3_encoder_free with requests pending

  int cancelled = 0, completed = 0;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    INFO("request " << i);
    // Every request has come to an end inside jina3_encoder_free, its callback included.
    CHECK(jina3_request_ready(requests[i].get()));
    CHECK(slots[i]->calls.load() == 1);
    const CResult result = wait_result(requests[i].get());
    CHECK(slots[i]->wait_status.load() == result.status);
    if (result.status == JINA3_ERR_CANCELLED) {
      ++cancelled;
      CHECK(untouched(result));
      jina3_error* error = nullptr;
      std::vector<float> out(result.data.size());
      check_failure(jina3_request_wait(requests[i].get(), out.data(), out.size(), nullptr, &error), error,
                    JINA3_ERR_CANCELLED);
    } else {
      REQUIRE(result.status == JINA3_OK);
      ++completed;
      if (i > 0) CHECK(max_diff(result.data, expected.data) <= 1e-6);
    }
  }
  std::printf("capi async: encoder freed with %zu requests pending: %d cancelled, %d completed\n", requests.size(),
              cancelled, completed);
  CHECK(cancelled >= 1);
  requests.clear();  // jina3_request_free after jina3_encoder_free
}

// ---------------------------------------------------------------------------------------------
// Queue bound and deadlines
// ---------------------------------------------------------------------------------------------

TEST_CASE("a full queue fails a non-blocking submit with QUEUE_FULL", "[capi][async]") {
  EncoderHandle encoder = open_with([](jina3_encoder_options& o) { o.max_queued_requests = 1; });
  const CTexts busy = busy_texts();
  RequestHandle big = submit(encoder.get(), busy, kQuery, 0);

  const CTexts small({"no room for me"});
  jina3_encode_options options;
  jina3_encode_default_options(&options, sizeof options);
  options.block_when_full = false;
  Slot slot;
  jina3_request* request = sentinel_request();
  jina3_error* error = nullptr;
  check_failure(jina3_encoder_submit(encoder.get(), small.data(), nullptr, 1, kQuery.data(), 1, 0, &options, record,
                                     &slot, &request, &error),
                error, JINA3_ERR_QUEUE_FULL);
  CHECK(request == sentinel_request());

  // Blocking for room, but only until the deadline: DEADLINE_EXCEEDED from submit itself.
  options.block_when_full = true;
  options.deadline_us = 20000;
  const auto start = Clock::now();
  check_failure(jina3_encoder_submit(encoder.get(), small.data(), nullptr, 1, kQuery.data(), 1, 0, &options, record,
                                     &slot, &request, &error),
                error, JINA3_ERR_DEADLINE_EXCEEDED);
  CHECK(Clock::now() - start >= std::chrono::milliseconds(19));
  CHECK(request == sentinel_request());
  CHECK_FALSE(jina3_request_ready(big.get()));  // the queue was indeed full all along

  const jina3_stats stats = read_stats(encoder.get());
  CHECK(stats.rejected >= 1);
  CHECK(stats.queue_depth == 1);
  CHECK(slot.calls.load() == 0);
  big.reset();
  encoder.reset();
  CHECK(slot.calls.load() == 0);
}

TEST_CASE("a request whose deadline passes behind a busy queue fails with DEADLINE_EXCEEDED", "[capi][async]") {
  EncoderHandle encoder = open_encoder("float32");
  const CTexts busy = busy_texts(300);
  RequestHandle big = submit(encoder.get(), busy, kQuery, 0);

  const CTexts small({"too late", "me too"});
  jina3_encode_options options;
  jina3_encode_default_options(&options, sizeof options);
  options.deadline_us = 1;
  Slot slot;
  slot.out.resize(2 * static_cast<std::size_t>(jina3_encoder_hidden_size(encoder.get())));
  RequestHandle late = submit(encoder.get(), small, kQuery, 0, &options, record, &slot);

  const CResult result = wait_result(late.get());
  CHECK(result.status == JINA3_ERR_DEADLINE_EXCEEDED);
  CHECK(untouched(result));
  jina3_error* error = nullptr;
  std::vector<float> out(result.data.size());
  check_failure(jina3_request_wait(late.get(), out.data(), out.size(), nullptr, &error), error,
                JINA3_ERR_DEADLINE_EXCEEDED);
  REQUIRE(eventually([&] { return slot.calls.load() == 1; }));
  CHECK(slot.wait_status.load() == JINA3_ERR_DEADLINE_EXCEEDED);
  CHECK(read_stats(encoder.get()).deadline_exceeded == 1);
  // It expired behind the busy request, which is not disturbed by it and still running.
  CHECK_FALSE(jina3_request_ready(big.get()));
  CHECK(read_stats(encoder.get()).failed == 0);
}

// ---------------------------------------------------------------------------------------------
// Error paths: nothing written, no request, no callback
// ---------------------------------------------------------------------------------------------

TEST_CASE("submit reports each bad call with its code, creates nothing and calls nothing", "[capi][async]") {
  const jina3_encoder* c = shared_c_encoder();
  struct Call {
    const jina3_encoder* encoder;
    std::vector<std::string> texts = {"first text", "second text"};
    std::vector<const char*> pointers;
    const char* const* text_array = nullptr;
    std::vector<jina3_task> tasks = {JINA3_TASK_RETRIEVAL_QUERY};
    const jina3_task* task_array = nullptr;
    int dims = 0;
    jina3_encode_options options{};
    bool request_is_null = false;
  };
  struct Case {
    const char* name;
    jina3_status expected;
    std::string contains;
    std::function<void(Call&)> edit;
  };
  const std::vector<Case> cases = {
      {"NULL encoder", JINA3_ERR_INVALID_ARGUMENT, "encoder is NULL", [](Call& call) { call.encoder = nullptr; }},
      {"NULL request", JINA3_ERR_INVALID_ARGUMENT, "request is NULL", [](Call& call) { call.request_is_null = true; }},
      {"NULL texts", JINA3_ERR_INVALID_ARGUMENT, "texts is NULL", [](Call& call) { call.text_array = nullptr; }},
      {"NULL text", JINA3_ERR_INVALID_ARGUMENT, "texts[1] is NULL", [](Call& call) { call.pointers[1] = nullptr; }},
      {"NULL tasks", JINA3_ERR_INVALID_ARGUMENT, "tasks is NULL", [](Call& call) { call.task_array = nullptr; }},
      {"three tasks for two texts", JINA3_ERR_INVALID_ARGUMENT, "3 tasks",
       [](Call& call) {
         call.tasks.assign(3, JINA3_TASK_NONE);
         call.task_array = call.tasks.data();
       }},
      {"no tasks", JINA3_ERR_INVALID_ARGUMENT, "0 tasks",
       [](Call& call) {
         call.tasks.clear();
         call.task_array = nullptr;
       }},
      {"unknown task", JINA3_ERR_INVALID_ARGUMENT, "7", [](Call& call) { call.tasks[0] = static_cast<jina3_task>(7); }},
      {"dims not offered", JINA3_ERR_INVALID_ARGUMENT, "dims 5", [](Call& call) { call.dims = 5; }},
      {"invalid UTF-8", JINA3_ERR_INVALID_ARGUMENT, "UTF-8",
       [](Call& call) {
         call.texts[1] = "bad \xC3\x28 text";
         call.pointers[1] = call.texts[1].c_str();
       }},
      {"over-long text with truncation off", JINA3_ERR_INPUT_TOO_LONG, "text 0",
       [](Call& call) {
         call.texts[0] = std::string(400, 'a') + " b c d e f g h i j k l m n o p";
         call.pointers[0] = call.texts[0].c_str();
         call.options.truncate = false;
         call.options.max_length = 8;
       }},
      {"negative deadline", JINA3_ERR_INVALID_ARGUMENT, "deadline_us",
       [](Call& call) { call.options.deadline_us = -5; }},
      {"options struct_size not set", JINA3_ERR_INVALID_ARGUMENT, "struct_size",
       [](Call& call) { call.options.struct_size = 0; }},
      {"options struct_size from a newer header", JINA3_ERR_VERSION_MISMATCH, "newer",
       [](Call& call) { call.options.struct_size = sizeof call.options + 8; }},
  };
  const std::uint64_t requests_before = read_stats(c).requests;
  for (const Case& bad : cases) {
    INFO("case: " << bad.name);
    Call call;
    call.encoder = c;
    call.pointers = {call.texts[0].c_str(), call.texts[1].c_str()};
    call.text_array = call.pointers.data();
    call.task_array = call.tasks.data();
    jina3_encode_default_options(&call.options, sizeof call.options);
    bad.edit(call);
    Slot slot;
    jina3_request* request = sentinel_request();
    jina3_error* error = nullptr;
    const jina3_status status =
        jina3_encoder_submit(call.encoder, call.text_array, nullptr, 2, call.task_array, call.tasks.size(), call.dims,
                             &call.options, record, &slot, call.request_is_null ? nullptr : &request, &error);
    check_failure(status, error, bad.expected, bad.contains);
    CHECK(request == sentinel_request());
    CHECK(slot.calls.load() == 0);
  }
  CHECK(read_stats(c).requests == requests_before);
}

TEST_CASE("wait and stats report bad arguments and write nothing", "[capi][async]") {
  const jina3_encoder* c = shared_c_encoder();
  jina3_error* error = nullptr;
  std::vector<float> out(4, 7.0f);
  check_failure(jina3_request_wait(nullptr, out.data(), out.size(), nullptr, &error), error,
                JINA3_ERR_INVALID_ARGUMENT, "request is NULL");
  const CTexts texts({"one"});
  RequestHandle request = submit(c, texts, kQuery, 0);
  check_failure(jina3_request_wait(request.get(), nullptr, 0, nullptr, &error), error, JINA3_ERR_INVALID_ARGUMENT,
                "out is NULL");
  CHECK(wait_result(request.get()).status == JINA3_OK);

  jina3_stats stats;
  std::memset(&stats, 0x5a, sizeof stats);
  const jina3_stats untouched = stats;
  check_failure(jina3_encoder_stats(nullptr, &stats, &error), error, JINA3_ERR_INVALID_ARGUMENT, "encoder is NULL");
  check_failure(jina3_encoder_stats(c, nullptr, &error), error, JINA3_ERR_INVALID_ARGUMENT, "stats is NULL");
  stats.struct_size = 0;
  check_failure(jina3_encoder_stats(c, &stats, &error), error, JINA3_ERR_INVALID_ARGUMENT, "struct_size");
  CHECK(stats.struct_size == 0);
  CHECK(std::memcmp(reinterpret_cast<const char*>(&stats) + sizeof(std::size_t),
                    reinterpret_cast<const char*>(&untouched) + sizeof(std::size_t),
                    sizeof stats - sizeof(std::size_t)) == 0);
}

// ---------------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------------

TEST_CASE("stats count requests, rows and passes", "[capi][async]") {
  EncoderHandle encoder = open_encoder("float32");
  const jina3_stats fresh = read_stats(encoder.get());
  CHECK(fresh.struct_size == sizeof(jina3_stats));
  CHECK(fresh.requests == 0);
  CHECK(fresh.rows == 0);
  CHECK(fresh.passes == 0);

  const CTexts three({"one", "two two", "three three three"});
  REQUIRE(sync_result(encoder.get(), three, kQuery, 0).status == JINA3_OK);
  const jina3_stats after_sync = read_stats(encoder.get());
  CHECK(after_sync.requests == 1);
  CHECK(after_sync.rows == 3);
  CHECK(after_sync.passes >= 1);
  CHECK(after_sync.tokens > 0);
  CHECK(after_sync.padded_tokens >= after_sync.tokens);
  CHECK(after_sync.max_queue_depth >= 1);
  CHECK(after_sync.pass_us > 0);

  const CTexts two({"four", "five"});
  RequestHandle request = submit(encoder.get(), two, kQuery, 0);
  REQUIRE(wait_result(request.get()).status == JINA3_OK);
  drain(encoder.get());
  const jina3_stats after_async = read_stats(encoder.get());
  CHECK(after_async.requests == 2);
  CHECK(after_async.rows == 5);
  CHECK(after_async.passes > after_sync.passes);
  CHECK(after_async.tokens > after_sync.tokens);
  CHECK(after_async.queue_depth == 0);
  CHECK(after_async.rejected == 0);
  CHECK(after_async.failed == 0);

  SECTION("a smaller struct_size gets only the counters that fit") {
    unsigned char bytes[sizeof(jina3_stats) + 16];
    std::memset(bytes, 0x5a, sizeof bytes);
    // Up to the middle of passes: requests and rows are written, nothing after them.
    const std::size_t size = offsetof(jina3_stats, passes) + 4;
    std::memcpy(bytes, &size, sizeof size);
    REQUIRE(jina3_encoder_stats(encoder.get(), reinterpret_cast<jina3_stats*>(bytes), nullptr) == JINA3_OK);
    jina3_stats head;
    std::memcpy(&head, bytes, offsetof(jina3_stats, passes));
    CHECK(head.struct_size == offsetof(jina3_stats, passes));
    CHECK(head.requests == 2);
    CHECK(head.rows == 5);
    for (std::size_t i = offsetof(jina3_stats, passes); i < sizeof bytes; ++i) CHECK(bytes[i] == 0x5a);
  }
  SECTION("a struct_size from a newer header gets every counter the library has") {
    struct Newer {
      jina3_stats known;
      std::uint64_t appended;
    } newer;
    std::memset(&newer, 0x5a, sizeof newer);
    newer.known.struct_size = sizeof newer;
    REQUIRE(jina3_encoder_stats(encoder.get(), &newer.known, nullptr) == JINA3_OK);
    CHECK(newer.known.struct_size == sizeof(jina3_stats));
    CHECK(newer.known.requests == 2);
    CHECK(newer.known.pass_us == after_async.pass_us);
    CHECK(newer.appended == 0x5a5a5a5a5a5a5a5aull);
  }
}
