// The request scheduler: one bounded queue and one worker thread per encoder. Callers submit
// prepared (tokenised) requests from any thread; the worker merges the rows of every queued
// request into steps, splits each step into length-sorted padded passes and hands the passes to
// a backend. It knows nothing of LibTorch: the backend is a function, so the unit tests drive it
// with a fake one (tests/cpp/test_scheduler.cpp), also under ThreadSanitizer.
//
// Policy:
// - An idle worker starts a request at once. After a step that completed k requests, the next
//   step waits up to max_wait for k requests to be queued again (their callers are likely to
//   come straight back), unless the step budget is already full.
// - A step takes rows round-robin from the queued requests in arrival order, one row per request
//   per round, until max_tokens real tokens (or 4 x max_rows rows) are taken; a row longer than
//   max_tokens still runs, alone. So a 10,000-row request and one-row requests share each step,
//   max-min fairly in tokens: small requests get all they ask, the large one the rest.
// - Each request's rows are dispatched longest first; each step is planned into passes with
//   plan_batches (within max_tokens padded tokens and max_rows rows), run shortest first so short
//   requests complete early.
// - A pass that throws fails the requests that had rows in it (with that exception) and only
//   those; the worker goes on.
// - A request whose deadline passes before any of its rows is in a pass fails with
//   DeadlineExceeded (a watcher thread fails it on time even while a pass is running).
// - Destruction finishes the pass that is running, then fails every unfinished request with
//   Cancelled and wakes blocked submitters with Cancelled.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <jina3/stats.hpp>

#include "serving/batch_plan.hpp"

namespace jina3::detail {

using Clock = std::chrono::steady_clock;

// One request's work, prepared by the caller. What a row's output is (its width, pooled or not,
// normalised or not) is the pipeline's business: the scheduler hands spec to the pass function
// as it is and never reads it.
struct Job {
  std::vector<std::vector<std::int32_t>> ids;  // one token sequence per row
  std::vector<std::int64_t> adapters;          // per row: adapter index or -1
  std::vector<float*> outputs;                 // per row: where its output goes (valid until completion)
  const void* spec = nullptr;                  // the pipeline's instructions for every row (valid until completion)
  std::size_t max_rows_per_pass = 0;           // this request's rows per pass at most; 0 = no extra limit
  Clock::time_point deadline = Clock::time_point::max();  // must start before this
};

// One row of a pass, as the backend sees it.
struct PassRow {
  const std::vector<std::int32_t>* ids;
  std::int64_t adapter;
  const void* spec;  // its job's spec
  float* output;     // its job's output slot for this row
};

// Runs one padded forward pass over rows and writes each row's output. May throw; the exception
// then fails the requests owning those rows.
using PassFunction = std::function<void(const std::vector<PassRow>& rows)>;

// Called exactly once per accepted request, with nullptr on success or the failure. It runs on
// the worker thread (or the watcher, the destructor, or the submitting thread in inline mode),
// with no scheduler lock held. It must not throw.
using Completion = std::function<void(std::exception_ptr error)>;

struct SchedulerOptions {
  BatchLimits limits{4096, 64};
  std::size_t max_queued_requests = 1024;
  std::chrono::microseconds max_wait{2000};
  // false: no worker; submit runs the request's passes on the calling thread (still thread-safe:
  // the pass function must then allow concurrent calls).
  bool use_worker = true;
};

// The scheduler's counters, in the encoder's stats struct (the cache's fields stay 0 here).
using SchedulerStats = EncoderStats;

class Scheduler {
 public:
  // worker_init runs first on the worker thread (e.g. to set its intra-op thread count).
  Scheduler(PassFunction run_pass, SchedulerOptions options, std::function<void()> worker_init = {});
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues job; done is called once it has completed or failed. Throws (and then never calls
  // done): QueueFull when the queue is full and !block; DeadlineExceeded when blocked for room
  // past job.deadline; Cancelled when the scheduler is shutting down. A job with no rows
  // completes at once, on this thread.
  void submit(Job job, bool block, Completion done);

  SchedulerStats stats() const;
  const SchedulerOptions& options() const noexcept { return options_; }

  // What destruction does, once: finish the running pass, cancel the rest, stop the threads.
  // Also called for every live scheduler by an exit() handler. Later submits throw Cancelled.
  void shutdown();

 private:
  struct Request;
  struct Step;
  using Settlement = std::vector<std::pair<std::shared_ptr<Request>, std::exception_ptr>>;

  void worker_loop(std::function<void()> init);
  void watcher_loop();
  bool budget_full() const;                                  // mutex_ held
  void expire(Clock::time_point now, Settlement& out);       // mutex_ held
  void fill_step(Step& step, Clock::time_point now);         // mutex_ held
  // Takes request's next row into step if its per-request row cap and the step's token budget
  // allow (a row that does not fit marks the request blocked for this step).
  bool take_row(Step& step, const std::shared_ptr<Request>& request) const;
  void accept(const Request& request);                       // counts an accepted request; mutex_ held
  std::size_t run_step(Step& step);                          // mutex_ not held; returns requests completed
  void run_inline(const std::shared_ptr<Request>& request);
  void settle(Settlement& outcomes);                         // mutex_ not held; calls the completions
  bool stopping() const;
  void stop_and_cancel();

  PassFunction run_pass_;
  SchedulerOptions options_;

  mutable std::mutex mutex_;
  std::condition_variable work_ready_;        // worker: requests queued, or stopping
  std::condition_variable room_;              // blocked submitters: room in the queue, or stopping
  std::condition_variable deadlines_;         // watcher: a new deadline, or stopping
  std::condition_variable submitters_left_;   // destructor: the last blocked submitter has left
  std::deque<std::shared_ptr<Request>> queue_;  // requests with rows not yet dispatched, arrival order
  std::size_t unfinished_ = 0;                // accepted and not settled: what max_queued_requests bounds
  std::size_t submitters_ = 0;                // submit() calls blocked for room
  std::size_t pending_rows_ = 0;              // undispatched rows in queue_
  std::size_t pending_tokens_ = 0;            // their tokens
  std::size_t expected_ = 0;                  // requests the last step completed
  Clock::time_point last_step_end_{};
  bool stopping_ = false;
  SchedulerStats stats_;
  std::thread worker_;
  std::thread watcher_;
  std::once_flag shut_down_;
};

}  // namespace jina3::detail
