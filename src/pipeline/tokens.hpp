// The output stage for token embeddings: every token's final hidden state, with its ids and byte
// offsets.
#pragma once

#include <vector>

#include <jina3/outputs.hpp>

#include "pipeline/request.hpp"

namespace jina3::pipeline {

// request (Output::Tokens) was checked; waits for its passes.
std::vector<TokenEmbeddings> encode_tokens(const Services& services, const Request& request, const Checked& checked);

}  // namespace jina3::pipeline
