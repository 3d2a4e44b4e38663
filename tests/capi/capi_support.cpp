#include "capi_support.hpp"

#include <cstring>
#include <mutex>
#include <type_traits>

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

namespace {

// The C structs hold C enums where the C++ ones hold enum classes: compare enums as numbers.
template <class T>
auto as_number(T value) {
  if constexpr (std::is_enum_v<T>) {
    return static_cast<long long>(value);
  } else {
    return value;
  }
}

}  // namespace

void check_default_options() {
  // 0x7f everywhere first, so a field the library leaves unwritten cannot pass by chance.
  const EncoderOptions cpp_encoder;
  jina3_encoder_options encoder;
  std::memset(&encoder, 0x7f, sizeof encoder);
  jina3_encoder_default_options(&encoder, sizeof encoder);
  CHECK(encoder.struct_size == sizeof encoder);
#define JINA3_X(type, name, value, flag, doc) CHECK(as_number(encoder.name) == as_number(cpp_encoder.name));
  JINA3_ENCODER_OPTION_FIELDS(JINA3_X)
#undef JINA3_X

  const EncodeOptions cpp_encode;
  jina3_encode_options encode;
  std::memset(&encode, 0x7f, sizeof encode);
  jina3_encode_default_options(&encode, sizeof encode);
  CHECK(encode.struct_size == sizeof encode);
#define JINA3_X(type, name, value, keyed, flag, doc) CHECK(as_number(encode.name) == as_number(cpp_encode.name));
  JINA3_ENCODE_OPTION_FIELDS(JINA3_X)
#undef JINA3_X
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

int row_size(const jina3_encoder* encoder, int dims) { return dims == 0 ? jina3_encoder_hidden_size(encoder) : dims; }

RequestHandle submit(const jina3_encoder* encoder, const CTexts& texts, const std::vector<jina3_task>& tasks, int dims,
                     const jina3_encode_options* options, jina3_request_callback callback, void* user_data) {
  jina3_request* raw = nullptr;
  const jina3_status status = jina3_encoder_submit(encoder, texts.data(), nullptr, texts.size(), tasks.data(),
                                                   tasks.size(), dims, options, callback, user_data, &raw, nullptr);
  INFO("submit: " << jina3_status_name(status) << ": " << jina3_last_error());
  REQUIRE(status == JINA3_OK);
  REQUIRE(raw != nullptr);
  return RequestHandle(raw);
}

CResult wait_result(jina3_request* request) {
  CResult result;
  result.data.assign(jina3_request_rows(request) * static_cast<std::size_t>(jina3_request_dims(request)), 7.0f);
  result.truncated.assign(jina3_request_rows(request), 0xAB);
  result.status = jina3_request_wait(request, result.data.empty() ? nullptr : result.data.data(), result.data.size(),
                                     result.truncated.data(), nullptr);
  return result;
}

}  // namespace jina3::capi_test
