// Canonical names of tasks, devices and dtypes, both ways.
#include <jina3/errors.hpp>
#include <jina3/task.hpp>

#include <array>
#include <string>

#include <fmt/format.h>

namespace jina3 {
namespace {

constexpr std::array<Task, 6> kAllTasks = {Task::None, Task::RetrievalQuery, Task::RetrievalPassage,
                                          Task::Separation, Task::Classification, Task::TextMatching};
constexpr std::array<DType, 5> kAllDTypes = {DType::Auto, DType::Float32, DType::BFloat16, DType::Float16,
                                            DType::Int8};

// Quotes a name for an error message, escaping nothing but keeping it short and printable.
std::string quoted(std::string_view name) {
  constexpr std::size_t kMaxShown = 64;
  std::string shown;
  for (char c : name.substr(0, kMaxShown)) {
    auto byte = static_cast<unsigned char>(c);
    shown += (byte >= 0x20 && byte < 0x7f) ? std::string(1, c) : fmt::format("\\x{:02x}", byte);
  }
  if (name.size() > kMaxShown) shown += "...";
  return "\"" + shown + "\"";
}

}  // namespace

const char* to_string(Task task) noexcept {
  switch (task) {
    case Task::None: return "none";
    case Task::RetrievalQuery: return "retrieval.query";
    case Task::RetrievalPassage: return "retrieval.passage";
    case Task::Separation: return "separation";
    case Task::Classification: return "classification";
    case Task::TextMatching: return "text-matching";
  }
  return "unknown";
}

Task task_from_string(std::string_view name) {
  if (name.empty()) return Task::None;
  for (Task task : kAllTasks) {
    if (name == to_string(task)) return task;
  }
  throw InvalidArgument(fmt::format(
      "unknown task {}; valid tasks are \"retrieval.query\", \"retrieval.passage\", \"separation\", "
      "\"classification\", \"text-matching\" and \"none\" (or \"\") for no task",
      quoted(name)));
}

const char* to_string(Device device) noexcept {
  switch (device) {
    case Device::CPU: return "cpu";
    case Device::CUDA: return "cuda";
  }
  return "unknown";
}

Device device_from_string(std::string_view name, int* index) {
  if (name == "cpu") {
    if (index) *index = 0;
    return Device::CPU;
  }
  if (name == "cuda") {
    if (index) *index = 0;
    return Device::CUDA;
  }
  constexpr std::string_view kCudaPrefix = "cuda:";
  if (name.substr(0, kCudaPrefix.size()) == kCudaPrefix) {
    std::string_view digits = name.substr(kCudaPrefix.size());
    // At most 4 digits keeps the value far from int overflow; no GPU box has 10000 devices.
    bool all_digits = !digits.empty() && digits.size() <= 4;
    int value = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') all_digits = false;
      else value = value * 10 + (c - '0');
    }
    if (all_digits) {
      if (index) *index = value;
      return Device::CUDA;
    }
  }
  throw InvalidArgument(
      fmt::format("unknown device {}; valid devices are \"cpu\", \"cuda\" and \"cuda:N\"", quoted(name)));
}

const char* to_string(DType dtype) noexcept {
  switch (dtype) {
    case DType::Auto: return "auto";
    case DType::Float32: return "float32";
    case DType::BFloat16: return "bfloat16";
    case DType::Float16: return "float16";
    case DType::Int8: return "int8";
  }
  return "unknown";
}

DType dtype_from_string(std::string_view name) {
  for (DType dtype : kAllDTypes) {
    if (name == to_string(dtype)) return dtype;
  }
  throw InvalidArgument(fmt::format(
      "unknown dtype {}; valid dtypes are \"auto\", \"float32\", \"bfloat16\", \"float16\" and \"int8\"",
      quoted(name)));
}

}  // namespace jina3
