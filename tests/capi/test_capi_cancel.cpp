// The C API of issue 16's core: jina3_request_cancel (queued requests, after completion, NULL,
// from other threads), texts as token ids (jina3_encoder_submit_ids / jina3_encoder_encode_ids /
// jina3_encoder_vocab_size), priorities (names, the options field, bad values), per-lane stats and
// the struct_size rules of the grown structs (jina3_stats, jina3_encode_options,
// jina3_encoder_options): an older caller's struct is read up to its own fields only.
#include <jina3/jina3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "capi_support.hpp"
#include "support.hpp"

using namespace jina3;
using namespace jina3::capi_test;

namespace {

using Clock = std::chrono::steady_clock;

// Token ids as the C API takes them: pointer and length arrays into owned rows.
struct CIds {
  std::vector<std::vector<std::int32_t>> rows;
  std::vector<const std::int32_t*> pointers;
  std::vector<std::size_t> lengths;
  explicit CIds(std::vector<std::vector<std::int32_t>> ids) : rows(std::move(ids)) {
    for (const auto& row : rows) {
      pointers.push_back(row.data());
      lengths.push_back(row.size());
    }
  }
  const std::int32_t* const* data() const { return pointers.data(); }
  std::size_t size() const { return rows.size(); }
};

// The texts' own tokens: the C++ tokenize() without a task, less <s> and </s>.
CIds own_tokens(const std::vector<std::string>& texts, const EncodeOptions& options = {}) {
  std::vector<std::vector<std::int32_t>> ids = test::shared_encoder("float32").tokenize(texts, Task::None, options);
  for (auto& row : ids) row = std::vector<std::int32_t>(row.begin() + 1, row.end() - 1);
  return CIds(std::move(ids));
}

// Enough work to keep the tiny model's worker busy for a second or more on 2 cores.
CTexts busy_texts(std::size_t count) {
  std::vector<std::string> texts;
  std::string words;
  for (int i = 0; i < 40; ++i) words += " word" + std::to_string(i);
  for (std::size_t i = 0; i < count; ++i) texts.push_back("busy " + std::to_string(i) + words);
  return CTexts(std::move(texts));
}

RequestHandle submit(const jina3_encoder* encoder, const CTexts& texts, jina3_task task, int dims = 0,
                     const jina3_encode_options* options = nullptr, jina3_request_callback callback = nullptr,
                     void* user_data = nullptr) {
  return jina3::capi_test::submit(encoder, texts, std::vector<jina3_task>{task}, dims, options, callback, user_data);
}

bool untouched(const CResult& result) {
  return std::all_of(result.data.begin(), result.data.end(), [](float v) { return v == 7.0f; }) &&
         std::all_of(result.truncated.begin(), result.truncated.end(), [](std::uint8_t v) { return v == 0xAB; });
}

// jina3_encoder_encode_ids into buffers prefilled with 7.0f / 0xAB.
CResult encode_ids(const jina3_encoder* encoder, const CIds& ids, jina3_task task, int dims,
                   const jina3_encode_options* options = nullptr, jina3_error** error = nullptr) {
  CResult result;
  result.data.assign(ids.size() * static_cast<std::size_t>(row_size(encoder, dims)), 7.0f);
  result.truncated.assign(ids.size(), 0xAB);
  result.status = jina3_encoder_encode_ids(encoder, ids.data(), ids.lengths.data(), ids.size(), task, dims, options,
                                           result.data.empty() ? nullptr : result.data.data(), result.data.size(),
                                           result.truncated.data(), error);
  return result;
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

bool eventually(const std::function<bool()>& condition) {
  const auto give_up = Clock::now() + std::chrono::seconds(60);
  while (!condition()) {
    if (Clock::now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// A callback that counts its calls and notes whether the request was ready when it ran.
struct Calls {
  std::atomic<int> count{0};
  std::atomic<bool> ready_inside{false};
};
void count_call(jina3_request* request, void* user_data) {
  auto* calls = static_cast<Calls*>(user_data);
  calls->ready_inside = jina3_request_ready(request);
  ++calls->count;
}

const std::vector<jina3_task> kTasks = {JINA3_TASK_NONE,       JINA3_TASK_RETRIEVAL_QUERY, JINA3_TASK_RETRIEVAL_PASSAGE,
                                        JINA3_TASK_SEPARATION, JINA3_TASK_CLASSIFICATION,  JINA3_TASK_TEXT_MATCHING};

jina3_encode_options default_encode_options() {
  jina3_encode_options options;
  jina3_encode_default_options(&options, sizeof options);
  return options;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// jina3_request_cancel
// ---------------------------------------------------------------------------------------------

TEST_CASE("jina3_request_cancel fails a queued request with JINA3_ERR_CANCELLED; the callback runs once",
          "[capi][async]") {
  EncoderHandle encoder = open_encoder();
  const CTexts big = busy_texts(3000);
  const CTexts small({"What is the capital of France?", "Berlin"});
  const CResult expected = c_encode(shared_c_encoder(), small.strings, JINA3_TASK_RETRIEVAL_QUERY, 0);
  REQUIRE(expected.status == JINA3_OK);

  Calls calls;
  RequestHandle request = submit(encoder.get(), big, JINA3_TASK_RETRIEVAL_PASSAGE, 0, nullptr, count_call, &calls);
  CHECK_FALSE(jina3_request_ready(request.get()));
  CHECK(jina3_request_cancel(request.get()));
  CHECK_FALSE(jina3_request_cancel(request.get()));  // already cancelled

  jina3_error* error = nullptr;
  std::vector<float> out(big.size() * static_cast<std::size_t>(jina3_request_dims(request.get())), 7.0f);
  std::vector<std::uint8_t> truncated(big.size(), 0xAB);
  check_failure(jina3_request_wait(request.get(), out.data(), out.size(), truncated.data(), &error), error,
                JINA3_ERR_CANCELLED, "cancel");
  CHECK(std::all_of(out.begin(), out.end(), [](float v) { return v == 7.0f; }));
  CHECK(std::all_of(truncated.begin(), truncated.end(), [](std::uint8_t v) { return v == 0xAB; }));
  CHECK(jina3_request_ready(request.get()));
  // The failure stays: a second wait reports it again.
  CHECK(jina3_request_wait(request.get(), out.data(), out.size(), nullptr, nullptr) == JINA3_ERR_CANCELLED);
  REQUIRE(eventually([&] { return calls.count.load() >= 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(calls.count == 1);
  CHECK(calls.ready_inside);
  CHECK_FALSE(jina3_request_cancel(request.get()));

  // The next requests are served, with the right rows.
  RequestHandle next = submit(encoder.get(), small, JINA3_TASK_RETRIEVAL_QUERY);
  const CResult got = wait_result(next.get());
  REQUIRE(got.status == JINA3_OK);
  CHECK(max_diff(got.data, expected.data) <= test::kFloat32Tolerance);
  const CResult sync = c_encode(encoder.get(), small.strings, JINA3_TASK_RETRIEVAL_QUERY, 0);
  REQUIRE(sync.status == JINA3_OK);
  CHECK(max_diff(sync.data, expected.data) <= test::kFloat32Tolerance);

  const jina3_stats stats = read_stats(encoder.get());
  CHECK(stats.cancelled == 1);
  CHECK(stats.lanes[JINA3_PRIORITY_INTERACTIVE].cancelled == 1);
  CHECK(stats.lanes[JINA3_PRIORITY_BULK].cancelled == 0);
  CHECK(stats.lanes[JINA3_PRIORITY_INTERACTIVE].cancelled_rows >= big.size() / 2);
  CHECK(stats.lanes[JINA3_PRIORITY_INTERACTIVE].cancelled_rows <= big.size());
  CHECK(stats.failed == 0);
  CHECK(stats.requests == 3);
  CHECK(stats.queue_depth == 0);
}

TEST_CASE("jina3_request_cancel after completion returns false and the result stays", "[capi][async]") {
  const jina3_encoder* c = shared_c_encoder();
  const CTexts texts({"done before cancel", ""});
  const CResult expected = c_encode(c, texts.strings, JINA3_TASK_CLASSIFICATION, 16);
  RequestHandle request = submit(c, texts, JINA3_TASK_CLASSIFICATION, 16);
  const CResult first = wait_result(request.get());
  REQUIRE(first.status == JINA3_OK);
  CHECK_FALSE(jina3_request_cancel(request.get()));
  const CResult again = wait_result(request.get());
  REQUIRE(again.status == JINA3_OK);
  CHECK(again.data == first.data);
  CHECK(max_diff(first.data, expected.data) <= test::kFloat32Tolerance);

  // Completed but never waited for: ready, then cancel is refused and wait gives the rows.
  RequestHandle unwaited = submit(c, texts, JINA3_TASK_CLASSIFICATION, 16);
  REQUIRE(eventually([&] { return jina3_request_ready(unwaited.get()); }));
  CHECK_FALSE(jina3_request_cancel(unwaited.get()));
  const CResult late = wait_result(unwaited.get());
  REQUIRE(late.status == JINA3_OK);
  CHECK(max_diff(late.data, expected.data) <= test::kFloat32Tolerance);

  // No texts: complete at once, nothing to cancel.
  const CTexts none({});
  RequestHandle empty = submit(c, none, JINA3_TASK_NONE);
  CHECK(jina3_request_ready(empty.get()));
  CHECK_FALSE(jina3_request_cancel(empty.get()));
  CHECK(jina3_request_wait(empty.get(), nullptr, 0, nullptr, nullptr) == JINA3_OK);

  CHECK_FALSE(jina3_request_cancel(nullptr));
}

TEST_CASE("jina3_request_cancel from another thread while one waits", "[capi][async][threads]") {
  EncoderHandle encoder = open_encoder();
  const CTexts big = busy_texts(3000);
  Calls calls;
  RequestHandle request = submit(encoder.get(), big, JINA3_TASK_TEXT_MATCHING, 0, nullptr, count_call, &calls);
  std::atomic<int> status{-1};
  std::thread waiter([&] {
    std::vector<float> out(big.size() * static_cast<std::size_t>(jina3_request_dims(request.get())));
    status = jina3_request_wait(request.get(), out.data(), out.size(), nullptr, nullptr);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // Several threads cancel at once: exactly one of them does it.
  std::atomic<int> cancelled{0};
  std::vector<std::thread> cancellers;
  for (int i = 0; i < 4; ++i) {
    cancellers.emplace_back([&] { cancelled += jina3_request_cancel(request.get()) ? 1 : 0; });
  }
  for (auto& thread : cancellers) thread.join();
  waiter.join();
  CHECK(cancelled == 1);
  CHECK(status == JINA3_ERR_CANCELLED);
  REQUIRE(eventually([&] { return calls.count.load() >= 1; }));
  CHECK(calls.count == 1);
  CHECK(read_stats(encoder.get()).cancelled == 1);
}

TEST_CASE("cancelling many requests from their own threads while others complete", "[capi][async][threads]") {
  EncoderHandle encoder = open_encoder();
  const CTexts work = busy_texts(60);
  const CResult expected = c_encode(shared_c_encoder(), work.strings, JINA3_TASK_SEPARATION, 32);
  REQUIRE(expected.status == JINA3_OK);
  constexpr int kThreads = 8;
  std::atomic<int> ok{0};
  std::atomic<int> cancelled{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round) {
        jina3_request* raw = nullptr;
        const jina3_task task = JINA3_TASK_SEPARATION;
        if (jina3_encoder_submit(encoder.get(), work.data(), nullptr, work.size(), &task, 1, 32, nullptr, nullptr,
                                 nullptr, &raw, nullptr) != JINA3_OK) {
          ++wrong;
          continue;
        }
        RequestHandle request(raw);
        const bool cancel = (t + round) % 2 == 0;
        const bool did = cancel && jina3_request_cancel(raw);
        std::vector<float> out(expected.data.size());
        const jina3_status status = jina3_request_wait(raw, out.data(), out.size(), nullptr, nullptr);
        if (status == JINA3_OK && !did) {
          ++ok;
          if (max_diff(out, expected.data) > test::kFloat32Tolerance) ++wrong;
        } else if (status == JINA3_ERR_CANCELLED && did) {
          ++cancelled;
        } else {
          ++wrong;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(wrong == 0);
  CHECK(ok + cancelled == kThreads * 3);
  CHECK(ok >= kThreads * 3 / 2);  // the ones that were not cancelled
  const jina3_stats stats = read_stats(encoder.get());
  CHECK(stats.cancelled == static_cast<std::uint64_t>(cancelled.load()));
  CHECK(stats.queue_depth == 0);
}

TEST_CASE("a request cancelled and freed before the encoder, and one outliving it", "[capi][async]") {
  const CTexts big = busy_texts(2000);
  EncoderHandle encoder = open_encoder();
  RequestHandle freed = submit(encoder.get(), big, JINA3_TASK_NONE);
  CHECK(jina3_request_cancel(freed.get()));
  freed.reset();  // freed without a wait
  RequestHandle outliving = submit(encoder.get(), big, JINA3_TASK_NONE);
  encoder.reset();  // the queued request is cancelled by the encoder's destruction
  CHECK(jina3_request_ready(outliving.get()));
  CHECK_FALSE(jina3_request_cancel(outliving.get()));
  std::vector<float> out(big.size() * 64);
  CHECK(jina3_request_wait(outliving.get(), out.data(), out.size(), nullptr, nullptr) == JINA3_ERR_CANCELLED);
}

// ---------------------------------------------------------------------------------------------
// Token ids
// ---------------------------------------------------------------------------------------------

TEST_CASE("jina3_encoder_encode_ids and submit_ids equal the texts' rows for every task", "[capi][async]") {
  const jina3_encoder* c = shared_c_encoder();
  std::vector<std::string> strings = sample_texts();
  strings.push_back("<s>starts with a special token");
  const CTexts texts(strings);
  const CIds ids = own_tokens(strings);
  for (jina3_task task : kTasks) {
    for (int dims : {0, 16}) {
      INFO(jina3_task_name(task) << ", dims " << dims);
      const CResult from_text = c_encode(c, strings, task, dims);
      REQUIRE(from_text.status == JINA3_OK);
      const CResult from_ids = encode_ids(c, ids, task, dims);
      INFO(jina3_last_error());
      REQUIRE(from_ids.status == JINA3_OK);
      CHECK(max_diff(from_ids.data, from_text.data) <= 1e-6);
      CHECK(from_ids.truncated == from_text.truncated);

      jina3_request* raw = nullptr;
      REQUIRE(jina3_encoder_submit_ids(c, ids.data(), ids.lengths.data(), ids.size(), &task, 1, dims, nullptr, nullptr,
                                       nullptr, &raw, nullptr) == JINA3_OK);
      RequestHandle request(raw);
      CHECK(jina3_request_rows(raw) == ids.size());
      CHECK(jina3_request_dims(raw) == row_size(c, dims));
      const CResult waited = wait_result(raw);
      REQUIRE(waited.status == JINA3_OK);
      CHECK(max_diff(waited.data, from_text.data) <= 1e-6);
    }
  }
  // One task per text, in the bulk lane, with a callback.
  std::vector<jina3_task> per_text;
  for (std::size_t i = 0; i < ids.size(); ++i) per_text.push_back(kTasks[i % kTasks.size()]);
  std::vector<float> expected(ids.size() * 32);
  REQUIRE(jina3_encoder_encode_tasks(c, texts.data(), nullptr, texts.size(), per_text.data(), 32, nullptr,
                                     expected.data(), expected.size(), nullptr, nullptr) == JINA3_OK);
  jina3_encode_options bulk = default_encode_options();
  bulk.priority = JINA3_PRIORITY_BULK;
  Calls calls;
  jina3_request* raw = nullptr;
  REQUIRE(jina3_encoder_submit_ids(c, ids.data(), ids.lengths.data(), ids.size(), per_text.data(), per_text.size(), 32,
                                   &bulk, count_call, &calls, &raw, nullptr) == JINA3_OK);
  RequestHandle request(raw);
  const CResult waited = wait_result(raw);
  REQUIRE(waited.status == JINA3_OK);
  CHECK(max_diff(waited.data, expected) <= 1e-6);
  REQUIRE(eventually([&] { return calls.count.load() == 1; }));

  // No texts.
  CHECK(jina3_encoder_encode_ids(c, nullptr, nullptr, 0, JINA3_TASK_NONE, 0, nullptr, nullptr, 0, nullptr, nullptr) ==
        JINA3_OK);
}

TEST_CASE("token ids outside the vocabulary, bad arrays and short buffers are refused; nothing is written",
          "[capi][async]") {
  const jina3_encoder* c = shared_c_encoder();
  const int vocab = jina3_encoder_vocab_size(c);
  CHECK(vocab == test::shared_encoder("float32").vocab_size());
  CHECK(vocab == 250002);
  CHECK(jina3_encoder_vocab_size(nullptr) == 0);

  jina3_error* error = nullptr;
  for (std::int32_t bad : {-1, vocab, 1 << 30}) {
    INFO("id " << bad);
    const CIds ids({{35378, 8999}, {5, 6, bad}});
    const CResult result = encode_ids(c, ids, JINA3_TASK_RETRIEVAL_QUERY, 0, nullptr, &error);
    check_failure(result.status, error, JINA3_ERR_INVALID_ARGUMENT, "text 1");
    CHECK(std::string(jina3_last_error()).find("position 2") != std::string::npos);
    CHECK(std::string(jina3_last_error()).find(std::to_string(bad)) != std::string::npos);
    CHECK(untouched(result));
    jina3_request* request = nullptr;
    const jina3_task task = JINA3_TASK_NONE;
    check_failure(jina3_encoder_submit_ids(c, ids.data(), ids.lengths.data(), ids.size(), &task, 1, 0, nullptr,
                                           nullptr, nullptr, &request, &error),
                  error, JINA3_ERR_INVALID_ARGUMENT, "position 2");
    CHECK(request == nullptr);
  }
  {
    const CIds largest(std::vector<std::vector<std::int32_t>>{{vocab - 1}});
    CHECK(encode_ids(c, largest, JINA3_TASK_NONE, 0).status == JINA3_OK);
  }

  const CIds good({{35378, 8999}, {5, 6}});
  SECTION("buffer too small") {
    std::vector<float> out(2 * 64 - 1, 7.0f);
    std::vector<std::uint8_t> truncated(2, 0xAB);
    check_failure(jina3_encoder_encode_ids(c, good.data(), good.lengths.data(), 2, JINA3_TASK_NONE, 0, nullptr,
                                           out.data(), out.size(), truncated.data(), &error),
                  error, JINA3_ERR_BUFFER_TOO_SMALL, "out_capacity");
    CHECK(std::all_of(out.begin(), out.end(), [](float v) { return v == 7.0f; }));
    CHECK(truncated == std::vector<std::uint8_t>(2, 0xAB));
  }
  SECTION("NULL arrays") {
    std::vector<float> out(2 * 64);
    check_failure(jina3_encoder_encode_ids(c, nullptr, good.lengths.data(), 2, JINA3_TASK_NONE, 0, nullptr, out.data(),
                                           out.size(), nullptr, &error),
                  error, JINA3_ERR_INVALID_ARGUMENT, "ids");
    check_failure(jina3_encoder_encode_ids(c, good.data(), nullptr, 2, JINA3_TASK_NONE, 0, nullptr, out.data(),
                                           out.size(), nullptr, &error),
                  error, JINA3_ERR_INVALID_ARGUMENT, "lengths");
    check_failure(jina3_encoder_encode_ids(c, good.data(), good.lengths.data(), 2, JINA3_TASK_NONE, 0, nullptr,
                                           nullptr, 0, nullptr, &error),
                  error, JINA3_ERR_INVALID_ARGUMENT, "out");
    const std::int32_t* pointers[] = {good.rows[0].data(), nullptr};
    check_failure(jina3_encoder_encode_ids(c, pointers, good.lengths.data(), 2, JINA3_TASK_NONE, 0, nullptr,
                                           out.data(), out.size(), nullptr, &error),
                  error, JINA3_ERR_INVALID_ARGUMENT, "ids[1]");
    check_failure(jina3_encoder_encode_ids(nullptr, good.data(), good.lengths.data(), 2, JINA3_TASK_NONE, 0, nullptr,
                                           out.data(), out.size(), nullptr, &error),
                  error, JINA3_ERR_INVALID_ARGUMENT, "encoder");
    jina3_task task = JINA3_TASK_NONE;
    check_failure(jina3_encoder_submit_ids(c, good.data(), good.lengths.data(), 2, &task, 1, 0, nullptr, nullptr,
                                           nullptr, nullptr, &error),
                  error, JINA3_ERR_INVALID_ARGUMENT, "request");
    // A NULL row of length 0 is an empty text.
    const std::int32_t* empty_row[] = {nullptr};
    const std::size_t zero[] = {0};
    std::vector<float> one(64);
    REQUIRE(jina3_encoder_encode_ids(c, empty_row, zero, 1, JINA3_TASK_NONE, 0, nullptr, one.data(), one.size(),
                                     nullptr, nullptr) == JINA3_OK);
    CHECK(max_diff(one, c_encode(c, {""}, JINA3_TASK_NONE, 0).data) <= 1e-6);
  }
  SECTION("bad task and dims") {
    std::vector<float> out(2 * 64, 7.0f);
    check_failure(jina3_encoder_encode_ids(c, good.data(), good.lengths.data(), 2, JINA3_TASK_NONE, 5, nullptr,
                                           out.data(), out.size(), nullptr, &error),
                  error, JINA3_ERR_INVALID_ARGUMENT, "dims");
    check_failure(jina3_encoder_encode_ids(c, good.data(), good.lengths.data(), 2, static_cast<jina3_task>(42), 0,
                                           nullptr, out.data(), out.size(), nullptr, &error),
                  error, JINA3_ERR_INVALID_ARGUMENT, "task");
    CHECK(std::all_of(out.begin(), out.end(), [](float v) { return v == 7.0f; }));
  }
}

TEST_CASE("token ids count against max_length: InputTooLong or truncated", "[capi][async]") {
  const jina3_encoder* c = shared_c_encoder();
  const std::string text = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen";
  const CIds ids = own_tokens({text, "short"});
  REQUIRE(ids.rows[0].size() + 2 > 16);
  jina3_encode_options options = default_encode_options();
  options.max_length = 16;
  options.truncate = false;
  jina3_error* error = nullptr;
  const CResult refused = encode_ids(c, ids, JINA3_TASK_NONE, 0, &options, &error);
  check_failure(refused.status, error, JINA3_ERR_INPUT_TOO_LONG, "text 0");
  CHECK(untouched(refused));

  options.truncate = true;
  for (jina3_task task : {JINA3_TASK_NONE, JINA3_TASK_RETRIEVAL_QUERY}) {
    INFO(jina3_task_name(task));
    const CResult cut = encode_ids(c, ids, task, 0, &options);
    REQUIRE(cut.status == JINA3_OK);
    CHECK(cut.truncated == std::vector<std::uint8_t>{1, 0});
    const CResult from_text = c_encode(c, {text, "short"}, task, 0, &options);
    REQUIRE(from_text.status == JINA3_OK);
    CHECK(max_diff(cut.data, from_text.data) <= 1e-6);
  }
}

// ---------------------------------------------------------------------------------------------
// Priorities and lane stats
// ---------------------------------------------------------------------------------------------

TEST_CASE("jina3_priority_name and jina3_priority_from_name", "[capi][unit]") {
  CHECK(JINA3_PRIORITY_INTERACTIVE == static_cast<int>(Priority::Interactive));
  CHECK(JINA3_PRIORITY_BULK == static_cast<int>(Priority::Bulk));
  CHECK(JINA3_PRIORITY_COUNT == kPriorityCount);
  CHECK(std::string(jina3_priority_name(JINA3_PRIORITY_INTERACTIVE)) == "interactive");
  CHECK(std::string(jina3_priority_name(JINA3_PRIORITY_BULK)) == "bulk");
  CHECK(std::string(jina3_priority_name(static_cast<jina3_priority>(7))) == "unknown");
  CHECK(std::string(jina3_priority_name(static_cast<jina3_priority>(-1))) == "unknown");

  jina3_priority priority = JINA3_PRIORITY_INTERACTIVE;
  REQUIRE(jina3_priority_from_name("bulk", &priority, nullptr) == JINA3_OK);
  CHECK(priority == JINA3_PRIORITY_BULK);
  REQUIRE(jina3_priority_from_name("interactive", &priority, nullptr) == JINA3_OK);
  CHECK(priority == JINA3_PRIORITY_INTERACTIVE);
  jina3_error* error = nullptr;
  priority = JINA3_PRIORITY_BULK;
  check_failure(jina3_priority_from_name("urgent", &priority, &error), error, JINA3_ERR_INVALID_ARGUMENT, "urgent");
  CHECK(priority == JINA3_PRIORITY_BULK);  // untouched on failure
  check_failure(jina3_priority_from_name(nullptr, &priority, &error), error, JINA3_ERR_INVALID_ARGUMENT, "name");
  check_failure(jina3_priority_from_name("bulk", nullptr, &error), error, JINA3_ERR_INVALID_ARGUMENT, "priority");
}

TEST_CASE("a bad priority in the encode options and a bad bulk_share are invalid arguments", "[capi][async]") {
  const jina3_encoder* c = shared_c_encoder();
  const CTexts texts({"x"});
  for (int value : {7, -1, JINA3_PRIORITY_COUNT}) {
    INFO("priority " << value);
    jina3_encode_options options = default_encode_options();
    options.priority = static_cast<jina3_priority>(value);
    jina3_error* error = nullptr;
    const CResult result = c_encode(c, texts.strings, JINA3_TASK_NONE, 0, &options);
    CHECK(result.status == JINA3_ERR_INVALID_ARGUMENT);
    CHECK(std::string(jina3_last_error()).find("priority") != std::string::npos);
    jina3_request* request = nullptr;
    const jina3_task task = JINA3_TASK_NONE;
    check_failure(jina3_encoder_submit(c, texts.data(), nullptr, 1, &task, 1, 0, &options, nullptr, nullptr, &request,
                                       &error),
                  error, JINA3_ERR_INVALID_ARGUMENT, "priority");
    CHECK(request == nullptr);
    const CIds ids(std::vector<std::vector<std::int32_t>>{{35378}});
    check_failure(encode_ids(c, ids, JINA3_TASK_NONE, 0, &options, &error).status, error, JINA3_ERR_INVALID_ARGUMENT,
                  "priority");
  }
  const std::string path = test::package_dir("float32").string();
  for (double share : {-0.5, 1.01, std::nan(""), HUGE_VAL}) {
    INFO("bulk_share " << share);
    jina3_encoder_options options;
    jina3_encoder_default_options(&options, sizeof options);
    CHECK(options.bulk_share == 0.25);
    options.bulk_share = share;
    options.verify_checksums = false;
    jina3_encoder* encoder = nullptr;
    jina3_error* error = nullptr;
    check_failure(jina3_encoder_create(path.c_str(), &options, &encoder, &error), error, JINA3_ERR_INVALID_ARGUMENT,
                  "bulk_share");
    CHECK(encoder == nullptr);
  }
}

TEST_CASE("stats count each lane: counters, histograms and the flat sums", "[capi][async]") {
  EncoderHandle encoder = open_encoder();
  const CTexts front({"one", "two words", "three words here"});
  const CTexts back = busy_texts(30);
  jina3_encode_options bulk = default_encode_options();
  bulk.priority = JINA3_PRIORITY_BULK;
  const CResult a = c_encode(encoder.get(), front.strings, JINA3_TASK_CLASSIFICATION, 0);
  REQUIRE(a.status == JINA3_OK);
  const CResult b = c_encode(encoder.get(), back.strings, JINA3_TASK_RETRIEVAL_PASSAGE, 0, &bulk);
  REQUIRE(b.status == JINA3_OK);
  // The lane does not change the rows.
  CHECK(max_diff(b.data, c_encode(shared_c_encoder(), back.strings, JINA3_TASK_RETRIEVAL_PASSAGE, 0).data) <=
        test::kFloat32Tolerance);

  std::uint64_t front_tokens = 0;
  for (const auto& ids : test::shared_encoder("float32").tokenize(front.strings, Task::Classification)) {
    front_tokens += ids.size();
  }
  std::uint64_t back_tokens = 0;
  for (const auto& ids : test::shared_encoder("float32").tokenize(back.strings, Task::RetrievalPassage)) {
    back_tokens += ids.size();
  }

  const jina3_stats stats = read_stats(encoder.get());
  const jina3_lane_stats& i = stats.lanes[JINA3_PRIORITY_INTERACTIVE];
  const jina3_lane_stats& k = stats.lanes[JINA3_PRIORITY_BULK];
  CHECK(i.requests == 1);
  CHECK(i.rows == 3);
  CHECK(i.tokens == front_tokens);
  CHECK(i.passes == 1);
  CHECK(k.requests == 1);
  CHECK(k.rows == back.size());
  CHECK(k.tokens == back_tokens);
  CHECK(k.passes >= 1);
  for (const jina3_lane_stats* lane : {&i, &k}) {
    CHECK(lane->padded_tokens >= lane->tokens);
    CHECK(lane->rows_per_pass.count == lane->passes);
    CHECK(lane->rows_per_pass.sum == lane->rows);
    CHECK(lane->tokens_per_pass.count == lane->passes);
    CHECK(lane->tokens_per_pass.sum == lane->tokens);
    CHECK(lane->latency_us.count == 1);
    CHECK(lane->queue_wait_us.count == 1);
    CHECK(lane->cancelled == 0);
    for (const jina3_histogram* h : {&lane->latency_us, &lane->queue_wait_us, &lane->rows_per_pass,
                                     &lane->tokens_per_pass}) {
      std::uint64_t total = 0;
      for (std::uint64_t n : h->buckets) total += n;
      CHECK(total == h->count);
    }
  }
  // The interactive pass held 3 rows: 2 < 3 <= 4, bucket 2.
  CHECK(i.rows_per_pass.buckets[2] == 1);
  CHECK(stats.requests == i.requests + k.requests);
  CHECK(stats.rows == i.rows + k.rows);
  CHECK(stats.passes == i.passes + k.passes);
  CHECK(stats.tokens == i.tokens + k.tokens);
  CHECK(stats.padded_tokens == i.padded_tokens + k.padded_tokens);
  CHECK(stats.cancelled == 0);
  CHECK(JINA3_HISTOGRAM_BUCKETS == kHistogramBuckets);
}

TEST_CASE("an old-size jina3_stats gets only the old fields", "[capi][async]") {
  EncoderHandle encoder = open_encoder();
  const CTexts texts({"counted"});
  RequestHandle request = submit(encoder.get(), busy_texts(2000), JINA3_TASK_NONE);
  CHECK(jina3_request_cancel(request.get()));
  REQUIRE(c_encode(encoder.get(), texts.strings, JINA3_TASK_NONE, 0).status == JINA3_OK);

  // The layout before issue 16: the counters up to pass_us.
  const std::size_t old_size = offsetof(jina3_stats, cancelled);
  jina3_stats stats;
  std::memset(&stats, 0xEE, sizeof stats);
  stats.struct_size = old_size;
  REQUIRE(jina3_encoder_stats(encoder.get(), &stats, nullptr) == JINA3_OK);
  CHECK(stats.struct_size == old_size);
  CHECK(stats.requests == 2);
  CHECK(stats.rows == 2001);
  const unsigned char* bytes = reinterpret_cast<const unsigned char*>(&stats);
  CHECK(std::all_of(bytes + old_size, bytes + sizeof stats, [](unsigned char b) { return b == 0xEE; }));

  // With the new fields, up to the first lane only.
  const std::size_t one_lane = offsetof(jina3_stats, lanes) + sizeof(jina3_lane_stats);
  std::memset(&stats, 0xEE, sizeof stats);
  stats.struct_size = one_lane;
  REQUIRE(jina3_encoder_stats(encoder.get(), &stats, nullptr) == JINA3_OK);
  CHECK(stats.struct_size == one_lane);
  CHECK(stats.cancelled == 1);
  CHECK(stats.lanes[0].cancelled == 1);
  CHECK(stats.lanes[0].requests == 2);
  CHECK(std::all_of(bytes + one_lane, bytes + sizeof stats, [](unsigned char b) { return b == 0xEE; }));

  // The whole struct.
  const jina3_stats full = read_stats(encoder.get());
  CHECK(full.struct_size == sizeof full);
  CHECK(full.cancelled == 1);
  CHECK(full.lanes[1].requests == 0);
  CHECK(full.lanes[1].latency_us.count == 0);
}

// ---------------------------------------------------------------------------------------------
// Older option layouts
// ---------------------------------------------------------------------------------------------

namespace {

// jina3_encode_options as published before issue 16 (up to block_when_full).
struct EncodeOptionsServing {
  std::size_t struct_size;
  int max_length;
  int batch_size;
  bool normalize;
  bool truncate;
  std::int64_t deadline_us;
  bool block_when_full;
};
static_assert(offsetof(EncodeOptionsServing, block_when_full) == offsetof(jina3_encode_options, block_when_full));

// jina3_encoder_options as published before issue 16 (up to use_scheduler).
struct EncoderOptionsServing {
  std::size_t struct_size;
  jina3_device device;
  int device_index;
  jina3_dtype dtype;
  int num_threads;
  int max_batch_tokens;
  int max_batch_size;
  bool verify_checksums;
  bool retain_host_memory;
  int max_wait_us;
  int max_queued_requests;
  std::size_t cache_bytes;
  bool use_scheduler;
};
static_assert(offsetof(EncoderOptionsServing, use_scheduler) == offsetof(jina3_encoder_options, use_scheduler));

}  // namespace

TEST_CASE("encode options of the previous size: priority interactive and split_special_tokens false",
          "[capi][async]") {
  const jina3_encoder* c = shared_c_encoder();
  const CTexts texts({"<s>special", "plain text"});
  const CResult defaults = c_encode(c, texts.strings, JINA3_TASK_NONE, 0);
  REQUIRE(defaults.status == JINA3_OK);
  jina3_encode_options split = default_encode_options();
  split.split_special_tokens = true;
  const CResult split_result = c_encode(c, texts.strings, JINA3_TASK_NONE, 0, &split);
  REQUIRE(split_result.status == JINA3_OK);
  REQUIRE(max_diff(split_result.data, defaults.data) > 1e-3);  // the switch shows in the rows

  // A caller of the previous header: its struct ends at block_when_full; the padding after it and
  // everything beyond hold garbage that must not be read.
  jina3_encode_options options = default_encode_options();
  unsigned char* bytes = reinterpret_cast<unsigned char*>(&options);
  const std::size_t fields_end = offsetof(jina3_encode_options, block_when_full) + sizeof(bool);
  std::memset(bytes + fields_end, 0x5A, sizeof options - fields_end);
  // Read as the library would, the garbage is an invalid priority (and a non-zero split flag).
  int priority_bits = 0;
  std::memcpy(&priority_bits, bytes + offsetof(jina3_encode_options, priority), sizeof priority_bits);
  REQUIRE(priority_bits > 1);
  REQUIRE(bytes[offsetof(jina3_encode_options, split_special_tokens)] != 0);
  options.struct_size = sizeof(EncodeOptionsServing);
  REQUIRE(offsetof(jina3_encode_options, priority) < sizeof(EncodeOptionsServing));  // in the old padding

  const CResult old = c_encode(c, texts.strings, JINA3_TASK_NONE, 0, &options);
  INFO(jina3_last_error());
  REQUIRE(old.status == JINA3_OK);
  CHECK(max_diff(old.data, defaults.data) <= 1e-6);
  jina3_request* raw = nullptr;
  const jina3_task task = JINA3_TASK_NONE;
  REQUIRE(jina3_encoder_submit(c, texts.data(), nullptr, texts.size(), &task, 1, 0, &options, nullptr, nullptr, &raw,
                               nullptr) == JINA3_OK);
  RequestHandle request(raw);
  const CResult waited = wait_result(raw);
  REQUIRE(waited.status == JINA3_OK);
  CHECK(max_diff(waited.data, defaults.data) <= 1e-6);
  const CIds ids = own_tokens(texts.strings);
  const CResult from_ids = encode_ids(c, ids, JINA3_TASK_NONE, 0, &options);
  REQUIRE(from_ids.status == JINA3_OK);
  CHECK(max_diff(from_ids.data, defaults.data) <= 1e-6);

  // The same priority bytes with the current struct_size are read, and refused.
  options.split_special_tokens = true;
  options.struct_size = sizeof options;
  CHECK(c_encode(c, texts.strings, JINA3_TASK_NONE, 0, &options).status == JINA3_ERR_INVALID_ARGUMENT);
}

TEST_CASE("a priority set beyond an old-size encode options struct is not read",
          "[capi][async]") {
  EncoderHandle encoder = open_encoder();
  const CTexts texts({"a", "b"});
  jina3_encode_options options = default_encode_options();
  options.priority = JINA3_PRIORITY_BULK;
  options.struct_size = sizeof(EncodeOptionsServing);
  REQUIRE(c_encode(encoder.get(), texts.strings, JINA3_TASK_NONE, 0, &options).status == JINA3_OK);
  options.struct_size = sizeof options;
  REQUIRE(c_encode(encoder.get(), texts.strings, JINA3_TASK_NONE, 0, &options).status == JINA3_OK);
  const jina3_stats stats = read_stats(encoder.get());
  CHECK(stats.lanes[JINA3_PRIORITY_INTERACTIVE].requests == 1);
  CHECK(stats.lanes[JINA3_PRIORITY_BULK].requests == 1);
}

TEST_CASE("encoder options of the previous size: bulk_share at its default", "[capi][async]") {
  const std::string path = test::package_dir("float32").string();
  jina3_encoder_options options;
  jina3_encoder_default_options(&options, sizeof options);
  options.verify_checksums = false;
  unsigned char* bytes = reinterpret_cast<unsigned char*>(&options);
  const std::size_t fields_end = offsetof(jina3_encoder_options, use_scheduler) + sizeof(bool);
  std::memset(bytes + fields_end, 0xA5, sizeof options - fields_end);
  options.bulk_pass_tokens = 0;  // appended later still: only bulk_share is garbage in the full-size call
  REQUIRE(!(options.bulk_share >= 0.0 && options.bulk_share <= 1.0));  // garbage, invalid if read
  jina3_encoder* encoder = nullptr;
  jina3_error* error = nullptr;
  check_failure(jina3_encoder_create(path.c_str(), &options, &encoder, &error), error, JINA3_ERR_INVALID_ARGUMENT,
                "bulk_share");
  CHECK(encoder == nullptr);

  options.struct_size = sizeof(EncoderOptionsServing);
  REQUIRE(jina3_encoder_create(path.c_str(), &options, &encoder, nullptr) == JINA3_OK);
  EncoderHandle owned(encoder);
  const CTexts texts({"old caller", "bulk too"});
  const CResult expected = c_encode(shared_c_encoder(), texts.strings, JINA3_TASK_TEXT_MATCHING, 0);
  jina3_encode_options bulk = default_encode_options();
  bulk.priority = JINA3_PRIORITY_BULK;
  const CResult got = c_encode(encoder, texts.strings, JINA3_TASK_TEXT_MATCHING, 0, &bulk);
  REQUIRE(got.status == JINA3_OK);
  CHECK(max_diff(got.data, expected.data) <= test::kFloat32Tolerance);
  CHECK(read_stats(encoder).lanes[JINA3_PRIORITY_BULK].requests == 1);
}
