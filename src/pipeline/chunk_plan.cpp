// Late chunking's planners and span pooling (see chunks.hpp); no LibTorch. They follow the
// reference code of jina-ai/late-chunking: token membership by character range, the first chunk extended to <s> and the prompt, the last to
// </s>, plain means, and long texts as overlapping macro windows.
#include "pipeline/chunks.hpp"

#include <algorithm>

#include <fmt/format.h>

#include <jina3/errors.hpp>

#include "pipeline/normalize.hpp"

namespace jina3::detail {
namespace {

bool continuation_byte(std::string_view text, std::size_t at) {
  return at < text.size() && (static_cast<unsigned char>(text[at]) & 0xc0) == 0x80;
}

bool ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// Does token [begin, end) lie inside span [b, e)? An empty token (a lone "▁") belongs to the span
// its position starts, so it is never in two adjacent spans.
bool inside(std::int64_t begin, std::int64_t end, const Span& span) {
  const auto b = static_cast<std::int64_t>(span.first);
  const auto e = static_cast<std::int64_t>(span.second);
  if (begin == end) return begin >= b && begin < e;
  return begin >= b && end <= e;
}

}  // namespace

std::vector<Window> plan_windows(std::size_t length, std::size_t window, std::size_t overlap) {
  std::vector<Window> windows;
  if (length <= window) {
    windows.push_back(Window{0, length, 0});
    return windows;
  }
  for (std::size_t begin = 0;; begin += window - overlap) {
    const std::size_t end = std::min(begin + window, length);
    windows.push_back(Window{begin, end, begin == 0 ? 0 : overlap});
    if (end == length) break;
  }
  return windows;
}

ChunkPlan plan_chunks(std::string_view text, std::size_t text_index, const std::vector<std::int64_t>& offsets,
                      const std::vector<Span>* caller_spans, int chunk_tokens, int sentences,
                      bool include_special_tokens) {
  const std::size_t length = offsets.size() / 2;
  const auto begin_of = [&](std::size_t t) { return offsets[2 * t]; };
  const auto end_of = [&](std::size_t t) { return offsets[2 * t + 1]; };
  std::vector<std::size_t> content;  // indices of the text's own tokens
  for (std::size_t t = 0; t < length; ++t) {
    if (begin_of(t) >= 0) content.push_back(t);
  }

  ChunkPlan plan;
  const auto add = [&](std::size_t first, std::size_t last) {  // content[first .. last]
    plan.token_spans.emplace_back(content[first], content[last] + 1);
    plan.spans.emplace_back(static_cast<std::size_t>(begin_of(content[first])),
                            static_cast<std::size_t>(end_of(content[last])));
  };
  if (caller_spans != nullptr) {
    for (std::size_t k = 0; k < caller_spans->size(); ++k) {
      const Span& span = (*caller_spans)[k];
      const auto where = [&] { return fmt::format("span {} ({}, {}) of text {}", k, span.first, span.second, text_index); };
      if (span.first >= span.second) throw InvalidArgument(fmt::format("{} is empty or reversed", where()));
      if (span.second > text.size()) {
        throw InvalidArgument(fmt::format("{} is outside the text ({} bytes)", where(), text.size()));
      }
      if (continuation_byte(text, span.first) || continuation_byte(text, span.second)) {
        throw InvalidArgument(fmt::format("{} starts or ends inside a UTF-8 sequence", where()));
      }
      std::size_t first = content.size();
      std::size_t last = 0;
      for (std::size_t c = 0; c < content.size(); ++c) {
        if (inside(begin_of(content[c]), end_of(content[c]), span)) {
          first = std::min(first, c);
          last = c;
        }
      }
      if (first == content.size()) throw InvalidArgument(fmt::format("{} contains no token", where()));
      plan.token_spans.emplace_back(content[first], content[last] + 1);
      plan.spans.push_back(span);
    }
  } else if (chunk_tokens > 0) {
    const auto size = static_cast<std::size_t>(chunk_tokens);
    for (std::size_t first = 0; first < content.size(); first += size) {
      add(first, std::min(first + size, content.size()) - 1);
    }
  } else if (sentences > 0) {
    // A sentence ends after ., ! or ? that is followed by whitespace or the end of the text.
    const auto ends_sentence = [&](std::size_t position) {  // position: just after the mark
      return position > 0 && position <= text.size() &&
             (text[position - 1] == '.' || text[position - 1] == '!' || text[position - 1] == '?') &&
             (position == text.size() || ascii_space(text[position]));
    };
    std::size_t first = 0;
    int counted = 0;
    for (std::size_t c = 0; c < content.size(); ++c) {
      const auto b = static_cast<std::size_t>(begin_of(content[c]));
      const auto e = static_cast<std::size_t>(end_of(content[c]));
      bool boundary = false;
      for (std::size_t p = std::max<std::size_t>(b, 1); p <= e && !boundary; ++p) boundary = ends_sentence(p);
      if (boundary && ++counted == sentences) {
        add(first, c);
        first = c + 1;
        counted = 0;
      }
    }
    if (first < content.size()) add(first, content.size() - 1);
  } else if (!content.empty()) {
    add(0, content.size() - 1);
  }
  if (include_special_tokens && !plan.token_spans.empty()) {
    plan.token_spans.front().first = 0;
    plan.token_spans.back().second = length;
  }
  return plan;
}

void pool_chunks(const float* states, std::size_t hidden, const ChunkPlan& plan, std::size_t dims, bool normalize,
                 float* out) {
  std::vector<double> sums(dims);
  for (std::size_t k = 0; k < plan.token_spans.size(); ++k) {
    const auto [first, last] = plan.token_spans[k];
    std::fill(sums.begin(), sums.end(), 0.0);
    for (std::size_t t = first; t < last; ++t) {
      const float* row = states + t * hidden;
      for (std::size_t d = 0; d < dims; ++d) sums[d] += row[d];
    }
    float* chunk = out + k * dims;
    const double count = static_cast<double>(std::max<std::size_t>(last - first, 1));
    for (std::size_t d = 0; d < dims; ++d) chunk[d] = static_cast<float>(sums[d] / count);
    if (normalize) normalize_row(chunk, dims);
  }
}

}  // namespace jina3::detail
