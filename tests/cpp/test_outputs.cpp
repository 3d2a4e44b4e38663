// The outputs beyond float32 sentence embeddings (issue 9): token embeddings and offsets against the
// Python reference and sentencepiece's own pieces, late chunking against pooling the token output by
// the rule, macro windows, every precision against an independent implementation, and bad input.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pipeline/chunks.hpp"
#include "support.hpp"

using namespace jina3;
using namespace jina3::test;

namespace {

using SpanList = std::vector<std::pair<std::size_t, std::size_t>>;

std::string describe_task(Task task) { return task == Task::None ? std::string("none") : to_string(task); }

// The code point at text[at] and its length in bytes (text is valid UTF-8).
std::pair<char32_t, std::size_t> code_point_at(std::string_view text, std::size_t at) {
  const auto c = static_cast<unsigned char>(text[at]);
  const std::size_t width = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
  char32_t cp = width == 1 ? c : width == 2 ? (c & 0x1f) : width == 3 ? (c & 0x0f) : (c & 0x07);
  for (std::size_t k = 1; k < width && at + k < text.size(); ++k) {
    cp = (cp << 6) | (static_cast<unsigned char>(text[at + k]) & 0x3f);
  }
  return {cp, width};
}

// Unicode White_Space (Rust's char::is_whitespace, what Hugging Face's trim_offsets removes).
bool white_space(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
         cp == 0x3000;
}

bool continuation(std::string_view text, std::size_t at) {
  return at < text.size() && (static_cast<unsigned char>(text[at]) & 0xc0) == 0x80;
}

bool starts_with_space(std::string_view piece) { return !piece.empty() && white_space(code_point_at(piece, 0).first); }

bool ends_with_space(std::string_view piece) {
  if (piece.empty()) return false;
  std::size_t at = piece.size() - 1;
  while (at > 0 && continuation(piece, at)) --at;
  return white_space(code_point_at(piece, at).first);
}

// Everything wrong with one text's offsets, as lines (empty: all good). prompt_tokens: how many
// tokens after <s> belong to the instruction.
std::vector<std::string> offset_problems(std::string_view text, const std::vector<std::int32_t>& ids,
                                         const std::vector<std::int64_t>& offsets, std::size_t prompt_tokens) {
  std::vector<std::string> problems;
  const auto say = [&](std::size_t t, const std::string& what) {
    problems.push_back("token " + std::to_string(t) + " (" + std::to_string(offsets[2 * t]) + ", " +
                       std::to_string(offsets[2 * t + 1]) + "): " + what);
  };
  if (offsets.size() != 2 * ids.size()) {
    problems.push_back(std::to_string(offsets.size()) + " offsets for " + std::to_string(ids.size()) + " ids");
    return problems;
  }
  const std::size_t n = ids.size();
  std::int64_t previous_end = 0;
  for (std::size_t t = 0; t < n; ++t) {
    const std::int64_t b = offsets[2 * t], e = offsets[2 * t + 1];
    const bool special = t == 0 || t + 1 == n || t <= prompt_tokens;
    if (special) {
      if (b != -1 || e != -1) say(t, "a special or prompt token must be (-1, -1)");
      continue;
    }
    if (b < 0 || e < b || e > static_cast<std::int64_t>(text.size())) {
      say(t, "outside the text or reversed");
      continue;
    }
    if (b < previous_end) say(t, "overlaps or precedes the previous token (which ended at " + std::to_string(previous_end) + ")");
    previous_end = e;
    if (continuation(text, static_cast<std::size_t>(b)) || continuation(text, static_cast<std::size_t>(e))) {
      say(t, "inside a UTF-8 sequence");
      continue;
    }
    const std::string_view piece = text.substr(static_cast<std::size_t>(b), static_cast<std::size_t>(e - b));
    if (starts_with_space(piece) || ends_with_space(piece)) say(t, "starts or ends with whitespace");
  }
  return problems;
}

bool ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// The number of instruction tokens of task (the prompt's pieces before the text's).
std::size_t prompt_token_count(const Encoder& encoder, Task task) {
  if (encoder.prompt(task).empty()) return 0;
  return encoder.tokenize({std::string()}, task)[0].size() - 2;
}

// --- the pooling rule, written out independently of src/late_chunk.cpp ---------------------------

// Content tokens of one text: indices whose offsets are not -1.
std::vector<std::size_t> content_tokens(const TokenEmbeddings& tokens) {
  std::vector<std::size_t> content;
  for (std::size_t t = 0; t < tokens.size(); ++t) {
    if (tokens.offsets[2 * t] >= 0) content.push_back(t);
  }
  return content;
}

// Byte positions just after a sentence end: . ! or ? followed by whitespace or the end of the text.
std::vector<std::size_t> sentence_ends(std::string_view text) {
  std::vector<std::size_t> ends;
  for (std::size_t p = 1; p <= text.size(); ++p) {
    const char mark = text[p - 1];
    if (mark != '.' && mark != '!' && mark != '?') continue;
    if (p == text.size() || std::isspace(static_cast<unsigned char>(text[p]))) ends.push_back(p);
  }
  return ends;
}

struct ExpectedChunks {
  SpanList spans;
  SpanList token_spans;
};

// Chunks by the rule of issue 9: exactly one of caller spans, chunk_tokens, sentences (none: the whole text).
ExpectedChunks expected_chunks(std::string_view text, const TokenEmbeddings& tokens, const SpanList* spans,
                               int chunk_tokens, int sentences, bool specials) {
  const std::vector<std::size_t> content = content_tokens(tokens);
  const auto b = [&](std::size_t t) { return static_cast<std::size_t>(tokens.offsets[2 * t]); };
  const auto e = [&](std::size_t t) { return static_cast<std::size_t>(tokens.offsets[2 * t + 1]); };
  ExpectedChunks out;
  const auto group = [&](std::size_t first, std::size_t last) {  // content[first..last], inclusive
    out.token_spans.emplace_back(content[first], content[last] + 1);
    out.spans.emplace_back(b(content[first]), e(content[last]));
  };
  if (spans) {
    for (const auto& span : *spans) {
      std::vector<std::size_t> members;
      for (std::size_t t : content) {
        // A token belongs to a span when its range lies inside; an empty one where its position is.
        const bool in = b(t) == e(t) ? (b(t) >= span.first && b(t) < span.second)
                                     : (b(t) >= span.first && e(t) <= span.second);
        if (in) members.push_back(t);
      }
      REQUIRE(!members.empty());
      out.token_spans.emplace_back(members.front(), members.back() + 1);
      out.spans.push_back(span);
    }
  } else if (chunk_tokens > 0) {
    for (std::size_t first = 0; first < content.size(); first += static_cast<std::size_t>(chunk_tokens)) {
      group(first, std::min(content.size(), first + static_cast<std::size_t>(chunk_tokens)) - 1);
    }
  } else if (sentences > 0) {
    const std::vector<std::size_t> ends = sentence_ends(text);
    std::size_t first = 0;
    int counted = 0;
    for (std::size_t c = 0; c < content.size(); ++c) {
      // The token holds a sentence's final mark.
      const bool boundary = std::any_of(ends.begin(), ends.end(), [&](std::size_t p) {
        return p > b(content[c]) && p <= e(content[c]);
      });
      if (boundary && ++counted == sentences) {
        group(first, c);
        first = c + 1;
        counted = 0;
      }
    }
    if (first < content.size()) group(first, content.size() - 1);
  } else if (!content.empty()) {
    group(0, content.size() - 1);
  }
  if (specials && !out.token_spans.empty()) {
    out.token_spans.front().first = 0;
    out.token_spans.back().second = tokens.size();
  }
  return out;
}

// Mean of rows [first, last) of the token states in double, cut to dims, L2-normalised if asked.
std::vector<double> pooled(const TokenEmbeddings& tokens, std::pair<std::size_t, std::size_t> rows, std::size_t dims,
                           bool normalize) {
  std::vector<double> sum(dims, 0.0);
  for (std::size_t t = rows.first; t < rows.second; ++t) {
    for (std::size_t d = 0; d < dims; ++d) sum[d] += tokens.embeddings[t * tokens.hidden + d];
  }
  for (double& v : sum) v /= static_cast<double>(rows.second - rows.first);
  if (normalize) {
    double norm = 0.0;
    for (double v : sum) norm += v * v;
    norm = std::sqrt(norm);
    for (double& v : sum) v /= norm;
  }
  return sum;
}

struct ChunkCase {
  std::string label;
  LateChunkOptions options;
  const std::vector<SpanList>* spans = nullptr;
  int dims = 0;
};

// late_chunk(texts) against pooling encode_tokens(texts) by the rule; returns the worst |diff|.
double check_late_chunk(const Encoder& encoder, const std::vector<std::string>& texts, Task task, const ChunkCase& c) {
  INFO(c.label << ", dims " << c.dims << ", specials " << c.options.include_special_tokens << ", normalize "
               << c.options.normalize << ", task " << describe_task(task));
  LateChunkOptions options = c.options;
  options.spans = c.spans;
  const std::vector<ChunkEmbeddings> chunks = encoder.late_chunk(texts, task, c.dims, options);
  const std::vector<TokenEmbeddings> tokens = encoder.encode_tokens(texts, task);
  REQUIRE(chunks.size() == texts.size());
  REQUIRE(tokens.size() == texts.size());
  const std::size_t dims = c.dims == 0 ? static_cast<std::size_t>(encoder.hidden_size()) : static_cast<std::size_t>(c.dims);
  double worst = 0.0;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    INFO("text " << i << ": \"" << texts[i] << "\"");
    const ExpectedChunks expected =
        expected_chunks(texts[i], tokens[i], c.spans ? &(*c.spans)[i] : nullptr, c.options.chunk_tokens.value_or(0),
                        c.options.sentences.value_or(0), c.options.include_special_tokens);
    const ChunkEmbeddings& got = chunks[i];
    CHECK(got.dims == dims);
    CHECK(got.spans == expected.spans);
    CHECK(got.token_spans == expected.token_spans);
    REQUIRE(got.size() == expected.token_spans.size());
    REQUIRE(got.embeddings.size() == got.size() * dims);
    for (std::size_t k = 0; k < got.size(); ++k) {
      const std::vector<double> want = pooled(tokens[i], expected.token_spans[k], dims, c.options.normalize);
      for (std::size_t d = 0; d < dims; ++d) worst = std::max(worst, std::fabs(got.row(k)[d] - want[d]));
    }
  }
  CHECK(worst <= 1e-6);
  return worst;
}

// Stitched per-token states of late chunking: one chunk per content token, unnormalised, full
// size; so chunk k's vector is exactly the state of content token k.
std::vector<std::vector<float>> stitched_states(const Encoder& encoder, const std::string& text, Task task,
                                                std::optional<int> window, std::optional<int> overlap) {
  LateChunkOptions options;
  options.chunk_tokens = 1;
  options.include_special_tokens = false;
  options.normalize = false;
  options.window = window;
  options.overlap = overlap;
  const ChunkEmbeddings chunks = encoder.late_chunk({text}, task, 0, options).at(0);
  std::vector<std::vector<float>> rows;
  for (std::size_t k = 0; k < chunks.size(); ++k) rows.emplace_back(chunks.row(k), chunks.row(k) + chunks.dims);
  return rows;
}

// --- precision, written out independently of src/precision.cpp --------------------------------

// IEEE binary16 bits of f, from its value in double: round to nearest, ties to even (the default
// rounding mode of std::nearbyint), overflow to infinity.
std::uint16_t half_reference(float f) {
  std::uint32_t raw;
  std::memcpy(&raw, &f, sizeof raw);
  const std::uint16_t sign = (raw >> 31) ? 0x8000 : 0;
  if (std::isnan(f)) return static_cast<std::uint16_t>(sign | 0x7e00);
  const double a = std::fabs(static_cast<double>(f));
  if (std::isinf(f)) return static_cast<std::uint16_t>(sign | 0x7c00);
  if (a < std::ldexp(1.0, -14)) {  // subnormal halves: multiples of 2^-24 (1024 of them become the smallest normal)
    return static_cast<std::uint16_t>(sign | static_cast<std::uint16_t>(std::nearbyint(std::ldexp(a, 24))));
  }
  int exponent = std::ilogb(a);                                              // a = m * 2^exponent, m in [1, 2)
  double mantissa = std::nearbyint((std::ldexp(a, -exponent) - 1.0) * 1024.0);  // 10 bits, maybe 1024
  if (mantissa == 1024.0) {
    mantissa = 0.0;
    ++exponent;
  }
  if (exponent > 15) return static_cast<std::uint16_t>(sign | 0x7c00);
  return static_cast<std::uint16_t>(sign | ((exponent + 15) << 10) | static_cast<int>(mantissa));
}

// uint8 level of x as numpy would compute it in float32: clip(floor((x - min) / ((max - min) / 255)), 0, 255).
int level_reference(float x, float lo, float hi) {
  const float step = (hi - lo) / 255.0f;
  const float scaled = std::floor((x - lo) / step);
  if (std::isnan(scaled)) return 0;
  if (scaled < 0.0f) return 0;
  if (scaled > 255.0f) return 255;
  return static_cast<int>(scaled);
}

std::vector<std::uint8_t> quantize_reference(const std::vector<float>& values, std::size_t rows, std::size_t dims,
                                             Precision precision, const Ranges* given) {
  std::vector<std::uint8_t> out;
  Ranges ranges;
  if (precision == Precision::Int8 || precision == Precision::UInt8) {
    if (given) {
      ranges = *given;
    } else {
      ranges.min.assign(dims, std::numeric_limits<float>::infinity());
      ranges.max.assign(dims, -std::numeric_limits<float>::infinity());
      for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t d = 0; d < dims; ++d) {
          ranges.min[d] = std::fmin(ranges.min[d], values[r * dims + d]);
          ranges.max[d] = std::fmax(ranges.max[d], values[r * dims + d]);
        }
      }
    }
  }
  for (std::size_t r = 0; r < rows; ++r) {
    const float* row = values.data() + r * dims;
    switch (precision) {
      case Precision::Float32:
        for (std::size_t d = 0; d < dims; ++d) {
          std::uint8_t bytes[4];
          std::memcpy(bytes, row + d, 4);
          out.insert(out.end(), bytes, bytes + 4);
        }
        break;
      case Precision::Float16:
        for (std::size_t d = 0; d < dims; ++d) {  // little-endian uint16, as numpy's float16 in memory
          const std::uint16_t h = half_reference(row[d]);
          out.push_back(static_cast<std::uint8_t>(h & 0xff));
          out.push_back(static_cast<std::uint8_t>(h >> 8));
        }
        break;
      case Precision::UInt8:
      case Precision::Int8:
        for (std::size_t d = 0; d < dims; ++d) {
          const int level = level_reference(row[d], ranges.min[d], ranges.max[d]);
          const int value = precision == Precision::Int8 ? level - 128 : level;  // int8: -128..127
          out.push_back(static_cast<std::uint8_t>(value < 0 ? value + 256 : value));
        }
        break;
      case Precision::UBinary:
      case Precision::Binary:
        for (std::size_t byte = 0; byte < dims / 8; ++byte) {
          int packed = 0;
          for (std::size_t bit = 0; bit < 8; ++bit) {
            if (row[byte * 8 + bit] > 0.0f) packed += 1 << (7 - bit);  // numpy.packbits: dim 0 is the MSB
          }
          const int value = precision == Precision::Binary ? packed - 128 : packed;
          out.push_back(static_cast<std::uint8_t>(value < 0 ? value + 256 : value));
        }
        break;
    }
  }
  return out;
}

constexpr Precision kPrecisions[] = {Precision::Float32, Precision::Float16, Precision::Int8,
                                     Precision::UInt8,   Precision::Binary,  Precision::UBinary};

std::vector<float> random_rows(std::size_t rows, std::size_t dims, unsigned seed) {
  std::mt19937 random(seed);
  std::normal_distribution<float> normal(0.0f, 0.3f);
  std::vector<float> values(rows * dims);
  for (float& v : values) v = normal(random);
  return values;
}

// The first index where two byte arrays differ, described.
std::string first_difference(const std::vector<std::uint8_t>& got, const std::vector<std::uint8_t>& want) {
  if (got.size() != want.size()) return "sizes " + std::to_string(got.size()) + " vs " + std::to_string(want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (got[i] != want[i]) {
      return "byte " + std::to_string(i) + ": got " + std::to_string(got[i]) + ", want " + std::to_string(want[i]);
    }
  }
  return "none";
}

const std::vector<std::string> kChunkTexts = {
    "Late chunking embeds a whole document first. Then each chunk is pooled from its own tokens! Does it help? "
    "The paper says so. I have 3.5 apples and Dr. Smith has none.",
    "Grüße aus München! Das Wetter ist heute wunderschön. Příliš žluťoučký kůň úpěl ďábelské ódy?  Ende.",
    "多语言模型在许多语言之间共享一个词表。 Многоязычные модели используют общий словарь. Fin",
    "   leading spaces,   inner   runs\tand a tab. Last words   ",
    "One sentence without a final mark",
};

}  // namespace

// --- token embeddings --------------------------------------------------------------------------

TEST_CASE("encode_tokens matches ReferenceModel.hidden_states (float32 to 1e-5, bfloat16 by cosine)", "[outputs]") {
  const auto& ref = reference();
  REQUIRE(ref.token_outputs.size() >= 16);
  for (const std::string dtype : {"float32", "bfloat16"}) {
    const Encoder& encoder = shared_encoder(dtype);
    double worst_diff = 0.0, worst_cosine = 1.0;
    std::size_t tokens_compared = 0;
    for (const auto& t : ref.token_outputs) {
      INFO(dtype << ", task " << describe_task(t.task) << ", max_length " << t.max_length << ": \"" << t.text << "\"");
      EncodeOptions options;
      options.max_length = t.max_length;
      const std::vector<TokenEmbeddings> got = encoder.encode_tokens({t.text}, t.task, options);
      REQUIRE(got.size() == 1);
      const TokenEmbeddings& out = got[0];
      CHECK(out.ids == t.ids);
      CHECK(out.offsets == t.offsets);
      const bool cut = t.max_length > 0 && encoder.tokenize({t.text}, t.task)[0].size() > static_cast<std::size_t>(t.max_length);
      CHECK(out.truncated == cut);
      REQUIRE(out.hidden == static_cast<std::size_t>(ref.hidden_size));
      REQUIRE(out.size() == t.hidden_states.size());
      REQUIRE(out.embeddings.size() == out.size() * out.hidden);
      for (std::size_t k = 0; k < out.size(); ++k) {
        const float* row = out.embeddings.data() + k * out.hidden;
        REQUIRE(t.hidden_states[k].size() == out.hidden);
        worst_diff = std::max(worst_diff, max_abs_diff(row, t.hidden_states[k]));
        worst_cosine = std::min(worst_cosine, cosine(row, t.hidden_states[k]));
        ++tokens_compared;
      }
    }
    std::printf("token parity %s: %zu tokens of %zu texts, max |diff| %.3g, min cosine %.7f\n", dtype.c_str(),
                tokens_compared, ref.token_outputs.size(), worst_diff, worst_cosine);
    if (dtype == "float32") CHECK(worst_diff <= 1e-5);
    CHECK(worst_cosine >= 0.999);
  }
  // The truncated case is really cut, and the reference says so too.
  CHECK(std::any_of(ref.token_outputs.begin(), ref.token_outputs.end(), [](const ReferenceTokens& t) {
    return t.max_length > 0 && t.ids.size() == static_cast<std::size_t>(t.max_length);
  }));
}

TEST_CASE("encode_tokens in one call equals one call per text, and its mean is encode()", "[outputs]") {
  const auto& ref = reference();
  const Encoder& encoder = shared_encoder("float32");
  for (Task task : {Task::None, Task::RetrievalQuery, Task::RetrievalPassage, Task::TextMatching}) {
    INFO("task " << describe_task(task));
    std::vector<std::string> texts;
    std::vector<const ReferenceTokens*> expected;
    for (const auto& t : ref.token_outputs) {
      if (t.task == task && t.max_length == 0) {
        texts.push_back(t.text);
        expected.push_back(&t);
      }
    }
    texts.push_back("");  // an empty text: just <s> and </s>, and the prompt
    REQUIRE(texts.size() >= 4);
    const std::vector<TokenEmbeddings> together = encoder.encode_tokens(texts, task);
    REQUIRE(together.size() == texts.size());
    double worst = 0.0;
    for (std::size_t i = 0; i + 1 < texts.size(); ++i) {
      REQUIRE(together[i].ids == expected[i]->ids);
      for (std::size_t k = 0; k < together[i].size(); ++k) {
        worst = std::max(worst, max_abs_diff(together[i].embeddings.data() + k * together[i].hidden,
                                             expected[i]->hidden_states[k]));
      }
    }
    CHECK(worst <= 1e-5);
    CHECK(together.back().size() == prompt_token_count(encoder, task) + 2);
    // Mean pooling of the token output is encode()'s row (full size, normalised).
    const Embeddings rows = encoder.encode(texts, task);
    for (std::size_t i = 0; i < texts.size(); ++i) {
      const std::vector<double> mean = pooled(together[i], {0, together[i].size()}, together[i].hidden, true);
      std::vector<float> as_float(mean.begin(), mean.end());
      CHECK(max_abs_diff(rows.row(i), as_float) <= 1e-5);
    }
  }
  CHECK(encoder.encode_tokens(std::vector<std::string>{}, Task::None).empty());
}

TEST_CASE("encode_tokens truncation and its errors", "[outputs]") {
  const Encoder& encoder = shared_encoder("float32");
  const std::string text = "one two three four five six seven eight nine ten eleven twelve";
  const auto full = encoder.encode_tokens({text}, Task::RetrievalQuery).at(0);
  REQUIRE(full.size() > 20);
  EncodeOptions options;
  options.max_length = 20;
  const auto cut = encoder.encode_tokens({text}, Task::RetrievalQuery, options).at(0);
  REQUIRE(cut.size() == 20);
  CHECK(cut.truncated);
  CHECK_FALSE(full.truncated);
  CHECK(std::vector<std::int32_t>(cut.ids.begin(), cut.ids.end() - 1) ==
        std::vector<std::int32_t>(full.ids.begin(), full.ids.begin() + 19));
  CHECK(cut.ids.back() == full.ids.back());
  CHECK(std::vector<std::int64_t>(cut.offsets.begin(), cut.offsets.begin() + 38) ==
        std::vector<std::int64_t>(full.offsets.begin(), full.offsets.begin() + 38));
  CHECK(cut.offsets[38] == -1);
  CHECK(cut.offsets[39] == -1);
  options.truncate = false;
  CHECK_THROWS_AS(encoder.encode_tokens({text}, Task::RetrievalQuery, options), InputTooLong);
  require_error<InvalidArgument>([&] { encoder.encode_tokens({"ok", std::string("bad \xff byte")}, Task::None); },
                                 {"text 1", "UTF-8"});
  require_error<InvalidArgument>([&] { encoder.encode_tokens({"x"}, static_cast<Task>(9)); }, {"9"});
}

// --- offsets -----------------------------------------------------------------------------------

TEST_CASE("token offsets equal Hugging Face style offsets from sentencepiece's pieces", "[outputs]") {
  const auto& ref = reference();
  const Encoder& encoder = shared_encoder("float32");
  REQUIRE(ref.offsets.size() > 1000);  // the tricky texts and the lines of tests/data/multilingual.txt
  for (Task task : {Task::None, Task::RetrievalQuery}) {
    std::vector<std::string> texts;
    std::vector<const ReferenceOffsets*> expected;
    for (const auto& entry : ref.offsets) {
      if (entry.task == task) {
        texts.push_back(entry.text);
        expected.push_back(&entry);
      }
    }
    INFO("task " << describe_task(task) << ", " << texts.size() << " texts");
    const std::vector<TokenEmbeddings> got = encoder.encode_tokens(texts, task);
    REQUIRE(got.size() == texts.size());
    const std::size_t prompt_tokens = prompt_token_count(encoder, task);
    std::vector<std::string> differences, problems;
    std::size_t tokens = 0, ascii_texts = 0;
    for (std::size_t i = 0; i < texts.size(); ++i) {
      const std::string where = "text " + std::to_string(i) + " \"" + texts[i] + "\": ";
      if (got[i].ids != expected[i]->ids) differences.push_back(where + "ids differ from the reference");
      if (got[i].offsets != expected[i]->offsets) {
        std::string line = where + "offsets differ:";
        for (std::size_t k = 0; k < std::min(got[i].offsets.size(), expected[i]->offsets.size()); k += 2) {
          if (got[i].offsets[k] != expected[i]->offsets[k] || got[i].offsets[k + 1] != expected[i]->offsets[k + 1]) {
            line += " token " + std::to_string(k / 2) + " got (" + std::to_string(got[i].offsets[k]) + ", " +
                    std::to_string(got[i].offsets[k + 1]) + ") want (" + std::to_string(expected[i]->offsets[k]) +
                    ", " + std::to_string(expected[i]->offsets[k + 1]) + ");";
          }
        }
        differences.push_back(line);
      }
      for (const auto& p : offset_problems(texts[i], got[i].ids, got[i].offsets, prompt_tokens)) problems.push_back(where + p);
      tokens += got[i].size();
      // ASCII texts (NFKC leaves them alone): the pieces cover every non-whitespace byte.
      if (ascii(texts[i])) {
        ++ascii_texts;
        std::vector<bool> covered(texts[i].size(), false);
        for (std::size_t t = 0; t < got[i].size(); ++t) {
          for (std::int64_t at = got[i].offsets[2 * t]; at >= 0 && at < got[i].offsets[2 * t + 1]; ++at) covered[at] = true;
        }
        for (std::size_t at = 0; at < texts[i].size(); ++at) {
          if (!covered[at] && !std::isspace(static_cast<unsigned char>(texts[i][at]))) {
            problems.push_back(where + "byte " + std::to_string(at) + " ('" + texts[i][at] + "') is in no token");
          }
        }
      }
    }
    std::printf("offsets, task %s: %zu texts (%zu ASCII), %zu tokens, %zu differ from the sentencepiece-derived "
                "reference, %zu invariant problems\n", describe_task(task).c_str(), texts.size(), ascii_texts, tokens,
                differences.size(), problems.size());
    for (std::size_t k = 0; k < std::min<std::size_t>(differences.size(), 10); ++k) UNSCOPED_INFO(differences[k]);
    CHECK(differences.empty());
    for (std::size_t k = 0; k < std::min<std::size_t>(problems.size(), 10); ++k) UNSCOPED_INFO(problems[k]);
    CHECK(problems.empty());
  }
}

TEST_CASE("offsets of a few texts, by hand", "[outputs]") {
  const Encoder& encoder = shared_encoder("float32");
  const auto pieces = [&](const std::string& text, Task task) {
    const TokenEmbeddings t = encoder.encode_tokens({text}, task).at(0);
    std::vector<std::string> out;
    for (std::size_t k = 0; k < t.size(); ++k) {
      const auto b = t.offsets[2 * k], e = t.offsets[2 * k + 1];
      out.push_back(b < 0 ? std::string("<>") : text.substr(static_cast<std::size_t>(b), static_cast<std::size_t>(e - b)));
    }
    return out;
  };
  using V = std::vector<std::string>;
  CHECK(pieces("  Hello  world.\n", Task::None) == V{"<>", "Hello", "world", ".", "<>"});
  CHECK(pieces("Hello world", Task::RetrievalPassage).back() == "<>");
  const V passage = pieces("Hello world", Task::RetrievalPassage);
  CHECK(V(passage.end() - 3, passage.end()) == V{"Hello", "world", "<>"});
  CHECK(std::count(passage.begin(), passage.end(), "<>") ==
        static_cast<long>(prompt_token_count(encoder, Task::RetrievalPassage) + 2));
  CHECK(pieces("", Task::None) == V{"<>", "<>"});
  CHECK(pieces(" \t\n ", Task::None) == V{"<>", "<>"});
  // No-break and ideographic spaces are whitespace too; Unicode line/paragraph separators as well.
  CHECK(pieces("x\xc2\xa0y", Task::None) == V{"<>", "x", "y", "<>"});
  CHECK(pieces("\xe3\x80\x80" "abc", Task::None).at(1) == "ab");
  CHECK(pieces("line\xe2\x80\xa8sep", Task::None) == V{"<>", "line", "sep", "<>"});
  // A right-to-left mark before a space: the piece keeps the mark, not the space.
  CHECK(pieces("ltr\xe2\x80\x8f rtl", Task::None).at(3) == "\xe2\x80\x8f");
  // sentencepiece's lone "\xe2\x96\x81" before a text's first character is the text's (an empty range at 0), not a special.
  const TokenEmbeddings yo = encoder.encode_tokens({"\xd0\x81\xd0\xbb\xd0\xba\xd0\xb0"}, Task::None).at(0);
  REQUIRE(yo.size() >= 3);
  CHECK(yo.offsets[2] == 0);
  CHECK(yo.offsets[3] == 0);
}

// --- late chunking -----------------------------------------------------------------------------

TEST_CASE("late_chunk vectors equal pooling encode_tokens by the rule", "[outputs]") {
  const Encoder& encoder = shared_encoder("float32");
  const std::vector<std::string>& texts = kChunkTexts;
  // Caller spans per text: the halves split at a space, an overlapping pair, one with surrounding whitespace.
  std::vector<SpanList> spans;
  for (const std::string& text : texts) {
    const std::size_t middle = text.find(' ', text.size() / 2);
    REQUIRE(middle != std::string::npos);
    const std::size_t first = text.find_first_not_of(" \t");
    SpanList list{{0, middle}, {middle, text.size()}, {first, middle + 1}};
    const std::size_t quarter = text.find(' ', text.size() / 4);
    list.emplace_back(quarter, text.size());
    spans.push_back(list);
  }
  std::vector<ChunkCase> cases;
  const auto add = [&](std::string label, LateChunkOptions options, const std::vector<SpanList>* s = nullptr) {
    for (int dims : {0, 32, 8}) {
      for (bool specials : {true, false}) {
        ChunkCase c{label, options, s, dims};
        c.options.include_special_tokens = specials;
        cases.push_back(c);
      }
    }
  };
  add("whole text", {});
  add("caller spans", {}, &spans);
  for (int n : {1, 3, 7, 1000}) {
    LateChunkOptions o;
    o.chunk_tokens = n;
    add("chunk_tokens " + std::to_string(n), o);
  }
  for (int n : {1, 2}) {
    LateChunkOptions o;
    o.sentences = n;
    add("sentences " + std::to_string(n), o);
  }
  LateChunkOptions unnormalised;
  unnormalised.chunk_tokens = 5;
  unnormalised.normalize = false;
  add("chunk_tokens 5, not normalised", unnormalised);
  double worst = 0.0;
  for (Task task : {Task::RetrievalPassage, Task::None}) {
    for (const ChunkCase& c : cases) worst = std::max(worst, check_late_chunk(encoder, texts, task, c));
  }
  std::printf("late chunking vs pooling encode_tokens: %zu cases x 2 tasks, max |diff| %.3g\n", cases.size(), worst);
  CHECK(worst <= 1e-6);
}

TEST_CASE("late_chunk splits sentences only after . ! ? followed by whitespace or the end", "[outputs]") {
  const Encoder& encoder = shared_encoder("float32");
  const auto sentences = [&](const std::string& text, int n) {
    LateChunkOptions options;
    options.sentences = n;
    const ChunkEmbeddings chunks = encoder.late_chunk({text}, Task::RetrievalPassage, 0, options).at(0);
    std::vector<std::string> out;
    for (const auto& [b, e] : chunks.spans) out.push_back(text.substr(b, e - b));
    return out;
  };
  using V = std::vector<std::string>;
  CHECK(sentences("I have 3.5 apples. You have two! Do we share? Yes", 1) ==
        V{"I have 3.5 apples.", "You have two!", "Do we share?", "Yes"});
  CHECK(sentences("I have 3.5 apples. You have two! Do we share? Yes", 2) ==
        V{"I have 3.5 apples. You have two!", "Do we share? Yes"});
  CHECK(sentences("Version 2.0.1 is out.", 1) == V{"Version 2.0.1 is out."});
  CHECK(sentences("Wait... what?! Really?\nYes.", 1) == V{"Wait...", "what?!", "Really?", "Yes."});
  CHECK(sentences("No split here:a.b!c?d", 1) == V{"No split here:a.b!c?d"});
  CHECK(sentences("Trailing spaces.   ", 1) == V{"Trailing spaces."});
  CHECK(sentences("a.  \xe4\xb8\xad b.", 1) == V{"a.", "\xe4\xb8\xad b."});
  CHECK(sentences("", 1).empty());
}

TEST_CASE("long late chunking: one window covering the text equals plain late chunking", "[outputs]") {
  const Encoder& encoder = shared_encoder("float32");
  const std::string& text = kChunkTexts[0];
  const std::size_t length = encoder.tokenize({text}, Task::RetrievalPassage)[0].size();
  LateChunkOptions options;
  options.sentences = 1;
  const ChunkEmbeddings plain = encoder.late_chunk({text}, Task::RetrievalPassage, 0, options).at(0);
  for (int window : {static_cast<int>(length), static_cast<int>(length) + 1, 2 * static_cast<int>(length)}) {
    INFO("window " << window);
    options.window = window;
    options.overlap = window / 3;
    const ChunkEmbeddings windowed = encoder.late_chunk({text}, Task::RetrievalPassage, 0, options).at(0);
    CHECK(windowed.token_spans == plain.token_spans);
    CHECK(windowed.spans == plain.spans);
    REQUIRE(windowed.embeddings.size() == plain.embeddings.size());
    CHECK(max_abs_diff(windowed.embeddings.data(), plain.embeddings) <= 1e-6);
  }
}

TEST_CASE("long late chunking with small windows: one output per token, the first window as run alone", "[outputs]") {
  const Encoder& encoder = shared_encoder("float32");
  std::string text;
  for (int k = 0; k < 6; ++k) text += kChunkTexts[k % 3] + " ";
  text += "The end.";
  const std::string longer = text + " And then a few more words that change the last windows only.";
  const Task task = Task::RetrievalPassage;
  const std::vector<std::int32_t> ids = encoder.tokenize({text}, task)[0];
  const std::size_t n = ids.size();
  REQUIRE(n > 150);
  const int window = 32, overlap = 8;

  // Exactly one output per token, in order: chunk_tokens 1 gives one consecutive chunk per content token,
  // and the whole-text chunk spans every token.
  LateChunkOptions options;
  options.chunk_tokens = 1;
  options.window = window;
  options.overlap = overlap;
  const ChunkEmbeddings per_token = encoder.late_chunk({text}, task, 0, options).at(0);
  const std::size_t prompt_tokens = prompt_token_count(encoder, task);
  REQUIRE(per_token.size() == n - prompt_tokens - 2);
  for (std::size_t k = 0; k < per_token.size(); ++k) {
    const std::size_t t = prompt_tokens + 1 + k;
    const std::size_t first = k == 0 ? 0 : t;
    const std::size_t last = k + 1 == per_token.size() ? n : t + 1;
    CHECK(per_token.token_spans[k] == std::make_pair(first, last));
  }
  LateChunkOptions whole;
  whole.window = window;
  whole.overlap = overlap;
  const ChunkEmbeddings all = encoder.late_chunk({text}, task, 0, whole).at(0);
  REQUIRE(all.size() == 1);
  CHECK(all.token_spans[0] == std::pair<std::size_t, std::size_t>(0, n));

  // The stitched states (content tokens). The first window is ids[0, 32): its outputs depend on those
  // ids only, so they are the same for any overlap and for a text that only adds words at the end.
  const auto stitched = stitched_states(encoder, text, task, window, overlap);
  const auto other_overlap = stitched_states(encoder, text, task, window, 16);
  const auto extended = stitched_states(encoder, longer, task, window, overlap);
  const auto single = stitched_states(encoder, text, task, std::nullopt, std::nullopt);
  REQUIRE(stitched.size() == n - prompt_tokens - 2);
  REQUIRE(single.size() == stitched.size());
  REQUIRE(extended.size() > stitched.size());
  const std::size_t first_window_content = static_cast<std::size_t>(window) - prompt_tokens - 1;
  double first_window_diff = 0.0;
  for (std::size_t k = 0; k < first_window_content; ++k) {
    first_window_diff = std::max(first_window_diff, max_abs_diff(stitched[k].data(), other_overlap[k]));
    first_window_diff = std::max(first_window_diff, max_abs_diff(stitched[k].data(), extended[k]));
  }
  CHECK(first_window_diff <= 1e-6);
  // Windows lying wholly inside the common prefix give the same outputs for both texts: with stride
  // 24, every token before the start of the last window that reaches ids[n - 1] (</s> in one, a word in
  // the other).
  const std::size_t stride = static_cast<std::size_t>(window - overlap);
  std::size_t unchanged_end = 0;  // tokens [0, unchanged_end) come from windows that end before n - 1
  for (std::size_t begin = 0; begin + window <= n - 1; begin += stride) unchanged_end = begin + window;
  double prefix_diff = 0.0;
  for (std::size_t t = prompt_tokens + 1; t < unchanged_end; ++t) {
    const std::size_t k = t - prompt_tokens - 1;
    prefix_diff = std::max(prefix_diff, max_abs_diff(stitched[k].data(), extended[k]));
  }
  CHECK(unchanged_end > static_cast<std::size_t>(4 * window));
  // The same ids, but other rows in the pass (the longer text has more windows): float32 noise of
  // the unnormalised states only.
  CHECK(prefix_diff <= 1e-5);
  // The windows change the context: past the first window, states differ from the single pass.
  double context_change = 0.0;
  for (std::size_t k = first_window_content; k < stitched.size(); ++k) {
    context_change = std::max(context_change, max_abs_diff(stitched[k].data(), single[k]));
  }
  double first_window_vs_single = 0.0;
  for (std::size_t k = 0; k < first_window_content; ++k) {
    first_window_vs_single = std::max(first_window_vs_single, max_abs_diff(stitched[k].data(), single[k]));
  }
  std::printf("long late chunking (%zu tokens, window %d, overlap %d): first window vs other overlap/longer text "
              "%.3g, common windows %.3g, vs one pass %.3g\n", n, window, overlap, first_window_diff, prefix_diff,
              context_change);
  CHECK(context_change > 1e-4);
  CHECK(first_window_vs_single > 1e-4);  // the first window too sees less than the whole text
}

TEST_CASE("plan_windows stitches exactly one output per token", "[unit][outputs]") {
  using detail::plan_windows;
  // Fits: one window.
  for (std::size_t length : {1u, 5u, 32u}) {
    const auto w = plan_windows(length, 32, 8);
    REQUIRE(w.size() == 1);
    CHECK(w[0].begin == 0);
    CHECK(w[0].end == length);
    CHECK(w[0].keep == 0);
  }
  // The example of the issue: window 32, overlap 8 over 100 tokens.
  {
    const auto w = plan_windows(100, 32, 8);
    REQUIRE(w.size() == 4);
    CHECK((w[0].begin == 0 && w[0].end == 32 && w[0].keep == 0));
    CHECK((w[1].begin == 24 && w[1].end == 56 && w[1].keep == 8));
    CHECK((w[2].begin == 48 && w[2].end == 80 && w[2].keep == 8));
    CHECK((w[3].begin == 72 && w[3].end == 100 && w[3].keep == 8));
  }
  // Every combination: kept outputs are contiguous, in order, and cover [0, length) once.
  for (std::size_t window = 2; window <= 40; window += 3) {
    for (std::size_t overlap = 0; overlap < window; overlap += 2) {
      for (std::size_t length = 1; length <= 200; length += 7) {
        INFO("length " << length << ", window " << window << ", overlap " << overlap);
        const auto w = plan_windows(length, window, overlap);
        REQUIRE(!w.empty());
        std::size_t next = 0;
        for (std::size_t k = 0; k < w.size(); ++k) {
          REQUIRE(w[k].begin < w[k].end);
          REQUIRE(w[k].end - w[k].begin <= window);
          REQUIRE(w[k].begin == k * (window - overlap));
          REQUIRE(w[k].keep == (k == 0 ? 0 : overlap));
          REQUIRE(w[k].begin + w[k].keep == next);  // picks up exactly where the previous window's kept part ended
          REQUIRE(w[k].begin + w[k].keep < w[k].end);  // keeps at least one output
          next = w[k].end;
        }
        REQUIRE(next == length);
        if (length > window) REQUIRE(w.size() > 1);
      }
    }
  }
}

TEST_CASE("plan_chunks on hand-made offsets", "[unit][outputs]") {
  using detail::plan_chunks;
  // "Hi there. Bye!" as <s> [Hi] [there] [.] [Bye] [!] </s>.
  const std::string text = "Hi there. Bye!";
  const std::vector<std::int64_t> offsets = {-1, -1, 0, 2, 3, 8, 8, 9, 10, 13, 13, 14, -1, -1};
  const auto by_sentence = plan_chunks(text, 0, offsets, nullptr, 0, 1, true);
  CHECK(by_sentence.spans == SpanList{{0, 9}, {10, 14}});
  CHECK(by_sentence.token_spans == SpanList{{0, 4}, {4, 7}});
  const auto content_only = plan_chunks(text, 0, offsets, nullptr, 0, 1, false);
  CHECK(content_only.token_spans == SpanList{{1, 4}, {4, 6}});
  const auto by_tokens = plan_chunks(text, 0, offsets, nullptr, 2, 0, false);
  CHECK(by_tokens.token_spans == SpanList{{1, 3}, {3, 5}, {5, 6}});
  CHECK(by_tokens.spans == SpanList{{0, 8}, {8, 13}, {13, 14}});
  const SpanList caller{{0, 8}, {3, 14}, {9, 14}};
  const auto by_spans = plan_chunks(text, 0, offsets, &caller, 0, 0, false);
  CHECK(by_spans.token_spans == SpanList{{1, 3}, {2, 6}, {4, 6}});
  CHECK(by_spans.spans == caller);
  const auto whole = plan_chunks(text, 0, offsets, nullptr, 0, 0, true);
  CHECK(whole.token_spans == SpanList{{0, 7}});
  CHECK(whole.spans == SpanList{{0, 14}});
}

// --- precision ---------------------------------------------------------------------------------

TEST_CASE("row_bytes and precision names", "[unit][outputs]") {
  CHECK(row_bytes(Precision::Float32, 64) == 256);
  CHECK(row_bytes(Precision::Float16, 64) == 128);
  CHECK(row_bytes(Precision::Int8, 64) == 64);
  CHECK(row_bytes(Precision::UInt8, 64) == 64);
  CHECK(row_bytes(Precision::Binary, 64) == 8);
  CHECK(row_bytes(Precision::UBinary, 32) == 4);
  for (Precision p : kPrecisions) CHECK(precision_from_string(to_string(p)) == p);
  require_error<InvalidArgument>([] { precision_from_string("int4"); }, {"int4", "ubinary"});
  require_error<InvalidArgument>([] { precision_from_string("Float32"); }, {"Float32"});
}

TEST_CASE("float16 rounds to nearest even, with the special values", "[unit][outputs]") {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<std::pair<float, std::uint16_t>> known = {
      {0.0f, 0x0000},
      {-0.0f, 0x8000},
      {1.0f, 0x3c00},
      {-2.0f, 0xc000},
      {0.5f, 0x3800},
      {65504.0f, 0x7bff},                        // the largest half
      {65519.996f, 0x7bff},                      // just under the halfway point to 65536
      {65520.0f, 0x7c00},                        // halfway: rounds to even, which is infinity
      {1e6f, 0x7c00},
      {-1e6f, 0xfc00},
      {inf, 0x7c00},
      {-inf, 0xfc00},
      {std::ldexp(1.0f, -14), 0x0400},           // the smallest normal
      {std::ldexp(1.0f, -24), 0x0001},           // the smallest subnormal
      {std::ldexp(1.0f, -25), 0x0000},           // halfway to it: ties to even (0)
      {std::ldexp(1.5f, -25), 0x0001},           // over halfway
      {std::ldexp(3.0f, -25), 0x0002},           // 1.5 x 2^-24: ties to even (2)
      {-std::ldexp(1.0f, -24), 0x8001},
      {1e-10f, 0x0000},
      {-1e-10f, 0x8000},
      {1e-40f, 0x0000},                          // a float32 subnormal
      {std::ldexp(1023.0f, -24), 0x03ff},        // the largest subnormal
      {std::ldexp(2047.0f, -25), 0x0400},        // rounds up into the normals
      {1.0f + std::ldexp(1.0f, -11), 0x3c00},    // tie: to even (down)
      {1.0f + std::ldexp(3.0f, -11), 0x3c02},    // tie: to even (up)
      {1.0f + std::ldexp(1.0f, -12), 0x3c00},
      {2049.0f, 0x6800},                         // 2048 + 1: tie, to even
      {2051.0f, 0x6802},
      {0.1f, 0x2e66},
      {-0.3333333f, 0xb555},
  };
  std::vector<float> values;
  for (const auto& entry : known) values.push_back(entry.first);
  std::vector<std::uint8_t> out(values.size() * 2, 0xab);
  quantize(values.data(), 1, values.size(), Precision::Float16, nullptr, out.data());
  for (std::size_t i = 0; i < known.size(); ++i) {
    const std::uint16_t got = static_cast<std::uint16_t>(out[2 * i] | (out[2 * i + 1] << 8));
    INFO("value " << known[i].first << " (index " << i << "): got " << got << ", want " << known[i].second);
    CHECK(got == known[i].second);
    CHECK(half_reference(known[i].first) == known[i].second);  // the test's own implementation agrees
  }
  // NaN stays NaN (exponent all ones, mantissa not zero), sign kept.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float nans[2] = {nan, -nan};
  std::uint8_t nan_out[4];
  quantize(nans, 1, 2, Precision::Float16, nullptr, nan_out);
  for (int i = 0; i < 2; ++i) {
    const std::uint16_t h = static_cast<std::uint16_t>(nan_out[2 * i] | (nan_out[2 * i + 1] << 8));
    CHECK((h & 0x7c00) == 0x7c00);
    CHECK((h & 0x03ff) != 0);
    CHECK(((h & 0x8000) != 0) == (i == 1));
  }
  // Every float32 bit pattern step over a wide range agrees with the reference.
  std::vector<float> sweep;
  for (std::uint32_t bits = 0x2f000000u; bits < 0x48000000u; bits += 0x1357u) {
    float f;
    std::memcpy(&f, &bits, sizeof f);
    sweep.push_back(f);
    sweep.push_back(-f);
  }
  std::vector<std::uint8_t> swept(sweep.size() * 2);
  quantize(sweep.data(), 2, sweep.size() / 2, Precision::Float16, nullptr, swept.data());
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < sweep.size(); ++i) {
    const std::uint16_t got = static_cast<std::uint16_t>(swept[2 * i] | (swept[2 * i + 1] << 8));
    if (got != half_reference(sweep[i]) && mismatches++ < 5) {
      UNSCOPED_INFO("value " << sweep[i] << ": got " << got << ", want " << half_reference(sweep[i]));
    }
  }
  CHECK(mismatches == 0);
}

TEST_CASE("quantize matches an independent implementation for every precision and dims", "[unit][outputs]") {
  const std::size_t rows = 9;
  for (std::size_t dims : {8u, 16u, 32u, 64u, 1024u}) {
    std::vector<float> values = random_rows(rows, dims, static_cast<unsigned>(dims));
    values[0] = 0.0f;    // ubinary: 0 is not > 0
    values[1] = -0.0f;
    values[2] = 1e-30f;  // but a tiny positive value is
    values[3] = std::numeric_limits<float>::quiet_NaN();  // NaN is not > 0; it only appears in the given-ranges check
    std::vector<float> finite = values;
    finite[3] = 0.25f;
    // Given ranges: narrower than the data on some dimensions (clipping at both ends), wider on others.
    Ranges given{std::vector<float>(dims), std::vector<float>(dims)};
    for (std::size_t d = 0; d < dims; ++d) {
      given.min[d] = d % 3 == 0 ? -0.1f : -1.5f;
      given.max[d] = d % 3 == 1 ? 0.1f : 1.2f + 0.01f * static_cast<float>(d % 7);
    }
    // Calibration ranges from other rows, then applied to these.
    const std::vector<float> calibration_set = random_rows(50, dims, 1000u + static_cast<unsigned>(dims));
    const Ranges calibrated = calibration_ranges(calibration_set.data(), 50, dims);
    for (std::size_t d = 0; d < dims; ++d) {
      float lo = calibration_set[d], hi = calibration_set[d];
      for (std::size_t r = 1; r < 50; ++r) {
        lo = std::min(lo, calibration_set[r * dims + d]);
        hi = std::max(hi, calibration_set[r * dims + d]);
      }
      REQUIRE(calibrated.min[d] == lo);
      REQUIRE(calibrated.max[d] == hi);
    }
    for (Precision p : kPrecisions) {
      for (int mode = 0; mode < 3; ++mode) {  // computed ranges, given ranges, calibration ranges
        const Ranges* ranges = mode == 0 ? nullptr : mode == 1 ? &given : &calibrated;
        const std::vector<float>& input = mode == 0 ? finite : values;
        INFO("precision " << to_string(p) << ", dims " << dims << ", ranges " << (mode == 0 ? "computed" : mode == 1 ? "given" : "calibrated"));
        std::vector<std::uint8_t> got(rows * row_bytes(p, dims), 0xab);
        quantize(input.data(), rows, dims, p, ranges, got.data());
        const std::vector<std::uint8_t> want = quantize_reference(input, rows, dims, p, ranges);
        INFO("first difference: " << first_difference(got, want));
        if (p == Precision::Float32 || p == Precision::Float16) {
          // NaN's bits may differ in the mantissa only; compare everything else bit for bit.
          CHECK(got.size() == want.size());
        } else {
          CHECK(got == want);
        }
        if (p == Precision::Float16 || p == Precision::Float32) {
          const std::size_t width = p == Precision::Float16 ? 2 : 4;
          for (std::size_t i = 0; i < rows * dims; ++i) {
            if (std::isnan(input[i])) continue;
            if (std::memcmp(got.data() + i * width, want.data() + i * width, width) != 0) {
              FAIL_CHECK("value " << input[i] << " at " << i << " differs");
              break;
            }
          }
        }
      }
    }
    // The levels use the whole range: with computed ranges each dimension's min is 0 and its max 255
    // (uint8), -128 and 127 (int8).
    std::vector<std::uint8_t> levels(rows * dims);
    quantize(finite.data(), rows, dims, Precision::UInt8, nullptr, levels.data());
    for (std::size_t d = 0; d < dims; ++d) {
      std::uint8_t lo = 255, hi = 0;
      for (std::size_t r = 0; r < rows; ++r) {
        lo = std::min(lo, levels[r * dims + d]);
        hi = std::max(hi, levels[r * dims + d]);
      }
      CHECK(lo == 0);
      CHECK(hi >= 254);  // floor((max - min) / step) may land just under 255 in float32
    }
  }
  // Bits by hand: dim 0 is the most significant bit of byte 0.
  const float row[16] = {1, -1, -1, -1, -1, -1, -1, 0.5f, -1, 2, 0, 0, 0, 0, 0, -0.0f};
  std::uint8_t bits[2], signed_bits[2];
  quantize(row, 1, 16, Precision::UBinary, nullptr, bits);
  quantize(row, 1, 16, Precision::Binary, nullptr, signed_bits);
  CHECK(bits[0] == 0x81);
  CHECK(bits[1] == 0x40);
  CHECK(static_cast<std::int8_t>(signed_bits[0]) == 0x81 - 128);
  CHECK(static_cast<std::int8_t>(signed_bits[1]) == 0x40 - 128);
  // uint8 levels by hand: range [-1, 1], step 2/255.
  const float x[6] = {-1.0f, 1.0f, 0.0f, -2.0f, 5.0f, -1.0f + 2.0f / 255.0f * 10.5f};
  const float y[6] = {1.0f, -1.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  Ranges unit{{-1, -1, -1, -1, -1, -1}, {1, 1, 1, 1, 1, 1}};
  float both[12];
  std::copy(x, x + 6, both);
  std::copy(y, y + 6, both + 6);
  std::uint8_t u[12], s[12];
  quantize(both, 2, 6, Precision::UInt8, &unit, u);
  quantize(both, 2, 6, Precision::Int8, &unit, s);
  CHECK(u[0] == 0);
  CHECK(u[1] == 254);  // (max - min) / step is 254.99998 in float32, as in numpy
  CHECK(u[2] == 127);  // floor(127.5)
  CHECK(u[3] == 0);    // clipped
  CHECK(u[4] == 255);  // clipped
  CHECK(u[5] == 10);
  for (int i = 0; i < 12; ++i) CHECK(static_cast<int>(static_cast<std::int8_t>(s[i])) == static_cast<int>(u[i]) - 128);
}

TEST_CASE("encode_quantized equals quantize(encode())", "[outputs]") {
  const Encoder& encoder = shared_encoder("float32");
  const auto& ref = reference();
  std::vector<std::string> texts = ref.texts;
  const std::vector<std::string> calibration_texts(kChunkTexts.begin(), kChunkTexts.end());
  for (int dims : {8, 16, 32, 0}) {
    const Embeddings rows = encoder.encode(texts, Task::RetrievalQuery, dims);
    const Embeddings calibration_rows = encoder.encode(calibration_texts, Task::RetrievalPassage, dims);
    const Ranges ranges = calibration_ranges(calibration_rows.data.data(), calibration_rows.rows, calibration_rows.dims);
    for (Precision p : kPrecisions) {
      for (const Ranges* given : {static_cast<const Ranges*>(nullptr), &ranges}) {
        INFO("dims " << dims << ", precision " << to_string(p) << (given ? ", given ranges" : ", computed ranges"));
        const QuantizedEmbeddings q = encoder.encode_quantized(texts, Task::RetrievalQuery, dims, p, given);
        CHECK(q.rows == rows.rows);
        CHECK(q.dims == rows.dims);
        CHECK(q.precision == p);
        CHECK(q.truncated == rows.truncated);
        REQUIRE(q.data.size() == q.rows * row_bytes(p, q.dims));
        CHECK(q.row_size() == row_bytes(p, q.dims));
        std::vector<std::uint8_t> want(q.data.size());
        quantize(rows.data.data(), rows.rows, rows.dims, p, given, want.data());
        CHECK(q.data == want);
        CHECK(q.data == quantize_reference(rows.data, rows.rows, rows.dims, p, given));
      }
    }
  }
  // An empty list: 0 rows.
  const QuantizedEmbeddings none = encoder.encode_quantized(std::vector<std::string>{}, Task::None, 32, Precision::Int8);
  CHECK(none.rows == 0);
  CHECK(none.data.empty());
}

// --- bad input ---------------------------------------------------------------------------------

TEST_CASE("late_chunk rejects bad spans and options before any pass", "[outputs]") {
  const Encoder& encoder = shared_encoder("float32");
  const std::vector<std::string> texts = {"Hello   world. Grüße!", "Second text here."};
  const std::size_t size = texts[0].size();
  const auto passes = [&] { return encoder.stats().passes; };
  const auto with_spans = [&](SpanList first) {
    std::vector<SpanList> spans{std::move(first), SpanList{{0, 6}}};
    LateChunkOptions options;
    options.spans = &spans;
    return encoder.late_chunk(texts, Task::RetrievalPassage, 0, options);
  };
  const std::uint64_t before = passes();
  require_error<InvalidArgument>([&] { with_spans({{0, 5}, {6, size + 1}}); },
                                 {"(6, " + std::to_string(size + 1) + ")", "outside", "text 0"});
  require_error<InvalidArgument>([&] { with_spans({{size + 3, size + 9}}); }, {std::to_string(size + 9)});
  require_error<InvalidArgument>([&] { with_spans({{3, 3}}); }, {"(3, 3)", "empty"});
  require_error<InvalidArgument>([&] { with_spans({{7, 2}}); }, {"(7, 2)", "reversed"});
  // Bytes 5..8 are the spaces between the words: no token lies inside.
  require_error<InvalidArgument>([&] { with_spans({{0, 5}, {5, 8}}); }, {"(5, 8)", "no token"});
  // "Grüße": ü is bytes 17-18, ß bytes 19-20; offsets 18 and 20 are inside those sequences.
  REQUIRE(texts[0].substr(15, 7) == "Grüße");
  require_error<InvalidArgument>([&] { with_spans({{15, 18}}); }, {"(15, 18)", "UTF-8"});
  require_error<InvalidArgument>([&] { with_spans({{18, 22}}); }, {"(18, 22)", "UTF-8"});
  require_error<InvalidArgument>([&] { with_spans({{20, 23}}); }, {"(20, 23)", "UTF-8"});
  require_error<InvalidArgument>([&] { with_spans({{15, 20}}); }, {"(15, 20)", "UTF-8"});
  // The second text's spans are checked too, and named.
  {
    std::vector<SpanList> spans{SpanList{{0, 5}}, SpanList{{0, 6}, {4, 400}}};
    LateChunkOptions options;
    options.spans = &spans;
    require_error<InvalidArgument>([&] { encoder.late_chunk(texts, Task::RetrievalPassage, 0, options); },
                                   {"text 1", "(4, 400)"});
  }
  // One list of spans per text.
  {
    std::vector<SpanList> spans{SpanList{{0, 5}}};
    LateChunkOptions options;
    options.spans = &spans;
    require_error<InvalidArgument>([&] { encoder.late_chunk(texts, Task::RetrievalPassage, 0, options); },
                                   {"1 lists", "2 texts"});
  }
  const auto with = [&](auto edit) {
    LateChunkOptions options;
    edit(options);
    return encoder.late_chunk(texts, Task::RetrievalPassage, 0, options);
  };
  require_error<InvalidArgument>([&] { with([](LateChunkOptions& o) { o.chunk_tokens = 0; }); }, {"chunk_tokens", "0"});
  require_error<InvalidArgument>([&] { with([](LateChunkOptions& o) { o.chunk_tokens = -3; }); }, {"-3"});
  require_error<InvalidArgument>([&] { with([](LateChunkOptions& o) { o.sentences = 0; }); }, {"sentences", "0"});
  require_error<InvalidArgument>([&] { with([](LateChunkOptions& o) { o.window = 32; o.overlap = 32; }); },
                                 {"overlap 32", "32"});
  require_error<InvalidArgument>([&] { with([](LateChunkOptions& o) { o.window = 32; o.overlap = 40; }); },
                                 {"overlap 40"});
  require_error<InvalidArgument>([&] { with([](LateChunkOptions& o) { o.window = 32; o.overlap = -1; }); },
                                 {"overlap -1"});
  const int too_long = encoder.max_length() + 1;
  require_error<InvalidArgument>([&] { with([&](LateChunkOptions& o) { o.window = too_long; }); },
                                 {"window " + std::to_string(too_long), std::to_string(encoder.max_length())});
  require_error<InvalidArgument>([&] { with([](LateChunkOptions& o) { o.window = 1; }); }, {"window 1"});
  require_error<InvalidArgument>([&] { with([](LateChunkOptions& o) { o.window = 0; }); }, {"window 0"});
  // Default window (max_length) with an overlap at least as large.
  require_error<InvalidArgument>([&] { with([&](LateChunkOptions& o) { o.overlap = encoder.max_length(); }); },
                                 {"overlap " + std::to_string(encoder.max_length())});
  std::vector<SpanList> spans{SpanList{{0, 5}}, SpanList{{0, 6}}};
  require_error<InvalidArgument>([&] { with([](LateChunkOptions& o) { o.chunk_tokens = 4; o.sentences = 1; }); },
                                 {"at most one"});
  require_error<InvalidArgument>([&] { with([&](LateChunkOptions& o) { o.spans = &spans; o.chunk_tokens = 4; }); },
                                 {"at most one"});
  require_error<InvalidArgument>([&] { with([&](LateChunkOptions& o) { o.spans = &spans; o.sentences = 2; }); },
                                 {"at most one"});
  require_error<InvalidArgument>([&] { encoder.late_chunk({"ok", std::string("\xc3")}, Task::RetrievalPassage); },
                                 {"text 1", "UTF-8"});
  require_error<InvalidArgument>([&] { encoder.late_chunk(texts, Task::RetrievalPassage, 12); }, {"12"});
  require_error<InvalidArgument>([&] { encoder.late_chunk(texts, static_cast<Task>(9)); }, {"9"});
  CHECK(passes() == before);  // all of it found before any forward pass

  // And the good calls: empty and whitespace-only texts have no chunks; no texts, no results.
  const auto empty = encoder.late_chunk({"", " \t "}, Task::RetrievalPassage);
  REQUIRE(empty.size() == 2);
  CHECK(empty[0].size() == 0);
  CHECK(empty[1].size() == 0);
  CHECK(encoder.late_chunk(std::vector<std::string>{}, Task::RetrievalPassage).empty());
}

TEST_CASE("quantize and encode_quantized reject bad precision arguments and leave out untouched", "[outputs]") {
  const std::vector<float> values = random_rows(4, 12, 7);
  for (Precision p : {Precision::Binary, Precision::UBinary}) {
    std::vector<std::uint8_t> out(16, 0xab);
    require_error<InvalidArgument>([&] { quantize(values.data(), 4, 12, p, nullptr, out.data()); },
                                   {"dims 12", to_string(p)});
    CHECK(std::all_of(out.begin(), out.end(), [](std::uint8_t b) { return b == 0xab; }));
  }
  // dims 12 is fine where nothing is packed.
  for (Precision p : {Precision::Float32, Precision::Float16, Precision::Int8, Precision::UInt8}) {
    std::vector<std::uint8_t> out(4 * row_bytes(p, 12));
    quantize(values.data(), 4, 12, p, nullptr, out.data());
    CHECK(out == quantize_reference(values, 4, 12, p, nullptr));
  }
  const std::size_t dims = 16;
  const std::vector<float> rows = random_rows(3, dims, 8);
  const auto rejects = [&](const Ranges& ranges, std::initializer_list<std::string> parts) {
    for (Precision p : {Precision::Int8, Precision::UInt8}) {
      std::vector<std::uint8_t> out(3 * dims, 0xab);
      require_error<InvalidArgument>([&] { quantize(rows.data(), 3, dims, p, &ranges, out.data()); }, parts);
      CHECK(std::all_of(out.begin(), out.end(), [](std::uint8_t b) { return b == 0xab; }));
    }
  };
  const Ranges good{std::vector<float>(dims, -1.0f), std::vector<float>(dims, 1.0f)};
  Ranges short_min = good;
  short_min.min.pop_back();
  rejects(short_min, {"2 x 16", "15"});
  Ranges long_max = good;
  long_max.max.push_back(2.0f);
  rejects(long_max, {"2 x 16", "17"});
  rejects(Ranges{}, {"2 x 16", "0"});
  Ranges equal = good;
  equal.max[5] = equal.min[5];
  rejects(equal, {"dimension 5"});
  Ranges reversed = good;
  reversed.min[9] = 0.5f;
  reversed.max[9] = 0.25f;
  rejects(reversed, {"dimension 9", "0.25", "0.5"});
  Ranges not_a_number = good;
  not_a_number.max[2] = std::numeric_limits<float>::quiet_NaN();
  rejects(not_a_number, {"dimension 2"});
  // Ranges computed from one row (or identical rows) are degenerate.
  {
    std::vector<std::uint8_t> out(dims, 0xab);
    require_error<InvalidArgument>([&] { quantize(rows.data(), 1, dims, Precision::Int8, nullptr, out.data()); },
                                   {"1 rows", "dimension 0"});
    CHECK(std::all_of(out.begin(), out.end(), [](std::uint8_t b) { return b == 0xab; }));
    std::vector<float> twice(rows.begin(), rows.begin() + dims);
    twice.insert(twice.end(), rows.begin(), rows.begin() + dims);
    require_error<InvalidArgument>([&] { quantize(twice.data(), 2, dims, Precision::UInt8, nullptr, out.data()); },
                                   {"2 rows"});
  }
  require_error<InvalidArgument>([&] { calibration_ranges(rows.data(), 0, dims); }, {"at least one row"});
  require_error<InvalidArgument>(
      [&] { quantize(rows.data(), 1, dims, static_cast<Precision>(9), nullptr, std::vector<std::uint8_t>(64).data()); },
      {"9"});

  // The encoder: the same checks, before any pass.
  const Encoder& encoder = shared_encoder("float32");
  const std::vector<std::string> texts = {"first text", "second text", "third"};
  const std::uint64_t before = encoder.stats().passes;
  require_error<InvalidArgument>([&] { encoder.encode_quantized(texts, Task::None, 32, Precision::Int8, &good); },
                                 {"2 x 32", "16"});
  Ranges wide_bad{std::vector<float>(32, 0.0f), std::vector<float>(32, 1.0f)};
  wide_bad.max[31] = -1.0f;
  require_error<InvalidArgument>([&] { encoder.encode_quantized(texts, Task::None, 32, Precision::UInt8, &wide_bad); },
                                 {"dimension 31"});
  require_error<InvalidArgument>([&] { encoder.encode_quantized(texts, Task::None, 12, Precision::Binary); }, {"12"});
  require_error<InvalidArgument>(
      [&] { encoder.encode_quantized(texts, Task::None, 32, static_cast<Precision>(-1)); }, {"-1"});
  CHECK(encoder.stats().passes == before);
  // A single text cannot give its own ranges.
  require_error<InvalidArgument>([&] { encoder.encode_quantized({"only one"}, Task::None, 32, Precision::Int8); },
                                 {"1 rows"});
  // With given ranges one text is fine.
  const Ranges unit{std::vector<float>(32, -1.0f), std::vector<float>(32, 1.0f)};
  const QuantizedEmbeddings one = encoder.encode_quantized({"only one"}, Task::None, 32, Precision::Int8, &unit);
  CHECK(one.rows == 1);
  CHECK(one.data.size() == 32);
}
