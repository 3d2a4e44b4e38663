// The request scheduler (see scheduler.hpp for the policy).
#include "serving/scheduler.hpp"

#include <algorithm>
#include <cmath>
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

constexpr std::size_t kInteractive = static_cast<std::size_t>(Priority::Interactive);
constexpr std::size_t kBulk = static_cast<std::size_t>(Priority::Bulk);

// A step's rows in three groups, run in this order: interactive rows; the bulk rows of a shared
// step's reservation (run even while interactive rows wait); other bulk rows (the step ends before
// them when interactive rows are queued).
constexpr std::size_t kInteractiveGroup = 0;
constexpr std::size_t kReservedGroup = 1;
constexpr std::size_t kBulkGroup = 2;
constexpr std::size_t kGroups = 3;

std::size_t lane_of(Priority priority) {
  const auto lane = static_cast<std::size_t>(priority);
  return lane < static_cast<std::size_t>(kPriorityCount) ? lane : kInteractive;
}

double clamped_share(double share) {
  if (std::isnan(share)) return 0.25;  // the default
  return std::clamp(share, 0.0, 1.0);
}

// share of total, rounded down, at least 1.
std::size_t share_of(double share, std::size_t total) {
  return std::max<std::size_t>(1, static_cast<std::size_t>(share * static_cast<double>(total)));
}

}  // namespace

struct Scheduler::Request {
  Job job;
  Completion done;
  Ticket ticket = 0;
  std::size_t lane = kInteractive;
  std::uint64_t arrival = 0;         // accept order: where it goes back into its queue
  std::vector<std::size_t> order;    // row indices, longest first: the dispatch order
  std::vector<std::size_t> returned; // rows given back by a step that stopped early, longest last
  std::size_t tokens = 0;            // real tokens over all rows
  std::size_t next = 0;              // rows of order dispatched so far
  std::size_t queued_rows = 0;       // rows not dispatched (order[next..], returned)
  std::size_t queued_tokens = 0;     // their tokens
  std::size_t finished = 0;          // rows whose pass ran successfully
  std::size_t ran = 0;               // rows put into passes that started
  std::size_t in_pass = 0;           // rows in a pass running now
  std::size_t taken = 0;             // rows taken into the step being gathered
  std::size_t step_index = 0;        // its index in that step's requests
  bool queued = false;               // in queue_[lane]
  bool blocked = false;              // scratch while gathering: its next row did not fit
  bool started = false;              // a row has been dispatched (deadline no longer applies)
  bool failed = false;               // a pass of its rows threw; remaining rows are skipped
  bool cancelled = false;            // cancel() took it; remaining rows are skipped
  bool settled = false;              // its outcome is decided (done called or about to be)
  Clock::time_point submitted;

  std::size_t rows() const noexcept { return job.ids.size(); }
  std::size_t length(std::size_t row) const noexcept { return job.ids[row].size(); }
  bool skipped() const noexcept { return failed || cancelled || settled; }
};

struct Scheduler::Step {
  struct Row {
    Request* request;
    std::size_t row;
    std::size_t owner;  // index of the request in requests
  };
  std::vector<Row> groups[kGroups];
  std::vector<std::shared_ptr<Request>> requests;  // each request with rows in the step, once
  std::size_t tokens = 0;
  std::size_t rows = 0;
  std::size_t lane_rows[kPriorityCount] = {};
};

Scheduler::Scheduler(PassFunction run_pass, SchedulerOptions options, std::function<void()> worker_init)
    : run_pass_(std::move(run_pass)), options_(options) {
  options_.limits.max_rows = std::max<std::size_t>(options_.limits.max_rows, 1);
  options_.limits.max_tokens = std::max<std::size_t>(options_.limits.max_tokens, 1);
  options_.max_queued_requests = std::max<std::size_t>(options_.max_queued_requests, 1);
  options_.bulk_share = clamped_share(options_.bulk_share);
  bulk_limits_.max_rows = options_.limits.max_rows;
  bulk_limits_.max_tokens = options_.bulk_pass_tokens > 0
                                ? std::min(options_.bulk_pass_tokens, options_.limits.max_tokens)
                                : share_of(std::max(options_.bulk_share, 1.0 / 16), options_.limits.max_tokens);
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
    const auto error = std::make_exception_ptr(Cancelled("the encoder was destroyed before this request ran"));
    for (auto& queue : queue_) {
      const auto requests = queue;  // settle() edits the queue
      for (const auto& request : requests) settle(request, Outcome::ShutDown, error, cancelled);
    }
  }
  finish(cancelled);
}

Ticket Scheduler::reserve_ticket() noexcept { return next_ticket_.fetch_add(1, std::memory_order_relaxed); }

Ticket Scheduler::submit(Job job, bool block, Completion done) {
  const std::size_t rows = job.ids.size();
  if (job.adapters.size() != rows || job.outputs.size() != rows) {
    throw Error("scheduler: a job's ids, adapters and outputs differ in length", ErrorCode::Internal);
  }
  auto request = std::make_shared<Request>();
  request->job = std::move(job);
  request->done = std::move(done);
  request->lane = lane_of(request->job.priority);
  request->submitted = Clock::now();
  if (rows == 0) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++stats_.requests;
      ++stats_.lanes[request->lane].requests;
    }
    request->done(nullptr);
    return 0;
  }
  request->ticket = request->job.ticket != 0 ? request->job.ticket : reserve_ticket();
  request->order.resize(rows);
  std::iota(request->order.begin(), request->order.end(), std::size_t{0});
  const auto& ids = request->job.ids;
  // Stable: equal lengths keep input order, so the same call is always dispatched the same way.
  std::stable_sort(request->order.begin(), request->order.end(),
                   [&](std::size_t a, std::size_t b) { return ids[a].size() > ids[b].size(); });
  for (const auto& row : ids) request->tokens += row.size();
  request->queued_rows = rows;
  request->queued_tokens = request->tokens;

  if (!options_.use_worker) {
    run_inline(request);
    return request->ticket;
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
    if (live_.count(request->ticket) > 0) throw Error("scheduler: a job's ticket is already in use", ErrorCode::Internal);
    accept(*request);
    live_.emplace(request->ticket, request);
    const std::size_t lane = request->lane;
    pending_rows_[lane] += rows;
    pending_tokens_[lane] += request->tokens;
    request->queued = true;
    queue_[lane].push_back(request);
  }
  work_ready_.notify_one();
  if (has_deadline) deadlines_.notify_one();
  return request->ticket;
}

bool Scheduler::cancel(Ticket ticket) {
  Settlement settled;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = live_.find(ticket);
    if (it == live_.end()) return false;
    const std::shared_ptr<Request> request = it->second;
    if (request->settled || request->cancelled) return false;
    request->cancelled = true;
    // Its queued rows leave the queue now; its rows in the current step are skipped (cancelled).
    if (request->queued) {
      auto& queue = queue_[request->lane];
      queue.erase(std::find(queue.begin(), queue.end(), request));
      pending_rows_[request->lane] -= request->queued_rows;
      pending_tokens_[request->lane] -= request->queued_tokens;
      request->queued = false;
    }
    // A pass holding its rows writes into the caller's buffers: that pass's thread settles it
    // once the pass has ended.
    if (request->in_pass == 0) {
      settle(request, Outcome::Cancelled, std::make_exception_ptr(Cancelled("cancelled by the caller")), settled);
    }
  }
  finish(settled);
  return true;
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

bool Scheduler::has_queued() const {
  for (const auto& queue : queue_) {
    if (!queue.empty()) return true;
  }
  return false;
}

std::size_t Scheduler::queued_requests() const {
  std::size_t n = 0;
  for (const auto& queue : queue_) n += queue.size();
  return n;
}

bool Scheduler::budget_full() const {
  std::size_t rows = 0;
  std::size_t tokens = 0;
  for (std::size_t lane = 0; lane < static_cast<std::size_t>(kPriorityCount); ++lane) {
    rows += pending_rows_[lane];
    tokens += pending_tokens_[lane];
  }
  return rows >= kPassesPerStep * options_.limits.max_rows || tokens >= options_.limits.max_tokens;
}

void Scheduler::worker_loop(std::function<void()> init) {
  if (init) init();
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    work_ready_.wait(lock, [this] { return stopping_ || has_queued(); });
    if (stopping_) break;
    // The callers the last step released are probably about to come back: give them until
    // max_wait after that step to do so, so that they share the next pass instead of trickling
    // into passes of their own.
    if (expected_ > 1 && options_.max_wait.count() > 0) {
      work_ready_.wait_until(lock, last_step_end_ + options_.max_wait,
                             [this] { return stopping_ || queued_requests() >= expected_ || budget_full(); });
      if (stopping_) break;
    }
    Settlement expired;
    expire(Clock::now(), expired);
    Step step;
    fill_step(step);
    lock.unlock();
    finish(expired);
    bool preempted = false;
    const std::size_t completed = run_step(step, preempted);
    lock.lock();
    // Stopped for interactive rows: serve them at once.
    expected_ = preempted ? 0 : completed;
    last_step_end_ = Clock::now();
  }
}

void Scheduler::watcher_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    auto earliest = Clock::time_point::max();
    for (const auto& queue : queue_) {
      for (const auto& request : queue) {
        if (!request->started) earliest = std::min(earliest, request->job.deadline);
      }
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
    finish(expired);
    lock.lock();
  }
}

void Scheduler::expire(Clock::time_point now, Settlement& out) {
  std::vector<std::shared_ptr<Request>> late;
  for (const auto& queue : queue_) {
    for (const auto& request : queue) {
      if (!request->started && !request->settled && request->job.deadline <= now) late.push_back(request);
    }
  }
  for (const auto& request : late) {
    settle(request, Outcome::DeadlineExceeded,
           std::make_exception_ptr(DeadlineExceeded("the request had not started when its deadline (deadline_us) passed")),
           out);
  }
}

void Scheduler::fill_step(Step& step) {
  const std::size_t max_tokens = options_.limits.max_tokens;
  const std::size_t max_rows = kPassesPerStep * options_.limits.max_rows;
  for (const auto& queue : queue_) {
    for (const auto& request : queue) request->taken = 0;
  }
  if (!queue_[kInteractive].empty() && !queue_[kBulk].empty()) {
    // Both lanes have work: bulk's reservation, interactive rows, then bulk rows in what is left.
    fill_lane(step, kBulk, kReservedGroup, share_of(options_.bulk_share, max_tokens),
              share_of(options_.bulk_share, max_rows));
    fill_lane(step, kInteractive, kInteractiveGroup, max_tokens, max_rows);
    fill_lane(step, kBulk, kBulkGroup, max_tokens, max_rows);
  } else if (!queue_[kInteractive].empty()) {
    fill_lane(step, kInteractive, kInteractiveGroup, max_tokens, max_rows);
  } else {
    fill_lane(step, kBulk, kBulkGroup, max_tokens, max_rows);
  }
  // Fully dispatched requests leave the queue; their rows are in the step.
  for (auto& queue : queue_) {
    queue.erase(std::remove_if(queue.begin(), queue.end(),
                               [](const std::shared_ptr<Request>& r) {
                                 if (r->queued_rows > 0) return false;
                                 r->queued = false;
                                 return true;
                               }),
                queue.end());
  }
}

void Scheduler::fill_lane(Step& step, std::size_t lane, std::size_t group, std::size_t token_cap,
                          std::size_t row_cap) {
  auto& queue = queue_[lane];
  for (auto& request : queue) request->blocked = false;
  // Round-robin, one row per request per round, in arrival order. A lane's first row in the step
  // is always taken.
  bool progress = true;
  while (progress && (step.rows < row_cap || step.lane_rows[lane] == 0)) {
    progress = false;
    for (auto& request : queue) {
      if (step.rows >= row_cap && step.lane_rows[lane] > 0) break;
      Request& r = *request;
      if (r.blocked || r.skipped() || !take_row(step, request, group, token_cap)) continue;
      progress = true;
      r.started = true;
    }
  }
}

bool Scheduler::take_row(Step& step, const std::shared_ptr<Request>& request, std::size_t group,
                         std::size_t token_cap) {
  Request& r = *request;
  if (r.queued_rows == 0) return false;
  if (r.job.max_rows_per_pass > 0 && r.taken >= r.job.max_rows_per_pass) return false;
  const std::size_t row = r.returned.empty() ? r.order[r.next] : r.returned.back();
  const std::size_t length = r.length(row);
  if (step.lane_rows[r.lane] > 0 && step.tokens + length > token_cap) {
    r.blocked = true;
    return false;
  }
  if (r.taken == 0) {
    r.step_index = step.requests.size();
    step.requests.push_back(request);
  }
  step.groups[group].push_back(Step::Row{&r, row, r.step_index});
  step.tokens += length;
  ++step.rows;
  ++step.lane_rows[r.lane];
  if (r.returned.empty()) ++r.next;
  else r.returned.pop_back();
  ++r.taken;
  --r.queued_rows;
  r.queued_tokens -= length;
  if (r.queued) {
    --pending_rows_[r.lane];
    pending_tokens_[r.lane] -= length;
  }
  return true;
}

void Scheduler::requeue(Request& r, std::size_t row) {
  const std::size_t length = r.length(row);
  // Longest last: the next row to dispatch is the longest one given back.
  auto at = std::upper_bound(r.returned.begin(), r.returned.end(), length,
                             [&](std::size_t l, std::size_t other) { return l < r.length(other); });
  r.returned.insert(at, row);
  ++r.queued_rows;
  r.queued_tokens += length;
  pending_rows_[r.lane] += 1;
  pending_tokens_[r.lane] += length;
}

std::size_t Scheduler::run_step(Step& step, bool& preempted) {
  preempted = false;
  if (step.rows == 0) return 0;
  // The step's passes, group by group: interactive, the bulk reservation, other bulk rows.
  struct Pass {
    std::size_t group;
    std::vector<std::size_t> rows;  // indices into step.groups[group]
  };
  std::vector<Pass> passes;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (std::size_t group = 0; group < kGroups; ++group) {
      auto& rows = step.groups[group];
      if (rows.empty()) continue;
      // Rows of requests that this step completes go last, so that among rows of equal length they
      // land in the pass that runs first (plan_batches keeps the order of equal lengths, and the
      // passes run in reverse).
      std::stable_partition(rows.begin(), rows.end(), [](const Step::Row& row) { return row.request->queued_rows > 0; });
      std::vector<std::size_t> lengths(rows.size());
      for (std::size_t i = 0; i < lengths.size(); ++i) lengths[i] = rows[i].request->length(rows[i].row);
      // In inline mode each request has the whole limits to itself.
      const BatchLimits& limits =
          group == kInteractiveGroup || !options_.use_worker ? options_.limits : bulk_limits_;
      auto planned = plan_batches(lengths, limits);
      // Shortest first: short requests (queries) complete before the long rows of the same step run.
      for (auto it = planned.rbegin(); it != planned.rend(); ++it) passes.push_back(Pass{group, std::move(*it)});
    }
  }

  std::size_t completed = 0;
  std::vector<PassRow> pass_rows;
  std::vector<Request*> owners;  // per pass row: its request
  std::size_t index = 0;
  bool stopped = false;
  for (; index < passes.size(); ++index) {
    const Pass& pass = passes[index];
    const auto& group = step.groups[pass.group];
    pass_rows.clear();
    owners.clear();
    std::size_t tokens = 0;
    std::size_t longest = 0;
    std::size_t lane = kInteractive;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (options_.use_worker && stopping_) {
        stopped = true;
        break;
      }
      if (options_.use_worker && pass.group == kBulkGroup && pending_rows_[kInteractive] > 0) {
        preempted = true;
        break;
      }
      const auto start = Clock::now();
      for (std::size_t i : pass.rows) {
        Request& r = *group[i].request;
        if (r.skipped()) continue;
        const std::size_t row = group[i].row;
        pass_rows.push_back(PassRow{&r.job.ids[row], r.job.adapters[row], r.job.spec, r.job.outputs[row]});
        owners.push_back(&r);
        lane = r.lane;
        tokens += r.length(row);
        longest = std::max(longest, r.length(row));
        if (r.ran++ == 0) {
          const std::uint64_t wait = micros(start - r.submitted);
          stats_.queue_wait_us += wait;
          stats_.lanes[r.lane].queue_wait_us.add(wait);
        }
        ++r.in_pass;
      }
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

    Settlement outcome;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++stats_.passes;
      stats_.tokens += tokens;
      stats_.padded_tokens += longest * pass_rows.size();
      stats_.pass_us += micros(end - start);
      LaneStats& lane_stats = stats_.lanes[lane];
      ++lane_stats.passes;
      lane_stats.tokens += tokens;
      lane_stats.padded_tokens += longest * pass_rows.size();
      lane_stats.rows_per_pass.add(pass_rows.size());
      lane_stats.tokens_per_pass.add(tokens);
      for (Request* r : owners) {
        --r->in_pass;
        if (error) r->failed = true;
        else ++r->finished;
      }
      for (Request* r : owners) {
        if (r->settled || r->in_pass > 0) continue;
        const auto& request = step.requests[r->step_index];
        if (r->cancelled) {
          settle(request, Outcome::Cancelled, std::make_exception_ptr(Cancelled("cancelled by the caller")), outcome);
        } else if (error) {
          settle(request, Outcome::Failed, error, outcome);
        } else if (r->finished == r->rows()) {
          settle(request, Outcome::Completed, nullptr, outcome);
          ++completed;
        }
      }
    }
    finish(outcome);
  }

  Settlement outcome;
  if (stopped) {
    // Stopped between passes: what the step did not finish is cancelled.
    std::lock_guard<std::mutex> lock(mutex_);
    const auto error = std::make_exception_ptr(Cancelled("the encoder was destroyed before this request finished"));
    for (auto& request : step.requests) settle(request, Outcome::ShutDown, error, outcome);
  } else if (preempted) {
    // Stopped for interactive rows: the bulk rows that did not run go back to their queue.
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<Request*> touched;
    for (; index < passes.size(); ++index) {
      const auto& group = step.groups[passes[index].group];
      for (std::size_t i : passes[index].rows) {
        Request& r = *group[i].request;
        if (r.skipped()) continue;
        requeue(r, group[i].row);
        touched.push_back(&r);
      }
    }
    for (Request* r : touched) {
      if (r->queued) continue;
      r->queued = true;
      auto& queue = queue_[r->lane];
      auto at = std::upper_bound(queue.begin(), queue.end(), r->arrival,
                                 [](std::uint64_t arrival, const std::shared_ptr<Request>& other) {
                                   return arrival < other->arrival;
                                 });
      queue.insert(at, step.requests[r->step_index]);
    }
  }
  finish(outcome);
  return completed;
}

bool Scheduler::stopping() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stopping_;
}

void Scheduler::run_inline(const std::shared_ptr<Request>& request) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (live_.count(request->ticket) > 0) throw Error("scheduler: a job's ticket is already in use", ErrorCode::Internal);
    accept(*request);
    live_.emplace(request->ticket, request);
    request->started = true;
  }
  while (true) {
    Step step;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (request->skipped() || request->queued_rows == 0) break;
      request->taken = 0;
      while (step.rows < options_.limits.max_rows && take_row(step, request, kInteractiveGroup, options_.limits.max_tokens)) {
      }
    }
    bool preempted = false;
    run_step(step, preempted);
  }
}

void Scheduler::accept(Request& request) {
  request.arrival = arrivals_++;
  ++unfinished_;
  ++stats_.requests;
  stats_.rows += request.rows();
  LaneStats& lane = stats_.lanes[request.lane];
  ++lane.requests;
  lane.rows += request.rows();
  stats_.queue_depth = unfinished_;
  stats_.max_queue_depth = std::max<std::uint64_t>(stats_.max_queue_depth, unfinished_);
}

void Scheduler::settle(const std::shared_ptr<Request>& request, Outcome outcome, std::exception_ptr error,
                       Settlement& out) {
  Request& r = *request;
  if (r.settled) return;
  r.settled = true;
  if (r.queued) {
    auto& queue = queue_[r.lane];
    queue.erase(std::find(queue.begin(), queue.end(), request));
    pending_rows_[r.lane] -= r.queued_rows;
    pending_tokens_[r.lane] -= r.queued_tokens;
    r.queued = false;
  }
  live_.erase(r.ticket);
  unfinished_ -= std::min<std::size_t>(unfinished_, 1);
  stats_.queue_depth = unfinished_;
  LaneStats& lane = stats_.lanes[r.lane];
  switch (outcome) {
    case Outcome::Completed:
      lane.latency_us.add(micros(Clock::now() - r.submitted));
      break;
    case Outcome::Failed:
    case Outcome::ShutDown:
      ++stats_.failed;
      break;
    case Outcome::DeadlineExceeded:
      ++stats_.deadline_exceeded;
      break;
    case Outcome::Cancelled:
      ++stats_.cancelled;
      ++lane.cancelled;
      lane.cancelled_rows += r.rows() - std::min(r.rows(), r.ran);
      break;
  }
  out.push_back(Settled{request, std::move(error)});
}

void Scheduler::finish(Settlement& settled) {
  if (settled.empty()) return;
  room_.notify_all();
  for (auto& entry : settled) {
    Completion done = std::move(entry.request->done);
    if (done) done(entry.error);
  }
  settled.clear();
}

}  // namespace jina3::detail
