// Deterministic synthetic inputs whose token counts hit a target exactly. Texts are sentences
// drawn from a fixed word list (mostly English, some other scripts) with a fixed generator, then
// their length in words is calibrated against the package's own tokenizer, so every engine and
// every run sees the same token sequences.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <jina3/jina3.hpp>

namespace jina3_bench {

struct CalibratedText {
  std::string text;
  int tokens = 0;  // what Encoder::tokenize gives: task prompt, <s> and </s> included
};

// A text with `target_tokens` tokens for `task` (prompt and specials included), or as close as
// the word list allows (never fewer than the prompt and specials alone). Same seed, same text.
CalibratedText calibrated_text(const jina3::Encoder& encoder, jina3::Task task, int target_tokens, std::uint64_t seed);

// Deterministic integers uniform in [lo, hi] (std::mt19937_64 raw output, which the standard
// fixes bit for bit; the std distributions are implementation-defined).
std::vector<int> uniform_lengths(std::size_t count, int lo, int hi, std::uint64_t seed);

}  // namespace jina3_bench
