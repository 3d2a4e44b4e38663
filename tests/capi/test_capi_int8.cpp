// int8 packages through the C API (issue #19): package-int8 loads through jina3_encoder_create,
// reports JINA3_DTYPE_INT8, and its rows stay within cosine 0.99 of package-float32's for every
// task and two Matryoshka sizes (and closer to their own text's float32 row than to any other
// text's); jina3_encoder_encode_tasks with mixed tasks equals each task alone.
// tests/cpp/test_parity.cpp checks int8 against the Python reference through the C++ API; these
// check the C boundary on top of it.
#include <jina3/jina3.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "capi_support.hpp"
#include "support.hpp"

using namespace jina3::capi_test;

namespace {

// Six texts: Latin, German, CJK, emoji and accents, empty, a short one.
const std::vector<std::string>& int8_texts() {
  static const std::vector<std::string> texts = {
      "Paris is the capital and largest city of France.",
      "Berlin ist die Hauptstadt von Deutschland.",
      "東京は日本の首都です。",
      "The Eiffel Tower 🗼 was completed in 1889; café, naïve.",
      "",
      "a short one"};
  return texts;
}

const std::vector<jina3_task>& all_tasks() {
  static const std::vector<jina3_task> tasks = {JINA3_TASK_NONE,           JINA3_TASK_RETRIEVAL_QUERY,
                                                JINA3_TASK_RETRIEVAL_PASSAGE, JINA3_TASK_SEPARATION,
                                                JINA3_TASK_CLASSIFICATION, JINA3_TASK_TEXT_MATCHING};
  return tasks;
}

// package-int8 through the C API, loaded once (encode is thread-safe).
const jina3_encoder* int8_encoder() {
  static std::mutex mutex;
  static EncoderHandle encoder;
  std::lock_guard<std::mutex> lock(mutex);
  if (!encoder) encoder = open_encoder("int8");
  return encoder.get();
}

double row_max_abs(const float* a, const float* b, std::size_t n) {
  double worst = 0.0;
  for (std::size_t k = 0; k < n; ++k) worst = std::max(worst, std::fabs(static_cast<double>(a[k]) - b[k]));
  return worst;
}

}  // namespace

TEST_CASE("an int8 package reports JINA3_DTYPE_INT8 and the float32 package's shape", "[capi][int8]") {
  const jina3_encoder* q = int8_encoder();
  const jina3_encoder* f = shared_c_encoder();
  CHECK(jina3_encoder_dtype(q) == JINA3_DTYPE_INT8);
  CHECK(std::string(jina3_dtype_name(jina3_encoder_dtype(q))) == "int8");
  CHECK(jina3_encoder_dtype(f) == JINA3_DTYPE_FLOAT32);
  CHECK(jina3_encoder_device(q) == JINA3_DEVICE_CPU);
  CHECK(jina3_encoder_hidden_size(q) == jina3_encoder_hidden_size(f));
  CHECK(jina3_encoder_max_length(q) == jina3_encoder_max_length(f));
  CHECK(jina3_encoder_vocab_size(q) == jina3_encoder_vocab_size(f));
  const std::size_t count = jina3_encoder_dims(q, nullptr, 0);
  REQUIRE(count == jina3_encoder_dims(f, nullptr, 0));
  std::vector<int> qdims(count), fdims(count);
  jina3_encoder_dims(q, qdims.data(), count);
  jina3_encoder_dims(f, fdims.data(), count);
  CHECK(qdims == fdims);
  REQUIRE(jina3_encoder_task_count(q) == jina3_encoder_task_count(f));
  CHECK(jina3_encoder_task_count(q) == 5);
  for (std::size_t i = 0; i < jina3_encoder_task_count(q); ++i) {
    const jina3_task task = jina3_encoder_task(q, i);
    CHECK(task == jina3_encoder_task(f, i));
    const char* qp = nullptr;
    const char* fp = nullptr;
    REQUIRE(jina3_encoder_prompt(q, task, &qp, nullptr) == JINA3_OK);
    REQUIRE(jina3_encoder_prompt(f, task, &fp, nullptr) == JINA3_OK);
    CHECK(std::string(qp) == fp);
  }
  // Asking for int8 explicitly when loading the int8 package is the same encoder.
  jina3_encoder_options options;
  jina3_encoder_default_options(&options, sizeof options);
  options.dtype = JINA3_DTYPE_INT8;
  EncoderHandle explicit_int8 = open_encoder("int8", &options);
  CHECK(jina3_encoder_dtype(explicit_int8.get()) == JINA3_DTYPE_INT8);
}

TEST_CASE("int8 rows are within cosine 0.99 of float32 for every task and two dims", "[capi][int8]") {
  const jina3_encoder* q = int8_encoder();
  const jina3_encoder* f = shared_c_encoder();
  const auto& texts = int8_texts();
  const std::size_t n = texts.size();
  std::vector<int> dims_list(jina3_encoder_dims(q, nullptr, 0));
  REQUIRE(dims_list.size() >= 2);
  jina3_encoder_dims(q, dims_list.data(), dims_list.size());
  const int small_dims = dims_list[dims_list.size() / 2 - 1];  // 16 of 8/16/32/64: a real truncation

  double min_cosine = 1.0, worst_margin = 1.0, max_diff_seen = 0.0;
  for (jina3_task task : all_tasks()) {
    for (int dims : {0, small_dims}) {
      INFO("task " << jina3_task_name(task) << ", dims " << dims);
      const CResult got = c_encode(q, texts, task, dims);
      const CResult want = c_encode(f, texts, task, dims);
      REQUIRE(got.status == JINA3_OK);
      REQUIRE(want.status == JINA3_OK);
      const std::size_t width = static_cast<std::size_t>(row_size(q, dims));
      REQUIRE(got.data.size() == n * width);
      REQUIRE(want.data.size() == n * width);
      double case_max_diff = 0.0;
      for (std::size_t i = 0; i < n; ++i) {
        INFO("row " << i << ": \"" << texts[i] << "\"");
        const float* qi = got.data.data() + i * width;
        const float* fi = want.data.data() + i * width;
        double norm = 0.0;
        for (std::size_t k = 0; k < width; ++k) norm += static_cast<double>(qi[k]) * qi[k];
        CHECK(std::fabs(std::sqrt(norm) - 1.0) < 1e-4);
        CHECK(got.truncated[i] == 0);
        const double own = jina3::test::cosine(qi, fi, width);
        CHECK(own >= 0.99);
        min_cosine = std::min(min_cosine, own);
        // The texts' float32 rows are close to each other in this tiny random model (up to ~0.993):
        // the int8 row must be nearer its own text's row than any other.
        for (std::size_t j = 0; j < n; ++j) {
          if (j == i) continue;
          const double other = jina3::test::cosine(qi, want.data.data() + j * width, width);
          CHECK(own > other);
          worst_margin = std::min(worst_margin, own - other);
        }
        case_max_diff = std::max(case_max_diff, row_max_abs(qi, fi, width));
      }
      // int8 is a different computation: equal rows would mean float32 weights were used.
      CHECK(case_max_diff > 1e-6);
      max_diff_seen = std::max(max_diff_seen, case_max_diff);
    }
  }
  std::printf("capi int8 vs float32: min cosine %.6f, min margin over other texts %.4f, max |diff| %.3g\n",
              min_cosine, worst_margin, max_diff_seen);
}

TEST_CASE("int8: mixed tasks in one call equal each task alone", "[capi][int8]") {
  const jina3_encoder* q = int8_encoder();
  const auto& texts = int8_texts();
  const auto& tasks = all_tasks();
  // Each text twice, with tasks in an order that puts different tasks side by side.
  std::vector<std::string> mixed_texts;
  std::vector<std::size_t> text_index;
  std::vector<jina3_task> mixed_tasks;
  for (std::size_t round = 0; round < 2; ++round) {
    for (std::size_t i = 0; i < texts.size(); ++i) {
      mixed_texts.push_back(texts[i]);
      text_index.push_back(i);
      mixed_tasks.push_back(tasks[(i + 2 * round + 1) % tasks.size()]);
    }
  }
  const CTexts c_texts(mixed_texts);
  std::vector<int> dims_list(jina3_encoder_dims(q, nullptr, 0));
  jina3_encoder_dims(q, dims_list.data(), dims_list.size());

  double worst_same = 0.0, least_other = 1e9;
  for (int dims : {0, dims_list.front()}) {
    INFO("dims " << dims);
    const std::size_t width = static_cast<std::size_t>(row_size(q, dims));
    // Each task alone: the six texts in one call with that task.
    std::vector<CResult> alone;
    for (jina3_task task : tasks) {
      alone.push_back(c_encode(q, texts, task, dims));
      REQUIRE(alone.back().status == JINA3_OK);
      REQUIRE(alone.back().data.size() == texts.size() * width);
    }
    auto alone_row = [&](jina3_task task, std::size_t text) {
      const auto at = std::find(tasks.begin(), tasks.end(), task) - tasks.begin();
      return alone[static_cast<std::size_t>(at)].data.data() + text * width;
    };

    std::vector<float> out(mixed_texts.size() * width, 7.0f);
    std::vector<std::uint8_t> truncated(mixed_texts.size(), 0xAB);
    jina3_error* error = nullptr;
    const jina3_status status =
        jina3_encoder_encode_tasks(q, c_texts.data(), nullptr, c_texts.size(), mixed_tasks.data(), dims, nullptr,
                                   out.data(), out.size(), truncated.data(), &error);
    ErrorHandle owned(error);
    INFO("encode_tasks: " << jina3_error_message(owned.get()));
    REQUIRE(status == JINA3_OK);
    for (std::size_t i = 0; i < mixed_texts.size(); ++i) {
      INFO("row " << i << ", task " << jina3_task_name(mixed_tasks[i]));
      CHECK(truncated[i] == 0);
      const double same = row_max_abs(out.data() + i * width, alone_row(mixed_tasks[i], text_index[i]), width);
      CHECK(same <= 2e-2);
      worst_same = std::max(worst_same, same);
      // The tolerance means something: the same text under any other task is much further away.
      for (jina3_task other_task : tasks) {
        if (other_task == mixed_tasks[i]) continue;
        const double apart = row_max_abs(out.data() + i * width, alone_row(other_task, text_index[i]), width);
        CHECK(apart > 5e-2);
        least_other = std::min(least_other, apart);
      }
    }
  }
  std::printf("capi int8 mixed tasks: max |diff| to each task alone %.3g, min |diff| to another task %.3g\n",
              worst_same, least_other);
}
