// Counters of one encoder since it was loaded (Encoder::stats()), declared once: the struct, the
// C struct's conversion (capi/), Python's stats() dict, the HTTP server's /metrics and the
// benchmarks' reports come from these tables. Every counter is a uint64; times are in microseconds.
#pragma once

#include <cstddef>
#include <cstdint>

#include <jina3/task.hpp>

// X(name, doc)
#define JINA3_STATS_FIELDS(X)                                                                              \
  X(requests, "calls accepted (encode, encode_async, ...), cache-only ones included")                     \
  X(rows, "texts in those calls")                                                                          \
  X(passes, "forward passes run")                                                                          \
  X(tokens, "real tokens in those passes")                                                                 \
  X(padded_tokens, "rows x longest row, summed over passes (>= tokens)")                                   \
  X(queue_depth, "requests accepted and not yet completed, now")                                           \
  X(max_queue_depth, "the largest queue_depth seen")                                                       \
  X(rejected, "calls refused with QueueFull")                                                              \
  X(deadline_exceeded, "requests failed with DeadlineExceeded")                                            \
  X(failed, "requests failed by a pass (out of memory, ...) or by the encoder's destruction")             \
  X(cache_hits, "rows answered from the cache")                                                            \
  X(cache_misses, "rows looked up and not found (0 while the cache is off)")                               \
  X(cache_evictions, "entries dropped to stay within cache_bytes")                                         \
  X(cache_bytes, "bytes the cache holds now")                                                              \
  X(cache_entries, "entries the cache holds now")                                                          \
  X(queue_wait_us, "summed over requests: from the call to its first forward pass")                        \
  X(pass_us, "summed over passes: time inside forward passes and pooling")                               \
  X(cancelled, "requests cancelled by their caller (cancel(), a disconnect, Ctrl-C)")

// Per lane (Priority) counters. X(name, doc)
#define JINA3_LANE_STATS_FIELDS(X)                                                                         \
  X(requests, "requests accepted in this lane")                                                            \
  X(rows, "their rows")                                                                                    \
  X(passes, "forward passes of this lane's rows (a pass holds one lane's rows only)")                      \
  X(tokens, "real tokens in those passes")                                                                 \
  X(padded_tokens, "rows x longest row over those passes; padded_tokens / tokens is the padding ratio")    \
  X(cancelled, "requests cancelled by their caller")                                                       \
  X(cancelled_rows, "rows of cancelled requests that never ran")

// Per lane histograms. X(name, unit, doc). Bucket i (0 <= i < kHistogramBuckets - 1) counts the
// values v with 2^(i-1) < v <= 2^i (bucket 0: v <= 1); the last bucket counts everything larger.
#define JINA3_LANE_HISTOGRAMS(X)                                                                           \
  X(latency_us, "microseconds", "request latency: from the call to its completion (successful requests)")\
  X(queue_wait_us, "microseconds", "from the call to the request's first forward pass")                  \
  X(rows_per_pass, "rows", "rows in each pass")                                                            \
  X(tokens_per_pass, "tokens", "real tokens in each pass")

namespace jina3 {

constexpr std::size_t kHistogramBuckets = 32;

// Upper bound of bucket i (2^i); the last bucket has none (+Inf).
constexpr std::uint64_t histogram_bound(std::size_t i) noexcept { return std::uint64_t{1} << i; }

struct Histogram {
  std::uint64_t buckets[kHistogramBuckets] = {};  // not cumulative
  std::uint64_t count = 0;
  std::uint64_t sum = 0;

  void add(std::uint64_t value) noexcept {
    std::size_t i = 0;
    while (i + 1 < kHistogramBuckets && value > histogram_bound(i)) ++i;
    ++buckets[i];
    ++count;
    sum += value;
  }
};

struct LaneStats {
#define JINA3_X(name, doc) std::uint64_t name = 0;
  JINA3_LANE_STATS_FIELDS(JINA3_X)
#undef JINA3_X
#define JINA3_X(name, unit, doc) Histogram name;
  JINA3_LANE_HISTOGRAMS(JINA3_X)
#undef JINA3_X
};

struct EncoderStats {
#define JINA3_X(name, doc) std::uint64_t name = 0;
  JINA3_STATS_FIELDS(JINA3_X)
#undef JINA3_X
  LaneStats lanes[kPriorityCount];  // indexed by Priority
};

}  // namespace jina3
