// fuzz_utf8_tokenizer: utf8::check and utf8::append against an independent decoder, then the
// tokenizer on every valid text. Input: one control byte (which task prompt, which token limit),
// then the text. Checked on each input:
// - utf8::check accepts exactly what the reference decoder accepts, and reports the same offset;
// - a valid text, decoded and re-encoded with utf8::append, gives the same bytes;
// - Tokenizer::encode with and without offsets (two sentencepiece paths, the second read by our
//   own protobuf wire reader) give the same ids; <s> first, </s> last, every id in the vocabulary;
// - offsets: two per id, (-1, -1) for the specials, otherwise begin <= end within the text, on
//   UTF-8 boundaries, never decreasing;
// - truncate_ids keeps the prefix and the final </s>.
// The sentencepiece model: $JINA3_FUZZ_SPM_MODEL, else the path CMake baked in (the shared
// XLM-R model; never copied into the repository).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "model/tokenizer.hpp"
#include "util/utf8.hpp"

const char* const jina3::fuzz::kTarget = "fuzz_utf8_tokenizer";

namespace {

using jina3::fuzz::expect;

// The reference: decodes by the bit patterns of RFC 3629 (count the lead's high ones, collect
// continuation bits, then reject overlong values, surrogates and values above U+10FFFF), a
// different route from utf8.cpp's table of second-byte ranges. Returns the offset of the first
// ill-formed sequence, or nullopt, and the code points of the valid prefix in cps.
std::optional<std::size_t> reference_check(std::string_view text, std::vector<char32_t>& cps) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t i = 0;
  while (i < text.size()) {
    const unsigned lead = bytes[i];
    int ones = 0;
    while (ones < 8 && (lead & (0x80u >> ones))) ++ones;
    if (ones == 0) {
      cps.push_back(lead);
      ++i;
      continue;
    }
    if (ones == 1 || ones > 4) return i;
    const std::size_t length = static_cast<std::size_t>(ones);
    char32_t cp = lead & (0xFFu >> (ones + 1));
    for (std::size_t k = 1; k < length; ++k) {
      if (i + k >= text.size() || (bytes[i + k] >> 6) != 2) return i;
      cp = (cp << 6) | (bytes[i + k] & 0x3Fu);
    }
    static constexpr char32_t kMinimum[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinimum[length] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return i;
    cps.push_back(cp);
    i += length;
  }
  return std::nullopt;
}

constexpr int kVocabSize = 250002;  // XLM-R: 250000 sentencepiece pieces + offset 1 + <mask>
const jina3::SpecialIds kSpecials{};  // <s> 0, <pad> 1, </s> 2, <unk> 3, <mask> 250001

// The two instructions of jina-embeddings-v3 (retrieval.query, retrieval.passage), and none.
const char* const kPrompts[] = {"", "Represent the query for retrieving evidence documents: ",
                                "Represent the document for retrieval: "};

std::unique_ptr<jina3::Tokenizer> tokenizer;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* model = std::getenv("JINA3_FUZZ_SPM_MODEL");
  if (model == nullptr || *model == '\0') model = JINA3_FUZZ_SPM_MODEL;
  try {
    tokenizer = std::make_unique<jina3::Tokenizer>(model, kSpecials, 1, kVocabSize);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_utf8_tokenizer: cannot load the sentencepiece model %s (set JINA3_FUZZ_SPM_MODEL): %s\n",
                 model, e.what());
    std::exit(2);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const unsigned control = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  std::vector<char32_t> cps;
  const std::optional<std::size_t> expected = reference_check(text, cps);
  const std::optional<jina3::utf8::Problem> problem = jina3::utf8::check(text);
  expect(problem.has_value() == expected.has_value(), "utf8::check and the reference decoder disagree on validity");
  if (problem) {
    expect(problem->offset == *expected, "utf8::check reports another offset than the reference decoder");
    expect(problem->reason != nullptr && *problem->reason != '\0', "utf8::check gave no reason");
    return 0;
  }
  std::string rebuilt;
  for (char32_t cp : cps) jina3::utf8::append(rebuilt, cp);
  expect(rebuilt == text, "utf8::append of the decoded code points does not give the text back");

  const std::string_view prompt = kPrompts[control % 3];
  const std::vector<std::int32_t> ids = tokenizer->encode(prompt, text);
  std::vector<std::int64_t> offsets;
  const std::vector<std::int32_t> ids_with_offsets = tokenizer->encode(prompt, text, offsets);
  expect(ids == ids_with_offsets, "encode with offsets gives other ids than encode");
  expect(ids.size() >= 2 && ids.front() == kSpecials.bos && ids.back() == kSpecials.eos, "ids are not <s> ... </s>");
  for (std::int32_t id : ids) expect(id >= 0 && id < kVocabSize, "an id outside the vocabulary");
  expect(offsets.size() == 2 * ids.size(), "not two offsets per id");
  expect(offsets[0] == -1 && offsets[1] == -1, "<s> has offsets");
  expect(offsets[offsets.size() - 2] == -1 && offsets.back() == -1, "</s> has offsets");
  std::int64_t last_begin = 0, last_end = 0;
  for (std::size_t k = 1; k + 1 < ids.size(); ++k) {
    const std::int64_t begin = offsets[2 * k], end = offsets[2 * k + 1];
    if (begin == -1 && end == -1) continue;  // a token of the prompt
    expect(begin >= 0 && begin <= end && end <= static_cast<std::int64_t>(text.size()), "offsets outside the text");
    expect(begin >= last_begin && end >= last_end, "offsets go backwards");
    const std::string_view piece = text.substr(static_cast<std::size_t>(begin), static_cast<std::size_t>(end - begin));
    expect(!jina3::utf8::check(piece), "a token's offsets cut a UTF-8 sequence");
    last_begin = begin;
    last_end = end;
  }

  // Token limits from 2 (just <s></s>) to the length itself, as the control byte picks.
  const std::size_t max_length = 2 + (control >> 2) % ids.size();
  std::vector<std::int32_t> cut = ids;
  const bool dropped = jina3::truncate_ids(cut, max_length);
  expect(dropped == (ids.size() > max_length), "truncate_ids reports the wrong thing");
  expect(cut.size() == std::min(ids.size(), max_length) && cut.back() == kSpecials.eos, "truncate_ids lost </s>");
  expect(std::equal(cut.begin(), cut.end() - 1, ids.begin()), "truncate_ids changed the kept prefix");
  return 0;
}
