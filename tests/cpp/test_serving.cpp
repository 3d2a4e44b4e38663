// Serving many callers with the real (tiny) model: results through the scheduler equal serial
// results however requests were merged, the embedding cache, the asynchronous forms, the bounded
// queue and deadlines, destruction with requests in flight, and use_scheduler = false.
#include <catch2/catch.hpp>

#include "watchdog.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace jina3;
using namespace jina3::test;
using namespace std::chrono_literals;

namespace {

// Real-model calls under load are slow on 2 cores: a hang is declared after 5 minutes.
constexpr auto kHangLimit = 300s;



// Random text of a few to many words (some over the max_length values used below).
std::string random_text(std::mt19937& random) {
  static const char* const words[] = {"the", "river", "Zürich", "embeds", "quietly", "東京", "vector", "of",
                                      "seventeen", "tokens", "über", "alles", "query", "passage", "🙂", "ok"};
  const int n = random() % 8 == 0 ? 40 + static_cast<int>(random() % 80) : 1 + static_cast<int>(random() % 12);
  std::string text;
  for (int i = 0; i < n; ++i) {
    if (i) text += ' ';
    text += words[random() % (sizeof words / sizeof words[0])];
  }
  return text;
}

// One call of the equality test and the serial result of each of its texts.
struct Call {
  std::vector<std::string> texts;
  std::vector<Task> tasks;  // one per text
  int dims = 0;
  EncodeOptions options;
  bool async = false;
  std::vector<Embeddings> serial;  // per text: a single-text encode call with the same settings
};

std::vector<Task> all_tasks(const Encoder& encoder) {
  std::vector<Task> tasks = encoder.tasks();
  tasks.push_back(Task::None);
  return tasks;
}

// How far a row is from its serial result: the float32 rule (max |diff| <= kFloat32Tolerance) on
// the unit scale: normalised rows as they are, unnormalised ones (normalize=false) divided by the
// serial row's norm where it is above 1, since their values and so their rounding are that many
// times larger. bfloat16 packages: cosine >= kBFloat16Cosine.
bool close_enough(const std::string& dtype, const float* got, const float* want, std::size_t dims, double* worst) {
  if (dtype == "float32") {
    double norm = 0.0;
    for (std::size_t d = 0; d < dims; ++d) norm += static_cast<double>(want[d]) * want[d];
    double diff = max_abs_diff(got, want, dims) / std::max(1.0, std::sqrt(norm));
    *worst = std::max(*worst, diff);
    return diff <= kFloat32Tolerance;
  }
  double cos = cosine(got, want, dims);
  *worst = std::max(*worst, 1.0 - cos);
  return cos >= kBFloat16Cosine;
}

void check_merged_equals_serial(const std::string& dtype) {
  Watchdog dog("serving equality", kHangLimit);
  EncoderOptions load;
  // A small pass budget so that calls are split across passes and merged with others.
  load.max_batch_size = 8;
  load.max_batch_tokens = 512;
  Encoder encoder(package_dir(dtype).string(), load);
  const std::vector<Task> tasks = all_tasks(encoder);
  std::vector<int> dims = encoder.dims();
  dims.push_back(0);
  const int max_lengths[] = {0, 8, 16, 33};

  constexpr int kThreads = 64;
  constexpr int kCallsPerThread = 3;
  std::mt19937 random(20240601u + static_cast<unsigned>(dtype.size()));
  std::vector<std::vector<Call>> plan(kThreads);
  for (auto& calls : plan) {
    for (int c = 0; c < kCallsPerThread; ++c) {
      Call call;
      const int n = 1 + static_cast<int>(random() % 5);
      for (int i = 0; i < n; ++i) {
        call.texts.push_back(random_text(random));
        call.tasks.push_back(tasks[random() % tasks.size()]);
      }
      call.dims = dims[random() % dims.size()];
      call.options.normalize = random() % 3 != 0;
      call.options.max_length = max_lengths[random() % 4];
      call.async = random() % 2 == 0;
      for (int i = 0; i < n; ++i) {
        call.serial.push_back(encoder.encode({call.texts[i]}, call.tasks[i], call.dims, call.options));
      }
      calls.push_back(std::move(call));
    }
  }

  const EncoderStats before = encoder.stats();
  std::atomic<int> ready{0};
  std::atomic<int> mismatches{0};
  std::atomic<int> failures{0};
  std::mutex worst_mutex;
  double worst = 0.0;
  std::string first_failure;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Start together, so that the calls meet in the queue.
      ++ready;
      while (ready < kThreads) std::this_thread::yield();
      double local_worst = 0.0;
      for (const Call& call : plan[t]) {
        try {
          Embeddings got = call.async ? encoder.encode_async(call.texts, call.tasks, call.dims, call.options).get()
                                      : encoder.encode(call.texts, call.tasks, call.dims, call.options);
          if (got.rows != call.texts.size() || got.dims != call.serial[0].dims) {
            ++mismatches;
            continue;
          }
          for (std::size_t i = 0; i < got.rows; ++i) {
            if (!close_enough(dtype, got.row(i), call.serial[i].row(0), got.dims, &local_worst) ||
                got.truncated[i] != call.serial[i].truncated[0]) {
              ++mismatches;
            }
          }
        } catch (const std::exception& e) {
          std::lock_guard<std::mutex> lock(worst_mutex);
          if (failures++ == 0) first_failure = e.what();
        }
      }
      std::lock_guard<std::mutex> lock(worst_mutex);
      worst = std::max(worst, local_worst);
    });
  }
  for (auto& thread : threads) thread.join();
  const EncoderStats after = encoder.stats();
  INFO(dtype << ": worst " << (dtype == "float32" ? "max |diff| " : "1 - cosine ") << worst << "; "
             << after.passes - before.passes << " passes for " << after.requests - before.requests << " calls");
  INFO("first failure: " << first_failure);
  std::printf("serving equality %s: worst %s %.3g over %d calls from %d threads; %llu passes\n", dtype.c_str(),
              dtype == "float32" ? "max |diff|" : "1 - cosine", worst, kThreads * kCallsPerThread, kThreads,
              static_cast<unsigned long long>(after.passes - before.passes));
  CHECK(failures == 0);
  CHECK(mismatches == 0);
  std::size_t rows = 0;
  for (const auto& calls : plan) {
    for (const Call& call : calls) rows += call.texts.size();
  }
  CHECK(after.requests - before.requests == static_cast<std::uint64_t>(kThreads * kCallsPerThread));
  CHECK(after.rows - before.rows == rows);
  // Rows of different callers did share passes: fewer passes than calls.
  CHECK(after.passes - before.passes < after.requests - before.requests);
  CHECK(after.queue_depth == 0);
  CHECK(after.max_queue_depth > 1);
  CHECK(after.padded_tokens >= after.tokens);
}

std::vector<std::string> numbered_texts(const std::string& stem, int count) {
  std::vector<std::string> texts;
  for (int i = 0; i < count; ++i) texts.push_back(stem + " number " + std::to_string(i) + " with a few words");
  return texts;
}

}  // namespace

TEST_CASE("serving: merged results equal serial ones, float32, 64 threads", "[serving]") {
  check_merged_equals_serial("float32");
}

TEST_CASE("serving: merged results equal serial ones, bfloat16, 64 threads", "[serving]") {
  check_merged_equals_serial("bfloat16");
}

TEST_CASE("serving: encode_async from many threads equals encode", "[serving]") {
  Watchdog dog("encode_async", kHangLimit);
  const Encoder& encoder = shared_encoder("float32");
  const std::vector<std::string> texts = {"asynchronous", "futures from many threads", "", "a b c d e f g"};
  const Embeddings serial = encoder.encode(texts, Task::RetrievalPassage, 32);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      std::vector<std::future<Embeddings>> futures;
      for (int k = 0; k < 4; ++k) futures.push_back(encoder.encode_async(texts, Task::RetrievalPassage, 32));
      futures.push_back(encoder.encode_async(texts, "retrieval.passage", 32));
      futures.push_back(encoder.try_encode_async(texts, Task::RetrievalPassage, 32));
      for (auto& future : futures) {
        Embeddings got = future.get();
        if (got.rows != serial.rows || got.dims != serial.dims ||
            max_abs_diff(got.data.data(), serial.data.data(), serial.data.size()) > kFloat32Tolerance) {
          ++wrong;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(wrong == 0);
}

TEST_CASE("serving: argument errors are thrown by encode_async itself", "[serving]") {
  const Encoder& encoder = shared_encoder("float32");
  CHECK_THROWS_AS(encoder.encode_async({"bad \xFF"}, Task::TextMatching), InvalidArgument);
  CHECK_THROWS_AS(encoder.encode_async({"ok"}, Task::TextMatching, 7), InvalidArgument);
  EncodeOptions strict;
  strict.truncate = false;
  strict.max_length = 4;
  CHECK_THROWS_AS(encoder.encode_async({"far too many words for four tokens"}, Task::None, 0, strict), InputTooLong);
  EncodeOptions negative;
  negative.deadline_us = -1;
  CHECK_THROWS_AS(encoder.encode_async({"ok"}, Task::None, 0, negative), InvalidArgument);
  // An empty call completes at once.
  std::future<Embeddings> empty = encoder.encode_async({}, Task::None);
  REQUIRE(empty.wait_for(0s) == std::future_status::ready);
  CHECK(empty.get().rows == 0);
}

TEST_CASE("serving: try_encode_async refuses with QueueFull behind a big request", "[serving]") {
  Watchdog dog("queue full", kHangLimit);
  EncoderOptions load;
  load.max_queued_requests = 1;
  Encoder encoder(package_dir("float32").string(), load);
  const std::vector<std::string> big = numbered_texts("a long request", 3000);
  std::future<Embeddings> running = encoder.encode_async(big, Task::RetrievalPassage);
  CHECK_THROWS_AS(encoder.try_encode_async({"one more"}, Task::RetrievalQuery), QueueFull);
  EncodeOptions no_wait;
  no_wait.block_when_full = false;
  CHECK_THROWS_AS(encoder.encode_async({"one more"}, Task::RetrievalQuery, 0, no_wait), QueueFull);
  CHECK(encoder.stats().rejected == 2);
  // A call that may wait gets its turn once the big one is done.
  Embeddings waited = encoder.encode({"one more"}, Task::RetrievalQuery);
  Embeddings result = running.get();
  CHECK(result.rows == big.size());
  const Embeddings serial = shared_encoder("float32").encode({"one more"}, Task::RetrievalQuery);
  CHECK(max_abs_diff(waited.row(0), serial.row(0), serial.dims) <= kFloat32Tolerance);
  // And the try form succeeds once there is room.
  Embeddings tried = encoder.try_encode_async({"one more"}, Task::RetrievalQuery).get();
  CHECK(max_abs_diff(tried.row(0), serial.row(0), serial.dims) <= kFloat32Tolerance);
  EncoderStats stats = encoder.stats();
  CHECK(stats.rejected == 2);
  CHECK(stats.max_queue_depth == 1);
  CHECK(stats.queue_depth == 0);
}

TEST_CASE("serving: a deadline fails a request that has not started, not one that has", "[serving]") {
  Watchdog dog("deadlines", kHangLimit);
  const Encoder& encoder = shared_encoder("float32");
  const EncoderStats before = encoder.stats();
  EncodeOptions tight;
  tight.deadline_us = 1;  // passed before the request is even queued
  std::future<Embeddings> late = encoder.encode_async({"too late"}, Task::Separation, 0, tight);
  CHECK_THROWS_AS(late.get(), DeadlineExceeded);
  CHECK_THROWS_AS(encoder.encode({"too late"}, Task::Separation, 0, tight), DeadlineExceeded);
  EncodeOptions generous;
  generous.deadline_us = 60 * 1000 * 1000;
  Embeddings fine = encoder.encode({"in time"}, Task::Separation, 0, generous);
  const Embeddings serial = encoder.encode({"in time"}, Task::Separation);
  CHECK(max_abs_diff(fine.row(0), serial.row(0), serial.dims) <= kFloat32Tolerance);
  CHECK(encoder.stats().deadline_exceeded - before.deadline_exceeded == 2);
}

TEST_CASE("serving: destroying the encoder with requests in flight", "[serving]") {
  Watchdog dog("destroy in flight", kHangLimit);
  const std::vector<std::string> texts = numbered_texts("in flight", 24);
  const Embeddings serial = shared_encoder("float32").encode(texts, Task::Classification, 16);
  std::vector<std::future<Embeddings>> futures;
  {
    Encoder encoder(package_dir("float32").string());
    for (int i = 0; i < 40; ++i) futures.push_back(encoder.encode_async(texts, Task::Classification, 16));
    // Destroyed here: the pass running finishes, the rest are cancelled.
  }
  int ok = 0;
  int cancelled = 0;
  int wrong = 0;
  for (auto& future : futures) {
    REQUIRE(future.wait_for(0s) == std::future_status::ready);  // settled by the destructor
    try {
      Embeddings got = future.get();
      ++ok;
      if (got.rows != serial.rows ||
          max_abs_diff(got.data.data(), serial.data.data(), serial.data.size()) > kFloat32Tolerance) {
        ++wrong;
      }
    } catch (const Cancelled&) {
      ++cancelled;
    }
  }
  INFO(ok << " completed, " << cancelled << " cancelled");
  CHECK(ok + cancelled == 40);
  CHECK(cancelled > 0);
  CHECK(wrong == 0);
}

TEST_CASE("serving: destroying the encoder while other threads wait on futures", "[serving]") {
  Watchdog dog("destroy with waiters", kHangLimit);
  const std::vector<std::string> texts = numbered_texts("waited on", 12);
  const Embeddings serial = shared_encoder("float32").encode(texts, Task::TextMatching);
  auto encoder = std::make_unique<Encoder>(package_dir("float32").string());
  std::vector<std::future<Embeddings>> futures;
  for (int i = 0; i < 32; ++i) futures.push_back(encoder->encode_async(texts, Task::TextMatching));
  std::atomic<int> ok{0};
  std::atomic<int> cancelled{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> waiters;
  for (auto& future : futures) {
    waiters.emplace_back([&, f = std::move(future)]() mutable {
      try {
        Embeddings got = f.get();
        ++ok;
        if (max_abs_diff(got.data.data(), serial.data.data(), serial.data.size()) > kFloat32Tolerance) ++wrong;
      } catch (const Cancelled&) {
        ++cancelled;
      } catch (...) {
        ++wrong;
      }
    });
  }
  std::this_thread::sleep_for(5ms);
  encoder.reset();
  for (auto& waiter : waiters) waiter.join();
  CHECK(ok + cancelled == 32);
  CHECK(wrong == 0);
}

TEST_CASE("serving: the cache returns identical vectors and keys on every setting", "[serving]") {
  EncoderOptions load;
  load.cache_bytes = 1 << 20;
  Encoder encoder(package_dir("float32").string(), load);
  const Encoder& uncached = shared_encoder("float32");
  const std::vector<std::string> text = {"cache me if you can"};

  Embeddings first = encoder.encode(text, Task::RetrievalQuery, 32);
  EncoderStats s1 = encoder.stats();
  CHECK(s1.cache_hits == 0);
  CHECK(s1.cache_misses == 1);
  CHECK(s1.cache_entries == 1);
  CHECK(s1.passes == 1);
  Embeddings second = encoder.encode(text, Task::RetrievalQuery, 32);
  EncoderStats s2 = encoder.stats();
  CHECK(s2.cache_hits == 1);
  CHECK(s2.passes == 1);  // no forward pass for a hit
  CHECK(s2.requests == 2);
  REQUIRE(second.data.size() == first.data.size());
  CHECK(std::memcmp(second.data.data(), first.data.data(), first.data.size() * sizeof(float)) == 0);
  CHECK(second.truncated == first.truncated);
  // The cached vector is the right one.
  Embeddings serial = uncached.encode(text, Task::RetrievalQuery, 32);
  CHECK(max_abs_diff(first.data.data(), serial.data.data(), serial.data.size()) <= kFloat32Tolerance);
  // The async form hits too.
  Embeddings async = encoder.encode_async(text, Task::RetrievalQuery, 32).get();
  CHECK(std::memcmp(async.data.data(), first.data.data(), first.data.size() * sizeof(float)) == 0);
  CHECK(encoder.stats().cache_hits == 2);

  // Each key field changed on its own misses, and gives that setting's own (correct) vector.
  EncodeOptions defaults;
  EncodeOptions short_length;
  short_length.max_length = 6;
  EncodeOptions raw;
  raw.normalize = false;
  EncodeOptions strict;
  strict.truncate = false;
  struct Variant {
    const char* name;
    std::vector<std::string> texts;
    Task task;
    int dims;
    EncodeOptions options;
  };
  const std::vector<Variant> variants = {
      {"task", text, Task::RetrievalPassage, 32, defaults},
      {"dims", text, Task::RetrievalQuery, 16, defaults},
      {"max_length", text, Task::RetrievalQuery, 32, short_length},
      {"normalize", text, Task::RetrievalQuery, 32, raw},
      {"truncate", text, Task::RetrievalQuery, 32, strict},
      {"text", {"cache me if you can "}, Task::RetrievalQuery, 32, defaults},
      {"no task", text, Task::None, 32, defaults},
  };
  for (const Variant& variant : variants) {
    INFO("changed: " << variant.name);
    const EncoderStats before = encoder.stats();
    Embeddings got = encoder.encode(variant.texts, variant.task, variant.dims, variant.options);
    const EncoderStats after = encoder.stats();
    CHECK(after.cache_hits == before.cache_hits);
    CHECK(after.cache_misses == before.cache_misses + 1);
    CHECK(after.passes == before.passes + 1);
    Embeddings want = uncached.encode(variant.texts, variant.task, variant.dims, variant.options);
    REQUIRE(got.data.size() == want.data.size());
    CHECK(max_abs_diff(got.data.data(), want.data.data(), want.data.size()) <= kFloat32Tolerance);
    CHECK(got.truncated == want.truncated);
    // And now that setting hits.
    Embeddings again = encoder.encode(variant.texts, variant.task, variant.dims, variant.options);
    CHECK(encoder.stats().cache_hits == after.cache_hits + 1);
    CHECK(std::memcmp(again.data.data(), got.data.data(), got.data.size() * sizeof(float)) == 0);
  }
  // The original entry is still there.
  const EncoderStats before = encoder.stats();
  Embeddings third = encoder.encode(text, Task::RetrievalQuery, 32);
  CHECK(encoder.stats().cache_hits == before.cache_hits + 1);
  CHECK(std::memcmp(third.data.data(), first.data.data(), first.data.size() * sizeof(float)) == 0);
}

TEST_CASE("serving: a call mixing cached and new texts keeps its order", "[serving]") {
  EncoderOptions load;
  load.cache_bytes = 1 << 20;
  Encoder encoder(package_dir("float32").string(), load);
  const std::vector<std::string> texts = numbered_texts("mixed", 9);
  const Embeddings serial = shared_encoder("float32").encode(texts, Task::Classification, 8);
  // Cache every other text first.
  std::vector<std::string> some;
  for (std::size_t i = 0; i < texts.size(); i += 2) some.push_back(texts[i]);
  encoder.encode(some, Task::Classification, 8);
  const EncoderStats before = encoder.stats();
  Embeddings got = encoder.encode(texts, Task::Classification, 8);
  const EncoderStats after = encoder.stats();
  CHECK(after.cache_hits - before.cache_hits == some.size());
  CHECK(after.cache_misses - before.cache_misses == texts.size() - some.size());
  REQUIRE(got.rows == texts.size());
  CHECK(max_abs_diff(got.data.data(), serial.data.data(), serial.data.size()) <= kFloat32Tolerance);
  // A truncated text keeps its flag through the cache.
  EncodeOptions cut;
  cut.max_length = 5;
  const std::vector<std::string> long_text = {"this text is far longer than five tokens in all"};
  Embeddings once = encoder.encode(long_text, Task::None, 0, cut);
  Embeddings twice = encoder.encode(long_text, Task::None, 0, cut);
  CHECK(once.truncated == std::vector<std::uint8_t>{1});
  CHECK(twice.truncated == std::vector<std::uint8_t>{1});
}

TEST_CASE("serving: the cache stays within cache_bytes", "[serving]") {
  EncoderOptions load;
  load.cache_bytes = 4096;
  Encoder encoder(package_dir("float32").string(), load);
  const std::vector<std::string> texts = numbered_texts("bounded", 60);
  const Embeddings serial = shared_encoder("float32").encode(texts, Task::TextMatching);
  std::size_t over = 0;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    Embeddings got = encoder.encode({texts[i]}, Task::TextMatching);
    CHECK(max_abs_diff(got.row(0), serial.row(i), serial.dims) <= kFloat32Tolerance);
    if (encoder.stats().cache_bytes > load.cache_bytes) ++over;
  }
  CHECK(over == 0);
  EncoderStats stats = encoder.stats();
  INFO(stats.cache_entries << " entries, " << stats.cache_bytes << " bytes, " << stats.cache_evictions << " evictions");
  CHECK(stats.cache_bytes <= load.cache_bytes);
  CHECK(stats.cache_entries > 0);
  CHECK(stats.cache_entries < texts.size());
  CHECK(stats.cache_evictions == texts.size() - stats.cache_entries);
  // The newest is still cached, the oldest is not.
  const EncoderStats before = encoder.stats();
  encoder.encode({texts.back()}, Task::TextMatching);
  encoder.encode({texts.front()}, Task::TextMatching);
  const EncoderStats after = encoder.stats();
  CHECK(after.cache_hits == before.cache_hits + 1);
  CHECK(after.cache_misses == before.cache_misses + 1);
}

TEST_CASE("serving: the cache from many threads", "[serving]") {
  Watchdog dog("cache threads", kHangLimit);
  EncoderOptions load;
  load.cache_bytes = 16 * 1024;  // holds some of the texts: hits, misses and evictions all happen
  Encoder encoder(package_dir("float32").string(), load);
  const std::vector<std::string> texts = numbered_texts("shared", 80);
  const Embeddings serial = shared_encoder("float32").encode(texts, Task::RetrievalPassage, 32);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 random(static_cast<unsigned>(t) + 1);
      for (int k = 0; k < 30; ++k) {
        std::vector<std::string> pick;
        std::vector<std::size_t> which;
        for (int n = 0; n < 3; ++n) {
          which.push_back(random() % texts.size());
          pick.push_back(texts[which.back()]);
        }
        Embeddings got = encoder.encode(pick, Task::RetrievalPassage, 32);
        for (std::size_t i = 0; i < which.size(); ++i) {
          if (max_abs_diff(got.row(i), serial.row(which[i]), serial.dims) > kFloat32Tolerance) ++wrong;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(wrong == 0);
  EncoderStats stats = encoder.stats();
  CHECK(stats.cache_hits > 0);
  CHECK(stats.cache_evictions > 0);
  CHECK(stats.cache_hits + stats.cache_misses == 16u * 30u * 3u);
  CHECK(stats.cache_bytes <= load.cache_bytes);
}

TEST_CASE("serving: use_scheduler = false gives the same results", "[serving]") {
  Watchdog dog("no scheduler", kHangLimit);
  EncoderOptions load;
  load.use_scheduler = false;
  Encoder direct(package_dir("float32").string(), load);
  const Encoder& scheduled = shared_encoder("float32");
  const std::vector<std::string> texts = numbered_texts("direct", 30);
  for (Task task : {Task::None, Task::RetrievalQuery, Task::Separation}) {
    Embeddings a = direct.encode(texts, task, 16);
    Embeddings b = scheduled.encode(texts, task, 16);
    REQUIRE(a.data.size() == b.data.size());
    CHECK(max_abs_diff(a.data.data(), b.data.data(), b.data.size()) <= kFloat32Tolerance);
    Embeddings c = direct.encode_async(texts, task, 16).get();
    CHECK(max_abs_diff(c.data.data(), b.data.data(), b.data.size()) <= kFloat32Tolerance);
  }
  // From several threads at once, too.
  const Embeddings serial = scheduled.encode(texts, Task::TextMatching);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int k = 0; k < 3; ++k) {
        Embeddings got = direct.encode(texts, Task::TextMatching);
        if (max_abs_diff(got.data.data(), serial.data.data(), serial.data.size()) > kFloat32Tolerance) ++wrong;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(wrong == 0);
  EncoderStats stats = direct.stats();
  CHECK(stats.requests == 3 * 2 + 8 * 3);
  CHECK(stats.passes > 0);
  CHECK(stats.queue_depth == 0);
}

TEST_CASE("serving: stats of a fresh encoder and after one call", "[serving]") {
  Encoder encoder(package_dir("float32").string());
  EncoderStats fresh = encoder.stats();
  CHECK(fresh.requests == 0);
  CHECK(fresh.passes == 0);
  CHECK(fresh.cache_misses == 0);  // the cache is off
  const std::vector<std::string> texts = {"one", "two words", "three words here"};
  encoder.encode(texts, Task::Classification);
  EncoderStats stats = encoder.stats();
  CHECK(stats.requests == 1);
  CHECK(stats.rows == 3);
  CHECK(stats.passes == 1);
  std::uint64_t tokens = 0;
  std::size_t longest = 0;
  for (const auto& ids : encoder.tokenize(texts, Task::Classification)) {
    tokens += ids.size();
    longest = std::max(longest, ids.size());
  }
  CHECK(stats.tokens == tokens);
  CHECK(stats.padded_tokens == longest * texts.size());
  CHECK(stats.queue_depth == 0);
  CHECK(stats.max_queue_depth == 1);
  CHECK(stats.cache_hits == 0);
  CHECK(stats.cache_entries == 0);
}
