// Options for loading an Encoder (EncoderOptions) and for one encode call (EncodeOptions).
//
// Each option is declared once, in the tables below; the structs, the C defaults and conversion
// (capi/), Python's keywords and docs (python/src/) and the jina3 tool's flags (cli/) are all
// made from these rows. A new field goes in its table, in jina3.h's struct, and where it is used.
#pragma once

#include <cstddef>
#include <cstdint>

#include <jina3/task.hpp>

// Load-time settings, fixed for the lifetime of an Encoder.
// X(type, name, default, CLI flag ("" when the tool has none; "--no-..." for a bool that defaults to
// true), doc)
#define JINA3_ENCODER_OPTION_FIELDS(X)                                                                                \
  X(Device, device, Device::CPU, "--device", "where the model runs: cpu, or cuda (with device_index)")               \
  X(int, device_index, 0, "", "CUDA device ordinal")                                                                 \
  X(DType, dtype, DType::Auto, "--dtype",                                                                             \
    "the backbone's numeric type: auto (as stored in the package) or float32/bfloat16/float16, cast at load")         \
  X(int, num_threads, 0, "--threads",                                                                                 \
    "intra-op CPU threads of the encoder's worker; 0 = every CPU this process may run on (sched_getaffinity)")       \
  X(int, max_batch_tokens, 0, "--max-batch-tokens", "padded tokens per forward pass; 0 = automatic for the device")  \
  X(int, max_batch_size, 0, "--max-batch-size", "rows per forward pass; 0 = automatic for the device")               \
  X(bool, verify_checksums, true, "--no-verify", "check every package file's SHA-256 against the manifest at load")            \
  X(bool, retain_host_memory, true, "",                                                                               \
    "CPU: keep freed memory in the process (glibc: no mmap for large blocks, no trimming) so that passes reuse "     \
    "their pages; process-wide and permanent once any encoder has set it")                                           \
  X(int, max_wait_us, 2000, "--max-wait-us",                                                                                       \
    "after a pass that completed several requests, wait up to this long for their callers to come back before a "   \
    "smaller pass; 0 = never wait (an idle encoder always starts at once)")                                           \
  X(int, max_queued_requests, 0, "--max-queued-requests",                                                                                  \
    "requests accepted and not yet completed, at most; a full queue makes calls wait, or fail with QueueFull "       \
    "when block_when_full is false; 0 = automatic (1024)")                                                           \
  X(std::size_t, cache_bytes, 0, "--cache-bytes",                                                                     \
    "in-process LRU cache of embeddings, bounded in bytes; keyed by the exact text, task, dims and every per-call " \
    "option that changes a vector; 0 = off")                                                                          \
  X(double, bulk_share, 0.25, "--bulk-share",                                                                         \
    "the share of a step's tokens that bulk-priority rows keep while both lanes have work (0..1); bulk is "        \
    "never starved")                                                                                                  \
  X(int, bulk_pass_tokens, 0, "--bulk-pass-tokens",                                                                  \
    "padded tokens per pass of bulk-priority rows at most, so that an interactive call never waits behind a long "   \
    "bulk pass; 0 = automatic (CPU: 256; CUDA: bulk_share x max_batch_tokens)")                                       \
  X(bool, use_scheduler, true, "",                                                                                    \
    "false: each call runs its own passes on the calling thread (no merging across callers, no queue bound); for "  \
    "comparisons")

// Per-call settings.
// X(type, name, default, changes the vector (and so is part of the cache key), CLI flag, doc)
#define JINA3_ENCODE_OPTION_FIELDS(X)                                                                                 \
  X(bool, normalize, true, true, "--no-normalize", "L2-normalise each row after Matryoshka truncation")              \
  X(bool, truncate, true, true, "--no-truncate",                                                                      \
    "cut over-long texts to max_length; false: fail with InputTooLong")                                              \
  X(int, max_length, 0, true, "--max-length",                                                                         \
    "token limit per text, <s> and </s> included; 0 = the package's max_length")                                    \
  X(int, batch_size, 0, false, "--batch-size",                                                                        \
    "at most this many of this call's rows in one forward pass; 0 = the encoder's limits")                          \
  X(std::int64_t, deadline_us, 0, false, "",                                                                          \
    "fail with DeadlineExceeded if none of the call's rows is in a forward pass within this many microseconds; "    \
    "0 = no deadline")                                                                                                \
  X(bool, block_when_full, true, false, "",                                                                           \
    "when the queue is full: true waits for room (up to deadline_us), false fails at once with QueueFull")           \
  X(Priority, priority, Priority::Interactive, false, "--priority",                                                   \
    "the call's lane: interactive (served first) or bulk (at least bulk_share of each step while both have work)") \
  X(bool, split_special_tokens, false, true, "--split-special-tokens",                                               \
    "true: <s>, </s>, <unk>, <pad> and <mask> in a text are plain text; false: their special ids, as Hugging "      \
    "Face's fast tokenizer gives")

namespace jina3 {

struct EncoderOptions {
#define JINA3_X(type, name, value, flag, doc) type name = value;
  JINA3_ENCODER_OPTION_FIELDS(JINA3_X)
#undef JINA3_X
};

struct EncodeOptions {
#define JINA3_X(type, name, value, keyed, flag, doc) type name = value;
  JINA3_ENCODE_OPTION_FIELDS(JINA3_X)
#undef JINA3_X
};

}  // namespace jina3
