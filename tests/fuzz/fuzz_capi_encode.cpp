// fuzz_capi_encode: the C API's encode arguments, against a tiny package ($JINA3_FUZZ_PACKAGE,
// e.g. build/testdata/package-float32, which ctest's make_test_data builds). Input layout:
//   byte 0   what to call: 0 jina3_encoder_encode, 1 jina3_encoder_encode_tasks, 2 submit + wait,
//            3 submit, then free before or after the wait, 4 jina3_encoder_create with fuzzed
//            options (on a missing package, so nothing loads), 5 stats, dims and prompt getters
//   byte 1   flags: 1 lengths given (else NUL-terminated copies), 2 options NULL, 4 truncated
//            buffer, 8 the encoder with a cache, 16 out NULL, 32 error object, 64 callback,
//            128 also compare the first text with its serial result
//   byte 2   count (low 4 bits) and the task_count of submit (high 4 bits: 0 one, 1 count, else it)
//   byte 3   dims (an index into kDims)   byte 4: the task of encode (low 4 bits - 8)
//   byte 5   options struct_size (>= 128: sizeof, else that value modulo sizeof + 9)
//   byte 6-7 max_length (int16)  byte 8: batch_size (int8)  byte 9: normalize, truncate,
//            block_when_full bits, deadline (high 5 bits)  byte 10: out_capacity (see below)
//   then per text: task byte (int8), length byte (255: a NULL pointer), the bytes
// Every buffer the library reads or writes is a heap block of exactly its documented size, so
// ASan reports any access past it; texts are freed right after submit returns (the library must
// not keep them). Checked: only documented statuses, with matching error objects and messages;
// a failed call writes nothing; a successful one writes exactly count x dims finite floats
// (unit rows when normalising) and 0/1 truncation flags, and the first text's row equals its
// own serial result within 1e-5 (relative for unnormalised rows); the callback runs at most once, with its request and user_data.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <jina3/jina3.h>

#include "fuzz_support.hpp"

const char* const jina3::fuzz::kTarget = "fuzz_capi_encode";

// capi_shim.c: the calls that take a task by value, made from C (tasks are ints here, as a C
// caller may pass any; arrays of them are passed as jina3_task arrays, which C allows).
extern "C" {
jina3_status jina3_fuzz_encode(const jina3_encoder* encoder, const char* const* texts, const size_t* lengths,
                               size_t count, int task, int dims, const jina3_encode_options* options, float* out,
                               size_t out_capacity, uint8_t* truncated, jina3_error** error);
jina3_status jina3_fuzz_prompt(const jina3_encoder* encoder, int task, const char** prompt, jina3_error** error);
}

namespace {

// Enum values a C caller may pass but that lie outside the range of the C++ enum (task 9, device
// 2): the C API reads its enum arguments as ints (raw() in capi/boundary.hpp) before it checks
// them. This fuzzer keeps the by-value tasks and the option enums within the C++ ranges (task
// -8..7, device 0..1, dtype 0..7), which still holds unknown values. Task arrays, which the
// library reads as jina3::Task (an int enum), take any int8.
int task_in_cxx_range(std::uint8_t byte) { return static_cast<int>(byte & 15) - 8; }

using jina3::fuzz::expect;
using jina3::fuzz::fail;
using jina3::fuzz::Reader;

constexpr int kDims[] = {0, 8, 16, 32, 64, -1, 7, 65, 2147483647, -2147483647 - 1, 1, 63};
constexpr float kSentinel = -12345.0f;
constexpr std::uint8_t kFlagSentinel = 0xA5;

jina3_encoder* plain = nullptr;   // default options
jina3_encoder* cached = nullptr;  // a 1 MiB cache, max_wait_us 0, no checksums

// A heap block of exactly n bytes holding the first n bytes of value (zeros past it): what a
// program built with another header version passes.
template <class T>
std::unique_ptr<std::uint8_t[]> sized_copy(const T& value, std::size_t n) {
  auto block = std::make_unique<std::uint8_t[]>(n);
  std::memset(block.get(), 0, n);
  std::memcpy(block.get(), &value, std::min(n, sizeof value));
  return block;
}

std::size_t struct_size_from(std::uint8_t selector, std::size_t size) {
  return selector >= 128 ? size : selector % (size + 9);
}

bool documented(jina3_status status) {
  switch (status) {
    case JINA3_OK:
    case JINA3_ERR_INVALID_ARGUMENT:
    case JINA3_ERR_INPUT_TOO_LONG:
    case JINA3_ERR_BUFFER_TOO_SMALL:
    case JINA3_ERR_VERSION_MISMATCH:
    case JINA3_ERR_DEADLINE_EXCEEDED:
      return true;
    default:  // OOM on inputs this small, INTERNAL, or a model / device / queue error is a bug here
      return false;
  }
}

// The status/error-object contract of a failed or successful call.
void check_status(jina3_status status, jina3_error* error, bool error_requested) {
  if (!documented(status)) fail(std::string("status ") + jina3_status_name(status));
  if (status == JINA3_OK) {
    expect(error == nullptr, "an error object after success");
    return;
  }
  expect(jina3_last_error()[0] != '\0', "a failure without a message");
  if (error_requested) {
    expect(error != nullptr && jina3_error_code(error) == status, "the error object does not carry the status");
    expect(jina3_error_message(error)[0] != '\0', "an error object without a message");
  }
  jina3_error_free(error);
}

struct CallbackLog {
  std::atomic<int> calls{0};
  std::atomic<jina3_request*> request{nullptr};
};

void on_ready(jina3_request* request, void* user_data) {
  auto* log = static_cast<CallbackLog*>(user_data);
  log->request.store(request);
  log->calls.fetch_add(1);
  expect(jina3_request_ready(request), "the callback ran before its request was ready");
}

// api 4: jina3_encoder_create's option reading (and its refusal of bad values) without a load.
void fuzz_create(Reader& in) {
  jina3_encoder_options options;
  jina3_encoder_default_options(&options, sizeof options);
  const std::size_t struct_size = struct_size_from(in.byte(), sizeof options);
  options.struct_size = struct_size;
  // device and dtype as a C caller may set them (any int), written as bytes below.
  const int device = in.byte() & 1;
  const int dtype = in.byte() & 7;
  options.num_threads = (in.byte() & 1) ? 1 : -1;  // as the fuzz encoders: the count is process-wide
  options.max_batch_tokens = static_cast<std::int8_t>(in.byte());
  options.max_batch_size = static_cast<std::int8_t>(in.byte());
  options.max_wait_us = static_cast<std::int8_t>(in.byte());
  options.max_queued_requests = static_cast<std::int8_t>(in.byte());
  const std::uint8_t bits = in.byte();
  options.verify_checksums = bits & 1;
  options.retain_host_memory = false;
  options.use_scheduler = bits & 4;
  options.cache_bytes = bits >> 3;
  const auto block = sized_copy(options, std::max(struct_size, sizeof(std::size_t)));
  if (struct_size >= offsetof(jina3_encoder_options, device) + sizeof(int)) {
    std::memcpy(block.get() + offsetof(jina3_encoder_options, device), &device, sizeof(int));
  }
  if (struct_size >= offsetof(jina3_encoder_options, dtype) + sizeof(int)) {
    std::memcpy(block.get() + offsetof(jina3_encoder_options, dtype), &dtype, sizeof(int));
  }
  jina3_encoder* encoder = reinterpret_cast<jina3_encoder*>(&options);  // must stay untouched
  jina3_error* error = nullptr;
  const jina3_status status = jina3_encoder_create("/nonexistent/jina3-fuzz-package",
                                                   reinterpret_cast<const jina3_encoder_options*>(block.get()),
                                                   &encoder, &error);
  expect(status == JINA3_ERR_INVALID_ARGUMENT || status == JINA3_ERR_VERSION_MISMATCH ||
             status == JINA3_ERR_MODEL_NOT_FOUND || status == JINA3_ERR_DEVICE,
         "jina3_encoder_create returned an unexpected status for a missing package");
  expect(encoder == reinterpret_cast<jina3_encoder*>(&options), "a failed create wrote *encoder");
  expect(error != nullptr && jina3_error_code(error) == status, "create's error object does not carry the status");
  jina3_error_free(error);
}

// api 5: stats with any struct_size (a block of exactly that size), dims and prompt getters.
void fuzz_getters(Reader& in, const jina3_encoder* encoder) {
  const std::size_t struct_size = struct_size_from(in.byte(), sizeof(jina3_stats));
  const std::size_t block_size = std::max(struct_size, sizeof(std::size_t));
  auto block = std::make_unique<std::uint8_t[]>(block_size);
  std::memset(block.get(), 0xEE, block_size);
  std::memcpy(block.get(), &struct_size, sizeof struct_size);
  auto* stats = reinterpret_cast<jina3_stats*>(block.get());
  const jina3_status status = jina3_encoder_stats(encoder, stats, nullptr);
  const std::size_t counters = offsetof(jina3_stats, requests);
  if (struct_size < counters + sizeof(std::uint64_t)) {
    expect(status == JINA3_ERR_INVALID_ARGUMENT, "stats accepted a struct_size without room for a counter");
  } else {
    expect(status == JINA3_OK, "stats failed");
    std::size_t written = 0;
    std::memcpy(&written, block.get(), sizeof written);
    expect(written <= struct_size && written >= counters + 8 && (written - counters) % 8 == 0,
           "stats reported a struct_size that is not whole counters within the caller's");
    for (std::size_t b = written; b < block_size; ++b) expect(block[b] == 0xEE, "stats wrote past its struct_size");
  }

  const std::size_t capacity = in.byte() % 6;
  std::unique_ptr<int[]> dims(capacity ? new int[capacity] : nullptr);
  const std::size_t n = jina3_encoder_dims(encoder, dims.get(), capacity);
  expect(n == 4, "the tiny package offers 4 dims");
  for (std::size_t i = 0; i < std::min(n, capacity); ++i) expect(dims[i] == 8 << i, "dims are 8, 16, 32, 64");

  const int task = task_in_cxx_range(in.byte());
  const char* prompt = "untouched";
  const jina3_status prompt_status = jina3_fuzz_prompt(encoder, task, &prompt, nullptr);
  const bool known = task >= JINA3_TASK_NONE && task <= JINA3_TASK_TEXT_MATCHING;
  expect(prompt_status == (known ? JINA3_OK : JINA3_ERR_INVALID_ARGUMENT), "prompt: wrong status");
  if (!known) expect(std::strcmp(prompt, "untouched") == 0, "a failed prompt call wrote *prompt");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  jina3::fuzz::fail_context = [] { std::fprintf(stderr, " (last error: %s)", jina3_last_error()); };
  const char* package = std::getenv("JINA3_FUZZ_PACKAGE");
  if (package == nullptr || *package == '\0') {
    std::fprintf(stderr, "fuzz_capi_encode: set JINA3_FUZZ_PACKAGE to a tiny package (build/testdata/package-float32)\n");
    std::exit(2);
  }
  jina3_encoder_options options;
  jina3_encoder_default_options(&options, sizeof options);
  options.num_threads = 1;
  if (jina3_encoder_create(package, &options, &plain, nullptr) != JINA3_OK) {
    std::fprintf(stderr, "fuzz_capi_encode: cannot load %s: %s\n", package, jina3_last_error());
    std::exit(2);
  }
  expect(jina3_encoder_hidden_size(plain) == 64, "JINA3_FUZZ_PACKAGE must be a tiny package (hidden size 64)");
  options.cache_bytes = 1 << 20;
  options.max_wait_us = 0;
  options.verify_checksums = false;
  if (jina3_encoder_create(package, &options, &cached, nullptr) != JINA3_OK) fail("cannot load the cached encoder");
  std::atexit([] {
    jina3_encoder_free(cached);
    jina3_encoder_free(plain);
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Reader in(data, size);
  const unsigned api = in.byte() % 6;
  const unsigned flags = in.byte();
  const bool with_lengths = flags & 1, null_options = flags & 2, with_truncated = flags & 4;
  const bool null_out = flags & 16, error_requested = flags & 32, with_callback = flags & 64;
  const bool compare_serial = flags & 128;
  const jina3_encoder* encoder = (flags & 8) ? cached : plain;
  if (api == 4) {
    fuzz_create(in);
    return 0;
  }
  if (api == 5) {
    fuzz_getters(in, encoder);
    return 0;
  }

  const unsigned counts = in.byte();
  const std::size_t count = counts & 15;
  const unsigned task_count_selector = counts >> 4;
  const int dims = kDims[in.byte() % (sizeof kDims / sizeof kDims[0])];
  const int call_task = task_in_cxx_range(in.byte());

  jina3_encode_options options;
  jina3_encode_default_options(&options, sizeof options);
  const std::size_t struct_size = struct_size_from(in.byte(), sizeof options);
  options.struct_size = struct_size;
  options.max_length = in.int16();
  options.batch_size = static_cast<std::int8_t>(in.byte());
  const std::uint8_t bits = in.byte();
  options.normalize = bits & 1;
  options.truncate = bits & 2;
  options.block_when_full = bits & 4;
  static constexpr std::int64_t kDeadlines[] = {1, -1, 1000000, INT64_MIN};
  options.deadline_us = (bits >> 3) < 28 ? 0 : kDeadlines[(bits >> 3) - 28];
  const std::uint8_t capacity_selector = in.byte();
  const auto options_block = sized_copy(options, std::max(struct_size, sizeof(std::size_t)));
  const auto* call_options = null_options ? nullptr : reinterpret_cast<const jina3_encode_options*>(options_block.get());

  // Texts: exactly-sized heap copies (NUL-terminated ones one byte longer), or NULL.
  std::vector<std::unique_ptr<char[]>> storage(count);
  std::vector<const char*> texts(count, nullptr);
  std::vector<std::size_t> lengths(count, 0);
  std::vector<int> tasks(count);
  for (std::size_t i = 0; i < count; ++i) {
    tasks[i] = static_cast<std::int8_t>(in.byte());
    const std::uint8_t length_byte = in.byte();
    if (length_byte == 255) continue;  // NULL
    std::size_t length = length_byte;
    const std::uint8_t* bytes = in.take(length);
    storage[i].reset(new char[length + (with_lengths ? 0 : 1)]);
    std::memcpy(storage[i].get(), bytes, length);
    if (!with_lengths) storage[i][length] = '\0';
    texts[i] = storage[i].get();
    lengths[i] = with_lengths ? length : std::strlen(storage[i].get());
  }

  // The output: exact, one float short, none, or a few floats over (which must stay untouched).
  const bool dims_known = dims == 0 || dims == 8 || dims == 16 || dims == 32 || dims == 64;
  const std::size_t row = dims == 0 ? 64 : dims_known ? static_cast<std::size_t>(dims) : 8;
  const std::size_t needed = count * row;
  std::size_t capacity = needed;
  if (capacity_selector % 4 == 1) capacity = needed > 0 ? needed - 1 : 0;
  if (capacity_selector % 4 == 2) capacity = 0;
  if (capacity_selector % 4 == 3) capacity = needed + capacity_selector / 4 % 8;
  std::vector<float> out_storage(std::max<std::size_t>(capacity, 1), kSentinel);
  float* out = null_out ? nullptr : out_storage.data();
  std::unique_ptr<std::uint8_t[]> truncated(with_truncated && count ? new std::uint8_t[count] : nullptr);
  if (truncated) std::memset(truncated.get(), kFlagSentinel, count);
  const char* const* text_array = count ? texts.data() : nullptr;
  const std::size_t* length_array = with_lengths ? lengths.data() : nullptr;

  jina3_error* error = nullptr;
  jina3_error** error_out = error_requested ? &error : nullptr;
  jina3_status status = JINA3_OK;
  if (api == 0) {
    status = jina3_fuzz_encode(encoder, text_array, length_array, count, call_task, dims, call_options, out, capacity,
                               truncated.get(), error_out);
  } else if (api == 1) {
    static_assert(sizeof(jina3_task) == sizeof(int), "a task array is an int array");
    status = jina3_encoder_encode_tasks(encoder, text_array, length_array, count,
                                        count ? reinterpret_cast<const jina3_task*>(tasks.data()) : nullptr, dims,
                                        call_options, out, capacity, truncated.get(), error_out);
  } else {
    const std::size_t task_count = task_count_selector == 0 ? 1 : task_count_selector == 1 ? count : task_count_selector;
    std::vector<int> submit_tasks(std::max<std::size_t>(task_count, 1), call_task);
    for (std::size_t i = 0; i < std::min(task_count, count); ++i) submit_tasks[i] = tasks[i];
    CallbackLog log;
    jina3_request* request = nullptr;
    status = jina3_encoder_submit(encoder, text_array, length_array, count,
                                  reinterpret_cast<const jina3_task*>(submit_tasks.data()), task_count, dims,
                                  call_options, with_callback ? on_ready : nullptr, &log, &request, error_out);
    storage.clear();  // the texts were only borrowed for the call
    if (status != JINA3_OK) {
      expect(request == nullptr, "a failed submit created a request");
      expect(log.calls.load() == 0, "a failed submit ran its callback");
      check_status(status, error, error_requested);
      return 0;
    }
    expect(request != nullptr, "submit succeeded without a request");
    expect(jina3_request_rows(request) == count, "jina3_request_rows is not count");
    if (api == 3 && (capacity_selector & 128)) {  // freed before the wait: detached, never called back later
      jina3_request_free(request);
      const int calls = log.calls.load();
      expect(calls <= 1, "the callback ran twice");
      return 0;
    }
    status = jina3_request_wait(request, out, capacity, truncated.get(), error_out);
    if (status == JINA3_OK) expect(jina3_request_ready(request), "a request is not ready after its wait");
    jina3_request_free(request);
    expect(log.calls.load() <= 1, "the callback ran twice");
    if (log.calls.load() == 1) expect(log.request.load() == request, "the callback got another request");
  }
  check_status(status, error, error_requested);

  if (status != JINA3_OK) {
    for (float v : out_storage) expect(v == kSentinel, "a failed call wrote to out");
    for (std::size_t i = 0; truncated && i < count; ++i) expect(truncated[i] == kFlagSentinel, "a failed call wrote truncated");
    return 0;
  }
  // Success. normalize lies within every struct_size that is accepted; NULL options normalise.
  expect(dims_known, "a dims value the package does not offer was accepted");
  const bool normalized = null_options || options.normalize;
  for (std::size_t i = 0; i < needed; ++i) expect(std::isfinite(out_storage[i]), "a non-finite value");
  for (std::size_t i = needed; i < capacity; ++i) expect(out_storage[i] == kSentinel, "a write past count x dims");
  for (std::size_t r = 0; r < count; ++r) {
    if (truncated) expect(truncated[r] == 0 || truncated[r] == 1, "a truncation flag that is not 0 or 1");
    if (normalized) {
      double squares = 0;
      for (std::size_t d = 0; d < row; ++d) squares += static_cast<double>(out_storage[r * row + d]) * out_storage[r * row + d];
      expect(std::fabs(std::sqrt(squares) - 1.0) < 1e-4, "a normalised row is not of unit length");
    }
  }

  // The first text alone, through the plain encoder: the same row, whatever shared its passes.
  // (Not for submit, whose texts are gone, nor with a deadline, which the second call may miss.)
  if (compare_serial && count > 1 && api <= 1 && (null_options || options.deadline_us == 0)) {
    std::vector<float> alone(row, kSentinel);
    const jina3_status again = jina3_fuzz_encode(plain, text_array, length_array, 1, api == 0 ? call_task : tasks[0],
                                                 dims, call_options, alone.data(), row, nullptr, nullptr);
    expect(again == JINA3_OK, "the first text alone failed where the whole call succeeded");
    // Other passes, so the same within the float32 rule only.
    expect(jina3::fuzz::rows_agree(out_storage.data(), alone.data(), row, normalized),
           "a row differs from the same text encoded alone");
  }
  return 0;
}
