// Options for loading an Encoder (EncoderOptions) and for one encode call (EncodeOptions).
#pragma once

#include <cstddef>

#include <jina3/task.hpp>

namespace jina3 {

// Load-time settings. Fixed for the lifetime of an Encoder.
struct EncoderOptions {
  Device device = Device::CPU;
  int device_index = 0;          // CUDA device ordinal
  DType dtype = DType::Auto;     // Auto: the package's dtype; Float32/BFloat16/Float16 cast at load
  int num_threads = 0;           // intra-op threads for CPU inference; 0 = LibTorch default (all cores)
  int max_batch_tokens = 0;      // padded tokens per forward pass; 0 = automatic for the device
  int max_batch_size = 0;        // rows per forward pass; 0 = automatic for the device
  bool verify_checksums = true;  // check every package file's SHA-256 against the manifest at load
  // CPU: make glibc keep freed memory in the process (no mmap for large blocks, no heap trimming)
  // so that each forward pass reuses the last one's pages instead of page-faulting hundreds of
  // MiB back in (1.3x faster on a 2-core VM). Process-wide and permanent once any Encoder has
  // set it: resident memory then stays near its peak. False leaves malloc as it is.
  bool retain_host_memory = true;
};

// Per-call settings.
struct EncodeOptions {
  bool normalize = true;  // L2-normalise each row after Matryoshka truncation
  bool truncate = true;   // over-long texts are cut to max_length; false: throw InputTooLong
  int max_length = 0;     // token limit per text, <s> and </s> included; 0 = package max_length
  int batch_size = 0;     // rows per forward pass for this call; 0 = EncoderOptions' limits
};

}  // namespace jina3
