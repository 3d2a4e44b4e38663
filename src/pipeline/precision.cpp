// The precision stage: float32 rows to float16, int8/uint8 (per-dimension ranges) or packed bits.
#include <jina3/outputs.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include <jina3/errors.hpp>

#include "pipeline/precision.hpp"

namespace jina3 {
namespace {

bool packed(Precision precision) { return precision == Precision::Binary || precision == Precision::UBinary; }

// IEEE binary16 bits of f, rounded to nearest even (as numpy's astype(float16)).
std::uint16_t half_bits(float f) {
  std::uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  std::uint32_t mantissa = x & 0x7fffffu;
  const int exponent = static_cast<int>((x >> 23) & 0xffu);
  if (exponent == 0xff) return static_cast<std::uint16_t>(sign | 0x7c00u | (mantissa ? 0x200u | (mantissa >> 13) : 0u));
  const int e = exponent - 127 + 15;
  if (e >= 0x1f) return static_cast<std::uint16_t>(sign | 0x7c00u);  // too large: infinity
  if (e <= 0) {                                                      // a subnormal half, or zero
    if (e < -10) return static_cast<std::uint16_t>(sign);
    mantissa |= 0x800000u;
    const int shift = 14 - e;
    std::uint32_t half = mantissa >> shift;
    const std::uint32_t rest = mantissa & ((1u << shift) - 1);
    const std::uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half & 1u))) ++half;
    return static_cast<std::uint16_t>(sign | half);
  }
  std::uint32_t half = (static_cast<std::uint32_t>(e) << 10) | (mantissa >> 13);
  const std::uint32_t rest = mantissa & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;  // a carry into the exponent is right
  return static_cast<std::uint16_t>(sign | half);
}

void check_ranges(const Ranges& ranges, std::size_t dims) {
  if (ranges.min.size() != dims || ranges.max.size() != dims) {
    throw InvalidArgument(fmt::format("ranges must be 2 x {} (a min row and a max row of dims values), not {} and {} "
                                      "values", dims, ranges.min.size(), ranges.max.size()));
  }
  for (std::size_t d = 0; d < dims; ++d) {
    if (!(ranges.max[d] > ranges.min[d])) {
      throw InvalidArgument(fmt::format("ranges: max <= min at dimension {} ({} <= {}); every dimension needs max > "
                                        "min", d, ranges.max[d], ranges.min[d]));
    }
  }
}

}  // namespace

std::size_t row_bytes(Precision precision, std::size_t dims) noexcept {
  switch (precision) {
    case Precision::Float32: return dims * 4;
    case Precision::Float16: return dims * 2;
    case Precision::Int8:
    case Precision::UInt8: return dims;
    case Precision::Binary:
    case Precision::UBinary: return dims / 8;
  }
  return 0;
}

Ranges calibration_ranges(const float* values, std::size_t rows, std::size_t dims) {
  if (rows == 0) throw InvalidArgument("calibration_ranges needs at least one row");
  if (values == nullptr) throw InvalidArgument("calibration_ranges: values is null");
  Ranges ranges{std::vector<float>(values, values + dims), std::vector<float>(values, values + dims)};
  for (std::size_t r = 1; r < rows; ++r) {
    const float* row = values + r * dims;
    for (std::size_t d = 0; d < dims; ++d) {
      ranges.min[d] = std::min(ranges.min[d], row[d]);
      ranges.max[d] = std::max(ranges.max[d], row[d]);
    }
  }
  return ranges;
}

void check_precision(Precision precision, std::size_t dims, const Ranges* ranges) {
  const int value = static_cast<int>(precision);
  if (value < 0 || value > static_cast<int>(Precision::UBinary)) {
    throw InvalidArgument(fmt::format("unknown precision value {}", value));
  }
  if (packed(precision) && dims % 8 != 0) {
    throw InvalidArgument(fmt::format("precision {} packs 8 dimensions per byte: dims {} is not a multiple of 8",
                                      to_string(precision), dims));
  }
  if (ranges && (precision == Precision::Int8 || precision == Precision::UInt8)) check_ranges(*ranges, dims);
}

void quantize(const float* values, std::size_t rows, std::size_t dims, Precision precision, const Ranges* ranges,
              std::uint8_t* out) {
  check_precision(precision, dims, ranges);
  if (rows == 0) return;
  if (values == nullptr || out == nullptr) throw InvalidArgument("quantize: values or out is null");
  switch (precision) {
    case Precision::Float32:
      std::memcpy(out, values, rows * dims * sizeof(float));
      return;
    case Precision::Float16:
      for (std::size_t i = 0; i < rows * dims; ++i) {
        const std::uint16_t bits = half_bits(values[i]);
        std::memcpy(out + 2 * i, &bits, sizeof bits);
      }
      return;
    case Precision::Int8:
    case Precision::UInt8: {
      Ranges computed;
      if (ranges == nullptr) {
        computed = calibration_ranges(values, rows, dims);
        for (std::size_t d = 0; d < dims; ++d) {
          if (!(computed.max[d] > computed.min[d])) {
            throw InvalidArgument(fmt::format("cannot compute {} ranges from these {} rows: dimension {} takes one "
                                              "value only; pass ranges (e.g. from calibration_ranges over a larger "
                                              "set)", to_string(precision), rows, d));
          }
        }
        ranges = &computed;
      }
      // sentence-transformers' quantize_embeddings, step by step in float32 as numpy computes it
      // for float32 embeddings and ranges: step = (max - min) / 255, q = (x - min) / step; uint8 is
      // q.astype(uint8), int8 is (q - 128).astype(int8). Both casts truncate toward zero, so uint8
      // is floor(q) and int8 is trunc(q - 128), the subtraction rounded to float32 first (for
      // q < 128 that is ceil(q) - 128 unless the rounding lands on an integer). Where numpy's cast
      // is undefined (outside the type's range, NaN) jina3 clips: NaN gives the lowest level.
      std::vector<float> steps(dims);
      for (std::size_t d = 0; d < dims; ++d) steps[d] = (ranges->max[d] - ranges->min[d]) / 255.0f;
      for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t d = 0; d < dims; ++d) {
          const float q = (values[r * dims + d] - ranges->min[d]) / steps[d];
          if (precision == Precision::UInt8) {
            const float level = std::min(255.0f, std::max(0.0f, std::floor(q)));  // NaN -> 0
            out[r * dims + d] = static_cast<std::uint8_t>(level);
          } else {
            const float shifted = q - 128.0f;
            const int level = !(shifted > -129.0f) ? -128 : shifted >= 128.0f ? 127 : static_cast<int>(shifted);
            out[r * dims + d] = static_cast<std::uint8_t>(static_cast<std::int8_t>(level));
          }
        }
      }
      return;
    }
    case Precision::Binary:
    case Precision::UBinary: {
      const std::size_t bytes = dims / 8;
      const unsigned shift = precision == Precision::Binary ? 128u : 0u;
      for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t b = 0; b < bytes; ++b) {
          unsigned byte = 0;
          for (std::size_t k = 0; k < 8; ++k) byte = (byte << 1) | (values[r * dims + b * 8 + k] > 0.0f ? 1u : 0u);
          out[r * bytes + b] = static_cast<std::uint8_t>((byte - shift) & 0xffu);
        }
      }
      return;
    }
  }
}

}  // namespace jina3

namespace jina3::pipeline {

QuantizedEmbeddings to_precision(Embeddings&& rows, Precision precision, const Ranges* ranges) {
  QuantizedEmbeddings result;
  result.rows = rows.rows;
  result.dims = rows.dims;
  result.precision = precision;
  result.data.resize(rows.rows * row_bytes(precision, rows.dims));
  quantize(rows.data.data(), rows.rows, rows.dims, precision, ranges, result.data.data());
  result.truncated = std::move(rows.truncated);
  return result;
}

}  // namespace jina3::pipeline
