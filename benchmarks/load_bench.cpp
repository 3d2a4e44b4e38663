// jina3_load_bench: how one Encoder serves many callers at once. Closed-loop callers (each sends
// one short retrieval.query text, waits for it, sends the next) against one encoder, beside the
// same queries as one batched call and the per-call path with the scheduler bypassed; 60 query
// callers while one caller embeds a large passage batch; default EncoderOptions against
// num_threads = all CPUs. Prints one JSON object (stdout or --out) with every figure, the
// encoder's stats() deltas per measurement and a table of targets; progress goes to stderr.
// benchmarks/serving.py runs it beside the Python load generator (load_bench.py) and renders
// the tables; see benchmarks/README.md, "Serving".
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#ifdef __linux__
#include <sched.h>
#endif

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <jina3/jina3.hpp>

#include "arguments.hpp"
#include "summary.hpp"
#include "synthetic_texts.hpp"
#include "watchdog.hpp"  // tests/cpp/watchdog.hpp
#include "workloads.hpp"

namespace jina3_load_bench {
namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::ordered_json;
using jina3_bench::percentile;

constexpr jina3::Task kQueryTask = jina3::Task::RetrievalQuery;
constexpr jina3::Task kPassageTask = jina3::Task::RetrievalPassage;
const std::vector<std::string> kAllParts = {"batched", "closed", "bypass", "defaults", "mixed"};

struct Options {
  std::string package;
  jina3::EncoderOptions encoder;  // of the measured encoders: --device, --threads, ... (the options table's flags)
  std::vector<int> callers = {1, 8, 60, 256};
  std::vector<std::string> parts = kAllParts;
  double seconds = 15.0;
  double min_cycles = 4.0;
  double warmup_seconds = 3.0;
  double max_warmup_seconds = 60.0;
  double max_drain_seconds = 300.0;
  int batch_repeats = 3;
  int throughput_repeats = 2;
  int target_callers = 60;
  int mixed_callers = 60;
  int mixed_passages = 0;  // 0: sized from --mixed-seconds
  double mixed_seconds = 30.0;
  int passage_tokens_min = 100;
  int passage_tokens_max = 200;
  int all_threads = 0;  // 0: the CPUs this process may run on
  int query_pool = 1024;
  std::string out;
  std::string emit_inputs;
  bool inputs_only = false;

  bool has(const std::string& part) const { return std::find(parts.begin(), parts.end(), part) != parts.end(); }
};

// The CPUs this process may run on: what EncoderOptions::num_threads = 0 is documented to use.
int usable_cpus() {
#ifdef __linux__
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// JSON has no NaN: an undefined figure is null.
Json number(double value) { return std::isfinite(value) ? Json(value) : Json(); }

Json latency_ms(const std::vector<double>& seconds) {
  std::vector<double> ms;
  ms.reserve(seconds.size());
  for (double s : seconds) ms.push_back(s * 1e3);
  const double sum = std::accumulate(ms.begin(), ms.end(), 0.0);
  // p99 of fewer than 100 samples is the largest or close to it: the count says how far to trust it.
  return Json{{"count", ms.size()},
              {"p50", number(percentile(ms, 50))},
              {"p90", number(percentile(ms, 90))},
              {"p99", number(percentile(ms, 99))},
              {"max", number(percentile(ms, 100))},
              {"mean", number(ms.empty() ? NAN : sum / static_cast<double>(ms.size()))}};
}

double ratio(double numerator, double denominator) {
  return denominator > 0 && std::isfinite(numerator) && std::isfinite(denominator) ? numerator / denominator : NAN;
}

// Counters that hold a level (now, or the largest seen) rather than a running total: reported as
// they stand at the later snapshot.
bool is_level(std::string_view counter) {
  return counter == "queue_depth" || counter == "max_queue_depth" || counter == "cache_bytes" ||
         counter == "cache_entries";
}

// What the encoder did between two stats() snapshots: every counter (include/jina3/stats.hpp),
// then the figures that explain a result.
Json stats_delta(const jina3::EncoderStats& a, const jina3::EncoderStats& b) {
  const auto d = [](std::uint64_t before, std::uint64_t after) {
    return after >= before ? after - before : std::uint64_t{0};
  };
  Json out = Json::object();
#define JINA3_X(name, doc) out[#name] = is_level(#name) ? b.name : d(a.name, b.name);
  JINA3_STATS_FIELDS(JINA3_X)
#undef JINA3_X
  const auto per = [&out](const char* x, const char* n, double scale = 1.0) {
    const auto count = out[n].get<std::uint64_t>();
    return number(count ? static_cast<double>(out[x].get<std::uint64_t>()) / (static_cast<double>(count) * scale)
                        : NAN);
  };
  out["rows_per_pass"] = per("rows", "passes");
  out["tokens_per_pass"] = per("tokens", "passes");
  out["padded_per_real_token"] = per("padded_tokens", "tokens");
  out["queue_wait_ms_per_request"] = per("queue_wait_us", "requests", 1000.0);
  out["pass_ms"] = per("pass_us", "passes", 1000.0);
  return out;
}

// A phase that overruns its bound ends the process (tests/cpp/watchdog.hpp: exit 124), so that a
// stuck request cannot hang a benchmark run (or ctest) forever. Normal phases finish long before.
std::chrono::seconds bound(double seconds) {
  return std::chrono::seconds(static_cast<std::int64_t>(std::ceil(seconds)));
}

// One request of a closed-loop caller: when it ended and how long it took, in seconds.
struct Completion {
  double end_s;  // since the loop's origin
  double latency_s;
};

struct LoopResult {
  int callers = 0;
  double warmup_s = 0.0;
  bool steady = false;  // every caller had completed a request when the window opened
  double window_s = 0.0;
  double drain_s = 0.0;
  std::size_t completed_total = 0;  // warm-up and drain included
  std::vector<double> latencies_s;  // requests that completed inside the window
  // Sum over callers of (completions - 1) / (last end - first end) inside the window; NaN unless
  // every caller completed at least two requests there.
  double per_caller_rate = NAN;
  std::vector<std::string> errors;
  jina3::EncoderStats before, after;  // at the window's edges

  // Merged passes complete their callers in bursts, so a count over a window that holds only a few
  // passes is off by up to one burst. Each caller's own completion rate is not: it is one per
  // cycle, whatever the window's edges cut. The window count is kept beside it.
  double window_rate() const { return ratio(static_cast<double>(latencies_s.size()), window_s); }
  bool per_caller() const { return std::isfinite(per_caller_rate); }
  double requests_per_s() const { return per_caller() ? per_caller_rate : window_rate(); }

  Json to_json() const {
    Json errors_json = Json::array();
    for (const auto& e : errors) errors_json.push_back(e);
    return Json{{"callers", callers},
                {"window_s", window_s},
                {"completed", latencies_s.size()},
                {"requests_per_s", number(requests_per_s())},
                {"rate_method", per_caller() ? "per-caller cycles" : "window count"},
                {"requests_per_s_window", number(window_rate())},
                {"latency_ms", latency_ms(latencies_s)},
                {"warmup_s", warmup_s},
                {"steady_at_window_start", steady},
                {"drain_s", drain_s},
                {"completed_total", completed_total},
                {"errors", errors_json},
                {"stats", stats_delta(before, after)}};
  }
};

struct LoopTiming {
  double seconds;            // the window, unless window_work sets it
  double warmup_s;           // at least this long before the window opens ...
  double max_warmup_s;       // ... and until every caller has completed a request, at most this long
  double max_drain_s;        // after the window, callers finish their request in flight within this
  double max_window_work_s;  // bound of window_work, when given
};

// `callers` threads, each sending one query at a time to `encoder` until told to stop. The
// measurement window opens after the warm-up and lasts `timing.seconds`, or as long as
// `window_work` runs on this thread when one is given (the mixed load). Only requests that
// complete inside the window count; the callers then finish the request they have in flight.
LoopResult closed_loop(const jina3::Encoder& encoder, const std::vector<std::string>& queries, int callers,
                       const LoopTiming& timing, const std::string& phase,
                       const std::function<void()>& window_work = {}) {
  const double window_bound = window_work ? timing.max_window_work_s : timing.seconds;
  const jina3::test::Watchdog watchdog(phase.c_str(),
                                       bound(timing.max_warmup_s + window_bound + timing.max_drain_s + 30.0));

  std::mutex start_mutex;
  std::condition_variable start_signal;
  bool started = false;
  std::atomic<bool> stop{false};
  std::atomic<int> callers_done_once{0};
  std::atomic<int> failed_callers{0};
  std::vector<std::vector<Completion>> completions(static_cast<std::size_t>(callers));
  std::vector<std::string> errors(static_cast<std::size_t>(callers));
  Clock::time_point origin;

  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(callers));
  for (int c = 0; c < callers; ++c) {
    threads.emplace_back([&, c] {
      {
        std::unique_lock<std::mutex> lock(start_mutex);
        start_signal.wait(lock, [&] { return started; });
      }
      auto& mine = completions[static_cast<std::size_t>(c)];
      mine.reserve(1024);
      // Caller c sends queries c, c + callers, c + 2 callers, ...: no two callers send the same
      // text at the same moment, and every run sends the same sequence.
      for (std::size_t k = 0; !stop.load(std::memory_order_relaxed); ++k) {
        const std::vector<std::string> text = {
            queries[(static_cast<std::size_t>(c) + k * static_cast<std::size_t>(callers)) % queries.size()]};
        const auto sent = Clock::now();
        try {
          const jina3::Embeddings result = encoder.encode(text, kQueryTask);
          if (result.rows != 1)
            throw std::runtime_error(fmt::format("encode returned {} rows for 1 text", result.rows));
        } catch (const std::exception& e) {
          errors[static_cast<std::size_t>(c)] = e.what();
          failed_callers.fetch_add(1);
          return;
        }
        const auto done = Clock::now();
        mine.push_back({seconds_between(origin, done), seconds_between(sent, done)});
        if (k == 0) callers_done_once.fetch_add(1);
      }
    });
  }

  {
    std::lock_guard<std::mutex> lock(start_mutex);
    origin = Clock::now();
    started = true;
  }
  start_signal.notify_all();

  LoopResult result;
  result.callers = callers;
  for (;;) {
    const double elapsed = seconds_between(origin, Clock::now());
    const bool warm = elapsed >= timing.warmup_s && callers_done_once.load() == callers;
    if (warm || elapsed >= timing.max_warmup_s || failed_callers.load() > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  result.steady = callers_done_once.load() == callers;
  const auto window_start = Clock::now();
  result.warmup_s = seconds_between(origin, window_start);
  result.before = encoder.stats();
  if (window_work) {
    window_work();
  } else {
    std::this_thread::sleep_until(
        window_start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timing.seconds)));
  }
  const auto window_end = Clock::now();
  result.after = encoder.stats();
  stop.store(true);
  for (auto& t : threads) t.join();
  result.drain_s = seconds_between(window_end, Clock::now());

  result.window_s = seconds_between(window_start, window_end);
  const double from = seconds_between(origin, window_start), to = seconds_between(origin, window_end);
  double rate = 0.0;
  bool every_caller_twice = true;
  for (const auto& mine : completions) {
    result.completed_total += mine.size();
    std::size_t inside = 0;
    double first = 0.0, last = 0.0;
    for (const Completion& c : mine) {
      if (c.end_s < from || c.end_s > to) continue;
      result.latencies_s.push_back(c.latency_s);
      if (inside++ == 0) first = c.end_s;
      last = c.end_s;
    }
    if (inside >= 2 && last > first) {
      rate += static_cast<double>(inside - 1) / (last - first);
    } else {
      every_caller_twice = false;
    }
  }
  if (every_caller_twice) result.per_caller_rate = rate;
  for (std::size_t c = 0; c < errors.size(); ++c) {
    if (!errors[c].empty()) result.errors.push_back(fmt::format("caller {}: {}", c, errors[c]));
  }
  return result;
}

void report_loop(const std::string& label, const LoopResult& r) {
  const std::uint64_t passes = r.after.passes - r.before.passes, rows = r.after.rows - r.before.rows;
  fmt::print(stderr,
             "jina3_load_bench: {:<10} {:>4} callers: {:8.2f} req/s, p50 {:.1f} ms, p99 {:.1f} ms ({} requests in "
             "{:.1f} s; {} passes, {:.1f} rows/pass{})\n",
             label, r.callers, r.requests_per_s(), percentile(r.latencies_s, 50) * 1e3,
             percentile(r.latencies_s, 99) * 1e3, r.latencies_s.size(), r.window_s, passes,
             ratio(static_cast<double>(rows), static_cast<double>(passes)),
             r.errors.empty() ? "" : fmt::format("; {} callers failed", r.errors.size()));
}

// Times `call` `repeats` times after one untimed run; returns the runs and the stats delta of the timed ones.
Json timed_calls(const jina3::Encoder& encoder, int repeats, const std::function<void()>& call) {
  call();
  std::vector<double> runs;
  const jina3::EncoderStats before = encoder.stats();
  for (int i = 0; i < repeats; ++i) {
    const auto start = Clock::now();
    call();
    runs.push_back(seconds_between(start, Clock::now()));
  }
  const jina3::EncoderStats after = encoder.stats();
  return Json{{"runs_s", runs}, {"median_s", percentile(runs, 50)}, {"stats", stats_delta(before, after)}};
}

void check_rows(const jina3::Embeddings& e, std::size_t rows) {
  if (e.rows != rows) throw std::runtime_error(fmt::format("encode returned {} rows for {} texts", e.rows, rows));
}

// The same queries as the first `n` requests of the closed loop, in one encode call.
Json batched_call(const jina3::Encoder& encoder, const std::vector<std::string>& queries, int n, int repeats) {
  std::vector<std::string> texts;
  for (int i = 0; i < n; ++i) texts.push_back(queries[static_cast<std::size_t>(i) % queries.size()]);
  Json r = timed_calls(encoder, repeats, [&] { check_rows(encoder.encode(texts, kQueryTask), texts.size()); });
  const double median = r["median_s"].get<double>();
  Json out{{"callers", n}, {"texts", n}, {"median_s", median}, {"requests_per_s", number(ratio(n, median))}};
  out["runs_s"] = r["runs_s"];
  out["stats"] = r["stats"];
  fmt::print(stderr, "jina3_load_bench: batched    {:>4} queries in one call: {:.1f} ms, {:.2f} req/s\n", n,
             median * 1e3, ratio(n, median));
  return out;
}

// 64 passages x 128 tokens in one call (benchmarks/workloads.cpp "passages64", as jina3_bench runs it).
Json batch_throughput(const jina3::Encoder& encoder, const jina3_bench::Workload& w, int repeats) {
  Json r = timed_calls(encoder, repeats, [&] { check_rows(encoder.encode(w.texts, kPassageTask), w.texts.size()); });
  const double median = r["median_s"].get<double>();
  const auto tokens = static_cast<double>(w.real_tokens());
  Json out{{"workload", w.spec.name},
           {"texts", w.texts.size()},
           {"real_tokens", w.real_tokens()},
           {"median_s", median},
           {"tokens_per_s", number(ratio(tokens, median))}};
  out["runs_s"] = r["runs_s"];
  out["stats"] = r["stats"];
  return out;
}

// Short queries of 6-14 words: the first n words of a synthetic text (benchmarks/synthetic_texts.cpp),
// n uniform in [6, 14], a different text for every query.
struct Queries {
  std::vector<std::string> texts;
  std::vector<int> words;
  std::vector<int> tokens;  // prompt, <s> and </s> included
};

Queries make_queries(const jina3::Encoder& encoder, int count) {
  const int overhead = static_cast<int>(encoder.tokenize({""}, kQueryTask)[0].size());
  const std::vector<int> lengths = jina3_bench::uniform_lengths(static_cast<std::size_t>(count), 6, 14, 11);
  Queries q;
  for (int i = 0; i < count; ++i) {
    // 40 tokens of text hold at least 14 words unless most words split into three pieces.
    const std::string source =
        jina3_bench::calibrated_text(encoder, kQueryTask, overhead + 40, 6000 + static_cast<std::uint64_t>(i)).text;
    std::istringstream words(source);
    std::string word, text;
    int n = 0;
    while (n < lengths[static_cast<std::size_t>(i)] && words >> word) {
      text += (n++ ? " " : "") + word;
    }
    q.texts.push_back(text);
    q.words.push_back(n);
    q.tokens.push_back(static_cast<int>(encoder.tokenize({text}, kQueryTask)[0].size()));
  }
  return q;
}

Json int_summary(const std::vector<int>& values) {
  if (values.empty()) return Json{{"count", 0}};
  const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  const double mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
  return Json{{"count", values.size()}, {"min", *lo}, {"max", *hi}, {"mean", mean}};
}

// The mixed load's passages: lengths uniform in [lo, hi] tokens (prompt and specials included),
// calibrated like jina3_bench's; a longer list starts with the same texts as a shorter one.
struct Passages {
  std::vector<std::string> texts;
  std::vector<int> tokens;
  std::int64_t total_tokens() const { return std::accumulate(tokens.begin(), tokens.end(), std::int64_t{0}); }
};

void add_passages(Passages& p, const jina3::Encoder& encoder, std::size_t count, int lo, int hi) {
  const std::vector<int> lengths = jina3_bench::uniform_lengths(std::max(count, p.texts.size()), lo, hi, 13);
  for (std::size_t i = p.texts.size(); i < count; ++i) {
    jina3_bench::CalibratedText t = jina3_bench::calibrated_text(encoder, kPassageTask, lengths[i], 8000 + i);
    p.texts.push_back(std::move(t.text));
    p.tokens.push_back(t.tokens);
  }
}

// An option's value in the report: numbers and booleans as they are, enums by name.
template <class T>
Json option_value(const T& value) {
  return value;
}
Json option_value(jina3::Device device) { return jina3::to_string(device); }
Json option_value(jina3::DType dtype) { return jina3::to_string(dtype); }

// Every field of the options table (include/jina3/options.hpp).
Json options_json(const jina3::EncoderOptions& e) {
  Json out = Json::object();
#define JINA3_X(type, name, value, flag, doc) out[#name] = option_value(e.name);
  JINA3_ENCODER_OPTION_FIELDS(JINA3_X)
#undef JINA3_X
  return out;
}

std::unique_ptr<jina3::Encoder> load(const std::string& name, const Options& o, const jina3::EncoderOptions& options,
                                     Json& encoders) {
  fmt::print(stderr, "jina3_load_bench: loading the {} encoder ({})\n", name, options_json(options).dump());
  const auto start = Clock::now();
  auto encoder = std::make_unique<jina3::Encoder>(o.package, options);
  encoders[name] = Json{{"options", options_json(options)}, {"load_s", seconds_between(start, Clock::now())}};
  return encoder;
}

// j[key], or null when j has no such member.
const Json& member(const Json& j, const std::string& key) {
  static const Json null;
  return j.is_object() && j.contains(key) ? j.at(key) : null;
}

// Looks up a measurement by caller count in an array of results.
const Json* find_callers(const Json& list, int callers) {
  if (!list.is_array()) return nullptr;
  for (const auto& item : list) {
    if (item.value("callers", -1) == callers) return &item;
  }
  return nullptr;
}

double get(const Json* j, const std::vector<std::string>& path) {
  if (!j) return NAN;
  const Json* at = j;
  for (const auto& key : path) {
    if (!at->is_object() || !at->contains(key)) return NAN;
    at = &(*at)[key];
  }
  return at->is_number() ? at->get<double>() : NAN;
}

// One line of the targets table: measured = numerator / denominator, reached when it is on the right
// side of `bound` (null when a figure is missing from this run).
Json target(const std::string& name, const std::string& measure, double numerator, double denominator,
            const std::string& op, double bound, double samples = NAN) {
  const double measured = ratio(numerator, denominator);
  Json reached;
  if (std::isfinite(measured)) reached = op == ">=" ? measured >= bound : measured <= bound;
  Json t{{"name", name},
         {"measure", measure},
         {"numerator", number(numerator)},
         {"denominator", number(denominator)},
         {"measured", number(measured)},
         {"op", op},
         {"target", bound},
         {"reached", reached}};
  if (std::isfinite(samples)) t["samples"] = samples;
  return t;
}

Json targets(const Json& report, const Options& o) {
  Json list = Json::array();
  const Json& closed = member(report, "closed_loop");
  const Json* sched_n = find_callers(member(closed, "scheduler"), o.target_callers);
  const Json* batch_n = find_callers(member(report, "batched"), o.target_callers);
  const Json* sched_1 = find_callers(member(closed, "scheduler"), 1);
  const Json* bypass_1 = find_callers(member(closed, "bypass"), 1);
  const double batch_s = get(batch_n, {"median_s"});
  const std::string n = std::to_string(o.target_callers);
  list.push_back(target(n + " callers req/s vs one batched call of " + n, "req/s ratio",
                        get(sched_n, {"requests_per_s"}), get(batch_n, {"requests_per_s"}), ">=", 0.9));
  list.push_back(target(n + " callers p99 vs that call's time", "p99 / batched time",
                        get(sched_n, {"latency_ms", "p99"}), batch_s * 1e3, "<=", 2.0,
                        get(sched_n, {"latency_ms", "count"})));
  list.push_back(target("1 caller latency, scheduler vs bypass", "p50 ratio", get(sched_1, {"latency_ms", "p50"}),
                        get(bypass_1, {"latency_ms", "p50"}), "<=", 1.05, get(sched_1, {"latency_ms", "count"})));
  const Json& d = member(report, "defaults");
  const Json &def = member(d, "default"), &all = member(d, "all_cpus");
  list.push_back(target("defaults vs num_threads=all: 1 caller latency", "p50 ratio", get(&def, {"latency_ms", "p50"}),
                        get(&all, {"latency_ms", "p50"}), "<=", 1.10));
  list.push_back(target("defaults vs num_threads=all: 64x128 batch", "tokens/s ratio",
                        get(&def, {"batch", "tokens_per_s"}), get(&all, {"batch", "tokens_per_s"}), ">=", 0.90));
  const Json& mixed = member(report, "mixed");
  const Json* batch_m = find_callers(member(report, "batched"), o.mixed_callers);
  const std::string m = std::to_string(o.mixed_callers);
  list.push_back(target("mixed: query p99 vs batched " + m + " call time", "p99 / batched time",
                        get(&mixed, {"mixed", "queries", "latency_ms", "p99"}), get(batch_m, {"median_s"}) * 1e3,
                        "<=", 3.0, get(&mixed, {"mixed", "queries", "latency_ms", "count"})));
  list.push_back(target("mixed: passages vs solo throughput", "tokens/s ratio",
                        get(&mixed, {"mixed", "passages", "tokens_per_s"}), get(&mixed, {"solo", "tokens_per_s"}),
                        ">=", 0.8));
  return list;
}

void write_inputs(const std::string& path, const Queries& q) {
  Json doc{{"task", jina3::to_string(kQueryTask)}, {"queries", q.texts}, {"words", q.words}, {"tokens", q.tokens}};
  std::ofstream out(path);
  out << doc.dump(1) << '\n';
  if (!out) throw std::runtime_error("cannot write " + path);
}

int run(const Options& o) {
  const int cpus = usable_cpus();
  const int all_threads = o.all_threads > 0 ? o.all_threads : cpus;
  const jina3::EncoderOptions& base = o.encoder;
  const LoopTiming timing{o.seconds, o.warmup_seconds, std::max(o.max_warmup_seconds, o.warmup_seconds),
                          o.max_drain_seconds, 0.0};

  Json report{{"tool", "jina3_load_bench"},
              {"jina3_version", jina3::version()},
              {"package", o.package},
              {"device", jina3::to_string(o.encoder.device)},
              {"device_index", o.encoder.device_index},
              {"cpus", cpus},
              {"all_threads", all_threads}};
  Json encoders = Json::object();
  auto encoder = load("scheduler", o, base, encoders);
  report["dtype"] = jina3::to_string(encoder->dtype());
  report["hidden_size"] = encoder->hidden_size();

  const Queries queries = make_queries(*encoder, std::max(o.query_pool, 1));
  report["queries"] = Json{{"task", jina3::to_string(kQueryTask)},
                           {"pool", queries.texts.size()},
                           {"words", int_summary(queries.words)},
                           {"tokens", int_summary(queries.tokens)}};
  if (!o.emit_inputs.empty()) write_inputs(o.emit_inputs, queries);
  if (o.inputs_only) return 0;

  report["settings"] = Json{{"callers", o.callers},
                            {"parts", o.parts},
                            {"seconds", o.seconds},
                            {"min_cycles", o.min_cycles},
                            {"warmup_seconds", o.warmup_seconds},
                            {"max_warmup_seconds", timing.max_warmup_s},
                            {"batch_repeats", o.batch_repeats},
                            {"throughput_repeats", o.throughput_repeats},
                            {"target_callers", o.target_callers},
                            {"mixed_callers", o.mixed_callers},
                            {"passage_tokens", {o.passage_tokens_min, o.passage_tokens_max}}};
  Json closed = Json::object();
  bool failed = false;

  // 1. The scheduler encoder (default options): batched calls first, which also warm it up.
  if (o.has("batched")) {
    std::vector<int> sizes = o.callers;
    if (o.has("mixed")) sizes.push_back(o.mixed_callers);  // the mixed target's yardstick
    std::sort(sizes.begin(), sizes.end());
    sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
    Json list = Json::array();
    for (int n : sizes) list.push_back(batched_call(*encoder, queries.texts, n, o.batch_repeats));
    report["batched"] = list;
  }
  const auto run_loops = [&](const std::string& name, const jina3::Encoder& e, const std::vector<int>& counts) {
    Json list = Json::array();
    for (int n : counts) {
      // The window holds at least --min-cycles passes' worth of time: one batched call of the same
      // n queries is about one cycle of the loop.
      LoopTiming t = timing;
      const double cycle_s = get(find_callers(member(report, "batched"), n), {"median_s"});
      if (std::isfinite(cycle_s)) t.seconds = std::max(t.seconds, o.min_cycles * cycle_s);
      const LoopResult r = closed_loop(e, queries.texts, n, t, fmt::format("{} with {} callers", name, n));
      report_loop(name, r);
      failed = failed || !r.errors.empty();
      list.push_back(r.to_json());
    }
    return list;
  };
  if (o.has("closed")) closed["scheduler"] = run_loops("scheduler", *encoder, o.callers);

  jina3_bench::Workload passages64;
  if (o.has("defaults")) {
    passages64 = jina3_bench::make_workload(*encoder, "passages64", 0);
    Json def{{"num_threads", base.num_threads}};
    const Json* one = find_callers(member(closed, "scheduler"), 1);
    def["latency_ms"] = one ? (*one)["latency_ms"] : run_loops("scheduler", *encoder, {1})[0]["latency_ms"];
    def["batch"] = batch_throughput(*encoder, passages64, o.throughput_repeats);
    fmt::print(stderr, "jina3_load_bench: default options: 64x128 batch {:.0f} tokens/s\n",
               def["batch"]["tokens_per_s"].get<double>());
    report["defaults"] = Json{{"default", def}};
  }

  if (o.has("mixed")) {
    // Warm-up: two calls of the first 32 passages (the first of a new shape pays for allocation
    // and graph specialisation). The second sizes the batch when --mixed-passages is 0: enough
    // passages for about --mixed-seconds of solo work, at most 2,000 (the count).
    Passages passages;
    add_passages(passages, *encoder, 32, o.passage_tokens_min, o.passage_tokens_max);
    check_rows(encoder->encode(passages.texts, kPassageTask), passages.texts.size());
    const auto warm_start = Clock::now();
    check_rows(encoder->encode(passages.texts, kPassageTask), passages.texts.size());
    const double warm_s = seconds_between(warm_start, Clock::now());
    std::size_t count = static_cast<std::size_t>(o.mixed_passages);
    std::string sizing = "--mixed-passages";
    if (count == 0) {
      const double per_passage_s = warm_s / static_cast<double>(passages.texts.size());
      count = static_cast<std::size_t>(std::clamp(o.mixed_seconds / per_passage_s, 32.0, 2000.0));
      sizing = fmt::format("about {:g} s of solo work at the warm-up's {:.1f} ms per passage, 32 to 2000",
                           o.mixed_seconds, per_passage_s * 1e3);
    }
    add_passages(passages, *encoder, count, o.passage_tokens_min, o.passage_tokens_max);
    passages.texts.resize(count);
    passages.tokens.resize(count);
    const auto tokens = static_cast<double>(passages.total_tokens());
    fmt::print(stderr, "jina3_load_bench: mixed load: {} passages, {} tokens ({})\n", count, passages.total_tokens(),
               sizing);

    const jina3::EncoderStats solo_before = encoder->stats();
    const auto solo_start = Clock::now();
    {
      const jina3::test::Watchdog watchdog("the solo passage call",
                                           bound(std::max(60.0, 40.0 * warm_s * static_cast<double>(count) / 32.0)));
      check_rows(encoder->encode(passages.texts, kPassageTask), count);
    }
    const double solo_s = seconds_between(solo_start, Clock::now());
    const jina3::EncoderStats solo_after = encoder->stats();
    fmt::print(stderr, "jina3_load_bench: passages alone: {:.1f} s, {:.0f} tokens/s\n", solo_s, tokens / solo_s);

    double mixed_s = NAN;
    LoopTiming mixed_timing = timing;
    mixed_timing.max_window_work_s = std::max(120.0, 10.0 * solo_s);
    const LoopResult r = closed_loop(*encoder, queries.texts, o.mixed_callers, mixed_timing,
                                     fmt::format("the mixed load ({} callers)", o.mixed_callers), [&] {
                                       const auto start = Clock::now();
                                       check_rows(encoder->encode(passages.texts, kPassageTask), count);
                                       mixed_s = seconds_between(start, Clock::now());
                                     });
    report_loop("mixed", r);
    failed = failed || !r.errors.empty();
    fmt::print(stderr, "jina3_load_bench: passages under load: {:.1f} s, {:.0f} tokens/s\n", mixed_s, tokens / mixed_s);
    Json queries_json = r.to_json();
    queries_json.erase("stats");
    report["mixed"] = Json{{"callers", o.mixed_callers},
                           {"passages",
                            {{"count", count},
                             {"real_tokens", passages.total_tokens()},
                             {"tokens", int_summary(passages.tokens)},
                             {"sizing", sizing},
                             {"warmup_s", warm_s}}},
                           {"solo",
                            {{"seconds", solo_s},
                             {"texts_per_s", number(ratio(static_cast<double>(count), solo_s))},
                             {"tokens_per_s", number(ratio(tokens, solo_s))},
                             {"stats", stats_delta(solo_before, solo_after)}}},
                           {"mixed",
                            {{"passages",
                              {{"seconds", mixed_s},
                               {"texts_per_s", number(ratio(static_cast<double>(count), mixed_s))},
                               {"tokens_per_s", number(ratio(tokens, mixed_s))}}},
                             {"queries", queries_json},
                             {"stats", stats_delta(r.before, r.after)}}}};
  }
  encoder.reset();

  // 2. The per-call path: the same callers, each running its own passes on its own thread.
  if (o.has("bypass")) {
    jina3::EncoderOptions bypass = base;
    bypass.use_scheduler = false;
    auto e = load("bypass", o, bypass, encoders);
    closed["bypass"] = run_loops("bypass", *e, o.callers);
  }
  report["closed_loop"] = closed;

  // 3. num_threads = every CPU, spelled out, beside the defaults measured above.
  if (o.has("defaults")) {
    jina3::EncoderOptions all = base;
    all.num_threads = all_threads;
    auto e = load("all_cpus", o, all, encoders);
    Json entry{{"num_threads", all_threads}};
    entry["latency_ms"] = run_loops("all_cpus", *e, {1})[0]["latency_ms"];
    entry["batch"] = batch_throughput(*e, passages64, o.throughput_repeats);
    fmt::print(stderr, "jina3_load_bench: num_threads={}: 64x128 batch {:.0f} tokens/s\n", all_threads,
               entry["batch"]["tokens_per_s"].get<double>());
    report["defaults"]["all_cpus"] = entry;
  }

  report["encoders"] = encoders;
  report["targets"] = targets(report, o);
  report["notes"] = Json::array(
      {"closed loop: each caller sends one query, waits for its embedding, sends the next; the window lasts "
       "--seconds or --min-cycles times the batched call of the same queries, whichever is longer",
       "requests_per_s: the sum of each caller's completion rate inside the window (robust to passes completing "
       "callers in bursts); requests_per_s_window: requests completed in the window / its length",
       "latency_ms: the requests that completed inside the window (after the warm-up)",
       "latency_ms.count is the sample size: with few samples p99 is close to the maximum",
       "stats: Encoder::stats() deltas over the window (the timed calls for batched ones); rows_per_pass = rows "
       "accepted / passes run",
       "bypass: EncoderOptions::use_scheduler = false, each call runs its own passes on the calling thread"});
  for (const auto& t : report["targets"]) {
    fmt::print(stderr, "jina3_load_bench: target {}: {} {} {} -> {}\n", t["name"].get<std::string>(),
               t["measured"].is_null() ? std::string("n/a") : fmt::format("{:.3f}", t["measured"].get<double>()),
               t["op"].get<std::string>(), t["target"].get<double>(),
               t["reached"].is_null()     ? "n/a"
               : t["reached"].get<bool>() ? "yes"
                                          : "no");
  }

  const std::string text = report.dump(1);
  if (o.out.empty()) {
    std::cout << text << std::endl;
  } else {
    std::ofstream out(o.out);
    out << text << '\n';
    if (!out) throw std::runtime_error("cannot write " + o.out);
  }
  if (failed) {
    fmt::print(stderr, "jina3_load_bench: some requests failed (see \"errors\" in the report)\n");
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace jina3_load_bench

int main(int argc, char** argv) {
  using jina3_load_bench::Options;
  Options o;
  CLI::App app{
      "jina3_load_bench: serving benchmark of one jina3 package (closed-loop callers, batched calls, "
      "scheduler bypass, mixed load, default threads). JSON on stdout or --out; progress on stderr."};
  // A number within [lo, hi], its default shown.
  const auto ranged = [&app](const std::string& name, auto& value, auto lo, auto hi, const std::string& help) {
    app.add_option(name, value, help)->check(CLI::Range(lo, hi))->capture_default_str();
  };
  app.add_option("--package", o.package, "jina3 model package")->required();
  jina3_args::add_encoder_option_flags(&app, o.encoder);
  app.add_option("--all-threads", o.all_threads, "num_threads the defaults are compared with (0 = every usable CPU)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--callers", o.callers, "closed-loop caller counts, comma-separated")
      ->delimiter(',')
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--parts", o.parts, "what to run: batched, closed, bypass, defaults, mixed (comma-separated)")
      ->delimiter(',')
      ->check(CLI::IsMember(jina3_load_bench::kAllParts))
      ->capture_default_str();
  ranged("--seconds", o.seconds, 0.05, 86400.0, "measurement window of each closed loop");
  ranged("--min-cycles", o.min_cycles, 0.0, 1000.0,
         "each window lasts at least this many times the batched call of the same queries");
  ranged("--warmup-seconds", o.warmup_seconds, 0.0, 3600.0,
         "warm-up before each window (longer until every caller has completed a request)");
  ranged("--max-warmup-seconds", o.max_warmup_seconds, 0.0, 3600.0, "the window opens after this long in any case");
  ranged("--max-drain-seconds", o.max_drain_seconds, 1.0, 86400.0,
         "bound on callers finishing after a window (else exit 124)");
  ranged("--batch-repeats", o.batch_repeats, 1, 1000, "timed runs of each batched call");
  ranged("--throughput-repeats", o.throughput_repeats, 1, 1000, "timed runs of the 64x128 batch");
  ranged("--target-callers", o.target_callers, 1, 4096, "caller count the targets compare with its batched call");
  ranged("--mixed-callers", o.mixed_callers, 1, 4096, "query callers of the mixed load");
  ranged("--mixed-passages", o.mixed_passages, 0, 1000000,
         "passages in the mixed load's one call (0 = sized from --mixed-seconds, at most 2000)");
  ranged("--mixed-seconds", o.mixed_seconds, 0.01, 86400.0, "with --mixed-passages 0: solo seconds of passage work");
  ranged("--passage-tokens-min", o.passage_tokens_min, 4, 8192,
         "shortest passage, tokens (prompt and specials included)");
  ranged("--passage-tokens-max", o.passage_tokens_max, 4, 8192, "longest passage, tokens");
  ranged("--query-pool", o.query_pool, 1, 1000000, "distinct query texts");
  app.add_option("--out", o.out, "write the JSON here instead of stdout");
  app.add_option("--emit-inputs", o.emit_inputs, "write the query texts (JSON) for benchmarks/load_bench.py");
  app.add_flag("--inputs-only", o.inputs_only, "with --emit-inputs: write the inputs and exit");
  try {
    app.parse(argc, argv);
    if (o.inputs_only && o.emit_inputs.empty()) throw CLI::ValidationError("--inputs-only needs --emit-inputs");
    if (o.passage_tokens_min > o.passage_tokens_max) {
      throw CLI::ValidationError("--passage-tokens-min is above --passage-tokens-max");
    }
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 64;
  }
  try {
    return jina3_load_bench::run(o);
  } catch (const jina3::Error& e) {
    fmt::print(stderr, "jina3_load_bench: jina3 error ({}): {}\n", jina3::to_string(e.code()), e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "jina3_load_bench: {}\n", e.what());
    return 1;
  }
}
