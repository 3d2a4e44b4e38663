// The request scheduler (see scheduler.hpp for the policy).
#include "serving/scheduler.hpp"

#include <algorithm>
#include <cstdlib>
#include <numeric>
#include <string>
#include <utility>

#include <jina3/errors.hpp>

namespace jina3::detail {
namespace {

std::uint64_t micros(Clock::duration d) {
  return static_cast<std::uint64_t>(std::max<std::int64_t>(
      0, std::chrono::duration_cast<std::chrono::microseconds>(d).count()));
}

// Every live scheduler, so that exit() can stop them: a process that exits while a worker is in
// a forward pass would otherwise tear LibTorch's thread pools down under that pass (its atexit
// handlers were registered earlier, so they run after this one). Leaked on purpose: schedulers
// of static encoders may be destroyed after any static registry would be.
struct Registry {
  std::mutex mutex;
  std::vector<Scheduler*> live;
};

Registry& registry() {
  static Registry* instance = [] {
    auto* created = new Registry;
    std::atexit([] {
      Registry& r = registry();
      std::lock_guard<std::mutex> lock(r.mutex);
      for (Scheduler* scheduler : r.live) scheduler->shutdown();
    });
    return created;
  }();
  return *instance;
}

// A step may hold the rows of a few passes: the token budget is what shares a step between
// requests, and a row cap of one pass would starve a long request whenever one-row requests fill
// the rows (60 queries + 4 passages per step measured 21% of the passages' solo throughput).
constexpr std::size_t kPassesPerStep = 4;

}  // namespace

struct Scheduler::Request {
  Job job;
  Completion done;
  std::vector<std::size_t> order;  // row indices, longest first: the dispatch order
  std::size_t tokens = 0;          // real tokens over all rows
  std::size_t next = 0;            // rows of order dispatched so far
  std::size_t finished = 0;        // rows whose pass has run
  std::size_t taken = 0;           // rows taken into the step being gathered
  std::size_t step_index = 0;      // its index in that step's requests
  bool blocked = false;            // scratch while gathering: its next row did not fit
  bool started = false;            // a row has been dispatched (deadline no longer applies)
  bool failed = false;             // a pass of its rows threw; remaining rows are skipped
  bool settled = false;            // its outcome is decided (done called or about to be)
  Clock::time_point submitted;

  std::size_t rows() const noexcept { return job.ids.size(); }
};

struct Scheduler::Step {
  struct Row {
    Request* request;
    std::size_t row;
    std::size_t owner;  // index of the request in requests
  };
  std::vector<Row> rows;
  std::vector<std::shared_ptr<Request>> requests;  // each request with rows in the step, once
  std::size_t tokens = 0;
};

Scheduler::Scheduler(PassFunction run_pass, SchedulerOptions options, std::function<void()> worker_init)
    : run_pass_(std::move(run_pass)), options_(options) {
  options_.limits.max_rows = std::max<std::size_t>(options_.limits.max_rows, 1);
  options_.limits.max_tokens = std::max<std::size_t>(options_.limits.max_tokens, 1);
  options_.max_queued_requests = std::max<std::size_t>(options_.max_queued_requests, 1);
  if (options_.use_worker) {
    worker_ = std::thread([this, init = std::move(worker_init)]() mutable { worker_loop(std::move(init)); });
    watcher_ = std::thread([this] { watcher_loop(); });
  }
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.live.push_back(this);
}

Scheduler::~Scheduler() {
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    r.live.erase(std::remove(r.live.begin(), r.live.end(), this), r.live.end());
  }
  shutdown();
}

void Scheduler::shutdown() {
  std::call_once(shut_down_, [this] { stop_and_cancel(); });
}

void Scheduler::stop_and_cancel() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  room_.notify_all();
  deadlines_.notify_all();
  // exit() called from a completion callback runs this on the worker itself: it cannot join itself.
  for (std::thread* thread : {&worker_, &watcher_}) {
    if (!thread->joinable()) continue;
    if (thread->get_id() == std::this_thread::get_id()) thread->detach();
    else thread->join();
  }
  Settlement cancelled;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    // Blocked submitters leave submit() with Cancelled; wait until none is inside it any more.
    submitters_left_.wait(lock, [this] { return submitters_ == 0; });
    for (auto& request : queue_) {
      if (!request->settled) cancelled.emplace_back(request, nullptr);
    }
    queue_.clear();
  }
  const auto error = std::make_exception_ptr(Cancelled("the encoder was destroyed before this request ran"));
  for (auto& entry : cancelled) entry.second = error;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.failed += cancelled.size();
  }
  settle(cancelled);
}

void Scheduler::submit(Job job, bool block, Completion done) {
  const std::size_t rows = job.ids.size();
  if (job.adapters.size() != rows || job.outputs.size() != rows) {
    throw Error("scheduler: a job's ids, adapters and outputs differ in length", ErrorCode::Internal);
  }
  auto request = std::make_shared<Request>();
  request->job = std::move(job);
  request->done = std::move(done);
  request->submitted = Clock::now();
  if (rows == 0) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++stats_.requests;
    }
    request->done(nullptr);
    return;
  }
  request->order.resize(rows);
  std::iota(request->order.begin(), request->order.end(), std::size_t{0});
  const auto& ids = request->job.ids;
  // Stable: equal lengths keep input order, so the same call is always dispatched the same way.
  std::stable_sort(request->order.begin(), request->order.end(),
                   [&](std::size_t a, std::size_t b) { return ids[a].size() > ids[b].size(); });
  for (const auto& row : ids) request->tokens += row.size();

  if (!options_.use_worker) {
    run_inline(request);
    return;
  }

  const bool has_deadline = request->job.deadline != Clock::time_point::max();
  {
    std::unique_lock<std::mutex> lock(mutex_);
    if (stopping_) throw Cancelled("the encoder is shutting down");
    if (unfinished_ >= options_.max_queued_requests) {
      if (!block) {
        ++stats_.rejected;
        throw QueueFull("the encoder's request queue is full (" + std::to_string(options_.max_queued_requests) +
                        " requests, max_queued_requests); try again later or let the call wait");
      }
      ++submitters_;
      const auto has_room = [this] { return stopping_ || unfinished_ < options_.max_queued_requests; };
      bool room = true;
      if (has_deadline) room = room_.wait_until(lock, request->job.deadline, has_room);
      else room_.wait(lock, has_room);
      --submitters_;
      if (stopping_) {
        submitters_left_.notify_all();
        throw Cancelled("the encoder is shutting down");
      }
      if (!room) {
        ++stats_.deadline_exceeded;
        throw DeadlineExceeded("the request's deadline passed while it waited for room in the full queue");
      }
    }
    accept(*request);
    pending_rows_ += rows;
    pending_tokens_ += request->tokens;
    queue_.push_back(request);
  }
  work_ready_.notify_one();
  if (has_deadline) deadlines_.notify_one();
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

bool Scheduler::budget_full() const {
  return pending_rows_ >= kPassesPerStep * options_.limits.max_rows || pending_tokens_ >= options_.limits.max_tokens;
}

void Scheduler::worker_loop(std::function<void()> init) {
  if (init) init();
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    work_ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) break;
    // The callers the last step released are probably about to come back: give them until
    // max_wait after that step to do so, so that they share the next pass instead of trickling
    // into passes of their own.
    if (expected_ > 1 && options_.max_wait.count() > 0) {
      work_ready_.wait_until(lock, last_step_end_ + options_.max_wait,
                             [this] { return stopping_ || queue_.size() >= expected_ || budget_full(); });
      if (stopping_) break;
    }
    const auto now = Clock::now();
    Settlement expired;
    expire(now, expired);
    Step step;
    fill_step(step, now);
    // Fully dispatched requests leave the queue; their rows are in the step.
    queue_.erase(std::remove_if(queue_.begin(), queue_.end(),
                                [](const std::shared_ptr<Request>& r) { return r->next == r->rows(); }),
                 queue_.end());
    lock.unlock();
    settle(expired);
    const std::size_t completed = run_step(step);
    lock.lock();
    expected_ = completed;
    last_step_end_ = Clock::now();
  }
}

void Scheduler::watcher_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    auto earliest = Clock::time_point::max();
    for (const auto& request : queue_) {
      if (!request->started) earliest = std::min(earliest, request->job.deadline);
    }
    if (earliest == Clock::time_point::max()) {
      deadlines_.wait(lock);
      continue;
    }
    deadlines_.wait_until(lock, earliest);
    if (stopping_) break;
    Settlement expired;
    expire(Clock::now(), expired);
    if (expired.empty()) continue;
    lock.unlock();
    settle(expired);
    lock.lock();
  }
}

void Scheduler::expire(Clock::time_point now, Settlement& out) {
  auto keep = queue_.begin();
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    auto& request = *it;
    if (!request->started && !request->settled && request->job.deadline <= now) {
      ++stats_.deadline_exceeded;
      out.emplace_back(request, std::make_exception_ptr(DeadlineExceeded(
                                    "the request had not started when its deadline (deadline_us) passed")));
    } else {
      *keep++ = std::move(request);
    }
  }
  queue_.erase(keep, queue_.end());
  for (auto& entry : out) {
    // Never started, so all of its rows and tokens were pending.
    pending_rows_ -= entry.first->rows();
    pending_tokens_ -= entry.first->tokens;
  }
}

void Scheduler::fill_step(Step& step, Clock::time_point now) {
  const std::size_t max_rows = kPassesPerStep * options_.limits.max_rows;
  for (auto& request : queue_) {
    request->taken = 0;
    request->blocked = false;
  }
  // Round-robin, one row per request per round, in arrival order.
  bool progress = true;
  while (progress && step.rows.size() < max_rows) {
    progress = false;
    for (auto& request : queue_) {
      if (step.rows.size() >= max_rows) break;
      Request& r = *request;
      if (r.blocked || r.settled || !take_row(step, request)) continue;
      progress = true;
      if (!r.started) {
        r.started = true;
        stats_.queue_wait_us += micros(now - r.submitted);
      }
    }
  }
  // The step's rows are no longer pending (step.tokens is their token count).
  pending_rows_ -= step.rows.size();
  pending_tokens_ -= std::min(pending_tokens_, step.tokens);
}

std::size_t Scheduler::run_step(Step& step) {
  if (step.rows.empty()) return 0;
  // Rows of requests that this step completes go last, so that among rows of equal length they
  // land in the pass that runs first (plan_batches keeps the order of equal lengths, and the
  // passes run in reverse).
  std::stable_partition(step.rows.begin(), step.rows.end(), [](const Step::Row& row) {
    return row.request->next < row.request->rows();
  });
  std::vector<std::size_t> lengths(step.rows.size());
  for (std::size_t i = 0; i < lengths.size(); ++i) lengths[i] = step.rows[i].request->job.ids[step.rows[i].row].size();
  auto passes = plan_batches(lengths, options_.limits);
  // Shortest first: short requests (queries) complete before the long rows of the same step run.
  std::reverse(passes.begin(), passes.end());

  std::size_t completed = 0;
  std::vector<PassRow> pass_rows;
  std::vector<std::size_t> owners;  // per pass row: its request's index in step.requests
  for (const auto& pass : passes) {
    if (options_.use_worker && stopping()) break;
    pass_rows.clear();
    owners.clear();
    std::size_t tokens = 0;
    std::size_t longest = 0;
    for (std::size_t index : pass) {
      Request& r = *step.rows[index].request;
      if (r.failed || r.settled) continue;
      const std::size_t row = step.rows[index].row;
      pass_rows.push_back(PassRow{&r.job.ids[row], r.job.adapters[row], r.job.spec, r.job.outputs[row]});
      owners.push_back(step.rows[index].owner);
      tokens += r.job.ids[row].size();
      longest = std::max(longest, r.job.ids[row].size());
    }
    if (pass_rows.empty()) continue;

    std::exception_ptr error;
    const auto start = Clock::now();
    try {
      run_pass_(pass_rows);
    } catch (...) {
      error = std::current_exception();
    }
    const auto end = Clock::now();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++stats_.passes;
      stats_.tokens += tokens;
      stats_.padded_tokens += longest * pass_rows.size();
      stats_.pass_us += micros(end - start);
    }

    Settlement outcome;
    for (std::size_t owner : owners) {
      const auto& request = step.requests[owner];
      if (error) {
        if (!request->failed) {
          request->failed = true;
          outcome.emplace_back(request, error);
        }
      } else if (++request->finished == request->rows()) {
        outcome.emplace_back(request, nullptr);
        ++completed;
      }
    }
    if (error) {
      std::lock_guard<std::mutex> lock(mutex_);
      stats_.failed += outcome.size();
    }
    settle(outcome);
  }

  // Stopped between passes: what the step did not finish is cancelled.
  if (options_.use_worker && stopping()) {
    Settlement cancelled;
    const auto error = std::make_exception_ptr(Cancelled("the encoder was destroyed before this request finished"));
    for (auto& request : step.requests) {
      if (!request->settled) cancelled.emplace_back(request, error);
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stats_.failed += cancelled.size();
    }
    settle(cancelled);
  }
  return completed;
}

bool Scheduler::stopping() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stopping_;
}

void Scheduler::run_inline(const std::shared_ptr<Request>& request) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    accept(*request);
  }
  request->started = true;
  while (!request->settled && request->next < request->rows()) {
    Step step;
    request->taken = 0;
    while (step.rows.size() < options_.limits.max_rows && take_row(step, request)) {
    }
    run_step(step);
  }
}

bool Scheduler::take_row(Step& step, const std::shared_ptr<Request>& request) const {
  Request& r = *request;
  if (r.next == r.rows()) return false;
  if (r.job.max_rows_per_pass > 0 && r.taken >= r.job.max_rows_per_pass) return false;
  const std::size_t row = r.order[r.next];
  const std::size_t length = r.job.ids[row].size();
  if (!step.rows.empty() && step.tokens + length > options_.limits.max_tokens) {
    r.blocked = true;
    return false;
  }
  if (r.taken == 0) {
    r.step_index = step.requests.size();
    step.requests.push_back(request);
  }
  step.rows.push_back(Step::Row{&r, row, r.step_index});
  step.tokens += length;
  ++r.next;
  ++r.taken;
  return true;
}

void Scheduler::accept(const Request& request) {
  ++unfinished_;
  ++stats_.requests;
  stats_.rows += request.rows();
  stats_.queue_depth = unfinished_;
  stats_.max_queue_depth = std::max<std::uint64_t>(stats_.max_queue_depth, unfinished_);
}

void Scheduler::settle(Settlement& outcomes) {
  if (outcomes.empty()) return;
  std::size_t released = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto keep = outcomes.begin();
    for (auto& entry : outcomes) {
      Request& r = *entry.first;
      if (r.settled) continue;  // decided elsewhere already
      r.settled = true;
      if (entry.second) {
        // A failed request may still have rows queued: drop them.
        auto it = std::find(queue_.begin(), queue_.end(), entry.first);
        if (it != queue_.end()) {
          for (std::size_t i = r.next; i < r.rows(); ++i) pending_tokens_ -= r.job.ids[r.order[i]].size();
          pending_rows_ -= r.rows() - r.next;
          queue_.erase(it);
        }
      }
      ++released;
      *keep++ = std::move(entry);
    }
    outcomes.erase(keep, outcomes.end());
    unfinished_ -= std::min(unfinished_, released);
    stats_.queue_depth = unfinished_;
  }
  if (released > 0) room_.notify_all();
  for (auto& entry : outcomes) {
    Completion done = std::move(entry.first->done);
    if (done) done(entry.second);
  }
}

}  // namespace jina3::detail
