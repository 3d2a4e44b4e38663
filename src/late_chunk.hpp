// Late chunking: where chunks lie in a token sequence, how long texts are cut into macro windows,
// and the span pooling of token states. No LibTorch here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include <jina3/outputs.hpp>

namespace jina3::detail {

using Span = std::pair<std::size_t, std::size_t>;

// A macro window: ids[begin, end) run as one row; its outputs from keep (relative) on are kept.
struct Window {
  std::size_t begin;
  std::size_t end;
  std::size_t keep;
};

// Windows over a sequence of length tokens: one window when it fits, else a window every
// window - overlap tokens until the end; stitched, the kept outputs are exactly one per token.
std::vector<Window> plan_windows(std::size_t length, std::size_t window, std::size_t overlap);

struct ChunkPlan {
  std::vector<Span> spans;        // byte spans in the text
  std::vector<Span> token_spans;  // [begin, end) token indices pooled, specials extension included
};

// Chunks of one text (index text_index, for messages), from its token offsets (two per token,
// -1 for specials and prompt, as Tokenizer::encode gives them). caller_spans, chunk_tokens and
// sentences are the alternatives (at most one is set; none: the whole text). Throws
// InvalidArgument naming the text and span for spans outside the text, empty or reversed, inside
// a UTF-8 sequence, or holding no token.
ChunkPlan plan_chunks(std::string_view text, std::size_t text_index, const std::vector<std::int64_t>& offsets,
                      const std::vector<Span>* caller_spans, int chunk_tokens, int sentences,
                      bool include_special_tokens);

// Mean of states[token_spans[k]] (rows of hidden floats; float32 in, double sums), cut to dims,
// L2-normalised if asked: chunks x dims floats to out.
void pool_chunks(const float* states, std::size_t hidden, const ChunkPlan& plan, std::size_t dims, bool normalize,
                 float* out);

}  // namespace jina3::detail
