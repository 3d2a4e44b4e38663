// The C API's outputs (issue 9) against the C++ API they wrap: quantised rows, calibration
// ranges, the precision stage alone, token embeddings and late chunking, and that every failed
// call leaves the caller's buffers and out-pointers as they were.
#include <jina3/jina3.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "capi_support.hpp"
#include "support.hpp"

using namespace jina3;
using namespace jina3::capi_test;

namespace {

constexpr std::uint8_t kUntouched = 0xAB;

template <class T>
T* sentinel_pointer() {
  return reinterpret_cast<T*>(static_cast<std::uintptr_t>(0x5e17e1));
}

const jina3_precision kPrecisions[] = {JINA3_PRECISION_FLOAT32, JINA3_PRECISION_FLOAT16, JINA3_PRECISION_INT8,
                                       JINA3_PRECISION_UINT8,   JINA3_PRECISION_BINARY,  JINA3_PRECISION_UBINARY};

std::vector<const char*> pointers(const std::vector<std::string>& texts) {
  std::vector<const char*> out;
  for (const auto& text : texts) out.push_back(text.c_str());
  return out;
}

std::vector<std::size_t> lengths(const std::vector<std::string>& texts) {
  std::vector<std::size_t> out;
  for (const auto& text : texts) out.push_back(text.size());
  return out;
}

bool all_untouched(const std::vector<std::uint8_t>& buffer) {
  return std::all_of(buffer.begin(), buffer.end(), [](std::uint8_t b) { return b == kUntouched; });
}

struct TokensDeleter {
  void operator()(jina3_tokens* tokens) const noexcept { jina3_tokens_free(tokens); }
};
struct ChunksDeleter {
  void operator()(jina3_chunks* chunks) const noexcept { jina3_chunks_free(chunks); }
};

const std::vector<std::string>& passages() {
  static const std::vector<std::string> texts = {
      "Berlin is the capital of Germany. It has 3.8 million people. The Spree flows through it.",
      "Paris ist die Hauptstadt Frankreichs! Sie liegt an der Seine? Ja.",
      "東京は日本の首都です。人口は多い。",
      "A short one.",
      "Emoji 🙂 and accents: café, naïve, Zürich.",
  };
  return texts;
}

}  // namespace

TEST_CASE("C precision row sizes", "[capi][outputs][unit]") {
  CHECK(jina3_precision_row_bytes(JINA3_PRECISION_FLOAT32, 64) == 256);
  CHECK(jina3_precision_row_bytes(JINA3_PRECISION_FLOAT16, 64) == 128);
  CHECK(jina3_precision_row_bytes(JINA3_PRECISION_INT8, 64) == 64);
  CHECK(jina3_precision_row_bytes(JINA3_PRECISION_UINT8, 64) == 64);
  CHECK(jina3_precision_row_bytes(JINA3_PRECISION_BINARY, 64) == 8);
  CHECK(jina3_precision_row_bytes(JINA3_PRECISION_UBINARY, 64) == 8);
  CHECK(jina3_precision_row_bytes(static_cast<jina3_precision>(6), 64) == 0);
  CHECK(jina3_precision_row_bytes(static_cast<jina3_precision>(-1), 64) == 0);
  CHECK(jina3_precision_row_bytes(JINA3_PRECISION_INT8, -1) == 0);
}

TEST_CASE("C encode_quantized equals the C++ encode_quantized for every precision and dims", "[capi][outputs]") {
  const jina3_encoder* encoder = shared_c_encoder();
  const Encoder& cpp = test::shared_encoder("float32");
  const auto& texts = passages();
  const auto text_ptrs = pointers(texts);
  const auto text_lengths = lengths(texts);
  std::vector<int> all_dims = cpp.dims();
  all_dims.push_back(0);
  for (int dims : all_dims) {
    const int size = dims == 0 ? cpp.hidden_size() : dims;
    // Calibration ranges from other texts, as a corpus would store them.
    const Embeddings calibration = cpp.encode(sample_texts(), Task::RetrievalPassage, dims);
    std::vector<float> c_ranges(2 * static_cast<std::size_t>(size));
    jina3_error* error = nullptr;
    REQUIRE(jina3_calibration_ranges(calibration.data.data(), calibration.rows, size, c_ranges.data(), &error) ==
            JINA3_OK);
    const Ranges ranges = calibration_ranges(calibration.data.data(), calibration.rows, calibration.dims);
    CHECK(std::vector<float>(c_ranges.begin(), c_ranges.begin() + size) == ranges.min);
    CHECK(std::vector<float>(c_ranges.begin() + size, c_ranges.end()) == ranges.max);
    for (jina3_precision precision : kPrecisions) {
      for (const bool given : {true, false}) {
        CAPTURE(dims, static_cast<int>(precision), given);
        const std::size_t row = jina3_precision_row_bytes(precision, size);
        std::vector<std::uint8_t> out(texts.size() * row + 3, kUntouched);
        std::vector<std::uint8_t> truncated(texts.size(), 7);
        REQUIRE(jina3_encoder_encode_quantized(encoder, text_ptrs.data(), text_lengths.data(), texts.size(),
                                               JINA3_TASK_RETRIEVAL_PASSAGE, dims, precision,
                                               given ? c_ranges.data() : nullptr, nullptr, out.data(), out.size(),
                                               truncated.data(), &error) == JINA3_OK);
        const QuantizedEmbeddings want = cpp.encode_quantized(texts, Task::RetrievalPassage, dims,
                                                              static_cast<Precision>(precision),
                                                              given ? &ranges : nullptr);
        REQUIRE(want.data.size() == texts.size() * row);
        CHECK(std::equal(want.data.begin(), want.data.end(), out.begin()));
        // Nothing past the rows is written.
        CHECK(std::all_of(out.end() - 3, out.end(), [](std::uint8_t b) { return b == kUntouched; }));
        CHECK(truncated == want.truncated);
        // The precision stage alone, on the float32 rows, gives the same bytes.
        const Embeddings floats = cpp.encode(texts, Task::RetrievalPassage, dims);
        std::vector<std::uint8_t> alone(texts.size() * row, kUntouched);
        REQUIRE(jina3_quantize(floats.data.data(), floats.rows, size, precision, given ? c_ranges.data() : nullptr,
                               alone.data(), alone.size(), &error) == JINA3_OK);
        CHECK(std::equal(want.data.begin(), want.data.end(), alone.begin()));
      }
    }
  }
}

TEST_CASE("C encode_quantized bad input writes nothing", "[capi][outputs]") {
  const jina3_encoder* encoder = shared_c_encoder();
  const auto& texts = passages();
  const auto text_ptrs = pointers(texts);
  const auto text_lengths = lengths(texts);
  const int dims = 32;
  const std::size_t need = texts.size() * 32;  // int8: a byte per dimension
  std::vector<std::uint8_t> out(need, kUntouched);
  std::vector<std::uint8_t> truncated(texts.size(), kUntouched);
  jina3_error* error = nullptr;
  auto call = [&](jina3_precision precision, const float* ranges, std::size_t capacity, int call_dims = 32) {
    return jina3_encoder_encode_quantized(encoder, text_ptrs.data(), text_lengths.data(), texts.size(),
                                          JINA3_TASK_RETRIEVAL_PASSAGE, call_dims, precision, ranges, nullptr,
                                          out.data(), capacity, truncated.data(), &error);
  };
  check_failure(call(static_cast<jina3_precision>(9), nullptr, need), error, JINA3_ERR_INVALID_ARGUMENT,
                "unknown precision value 9");
  check_failure(call(JINA3_PRECISION_INT8, nullptr, need - 1), error, JINA3_ERR_BUFFER_TOO_SMALL,
                "need " + std::to_string(need));
  check_failure(call(JINA3_PRECISION_INT8, nullptr, need, 12), error, JINA3_ERR_INVALID_ARGUMENT, "dims 12");
  // Ranges with max <= min in one dimension.
  std::vector<float> ranges(2 * dims, 0.0f);
  for (int d = 0; d < dims; ++d) ranges[dims + d] = 1.0f;
  ranges[dims + 5] = ranges[5];
  check_failure(call(JINA3_PRECISION_UINT8, ranges.data(), need), error, JINA3_ERR_INVALID_ARGUMENT, "max");
  // Invalid UTF-8 in one text fails the whole call.
  std::vector<std::string> bad = texts;
  bad[2] = std::string("ok \xC3(", 5);
  const auto bad_ptrs = pointers(bad);
  const auto bad_lengths = lengths(bad);
  check_failure(jina3_encoder_encode_quantized(encoder, bad_ptrs.data(), bad_lengths.data(), bad.size(),
                                               JINA3_TASK_RETRIEVAL_PASSAGE, dims, JINA3_PRECISION_BINARY, nullptr,
                                               nullptr, out.data(), need, truncated.data(), &error),
                error, JINA3_ERR_INVALID_ARGUMENT, "UTF-8");
  check_failure(jina3_encoder_encode_quantized(encoder, text_ptrs.data(), text_lengths.data(), texts.size(),
                                               JINA3_TASK_RETRIEVAL_PASSAGE, dims, JINA3_PRECISION_INT8, nullptr,
                                               nullptr, nullptr, need, nullptr, &error),
                error, JINA3_ERR_INVALID_ARGUMENT, "out is NULL");
  CHECK(all_untouched(out));
  CHECK(all_untouched(truncated));
  // No texts: nothing to write, out may be NULL.
  CHECK(jina3_encoder_encode_quantized(encoder, nullptr, nullptr, 0, JINA3_TASK_RETRIEVAL_PASSAGE, dims,
                                       JINA3_PRECISION_UBINARY, nullptr, nullptr, nullptr, 0, nullptr,
                                       &error) == JINA3_OK);
}

TEST_CASE("C calibration_ranges and quantize bad input writes nothing", "[capi][outputs][unit]") {
  const std::vector<float> values = {0.5f, -1.0f, 0.25f, 2.0f, 1.5f, 0.0f, -0.5f, 3.0f, 0.0f, 1.0f, 0.0f, 0.0f};
  std::vector<float> ranges(8, -7.0f);
  jina3_error* error = nullptr;
  check_failure(jina3_calibration_ranges(values.data(), 0, 4, ranges.data(), &error), error,
                JINA3_ERR_INVALID_ARGUMENT);
  check_failure(jina3_calibration_ranges(values.data(), 3, 0, ranges.data(), &error), error,
                JINA3_ERR_INVALID_ARGUMENT, "dims 0");
  check_failure(jina3_calibration_ranges(nullptr, 3, 4, ranges.data(), &error), error, JINA3_ERR_INVALID_ARGUMENT,
                "values is NULL");
  check_failure(jina3_calibration_ranges(values.data(), 3, 4, nullptr, &error), error, JINA3_ERR_INVALID_ARGUMENT,
                "ranges is NULL");
  CHECK(std::all_of(ranges.begin(), ranges.end(), [](float v) { return v == -7.0f; }));
  REQUIRE(jina3_calibration_ranges(values.data(), 3, 4, ranges.data(), &error) == JINA3_OK);
  CHECK(ranges == std::vector<float>({0.0f, -1.0f, -0.5f, 0.0f, 1.5f, 1.0f, 0.25f, 3.0f}));

  std::vector<std::uint8_t> out(16, kUntouched);
  check_failure(jina3_quantize(values.data(), 3, 4, JINA3_PRECISION_BINARY, nullptr, out.data(), out.size(), &error),
                error, JINA3_ERR_INVALID_ARGUMENT, "multiple of 8");
  check_failure(jina3_quantize(values.data(), 3, 4, JINA3_PRECISION_INT8, nullptr, out.data(), 11, &error), error,
                JINA3_ERR_BUFFER_TOO_SMALL);
  check_failure(jina3_quantize(values.data(), 3, 4, static_cast<jina3_precision>(-2), nullptr, out.data(),
                               out.size(), &error),
                error, JINA3_ERR_INVALID_ARGUMENT, "unknown precision");
  std::vector<float> flat = ranges;
  flat[4 + 2] = flat[2];  // max == min in dimension 2
  check_failure(jina3_quantize(values.data(), 3, 4, JINA3_PRECISION_UINT8, flat.data(), out.data(), out.size(), &error),
                error, JINA3_ERR_INVALID_ARGUMENT, "max");
  check_failure(jina3_quantize(values.data(), 3, 4, JINA3_PRECISION_UINT8, nullptr, nullptr, 12, &error), error,
                JINA3_ERR_INVALID_ARGUMENT, "out is NULL");
  CHECK(all_untouched(out));
  // The formula by hand for dimension 1 (min -1, max 1, step 2/255): -1 -> 0, 0 -> floor(127.5) = 127.
  REQUIRE(jina3_quantize(values.data(), 3, 4, JINA3_PRECISION_UINT8, ranges.data(), out.data(), out.size(),
                         &error) == JINA3_OK);
  CHECK(out[1] == 0);
  CHECK(out[4 + 1] == 127);
  CHECK(out[12] == kUntouched);  // 3 rows x 4 bytes, nothing after
}

TEST_CASE("C encode_tokens equals the C++ encode_tokens", "[capi][outputs]") {
  const jina3_encoder* encoder = shared_c_encoder();
  const Encoder& cpp = test::shared_encoder("float32");
  jina3_error* error = nullptr;
  for (const std::string& text : passages()) {
    for (const jina3_task task : {JINA3_TASK_NONE, JINA3_TASK_RETRIEVAL_QUERY, JINA3_TASK_TEXT_MATCHING}) {
      CAPTURE(text, static_cast<int>(task));
      jina3_tokens* raw = nullptr;
      REQUIRE(jina3_encoder_encode_tokens(encoder, text.data(), text.size(), task, nullptr, &raw, &error) == JINA3_OK);
      std::unique_ptr<jina3_tokens, TokensDeleter> tokens(raw);
      const TokenEmbeddings want = cpp.encode_tokens({text}, static_cast<Task>(task))[0];
      const std::size_t n = jina3_tokens_count(tokens.get());
      REQUIRE(n == want.size());
      REQUIRE(jina3_tokens_hidden(tokens.get()) == want.hidden);
      CHECK(std::vector<std::int32_t>(jina3_tokens_ids(tokens.get()), jina3_tokens_ids(tokens.get()) + n) == want.ids);
      CHECK(test::max_abs_diff(jina3_tokens_embeddings(tokens.get()), want.embeddings) == 0.0);
      const std::int64_t* offsets = jina3_tokens_offsets(tokens.get());
      CHECK(std::vector<std::int64_t>(offsets, offsets + 2 * n) == want.offsets);
      CHECK_FALSE(jina3_tokens_truncated(tokens.get()));
      // Byte offsets: each content token's range is inside the text (a lone "▁" piece has an empty
      // one, as Hugging Face reports it), <s> and </s> are (-1, -1).
      CHECK(offsets[0] == -1);
      CHECK(offsets[2 * n - 1] == -1);
      for (std::size_t t = 0; t < n; ++t) {
        if (offsets[2 * t] < 0) continue;
        CHECK(offsets[2 * t] <= offsets[2 * t + 1]);
        CHECK(static_cast<std::size_t>(offsets[2 * t + 1]) <= text.size());
      }
    }
  }
  // NUL-terminated text, and truncation as the options say.
  jina3_encode_options options;
  jina3_encode_default_options(&options, sizeof options);
  options.max_length = 6;
  jina3_tokens* raw = nullptr;
  REQUIRE(jina3_encoder_encode_tokens(encoder, passages()[0].c_str(), SIZE_MAX, JINA3_TASK_NONE, &options, &raw,
                                      &error) == JINA3_OK);
  std::unique_ptr<jina3_tokens, TokensDeleter> cut(raw);
  CHECK(jina3_tokens_count(cut.get()) == 6);
  CHECK(jina3_tokens_truncated(cut.get()));
  // Getters and free of NULL.
  CHECK(jina3_tokens_count(nullptr) == 0);
  CHECK(jina3_tokens_hidden(nullptr) == 0);
  CHECK(jina3_tokens_ids(nullptr) == nullptr);
  CHECK(jina3_tokens_embeddings(nullptr) == nullptr);
  CHECK(jina3_tokens_offsets(nullptr) == nullptr);
  CHECK_FALSE(jina3_tokens_truncated(nullptr));
  jina3_tokens_free(nullptr);
}

TEST_CASE("C encode_tokens bad input leaves *tokens alone", "[capi][outputs]") {
  const jina3_encoder* encoder = shared_c_encoder();
  jina3_error* error = nullptr;
  jina3_tokens* tokens = sentinel_pointer<jina3_tokens>();
  check_failure(jina3_encoder_encode_tokens(nullptr, "x", 1, JINA3_TASK_NONE, nullptr, &tokens, &error), error,
                JINA3_ERR_INVALID_ARGUMENT, "encoder is NULL");
  check_failure(jina3_encoder_encode_tokens(encoder, "x", 1, JINA3_TASK_NONE, nullptr, nullptr, &error), error,
                JINA3_ERR_INVALID_ARGUMENT, "tokens is NULL");
  check_failure(jina3_encoder_encode_tokens(encoder, "\xFF", 1, JINA3_TASK_NONE, nullptr, &tokens, &error), error,
                JINA3_ERR_INVALID_ARGUMENT, "UTF-8");
  check_failure(jina3_encoder_encode_tokens(encoder, nullptr, 3, JINA3_TASK_NONE, nullptr, &tokens, &error), error,
                JINA3_ERR_INVALID_ARGUMENT);
  check_failure(jina3_encoder_encode_tokens(encoder, "x", 1, static_cast<jina3_task>(77), nullptr, &tokens, &error),
                error, JINA3_ERR_INVALID_ARGUMENT);
  jina3_encode_options options;
  jina3_encode_default_options(&options, sizeof options);
  options.max_length = 4;
  options.truncate = false;
  check_failure(jina3_encoder_encode_tokens(encoder, passages()[0].c_str(), SIZE_MAX, JINA3_TASK_NONE, &options,
                                            &tokens, &error),
                error, JINA3_ERR_INPUT_TOO_LONG);
  CHECK(tokens == sentinel_pointer<jina3_tokens>());
}

TEST_CASE("C late_chunk equals the C++ late_chunk for spans, chunk_tokens and sentences", "[capi][outputs]") {
  const jina3_encoder* encoder = shared_c_encoder();
  const Encoder& cpp = test::shared_encoder("float32");
  jina3_error* error = nullptr;
  const std::string& text = passages()[0];
  // Byte spans of the three sentences (the text is ASCII).
  const std::size_t first = text.find(" It");
  const std::size_t second = text.find(" The");
  const std::vector<std::size_t> spans = {0, first, first + 1, second, second + 1, text.size()};
  struct Case {
    const char* name;
    int chunk_tokens;
    int sentences;
    bool use_spans;
    int window;
    int overlap;
  };
  const Case cases[] = {{"spans", 0, 0, true, 0, -1},       {"chunk_tokens", 5, 0, false, 0, -1},
                        {"sentences", 0, 1, false, 0, -1},  {"sentences 2", 0, 2, false, 0, -1},
                        {"whole text", 0, 0, false, 0, -1}, {"windows", 3, 0, false, 12, 4}};
  for (const Case& c : cases) {
    for (const int dims : {0, 16}) {
      for (const bool normalize : {true, false}) {
        CAPTURE(c.name, dims, normalize);
        jina3_late_chunk_options options;
        jina3_late_chunk_default_options(&options, sizeof options);
        CHECK(options.normalize);
        CHECK(options.include_special_tokens);
        CHECK(options.overlap < 0);
        options.chunk_tokens = c.chunk_tokens;
        options.sentences = c.sentences;
        options.window = c.window;
        options.overlap = c.overlap;
        options.normalize = normalize;
        jina3_chunks* raw = nullptr;
        REQUIRE(jina3_encoder_late_chunk(encoder, text.data(), text.size(), JINA3_TASK_RETRIEVAL_PASSAGE, dims,
                                         c.use_spans ? spans.data() : nullptr, c.use_spans ? 3 : 0, &options, &raw,
                                         &error) == JINA3_OK);
        std::unique_ptr<jina3_chunks, ChunksDeleter> chunks(raw);
        LateChunkOptions cpp_options;
        std::vector<std::vector<std::pair<std::size_t, std::size_t>>> span_lists = {
            {{spans[0], spans[1]}, {spans[2], spans[3]}, {spans[4], spans[5]}}};
        if (c.use_spans) cpp_options.spans = &span_lists;
        if (c.chunk_tokens) cpp_options.chunk_tokens = c.chunk_tokens;
        if (c.sentences) cpp_options.sentences = c.sentences;
        if (c.window) cpp_options.window = c.window;
        if (c.overlap >= 0) cpp_options.overlap = c.overlap;
        cpp_options.normalize = normalize;
        const ChunkEmbeddings want = cpp.late_chunk({text}, Task::RetrievalPassage, dims, cpp_options)[0];
        const std::size_t n = jina3_chunks_count(chunks.get());
        REQUIRE(n == want.size());
        REQUIRE(n >= 1);
        REQUIRE(jina3_chunks_dims(chunks.get()) == want.dims);
        CHECK(test::max_abs_diff(jina3_chunks_embeddings(chunks.get()), want.embeddings) == 0.0);
        for (std::size_t i = 0; i < n; ++i) {
          CHECK(jina3_chunks_spans(chunks.get())[2 * i] == want.spans[i].first);
          CHECK(jina3_chunks_spans(chunks.get())[2 * i + 1] == want.spans[i].second);
          CHECK(jina3_chunks_token_spans(chunks.get())[2 * i] == want.token_spans[i].first);
          CHECK(jina3_chunks_token_spans(chunks.get())[2 * i + 1] == want.token_spans[i].second);
        }
        if (c.use_spans) {
          CHECK(std::vector<std::size_t>(jina3_chunks_spans(chunks.get()), jina3_chunks_spans(chunks.get()) + 6) ==
                spans);
        }
        if (c.sentences == 1) CHECK(n == 3);
      }
    }
  }
  CHECK(jina3_chunks_count(nullptr) == 0);
  CHECK(jina3_chunks_dims(nullptr) == 0);
  CHECK(jina3_chunks_embeddings(nullptr) == nullptr);
  CHECK(jina3_chunks_spans(nullptr) == nullptr);
  CHECK(jina3_chunks_token_spans(nullptr) == nullptr);
  jina3_chunks_free(nullptr);
}

TEST_CASE("C late_chunk bad input leaves *chunks alone", "[capi][outputs]") {
  const jina3_encoder* encoder = shared_c_encoder();
  jina3_error* error = nullptr;
  const std::string text = "Zürich liegt am See. Es ist schön.";  // 36 bytes; ü is bytes 1..3
  jina3_chunks* chunks = sentinel_pointer<jina3_chunks>();
  auto with_spans = [&](std::vector<std::size_t> spans) {
    return jina3_encoder_late_chunk(encoder, text.data(), text.size(), JINA3_TASK_RETRIEVAL_PASSAGE, 0, spans.data(),
                                    spans.size() / 2, nullptr, &chunks, &error);
  };
  check_failure(with_spans({0, 2}), error, JINA3_ERR_INVALID_ARGUMENT, "UTF-8");        // inside ü
  check_failure(with_spans({5, 3}), error, JINA3_ERR_INVALID_ARGUMENT);                  // reversed
  check_failure(with_spans({4, 4}), error, JINA3_ERR_INVALID_ARGUMENT);                  // empty
  check_failure(with_spans({0, text.size() + 1}), error, JINA3_ERR_INVALID_ARGUMENT);   // past the end
  check_failure(with_spans({21, 22}), error, JINA3_ERR_INVALID_ARGUMENT, "no token");    // the space after "See."
  check_failure(jina3_encoder_late_chunk(encoder, text.data(), text.size(), JINA3_TASK_RETRIEVAL_PASSAGE, 0, nullptr,
                                         2, nullptr, &chunks, &error),
                error, JINA3_ERR_INVALID_ARGUMENT, "spans is NULL");
  auto with_options = [&](const jina3_late_chunk_options& options, int dims = 0) {
    return jina3_encoder_late_chunk(encoder, text.data(), text.size(), JINA3_TASK_RETRIEVAL_PASSAGE, dims, nullptr,
                                    0, &options, &chunks, &error);
  };
  jina3_late_chunk_options options;
  jina3_late_chunk_default_options(&options, sizeof options);
  options.chunk_tokens = 4;
  options.sentences = 1;
  check_failure(with_options(options), error, JINA3_ERR_INVALID_ARGUMENT);  // two ways of choosing chunks
  jina3_late_chunk_default_options(&options, sizeof options);
  options.chunk_tokens = -1;
  check_failure(with_options(options), error, JINA3_ERR_INVALID_ARGUMENT, "chunk_tokens");
  jina3_late_chunk_default_options(&options, sizeof options);
  options.window = 16;
  options.overlap = 16;
  check_failure(with_options(options), error, JINA3_ERR_INVALID_ARGUMENT, "overlap");
  jina3_late_chunk_default_options(&options, sizeof options);
  check_failure(with_options(options, 12), error, JINA3_ERR_INVALID_ARGUMENT, "dims");
  options.struct_size = 3;  // ends inside the first field
  check_failure(with_options(options), error, JINA3_ERR_INVALID_ARGUMENT, "struct_size");
  check_failure(jina3_encoder_late_chunk(encoder, text.data(), text.size(), JINA3_TASK_RETRIEVAL_PASSAGE, 0, nullptr,
                                         0, nullptr, nullptr, &error),
                error, JINA3_ERR_INVALID_ARGUMENT, "chunks is NULL");
  CHECK(chunks == sentinel_pointer<jina3_chunks>());
}
