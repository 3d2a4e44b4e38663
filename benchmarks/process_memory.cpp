#include "process_memory.hpp"

#include <dlfcn.h>

#include <chrono>
#include <fstream>
#include <sstream>

namespace jina3_bench {

namespace {

// Reads a "Key:   123 kB" line of /proc/self/status.
std::optional<std::int64_t> status_kib(const std::string& key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.compare(0, key.size() + 1, key + ":") != 0) continue;
    std::istringstream fields(line.substr(key.size() + 1));
    std::int64_t kib = 0;
    if (fields >> kib) return kib * 1024;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::int64_t> resident_bytes() { return status_kib("VmRSS"); }
std::optional<std::int64_t> peak_resident_bytes() { return status_kib("VmHWM"); }

bool reset_peak_resident() {
  std::ofstream clear_refs("/proc/self/clear_refs");
  if (!clear_refs) return false;
  clear_refs << "5";
  clear_refs.flush();
  return static_cast<bool>(clear_refs);
}

// The few NVML entry points used, with the C signatures of nvml.h (ABI-stable since CUDA 6).
struct GpuMemorySampler::Nvml {
  struct Memory {
    unsigned long long total, free, used;
  };
  void* library = nullptr;
  int (*init)() = nullptr;
  int (*shutdown)() = nullptr;
  int (*handle_by_index)(unsigned, void**) = nullptr;
  int (*memory_info)(void*, Memory*) = nullptr;

  ~Nvml() {
    if (shutdown) shutdown();
    if (library) dlclose(library);
  }
};

GpuMemorySampler::GpuMemorySampler(int device_index, int interval_ms) : interval_ms_(interval_ms) {
  auto nvml = std::make_unique<Nvml>();
  nvml->library = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!nvml->library) {
    reason_ = "libnvidia-ml.so.1 not found";
    return;
  }
  nvml->init = reinterpret_cast<int (*)()>(dlsym(nvml->library, "nvmlInit_v2"));
  auto shutdown = reinterpret_cast<int (*)()>(dlsym(nvml->library, "nvmlShutdown"));
  nvml->handle_by_index =
      reinterpret_cast<int (*)(unsigned, void**)>(dlsym(nvml->library, "nvmlDeviceGetHandleByIndex_v2"));
  nvml->memory_info =
      reinterpret_cast<int (*)(void*, Nvml::Memory*)>(dlsym(nvml->library, "nvmlDeviceGetMemoryInfo"));
  if (!nvml->init || !shutdown || !nvml->handle_by_index || !nvml->memory_info) {
    reason_ = "libnvidia-ml.so.1 lacks the expected symbols";
    return;
  }
  if (nvml->init() != 0) {
    reason_ = "nvmlInit failed";
    return;
  }
  nvml->shutdown = shutdown;  // only once init succeeded
  // NVML numbers devices in PCI order; CUDA may not (CUDA_DEVICE_ORDER), which only matters on
  // machines with several GPUs.
  void* device = nullptr;
  if (nvml->handle_by_index(static_cast<unsigned>(device_index), &device) != 0 || !device) {
    reason_ = "NVML has no device " + std::to_string(device_index);
    return;
  }
  nvml_ = std::move(nvml);
  device_ = device;
}

GpuMemorySampler::~GpuMemorySampler() { stop(); }

std::optional<std::int64_t> GpuMemorySampler::used_bytes() const {
  if (!device_) return std::nullopt;
  Nvml::Memory memory{};
  if (nvml_->memory_info(device_, &memory) != 0) return std::nullopt;
  return static_cast<std::int64_t>(memory.used);
}

void GpuMemorySampler::start() {
  if (!device_ || running_) return;
  peak_ = used_bytes().value_or(0);
  running_ = true;
  thread_ = std::thread([this] {
    while (running_) {
      if (auto used = used_bytes(); used && *used > peak_) peak_ = *used;
      std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms_));
    }
  });
}

std::optional<std::int64_t> GpuMemorySampler::stop() {
  if (!device_) return std::nullopt;
  if (running_) {
    running_ = false;
    thread_.join();
    if (auto used = used_bytes(); used && *used > peak_) peak_ = *used;
  }
  return peak_.load();
}

}  // namespace jina3_bench
