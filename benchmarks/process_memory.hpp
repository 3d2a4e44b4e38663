// Memory readings for the benchmark without linking anything but jina3: resident set size from
// /proc/self/status, and (on CUDA) device memory in use from NVML, loaded with dlopen at run time.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace jina3_bench {

// Current resident set size (VmRSS) in bytes, or nullopt where /proc is unavailable.
std::optional<std::int64_t> resident_bytes();
// Peak resident set size since start or since the last reset_peak_resident() (VmHWM), in bytes.
std::optional<std::int64_t> peak_resident_bytes();
// Resets VmHWM to the current RSS (Linux: "5" into /proc/self/clear_refs) so each workload's
// peak is its own. Returns false where the kernel does not allow it; peaks are then cumulative.
bool reset_peak_resident();

// Samples the device-wide memory in use on one GPU (NVML, every interval_ms) on a background
// thread between start() and stop(). The value includes everything on the device: the model,
// the caching allocator's reserve, other processes. available() is false without libnvidia-ml.
class GpuMemorySampler {
 public:
  explicit GpuMemorySampler(int device_index, int interval_ms = 2);
  ~GpuMemorySampler();
  GpuMemorySampler(const GpuMemorySampler&) = delete;
  GpuMemorySampler& operator=(const GpuMemorySampler&) = delete;

  bool available() const noexcept { return device_ != nullptr; }
  const std::string& unavailable_reason() const noexcept { return reason_; }
  std::optional<std::int64_t> used_bytes() const;

  void start();
  // Returns the largest value seen since start(), or nullopt if unavailable.
  std::optional<std::int64_t> stop();

 private:
  struct Nvml;
  std::unique_ptr<Nvml> nvml_;
  void* device_ = nullptr;
  std::string reason_;
  int interval_ms_;
  std::atomic<bool> running_{false};
  std::atomic<std::int64_t> peak_{0};
  std::thread thread_;
};

}  // namespace jina3_bench
