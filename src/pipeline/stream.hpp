// Block streaming (Encoder::encode_stream): read a block, queue it, hand results on in order, with
// a bounded number of blocks in flight. The jina3 tool and Python's iterable path both use it.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>
#include <vector>

#include <jina3/encoder.hpp>

#include "pipeline/request.hpp"

namespace jina3::pipeline {

// request gives the task, dims and options (checked); its texts come from next_block.
void stream(const Services& services, const Request& request, const Checked& checked,
            const std::function<bool(std::vector<std::string_view>&)>& next_block,
            const std::function<void(const std::vector<std::string_view>&, Embeddings&&)>& on_block,
            std::size_t in_flight);

}  // namespace jina3::pipeline
