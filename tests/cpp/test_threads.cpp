// num_threads: LibTorch's intra-op pool is process-wide, so this runs as its own ctest process.
#include <catch2/catch.hpp>

#include "support.hpp"

using namespace jina3;
using namespace jina3::test;

TEST_CASE("num_threads = 1 gives the same vectors", "[threads]") {
  const std::vector<std::string> texts = {"one thread", "is enough for a tiny model", ""};
  Embeddings many = shared_encoder("float32").encode(texts, Task::Classification);
  EncoderOptions options;
  options.num_threads = 1;
  Encoder single(package_dir("float32").string(), options);
  Embeddings one = single.encode(texts, Task::Classification);
  CHECK(max_abs_diff(one.data.data(), many.data.data(), many.data.size()) <= kFloat32Tolerance);
}
