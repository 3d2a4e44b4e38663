// Canonical names of the public enums, both ways: Task, Device, DType, Precision, Priority and
// ErrorCode.
// Each enum has one table of (value, name); the conversions below read only the tables.
// No LibTorch here.
#include <jina3/errors.hpp>
#include <jina3/outputs.hpp>
#include <jina3/task.hpp>

#include <optional>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace jina3 {
namespace {

template <class Enum>
using NameTable = std::pair<Enum, const char*>;

constexpr NameTable<Task> kTasks[] = {
    {Task::None, "none"},
    {Task::RetrievalQuery, "retrieval.query"},
    {Task::RetrievalPassage, "retrieval.passage"},
    {Task::Separation, "separation"},
    {Task::Classification, "classification"},
    {Task::TextMatching, "text-matching"},
};
constexpr NameTable<Device> kDevices[] = {{Device::CPU, "cpu"}, {Device::CUDA, "cuda"}};
constexpr NameTable<DType> kDTypes[] = {
    {DType::Auto, "auto"},         {DType::Float32, "float32"}, {DType::BFloat16, "bfloat16"},
    {DType::Float16, "float16"},   {DType::Int8, "int8"},
};
constexpr NameTable<Precision> kPrecisions[] = {
    {Precision::Float32, "float32"}, {Precision::Float16, "float16"}, {Precision::Int8, "int8"},
    {Precision::UInt8, "uint8"},     {Precision::Binary, "binary"},   {Precision::UBinary, "ubinary"},
};
constexpr NameTable<Priority> kPriorities[] = {{Priority::Interactive, "interactive"}, {Priority::Bulk, "bulk"}};
constexpr NameTable<ErrorCode> kErrorCodes[] = {
#define JINA3_X(name, value, text, py_class, py_base, doc) {ErrorCode::name, text},
    JINA3_ERROR_CODES(JINA3_X)
#undef JINA3_X
};

template <class Enum, std::size_t N>
const char* name_of(const NameTable<Enum> (&table)[N], Enum value) noexcept {
  for (const auto& [entry, name] : table) {
    if (entry == value) return name;
  }
  return "unknown";
}

template <class Enum, std::size_t N>
std::optional<Enum> value_of(const NameTable<Enum> (&table)[N], std::string_view name) {
  for (const auto& [entry, entry_name] : table) {
    if (name == entry_name) return entry;
  }
  return std::nullopt;
}

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

const char* to_string(Task task) noexcept { return name_of(kTasks, task); }

Task task_from_string(std::string_view name) {
  if (name.empty()) return Task::None;
  if (auto task = value_of(kTasks, name)) return *task;
  throw InvalidArgument(fmt::format(
      "unknown task {}; valid tasks are \"retrieval.query\", \"retrieval.passage\", \"separation\", "
      "\"classification\", \"text-matching\" and \"none\" (or \"\") for no task",
      quoted(name)));
}

const char* to_string(Device device) noexcept { return name_of(kDevices, device); }

Device device_from_string(std::string_view name, int* index) {
  if (auto device = value_of(kDevices, name)) {
    if (index) *index = 0;
    return *device;
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

const char* to_string(DType dtype) noexcept { return name_of(kDTypes, dtype); }

DType dtype_from_string(std::string_view name) {
  if (auto dtype = value_of(kDTypes, name)) return *dtype;
  throw InvalidArgument(fmt::format(
      "unknown dtype {}; valid dtypes are \"auto\", \"float32\", \"bfloat16\", \"float16\" and \"int8\"",
      quoted(name)));
}

const char* to_string(Precision precision) noexcept { return name_of(kPrecisions, precision); }

Precision precision_from_string(std::string_view name) {
  if (auto precision = value_of(kPrecisions, name)) return *precision;
  throw InvalidArgument(fmt::format("unknown precision {}; use float32, float16, int8, uint8, binary or ubinary",
                                    quoted(name)));
}

const char* to_string(Priority priority) noexcept { return name_of(kPriorities, priority); }

Priority priority_from_string(std::string_view name) {
  if (auto priority = value_of(kPriorities, name)) return *priority;
  throw InvalidArgument(fmt::format("unknown priority {}; valid priorities are \"interactive\" and \"bulk\"", quoted(name)));
}

const char* to_string(ErrorCode code) noexcept { return name_of(kErrorCodes, code); }

}  // namespace jina3
