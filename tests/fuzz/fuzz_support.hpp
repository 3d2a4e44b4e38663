// What the libFuzzer targets share: failing with a message (an abort, which libFuzzer reports as
// a crash, keeping the input), reading the input front to back, and comparing rows of two calls.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace jina3::fuzz {

// The target's name, which starts every message: each target defines it.
extern const char* const kTarget;
// Set by a target that has more to say after the message (fuzz_capi_encode: the C API's last
// error); it writes to stderr.
inline void (*fail_context)() = nullptr;

[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "%s: %s", kTarget, what);
  if (fail_context) fail_context();
  std::fprintf(stderr, "\n");
  std::abort();
}

[[noreturn]] inline void fail(const std::string& what) { fail(what.c_str()); }

inline void expect(bool condition, const char* what) {
  if (!condition) fail(what);
}

// Reads the input front to back; zeros (and empty strings) once it is used up.
class Reader {
 public:
  Reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::uint8_t byte() { return position_ < size_ ? data_[position_++] : 0; }
  std::int16_t int16() {
    const unsigned low = byte();
    return static_cast<std::int16_t>(low | (static_cast<unsigned>(byte()) << 8));
  }
  // The next count bytes in place; count becomes what was left if that is less.
  const std::uint8_t* take(std::size_t& count) {
    count = std::min(count, size_ - position_);
    const std::uint8_t* at = data_ + position_;
    position_ += count;
    return at;
  }
  std::string bytes(std::size_t count) {
    const std::uint8_t* at = take(count);
    return std::string(reinterpret_cast<const char*>(at), count);
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t position_ = 0;
};

// Two results for the same text from different calls (README "What shares a pass"): within 1e-5
// per value, relative to the expected row's largest value where rows are not normalised.
inline bool rows_agree(const float* got, const float* want, std::size_t n, bool normalized) {
  double largest = 0.0, diff = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    largest = std::max(largest, std::fabs(static_cast<double>(want[i])));
    diff = std::max(diff, std::fabs(static_cast<double>(got[i]) - want[i]));
  }
  return diff <= 1e-5 * (normalized || largest == 0.0 ? 1.0 : largest);
}

}  // namespace jina3::fuzz
