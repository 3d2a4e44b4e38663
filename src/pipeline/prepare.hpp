// The prepare stage: every check of a request, tokenising, truncation and the cache key. All that
// can be wrong with a caller's input is found here, before any forward pass and before anything
// is written; no face repeats these checks.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "pipeline/request.hpp"

namespace jina3 {
class Model;

namespace pipeline {

// The load-time options: known device and dtype, no negative counts. Throws InvalidArgument.
void check_encoder_options(const EncoderOptions& options);

// The output width of dims: the hidden size for 0, else dims itself when the package offers it.
// Throws InvalidArgument otherwise, listing the valid values.
std::size_t output_dims(const Model& model, int dims);

// Every check that needs no text: pointers and counts, each task, dims, the per-call options, the
// precision and its ranges, and the late-chunk options. Throws InvalidArgument. texts = false
// checks a call before its texts are known (request.count is then the number of tasks).
Checked check(const Model& model, const Request& request, bool texts = true);

// Validates (UTF-8) and tokenises texts[rows[k]] for each k, with the task's prompt, then
// truncates to checked.max_length (or throws InputTooLong naming the first over-long text, when
// truncation is off). With offsets, also each token's byte range (Tokens, Chunks); Chunks rows
// are never truncated (long texts run as macro windows).
Prepared tokenize(const Model& model, const Request& request, const Checked& checked,
                  const std::vector<std::size_t>& rows, bool offsets = false);

// The cache key of text i: the task, the output width and every per-call option that changes a
// vector (JINA3_ENCODE_OPTION_FIELDS' "changes the vector" column, max_length resolved), then the
// exact text bytes. The cache belongs to one encoder, so the package is implicit.
std::string cache_key(const Request& request, const Checked& checked, std::size_t i);

}  // namespace pipeline
}  // namespace jina3
