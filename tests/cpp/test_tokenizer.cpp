// Token ids: the package's tokenizer against the ids of the REAL XLM-R sentencepiece model
// (reference.json), the whitespace policy, truncation.
#include <catch2/catch.hpp>

#include <fstream>

#include "support.hpp"

using namespace jina3;
using namespace jina3::test;

namespace {

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
