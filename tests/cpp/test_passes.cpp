// The passes stage: a text's vector does not depend on which texts share its forward pass, the
// padding, the batch size or the pass budget, within the float32 rule (README "What shares a
// pass"); mixed tasks share passes; a text of the full length runs alone.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "support.hpp"

using namespace jina3;
using namespace jina3::test;

TEST_CASE("a text's vector does not depend on its batch neighbours, padding or batch size", "[passes]") {
  const Encoder& encoder = shared_encoder("float32");
  const std::size_t n = kMixedTexts.size();
  Embeddings batched = encoder.encode(kMixedTexts, Task::RetrievalPassage);
  for (std::size_t i = 0; i < n; ++i) {
    INFO("text " << i);
    Embeddings alone = encoder.encode({kMixedTexts[i]}, Task::RetrievalPassage);
    CHECK(max_abs_diff(alone.row(0), batched.row(i), batched.dims) <= kFloat32Tolerance);
  }
  for (int batch_size : {1, 2, 3, 100}) {
    INFO("batch_size " << batch_size);
    EncodeOptions options;
    options.batch_size = batch_size;
    Embeddings split = encoder.encode(kMixedTexts, Task::RetrievalPassage, 0, options);
    CHECK(max_abs_diff(split.data.data(), batched.data.data(), batched.data.size()) <= kFloat32Tolerance);
  }
  // Reordered input gives reordered output.
  std::vector<std::string> reversed(kMixedTexts.rbegin(), kMixedTexts.rend());
  Embeddings backwards = encoder.encode(reversed, Task::RetrievalPassage);
  for (std::size_t i = 0; i < n; ++i) {
    CHECK(max_abs_diff(backwards.row(n - 1 - i), batched.row(i), batched.dims) <= kFloat32Tolerance);
  }
}

TEST_CASE("small batch limits at load give the same vectors", "[passes]") {
  EncoderOptions options;
  options.max_batch_tokens = 16;  // smaller than most rows: every row runs alone
  options.max_batch_size = 2;
  Encoder small(package_dir("float32").string(), options);
  Embeddings a = small.encode(kMixedTexts, Task::TextMatching);
  Embeddings b = shared_encoder("float32").encode(kMixedTexts, Task::TextMatching);
  CHECK(max_abs_diff(a.data.data(), b.data.data(), b.data.size()) <= kFloat32Tolerance);
}

TEST_CASE("a mixed-task batch equals per-task encodes", "[passes]") {
  const Encoder& encoder = shared_encoder("float32");
  std::vector<std::string> texts;
  std::vector<Task> tasks;
  for (std::size_t i = 0; i < kMixedTexts.size(); ++i) {
    for (Task task : kAllTasks) {
      texts.push_back(kMixedTexts[i]);
      tasks.push_back(task);
    }
  }
  const int dims = encoder.dims()[encoder.dims().size() / 2];
  Embeddings mixed = encoder.encode(texts, tasks, dims);
  REQUIRE(mixed.rows == texts.size());
  for (std::size_t r = 0; r < texts.size(); ++r) {
    INFO("row " << r << " task " << to_string(tasks[r]));
    Embeddings single = encoder.encode({texts[r]}, tasks[r], dims);
    CHECK(max_abs_diff(mixed.row(r), single.row(0), dims) <= kFloat32Tolerance);
  }
}

TEST_CASE("a text of the full 8194-token limit runs, alone in its batch", "[passes][long]") {
  const Encoder& encoder = shared_encoder("float32");
  std::string long_text;
  for (int i = 0; i < 9000; ++i) long_text += "token" + std::to_string(i % 100) + " ";
  std::vector<std::string> texts = {"short one", long_text, "another short one"};
  Embeddings got = encoder.encode(texts, Task::RetrievalPassage);
  REQUIRE(got.rows == 3);
  CHECK(got.truncated == std::vector<std::uint8_t>{0, 1, 0});
  for (std::size_t d = 0; d < got.dims; ++d) CHECK(std::isfinite(got.row(1)[d]));
  CHECK(encoder.tokenize({long_text}).at(0).size() == static_cast<std::size_t>(encoder.max_length()));
  // Its neighbours are unaffected by sharing a call with it.
  Embeddings alone = encoder.encode({"short one", "another short one"}, Task::RetrievalPassage);
  CHECK(max_abs_diff(got.row(0), alone.row(0), got.dims) <= kFloat32Tolerance);
  CHECK(max_abs_diff(got.row(2), alone.row(1), got.dims) <= kFloat32Tolerance);
  EncodeOptions strict;
  strict.truncate = false;
  CHECK_THROWS_AS(encoder.encode(texts, Task::RetrievalPassage, 0, strict), InputTooLong);
}
