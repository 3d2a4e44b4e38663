// The C ABI's library, names and encoder parts: versions, enum names, create/free, the
// synchronous encode calls, getters, the kernel report and stats.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "boundary.hpp"

namespace jina3::capi {
namespace {

// jina3_stats holds one uint64_t per JINA3_STATS_FIELDS row, in the table's order, from
// `requests` on: the copy in jina3_encoder_stats and the struct_size of older callers rely on it.
constexpr std::size_t kFirstCounter = offsetof(jina3_stats, requests);
enum StatsField : std::size_t {
#define JINA3_X(name, doc) kStats_##name,
  JINA3_STATS_FIELDS(JINA3_X)
#undef JINA3_X
  kStatsFields
};
#define JINA3_X(name, doc)                                                                                     \
  static_assert(std::is_same_v<decltype(jina3_stats::name), std::uint64_t>, "jina3_stats." #name " is a uint64_t"); \
  static_assert(offsetof(jina3_stats, name) == kFirstCounter + kStats_##name * sizeof(std::uint64_t),          \
                "jina3_stats." #name " is where JINA3_STATS_FIELDS puts it");
JINA3_STATS_FIELDS(JINA3_X)
#undef JINA3_X
// A field added on one side only is a build error here.
static_assert(sizeof(EncoderStats) % sizeof(std::uint64_t) == 0);
static_assert(sizeof(jina3_stats) == kFirstCounter + sizeof(EncoderStats),
              "jina3_stats must have one uint64_t per jina3::EncoderStats field");
static_assert(offsetof(EncoderStats, lanes) == kStatsFields * sizeof(std::uint64_t));
static_assert(offsetof(jina3_stats, lanes) == kFirstCounter + offsetof(EncoderStats, lanes));
// The lanes: the same tables on both sides, checked field by field.
static_assert(sizeof(jina3_histogram) == sizeof(Histogram) && JINA3_HISTOGRAM_BUCKETS == kHistogramBuckets);
static_assert(sizeof(jina3_lane_stats) == sizeof(LaneStats) && JINA3_PRIORITY_COUNT == kPriorityCount);
#define JINA3_X(name, ...) \
  static_assert(offsetof(jina3_lane_stats, name) == offsetof(LaneStats, name), "jina3_lane_stats." #name);
JINA3_LANE_STATS_FIELDS(JINA3_X)
JINA3_LANE_HISTOGRAMS(JINA3_X)
#undef JINA3_X

// The kernel report's fields (JINA3_KERNEL_FIELDS), by name, for jina3_encoder_kernel_report.
struct KernelField {
  const char* name;
  std::string KernelReport::*member;
};
constexpr KernelField kKernelFields[] = {
#define JINA3_X(name, doc) {#name, &KernelReport::name},
    JINA3_KERNEL_FIELDS(JINA3_X)
#undef JINA3_X
};

void copy_histogram(const Histogram& cpp, jina3_histogram& c) noexcept {
  std::copy(std::begin(cpp.buckets), std::end(cpp.buckets), std::begin(c.buckets));
  c.count = cpp.count;
  c.sum = cpp.sum;
}

// The shared body of both encode functions: tasks holds task_count tasks (1, or one per text).
void encode(const char* function, const jina3_encoder* encoder, const char* const* texts, const std::size_t* lengths,
            std::size_t count, const jina3_task* tasks, std::size_t task_count, int dims,
            const jina3_encode_options* options, float* out, std::size_t out_capacity, std::uint8_t* truncated) {
  require(encoder != nullptr, function, "encoder is NULL");
  require_array(out, count, function, "out", "count");
  const EncodeOptions cpp_options = read_encode_options(options, function);
  const std::vector<std::string_view> views = text_views(texts, lengths, count, function);
  encoder->encoder.encode_into(views.data(), count, tasks_of(tasks), task_count, dims, out, out_capacity, cpp_options,
                               truncated);
}

}  // namespace
}  // namespace jina3::capi

using jina3::capi::guarded;
using jina3::capi::raw;
using jina3::capi::require;

extern "C" {

const char* jina3_version(void) { return jina3::version(); }

int jina3_abi_version(void) { return JINA3_ABI_VERSION; }

const char* jina3_status_name(jina3_status status) {
  const int value = static_cast<int>(status);
  if (value < JINA3_OK || value > jina3::capi::kLastStatus) return "unknown";
  return jina3::to_string(static_cast<jina3::ErrorCode>(value));
}

const char* jina3_task_name(jina3_task task) { return jina3::to_string(static_cast<jina3::Task>(raw(task))); }

jina3_status jina3_task_from_name(const char* name, jina3_task* task, jina3_error** error) {
  return guarded(error, [&] {
    require(name != nullptr, "jina3_task_from_name", "name is NULL");
    require(task != nullptr, "jina3_task_from_name", "task is NULL");
    *task = static_cast<jina3_task>(jina3::task_from_string(name));
  });
}

const char* jina3_device_name(jina3_device device) { return jina3::to_string(static_cast<jina3::Device>(raw(device))); }

jina3_status jina3_device_from_name(const char* name, jina3_device* device, int* index, jina3_error** error) {
  return guarded(error, [&] {
    require(name != nullptr, "jina3_device_from_name", "name is NULL");
    require(device != nullptr, "jina3_device_from_name", "device is NULL");
    int parsed_index = 0;
    const jina3::Device parsed = jina3::device_from_string(name, &parsed_index);
    *device = static_cast<jina3_device>(parsed);
    if (index != nullptr) *index = parsed_index;
  });
}

const char* jina3_dtype_name(jina3_dtype dtype) { return jina3::to_string(static_cast<jina3::DType>(raw(dtype))); }

jina3_status jina3_dtype_from_name(const char* name, jina3_dtype* dtype, jina3_error** error) {
  return guarded(error, [&] {
    require(name != nullptr, "jina3_dtype_from_name", "name is NULL");
    require(dtype != nullptr, "jina3_dtype_from_name", "dtype is NULL");
    *dtype = static_cast<jina3_dtype>(jina3::dtype_from_string(name));
  });
}

const char* jina3_priority_name(jina3_priority priority) {
  return jina3::to_string(static_cast<jina3::Priority>(raw(priority)));
}

jina3_status jina3_priority_from_name(const char* name, jina3_priority* priority, jina3_error** error) {
  return guarded(error, [&] {
    require(name != nullptr, "jina3_priority_from_name", "name is NULL");
    require(priority != nullptr, "jina3_priority_from_name", "priority is NULL");
    *priority = static_cast<jina3_priority>(jina3::priority_from_string(name));
  });
}

jina3_status jina3_encoder_create(const char* package_path, const jina3_encoder_options* options,
                                  jina3_encoder** encoder, jina3_error** error) {
  return guarded(error, [&] {
    constexpr const char* function = "jina3_encoder_create";
    require(package_path != nullptr, function, "package_path is NULL");
    require(encoder != nullptr, function, "encoder is NULL (pass the address of a jina3_encoder*)");
    const jina3::EncoderOptions cpp_options = jina3::capi::read_encoder_options(options, function);
    jina3::Encoder loaded(package_path, cpp_options);
    jina3::KernelReport kernels = loaded.kernels();
    *encoder = new jina3_encoder{std::move(loaded), std::move(kernels)};
  });
}

void jina3_encoder_free(jina3_encoder* encoder) { delete encoder; }

jina3_status jina3_encoder_encode(const jina3_encoder* encoder, const char* const* texts, const size_t* lengths,
                                  size_t count, jina3_task task, int dims, const jina3_encode_options* options,
                                  float* out, size_t out_capacity, uint8_t* truncated, jina3_error** error) {
  return guarded(error, [&] {
    jina3::capi::encode("jina3_encoder_encode", encoder, texts, lengths, count, &task, 1, dims, options, out,
                        out_capacity, truncated);
  });
}

jina3_status jina3_encoder_encode_tasks(const jina3_encoder* encoder, const char* const* texts, const size_t* lengths,
                                        size_t count, const jina3_task* tasks, int dims,
                                        const jina3_encode_options* options, float* out, size_t out_capacity,
                                        uint8_t* truncated, jina3_error** error) {
  return guarded(error, [&] {
    constexpr const char* function = "jina3_encoder_encode_tasks";
    jina3::capi::require_array(tasks, count, function, "tasks", "count");
    jina3::capi::encode(function, encoder, texts, lengths, count, tasks, count, dims, options, out, out_capacity,
                        truncated);
  });
}

jina3_status jina3_encoder_encode_ids(const jina3_encoder* encoder, const int32_t* const* ids, const size_t* lengths,
                                      size_t count, jina3_task task, int dims, const jina3_encode_options* options,
                                      float* out, size_t out_capacity, uint8_t* truncated, jina3_error** error) {
  return guarded(error, [&] {
    constexpr const char* function = "jina3_encoder_encode_ids";
    require(encoder != nullptr, function, "encoder is NULL");
    jina3::capi::require_array(out, count, function, "out", "count");
    const jina3::EncodeOptions cpp_options = jina3::capi::read_encode_options(options, function);
    const std::vector<jina3::TokenIds> views = jina3::capi::token_id_views(ids, lengths, count, function);
    const jina3::Task cpp_task = static_cast<jina3::Task>(raw(task));
    const std::size_t width = encoder->encoder.check(cpp_task, dims, cpp_options);
    if (count > 0 && count > out_capacity / width) {
      throw jina3::BufferTooSmall(std::string(function) + ": out_capacity is " + std::to_string(out_capacity) +
                                  " floats; " + std::to_string(count) + " texts x " + std::to_string(width) +
                                  " dims need " + std::to_string(count * width));
    }
    // Copied out once the whole call has succeeded.
    jina3::Embeddings result = encoder->encoder.submit(views.data(), count, &cpp_task, 1, dims, cpp_options).get();
    std::copy(result.data.begin(), result.data.end(), out);
    if (truncated != nullptr) std::copy(result.truncated.begin(), result.truncated.end(), truncated);
  });
}

int jina3_encoder_vocab_size(const jina3_encoder* encoder) { return encoder ? encoder->encoder.vocab_size() : 0; }

size_t jina3_encoder_dims(const jina3_encoder* encoder, int* dims, size_t capacity) {
  if (encoder == nullptr) return 0;
  const std::vector<int>& all = encoder->encoder.dims();
  if (dims != nullptr) std::copy_n(all.begin(), std::min(capacity, all.size()), dims);
  return all.size();
}

int jina3_encoder_hidden_size(const jina3_encoder* encoder) { return encoder ? encoder->encoder.hidden_size() : 0; }

int jina3_encoder_max_length(const jina3_encoder* encoder) { return encoder ? encoder->encoder.max_length() : 0; }

size_t jina3_encoder_task_count(const jina3_encoder* encoder) { return encoder ? encoder->encoder.tasks().size() : 0; }

jina3_task jina3_encoder_task(const jina3_encoder* encoder, size_t index) {
  if (encoder == nullptr || index >= encoder->encoder.tasks().size()) return JINA3_TASK_NONE;
  return static_cast<jina3_task>(encoder->encoder.tasks()[index]);
}

jina3_device jina3_encoder_device(const jina3_encoder* encoder) {
  return static_cast<jina3_device>(encoder ? encoder->encoder.device() : jina3::Device::CPU);
}

jina3_dtype jina3_encoder_dtype(const jina3_encoder* encoder) {
  return static_cast<jina3_dtype>(encoder ? encoder->encoder.dtype() : jina3::DType::Float32);
}

const char* jina3_encoder_package_path(const jina3_encoder* encoder) {
  return encoder ? encoder->encoder.package_path().c_str() : "";
}

jina3_status jina3_encoder_prompt(const jina3_encoder* encoder, jina3_task task, const char** prompt,
                                  jina3_error** error) {
  return guarded(error, [&] {
    require(encoder != nullptr, "jina3_encoder_prompt", "encoder is NULL");
    require(prompt != nullptr, "jina3_encoder_prompt", "prompt is NULL");
    *prompt = encoder->encoder.prompt(static_cast<jina3::Task>(raw(task))).c_str();
  });
}

size_t jina3_kernel_field_count(void) { return std::size(jina3::capi::kKernelFields); }

const char* jina3_kernel_field_name(size_t index) {
  return index < std::size(jina3::capi::kKernelFields) ? jina3::capi::kKernelFields[index].name : nullptr;
}

jina3_status jina3_encoder_kernel_report(const jina3_encoder* encoder, const char* field, const char** value,
                                         jina3_error** error) {
  return guarded(error, [&] {
    constexpr const char* function = "jina3_encoder_kernel_report";
    require(encoder != nullptr, function, "encoder is NULL");
    require(field != nullptr, function, "field is NULL");
    require(value != nullptr, function, "value is NULL");
    std::string names;
    for (const auto& known : jina3::capi::kKernelFields) {
      if (std::strcmp(known.name, field) == 0) {
        *value = (encoder->kernels.*known.member).c_str();
        return;
      }
      names += names.empty() ? "" : ", ";
      names += known.name;
    }
    jina3::capi::invalid(function, std::string("unknown field \"") + field + "\"; the fields are " + names);
  });
}

jina3_status jina3_encoder_stats(const jina3_encoder* encoder, jina3_stats* stats, jina3_error** error) {
  return guarded(error, [&] {
    constexpr const char* function = "jina3_encoder_stats";
    constexpr std::size_t counters = jina3::capi::kFirstCounter;
    require(encoder != nullptr, function, "encoder is NULL");
    require(stats != nullptr, function, "stats is NULL");
    if (stats->struct_size < counters + sizeof(std::uint64_t)) {
      jina3::capi::invalid(function, "stats->struct_size is " + std::to_string(stats->struct_size) +
                                         ": set it to sizeof(jina3_stats) = " + std::to_string(sizeof(jina3_stats)) +
                                         " before the call");
    }
    const jina3::EncoderStats cpp = encoder->encoder.stats();
    jina3_stats c;
    std::memset(static_cast<void*>(&c), 0, sizeof c);
#define JINA3_X(name, doc) c.name = cpp.name;
    JINA3_STATS_FIELDS(JINA3_X)
#undef JINA3_X
    for (int lane = 0; lane < JINA3_PRIORITY_COUNT; ++lane) {
#define JINA3_X(name, doc) c.lanes[lane].name = cpp.lanes[lane].name;
      JINA3_LANE_STATS_FIELDS(JINA3_X)
#undef JINA3_X
#define JINA3_X(name, unit, doc) jina3::capi::copy_histogram(cpp.lanes[lane].name, c.lanes[lane].name);
      JINA3_LANE_HISTOGRAMS(JINA3_X)
#undef JINA3_X
    }
    // Whole counters only: a struct_size that ends inside one writes the counters before it.
    const std::size_t fits = std::min(stats->struct_size, sizeof c);
    c.struct_size = counters + (fits - counters) / sizeof(std::uint64_t) * sizeof(std::uint64_t);
    std::memcpy(static_cast<void*>(stats), &c, c.struct_size);
  });
}

}  // extern "C"
