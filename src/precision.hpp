// The precision stage's argument checks, shared by the encoder (which checks before any pass).
#pragma once

#include <cstddef>

#include <jina3/outputs.hpp>

namespace jina3 {

// Throws InvalidArgument for an unknown precision, a packed precision with dims not a multiple
// of 8, or int8/uint8 ranges of the wrong shape or with max <= min.
void check_precision(Precision precision, std::size_t dims, const Ranges* ranges);

}  // namespace jina3
