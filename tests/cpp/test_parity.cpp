// Embeddings against the Python reference implementation (reference.json): float32 to 1e-5,
// bfloat16 and int8 by cosine similarity.
#include <catch2/catch.hpp>

#include <cstdio>
#include <limits>

#include "support.hpp"

using namespace jina3;
using namespace jina3::test;

namespace {

struct CaseResult {
  double worst_abs_diff = 0.0;
  double worst_cosine = 1.0;
};

std::string describe(const ReferenceCase& c) {
  return std::string("task ") + to_string(c.task) + ", dims " + std::to_string(c.dims) + ", normalize " +
         (c.normalize ? "true" : "false") + ", max_length " + std::to_string(c.max_length);
}

// Encodes every reference case with the package of `dtype`; checks shapes and truncation flags.
std::vector<CaseResult> run_cases(const std::string& dtype) {
  const auto& ref = reference();
  const Encoder& encoder = shared_encoder(dtype);
  std::vector<CaseResult> results;
  for (const auto& c : ref.cases) {
    INFO(describe(c));
    EncodeOptions options;
    options.normalize = c.normalize;
    options.max_length = c.max_length;
    Embeddings got = encoder.encode(ref.texts, c.task, c.dims, options);
    const std::size_t dims = c.dims == 0 ? static_cast<std::size_t>(ref.hidden_size) : static_cast<std::size_t>(c.dims);
    REQUIRE(got.rows == ref.texts.size());
    REQUIRE(got.dims == dims);
    REQUIRE(got.data.size() == got.rows * got.dims);
    REQUIRE(c.embeddings.size() == got.rows);

    // A row is flagged exactly when its untruncated ids exceed the limit.
    auto full_ids = encoder.tokenize(ref.texts, c.task);
    const std::size_t limit = c.max_length == 0 ? static_cast<std::size_t>(ref.max_length) : static_cast<std::size_t>(c.max_length);
    for (std::size_t i = 0; i < got.rows; ++i) CHECK(got.truncated[i] == (full_ids[i].size() > limit ? 1 : 0));

    CaseResult result;
    for (std::size_t i = 0; i < got.rows; ++i) {
      REQUIRE(c.embeddings[i].size() == dims);
      result.worst_abs_diff = std::max(result.worst_abs_diff, max_abs_diff(got.row(i), c.embeddings[i]));
      result.worst_cosine = std::min(result.worst_cosine, cosine(got.row(i), c.embeddings[i]));
    }
    results.push_back(result);
  }
  return results;
}

void report(const std::string& dtype, const std::vector<CaseResult>& results) {
  CaseResult overall;
  for (const auto& r : results) {
    overall.worst_abs_diff = std::max(overall.worst_abs_diff, r.worst_abs_diff);
    overall.worst_cosine = std::min(overall.worst_cosine, r.worst_cosine);
  }
  std::printf("parity %s: %zu cases, max |diff| %.3g, min cosine %.7f\n", dtype.c_str(), results.size(),
              overall.worst_abs_diff, overall.worst_cosine);
}

}  // namespace

TEST_CASE("reference.json covers what the parity tests promise", "[parity]") {
  const auto& ref = reference();
  CHECK(ref.texts.size() >= 8);
  bool tasks_seen[6] = {};
  bool small_dims = false, unnormalised = false, short_max = false;
  for (const auto& c : ref.cases) {
    tasks_seen[static_cast<int>(c.task) + 1] = true;
    small_dims |= c.dims != 0 && c.dims < ref.hidden_size;
    unnormalised |= !c.normalize;
    short_max |= c.max_length > 0 && c.max_length < ref.max_length;
  }
  for (bool seen : tasks_seen) CHECK(seen);
  CHECK(small_dims);
  CHECK(unnormalised);
  CHECK(short_max);
  const Encoder& encoder = shared_encoder("float32");
  CHECK(encoder.hidden_size() == ref.hidden_size);
  CHECK(encoder.dims() == ref.matryoshka_dims);
  CHECK(encoder.max_length() == ref.max_length);
  for (const auto& [task, prompt] : ref.prompts) CHECK(encoder.prompt(task) == prompt);
}

TEST_CASE("float32 package matches the reference to 1e-5", "[parity]") {
  auto results = run_cases("float32");
  report("float32", results);
  for (std::size_t k = 0; k < results.size(); ++k) {
    INFO(describe(reference().cases[k]));
    CHECK(results[k].worst_abs_diff <= 1e-5);
  }
}

TEST_CASE("bfloat16 package is within cosine 0.999 of the reference", "[parity]") {
  auto results = run_cases("bfloat16");
  report("bfloat16", results);
  CHECK(shared_encoder("bfloat16").dtype() == DType::BFloat16);
  for (std::size_t k = 0; k < results.size(); ++k) {
    INFO(describe(reference().cases[k]));
    CHECK(results[k].worst_cosine >= 0.999);
  }
}

TEST_CASE("int8 package is within cosine 0.99 of the reference", "[parity]") {
  auto results = run_cases("int8");
  report("int8", results);
  CHECK(shared_encoder("int8").dtype() == DType::Int8);
  for (std::size_t k = 0; k < results.size(); ++k) {
    INFO(describe(reference().cases[k]));
    CHECK(results[k].worst_cosine >= 0.99);
  }
}

TEST_CASE("a float32 package cast to bfloat16 at load stays close to the reference", "[parity]") {
  EncoderOptions options;
  options.dtype = DType::BFloat16;
  Encoder encoder(package_dir("float32").string(), options);
  CHECK(encoder.dtype() == DType::BFloat16);
  const auto& ref = reference();
  const auto& c = ref.cases.front();
  Embeddings got = encoder.encode(ref.texts, c.task, c.dims, {c.normalize, true, c.max_length, 0});
  for (std::size_t i = 0; i < got.rows; ++i) CHECK(cosine(got.row(i), c.embeddings[i]) >= 0.999);
}
