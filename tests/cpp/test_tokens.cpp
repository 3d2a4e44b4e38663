// The tokens stage: encode_tokens against ReferenceModel.hidden_states, one call against one call
// per text and against encode(), truncation and bad input. (The offsets it returns are the
// tokenizer's: test_tokenizer.cpp.)
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "support.hpp"

using namespace jina3;
using namespace jina3::test;

TEST_CASE("encode_tokens matches ReferenceModel.hidden_states (float32 to 1e-5, bfloat16 by cosine)", "[tokens]") {
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

TEST_CASE("encode_tokens in one call equals one call per text, and its mean is encode()", "[tokens]") {
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
        // Each text ran alone for the reference, here with the others: token states compare
        // relative to their row's largest value.
        worst = std::max(worst, relative_diff(together[i].embeddings.data() + k * together[i].hidden,
                                              expected[i]->hidden_states[k].data(), together[i].hidden));
      }
    }
    CHECK(worst <= kFloat32Tolerance);
    CHECK(together.back().size() == prompt_token_count(encoder, task) + 2);
    // Mean pooling of the token output is encode()'s row (full size, normalised).
    const Embeddings rows = encoder.encode(texts, task);
    for (std::size_t i = 0; i < texts.size(); ++i) {
      const std::vector<double> mean = pooled(together[i], {0, together[i].size()}, together[i].hidden, true);
      std::vector<float> as_float(mean.begin(), mean.end());
      CHECK(max_abs_diff(rows.row(i), as_float) <= kFloat32Tolerance);
    }
  }
  CHECK(encoder.encode_tokens(std::vector<std::string>{}, Task::None).empty());
}

TEST_CASE("encode_tokens truncation and its errors", "[tokens]") {
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

