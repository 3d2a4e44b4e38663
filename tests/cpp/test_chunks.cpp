// Late chunking (the chunks stage): late_chunk against pooling the token output by the rule of
// issue 9, sentence splitting, macro windows, the planners (plan_windows, plan_chunks) and bad
// spans and options.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
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

// --- the chunking rule, written out independently of src/pipeline/chunk_plan.cpp ----------------

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


struct ChunkCase {
  std::string label;
  LateChunkOptions options;
  const std::vector<SpanList>* spans = nullptr;
  int dims = 0;
};

// late_chunk(texts) against pooling encode_tokens(texts) by the rule; returns the worst |diff|
// (unnormalised chunks: relative to the chunk's largest value).
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
      double diff = 0.0, largest = 0.0;
      for (std::size_t d = 0; d < dims; ++d) {
        diff = std::max(diff, std::fabs(got.row(k)[d] - want[d]));
        largest = std::max(largest, std::fabs(want[d]));
      }
      // Two calls, so the float32 rule: unnormalised chunks (means of token states) relative to
      // their largest value.
      worst = std::max(worst, c.options.normalize ? diff : diff / largest);
    }
  }
  CHECK(worst <= kFloat32Tolerance);
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

}  // namespace

TEST_CASE("late_chunk vectors equal pooling encode_tokens by the rule", "[chunks]") {
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
  CHECK(worst <= kFloat32Tolerance);
}

TEST_CASE("late_chunk splits sentences only after . ! ? followed by whitespace or the end", "[chunks]") {
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

TEST_CASE("long late chunking: one window covering the text equals plain late chunking", "[chunks]") {
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
    CHECK(max_abs_diff(windowed.embeddings.data(), plain.embeddings) <= kFloat32Tolerance);  // normalised
  }
}

TEST_CASE("long late chunking with small windows: one output per token, the first window as run alone", "[chunks]") {
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
  // ids only, so they are the same for any overlap and for a text that only adds words at the end
  // (up to the float32 noise of other passes: token states compare relative to a row's largest value).
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
    const std::size_t size = stitched[k].size();
    first_window_diff = std::max(first_window_diff, relative_diff(other_overlap[k].data(), stitched[k].data(), size));
    first_window_diff = std::max(first_window_diff, relative_diff(extended[k].data(), stitched[k].data(), size));
  }
  CHECK(first_window_diff <= kFloat32Tolerance);
  // Windows lying wholly inside the common prefix give the same outputs for both texts: with stride
  // 24, every token before the start of the last window that reaches ids[n - 1] (</s> in one, a word in
  // the other).
  const std::size_t stride = static_cast<std::size_t>(window - overlap);
  std::size_t unchanged_end = 0;  // tokens [0, unchanged_end) come from windows that end before n - 1
  for (std::size_t begin = 0; begin + window <= n - 1; begin += stride) unchanged_end = begin + window;
  double prefix_diff = 0.0;
  for (std::size_t t = prompt_tokens + 1; t < unchanged_end; ++t) {
    const std::size_t k = t - prompt_tokens - 1;
    prefix_diff = std::max(prefix_diff, relative_diff(extended[k].data(), stitched[k].data(), stitched[k].size()));
  }
  CHECK(unchanged_end > static_cast<std::size_t>(4 * window));
  // The same ids, but other rows in the pass (the longer text has more windows): float32 noise of
  // the unnormalised states only.
  CHECK(prefix_diff <= kFloat32Tolerance);
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
              "%.3g (relative), common windows %.3g (relative), vs one pass %.3g\n", n, window, overlap,
              first_window_diff, prefix_diff, context_change);
  CHECK(context_change > 1e-4);
  CHECK(first_window_vs_single > 1e-4);  // the first window too sees less than the whole text
}

TEST_CASE("plan_windows stitches exactly one output per token", "[unit][chunks]") {
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

TEST_CASE("plan_chunks on hand-made offsets", "[unit][chunks]") {
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


// --- bad input ---------------------------------------------------------------------------------

TEST_CASE("late_chunk rejects bad spans and options before any pass", "[chunks]") {
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

