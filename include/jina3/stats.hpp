// Counters of one encoder since it was loaded (Encoder::stats()), declared once: the struct, the
// C struct's conversion (capi/), Python's stats() dict and the benchmarks' reports come from the
// table. Every counter is a uint64; times are in microseconds.
#pragma once

#include <cstdint>

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
  X(failed, "requests failed by a pass (out of memory, ...) or cancelled")                                 \
  X(cache_hits, "rows answered from the cache")                                                            \
  X(cache_misses, "rows looked up and not found (0 while the cache is off)")                               \
  X(cache_evictions, "entries dropped to stay within cache_bytes")                                         \
  X(cache_bytes, "bytes the cache holds now")                                                              \
  X(cache_entries, "entries the cache holds now")                                                          \
  X(queue_wait_us, "summed over requests: from the call to its first forward pass")                        \
  X(pass_us, "summed over passes: time inside forward passes and pooling")

namespace jina3 {

struct EncoderStats {
#define JINA3_X(name, doc) std::uint64_t name = 0;
  JINA3_STATS_FIELDS(JINA3_X)
#undef JINA3_X
};

}  // namespace jina3
