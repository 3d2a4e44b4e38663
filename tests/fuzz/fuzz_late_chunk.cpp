// fuzz_late_chunk: Encoder::late_chunk (caller spans, chunk_tokens, sentences, macro windows)
// through the public C++ API of the instrumented libjina3, against a tiny package
// ($JINA3_FUZZ_PACKAGE). Input layout:
//   byte 0   bits 0-2: 0 whole text, 1 spans, 2 chunk_tokens, 3 sentences, 4 spans and
//            chunk_tokens (refused), 5-7 whole text; bit 3 normalize; bit 4
//            include_special_tokens; bit 5 window given; bit 6 overlap given; bit 7 compare a
//            whole-text chunk with encode()
//   byte 1   task (int8, any value)   byte 2: dims (an index into kDims)
//   byte 3   chunk_tokens / sentences (int8)   bytes 4-5: window, 6-7: overlap (int16)
//   byte 8   texts (1 + low 2 bits, at most 3) and spans per text (high 6 bits % 5)
//   then per text: a length byte and the bytes; then per span of each text: begin and end bytes
// Checked: only InvalidArgument comes out (bad task, dims, spans or options); a result has one
// entry per text, caller spans come back as given, token spans lie within the sequence and
// cover at least one token, every value is finite and normalised rows are of unit length; with
// one window and no chunking, the single chunk (specials included) is the text's encode() row
// within the float32 rule of two calls (fuzz_support.hpp).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <jina3/jina3.hpp>

#include "fuzz_support.hpp"

const char* const jina3::fuzz::kTarget = "fuzz_late_chunk";

namespace {

using jina3::fuzz::expect;
using jina3::fuzz::Reader;

constexpr int kDims[] = {0, 8, 16, 32, 64, -1, 7, 65};

std::unique_ptr<jina3::Encoder> encoder;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* package = std::getenv("JINA3_FUZZ_PACKAGE");
  if (package == nullptr || *package == '\0') {
    std::fprintf(stderr, "fuzz_late_chunk: set JINA3_FUZZ_PACKAGE to a tiny package (build/testdata/package-float32)\n");
    std::exit(2);
  }
  jina3::EncoderOptions options;
  options.num_threads = 1;
  try {
    encoder = std::make_unique<jina3::Encoder>(package, options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_late_chunk: cannot load %s: %s\n", package, e.what());
    std::exit(2);
  }
  std::atexit([] { encoder.reset(); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Reader in(data, size);
  const unsigned mode_bits = in.byte();
  const unsigned mode = mode_bits & 7;
  const auto task = static_cast<jina3::Task>(static_cast<std::int8_t>(in.byte()));
  const int dims = kDims[in.byte() % (sizeof kDims / sizeof kDims[0])];
  const int amount = static_cast<std::int8_t>(in.byte());
  const int window = in.int16();
  const int overlap = in.int16();
  const unsigned shape = in.byte();
  const std::size_t count = 1 + (shape & 3) % 3;
  const std::size_t spans_per_text = (shape >> 2) % 5;

  std::vector<std::string> texts(count);
  for (auto& text : texts) text = in.bytes(in.byte());
  std::vector<std::vector<std::pair<std::size_t, std::size_t>>> spans(count);
  for (auto& list : spans) {
    for (std::size_t k = 0; k < spans_per_text; ++k) {
      const std::size_t begin = in.byte();
      list.emplace_back(begin, in.byte());
    }
  }

  jina3::LateChunkOptions options;
  if (mode == 1 || mode == 4) options.spans = &spans;
  if (mode == 2 || mode == 4) options.chunk_tokens = amount;
  if (mode == 3) options.sentences = amount;
  options.normalize = mode_bits & 8;
  options.include_special_tokens = mode_bits & 16;
  if (mode_bits & 32) options.window = window;
  if (mode_bits & 64) options.overlap = overlap;

  std::vector<jina3::ChunkEmbeddings> result;
  try {
    result = encoder->late_chunk(texts, task, dims, options);
  } catch (const jina3::InvalidArgument&) {
    return 0;
  } catch (const std::exception& e) {
    jina3::fuzz::fail(std::string("not InvalidArgument: ") + e.what());
  }
  expect(mode != 4, "spans and chunk_tokens together were accepted");
  expect(result.size() == count, "not one result per text");
  const std::size_t row = dims == 0 ? 64 : static_cast<std::size_t>(dims);
  for (std::size_t i = 0; i < count; ++i) {
    const jina3::ChunkEmbeddings& chunks = result[i];
    expect(chunks.dims == row, "chunk dims are not the dims asked for");
    expect(chunks.token_spans.size() == chunks.spans.size(), "token spans and spans differ in number");
    expect(chunks.embeddings.size() == chunks.spans.size() * row, "not dims values per chunk");
    if (mode == 1) expect(chunks.spans == spans[i], "caller spans did not come back as given");
    for (std::size_t k = 0; k < chunks.size(); ++k) {
      expect(chunks.spans[k].first <= chunks.spans[k].second && chunks.spans[k].second <= texts[i].size(),
             "a span outside the text");
      expect(chunks.token_spans[k].first < chunks.token_spans[k].second, "a chunk of no tokens");
      if (k > 0 && mode != 1) {
        expect(chunks.token_spans[k].first >= chunks.token_spans[k - 1].second, "generated chunks overlap");
      }
      double squares = 0;
      for (std::size_t d = 0; d < row; ++d) {
        const float v = chunks.row(k)[d];
        expect(std::isfinite(v), "a non-finite value");
        squares += static_cast<double>(v) * v;
      }
      if (options.normalize) expect(std::fabs(std::sqrt(squares) - 1.0) < 1e-4, "a normalised chunk is not of unit length");
    }
  }

  // One window, no chunking, specials pooled: the chunk is mean pooling over the whole
  // sequence, which is what encode() computes (when the text is not truncated there).
  const bool comparable = (mode_bits & 128) && (mode == 0 || mode >= 5) && options.include_special_tokens &&
                          !(mode_bits & 32) && result[0].size() == 1;
  if (comparable) {
    jina3::EncodeOptions encode_options;
    encode_options.normalize = options.normalize;
    encode_options.truncate = false;
    jina3::Embeddings whole;
    try {
      whole = encoder->encode({texts[0]}, task, dims, encode_options);
    } catch (const jina3::InputTooLong&) {
      return 0;  // longer than max_length: late_chunk used windows after all
    }
    // Two calls, so the same within the float32 rule only.
    expect(jina3::fuzz::rows_agree(result[0].row(0), whole.row(0), row, options.normalize),
           "the whole-text chunk differs from encode()");
  }
  return 0;
}
