// encode() and tokenize() from many threads on one Encoder equal the serial results.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "support.hpp"

using namespace jina3;
using namespace jina3::test;

TEST_CASE("concurrent encode from 8 threads equals serial results", "[concurrency]") {
  const Encoder& encoder = shared_encoder("float32");
  const std::vector<Task> tasks = {Task::None, Task::RetrievalQuery, Task::RetrievalPassage, Task::Separation,
                                   Task::Classification, Task::TextMatching};
  // Each thread has its own texts, task and dims, so a mix-up between threads would show.
  struct Job {
    std::vector<std::string> texts;
    Task task;
    int dims;
    std::vector<std::vector<std::int32_t>> serial_ids;
    Embeddings serial;
  };
  std::vector<Job> jobs(8);
  for (std::size_t t = 0; t < jobs.size(); ++t) {
    Job& job = jobs[t];
    for (int k = 0; k < 5 + static_cast<int>(t); ++k) {
      std::string text = "thread " + std::to_string(t) + " text " + std::to_string(k);
      for (int r = 0; r < k * 3; ++r) text += " more words " + std::to_string(r * t);
      job.texts.push_back(text);
    }
    job.task = tasks[t % tasks.size()];
    job.dims = encoder.dims()[t % encoder.dims().size()];
    job.serial = encoder.encode(job.texts, job.task, job.dims);
    job.serial_ids = encoder.tokenize(job.texts, job.task);
  }

  constexpr int kRounds = 5;
  std::atomic<int> mismatches{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (const Job& job : jobs) {
    threads.emplace_back([&encoder, &job, &mismatches, &failures] {
      try {
        for (int round = 0; round < kRounds; ++round) {
          Embeddings got = encoder.encode(job.texts, job.task, job.dims);
          if (got.rows != job.serial.rows || got.dims != job.serial.dims ||
              max_abs_diff(got.data.data(), job.serial.data.data(), job.serial.data.size()) > kFloat32Tolerance) {
            ++mismatches;
          }
          if (encoder.tokenize(job.texts, job.task) != job.serial_ids) ++mismatches;
        }
      } catch (...) {
        ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(failures == 0);
  CHECK(mismatches == 0);
}

TEST_CASE("errors in one thread do not disturb others", "[concurrency]") {
  const Encoder& encoder = shared_encoder("float32");
  const Embeddings serial = encoder.encode({"steady"}, Task::TextMatching);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 10; ++round) {
        if (t % 2 == 0) {
          try {
            encoder.encode({"bad \xFF"}, Task::TextMatching);
            ++wrong;
          } catch (const InvalidArgument&) {
          }
        } else {
          Embeddings got = encoder.encode({"steady"}, Task::TextMatching);
          if (max_abs_diff(got.row(0), serial.row(0), serial.dims) > kFloat32Tolerance) ++wrong;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(wrong == 0);
}
