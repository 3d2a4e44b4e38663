#include "capi_support.hpp"

#include <mutex>

#include "support.hpp"

namespace jina3::capi_test {

EncoderHandle open_encoder(const std::string& dtype, const jina3_encoder_options* options) {
  const std::string path = test::package_dir(dtype).string();
  jina3_encoder_options with_threads;
  if (test::test_num_threads() != 0) {  // the ThreadSanitizer job: see test_num_threads()
    if (options) {
      with_threads = *options;
    } else {
      jina3_encoder_default_options(&with_threads, sizeof with_threads);
    }
    with_threads.num_threads = test::test_num_threads();
    options = &with_threads;
  }
  jina3_encoder* raw = nullptr;
  const jina3_status status = jina3_encoder_create(path.c_str(), options, &raw, nullptr);
  INFO("loading " << path << ": " << jina3_last_error());
  REQUIRE(status == JINA3_OK);
  REQUIRE(raw != nullptr);
  return EncoderHandle(raw);
}

const jina3_encoder* shared_c_encoder() {
  static std::mutex mutex;
  static EncoderHandle encoder;
  std::lock_guard<std::mutex> lock(mutex);
  if (!encoder) encoder = open_encoder("float32");
  return encoder.get();
}

void check_failure(jina3_status status, jina3_error*& error, jina3_status expected, const std::string& contains) {
  ErrorHandle owned(error);
  error = nullptr;
  const std::string last = jina3_last_error();
  INFO("status " << jina3_status_name(status) << ", message: " << last);
  CHECK(status == expected);
  CHECK_FALSE(last.empty());
  if (!contains.empty()) CHECK(last.find(contains) != std::string::npos);
  REQUIRE(owned != nullptr);
  CHECK(jina3_error_code(owned.get()) == expected);
  CHECK(std::string(jina3_error_message(owned.get())) == last);
}

CResult c_encode(const jina3_encoder* encoder, const std::vector<std::string>& texts, jina3_task task, int dims,
                 const jina3_encode_options* options) {
  std::vector<const char*> pointers;
  for (const auto& text : texts) pointers.push_back(text.c_str());
  const int row = dims == 0 ? jina3_encoder_hidden_size(encoder) : dims;
  CResult result;
  result.data.assign(texts.size() * static_cast<std::size_t>(row), 0.0f);
  result.truncated.assign(texts.size(), 0xAB);
  result.status = jina3_encoder_encode(encoder, pointers.data(), nullptr, texts.size(), task, dims, options,
                                       result.data.data(), result.data.size(), result.truncated.data(), nullptr);
  return result;
}

Embeddings cpp_encode(const std::vector<std::string>& texts, Task task, int dims, const EncodeOptions& options) {
  return test::shared_encoder("float32").encode(texts, task, dims, options);
}

const std::vector<std::string>& sample_texts() {
  static const std::vector<std::string> texts = {
      "What is the capital of France?",
      "Paris ist die Hauptstadt Frankreichs.",
      "東京は日本の首都です。",
      "Emoji 🗼🇫🇷 and accents: café, naïve",
      "",
      "   spaced\tout\n",
      "A somewhat longer passage about the Eiffel Tower, which was completed in 1889 and is 330 metres tall.",
  };
  return texts;
}

}  // namespace jina3::capi_test
