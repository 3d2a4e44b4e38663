// Unit tests of the request scheduler (src/serving/scheduler.hpp) with a fake backend: no
// LibTorch, so the whole program can run under ThreadSanitizer (scripts/test.sh,
// JINA3_SANITIZE=thread). The cache's tests share the program: test_cache.cpp.
//
// The fake pass writes a deterministic function of each row's ids, so a row that went to the
// wrong request or the wrong place shows up as a wrong value. Every row's ids start with its
// request's number and its row index, which lets the fake record each pass's composition.
// Special ids make a pass throw (kThrowId) or wait at a gate the test opens (kGateId), which makes
// "a pass is running now" a fact rather than a guess about timing.
#include <catch2/catch.hpp>

#include "watchdog.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <jina3/errors.hpp>

#include "serving/batch_plan.hpp"
#include "serving/scheduler.hpp"

using namespace std::chrono_literals;
using jina3::detail::Clock;
using jina3::detail::Completion;
using jina3::detail::Job;
using jina3::detail::PassRow;
using jina3::detail::Scheduler;
using jina3::detail::SchedulerOptions;
using jina3::detail::SchedulerStats;
using jina3::detail::Ticket;
using jina3::Priority;

namespace {

using jina3::test::Watchdog;

constexpr std::int32_t kThrowId = 900001;  // a pass with a row holding this id throws FakeFailure
constexpr std::int32_t kGateId = 900002;   // a pass with a row holding this id waits until the gate opens
constexpr float kUnwritten = -7.5f;        // what output buffers hold before the scheduler writes them
constexpr std::size_t kGuard = 8;          // floats after each request's outputs that must stay untouched

struct FakeFailure : std::runtime_error {
  FakeFailure() : std::runtime_error("fake pass failure") {}
};

// The value the fake writes at position d of a row's output. Weighted so that rows differing only
// in order or in one id give different values; small enough to be exact in a float.
// The fake backend's per-row instructions (the scheduler hands Job::spec through unread).
struct RowSpec {
  std::size_t dims = 4;
  bool normalize = true;
};

float expected_value(const std::vector<std::int32_t>& ids, std::int64_t adapter, bool normalize, std::size_t d) {
  std::int64_t h = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) h = (h + static_cast<std::int64_t>(i + 1) * ids[i]) % 1000003;
  return static_cast<float>(h) + static_cast<float>(d) + 4096.0f * static_cast<float>(adapter + 1) +
         (normalize ? 0.25f : 0.0f);
}

struct RecordedRow {
  int request;
  int row;
  std::size_t length;
};

struct RecordedPass {
  std::vector<RecordedRow> rows;
  bool threw = false;
  Clock::time_point start;
};

// The backend. Thread-safe: in inline mode passes run concurrently on the submitting threads.
class FakeBackend {
 public:
  jina3::detail::PassFunction function() {
    return [this](const std::vector<PassRow>& rows) { run(rows); };
  }

  void set_sleep(std::chrono::microseconds sleep) { sleep_us_ = sleep.count(); }
  // Each pass also sleeps this long per padded token (rows x longest row).
  void set_sleep_per_padded_token(std::chrono::nanoseconds sleep) { sleep_per_token_ns_ = sleep.count(); }

  // Called after a pass has written its rows, with each row's request number: the test checks
  // there that no request was completed while a pass still wrote into its buffers.
  void set_after_write(std::function<void(int request)> check) {
    std::lock_guard<std::mutex> lock(mutex_);
    after_write_ = std::move(check);
  }

  // Passes holding kGateId wait until open_gate(). The gate starts open.
  void close_gate() {
    std::lock_guard<std::mutex> lock(mutex_);
    gate_open_ = false;
  }
  void open_gate() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      gate_open_ = true;
    }
    cv_.notify_all();
  }
  // True once a pass is waiting at the (closed) gate.
  bool wait_at_gate(std::chrono::milliseconds timeout = 10000ms) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, timeout, [this] { return at_gate_ > 0; });
  }

  std::vector<RecordedPass> passes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return passes_;
  }
  std::size_t pass_count() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return passes_.size();
  }
  int max_overlap() const { return max_overlap_.load(); }

 private:
  void run(const std::vector<PassRow>& rows) {
    int now = ++running_;
    int seen = max_overlap_.load();
    while (now > seen && !max_overlap_.compare_exchange_weak(seen, now)) {
    }
    RecordedPass record;
    record.start = Clock::now();
    bool gate = false;
    bool fail = false;
    for (const PassRow& row : rows) {
      const auto& ids = *row.ids;
      record.rows.push_back({ids.size() > 0 ? ids[0] : -1, ids.size() > 1 ? ids[1] : -1, ids.size()});
      for (std::int32_t id : ids) {
        gate = gate || id == kGateId;
        fail = fail || id == kThrowId;
      }
    }
    record.threw = fail;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      passes_.push_back(record);
    }
    if (gate) {
      std::unique_lock<std::mutex> lock(mutex_);
      ++at_gate_;
      cv_.notify_all();
      cv_.wait(lock, [this] { return gate_open_; });
      --at_gate_;
    }
    if (sleep_us_ > 0) std::this_thread::sleep_for(std::chrono::microseconds(sleep_us_.load()));
    if (sleep_per_token_ns_ > 0) {
      std::size_t longest = 0;
      for (const PassRow& row : rows) longest = std::max(longest, row.ids->size());
      std::this_thread::sleep_for(std::chrono::nanoseconds(sleep_per_token_ns_.load() *
                                                           static_cast<long long>(longest * rows.size())));
    }
    for (const PassRow& row : rows) {
      const auto& spec = *static_cast<const RowSpec*>(row.spec);
      for (std::size_t d = 0; d < spec.dims; ++d) row.output[d] = expected_value(*row.ids, row.adapter, spec.normalize, d);
    }
    std::function<void(int)> after_write;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      after_write = after_write_;
    }
    if (after_write) {
      for (const PassRow& row : rows) after_write((*row.ids)[0]);
    }
    --running_;
    if (fail) throw FakeFailure();
  }

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<RecordedPass> passes_;
  bool gate_open_ = true;
  int at_gate_ = 0;
  std::atomic<long long> sleep_us_{0};
  std::atomic<long long> sleep_per_token_ns_{0};
  std::function<void(int)> after_write_;
  std::atomic<int> running_{0};
  std::atomic<int> max_overlap_{0};
};

// Opens the gate when a test leaves early, so that the scheduler's destructor (which finishes the
// running pass) cannot wait forever on a pass held at the gate. Declare it after the scheduler.
struct GateOpener {
  FakeBackend& backend;
  ~GateOpener() { backend.open_gate(); }
};

std::atomic<int> next_request_number{1};
std::atomic<std::uint64_t> completion_sequence{0};

// One request as the test sees it: its rows, the buffer the scheduler writes into, and what its
// completion reported.
class TestRequest {
 public:
  // lengths: per row, at least 2 (the request number and row index come first).
  explicit TestRequest(const std::vector<std::size_t>& lengths, std::size_t dims = 4, std::uint32_t seed = 1)
      : number_(next_request_number++), dims_(dims) {
    std::mt19937 random(seed ^ static_cast<std::uint32_t>(number_ * 2654435761u));
    for (std::size_t r = 0; r < lengths.size(); ++r) {
      std::vector<std::int32_t> row = {number_, static_cast<std::int32_t>(r)};
      while (row.size() < std::max<std::size_t>(lengths[r], 2)) row.push_back(static_cast<std::int32_t>(5 + random() % 5000));
      ids_.push_back(std::move(row));
      adapters_.push_back(static_cast<std::int64_t>(random() % 6) - 1);
    }
    spec_.dims = dims_;
    spec_.normalize = random() % 2 == 0;
    buffer_.assign(lengths.size() * dims_ + kGuard, kUnwritten);
  }
  TestRequest(const TestRequest&) = delete;
  TestRequest& operator=(const TestRequest&) = delete;

  int number() const { return number_; }
  std::size_t rows() const { return ids_.size(); }
  // Puts a marker id into one row (after the request number and row index).
  void mark_row(std::size_t row, std::int32_t marker) {
    if (ids_[row].size() < 3) ids_[row].push_back(marker);
    else ids_[row][2] = marker;
  }
  Clock::time_point deadline = Clock::time_point::max();
  std::size_t max_rows_per_pass = 0;
  Priority priority = Priority::Interactive;
  Ticket reserved = 0;  // Job::ticket

  Job job() {
    Job job;
    job.ids = ids_;
    job.adapters = adapters_;
    for (std::size_t r = 0; r < ids_.size(); ++r) job.outputs.push_back(buffer_.data() + r * dims_);
    job.spec = &spec_;
    job.max_rows_per_pass = max_rows_per_pass;
    job.deadline = deadline;
    job.priority = priority;
    job.ticket = reserved;
    return job;
  }

  // Runs first in the completion, on the completing thread (e.g. to cancel another request).
  std::function<void()> before_completion;

  Completion completion() {
    return [this](std::exception_ptr error) {
      if (before_completion) before_completion();
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ++calls_;
        error_ = error;
        completed_at_ = Clock::now();
        sequence_ = ++completion_sequence;
        thread_ = std::this_thread::get_id();
      }
      cv_.notify_all();
    };
  }

  // Submits to scheduler; returns what submit threw (nullptr if it accepted the request).
  std::exception_ptr submit(Scheduler& scheduler, bool block = true) {
    submitted_at_ = Clock::now();
    try {
      const Ticket ticket = scheduler.submit(job(), block, completion());
      std::lock_guard<std::mutex> lock(mutex_);
      ticket_ = ticket;
    } catch (...) {
      return std::current_exception();
    }
    return nullptr;
  }

  bool wait(std::chrono::milliseconds timeout = 20000ms) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, timeout, [this] { return calls_ > 0; });
  }
  bool done() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return calls_ > 0;
  }
  int calls() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return calls_;
  }
  // What submit returned (0 before it returned).
  Ticket ticket() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return ticket_;
  }
  std::exception_ptr error() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return error_;
  }
  bool ok() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return calls_ == 1 && !error_;
  }
  std::uint64_t sequence() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return sequence_;
  }
  std::thread::id completion_thread() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return thread_;
  }
  // From submit to completion.
  std::chrono::microseconds latency() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::chrono::duration_cast<std::chrono::microseconds>(completed_at_ - submitted_at_);
  }

  // Rows written with the wrong value (or not at all), plus 1 if the guard after them was touched.
  std::size_t wrong_outputs() const {
    std::size_t wrong = 0;
    for (std::size_t r = 0; r < ids_.size(); ++r) {
      for (std::size_t d = 0; d < dims_; ++d) {
        if (buffer_[r * dims_ + d] != expected_value(ids_[r], adapters_[r], spec_.normalize, d)) {
          ++wrong;
          break;
        }
      }
    }
    for (std::size_t g = 0; g < kGuard; ++g) {
      if (buffer_[ids_.size() * dims_ + g] != kUnwritten) return wrong + 1;
    }
    return wrong;
  }

 private:
  int number_;
  std::size_t dims_;
  RowSpec spec_;
  std::vector<std::vector<std::int32_t>> ids_;
  std::vector<std::int64_t> adapters_;
  std::vector<float> buffer_;
  Clock::time_point submitted_at_{};

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  int calls_ = 0;
  std::exception_ptr error_;
  Clock::time_point completed_at_{};
  std::uint64_t sequence_ = 0;
  std::thread::id thread_{};
  Ticket ticket_ = 0;
};

template <typename E>
bool holds(const std::exception_ptr& error) {
  if (!error) return false;
  try {
    std::rethrow_exception(error);
  } catch (const E&) {
    return true;
  } catch (...) {
    return false;
  }
}

std::string describe(const std::exception_ptr& error) {
  if (!error) return "no error";
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}

// Passes (indices into passes) holding a row of request number.
std::vector<std::size_t> passes_of(const std::vector<RecordedPass>& passes, int request) {
  std::vector<std::size_t> found;
  for (std::size_t p = 0; p < passes.size(); ++p) {
    for (const RecordedRow& row : passes[p].rows) {
      if (row.request == request) {
        found.push_back(p);
        break;
      }
    }
  }
  return found;
}

// Checks what must hold of any recorded history: each pass within the limits (a row longer than
// max_tokens alone), each successful request's rows run exactly once, and a request failed by a
// pass exactly when one of its rows was in a pass that threw.
void check_history(const std::vector<RecordedPass>& passes, const std::vector<std::unique_ptr<TestRequest>>& requests,
                   const jina3::BatchLimits& limits) {
  std::map<std::pair<int, int>, int> runs;
  std::set<int> failed_by_pass;
  std::size_t over_limits = 0;
  for (const RecordedPass& pass : passes) {
    std::size_t longest = 0;
    for (const RecordedRow& row : pass.rows) {
      longest = std::max(longest, row.length);
      ++runs[{row.request, row.row}];
      if (pass.threw) failed_by_pass.insert(row.request);
    }
    if (pass.rows.empty() || pass.rows.size() > limits.max_rows ||
        (pass.rows.size() > 1 && pass.rows.size() * longest > limits.max_tokens)) {
      ++over_limits;
    }
  }
  CHECK(over_limits == 0);
  std::size_t wrong_runs = 0;
  std::size_t wrong_outcome = 0;
  std::size_t wrong_values = 0;
  for (const auto& request : requests) {
    bool failed = failed_by_pass.count(request->number()) > 0;
    if (failed != holds<FakeFailure>(request->error()) || request->calls() != 1) ++wrong_outcome;
    if (failed) continue;
    for (std::size_t r = 0; r < request->rows(); ++r) {
      auto it = runs.find({request->number(), static_cast<int>(r)});
      if (it == runs.end() || it->second != 1) ++wrong_runs;
    }
    if (request->wrong_outputs() != 0) ++wrong_values;
  }
  CHECK(wrong_outcome == 0);
  CHECK(wrong_runs == 0);
  CHECK(wrong_values == 0);
}

std::size_t lane_index(Priority priority) { return static_cast<std::size_t>(priority); }

std::map<int, Priority> lanes_of(const std::vector<std::unique_ptr<TestRequest>>& requests) {
  std::map<int, Priority> lanes;
  for (const auto& request : requests) lanes[request->number()] = request->priority;
  return lanes;
}

// The lane of each pass's rows; -1 for a pass with rows of both lanes (or of an unknown request).
std::vector<int> pass_lanes(const std::vector<RecordedPass>& passes, const std::map<int, Priority>& lanes) {
  std::vector<int> found;
  for (const RecordedPass& pass : passes) {
    std::set<int> seen;
    for (const RecordedRow& row : pass.rows) {
      auto it = lanes.find(row.request);
      seen.insert(it == lanes.end() ? -1 : static_cast<int>(it->second));
    }
    found.push_back(seen.size() == 1 ? *seen.begin() : -1);
  }
  return found;
}

std::size_t padded_tokens(const RecordedPass& pass) {
  std::size_t longest = 0;
  for (const RecordedRow& row : pass.rows) longest = std::max(longest, row.length);
  return longest * pass.rows.size();
}

std::size_t real_tokens(const RecordedPass& pass) {
  std::size_t tokens = 0;
  for (const RecordedRow& row : pass.rows) tokens += row.length;
  return tokens;
}

// Rows of request that ran in a recorded pass.
std::size_t rows_run(const std::vector<RecordedPass>& passes, int request) {
  std::size_t n = 0;
  for (const RecordedPass& pass : passes) {
    for (const RecordedRow& row : pass.rows) n += row.request == request;
  }
  return n;
}

// What must hold of the per-lane stats after any history with no request still running: passes
// never mix lanes, the lanes add up to the flat counters, and each lane's counters and histograms
// count that lane's requests and passes.
void check_lane_stats(const SchedulerStats& stats, const std::vector<RecordedPass>& passes,
                      const std::vector<std::unique_ptr<TestRequest>>& requests) {
  const auto lanes = lanes_of(requests);
  const std::vector<int> of_pass = pass_lanes(passes, lanes);
  CHECK(std::count(of_pass.begin(), of_pass.end(), -1) == 0);
  std::uint64_t sums[5] = {};
  for (int p = 0; p < jina3::kPriorityCount; ++p) {
    const jina3::LaneStats& lane = stats.lanes[p];
    INFO("lane " << p);
    std::uint64_t requests_in = 0, rows_in = 0, ok = 0, had_pass = 0, cancelled = 0, cancelled_rows = 0;
    for (const auto& request : requests) {
      if (static_cast<int>(request->priority) != p || !request->done()) continue;
      ++requests_in;
      rows_in += request->rows();
      ok += request->ok();
      const std::size_t ran = rows_run(passes, request->number());
      had_pass += ran > 0;
      if (holds<jina3::Cancelled>(request->error())) {
        ++cancelled;
        cancelled_rows += request->rows() - ran;
      }
    }
    std::uint64_t lane_passes = 0, pass_rows = 0, tokens = 0, padded = 0;
    for (std::size_t i = 0; i < passes.size(); ++i) {
      if (of_pass[i] != p) continue;
      ++lane_passes;
      pass_rows += passes[i].rows.size();
      tokens += real_tokens(passes[i]);
      padded += padded_tokens(passes[i]);
    }
    CHECK(lane.requests == requests_in);
    CHECK(lane.rows == rows_in);
    CHECK(lane.passes == lane_passes);
    CHECK(lane.tokens == tokens);
    CHECK(lane.padded_tokens == padded);
    CHECK(lane.cancelled == cancelled);
    CHECK(lane.cancelled_rows == cancelled_rows);
    CHECK(lane.rows_per_pass.count == lane_passes);
    CHECK(lane.rows_per_pass.sum == pass_rows);
    CHECK(lane.tokens_per_pass.count == lane_passes);
    CHECK(lane.tokens_per_pass.sum == tokens);
    CHECK(lane.latency_us.count == ok);
    CHECK(lane.queue_wait_us.count == had_pass);
    for (const jina3::Histogram* h : {&lane.latency_us, &lane.queue_wait_us, &lane.rows_per_pass, &lane.tokens_per_pass}) {
      std::uint64_t in_buckets = 0;
      for (std::uint64_t b : h->buckets) in_buckets += b;
      CHECK(in_buckets == h->count);
    }
    sums[0] += lane.requests;
    sums[1] += lane.rows;
    sums[2] += lane.passes;
    sums[3] += lane.tokens;
    sums[4] += lane.queue_wait_us.sum;
  }
  CHECK(sums[0] == stats.requests);
  CHECK(sums[1] == stats.rows);
  CHECK(sums[2] == stats.passes);
  CHECK(sums[3] == stats.tokens);
  CHECK(sums[4] == stats.queue_wait_us);
  CHECK(stats.cancelled == stats.lanes[0].cancelled + stats.lanes[1].cancelled);
}

SchedulerOptions make_options(jina3::BatchLimits limits, std::size_t max_queued = 1024,
                              std::chrono::microseconds max_wait = 2000us, bool use_worker = true) {
  SchedulerOptions options;
  options.limits = limits;
  options.max_queued_requests = max_queued;
  options.max_wait = max_wait;
  options.use_worker = use_worker;
  return options;
}

// The setup of the tests that queue requests behind a pass held at the gate: a backend with the
// gate closed, the requests (the first holds the gate; add() makes the others, in submission
// order) and the scheduler. Its destructor opens the gate, then destroys the scheduler (which
// finishes the running pass) before the requests and the backend go.
class GatedQueue {
 public:
  explicit GatedQueue(const char* what, std::chrono::seconds limit = std::chrono::seconds(60)) : dog_(what, limit) {
    backend.close_gate();
    add({4}).mark_row(0, kGateId);
  }
  ~GatedQueue() {
    backend.open_gate();
    scheduler_.reset();
  }
  GatedQueue(const GatedQueue&) = delete;
  GatedQueue& operator=(const GatedQueue&) = delete;

  TestRequest& add(const std::vector<std::size_t>& lengths) {
    requests.push_back(std::make_unique<TestRequest>(lengths));
    return *requests.back();
  }
  TestRequest& gate() { return *requests.front(); }
  Scheduler& start(const SchedulerOptions& options) {
    scheduler_ = std::make_unique<Scheduler>(backend.function(), options);
    return *scheduler_;
  }
  // Submits the gate's request and waits until its pass is held at the gate.
  void hold() {
    REQUIRE_FALSE(gate().submit(*scheduler_));
    REQUIRE(backend.wait_at_gate());
  }
  // Queues every other request behind it, in order.
  void queue_rest() {
    for (std::size_t i = 1; i < requests.size(); ++i) REQUIRE_FALSE(requests[i]->submit(*scheduler_));
  }

 private:
  Watchdog dog_;  // first, so that it also watches the destruction of the rest

 public:
  FakeBackend backend;
  std::vector<std::unique_ptr<TestRequest>> requests;

 private:
  std::unique_ptr<Scheduler> scheduler_;
};

// Many threads submit requests of random sizes (some with a row that makes its pass throw, some
// longer than max_tokens, some limited per pass), a few at a time, while another reads stats().
void random_workload(bool use_worker) {
  const jina3::BatchLimits limits{256, 16};
  FakeBackend backend;
  std::vector<std::unique_ptr<TestRequest>> requests;
  constexpr int kThreads = 12;
  constexpr int kRounds = 12;
  std::vector<std::vector<TestRequest*>> per_thread(kThreads);
  std::mt19937 random(12345);
  for (int t = 0; t < kThreads; ++t) {
    for (int k = 0; k < kRounds * 2; ++k) {
      std::size_t rows = random() % 10 == 0 ? 40 + random() % 60 : 1 + random() % 12;
      std::vector<std::size_t> lengths(rows);
      for (auto& length : lengths) length = random() % 25 == 0 ? 300 : 2 + random() % 40;
      requests.push_back(std::make_unique<TestRequest>(lengths, 1 + random() % 12, random()));
      if (random() % 20 == 0) requests.back()->mark_row(random() % rows, kThrowId);
      if (random() % 8 == 0) requests.back()->max_rows_per_pass = 1 + random() % 3;
      if (random() % 3 == 0) requests.back()->priority = Priority::Bulk;
      per_thread[t].push_back(requests.back().get());
    }
  }

  Scheduler scheduler(backend.function(), make_options(limits, 1024, 500us, use_worker));
  std::atomic<int> refused{0};
  std::atomic<int> unfinished{0};
  std::atomic<int> wrong_thread{0};
  std::atomic<int> inconsistent_stats{0};
  std::atomic<bool> stop_stats{false};
  std::thread stats_reader([&] {
    while (!stop_stats) {
      SchedulerStats stats = scheduler.stats();
      if (stats.queue_depth > stats.max_queue_depth || stats.padded_tokens < stats.tokens) ++inconsistent_stats;
      std::this_thread::sleep_for(200us);
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 local(static_cast<std::uint32_t>(t));
      auto& mine = per_thread[t];
      for (std::size_t i = 0; i < mine.size();) {
        std::size_t batch = std::min<std::size_t>(1 + local() % 3, mine.size() - i);
        for (std::size_t k = 0; k < batch; ++k) {
          if (mine[i + k]->submit(scheduler)) ++refused;
          if (!use_worker && !mine[i + k]->done()) ++unfinished;  // inline: done before submit returns
          if (!use_worker && mine[i + k]->completion_thread() != std::this_thread::get_id()) ++wrong_thread;
        }
        for (std::size_t k = 0; k < batch; ++k) {
          if (!mine[i + k]->wait()) ++unfinished;
        }
        i += batch;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  stop_stats = true;
  stats_reader.join();
  CHECK(refused == 0);
  CHECK(unfinished == 0);
  CHECK(wrong_thread == 0);
  CHECK(inconsistent_stats == 0);

  std::vector<RecordedPass> passes = backend.passes();
  check_history(passes, requests, limits);
  // Rows of a request limited per pass never exceed its limit in any pass.
  std::size_t over = 0;
  for (const auto& request : requests) {
    if (request->max_rows_per_pass == 0) continue;
    for (const RecordedPass& pass : passes) {
      std::size_t mine = 0;
      for (const RecordedRow& row : pass.rows) mine += row.request == request->number();
      if (mine > request->max_rows_per_pass) ++over;
    }
  }
  CHECK(over == 0);
  if (use_worker) CHECK(backend.max_overlap() == 1);  // one worker: passes never overlap

  SchedulerStats stats = scheduler.stats();
  std::uint64_t rows = 0;
  for (const auto& request : requests) rows += request->rows();
  CHECK(stats.requests == requests.size());
  CHECK(stats.rows == rows);
  CHECK(stats.passes == passes.size());
  CHECK(stats.queue_depth == 0);
  CHECK(stats.rejected == 0);
  CHECK(stats.deadline_exceeded == 0);
  std::uint64_t failed = 0;
  for (const auto& request : requests) failed += request->error() != nullptr;
  CHECK(failed > 0);  // the workload did include failing passes
  CHECK(stats.failed == failed);
  CHECK(stats.cancelled == 0);
  CHECK(stats.lanes[lane_index(Priority::Bulk)].passes > 0);
  CHECK(stats.lanes[lane_index(Priority::Interactive)].passes > 0);
  check_lane_stats(stats, passes, requests);
}

}  // namespace

TEST_CASE("scheduler: every request gets its own rows, in order, from many threads", "[scheduler]") {
  Watchdog dog("random workload, worker", 120s);
  random_workload(true);
}

TEST_CASE("scheduler: inline mode (no worker) gives the same results", "[scheduler]") {
  Watchdog dog("random workload, inline", 120s);
  random_workload(false);
}

TEST_CASE("scheduler: a request with no rows completes at once on the calling thread", "[scheduler]") {
  Watchdog dog("empty request");
  FakeBackend backend;
  for (bool use_worker : {true, false}) {
    TestRequest empty({});
    Scheduler scheduler(backend.function(), make_options({4096, 64}, 4, 2000us, use_worker));
    CHECK_FALSE(empty.submit(scheduler));
    CHECK(empty.done());
    CHECK(empty.ok());
    CHECK(empty.completion_thread() == std::this_thread::get_id());
  }
  CHECK(backend.pass_count() == 0);
}

TEST_CASE("scheduler: requests queued together share passes", "[scheduler]") {
  GatedQueue run("merging");
  for (int i = 0; i < 20; ++i) run.add({4});
  run.start(make_options({4096, 64}));

  run.hold();
  run.queue_rest();
  run.backend.open_gate();
  for (const auto& request : run.requests) REQUIRE(request->wait());

  std::vector<RecordedPass> passes = run.backend.passes();
  check_history(passes, run.requests, {4096, 64});
  // The gate's pass, then one pass with all twenty queued one-row requests.
  REQUIRE(passes.size() == 2);
  CHECK(passes[1].rows.size() == 20);
}

TEST_CASE("scheduler: concurrent callers in a loop share passes", "[scheduler]") {
  Watchdog dog("merging under load", 120s);
  FakeBackend backend;
  backend.set_sleep(2ms);
  constexpr int kThreads = 16;
  constexpr int kEach = 8;
  std::vector<std::unique_ptr<TestRequest>> requests;
  for (int i = 0; i < kThreads * kEach; ++i) {
    requests.push_back(std::make_unique<TestRequest>(std::vector<std::size_t>{3 + static_cast<std::size_t>(i % 7)}));
  }
  Scheduler scheduler(backend.function(), make_options({4096, 64}));
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kEach; ++k) {
        TestRequest& request = *requests[t * kEach + k];
        if (request.submit(scheduler) || !request.wait()) ++bad;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(bad == 0);
  std::vector<RecordedPass> passes = backend.passes();
  check_history(passes, requests, {4096, 64});
  std::size_t most = 0;
  for (const RecordedPass& pass : passes) most = std::max(most, pass.rows.size());
  INFO("passes: " << passes.size() << " for " << requests.size() << " requests; largest pass " << most);
  CHECK(passes.size() * 2 <= requests.size());  // at least two requests per pass on average
  CHECK(most >= 4);
}

TEST_CASE("scheduler: a 10,000-row request does not hold up one-row requests", "[scheduler]") {
  const jina3::BatchLimits limits{4096, 64};
  TestRequest late({4});
  std::atomic<std::size_t> passes_at_completion{0};
  GatedQueue run("fairness", 180s);
  FakeBackend& backend = run.backend;
  const auto& requests = run.requests;
  TestRequest& big = run.add(std::vector<std::size_t>(10000, 4));
  for (int i = 0; i < 10; ++i) run.add({4});
  Scheduler& scheduler = run.start(make_options(limits));

  // Queued behind the gate: the big request first, then ten small ones.
  run.hold();
  run.queue_rest();
  backend.set_sleep(1ms);  // so that the big request takes long enough to submit into its middle
  backend.open_gate();
  for (std::size_t i = 2; i < requests.size(); ++i) REQUIRE(requests[i]->wait());

  // A small request submitted while the big one runs completes within a couple of passes.
  while (backend.pass_count() < 20 && !big.done()) std::this_thread::sleep_for(200us);
  REQUIRE_FALSE(big.done());
  const std::size_t passes_at_submit = backend.pass_count();
  {
    Completion inner = late.completion();
    Job job = late.job();
    scheduler.submit(std::move(job), true, [&, inner](std::exception_ptr error) {
      passes_at_completion = backend.pass_count();
      inner(error);
    });
  }
  REQUIRE(late.wait());
  CHECK(late.ok());
  CHECK(late.wrong_outputs() == 0);
  // At worst it waits for the rest of the running step (up to 4 passes: a step holds up to
  // 4 x max_rows rows), then runs in the first pass of the next.
  CHECK(passes_at_completion <= passes_at_submit + 5);
  CHECK_FALSE(big.done());
  REQUIRE(big.wait(120000ms));

  std::vector<RecordedPass> passes = backend.passes();
  check_history(passes, requests, limits);
  std::size_t late_passes = 0;
  for (std::size_t i = 2; i < requests.size(); ++i) {
    std::vector<std::size_t> where = passes_of(passes, requests[i]->number());
    REQUIRE(where.size() == 1);
    // Pass 0 was the gate's; each small request ran in the first step after it.
    if (where[0] > 2) ++late_passes;
    CHECK(requests[i]->sequence() < big.sequence());
  }
  CHECK(late_passes == 0);
  CHECK(passes.size() >= 10000 / limits.max_rows);
}

TEST_CASE("scheduler: a full queue refuses or blocks", "[scheduler]") {
  Watchdog dog("bounded queue");
  FakeBackend backend;
  backend.close_gate();
  std::vector<std::unique_ptr<TestRequest>> requests;
  for (int i = 0; i < 5; ++i) requests.push_back(std::make_unique<TestRequest>(std::vector<std::size_t>{5}));
  requests[0]->mark_row(0, kGateId);
  TestRequest& running = *requests[0];
  TestRequest& queued = *requests[1];
  TestRequest& refused = *requests[2];
  TestRequest& blocked = *requests[3];
  TestRequest& timed = *requests[4];
  Scheduler scheduler(backend.function(), make_options({4096, 64}, 2));
  GateOpener opener{backend};

  REQUIRE_FALSE(running.submit(scheduler));
  REQUIRE(backend.wait_at_gate());
  REQUIRE_FALSE(queued.submit(scheduler));
  CHECK(scheduler.stats().queue_depth == 2);

  // The third request, not allowed to wait, is refused at once and never completed.
  std::exception_ptr error = refused.submit(scheduler, false);
  CHECK(holds<jina3::QueueFull>(error));
  CHECK(scheduler.stats().rejected == 1);

  // Allowed to wait, with a deadline: refused with DeadlineExceeded once it passes.
  timed.deadline = Clock::now() + 100ms;
  auto before = Clock::now();
  error = timed.submit(scheduler, true);
  auto waited = Clock::now() - before;
  CHECK(holds<jina3::DeadlineExceeded>(error));
  CHECK(waited >= 95ms);
  CHECK(waited < 5s);

  // Allowed to wait: blocks until the running request completes, then is queued and runs.
  std::atomic<bool> returned{false};
  std::exception_ptr blocked_error;
  std::thread submitter([&] {
    blocked_error = blocked.submit(scheduler, true);
    returned = true;
  });
  std::this_thread::sleep_for(100ms);
  CHECK_FALSE(returned);
  CHECK(scheduler.stats().rejected == 1);
  backend.open_gate();
  submitter.join();
  CHECK(returned);
  CHECK_FALSE(blocked_error);
  for (TestRequest* request : {&running, &queued, &blocked}) {
    REQUIRE(request->wait());
    CHECK(request->ok());
    CHECK(request->wrong_outputs() == 0);
  }
  CHECK(refused.calls() == 0);
  CHECK(timed.calls() == 0);
  SchedulerStats stats = scheduler.stats();
  CHECK(stats.queue_depth == 0);
  CHECK(stats.max_queue_depth == 2);
  CHECK(stats.requests == 3);
}

TEST_CASE("scheduler: a request not started by its deadline fails promptly", "[scheduler]") {
  Watchdog dog("deadlines");
  FakeBackend backend;
  backend.close_gate();
  TestRequest running({6});
  TestRequest late({6, 3});
  TestRequest started({6});
  TestRequest long_one(std::vector<std::size_t>(200, 5));
  Scheduler scheduler(backend.function(), make_options({4096, 64}));
  GateOpener opener{backend};
  running.mark_row(0, kGateId);
  REQUIRE_FALSE(running.submit(scheduler));
  REQUIRE(backend.wait_at_gate());

  // Queued behind a pass that will not end until the gate opens: the deadline fails it anyway.
  const auto submitted = Clock::now();
  late.deadline = submitted + 50ms;
  REQUIRE_FALSE(late.submit(scheduler));
  REQUIRE(late.wait(10000ms));
  const auto failed_after = Clock::now() - submitted;
  CHECK(holds<jina3::DeadlineExceeded>(late.error()));
  CHECK(failed_after >= 49ms);
  CHECK(failed_after < 1s);
  CHECK_FALSE(running.done());  // the long pass is still running
  CHECK(scheduler.stats().deadline_exceeded == 1);

  backend.open_gate();
  REQUIRE(running.wait());
  CHECK(running.ok());
  // A request that started before its deadline completes even though its pass ends after it, and
  // so does one whose later passes start after its deadline.
  const auto completes_despite = [&](TestRequest& request, std::chrono::milliseconds sleep,
                                     std::chrono::milliseconds deadline) {
    backend.set_sleep(sleep);
    request.deadline = Clock::now() + deadline;
    REQUIRE_FALSE(request.submit(scheduler));
    REQUIRE(request.wait());
    CHECK(request.ok());
    CHECK(request.wrong_outputs() == 0);
  };
  completes_despite(started, 100ms, 20ms);
  completes_despite(long_one, 30ms, 40ms);

  std::vector<RecordedPass> passes = backend.passes();
  CHECK(passes_of(passes, late.number()).empty());
  CHECK(passes_of(passes, long_one.number()).size() >= 200 / 64);
  CHECK(late.calls() == 1);
  SchedulerStats stats = scheduler.stats();
  CHECK(stats.deadline_exceeded == 1);
  CHECK(stats.failed == 0);
}

TEST_CASE("scheduler: a failing pass fails only its own requests", "[scheduler]") {
  // The step after the gate takes all 120 real tokens queued behind it (round one a, e0, b; round
  // two e1), planned into the passes [a, e0] (2 x 50 padded) and [b, e1] (a row of 10 does not
  // fit next to the 50s): b's pass throws and fails b and e, and only them.
  const jina3::BatchLimits limits{120, 64};
  TestRequest after({8, 9});
  GatedQueue run("failing pass");
  const auto& requests = run.requests;
  TestRequest& a = run.add({50});
  TestRequest& e = run.add({50, 10});
  TestRequest& b = run.add({10});
  b.mark_row(0, kThrowId);
  Scheduler& scheduler = run.start(make_options(limits));

  run.hold();
  run.queue_rest();
  run.backend.open_gate();
  for (const auto& request : requests) REQUIRE(request->wait());

  std::vector<RecordedPass> passes = run.backend.passes();
  check_history(passes, requests, limits);
  CHECK(run.gate().ok());
  CHECK(a.ok());
  CHECK(holds<FakeFailure>(b.error()));
  CHECK(holds<FakeFailure>(e.error()));  // one of its rows was in b's pass
  // a completed although it ran in the same step as b's failing pass.
  auto pa = passes_of(passes, a.number());
  auto pb = passes_of(passes, b.number());
  REQUIRE(pa.size() == 1);
  REQUIRE(pb.size() == 1);
  CHECK(pa[0] != pb[0]);
  CHECK(std::max(pa[0], pb[0]) - std::min(pa[0], pb[0]) == 1);
  for (const auto& request : requests) CHECK(request->calls() == 1);

  // The scheduler keeps serving.
  REQUIRE_FALSE(after.submit(scheduler));
  REQUIRE(after.wait());
  CHECK(after.ok());
  CHECK(after.wrong_outputs() == 0);
  CHECK(scheduler.stats().failed == 2);
}

TEST_CASE("scheduler: destruction finishes the running pass and cancels the rest", "[scheduler]") {
  Watchdog dog("shutdown");
  FakeBackend backend;
  backend.close_gate();
  std::vector<std::unique_ptr<TestRequest>> requests;
  for (int i = 0; i < 6; ++i) requests.push_back(std::make_unique<TestRequest>(std::vector<std::size_t>{5, 4}));
  auto scheduler = std::make_unique<Scheduler>(backend.function(), make_options({4096, 64}, 5));
  GateOpener opener{backend};
  TestRequest& running = *requests[0];
  running.mark_row(0, kGateId);
  REQUIRE_FALSE(running.submit(*scheduler));
  REQUIRE(backend.wait_at_gate());
  for (int i = 1; i < 5; ++i) REQUIRE_FALSE(requests[i]->submit(*scheduler));
  TestRequest& blocked = *requests[5];  // the queue is full: this one waits for room

  std::atomic<bool> submit_returned{false};
  std::exception_ptr blocked_error;
  Scheduler* raw = scheduler.get();  // the destroyer resets the unique_ptr while this thread is in submit
  std::thread submitter([&] {
    blocked_error = blocked.submit(*raw, true);
    submit_returned = true;
  });
  std::this_thread::sleep_for(50ms);
  REQUIRE_FALSE(submit_returned);

  std::atomic<bool> destroyed{false};
  std::thread destroyer([&] {
    scheduler.reset();
    destroyed = true;
  });
  std::this_thread::sleep_for(100ms);
  CHECK_FALSE(destroyed);  // it waits for the running pass
  backend.open_gate();
  destroyer.join();
  submitter.join();
  CHECK(destroyed);

  CHECK(running.ok());
  CHECK(running.wrong_outputs() == 0);
  for (int i = 1; i < 5; ++i) {
    CHECK(requests[i]->calls() == 1);
    INFO(describe(requests[i]->error()));
    CHECK(holds<jina3::Cancelled>(requests[i]->error()));
  }
  CHECK(holds<jina3::Cancelled>(blocked_error));
  CHECK(blocked.calls() == 0);
  CHECK(backend.pass_count() == 1);
  // Nothing completes twice later on.
  std::this_thread::sleep_for(20ms);
  for (int i = 0; i < 5; ++i) CHECK(requests[i]->calls() == 1);
}

TEST_CASE("scheduler: destruction right after work, or with work queued, is quick", "[scheduler]") {
  Watchdog dog("shutdown idle");
  FakeBackend backend;
  for (int round = 0; round < 20; ++round) {
    TestRequest request({3, 4});
    auto before = Clock::now();
    {
      // A long max_wait: the destructor must not wait it out.
      Scheduler scheduler(backend.function(), make_options({4096, 64}, 1024, 2000000us));
      REQUIRE_FALSE(request.submit(scheduler));
      if (round % 2 == 0) REQUIRE(request.wait());
      before = Clock::now();
    }
    CHECK(Clock::now() - before < 1s);
    REQUIRE(request.done());
    CHECK(request.calls() == 1);
    if (!request.ok()) CHECK(holds<jina3::Cancelled>(request.error()));
    if (request.ok()) CHECK(request.wrong_outputs() == 0);
  }
}

TEST_CASE("scheduler: an idle scheduler starts a lone request at once", "[scheduler]") {
  Watchdog dog("idle policy");
  FakeBackend backend;
  backend.set_sleep(30ms);
  const auto max_wait = 400ms;
  // first, five that come straight back, four completed in one step, then a lone one.
  std::vector<std::unique_ptr<TestRequest>> requests;
  for (int i = 0; i < 11; ++i) requests.push_back(std::make_unique<TestRequest>(std::vector<std::size_t>{5, 6}));
  Scheduler scheduler(backend.function(), make_options({4096, 64}, 1024, max_wait));
  auto check_latency = [&](TestRequest& request) {
    REQUIRE(request.wait());
    CHECK(request.ok());
    INFO("latency " << request.latency().count() << " us");
    CHECK(request.latency() >= 29ms);
    CHECK(request.latency() < 30ms + max_wait / 2);
  };
  REQUIRE_FALSE(requests[0]->submit(scheduler));
  check_latency(*requests[0]);
  // One caller coming straight back: the next step waits for one request, which is there.
  for (int i = 1; i < 6; ++i) {
    REQUIRE_FALSE(requests[i]->submit(scheduler));
    check_latency(*requests[i]);
  }
  // A step that completes three requests, then quiet for longer than max_wait.
  backend.set_sleep(0us);
  backend.close_gate();
  requests[6]->mark_row(0, kGateId);
  {
    GateOpener opener{backend};
    REQUIRE_FALSE(requests[6]->submit(scheduler));
    REQUIRE(backend.wait_at_gate());
    for (int i = 7; i < 10; ++i) REQUIRE_FALSE(requests[i]->submit(scheduler));
  }
  for (int i = 6; i < 10; ++i) REQUIRE(requests[i]->wait());
  std::this_thread::sleep_for(max_wait + 100ms);
  backend.set_sleep(30ms);
  REQUIRE_FALSE(requests[10]->submit(scheduler));
  check_latency(*requests[10]);
  for (const auto& request : requests) CHECK(request->wrong_outputs() == 0);
}

TEST_CASE("scheduler: stats count requests, rows, passes and tokens", "[scheduler]") {
  const jina3::BatchLimits limits{100, 8};
  GatedQueue run("stats");
  FakeBackend& backend = run.backend;
  TestRequest& gate = run.gate();
  TestRequest& r1 = run.add({10, 20, 30});
  TestRequest& deadline = run.add({7});
  TestRequest& r2 = run.add({5});
  r2.mark_row(0, kThrowId);
  TestRequest& refused = run.add({9});
  Scheduler& scheduler = run.start(make_options(limits, 3));

  CHECK(scheduler.stats().requests == 0);
  run.hold();
  REQUIRE_FALSE(r1.submit(scheduler));
  deadline.deadline = Clock::now() + 20ms;
  REQUIRE_FALSE(deadline.submit(scheduler));
  REQUIRE(deadline.wait());
  CHECK(holds<jina3::DeadlineExceeded>(deadline.error()));
  REQUIRE_FALSE(r2.submit(scheduler));
  CHECK(holds<jina3::QueueFull>(refused.submit(scheduler, false)));
  SchedulerStats held = scheduler.stats();
  CHECK(held.queue_depth == 3);
  CHECK(held.max_queue_depth == 3);
  CHECK(held.rejected == 1);
  CHECK(held.deadline_exceeded == 1);
  std::this_thread::sleep_for(20ms);
  backend.open_gate();
  for (TestRequest* request : {&gate, &r1, &r2}) REQUIRE(request->wait());
  CHECK(gate.ok());
  CHECK(r1.ok());
  CHECK(holds<FakeFailure>(r2.error()));

  std::vector<RecordedPass> passes = backend.passes();
  std::uint64_t tokens = 0;
  std::uint64_t padded = 0;
  for (const RecordedPass& pass : passes) {
    std::size_t longest = 0;
    for (const RecordedRow& row : pass.rows) {
      tokens += row.length;
      longest = std::max(longest, row.length);
    }
    padded += longest * pass.rows.size();
  }
  SchedulerStats stats = scheduler.stats();
  CHECK(stats.requests == 4);  // gate, r1, deadline, r2: accepted ones only
  CHECK(stats.rows == 6);
  CHECK(stats.passes == passes.size());
  CHECK(stats.tokens == tokens);
  CHECK(stats.padded_tokens == padded);
  CHECK(stats.padded_tokens > stats.tokens);  // r1's rows of 10 and 20 were padded to 30
  CHECK(stats.queue_depth == 0);
  CHECK(stats.max_queue_depth == 3);
  CHECK(stats.rejected == 1);
  CHECK(stats.deadline_exceeded == 1);
  CHECK(stats.failed == 1);
  CHECK(stats.pass_us >= 15000);        // the gate's pass was held for at least 20 ms
  CHECK(stats.queue_wait_us >= 15000);  // r1 waited behind it
}

// ---- Priority lanes ---------------------------------------------------------------------------

TEST_CASE("scheduler lanes: interactive rows are served first when both lanes are queued", "[scheduler]") {
  const jina3::BatchLimits limits{4096, 64};
  GatedQueue run("lanes: interactive first");
  TestRequest& bulk = run.add(std::vector<std::size_t>(8, 64));
  bulk.priority = Priority::Bulk;
  std::vector<TestRequest*> queries;
  for (int i = 0; i < 5; ++i) queries.push_back(&run.add({10}));
  Scheduler& scheduler = run.start(make_options(limits));

  run.hold();
  run.queue_rest();  // the bulk request first, then the queries
  run.backend.open_gate();
  for (const auto& request : run.requests) REQUIRE(request->wait());

  std::vector<RecordedPass> passes = run.backend.passes();
  check_history(passes, run.requests, limits);
  const std::vector<int> lanes = pass_lanes(passes, lanes_of(run.requests));
  // The gate's pass, then one step: the five queries' pass, then the bulk rows' pass.
  REQUIRE(passes.size() == 3);
  CHECK(lanes[1] == static_cast<int>(Priority::Interactive));
  CHECK(passes[1].rows.size() == 5);
  CHECK(lanes[2] == static_cast<int>(Priority::Bulk));
  CHECK(passes[2].rows.size() == 8);
  for (TestRequest* query : queries) CHECK(query->sequence() < bulk.sequence());
  check_lane_stats(scheduler.stats(), passes, run.requests);
}

TEST_CASE("scheduler lanes: bulk keeps bulk_share of each step's tokens while both lanes are busy", "[scheduler]") {
  const jina3::BatchLimits limits{4096, 64};
  constexpr std::size_t kLongestBulkRow = 100;
  for (double share : {0.25, 0.5}) {
    INFO("bulk_share " << share);
    GatedQueue run("lanes: bulk share");
    std::mt19937 random(7);
    std::vector<TestRequest*> bulk;
    for (int i = 0; i < 2; ++i) {
      std::vector<std::size_t> lengths(200);
      for (auto& length : lengths) length = 20 + random() % (kLongestBulkRow - 19);
      bulk.push_back(&run.add(lengths));
      bulk.back()->priority = Priority::Bulk;
    }
    for (int i = 0; i < 3; ++i) run.add(std::vector<std::size_t>(80, 64));  // interactive
    SchedulerOptions options = make_options(limits);
    options.bulk_share = share;
    Scheduler& scheduler = run.start(options);

    run.hold();
    run.queue_rest();
    run.backend.open_gate();
    for (const auto& request : run.requests) REQUIRE(request->wait());

    std::vector<RecordedPass> passes = run.backend.passes();
    check_history(passes, run.requests, limits);
    const std::vector<int> lanes = pass_lanes(passes, lanes_of(run.requests));
    REQUIRE(std::count(lanes.begin(), lanes.end(), -1) == 0);
    // Every step serves interactive rows first; here each step's interactive rows fit one pass,
    // so the bulk passes between two interactive passes are one step's bulk rows.
    std::vector<std::size_t> interactive;
    for (std::size_t p = 1; p < passes.size(); ++p) {
      if (lanes[p] == static_cast<int>(Priority::Interactive)) interactive.push_back(p);
    }
    REQUIRE(interactive.size() >= 4);
    const double reserve = share * static_cast<double>(limits.max_tokens);
    std::size_t short_steps = 0;
    double worst = 1.0;
    for (std::size_t k = 0; k + 1 < interactive.size(); ++k) {
      std::size_t bulk_tokens = 0;
      for (std::size_t p = interactive[k] + 1; p < interactive[k + 1]; ++p) bulk_tokens += real_tokens(passes[p]);
      const double ratio =
          static_cast<double>(bulk_tokens) / static_cast<double>(bulk_tokens + real_tokens(passes[interactive[k]]));
      worst = std::min(worst, ratio);
      // At least the reservation, less at most one row.
      if (static_cast<double>(bulk_tokens) < reserve - kLongestBulkRow) ++short_steps;
    }
    INFO("worst bulk share of a step " << worst << " over " << interactive.size() - 1 << " shared steps");
    CHECK(short_steps == 0);
    CHECK(worst >= share - static_cast<double>(kLongestBulkRow) / limits.max_tokens);
    // Bulk was still queued when the last interactive pass ran: the steps above were all shared.
    for (TestRequest* request : bulk) CHECK(request->sequence() > run.requests.back()->sequence());
    // Short bulk passes throughout.
    for (std::size_t p = 0; p < passes.size(); ++p) {
      if (lanes[p] == static_cast<int>(Priority::Bulk)) CHECK(padded_tokens(passes[p]) <= reserve);
    }
    check_lane_stats(scheduler.stats(), passes, run.requests);
  }
}

TEST_CASE("scheduler lanes: an interactive request arriving during bulk work waits for one short bulk pass",
          "[scheduler]") {
  // A bulk-only step takes 64 rows of 64 tokens (4096) and runs them in 4 passes of 16 rows
  // (1024 padded tokens = bulk_share x max_tokens). The query arrives while the step's second
  // pass is held at the gate: the step stops after that pass, the query runs next, and the 32
  // bulk rows that did not run are queued again and run later, once each.
  Watchdog dog("lanes: preemption");
  const jina3::BatchLimits limits{4096, 64};
  FakeBackend backend;
  backend.close_gate();
  std::vector<std::unique_ptr<TestRequest>> requests;
  requests.push_back(std::make_unique<TestRequest>(std::vector<std::size_t>(256, 64)));
  requests.push_back(std::make_unique<TestRequest>(std::vector<std::size_t>{10}));
  TestRequest& bulk = *requests[0];
  TestRequest& query = *requests[1];
  bulk.priority = Priority::Bulk;
  bulk.mark_row(40, kGateId);
  Scheduler scheduler(backend.function(), make_options(limits));
  GateOpener opener{backend};

  REQUIRE_FALSE(bulk.submit(scheduler));
  REQUIRE(backend.wait_at_gate());
  REQUIRE_FALSE(query.submit(scheduler));
  backend.open_gate();
  REQUIRE(query.wait());
  REQUIRE(bulk.wait());
  CHECK(query.ok());
  CHECK(bulk.ok());

  std::vector<RecordedPass> passes = backend.passes();
  check_history(passes, requests, limits);
  const std::vector<int> lanes = pass_lanes(passes, lanes_of(requests));
  std::size_t gated = passes.size();
  for (std::size_t p = 0; p < passes.size() && gated == passes.size(); ++p) {
    for (const RecordedRow& row : passes[p].rows) {
      if (row.request == bulk.number() && row.row == 40) gated = p;
    }
  }
  REQUIRE(gated < passes.size());
  const auto query_passes = passes_of(passes, query.number());
  REQUIRE(query_passes.size() == 1);
  // The query ran right after the bulk pass that was running when it arrived...
  CHECK(query_passes[0] == gated + 1);
  // ... which was short, and so were all bulk passes.
  std::size_t bulk_rows_before = 0;
  for (std::size_t p = 0; p < passes.size(); ++p) {
    if (lanes[p] != static_cast<int>(Priority::Bulk)) continue;
    CHECK(padded_tokens(passes[p]) <= limits.max_tokens / 4);
    if (p < query_passes[0]) bulk_rows_before += passes[p].rows.size();
  }
  // The step was cut short (a whole step is 64 rows), and the bulk request went on afterwards.
  CHECK(bulk_rows_before % 64 != 0);
  CHECK(query.sequence() < bulk.sequence());
  CHECK(query_passes[0] + 1 < passes.size());
  check_lane_stats(scheduler.stats(), passes, requests);
}

// ---- Cancellation -----------------------------------------------------------------------------

TEST_CASE("scheduler cancel: a queued request leaves the queue and fails with Cancelled at once", "[scheduler]") {
  GatedQueue run("cancel queued");
  TestRequest& victim = run.add({5, 6, 7});
  victim.priority = Priority::Bulk;
  TestRequest& other = run.add({4, 9});
  Scheduler& scheduler = run.start(make_options({4096, 64}));

  run.hold();
  run.queue_rest();
  CHECK(scheduler.stats().queue_depth == 3);
  REQUIRE(victim.ticket() != 0);
  CHECK(victim.ticket() != other.ticket());
  CHECK(scheduler.cancel(victim.ticket()));
  // No pass held its rows: completed at once, on the cancelling thread.
  REQUIRE(victim.done());
  CHECK(victim.completion_thread() == std::this_thread::get_id());
  CHECK(holds<jina3::Cancelled>(victim.error()));
  CHECK(describe(victim.error()).find("cancelled by the caller") != std::string::npos);
  CHECK_FALSE(scheduler.cancel(victim.ticket()));  // already cancelled
  SchedulerStats held = scheduler.stats();
  CHECK(held.queue_depth == 2);
  CHECK(held.cancelled == 1);
  CHECK(held.lanes[lane_index(Priority::Bulk)].cancelled == 1);
  CHECK(held.lanes[lane_index(Priority::Bulk)].cancelled_rows == 3);
  CHECK(held.failed == 0);

  run.backend.open_gate();
  REQUIRE(other.wait());
  REQUIRE(run.gate().wait());
  CHECK(other.ok());
  CHECK(other.wrong_outputs() == 0);
  std::vector<RecordedPass> passes = run.backend.passes();
  CHECK(passes_of(passes, victim.number()).empty());
  CHECK(victim.calls() == 1);
  SchedulerStats stats = scheduler.stats();
  CHECK(stats.queue_depth == 0);
  CHECK(stats.failed == 0);
  check_lane_stats(stats, passes, run.requests);

  // Completed requests, ticket 0 and unknown tickets: nothing to cancel.
  CHECK_FALSE(scheduler.cancel(other.ticket()));
  CHECK_FALSE(scheduler.cancel(run.gate().ticket()));
  CHECK_FALSE(scheduler.cancel(0));
  CHECK_FALSE(scheduler.cancel(other.ticket() + 1000));
  CHECK(other.ok());
  CHECK(scheduler.stats().cancelled == 1);
}

TEST_CASE("scheduler cancel: a request whose pass is running completes only after that pass", "[scheduler]") {
  // 150 rows in one step, planned into 3 passes that all wait at the gate: the first is held
  // there when cancel() comes; the other two never run.
  Watchdog dog("cancel running");
  FakeBackend backend;
  backend.close_gate();
  std::vector<std::unique_ptr<TestRequest>> requests;
  requests.push_back(std::make_unique<TestRequest>(std::vector<std::size_t>(150, 4)));
  requests.push_back(std::make_unique<TestRequest>(std::vector<std::size_t>(10, 4)));
  TestRequest& big = *requests[0];
  TestRequest& next = *requests[1];
  for (std::size_t r = 0; r < big.rows(); ++r) big.mark_row(r, kGateId);
  std::atomic<int> written_after_completion{0};
  backend.set_after_write([&](int request) {
    if (request == big.number() && big.done()) ++written_after_completion;
  });
  Scheduler scheduler(backend.function(), make_options({4096, 64}));
  GateOpener opener{backend};

  REQUIRE_FALSE(big.submit(scheduler));
  REQUIRE(backend.wait_at_gate());
  REQUIRE_FALSE(next.submit(scheduler));
  CHECK(scheduler.cancel(big.ticket()));
  CHECK_FALSE(scheduler.cancel(big.ticket()));
  // Its pass is still writing into its buffers: no completion yet.
  CHECK_FALSE(big.done());
  std::this_thread::sleep_for(20ms);
  CHECK_FALSE(big.done());
  CHECK(scheduler.stats().cancelled == 0);

  backend.open_gate();
  REQUIRE(big.wait());
  REQUIRE(next.wait());
  CHECK(holds<jina3::Cancelled>(big.error()));
  CHECK(big.calls() == 1);
  CHECK(big.completion_thread() != std::this_thread::get_id());  // the worker, after the pass
  CHECK(next.ok());
  CHECK(next.wrong_outputs() == 0);
  CHECK(written_after_completion == 0);

  std::vector<RecordedPass> passes = backend.passes();
  const auto big_passes = passes_of(passes, big.number());
  REQUIRE(big_passes.size() == 1);  // the step's other passes of it were skipped
  const std::size_t ran = passes[big_passes[0]].rows.size();
  CHECK(ran < big.rows());
  SchedulerStats stats = scheduler.stats();
  CHECK(stats.cancelled == 1);
  CHECK(stats.failed == 0);
  CHECK(stats.queue_depth == 0);
  CHECK(stats.lanes[lane_index(Priority::Interactive)].cancelled_rows == big.rows() - ran);
  check_lane_stats(stats, passes, requests);
}

TEST_CASE("scheduler cancel: from inside another request's completion", "[scheduler]") {
  GatedQueue run("cancel from a completion");
  TestRequest& first = run.add({4});
  TestRequest& victim = run.add({5, 5});
  victim.priority = Priority::Bulk;
  Scheduler& scheduler = run.start(make_options({4096, 64}));
  std::atomic<int> cancelled{-1};
  first.before_completion = [&] { cancelled = scheduler.cancel(victim.ticket()) ? 1 : 0; };

  run.hold();
  run.queue_rest();
  run.backend.open_gate();
  for (const auto& request : run.requests) REQUIRE(request->wait());
  CHECK(first.ok());
  CHECK(cancelled == 1);
  CHECK(holds<jina3::Cancelled>(victim.error()));
  // first's pass ran before victim's (interactive first, same step); victim's never ran.
  CHECK(victim.completion_thread() == first.completion_thread());
  std::vector<RecordedPass> passes = run.backend.passes();
  CHECK(passes_of(passes, victim.number()).empty());
  check_lane_stats(scheduler.stats(), passes, run.requests);
}

TEST_CASE("scheduler cancel: inline mode stops before the next pass", "[scheduler]") {
  Watchdog dog("cancel inline");
  FakeBackend backend;
  backend.close_gate();
  GateOpener opener{backend};
  Scheduler scheduler(backend.function(), make_options({256, 16}, 1024, 2000us, false));
  std::vector<std::unique_ptr<TestRequest>> requests;
  requests.push_back(std::make_unique<TestRequest>(std::vector<std::size_t>(40, 4)));
  TestRequest& request = *requests[0];
  for (std::size_t r = 0; r < request.rows(); ++r) request.mark_row(r, kGateId);
  request.priority = Priority::Bulk;
  request.reserved = scheduler.reserve_ticket();
  REQUIRE(request.reserved != 0);
  CHECK(scheduler.reserve_ticket() != request.reserved);

  std::thread::id submitter_id;
  std::exception_ptr submit_error;
  std::thread submitter([&] {
    submitter_id = std::this_thread::get_id();
    submit_error = request.submit(scheduler);
  });
  REQUIRE(backend.wait_at_gate());
  CHECK(scheduler.cancel(request.reserved));
  CHECK_FALSE(request.done());  // its first pass (16 rows) is still running
  backend.open_gate();
  submitter.join();
  CHECK_FALSE(submit_error);
  REQUIRE(request.done());
  CHECK(holds<jina3::Cancelled>(request.error()));
  CHECK(request.completion_thread() == submitter_id);
  CHECK(request.ticket() == request.reserved);
  CHECK_FALSE(scheduler.cancel(request.reserved));

  std::vector<RecordedPass> passes = backend.passes();
  REQUIRE(passes_of(passes, request.number()).size() == 1);
  SchedulerStats stats = scheduler.stats();
  CHECK(stats.cancelled == 1);
  CHECK(stats.lanes[lane_index(Priority::Bulk)].cancelled_rows == 40 - 16);
  check_lane_stats(stats, passes, requests);

  // The scheduler goes on serving.
  requests.push_back(std::make_unique<TestRequest>(std::vector<std::size_t>{5, 6}));
  REQUIRE_FALSE(requests.back()->submit(scheduler));
  CHECK(requests.back()->ok());
  CHECK(requests.back()->wrong_outputs() == 0);
}

TEST_CASE("scheduler cancel: many threads cancel while others submit", "[scheduler]") {
  Watchdog dog("cancel under load", 180s);
  const jina3::BatchLimits limits{256, 16};
  FakeBackend backend;
  backend.set_sleep(100us);
  constexpr int kSubmitters = 6;
  constexpr int kEach = 40;
  constexpr int kCancellers = 3;
  std::vector<std::unique_ptr<TestRequest>> requests;
  std::mt19937 random(99);
  for (int i = 0; i < kSubmitters * kEach; ++i) {
    std::vector<std::size_t> lengths(1 + random() % 20);
    for (auto& length : lengths) length = 2 + random() % 40;
    requests.push_back(std::make_unique<TestRequest>(lengths, 1 + random() % 8, random()));
    if (random() % 2 == 0) requests.back()->priority = Priority::Bulk;
  }
  std::map<int, TestRequest*> by_number;
  for (const auto& request : requests) by_number[request->number()] = request.get();
  std::atomic<int> written_after_completion{0};
  backend.set_after_write([&](int number) {
    if (by_number.at(number)->done()) ++written_after_completion;
  });

  Scheduler scheduler(backend.function(), make_options(limits, 64, 200us));
  std::mutex mutex;
  std::vector<Ticket> published;
  std::map<Ticket, int> cancelled;  // cancel() calls that returned true, per ticket
  auto cancel_one = [&](std::mt19937& local) {
    Ticket ticket = 0;
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (!published.empty()) ticket = published[local() % published.size()];
    }
    if (ticket == 0) return;
    const bool result = scheduler.cancel(ticket);  // no test lock held: it may run a completion
    std::lock_guard<std::mutex> lock(mutex);
    cancelled[ticket] += result;
  };
  // Some completions cancel another request themselves.
  for (std::size_t i = 0; i < requests.size(); i += 5) {
    auto local = std::make_shared<std::mt19937>(static_cast<std::uint32_t>(i));
    requests[i]->before_completion = [&, local] { cancel_one(*local); };
  }

  std::atomic<int> submitting{kSubmitters};
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kSubmitters; ++t) {
    threads.emplace_back([&, t] {
      std::vector<TestRequest*> mine;
      for (int k = 0; k < kEach; ++k) {
        TestRequest& request = *requests[t * kEach + k];
        if (request.submit(scheduler)) ++bad;
        {
          std::lock_guard<std::mutex> lock(mutex);
          published.push_back(request.ticket());
        }
        mine.push_back(&request);
        if (k % 4 == 3) {
          for (TestRequest* r : mine) {
            if (!r->wait()) ++bad;
          }
          mine.clear();
        }
      }
      for (TestRequest* r : mine) {
        if (!r->wait()) ++bad;
      }
      --submitting;
    });
  }
  for (int c = 0; c < kCancellers; ++c) {
    threads.emplace_back([&, c] {
      std::mt19937 local(static_cast<std::uint32_t>(1000 + c));
      while (submitting > 0) {
        cancel_one(local);
        std::this_thread::sleep_for(std::chrono::microseconds(50 + local() % 400));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(bad == 0);

  std::vector<RecordedPass> passes = backend.passes();
  std::uint64_t true_cancels = 0;
  std::size_t wrong = 0;
  std::size_t some_ran = 0;
  for (const auto& request : requests) {
    const int times = cancelled.count(request->ticket()) ? cancelled[request->ticket()] : 0;
    true_cancels += times;
    if (request->calls() != 1 || times > 1) ++wrong;
    else if (times == 1 && !holds<jina3::Cancelled>(request->error())) ++wrong;
    else if (times == 0 && (!request->ok() || request->wrong_outputs() != 0)) ++wrong;
    if (times == 1 && rows_run(passes, request->number()) > 0) ++some_ran;
  }
  INFO(true_cancels << " requests cancelled, " << some_ran << " of them after some of their rows ran");
  CHECK(wrong == 0);
  CHECK(true_cancels > 0);
  CHECK(true_cancels < requests.size());
  CHECK(written_after_completion == 0);
  SchedulerStats stats = scheduler.stats();
  CHECK(stats.cancelled == true_cancels);
  CHECK(stats.failed == 0);
  CHECK(stats.queue_depth == 0);
  CHECK(stats.requests == requests.size());
  check_lane_stats(stats, passes, requests);
  // Successful requests' rows ran exactly once; a cancelled request's rows at most once.
  std::map<std::pair<int, int>, int> runs;
  for (const RecordedPass& pass : passes) {
    for (const RecordedRow& row : pass.rows) ++runs[{row.request, row.row}];
  }
  std::size_t wrong_runs = 0;
  for (const auto& request : requests) {
    for (std::size_t r = 0; r < request->rows(); ++r) {
      const auto it = runs.find({request->number(), static_cast<int>(r)});
      const int n = it == runs.end() ? 0 : it->second;
      if (n > 1 || (request->ok() && n != 1)) ++wrong_runs;
    }
  }
  CHECK(wrong_runs == 0);
}

// ---- Histograms -------------------------------------------------------------------------------

TEST_CASE("scheduler lanes: per-lane histograms count requests and passes", "[scheduler]") {
  GatedQueue run("histograms");
  TestRequest& q1 = run.add({10});
  TestRequest& q2 = run.add({10, 20});
  TestRequest& bulk = run.add(std::vector<std::size_t>(5, 30));
  bulk.priority = Priority::Bulk;
  TestRequest& late = run.add({6});
  late.priority = Priority::Bulk;
  Scheduler& scheduler = run.start(make_options({4096, 64}));

  run.hold();
  for (TestRequest* request : {&q1, &q2, &bulk}) REQUIRE_FALSE(request->submit(scheduler));
  late.deadline = Clock::now() + 10ms;
  REQUIRE_FALSE(late.submit(scheduler));
  REQUIRE(late.wait());
  CHECK(holds<jina3::DeadlineExceeded>(late.error()));
  std::this_thread::sleep_for(20ms);
  run.backend.open_gate();
  for (const auto& request : run.requests) REQUIRE(request->wait());

  SchedulerStats stats = scheduler.stats();
  const jina3::LaneStats& interactive = stats.lanes[lane_index(Priority::Interactive)];
  const jina3::LaneStats& bulk_lane = stats.lanes[lane_index(Priority::Bulk)];
  // Interactive: the gate's pass (1 row, 4 tokens), then q1 and q2 (3 rows, 40 tokens).
  CHECK(interactive.requests == 3);
  CHECK(interactive.rows == 4);
  CHECK(interactive.passes == 2);
  CHECK(interactive.rows_per_pass.buckets[0] == 1);  // 1 row
  CHECK(interactive.rows_per_pass.buckets[2] == 1);  // 3 rows: 2 < 3 <= 4
  CHECK(interactive.tokens_per_pass.buckets[2] == 1);  // 4 tokens
  CHECK(interactive.tokens_per_pass.buckets[6] == 1);  // 40 tokens: 32 < 40 <= 64
  CHECK(interactive.tokens_per_pass.sum == 44);
  CHECK(interactive.latency_us.count == 3);
  // Bulk: one pass of 5 rows, 150 tokens; the expired request counts as a request only.
  CHECK(bulk_lane.requests == 2);
  CHECK(bulk_lane.rows == 6);
  CHECK(bulk_lane.passes == 1);
  CHECK(bulk_lane.rows_per_pass.buckets[3] == 1);     // 5 rows: 4 < 5 <= 8
  CHECK(bulk_lane.tokens_per_pass.buckets[8] == 1);   // 150 tokens: 128 < 150 <= 256
  CHECK(bulk_lane.latency_us.count == 1);
  CHECK(bulk_lane.queue_wait_us.count == 1);
  // The bulk request waited behind the gate for at least 20 ms: 2^14 = 16384 < its wait.
  CHECK(bulk_lane.queue_wait_us.sum >= 15000);
  std::uint64_t below = 0;
  for (std::size_t b = 0; b < 14; ++b) below += bulk_lane.queue_wait_us.buckets[b];
  CHECK(below == 0);
  CHECK(bulk_lane.latency_us.sum >= bulk_lane.queue_wait_us.sum);
  CHECK(interactive.latency_us.sum >= interactive.queue_wait_us.sum);
  CHECK(stats.deadline_exceeded == 1);
  check_lane_stats(stats, run.backend.passes(), run.requests);
}

// ---- Measurement (hidden: jina3_scheduler_tests "[.bench]") ------------------------------------

TEST_CASE("scheduler lanes: cost of short bulk passes, and query latency beside bulk work", "[.bench]") {
  // The fake pass sleeps in proportion to its padded tokens, plus a fixed cost per pass. A bulk
  // job of 3,000 rows (10..200 tokens) runs once as interactive (passes up to max_tokens) and once
  // as bulk (passes up to bulk_share x max_tokens); then queries arrive one at a time beside it.
  const jina3::BatchLimits limits{4096, 64};
  std::mt19937 random(3);
  std::vector<std::size_t> lengths(3000);
  for (auto& length : lengths) length = 10 + random() % 191;
  for (long long fixed_us : {0LL, 500LL}) {
    for (Priority priority : {Priority::Interactive, Priority::Bulk}) {
      FakeBackend backend;
      backend.set_sleep(std::chrono::microseconds(fixed_us));
      backend.set_sleep_per_padded_token(2000ns);
      Scheduler scheduler(backend.function(), make_options(limits));
      TestRequest job(lengths);
      job.priority = priority;
      const auto start = Clock::now();
      REQUIRE_FALSE(job.submit(scheduler));
      // Queries, one at a time, while the job runs.
      std::vector<double> latencies;
      while (!job.done()) {
        TestRequest query({12});
        REQUIRE_FALSE(query.submit(scheduler));
        REQUIRE(query.wait());
        latencies.push_back(static_cast<double>(query.latency().count()) / 1000.0);
        std::this_thread::sleep_for(5ms);
      }
      REQUIRE(job.wait(600000ms));
      const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
      std::sort(latencies.begin(), latencies.end());
      SchedulerStats stats = scheduler.stats();
      const jina3::LaneStats& lane = stats.lanes[lane_index(priority)];
      std::printf("fixed %lld us/pass, job as %-11s: %.2f s, %llu passes, padded/real %.3f; %zu queries beside it: "
                  "p50 %.1f ms, max %.1f ms\n",
                  fixed_us, priority == Priority::Bulk ? "bulk" : "interactive", seconds,
                  static_cast<unsigned long long>(lane.passes),
                  static_cast<double>(lane.padded_tokens) / static_cast<double>(lane.tokens), latencies.size(),
                  latencies.empty() ? 0.0 : latencies[latencies.size() / 2], latencies.empty() ? 0.0 : latencies.back());
      CHECK(job.ok());
    }
  }
}
