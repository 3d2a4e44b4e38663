// Late chunking, the output stage for chunk vectors, in three steps: plan (where chunks lie in a
// token sequence, how long texts are cut into macro windows), run (the windows through the
// scheduler, every token's states kept) and stitch (one state per token, then the span pooling).
// The planners and the pooling use no LibTorch.
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

namespace jina3::pipeline {

struct Services;
struct Request;
struct Checked;

// One text's work: its chunks, its macro windows and, once run, each window's token states.
struct ChunkWork {
  detail::ChunkPlan plan;
  std::vector<detail::Window> windows;
  std::vector<std::vector<std::int32_t>> window_ids;  // per window: its slice of the ids (until run)
  std::vector<std::vector<float>> window_states;      // per window: (end - begin) x hidden floats
  std::size_t length = 0;                         // tokens of the whole text
};

// plan: tokenises with offsets and plans every text's chunks and windows (all bad input is found
// here, before any pass).
std::vector<ChunkWork> plan_late_chunks(const Services& services, const Request& request, const Checked& checked);
// run: every window of every text through the scheduler; waits.
void run_late_chunks(const Services& services, const Request& request, std::vector<ChunkWork>& work);
// stitch: one output per token from the windows, then each chunk pooled, cut and normalised.
std::vector<ChunkEmbeddings> stitch_late_chunks(std::vector<ChunkWork>& work, std::size_t hidden, std::size_t dims,
                                                bool normalize);

// The three steps for a checked request (Output::Chunks).
std::vector<ChunkEmbeddings> late_chunk(const Services& services, const Request& request, const Checked& checked);

}  // namespace jina3::pipeline
