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
// - Two lanes (Job::priority): interactive and bulk, each with its own queue in arrival order.
//   Within a lane a step takes rows round-robin from the queued requests, one row per request per
//   round, so a 10,000-row request and one-row requests share each step max-min fairly in tokens:
//   small requests get all they ask, the large one the rest. A step holds up to max_tokens real
//   tokens and 4 x max_rows rows; the first row a lane puts in a step is always taken, so a row
//   longer than max_tokens still runs (alone in its pass).
// - When both lanes have rows queued, a step first reserves for bulk rows up to
//   bulk_share x max_tokens tokens (and bulk_share of its rows; at least one row), then gives
//   interactive rows the rest of the budget, then gives bulk rows what interactive left. So bulk
//   keeps at least bulk_share of every shared step's tokens (less at most one row) and is never
//   starved. When only one lane has rows queued, it gets the whole step.
// - A pass holds rows of one lane only. Each lane's rows are planned into passes with
//   plan_batches; interactive passes (within max_tokens / max_rows) run first, then the bulk
//   passes. Bulk passes are always short: at most bulk_pass_tokens padded tokens (0: max(bulk_share,
//   1/16) x max_tokens; at least one row), so an interactive request never waits behind a long
//   bulk pass. Bulk-only
//   steps use them too: a query may arrive at any time. The cost is per-pass overhead only
//   (measured with the fake backend, jina3_scheduler_tests "[.bench]": 3,000 rows of 10..200
//   tokens, 2.7x the passes; same time when a pass costs only its padded tokens, +27% with a
//   fixed 0.5 ms per pass; a query beside the job waited at most 6.7 ms instead of 46 ms).
// - Before each bulk pass, other than those holding a shared step's bulk reservation, the worker
//   looks for queued interactive rows; if there are any, it ends the step there and puts the
//   step's bulk rows that did not run back in their queue (they run in a later step, as
//   if never taken). So an interactive request that arrives while bulk work runs waits for at
//   most the bulk pass running then (plus, in a shared step, the reserved bulk passes, which are
//   about one short pass).
// - Within each lane, each request's rows are dispatched longest first, and the lane's passes run
//   shortest first so short requests complete early.
// - A pass that throws fails the requests that had rows in it (with that exception) and only
//   those; the worker goes on.
// - A request whose deadline passes before any of its rows is in a step fails with
//   DeadlineExceeded (a watcher thread fails it on time even while a pass is running).
// - cancel(ticket): the request's queued rows leave the queue, its rows in the current step are
//   skipped, and it fails with Cancelled; if a pass holding its rows is running, its completion
//   waits for that pass to end (the pass writes into the caller's buffers). Counted in cancelled
//   (and lanes[].cancelled, lanes[].cancelled_rows: its rows that never ran), not in failed.
// - Inline mode (use_worker = false): each request runs its own passes on the submitting thread
//   within the full limits; lanes only count in the stats. cancel() from another thread stops it
//   before its next pass (Job::ticket with reserve_ticket() gives that thread the ticket first).
// - Destruction finishes the pass that is running, then fails every unfinished request with
//   Cancelled and wakes blocked submitters with Cancelled (counted in failed).
//
// Stats: the flat counters are sums over the lanes. Per lane: latency_us from submit to a
// successful completion; queue_wait_us from submit to the request's first pass (also summed in
// the flat queue_wait_us); rows_per_pass and tokens_per_pass for each pass of that lane.
#pragma once

#include <atomic>
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
#include <unordered_map>
#include <vector>

#include <jina3/stats.hpp>
#include <jina3/task.hpp>

#include "serving/batch_plan.hpp"

namespace jina3::detail {

using Clock = std::chrono::steady_clock;

// A queued request's name, for cancel(). 0 = no ticket.
using Ticket = std::uint64_t;

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
  Priority priority = Priority::Interactive;  // its lane
  // 0: submit gives the request a new ticket. Otherwise a ticket from reserve_ticket(), for a
  // caller that must be able to cancel before submit returns (inline mode runs inside submit).
  Ticket ticket = 0;
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
  // The share of a shared step's tokens that bulk rows keep, and the size of bulk passes (see
  // Policy). Clamped to 0..1.
  double bulk_share = 0.25;
  // Padded tokens per bulk pass at most; 0 = max(bulk_share, 1/16) x limits.max_tokens.
  std::size_t bulk_pass_tokens = 0;
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

  // Queues job; done is called once it has completed or failed. Returns the request's ticket
  // (job.ticket if set). Throws (and then never calls done): QueueFull when the queue is full and
  // !block; DeadlineExceeded when blocked for room past job.deadline; Cancelled when the
  // scheduler is shutting down; Internal for a job.ticket already in use. A job with no rows
  // completes at once, on this thread, and gets ticket 0.
  Ticket submit(Job job, bool block, Completion done);

  // A new ticket, never 0, for Job::ticket.
  Ticket reserve_ticket() noexcept;

  // Cancels a live request (see Policy): true if this call cancelled it; false if it had already
  // completed, failed or been cancelled, or the ticket is unknown. Any thread, also from inside a
  // completion. done(Cancelled) runs on this thread when no pass holding the request's rows is
  // running, else on the thread running that pass, once it has ended.
  bool cancel(Ticket ticket);

  SchedulerStats stats() const;
  const SchedulerOptions& options() const noexcept { return options_; }

  // What destruction does, once: finish the running pass, cancel the rest, stop the threads.
  // Also called for every live scheduler by an exit() handler. Later submits throw Cancelled.
  void shutdown();

 private:
  struct Request;
  struct Step;
  struct Settled {
    std::shared_ptr<Request> request;
    std::exception_ptr error;
  };
  using Settlement = std::vector<Settled>;
  enum class Outcome { Completed, Failed, DeadlineExceeded, Cancelled, ShutDown };

  void worker_loop(std::function<void()> init);
  void watcher_loop();
  bool has_queued() const;                                   // mutex_ held
  std::size_t queued_requests() const;                       // mutex_ held
  bool budget_full() const;                                  // mutex_ held
  void expire(Clock::time_point now, Settlement& out);       // mutex_ held
  void fill_step(Step& step);                                // mutex_ held
  // One round-robin phase of fill_step over lane's queue into group, while the step stays within
  // token_cap tokens and row_cap rows.
  void fill_lane(Step& step, std::size_t lane, std::size_t group, std::size_t token_cap, std::size_t row_cap);
  // Takes request's next row into step's group if its per-request row cap and token_cap allow (a
  // row that does not fit marks the request blocked for this phase). mutex_ held.
  bool take_row(Step& step, const std::shared_ptr<Request>& request, std::size_t group, std::size_t token_cap);
  // Puts rows of a step that did not run back in their request's queue. mutex_ held.
  void requeue(Request& request, std::size_t row);
  void accept(Request& request);                             // counts an accepted request; mutex_ held
  // Runs the step's passes; returns the requests completed and sets preempted when it stopped
  // for interactive rows. mutex_ not held.
  std::size_t run_step(Step& step, bool& preempted);
  void run_inline(const std::shared_ptr<Request>& request);
  // Decides request's outcome once (later calls do nothing): leaves the queue, counts it, queues
  // its completion in out. mutex_ held.
  void settle(const std::shared_ptr<Request>& request, Outcome outcome, std::exception_ptr error, Settlement& out);
  void finish(Settlement& settled);                          // mutex_ not held; calls the completions
  bool stopping() const;
  void stop_and_cancel();

  PassFunction run_pass_;
  SchedulerOptions options_;

  mutable std::mutex mutex_;
  std::condition_variable work_ready_;        // worker: requests queued, or stopping
  std::condition_variable room_;              // blocked submitters: room in the queue, or stopping
  std::condition_variable deadlines_;         // watcher: a new deadline, or stopping
  std::condition_variable submitters_left_;   // destructor: the last blocked submitter has left
  // Per lane: requests with rows not yet dispatched, in arrival order.
  std::deque<std::shared_ptr<Request>> queue_[kPriorityCount];
  std::unordered_map<Ticket, std::shared_ptr<Request>> live_;  // accepted and not settled, by ticket
  std::size_t unfinished_ = 0;                // accepted and not settled: what max_queued_requests bounds
  std::size_t submitters_ = 0;                // submit() calls blocked for room
  std::size_t pending_rows_[kPriorityCount] = {};    // undispatched rows in queue_, per lane
  std::size_t pending_tokens_[kPriorityCount] = {};  // their tokens
  std::uint64_t arrivals_ = 0;                // requests accepted so far (their arrival order)
  BatchLimits bulk_limits_{};                 // a bulk pass's limits
  std::atomic<Ticket> next_ticket_{1};
  std::size_t expected_ = 0;                  // requests the last step completed
  Clock::time_point last_step_end_{};
  bool stopping_ = false;
  SchedulerStats stats_;
  std::thread worker_;
  std::thread watcher_;
  std::once_flag shut_down_;
};

}  // namespace jina3::detail
