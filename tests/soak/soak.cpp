// Soak test of the public C++ API: many threads send a random mix of valid and invalid requests
// to two encoders of one package (one plain, one with a small embedding cache) for a while.
//
//   jina3_soak PACKAGE_DIR TEXTS_FILE [--seconds S] [--threads T] [--warmup S] [--long N] [--seed N]
//
// TEXTS_FILE: one text per line (tests/data/multilingual.txt); N long texts (default 3) are made
// from its lines, up to the package's max_length and past it (so they are truncated).
// Valid requests cover every task (and none), every dims, normalize on and off, two max_length
// values, batch_size, one task or one per text, encode / encode_async / encode_into /
// encode_quantized (every precision). Each row must equal the serial result, computed up front one
// text per call, within 1e-5 (rows of one pass share padding, not values), with the same
// truncation flag; quantised rows must be what quantising the serial row gives, allowing only for
// values within 1e-5 of a step. Invalid requests (bad task, dims, UTF-8, max_length, batch_size,
// deadline, task count, precision, ranges, short buffer, over-long text without truncation) must
// throw their own typed error and leave caller buffers untouched.
// Resident memory is sampled every 100 ms: its peak after the warm-up must stay within 5% of
// the peak during it. Prints a summary; exits 0 when every check held, 1 otherwise.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <jina3/jina3.hpp>

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif

using Clock = std::chrono::steady_clock;

constexpr jina3::Task kTasks[] = {jina3::Task::None,           jina3::Task::RetrievalQuery, jina3::Task::RetrievalPassage,
                                  jina3::Task::Separation,     jina3::Task::Classification, jina3::Task::TextMatching};
constexpr int kTaskCount = 6;
constexpr int kDims[] = {0, 8, 16, 32, 64};
constexpr int kShortLimit = 256;  // the second max_length value
constexpr float kTolerance = 1e-5f;
constexpr jina3::Precision kPrecisions[] = {jina3::Precision::Float32, jina3::Precision::Float16, jina3::Precision::Int8,
                                            jina3::Precision::UInt8, jina3::Precision::Binary, jina3::Precision::UBinary};

struct Args {
  std::string package;
  std::string texts_file;
  double seconds = 180;
  int threads = 64;
  double warmup = -1;  // default: a fifth of the run, at least 5 s
  int long_texts = 3;
  unsigned seed = 1;
};

// Serial results: for each text, task and max_length choice, the full-size unnormalised row.
struct Reference {
  std::vector<std::string> texts;
  std::vector<std::size_t> long_ones;  // indices of the long texts (picked rarely)
  std::size_t hidden = 0;
  // rows[((text * kTaskCount) + task) * 2 + limit]
  std::vector<std::vector<float>> rows;
  std::vector<std::uint8_t> truncated;

  std::size_t index(std::size_t text, int task, int limit) const {
    return (text * kTaskCount + static_cast<std::size_t>(task)) * 2 + static_cast<std::size_t>(limit);
  }
};

// What encode gives for a full unnormalised row: Matryoshka truncation, then (as the encoder
// does it) L2 normalisation with the sum of squares in double.
std::vector<float> expected_row(const std::vector<float>& full, std::size_t dims, bool normalize) {
  std::vector<float> row(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(dims));
  if (normalize) {
    double squares = 0;
    for (float v : row) squares += static_cast<double>(v) * v;
    const float norm = std::max(static_cast<float>(std::sqrt(squares)), 1e-12f);
    for (float& v : row) v /= norm;
  }
  return row;
}

// Decodes an IEEE binary16 value.
float half_to_float(std::uint16_t h) {
  const int sign = (h >> 15) & 1, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  float value;
  if (exponent == 0) value = std::ldexp(static_cast<float>(mantissa), -24);
  else if (exponent == 31) value = mantissa ? NAN : INFINITY;
  else value = std::ldexp(static_cast<float>(mantissa | 0x400), exponent - 25);
  return sign ? -value : value;
}

// The quantised level of x for int8/uint8 as outputs.hpp defines it (before the int8 shift).
int level(float x, float min, float max) {
  const float step = (max - min) / 255.0f;
  const float scaled = std::floor((x - min) / step);
  return static_cast<int>(std::min(255.0f, std::max(0.0f, scaled)));
}

// The int8 value of x as outputs.hpp defines it (sentence-transformers' (q - 128).astype(int8)
// in float32, clipped where that cast is undefined).
int int8_value(float x, float min, float max) {
  const float step = (max - min) / 255.0f;
  const float shifted = (x - min) / step - 128.0f;
  if (!(shifted > -129.0f)) return -128;
  return shifted >= 128.0f ? 127 : static_cast<int>(std::trunc(shifted));
}

// Does a quantised row match the serial float row x, up to values within kTolerance of a step?
bool quantized_matches(jina3::Precision precision, const std::uint8_t* got, const std::vector<float>& x,
                       const jina3::Ranges& ranges) {
  const std::size_t dims = x.size();
  switch (precision) {
    case jina3::Precision::Float32:
      for (std::size_t d = 0; d < dims; ++d) {
        float v;
        std::memcpy(&v, got + 4 * d, 4);
        if (std::fabs(v - x[d]) > kTolerance) return false;
      }
      return true;
    case jina3::Precision::Float16:
      for (std::size_t d = 0; d < dims; ++d) {
        std::uint16_t h;
        std::memcpy(&h, got + 2 * d, 2);
        // Half of a float16 step (2^-11 relative, 2^-25 for subnormals) plus the row tolerance.
        if (std::fabs(half_to_float(h) - x[d]) > std::ldexp(std::fabs(x[d]), -11) + std::ldexp(1.0f, -25) + kTolerance) {
          return false;
        }
      }
      return true;
    case jina3::Precision::Int8:
    case jina3::Precision::UInt8: {
      const bool int8 = precision == jina3::Precision::Int8;
      const auto quantised = int8 ? int8_value : level;  // both rise with x
      for (std::size_t d = 0; d < dims; ++d) {
        const int value = int8 ? static_cast<std::int8_t>(got[d]) : got[d];
        const int low = quantised(x[d] - kTolerance, ranges.min[d], ranges.max[d]);
        const int high = quantised(x[d] + kTolerance, ranges.min[d], ranges.max[d]);
        if (value < low || value > high) return false;
      }
      return true;
    }
    case jina3::Precision::Binary:
    case jina3::Precision::UBinary:
      for (std::size_t d = 0; d < dims; ++d) {
        unsigned byte = got[d / 8];
        if (precision == jina3::Precision::Binary) byte = (byte + 128u) & 0xffu;
        const bool bit = (byte >> (7 - d % 8)) & 1u;
        if (bit != (x[d] > 0.0f) && std::fabs(x[d]) > kTolerance) return false;
      }
      return true;
  }
  return false;
}

// Resident set size in bytes (/proc/self/statm).
std::uint64_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

struct Counters {
  std::atomic<std::uint64_t> valid_requests{0}, valid_rows{0}, invalid_requests{0};
  std::atomic<std::uint64_t> mismatches{0}, wrong_errors{0}, buffer_writes{0};
  std::mutex mutex;
  std::map<std::string, std::uint64_t> by_kind;  // invalid kind -> count
  std::vector<std::string> problems;              // the first few, for the report

  void problem(const std::string& what) {
    std::lock_guard<std::mutex> lock(mutex);
    if (problems.size() < 20) problems.push_back(what);
  }
  void invalid(const std::string& kind) {
    invalid_requests.fetch_add(1);
    std::lock_guard<std::mutex> lock(mutex);
    ++by_kind[kind];
  }
};

// Runs call; it must throw exactly the error type Expected with code `code`.
template <class Expected, class Call>
void expect_error(Counters& counters, const char* kind, jina3::ErrorCode code, Call&& call) {
  try {
    call();
    counters.wrong_errors.fetch_add(1);
    counters.problem(std::string(kind) + ": no error");
  } catch (const Expected& e) {
    if (e.code() != code) {
      counters.wrong_errors.fetch_add(1);
      counters.problem(std::string(kind) + ": wrong code " + jina3::to_string(e.code()));
    }
  } catch (const std::exception& e) {
    counters.wrong_errors.fetch_add(1);
    counters.problem(std::string(kind) + ": wrong error: " + e.what());
  }
  counters.invalid(kind);
}

class Worker {
 public:
  Worker(const Reference& reference, const jina3::Encoder& plain, const jina3::Encoder& cached, Counters& counters,
         unsigned seed)
      : ref_(reference), plain_(plain), cached_(cached), counters_(counters), rng_(seed) {}

  void run(Clock::time_point stop) {
    while (Clock::now() < stop) {
      if (pick(10) < 7) valid();
      else invalid();
    }
  }

 private:
  unsigned pick(unsigned n) { return std::uniform_int_distribution<unsigned>(0, n - 1)(rng_); }

  std::size_t pick_text() {
    if (!ref_.long_ones.empty() && pick(200) == 0) return ref_.long_ones[pick(static_cast<unsigned>(ref_.long_ones.size()))];
    for (;;) {
      const std::size_t i = pick(static_cast<unsigned>(ref_.texts.size()));
      if (std::find(ref_.long_ones.begin(), ref_.long_ones.end(), i) == ref_.long_ones.end()) return i;
    }
  }

  void mismatch(const std::string& what) {
    counters_.mismatches.fetch_add(1);
    counters_.problem(what);
  }

  void valid() {
    const jina3::Encoder& encoder = pick(2) ? plain_ : cached_;
    const std::size_t count = 1 + pick(8);
    std::vector<std::size_t> which(count);
    std::vector<std::string> texts(count);
    for (std::size_t k = 0; k < count; ++k) texts[k] = ref_.texts[which[k] = pick_text()];
    const bool per_text_tasks = pick(3) == 0;
    std::vector<int> task_index(count, static_cast<int>(pick(kTaskCount)));
    if (per_text_tasks) {
      for (int& t : task_index) t = static_cast<int>(pick(kTaskCount));
    }
    std::vector<jina3::Task> tasks(count);
    for (std::size_t k = 0; k < count; ++k) tasks[k] = kTasks[task_index[k]];
    const int dims = kDims[pick(5)];
    const std::size_t row = dims == 0 ? ref_.hidden : static_cast<std::size_t>(dims);
    jina3::EncodeOptions options;
    options.normalize = pick(4) != 0;
    const int limit = pick(3) == 0 ? 1 : 0;
    options.max_length = limit ? kShortLimit : 0;
    options.batch_size = pick(3) == 0 ? static_cast<int>(1 + pick(4)) : 0;

    std::vector<std::vector<float>> expected(count);
    std::vector<std::uint8_t> expected_truncated(count);
    for (std::size_t k = 0; k < count; ++k) {
      const std::size_t at = ref_.index(which[k], task_index[k], limit);
      expected[k] = expected_row(ref_.rows[at], row, options.normalize);
      expected_truncated[k] = ref_.truncated[at];
    }

    try {
      const unsigned form = pick(per_text_tasks ? 3 : 5);
      jina3::Embeddings result;
      if (form == 3) {  // encode_quantized, one task
        const jina3::Precision precision = kPrecisions[pick(6)];
        jina3::Ranges ranges{std::vector<float>(row, options.normalize ? -0.5f : -2.0f),
                             std::vector<float>(row, options.normalize ? 0.5f : 2.0f)};
        const jina3::QuantizedEmbeddings q = encoder.encode_quantized(texts, tasks[0], dims, precision, &ranges, options);
        if (q.rows != count || q.dims != row || q.data.size() != count * jina3::row_bytes(precision, row)) {
          mismatch("encode_quantized: wrong shape");
          return;
        }
        for (std::size_t k = 0; k < count; ++k) {
          if (!quantized_matches(precision, q.row(k), expected[k], ranges) || q.truncated[k] != expected_truncated[k]) {
            mismatch(std::string("encode_quantized ") + jina3::to_string(precision) + ": a row differs from the serial one");
          }
        }
        counters_.valid_requests.fetch_add(1);
        counters_.valid_rows.fetch_add(count);
        return;
      }
      if (form == 4) {  // encode_into an exact buffer with flags
        std::vector<std::string_view> views(texts.begin(), texts.end());
        result.rows = count;
        result.dims = row;
        result.data.assign(count * row, NAN);
        result.truncated.assign(count, 0xA5);
        encoder.encode_into(views.data(), count, &tasks[0], 1, dims, result.data.data(), result.data.size(), options,
                            result.truncated.data());
      } else if (per_text_tasks) {
        result = form == 0 ? encoder.encode(texts, tasks, dims, options) : encoder.encode_async(texts, tasks, dims, options).get();
      } else {
        result = form == 0 ? encoder.encode(texts, tasks[0], dims, options)
                           : encoder.encode_async(texts, tasks[0], dims, options).get();
      }
      if (result.rows != count || result.dims != row || result.data.size() != count * row) {
        mismatch("encode: wrong shape");
        return;
      }
      for (std::size_t k = 0; k < count; ++k) {
        bool same = result.truncated[k] == expected_truncated[k];
        for (std::size_t d = 0; d < row && same; ++d) same = std::fabs(result.row(k)[d] - expected[k][d]) <= kTolerance;
        if (!same) {
          mismatch("a row differs from the serial result (text " + std::to_string(which[k]) + ", task " +
                   jina3::to_string(tasks[k]) + ", dims " + std::to_string(dims) + ")");
        }
      }
      counters_.valid_requests.fetch_add(1);
      counters_.valid_rows.fetch_add(count);
    } catch (const std::exception& e) {
      mismatch(std::string("a valid request failed: ") + e.what());
    }
  }

  void invalid() {
    const jina3::Encoder& encoder = pick(2) ? plain_ : cached_;
    std::vector<std::string> texts{ref_.texts[pick_text()], ref_.texts[pick_text()]};
    using jina3::ErrorCode;
    switch (pick(11)) {
      case 0:
        expect_error<jina3::InvalidArgument>(counters_, "unknown task", ErrorCode::InvalidArgument,
                                             [&] { encoder.encode(texts, static_cast<jina3::Task>(5 + pick(100))); });
        break;
      case 1:
        expect_error<jina3::InvalidArgument>(counters_, "bad dims", ErrorCode::InvalidArgument, [&] {
          const int bad[] = {-1, 1, 7, 12, 65, 1 << 20};
          encoder.encode(texts, jina3::Task::None, bad[pick(6)]);
        });
        break;
      case 2:
        texts[pick(2)] += pick(2) ? "\xC3\x28" : "\xED\xA0\x80";  // a broken sequence, a surrogate
        expect_error<jina3::InvalidArgument>(counters_, "invalid UTF-8", ErrorCode::InvalidArgument,
                                             [&] { encoder.encode(texts, kTasks[pick(kTaskCount)]); });
        break;
      case 3: {
        jina3::EncodeOptions options;
        options.max_length = pick(2) ? 1 : 1000000;
        expect_error<jina3::InvalidArgument>(counters_, "bad max_length", ErrorCode::InvalidArgument,
                                             [&] { encoder.encode(texts, jina3::Task::None, 0, options); });
        break;
      }
      case 4: {
        jina3::EncodeOptions options;
        options.batch_size = -1 - static_cast<int>(pick(5));
        expect_error<jina3::InvalidArgument>(counters_, "negative batch_size", ErrorCode::InvalidArgument,
                                             [&] { encoder.encode(texts, jina3::Task::None, 0, options); });
        break;
      }
      case 5: {
        jina3::EncodeOptions options;
        options.deadline_us = -1;
        expect_error<jina3::InvalidArgument>(counters_, "negative deadline", ErrorCode::InvalidArgument,
                                             [&] { encoder.encode_async(texts, jina3::Task::None, 0, options).get(); });
        break;
      }
      case 6: {
        std::vector<jina3::Task> tasks(texts.size() + 1, jina3::Task::Separation);
        expect_error<jina3::InvalidArgument>(counters_, "task count", ErrorCode::InvalidArgument,
                                             [&] { encoder.encode(texts, tasks); });
        break;
      }
      case 7: {
        const bool packed_dims = pick(2) == 0;
        expect_error<jina3::InvalidArgument>(counters_, "bad precision", ErrorCode::InvalidArgument, [&] {
          if (packed_dims) {  // there are no dims that are not a multiple of 8 here: use bad ranges instead
            jina3::Ranges ranges{std::vector<float>(16, 1.0f), std::vector<float>(16, 1.0f)};
            encoder.encode_quantized(texts, jina3::Task::None, 16, jina3::Precision::Int8, &ranges);
          } else {
            encoder.encode_quantized(texts, jina3::Task::None, 0, static_cast<jina3::Precision>(6 + pick(10)));
          }
        });
        break;
      }
      case 8: {
        jina3::Ranges ranges{std::vector<float>(3, -1.0f), std::vector<float>(3, 1.0f)};
        expect_error<jina3::InvalidArgument>(counters_, "ranges shape", ErrorCode::InvalidArgument, [&] {
          encoder.encode_quantized(texts, jina3::Task::None, 8, jina3::Precision::UInt8, &ranges);
        });
        break;
      }
      case 9: {
        std::vector<std::string_view> views(texts.begin(), texts.end());
        std::vector<float> out(2 * ref_.hidden - 1 - pick(8), 7.0f);
        std::vector<std::uint8_t> flags(2, 0xA5);
        const jina3::Task task = jina3::Task::RetrievalQuery;
        expect_error<jina3::BufferTooSmall>(counters_, "short buffer", ErrorCode::BufferTooSmall, [&] {
          encoder.encode_into(views.data(), views.size(), &task, 1, 0, out.data(), out.size(), {}, flags.data());
        });
        if (std::any_of(out.begin(), out.end(), [](float v) { return v != 7.0f; }) || flags[0] != 0xA5 || flags[1] != 0xA5) {
          counters_.buffer_writes.fetch_add(1);
          counters_.problem("a failed encode_into wrote to its buffers");
        }
        break;
      }
      default: {
        jina3::EncodeOptions options;
        options.truncate = false;
        options.max_length = 4;  // every text of the pool is longer with <s> and </s>
        const std::string text = texts[0] + " and a few more words";
        expect_error<jina3::InputTooLong>(counters_, "too long", ErrorCode::InputTooLong,
                                          [&] { encoder.encode({text}, jina3::Task::Classification, 0, options); });
        break;
      }
    }
  }

  const Reference& ref_;
  const jina3::Encoder& plain_;
  const jina3::Encoder& cached_;
  Counters& counters_;
  std::mt19937 rng_;
};

bool parse_args(int argc, char** argv, Args& args) {
  if (argc < 3) return false;
  args.package = argv[1];
  args.texts_file = argv[2];
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--seconds") args.seconds = std::atof(value);
    else if (flag == "--threads") args.threads = std::atoi(value);
    else if (flag == "--warmup") args.warmup = std::atof(value);
    else if (flag == "--long") args.long_texts = std::atoi(value);
    else if (flag == "--seed") args.seed = static_cast<unsigned>(std::atoi(value));
    else return false;
  }
  if ((argc - 3) % 2 != 0 || args.seconds <= 0 || args.threads < 1 || args.long_texts < 0) return false;
  if (args.warmup < 0) args.warmup = std::max(5.0, args.seconds / 5);
  return args.warmup < args.seconds;
}

double since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!parse_args(argc, argv, args)) {
    std::fprintf(stderr, "usage: jina3_soak PACKAGE_DIR TEXTS_FILE [--seconds S] [--threads T] [--warmup S] "
                         "[--long N] [--seed N]\n");
    return 2;
  }
  const auto start = Clock::now();
  jina3::EncoderOptions cached_options;
  cached_options.cache_bytes = 256 << 10;  // small: entries are evicted all the time
  const jina3::Encoder plain(args.package);
  const jina3::Encoder cached(args.package, cached_options);

  Reference ref;
  ref.hidden = static_cast<std::size_t>(plain.hidden_size());
  {
    std::ifstream in(args.texts_file);
    std::string line;
    std::vector<std::string> lines;
    while (std::getline(in, line)) {
      if (!line.empty()) lines.push_back(line);
    }
    if (lines.size() < 50) {
      std::fprintf(stderr, "jina3_soak: %s has fewer than 50 lines\n", args.texts_file.c_str());
      return 2;
    }
    // Short texts: every 16th line (about 100), and a few empty or whitespace-only ones.
    for (std::size_t i = 0; i < lines.size(); i += 16) ref.texts.push_back(lines[i]);
    ref.texts.push_back("");
    ref.texts.push_back("  \n\t ");
    // Medium: about 300 and 1500 tokens. Long: up to the package's limit and past it.
    const auto max_length = static_cast<std::size_t>(plain.max_length());
    jina3::EncodeOptions untruncated;
    untruncated.truncate = false;
    const auto over_limit = [&](const std::string& text) {
      try {
        return plain.tokenize({text}, jina3::Task::None, untruncated)[0].size() >= max_length;
      } catch (const jina3::InputTooLong&) {
        return true;
      }
    };
    const auto make = [&](std::size_t target, std::size_t from) {
      std::string text;
      std::size_t i = from;
      const auto add = [&] {
        text += lines[i] + " ";
        i = (i + 1) % lines.size();
      };
      // Lines in steps of a fraction of what is missing (a line is some 10-30 tokens), so that
      // the text is tokenised a few dozen times, not once per line.
      if (target >= max_length) {
        while (!over_limit(text)) {
          const std::size_t have = plain.tokenize({text})[0].size();
          for (std::size_t k = 0; k < std::max<std::size_t>(1, (max_length - std::min(have, max_length)) / 40); ++k) add();
        }
        for (int k = 0; k < 20; ++k) add();  // some 200 tokens past the limit
        return text;
      }
      for (std::size_t have = 0; have < target; have = plain.tokenize({text})[0].size()) {
        for (std::size_t k = 0; k < std::max<std::size_t>(1, (target - have) / 40); ++k) add();
      }
      return text;
    };
    ref.texts.push_back(make(300, 3));
    ref.texts.push_back(make(1500, 7));
    const std::size_t long_targets[] = {max_length, max_length - 100, max_length / 2};
    for (int k = 0; k < std::min(args.long_texts, 3); ++k) {
      ref.long_ones.push_back(ref.texts.size());
      ref.texts.push_back(make(long_targets[k], 11 + 5 * static_cast<std::size_t>(k)));
    }
  }
  // The serial results: one text per call, full size, unnormalised.
  ref.rows.resize(ref.texts.size() * kTaskCount * 2);
  ref.truncated.resize(ref.rows.size());
  for (std::size_t t = 0; t < ref.texts.size(); ++t) {
    for (int task = 0; task < kTaskCount; ++task) {
      for (int limit = 0; limit < 2; ++limit) {
        jina3::EncodeOptions options;
        options.normalize = false;
        options.max_length = limit ? kShortLimit : 0;
        const jina3::Embeddings e = plain.encode({ref.texts[t]}, kTasks[task], 0, options);
        ref.rows[ref.index(t, task, limit)] = e.data;
        ref.truncated[ref.index(t, task, limit)] = e.truncated[0];
      }
    }
  }
  const double reference_seconds = since(start);
  std::printf("jina3_soak: %zu texts (%zu long), %zu serial results in %.1f s; %d threads for %.0f s (warm-up %.0f s)\n",
              ref.texts.size(), ref.long_ones.size(), ref.rows.size(), reference_seconds, args.threads, args.seconds,
              args.warmup);
  std::fflush(stdout);

  Counters counters;
  const auto run_start = Clock::now();
  const auto stop = run_start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(args.seconds));
  const auto warm = run_start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(args.warmup));
  std::vector<std::thread> threads;
  for (int i = 0; i < args.threads; ++i) {
    threads.emplace_back([&, i] { Worker(ref, plain, cached, counters, args.seed * 7919u + static_cast<unsigned>(i)).run(stop); });
  }
  std::uint64_t start_rss = rss_bytes(), warm_peak = 0, after_peak = 0, last_rss = 0;
  std::uint64_t warm_requests = 0;
  while (Clock::now() < stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    last_rss = rss_bytes();
    if (Clock::now() < warm) {
      warm_peak = std::max(warm_peak, last_rss);
      warm_requests = counters.valid_requests.load() + counters.invalid_requests.load();
    } else {
      after_peak = std::max(after_peak, last_rss);
    }
  }
  for (auto& t : threads) t.join();
  const double run_seconds = since(run_start);
  const double growth = warm_peak ? (static_cast<double>(after_peak) - static_cast<double>(warm_peak)) / warm_peak : 0;
  const jina3::EncoderStats stats = plain.stats();
  const jina3::EncoderStats cached_stats = cached.stats();

  const auto mib = [](std::uint64_t bytes) { return static_cast<double>(bytes) / (1 << 20); };
  std::printf("jina3_soak: %.1f s: %llu valid requests (%llu rows), %llu invalid requests (%llu during warm-up in all)\n",
              run_seconds, static_cast<unsigned long long>(counters.valid_requests.load()),
              static_cast<unsigned long long>(counters.valid_rows.load()),
              static_cast<unsigned long long>(counters.invalid_requests.load()),
              static_cast<unsigned long long>(warm_requests));
  for (const auto& [kind, n] : counters.by_kind) std::printf("  invalid %-20s %llu\n", kind.c_str(), static_cast<unsigned long long>(n));
  std::printf("jina3_soak: mismatches %llu, wrong errors %llu, failed calls that wrote buffers %llu\n",
              static_cast<unsigned long long>(counters.mismatches.load()),
              static_cast<unsigned long long>(counters.wrong_errors.load()),
              static_cast<unsigned long long>(counters.buffer_writes.load()));
  std::printf("jina3_soak: RSS %.1f MiB at start, peak %.1f MiB in warm-up, peak %.1f MiB after (%+.2f%%), %.1f MiB at end\n",
              mib(start_rss), mib(warm_peak), mib(after_peak), 100 * growth, mib(last_rss));
  std::printf("jina3_soak: plain encoder %llu passes, %llu tokens, max queue %llu; cached encoder %llu passes, "
              "%llu hits, %llu evictions\n",
              static_cast<unsigned long long>(stats.passes), static_cast<unsigned long long>(stats.tokens),
              static_cast<unsigned long long>(stats.max_queue_depth), static_cast<unsigned long long>(cached_stats.passes),
              static_cast<unsigned long long>(cached_stats.cache_hits),
              static_cast<unsigned long long>(cached_stats.cache_evictions));
  for (const auto& p : counters.problems) std::printf("  problem: %s\n", p.c_str());

  bool ok = true;
  const auto check = [&](bool condition, const char* what) {
    if (!condition) {
      std::printf("jina3_soak: FAILED: %s\n", what);
      ok = false;
    }
  };
  check(counters.mismatches.load() == 0, "every valid result equals the serial result");
  check(counters.wrong_errors.load() == 0, "every invalid request gets its typed error");
  check(counters.buffer_writes.load() == 0, "failed calls leave caller buffers untouched");
  check(counters.valid_requests.load() > 0 && counters.invalid_requests.load() > 0, "both kinds of request ran");
  check(warm_peak > 0 && after_peak > 0, "RSS was sampled during and after the warm-up");
  // Under AddressSanitizer, freed memory sits in its quarantine (and shadow memory grows with the
  // heap), so resident size says nothing about leaks there: LeakSanitizer checks those at exit.
  if (kAddressSanitizer) {
    std::printf("jina3_soak: RSS growth not checked under AddressSanitizer (its leak check runs at exit)\n");
  } else {
    check(growth <= 0.05, "RSS after the warm-up grows by at most 5%");
  }
  std::printf("jina3_soak: %s\n", ok ? "passed" : "FAILED");
  return ok ? 0 : 1;
}
