// The C API from many threads: one encoder shared by 16 threads gives the serial results, and
// error reporting (thread-local message and error objects) stays per thread. The scheduler merges
// the rows of concurrent calls into shared passes, whose padding differs from a call alone, so the
// results agree within 1e-6 (float32), not bit for bit.
#include <jina3/jina3.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "capi_support.hpp"
#include "support.hpp"

using namespace jina3;
using namespace jina3::capi_test;

namespace {

constexpr int kThreads = 16;
constexpr int kRounds = 3;
constexpr double kTolerance = 1e-6;

// The call thread t makes in every round: its own texts, task and size.
struct Job {
  std::vector<std::string> texts;
  jina3_task task;
  int dims;
};

Job job_for(int thread, const std::vector<int>& all_dims) {
  const std::vector<std::string>& samples = sample_texts();
  Job job;
  for (std::size_t i = 0; i < 3; ++i) {
    job.texts.push_back(samples[(static_cast<std::size_t>(thread) + i) % samples.size()] + " #" + std::to_string(thread));
  }
  job.task = static_cast<jina3_task>(thread % 6 - 1);
  job.dims = all_dims[static_cast<std::size_t>(thread) % all_dims.size()];
  return job;
}

}  // namespace

TEST_CASE("16 threads encoding on one encoder get the serial results", "[capi][threads]") {
  const jina3_encoder* c = shared_c_encoder();
  std::vector<int> all_dims(jina3_encoder_dims(c, nullptr, 0));
  (void)jina3_encoder_dims(c, all_dims.data(), all_dims.size());

  std::vector<Job> jobs;
  std::vector<std::vector<float>> serial;
  const auto serial_start = std::chrono::steady_clock::now();
  for (int t = 0; t < kThreads; ++t) {
    jobs.push_back(job_for(t, all_dims));
    const CResult result = c_encode(c, jobs.back().texts, jobs.back().task, jobs.back().dims);
    REQUIRE(result.status == JINA3_OK);
    serial.push_back(result.data);
  }
  const double serial_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - serial_start).count();

  std::atomic<int> mismatches{0};
  std::atomic<int> failures{0};
  std::atomic<bool> go{false};
  std::vector<double> worst(kThreads, 0.0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      for (int round = 0; round < kRounds; ++round) {
        const CResult result = c_encode(c, jobs[t].texts, jobs[t].task, jobs[t].dims);
        if (result.status != JINA3_OK) {
          ++failures;
          continue;
        }
        const double diff = test::max_abs_diff(result.data.data(), serial[t].data(), serial[t].size());
        worst[t] = std::max(worst[t], diff);
        if (diff > kTolerance) ++mismatches;
      }
    });
  }
  const auto parallel_start = std::chrono::steady_clock::now();
  go = true;
  for (auto& thread : threads) thread.join();
  const double parallel_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - parallel_start).count();

  double overall = 0.0;
  for (double w : worst) overall = std::max(overall, w);
  std::printf("capi concurrency: %d threads x %d rounds on one encoder: %d failures, %d results off by > 1e-6, "
              "max |diff| %.3g; serial pass %.2f s, concurrent passes %.2f s\n",
              kThreads, kRounds, failures.load(), mismatches.load(), overall, serial_seconds, parallel_seconds);
  CHECK(failures == 0);
  CHECK(mismatches == 0);
}

TEST_CASE("failures on many threads each report their own error", "[capi][threads]") {
  const jina3_encoder* c = shared_c_encoder();
  const char* text = "hello";
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // An odd dims value no model offers, unique per thread, shows up in this thread's message only.
      const int dims = 1001 + 2 * t;
      const std::string mine = "dims " + std::to_string(dims);
      std::vector<float> out(4096);
      for (int round = 0; round < 20; ++round) {
        jina3_error* error = nullptr;
        const jina3_status status = jina3_encoder_encode(c, &text, nullptr, 1, JINA3_TASK_NONE, dims, nullptr,
                                                         out.data(), out.size(), nullptr, &error);
        ErrorHandle owned(error);
        const std::string last = jina3_last_error();
        const std::string object = jina3_error_message(owned.get());
        if (status != JINA3_ERR_INVALID_ARGUMENT || jina3_error_code(owned.get()) != JINA3_ERR_INVALID_ARGUMENT ||
            last.find(mine) == std::string::npos || object != last) {
          ++wrong;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(wrong == 0);
}

TEST_CASE("the last error is per thread", "[capi][threads][unit]") {
  jina3_task task;
  REQUIRE(jina3_task_from_name("main-thread-task", &task, nullptr) == JINA3_ERR_INVALID_ARGUMENT);
  std::string other_before, other_after;
  std::thread other([&] {
    other_before = jina3_last_error();
    const jina3_status status = jina3_task_from_name("other-thread-task", &task, nullptr);
    other_after = status == JINA3_ERR_INVALID_ARGUMENT ? jina3_last_error() : "unexpected status";
  });
  other.join();
  CHECK(other_before.empty());
  CHECK(other_after.find("other-thread-task") != std::string::npos);
  CHECK(std::string(jina3_last_error()).find("main-thread-task") != std::string::npos);
}
