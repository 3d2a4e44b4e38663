// The precision stage: quantize (float32, float16, int8, uint8, binary, ubinary) against an
// independent implementation, calibration ranges, encode_quantized, and bad precision arguments.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "support.hpp"

using namespace jina3;
using namespace jina3::test;

namespace {

// --- the precisions, written out independently of src/pipeline/precision.cpp ---------------------

// IEEE binary16 bits of f, from its value in double: round to nearest, ties to even (the default
// rounding mode of std::nearbyint), overflow to infinity.
std::uint16_t half_reference(float f) {
  std::uint32_t raw;
  std::memcpy(&raw, &f, sizeof raw);
  const std::uint16_t sign = (raw >> 31) ? 0x8000 : 0;
  if (std::isnan(f)) return static_cast<std::uint16_t>(sign | 0x7e00);
  const double a = std::fabs(static_cast<double>(f));
  if (std::isinf(f)) return static_cast<std::uint16_t>(sign | 0x7c00);
  if (a < std::ldexp(1.0, -14)) {  // subnormal halves: multiples of 2^-24 (1024 of them become the smallest normal)
    return static_cast<std::uint16_t>(sign | static_cast<std::uint16_t>(std::nearbyint(std::ldexp(a, 24))));
  }
  int exponent = std::ilogb(a);                                              // a = m * 2^exponent, m in [1, 2)
  double mantissa = std::nearbyint((std::ldexp(a, -exponent) - 1.0) * 1024.0);  // 10 bits, maybe 1024
  if (mantissa == 1024.0) {
    mantissa = 0.0;
    ++exponent;
  }
  if (exponent > 15) return static_cast<std::uint16_t>(sign | 0x7c00);
  return static_cast<std::uint16_t>(sign | ((exponent + 15) << 10) | static_cast<int>(mantissa));
}

// uint8 level of x as numpy would compute it in float32: clip(floor((x - min) / ((max - min) / 255)), 0, 255).
int level_reference(float x, float lo, float hi) {
  const float step = (hi - lo) / 255.0f;
  const float scaled = std::floor((x - lo) / step);
  if (std::isnan(scaled)) return 0;
  if (scaled < 0.0f) return 0;
  if (scaled > 255.0f) return 255;
  return static_cast<int>(scaled);
}

// int8 value of x as sentence-transformers' quantize_embeddings computes it for float32 inputs and
// ranges, ((x - min) / step - 128).astype(np.int8) with step = (max - min) / 255: numpy keeps every
// step in float32 (the 255 and the 128 are Python ints, which do not widen a float32 array), and
// the cast truncates toward zero. Outside int8 (and for NaN) numpy's cast is undefined: jina3 clips.
int int8_reference(float x, float lo, float hi) {
  const float step = (hi - lo) / 255.0f;
  const float diff = x - lo;
  const float scaled = diff / step;
  const float shifted = scaled - 128.0f;
  if (std::isnan(shifted) || shifted <= -129.0f) return -128;
  if (shifted >= 128.0f) return 127;
  return static_cast<int>(std::trunc(shifted));
}

std::vector<std::uint8_t> quantize_reference(const std::vector<float>& values, std::size_t rows, std::size_t dims,
                                             Precision precision, const Ranges* given) {
  std::vector<std::uint8_t> out;
  Ranges ranges;
  if (precision == Precision::Int8 || precision == Precision::UInt8) {
    if (given) {
      ranges = *given;
    } else {
      ranges.min.assign(dims, std::numeric_limits<float>::infinity());
      ranges.max.assign(dims, -std::numeric_limits<float>::infinity());
      for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t d = 0; d < dims; ++d) {
          ranges.min[d] = std::fmin(ranges.min[d], values[r * dims + d]);
          ranges.max[d] = std::fmax(ranges.max[d], values[r * dims + d]);
        }
      }
    }
  }
  for (std::size_t r = 0; r < rows; ++r) {
    const float* row = values.data() + r * dims;
    switch (precision) {
      case Precision::Float32:
        for (std::size_t d = 0; d < dims; ++d) {
          std::uint8_t bytes[4];
          std::memcpy(bytes, row + d, 4);
          out.insert(out.end(), bytes, bytes + 4);
        }
        break;
      case Precision::Float16:
        for (std::size_t d = 0; d < dims; ++d) {  // little-endian uint16, as numpy's float16 in memory
          const std::uint16_t h = half_reference(row[d]);
          out.push_back(static_cast<std::uint8_t>(h & 0xff));
          out.push_back(static_cast<std::uint8_t>(h >> 8));
        }
        break;
      case Precision::UInt8:
      case Precision::Int8:
        for (std::size_t d = 0; d < dims; ++d) {
          const int value = precision == Precision::Int8 ? int8_reference(row[d], ranges.min[d], ranges.max[d])
                                                         : level_reference(row[d], ranges.min[d], ranges.max[d]);
          out.push_back(static_cast<std::uint8_t>(value < 0 ? value + 256 : value));
        }
        break;
      case Precision::UBinary:
      case Precision::Binary:
        for (std::size_t byte = 0; byte < dims / 8; ++byte) {
          int packed = 0;
          for (std::size_t bit = 0; bit < 8; ++bit) {
            if (row[byte * 8 + bit] > 0.0f) packed += 1 << (7 - bit);  // numpy.packbits: dim 0 is the MSB
          }
          const int value = precision == Precision::Binary ? packed - 128 : packed;
          out.push_back(static_cast<std::uint8_t>(value < 0 ? value + 256 : value));
        }
        break;
    }
  }
  return out;
}

constexpr Precision kPrecisions[] = {Precision::Float32, Precision::Float16, Precision::Int8,
                                     Precision::UInt8,   Precision::Binary,  Precision::UBinary};

std::vector<float> random_rows(std::size_t rows, std::size_t dims, unsigned seed) {
  std::mt19937 random(seed);
  std::normal_distribution<float> normal(0.0f, 0.3f);
  std::vector<float> values(rows * dims);
  for (float& v : values) v = normal(random);
  return values;
}

// The first index where two byte arrays differ, described.
std::string first_difference(const std::vector<std::uint8_t>& got, const std::vector<std::uint8_t>& want) {
  if (got.size() != want.size()) return "sizes " + std::to_string(got.size()) + " vs " + std::to_string(want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (got[i] != want[i]) {
      return "byte " + std::to_string(i) + ": got " + std::to_string(got[i]) + ", want " + std::to_string(want[i]);
    }
  }
  return "none";
}

// The value of a float16 (binary16) bit pattern.
double half_value(std::uint16_t h) {
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  const double magnitude = exponent == 0    ? std::ldexp(mantissa, -24)
                           : exponent == 31 ? std::numeric_limits<double>::infinity()
                                            : std::ldexp(1024 + mantissa, exponent - 25);
  return (h & 0x8000) ? -magnitude : magnitude;
}

// How many values of got (encode_quantized's bytes) are further from want (quantize() of
// encode()'s rows, another call) than the float32 rule lets two calls be apart: kFloat32Tolerance
// on the values, plus one float16 step, one int8/uint8 level, and a sign bit only for a value
// within the tolerance of 0. rows: encode()'s values.
std::size_t outside_tolerance(Precision p, const std::vector<std::uint8_t>& got, const std::vector<std::uint8_t>& want,
                              const Embeddings& rows) {
  std::size_t outside = 0;
  const std::size_t values = rows.rows * rows.dims;
  for (std::size_t i = 0; i < values; ++i) {
    switch (p) {
      case Precision::Float32: {
        float a, b;
        std::memcpy(&a, got.data() + 4 * i, 4);
        std::memcpy(&b, want.data() + 4 * i, 4);
        outside += std::fabs(static_cast<double>(a) - b) > kFloat32Tolerance;
        break;
      }
      case Precision::Float16: {
        const double a = half_value(static_cast<std::uint16_t>(got[2 * i] | (got[2 * i + 1] << 8)));
        const double b = half_value(static_cast<std::uint16_t>(want[2 * i] | (want[2 * i + 1] << 8)));
        const double step = std::max(std::ldexp(std::max(std::fabs(a), std::fabs(b)), -10), std::ldexp(1.0, -24));
        outside += std::fabs(a - b) > kFloat32Tolerance + step;
        break;
      }
      case Precision::Int8:
      case Precision::UInt8: {  // the same offset of 128 on both sides, so the bytes' difference is the levels'
        const int a = p == Precision::Int8 ? static_cast<std::int8_t>(got[i]) : got[i];
        const int b = p == Precision::Int8 ? static_cast<std::int8_t>(want[i]) : want[i];
        outside += std::abs(a - b) > 1;
        break;
      }
      case Precision::Binary:
      case Precision::UBinary: {
        const std::size_t byte = i / 8, bit = 7 - i % 8;
        const bool differs = ((got[byte] ^ want[byte]) >> bit) & 1;
        outside += differs && std::fabs(rows.data[i]) > kFloat32Tolerance;
        break;
      }
    }
  }
  return outside;
}

}  // namespace

TEST_CASE("row_bytes and precision names", "[unit][precision]") {
  CHECK(row_bytes(Precision::Float32, 64) == 256);
  CHECK(row_bytes(Precision::Float16, 64) == 128);
  CHECK(row_bytes(Precision::Int8, 64) == 64);
  CHECK(row_bytes(Precision::UInt8, 64) == 64);
  CHECK(row_bytes(Precision::Binary, 64) == 8);
  CHECK(row_bytes(Precision::UBinary, 32) == 4);
  for (Precision p : kPrecisions) CHECK(precision_from_string(to_string(p)) == p);
  require_error<InvalidArgument>([] { precision_from_string("int4"); }, {"int4", "ubinary"});
  require_error<InvalidArgument>([] { precision_from_string("Float32"); }, {"Float32"});
}

TEST_CASE("float16 rounds to nearest even, with the special values", "[unit][precision]") {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<std::pair<float, std::uint16_t>> known = {
      {0.0f, 0x0000},
      {-0.0f, 0x8000},
      {1.0f, 0x3c00},
      {-2.0f, 0xc000},
      {0.5f, 0x3800},
      {65504.0f, 0x7bff},                        // the largest half
      {65519.996f, 0x7bff},                      // just under the halfway point to 65536
      {65520.0f, 0x7c00},                        // halfway: rounds to even, which is infinity
      {1e6f, 0x7c00},
      {-1e6f, 0xfc00},
      {inf, 0x7c00},
      {-inf, 0xfc00},
      {std::ldexp(1.0f, -14), 0x0400},           // the smallest normal
      {std::ldexp(1.0f, -24), 0x0001},           // the smallest subnormal
      {std::ldexp(1.0f, -25), 0x0000},           // halfway to it: ties to even (0)
      {std::ldexp(1.5f, -25), 0x0001},           // over halfway
      {std::ldexp(3.0f, -25), 0x0002},           // 1.5 x 2^-24: ties to even (2)
      {-std::ldexp(1.0f, -24), 0x8001},
      {1e-10f, 0x0000},
      {-1e-10f, 0x8000},
      {1e-40f, 0x0000},                          // a float32 subnormal
      {std::ldexp(1023.0f, -24), 0x03ff},        // the largest subnormal
      {std::ldexp(2047.0f, -25), 0x0400},        // rounds up into the normals
      {1.0f + std::ldexp(1.0f, -11), 0x3c00},    // tie: to even (down)
      {1.0f + std::ldexp(3.0f, -11), 0x3c02},    // tie: to even (up)
      {1.0f + std::ldexp(1.0f, -12), 0x3c00},
      {2049.0f, 0x6800},                         // 2048 + 1: tie, to even
      {2051.0f, 0x6802},
      {0.1f, 0x2e66},
      {-0.3333333f, 0xb555},
  };
  std::vector<float> values;
  for (const auto& entry : known) values.push_back(entry.first);
  std::vector<std::uint8_t> out(values.size() * 2, 0xab);
  quantize(values.data(), 1, values.size(), Precision::Float16, nullptr, out.data());
  for (std::size_t i = 0; i < known.size(); ++i) {
    const std::uint16_t got = static_cast<std::uint16_t>(out[2 * i] | (out[2 * i + 1] << 8));
    INFO("value " << known[i].first << " (index " << i << "): got " << got << ", want " << known[i].second);
    CHECK(got == known[i].second);
    CHECK(half_reference(known[i].first) == known[i].second);  // the test's own implementation agrees
  }
  // NaN stays NaN (exponent all ones, mantissa not zero), sign kept.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float nans[2] = {nan, -nan};
  std::uint8_t nan_out[4];
  quantize(nans, 1, 2, Precision::Float16, nullptr, nan_out);
  for (int i = 0; i < 2; ++i) {
    const std::uint16_t h = static_cast<std::uint16_t>(nan_out[2 * i] | (nan_out[2 * i + 1] << 8));
    CHECK((h & 0x7c00) == 0x7c00);
    CHECK((h & 0x03ff) != 0);
    CHECK(((h & 0x8000) != 0) == (i == 1));
  }
  // Every float32 bit pattern step over a wide range agrees with the reference.
  std::vector<float> sweep;
  for (std::uint32_t bits = 0x2f000000u; bits < 0x48000000u; bits += 0x1357u) {
    float f;
    std::memcpy(&f, &bits, sizeof f);
    sweep.push_back(f);
    sweep.push_back(-f);
  }
  std::vector<std::uint8_t> swept(sweep.size() * 2);
  quantize(sweep.data(), 2, sweep.size() / 2, Precision::Float16, nullptr, swept.data());
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < sweep.size(); ++i) {
    const std::uint16_t got = static_cast<std::uint16_t>(swept[2 * i] | (swept[2 * i + 1] << 8));
    if (got != half_reference(sweep[i]) && mismatches++ < 5) {
      UNSCOPED_INFO("value " << sweep[i] << ": got " << got << ", want " << half_reference(sweep[i]));
    }
  }
  CHECK(mismatches == 0);
}

TEST_CASE("quantize matches an independent implementation for every precision and dims", "[unit][precision]") {
  const std::size_t rows = 9;
  for (std::size_t dims : {8u, 16u, 32u, 64u, 1024u}) {
    std::vector<float> values = random_rows(rows, dims, static_cast<unsigned>(dims));
    values[0] = 0.0f;    // ubinary: 0 is not > 0
    values[1] = -0.0f;
    values[2] = 1e-30f;  // but a tiny positive value is
    values[3] = std::numeric_limits<float>::quiet_NaN();  // NaN is not > 0; it only appears in the given-ranges check
    std::vector<float> finite = values;
    finite[3] = 0.25f;
    // Given ranges: narrower than the data on some dimensions (clipping at both ends), wider on others.
    Ranges given{std::vector<float>(dims), std::vector<float>(dims)};
    for (std::size_t d = 0; d < dims; ++d) {
      given.min[d] = d % 3 == 0 ? -0.1f : -1.5f;
      given.max[d] = d % 3 == 1 ? 0.1f : 1.2f + 0.01f * static_cast<float>(d % 7);
    }
    // Calibration ranges from other rows, then applied to these.
    const std::vector<float> calibration_set = random_rows(50, dims, 1000u + static_cast<unsigned>(dims));
    const Ranges calibrated = calibration_ranges(calibration_set.data(), 50, dims);
    for (std::size_t d = 0; d < dims; ++d) {
      float lo = calibration_set[d], hi = calibration_set[d];
      for (std::size_t r = 1; r < 50; ++r) {
        lo = std::min(lo, calibration_set[r * dims + d]);
        hi = std::max(hi, calibration_set[r * dims + d]);
      }
      REQUIRE(calibrated.min[d] == lo);
      REQUIRE(calibrated.max[d] == hi);
    }
    for (Precision p : kPrecisions) {
      for (int mode = 0; mode < 3; ++mode) {  // computed ranges, given ranges, calibration ranges
        const Ranges* ranges = mode == 0 ? nullptr : mode == 1 ? &given : &calibrated;
        const std::vector<float>& input = mode == 0 ? finite : values;
        INFO("precision " << to_string(p) << ", dims " << dims << ", ranges " << (mode == 0 ? "computed" : mode == 1 ? "given" : "calibrated"));
        std::vector<std::uint8_t> got(rows * row_bytes(p, dims), 0xab);
        quantize(input.data(), rows, dims, p, ranges, got.data());
        const std::vector<std::uint8_t> want = quantize_reference(input, rows, dims, p, ranges);
        INFO("first difference: " << first_difference(got, want));
        if (p == Precision::Float32 || p == Precision::Float16) {
          // NaN's bits may differ in the mantissa only; compare everything else bit for bit.
          CHECK(got.size() == want.size());
        } else {
          CHECK(got == want);
        }
        if (p == Precision::Float16 || p == Precision::Float32) {
          const std::size_t width = p == Precision::Float16 ? 2 : 4;
          for (std::size_t i = 0; i < rows * dims; ++i) {
            if (std::isnan(input[i])) continue;
            if (std::memcmp(got.data() + i * width, want.data() + i * width, width) != 0) {
              FAIL_CHECK("value " << input[i] << " at " << i << " differs");
              break;
            }
          }
        }
      }
    }
    // The levels use the whole range: with computed ranges each dimension's min is 0 and its max 255
    // (uint8), -128 and 127 (int8).
    std::vector<std::uint8_t> levels(rows * dims);
    quantize(finite.data(), rows, dims, Precision::UInt8, nullptr, levels.data());
    for (std::size_t d = 0; d < dims; ++d) {
      std::uint8_t lo = 255, hi = 0;
      for (std::size_t r = 0; r < rows; ++r) {
        lo = std::min(lo, levels[r * dims + d]);
        hi = std::max(hi, levels[r * dims + d]);
      }
      CHECK(lo == 0);
      CHECK(hi >= 254);  // floor((max - min) / step) may land just under 255 in float32
    }
  }
  // Bits by hand: dim 0 is the most significant bit of byte 0.
  const float row[16] = {1, -1, -1, -1, -1, -1, -1, 0.5f, -1, 2, 0, 0, 0, 0, 0, -0.0f};
  std::uint8_t bits[2], signed_bits[2];
  quantize(row, 1, 16, Precision::UBinary, nullptr, bits);
  quantize(row, 1, 16, Precision::Binary, nullptr, signed_bits);
  CHECK(bits[0] == 0x81);
  CHECK(bits[1] == 0x40);
  CHECK(static_cast<std::int8_t>(signed_bits[0]) == 0x81 - 128);
  CHECK(static_cast<std::int8_t>(signed_bits[1]) == 0x40 - 128);
  // uint8 levels by hand: range [-1, 1], step 2/255.
  const float x[6] = {-1.0f, 1.0f, 0.0f, -2.0f, 5.0f, -1.0f + 2.0f / 255.0f * 10.5f};
  const float y[6] = {1.0f, -1.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  Ranges unit{{-1, -1, -1, -1, -1, -1}, {1, 1, 1, 1, 1, 1}};
  float both[12];
  std::copy(x, x + 6, both);
  std::copy(y, y + 6, both + 6);
  std::uint8_t u[12], s[12];
  quantize(both, 2, 6, Precision::UInt8, &unit, u);
  quantize(both, 2, 6, Precision::Int8, &unit, s);
  CHECK(u[0] == 0);
  CHECK(u[1] == 254);  // (max - min) / step is 254.99998 in float32, as in numpy
  CHECK(u[2] == 127);  // floor(127.5)
  CHECK(u[3] == 0);    // clipped
  CHECK(u[4] == 255);  // clipped
  CHECK(u[5] == 10);
  // int8 by hand, sentence-transformers' trunc((x - min) / step - 128): 0 -> 127.5 - 128 = -0.5 -> 0
  // (uint8 - 128 would be -1), 10.5 - 128 -> -117, 254.99998 - 128 -> 126; clipped outside.
  const std::vector<int> signed_want = {-128, 126, 0, -128, 127, -117, 126, -128, 0, 0, 0, 0};
  for (int i = 0; i < 12; ++i) {
    INFO("value " << both[i]);
    CHECK(static_cast<int>(static_cast<std::int8_t>(s[i])) == signed_want[static_cast<std::size_t>(i)]);
  }
}

TEST_CASE("int8 equals sentence-transformers' formula on bucket boundaries", "[unit][precision]") {
  // min 0, max 255: step is exactly 1, so (x - min) / step is x itself and each case is plain.
  const Ranges ranges{{0.0f}, {255.0f}};
  struct Case {
    float x;
    int want;
    const char* why;
  };
  const float tiny_above_one = 1.0f + std::ldexp(1.0f, -20);
  const std::vector<Case> cases = {
      {0.0f, -128, "the bottom of the range"},
      {255.0f, 127, "the top of the range"},
      {127.0f, -1, "on a boundary below the middle: exact"},
      {128.0f, 0, "on the middle boundary"},
      {129.0f, 1, "on a boundary above the middle"},
      {127.5f, 0, "-0.5 truncates to 0 (floor would give -1)"},
      {127.999f, 0, "a negative near zero truncates to 0"},
      {126.9f, -1, "-1.1 truncates to -1"},
      {10.5f, -117, "-117.5 truncates toward zero"},
      {200.5f, 72, "72.5: above the middle truncating is flooring"},
      {254.999f, 126, "126.999 -> 126"},
      {tiny_above_one, -127, "1 + 2^-20 - 128 rounds to -127 in float32 before the cast (exact math: -126)"},
      {0.5f, -127, "-127.5 -> -127"},
      {-0.5f, -128, "-128.5 is still in int8's cast range: -128"},
      {-1.0f, -128, "below the range: clipped"},
      {-1000.0f, -128, "far below: clipped"},
      {255.5f, 127, "127.5 -> 127, in range"},
      {256.0f, 127, "128 is outside int8: clipped"},
      {1e9f, 127, "far above: clipped"},
      {std::numeric_limits<float>::quiet_NaN(), -128, "NaN: the lowest level, as uint8's 0"},
  };
  std::vector<float> values;
  for (const Case& c : cases) values.push_back(c.x);
  std::vector<std::uint8_t> out(values.size());
  quantize(values.data(), values.size(), 1, Precision::Int8, &ranges, out.data());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    INFO("x " << cases[i].x << ": " << cases[i].why);
    CHECK(static_cast<int>(static_cast<std::int8_t>(out[i])) == cases[i].want);
    CHECK(int8_reference(cases[i].x, 0.0f, 255.0f) == cases[i].want);
  }
  // A range whose step is not exact: every boundary min + k * step and the points just beside it,
  // against the float32 steps written out.
  const float lo = -0.3712f, hi = 0.4121f;
  const Ranges odd{{lo}, {hi}};
  const float step = (hi - lo) / 255.0f;
  std::vector<float> around;
  for (int k = -2; k <= 257; ++k) {
    const float boundary = lo + static_cast<float>(k) * step;
    around.push_back(boundary);
    around.push_back(std::nextafter(boundary, -1.0f));
    around.push_back(std::nextafter(boundary, 1.0f));
  }
  std::vector<std::uint8_t> got(around.size());
  quantize(around.data(), around.size(), 1, Precision::Int8, &odd, got.data());
  std::size_t mismatches = 0, differs_from_floor = 0;
  for (std::size_t i = 0; i < around.size(); ++i) {
    const int want = int8_reference(around[i], lo, hi);
    if (static_cast<std::int8_t>(got[i]) != want && mismatches++ < 5) {
      UNSCOPED_INFO("x " << around[i] << ": got " << static_cast<int>(static_cast<std::int8_t>(got[i])) << ", want "
                         << want);
    }
    differs_from_floor += want != level_reference(around[i], lo, hi) - 128;
  }
  CHECK(mismatches == 0);
  CHECK(differs_from_floor > 100);  // the old floor(v) - 128 was wrong on many of these
}

TEST_CASE("encode_quantized equals quantize(encode())", "[precision]") {
  const Encoder& encoder = shared_encoder("float32");
  const auto& ref = reference();
  std::vector<std::string> texts = ref.texts;
  const std::vector<std::string> calibration_texts(kChunkTexts.begin(), kChunkTexts.end());
  for (int dims : {8, 16, 32, 0}) {
    const Embeddings rows = encoder.encode(texts, Task::RetrievalQuery, dims);
    const Embeddings calibration_rows = encoder.encode(calibration_texts, Task::RetrievalPassage, dims);
    const Ranges ranges = calibration_ranges(calibration_rows.data.data(), calibration_rows.rows, calibration_rows.dims);
    for (Precision p : kPrecisions) {
      for (const Ranges* given : {static_cast<const Ranges*>(nullptr), &ranges}) {
        INFO("dims " << dims << ", precision " << to_string(p) << (given ? ", given ranges" : ", computed ranges"));
        const QuantizedEmbeddings q = encoder.encode_quantized(texts, Task::RetrievalQuery, dims, p, given);
        CHECK(q.rows == rows.rows);
        CHECK(q.dims == rows.dims);
        CHECK(q.precision == p);
        CHECK(q.truncated == rows.truncated);
        REQUIRE(q.data.size() == q.rows * row_bytes(p, q.dims));
        CHECK(q.row_size() == row_bytes(p, q.dims));
        std::vector<std::uint8_t> want(q.data.size());
        quantize(rows.data.data(), rows.rows, rows.dims, p, given, want.data());
        CHECK(want == quantize_reference(rows.data, rows.rows, rows.dims, p, given));
        // Two calls, so their rows may differ in the last bits (and a level or a sign with them).
        INFO("first difference: " << first_difference(q.data, want));
        CHECK(outside_tolerance(p, q.data, want, rows) == 0);
      }
    }
  }
  // An empty list: 0 rows.
  const QuantizedEmbeddings none = encoder.encode_quantized(std::vector<std::string>{}, Task::None, 32, Precision::Int8);
  CHECK(none.rows == 0);
  CHECK(none.data.empty());
}

TEST_CASE("quantize and encode_quantized reject bad precision arguments and leave out untouched", "[precision]") {
  const std::vector<float> values = random_rows(4, 12, 7);
  for (Precision p : {Precision::Binary, Precision::UBinary}) {
    std::vector<std::uint8_t> out(16, 0xab);
    require_error<InvalidArgument>([&] { quantize(values.data(), 4, 12, p, nullptr, out.data()); },
                                   {"dims 12", to_string(p)});
    CHECK(std::all_of(out.begin(), out.end(), [](std::uint8_t b) { return b == 0xab; }));
  }
  // dims 12 is fine where nothing is packed.
  for (Precision p : {Precision::Float32, Precision::Float16, Precision::Int8, Precision::UInt8}) {
    std::vector<std::uint8_t> out(4 * row_bytes(p, 12));
    quantize(values.data(), 4, 12, p, nullptr, out.data());
    CHECK(out == quantize_reference(values, 4, 12, p, nullptr));
  }
  const std::size_t dims = 16;
  const std::vector<float> rows = random_rows(3, dims, 8);
  const auto rejects = [&](const Ranges& ranges, std::initializer_list<std::string> parts) {
    for (Precision p : {Precision::Int8, Precision::UInt8}) {
      std::vector<std::uint8_t> out(3 * dims, 0xab);
      require_error<InvalidArgument>([&] { quantize(rows.data(), 3, dims, p, &ranges, out.data()); }, parts);
      CHECK(std::all_of(out.begin(), out.end(), [](std::uint8_t b) { return b == 0xab; }));
    }
  };
  const Ranges good{std::vector<float>(dims, -1.0f), std::vector<float>(dims, 1.0f)};
  Ranges short_min = good;
  short_min.min.pop_back();
  rejects(short_min, {"2 x 16", "15"});
  Ranges long_max = good;
  long_max.max.push_back(2.0f);
  rejects(long_max, {"2 x 16", "17"});
  rejects(Ranges{}, {"2 x 16", "0"});
  Ranges equal = good;
  equal.max[5] = equal.min[5];
  rejects(equal, {"dimension 5"});
  Ranges reversed = good;
  reversed.min[9] = 0.5f;
  reversed.max[9] = 0.25f;
  rejects(reversed, {"dimension 9", "0.25", "0.5"});
  Ranges not_a_number = good;
  not_a_number.max[2] = std::numeric_limits<float>::quiet_NaN();
  rejects(not_a_number, {"dimension 2"});
  // Ranges computed from one row (or identical rows) are degenerate.
  {
    std::vector<std::uint8_t> out(dims, 0xab);
    require_error<InvalidArgument>([&] { quantize(rows.data(), 1, dims, Precision::Int8, nullptr, out.data()); },
                                   {"1 rows", "dimension 0"});
    CHECK(std::all_of(out.begin(), out.end(), [](std::uint8_t b) { return b == 0xab; }));
    std::vector<float> twice(rows.begin(), rows.begin() + dims);
    twice.insert(twice.end(), rows.begin(), rows.begin() + dims);
    require_error<InvalidArgument>([&] { quantize(twice.data(), 2, dims, Precision::UInt8, nullptr, out.data()); },
                                   {"2 rows"});
  }
  require_error<InvalidArgument>([&] { calibration_ranges(rows.data(), 0, dims); }, {"at least one row"});
  require_error<InvalidArgument>(
      [&] { quantize(rows.data(), 1, dims, static_cast<Precision>(9), nullptr, std::vector<std::uint8_t>(64).data()); },
      {"9"});

  // The encoder: the same checks, before any pass.
  const Encoder& encoder = shared_encoder("float32");
  const std::vector<std::string> texts = {"first text", "second text", "third"};
  const std::uint64_t before = encoder.stats().passes;
  require_error<InvalidArgument>([&] { encoder.encode_quantized(texts, Task::None, 32, Precision::Int8, &good); },
                                 {"2 x 32", "16"});
  Ranges wide_bad{std::vector<float>(32, 0.0f), std::vector<float>(32, 1.0f)};
  wide_bad.max[31] = -1.0f;
  require_error<InvalidArgument>([&] { encoder.encode_quantized(texts, Task::None, 32, Precision::UInt8, &wide_bad); },
                                 {"dimension 31"});
  require_error<InvalidArgument>([&] { encoder.encode_quantized(texts, Task::None, 12, Precision::Binary); }, {"12"});
  require_error<InvalidArgument>(
      [&] { encoder.encode_quantized(texts, Task::None, 32, static_cast<Precision>(-1)); }, {"-1"});
  CHECK(encoder.stats().passes == before);
  // A single text cannot give its own ranges.
  require_error<InvalidArgument>([&] { encoder.encode_quantized({"only one"}, Task::None, 32, Precision::Int8); },
                                 {"1 rows"});
  // With given ranges one text is fine.
  const Ranges unit{std::vector<float>(32, -1.0f), std::vector<float>(32, 1.0f)};
  const QuantizedEmbeddings one = encoder.encode_quantized({"only one"}, Task::None, 32, Precision::Int8, &unit);
  CHECK(one.rows == 1);
  CHECK(one.data.size() == 32);
}

