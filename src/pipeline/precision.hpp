// The precision stage: float32 rows to another element type. Its checks run in prepare, before
// any pass.
#pragma once

#include <cstddef>

#include <jina3/encoder.hpp>
#include <jina3/outputs.hpp>

namespace jina3 {

// Throws InvalidArgument for an unknown precision, a packed precision with dims not a multiple
// of 8, or int8/uint8 ranges of the wrong shape or with max <= min.
void check_precision(Precision precision, std::size_t dims, const Ranges* ranges);

}  // namespace jina3

namespace jina3::pipeline {

// The rows in precision (checked): rows x row_bytes(precision, dims) bytes, truncated flags kept.
QuantizedEmbeddings to_precision(Embeddings&& rows, Precision precision, const Ranges* ranges);

}  // namespace jina3::pipeline
