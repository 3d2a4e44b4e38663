// Token ids: the package's tokenizer against the ids of the REAL XLM-R sentencepiece model
// (reference.json), the whitespace policy, truncation; and token offsets (as encode_tokens returns
// them) against Hugging Face style offsets from sentencepiece's pieces, and their invariants.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "support.hpp"

using namespace jina3;
using namespace jina3::test;

namespace {

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

std::vector<std::int32_t> ids_of(const Encoder& encoder, const std::string& text, Task task = Task::None,
                                 const EncodeOptions& options = {}) {
  return encoder.tokenize({text}, task, options).at(0);
}

}  // namespace

TEST_CASE("token ids equal the reference for every task and no task", "[tokenizer]") {
  const auto& ref = reference();
  const Encoder& encoder = shared_encoder("float32");
  REQUIRE(ref.token_ids.size() == 6);
  for (const auto& [task, expected] : ref.token_ids) {
    INFO("task " << to_string(task));
    auto ids = encoder.tokenize(ref.texts, task);
    REQUIRE(ids.size() == ref.texts.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      INFO("text " << i);
      CHECK(ids[i] == expected[i]);
    }
  }
}

TEST_CASE("the package tokenizer tokenizes like the real XLM-R sentencepiece model", "[tokenizer]") {
  // A package whose tokenizer.model is the real sentencepiece.bpe.model must give the same ids as
  // the package's converted one, on text well beyond the reference's.
  const auto real_model = shared_data_dir() / "xlmr" / "sentencepiece.bpe.model";
  REQUIRE(fs::exists(real_model));
  PackageCopy copy(package_dir("float32"));
  fs::remove(copy.path() / "tokenizer.model");
  fs::copy_file(real_model, copy.path() / "tokenizer.model");
  copy.refresh_checksum("tokenizer.model");
  Encoder real(copy.str());
  const Encoder& converted = shared_encoder("float32");

  std::vector<std::string> texts = {
      "The quick brown fox jumps over the lazy dog.",
      "Größenwahn und Straßenbahn: ÄÖÜ äöü ß",
      "東京は日本の首都です。人口は約1400万人。",
      "Москва — столица России, крупнейший город Европы.",
      "مرحبا بالعالم، كيف حالك اليوم؟",
      "नमस्ते दुनिया, आप कैसे हैं?",
      "emoji 🙂🚀🇩🇪 and symbols ∑∫√ ≠ ≤ ½ ™ ©",
      "ＦＵＬＬＷＩＤＴＨ ｆｕｌｌｗｉｄｔｈ ①②③ ﬁ ligature",  // NFKC folding in the normaliser
      "tabs\tand\nnewlines\r\nand   runs   of    spaces",
      "https://example.com/path?query=1&x=y#frag user@example.org",
      "<s> <mask> </s> <pad> literal special-token text",
      "ok 한국어 텍스트 처리 ㅎㅏㄴ",
      std::string("\xE2\x80\x8B zero width \xC2\xA0 no-break"),
  };
  for (Task task : {Task::None, Task::RetrievalQuery, Task::TextMatching}) {
    auto expected = real.tokenize(texts, task);
    auto actual = converted.tokenize(texts, task);
    for (std::size_t i = 0; i < texts.size(); ++i) {
      INFO("task " << to_string(task) << ", text: " << texts[i]);
      CHECK(actual[i] == expected[i]);
    }
  }
}

TEST_CASE("known XLM-R ids", "[tokenizer]") {
  const Encoder& encoder = shared_encoder("float32");
  // fairseq layout: <s>=0, </s>=2, ordinary pieces at sentencepiece id + 1.
  CHECK(ids_of(encoder, "Hello world!") == std::vector<std::int32_t>{0, 35378, 8999, 38, 2});
  CHECK(ids_of(encoder, "") == std::vector<std::int32_t>{0, 2});
}

TEST_CASE("whitespace follows sentencepiece semantics (trimmed, runs collapsed)", "[tokenizer]") {
  const Encoder& encoder = shared_encoder("float32");
  // See the "Two tokenizers" note: HF's fast tokenizer keeps a final "▁" here; jina3 does not.
  CHECK(ids_of(encoder, "end\n") == std::vector<std::int32_t>{0, 3564, 2});
  CHECK(ids_of(encoder, "end\n") == ids_of(encoder, "end"));
  CHECK(ids_of(encoder, " ") == std::vector<std::int32_t>{0, 2});
  CHECK(ids_of(encoder, " \t\n ") == std::vector<std::int32_t>{0, 2});
  CHECK(ids_of(encoder, "  two   words  ") == ids_of(encoder, "two words"));
  // After a retrieval prompt (which ends in a space) an empty text leaves the prompt's own ids.
  auto prompt_only = ids_of(encoder, "", Task::RetrievalQuery);
  auto prompt_text = ids_of(encoder, encoder.prompt(Task::RetrievalQuery), Task::None);
  CHECK(prompt_only == prompt_text);
}

TEST_CASE("a task's prompt is prepended as text", "[tokenizer]") {
  const Encoder& encoder = shared_encoder("float32");
  const std::string text = "what is the capital of France?";
  for (Task task : encoder.tasks()) {
    INFO(to_string(task));
    CHECK(ids_of(encoder, text, task) == ids_of(encoder, encoder.prompt(task) + text, Task::None));
  }
  CHECK(ids_of(encoder, text, Task::RetrievalQuery) != ids_of(encoder, text, Task::None));
  CHECK(ids_of(encoder, text, Task::Separation) == ids_of(encoder, text, Task::None));  // empty prompt
}

TEST_CASE("truncation keeps </s> and the first tokens", "[tokenizer]") {
  const Encoder& encoder = shared_encoder("float32");
  std::string text;
  for (int i = 0; i < 50; ++i) text += "word" + std::to_string(i) + " ";
  auto full = ids_of(encoder, text);
  REQUIRE(full.size() > 40);
  EncodeOptions options;
  options.max_length = 16;
  auto cut = ids_of(encoder, text, Task::None, options);
  REQUIRE(cut.size() == 16);
  CHECK(cut.back() == 2);
  CHECK(std::vector<std::int32_t>(cut.begin(), cut.end() - 1) == std::vector<std::int32_t>(full.begin(), full.begin() + 15));
  options.max_length = 2;
  CHECK(ids_of(encoder, text, Task::None, options) == std::vector<std::int32_t>{0, 2});
  options.max_length = static_cast<int>(full.size());
  CHECK(ids_of(encoder, text, Task::None, options) == full);  // exactly at the limit: untouched
  options.truncate = false;
  CHECK(ids_of(encoder, text, Task::None, options) == full);
  options.max_length = static_cast<int>(full.size()) - 1;
  CHECK_THROWS_AS(ids_of(encoder, text, Task::None, options), InputTooLong);
}

// --- offsets -----------------------------------------------------------------------------------

TEST_CASE("token offsets equal Hugging Face style offsets from sentencepiece's pieces", "[tokenizer]") {
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

TEST_CASE("offsets of a few texts, by hand", "[tokenizer]") {
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

