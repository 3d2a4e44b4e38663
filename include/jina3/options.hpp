// Options for loading an Encoder (EncoderOptions) and for one encode call (EncodeOptions).
#pragma once

#include <cstddef>
#include <cstdint>

#include <jina3/task.hpp>

namespace jina3 {

// Load-time settings. Fixed for the lifetime of an Encoder.
struct EncoderOptions {
  Device device = Device::CPU;
  int device_index = 0;          // CUDA device ordinal
  DType dtype = DType::Auto;     // Auto: the package's dtype; Float32/BFloat16/Float16 cast at load
  // Intra-op threads for CPU inference, owned by the encoder's worker thread. 0 = every CPU this
  // process may run on (sched_getaffinity), not LibTorch's own default (which is 1 on some VMs).
  int num_threads = 0;
  int max_batch_tokens = 0;      // padded tokens per forward pass; 0 = automatic for the device
  int max_batch_size = 0;        // rows per forward pass; 0 = automatic for the device
  bool verify_checksums = true;  // check every package file's SHA-256 against the manifest at load
  // CPU: make glibc keep freed memory in the process (no mmap for large blocks, no heap trimming)
  // so that each forward pass reuses the last one's pages instead of page-faulting hundreds of
  // MiB back in (1.3x faster on a 2-core VM). Process-wide and permanent once any Encoder has
  // set it: resident memory then stays near its peak. False leaves malloc as it is.
  bool retain_host_memory = true;

  // Serving: every encode call goes through one request scheduler per encoder, which merges the
  // rows of concurrent callers into shared forward passes (see README, "Serving many callers").
  // After a pass that completed several requests, the next pass may wait up to max_wait_us
  // microseconds for those callers to come back before it starts with fewer rows; 0 = never wait.
  // An idle encoder always starts a request at once.
  int max_wait_us = 2000;
  // Requests accepted and not yet completed, at most; a full queue makes encode block (or fail
  // with QueueFull when EncodeOptions::block_when_full is false). 0 = automatic (1024).
  int max_queued_requests = 0;
  // In-process LRU cache of embeddings, bounded in bytes (text, vector and bookkeeping counted).
  // The key is the exact text bytes, task, dims, max_length, normalize and truncate, within this
  // encoder's package. 0 = off.
  std::size_t cache_bytes = 0;
  // false: each call runs its own passes on the calling thread, as before the scheduler existed
  // (no merging across callers, no queue bound, no max_wait_us). For comparison and benchmarks.
  bool use_scheduler = true;
};

// Per-call settings.
struct EncodeOptions {
  bool normalize = true;  // L2-normalise each row after Matryoshka truncation
  bool truncate = true;   // over-long texts are cut to max_length; false: throw InputTooLong
  int max_length = 0;     // token limit per text, <s> and </s> included; 0 = package max_length
  int batch_size = 0;     // at most this many of this call's rows in one forward pass; 0 = EncoderOptions' limits
  // Fail with DeadlineExceeded if the request has not started (none of its rows in a forward pass)
  // within deadline_us microseconds of the call. 0 = no deadline.
  std::int64_t deadline_us = 0;
  // When the encoder's queue is full (EncoderOptions::max_queued_requests): true waits for room,
  // false fails at once with QueueFull (the non-blocking "try" form).
  bool block_when_full = true;
};

}  // namespace jina3
