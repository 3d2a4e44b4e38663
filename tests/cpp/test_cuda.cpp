// The CUDA path: ctest cpp.cuda. Where this build's LibTorch has CUDA and a GPU is present, every
// test here must pass. Elsewhere each test prints "SKIPPED: no usable CUDA device (<why>)" and
// returns, and ctest reports cpp.cuda as Skipped (its SKIP_REGULAR_EXPRESSION), never as passed;
// test_errors checks the DeviceError itself.
#include <catch2/catch.hpp>

#include <cstdio>
#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "support.hpp"

using namespace jina3;
using namespace jina3::test;

namespace {

// Empty when an encoder can be put on the GPU; otherwise why not (the DeviceError's message).
const std::string& cuda_unusable() {
  static const std::string reason = [] {
    try {
      EncoderOptions options;
      options.device = Device::CUDA;
      Encoder probe(package_dir("float32").string(), options);
      return std::string();
    } catch (const DeviceError& e) {
      return std::string(e.what());
    }
  }();
  return reason;
}

// The first statement of every test here: without a usable GPU, say so and skip the test.
#define JINA3_REQUIRE_CUDA_OR_SKIP()                                                          \
  do {                                                                                        \
    if (!cuda_unusable().empty()) {                                                           \
      std::printf("SKIPPED: no usable CUDA device (%s)\n", cuda_unusable().c_str());         \
      SUCCEED("skipped: no usable CUDA device");                                              \
      return;                                                                                 \
    }                                                                                         \
  } while (false)

const Encoder& cuda_encoder(const std::string& dtype, DType cast = DType::Auto) {
  static std::mutex mutex;
  static std::map<std::pair<std::string, int>, std::unique_ptr<Encoder>> encoders;
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = encoders[{dtype, static_cast<int>(cast)}];
  if (!slot) {
    EncoderOptions options;
    options.device = Device::CUDA;
    options.dtype = cast;
    slot = std::make_unique<Encoder>(package_dir(dtype).string(), options);
  }
  return *slot;
}

// Worst |diff| and cosine over every reference case.
std::pair<double, double> compare_with_reference(const Encoder& encoder) {
  const auto& ref = reference();
  double worst_diff = 0.0, worst_cosine = 1.0;
  for (const auto& c : ref.cases) {
    EncodeOptions options;
    options.normalize = c.normalize;
    options.max_length = c.max_length;
    Embeddings got = encoder.encode(ref.texts, c.task, c.dims, options);
    REQUIRE(got.rows == c.embeddings.size());
    for (std::size_t i = 0; i < got.rows; ++i) {
      worst_diff = std::max(worst_diff, max_abs_diff(got.row(i), c.embeddings[i]));
      worst_cosine = std::min(worst_cosine, cosine(got.row(i), c.embeddings[i]));
    }
  }
  return {worst_diff, worst_cosine};
}

}  // namespace

TEST_CASE("CUDA float32 matches the reference", "[.cuda]") {
  JINA3_REQUIRE_CUDA_OR_SKIP();
  const Encoder& encoder = cuda_encoder("float32");
  CHECK(encoder.device() == Device::CUDA);
  auto [diff, cos] = compare_with_reference(encoder);
  std::printf("cuda float32: max |diff| %.3g, min cosine %.7f\n", diff, cos);
  CHECK(diff <= 1e-4);
  CHECK(cos >= 0.99999);
}

TEST_CASE("CUDA bfloat16 and float16 stay close to the reference", "[.cuda]") {
  JINA3_REQUIRE_CUDA_OR_SKIP();
  auto [bf16_diff, bf16_cos] = compare_with_reference(cuda_encoder("bfloat16"));
  std::printf("cuda bfloat16 package: max |diff| %.3g, min cosine %.7f\n", bf16_diff, bf16_cos);
  CHECK(bf16_cos >= 0.999);
  const Encoder& half = cuda_encoder("float32", DType::Float16);
  CHECK(half.dtype() == DType::Float16);
  auto [fp16_diff, fp16_cos] = compare_with_reference(half);
  std::printf("cuda float16 cast: max |diff| %.3g, min cosine %.7f\n", fp16_diff, fp16_cos);
  CHECK(fp16_cos >= 0.999);
}

TEST_CASE("CUDA refuses int8 packages", "[.cuda]") {
  JINA3_REQUIRE_CUDA_OR_SKIP();
  EncoderOptions options;
  options.device = Device::CUDA;
  CHECK_THROWS_AS(Encoder(package_dir("int8").string(), options), DeviceError);
}

TEST_CASE("CUDA: batching, long texts and threads give the CPU's vectors", "[.cuda]") {
  JINA3_REQUIRE_CUDA_OR_SKIP();
  const Encoder& gpu = cuda_encoder("float32");
  const Encoder& cpu = shared_encoder("float32");
  std::string long_text;
  for (int i = 0; i < 9000; ++i) long_text += "token" + std::to_string(i % 100) + " ";
  std::vector<std::string> texts = {"short", long_text, "", "mixed 日本語 text"};
  std::vector<Task> tasks = {Task::RetrievalQuery, Task::RetrievalPassage, Task::None, Task::TextMatching};
  Embeddings expected = cpu.encode(texts, tasks);
  Embeddings got = gpu.encode(texts, tasks);
  CHECK(got.truncated == expected.truncated);
  for (std::size_t i = 0; i < got.rows; ++i) CHECK(cosine(got.row(i), expected.row(i), got.dims) >= 0.99999);

  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      try {
        for (int round = 0; round < 3; ++round) {
          Embeddings again = gpu.encode(texts, tasks);
          if (max_abs_diff(again.data.data(), got.data.data(), got.data.size()) > 1e-5) ++wrong;
        }
      } catch (...) {
        ++wrong;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(wrong == 0);
}
