// Shared helpers for the C++ tests: test data paths, the Python reference, cached encoders,
// temporary package copies and vector comparisons.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include <jina3/jina3.hpp>

#include <catch2/catch.hpp>

#include "util/json.hpp"

namespace jina3::test {

namespace fs = std::filesystem;

// $JINA3_TEST_DATA (written by tests/fixtures/make_test_data.py). Fails the test if unset.
fs::path test_data_dir();
// $JINA3_SHARED_DATA, or ../shared/data next to the source tree.
fs::path shared_data_dir();
fs::path package_dir(const std::string& dtype);  // test_data_dir() / ("package-" + dtype)

// reference.json, parsed once.
struct ReferenceCase {
  Task task;
  int dims;
  bool normalize;
  int max_length;
  std::vector<std::vector<float>> embeddings;  // per text
};
// ReferenceModel.hidden_states for one text and task (reference.json "token_outputs").
struct ReferenceTokens {
  std::string text;
  Task task;
  int max_length;                                 // 0: the package's
  std::vector<std::int32_t> ids;
  std::vector<std::int64_t> offsets;              // 2 per token, Hugging Face style (see hf_offsets in testdata.py)
  std::vector<std::vector<float>> hidden_states;  // per token
};
// Token ids and Hugging Face style byte offsets from sentencepiece's pieces (reference.json "offsets").
struct ReferenceOffsets {
  std::string text;
  Task task;
  std::vector<std::int32_t> ids;      // untruncated
  std::vector<std::int64_t> offsets;  // 2 per token, -1 for <s>, </s> and the prompt's tokens
};
struct Reference {
  std::vector<ReferenceTokens> token_outputs;
  std::vector<ReferenceOffsets> offsets;  // OFFSET_TEXTS, then the lines of tests/data/multilingual.txt
  std::vector<std::string> texts;
  int hidden_size = 0;
  std::vector<int> matryoshka_dims;
  int max_length = 0;
  std::vector<std::pair<Task, std::string>> prompts;
  std::vector<std::pair<Task, std::vector<std::vector<std::int32_t>>>> token_ids;  // per task: ids per text
  std::vector<ReferenceCase> cases;
};
const Reference& reference();

// One Encoder per package dtype with default options, loaded once and shared by tests (encode is
// thread-safe and const).
const Encoder& shared_encoder(const std::string& dtype);
// Intra-op threads for the encoders the tests open: $JINA3_TEST_NUM_THREADS, else 0 (the
// default). The ThreadSanitizer job sets 1, so that LibTorch opens no OpenMP region: libgomp is not
// instrumented, and TSan cannot see the synchronisation of its barriers.
int test_num_threads();

// A temporary directory removed at scope exit.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A copy of a package in a temp dir that tests may break. Big files are symlinked unless
// copy_files lists them.
class PackageCopy {
 public:
  explicit PackageCopy(const fs::path& source, const std::vector<std::string>& copy_files = {});
  const fs::path& path() const { return dir_.path(); }
  std::string str() const { return dir_.path().string(); }
  // Parsed manifest.json of the copy (json::Value is nlohmann::ordered_json, keys in file order);
  // write_manifest replaces it.
  json::Value manifest() const;
  void write_manifest(const json::Value& manifest) const;
  void write_manifest_text(const std::string& text) const;
  // Rewrites one top-level manifest key in place (or removes it with a null function result); the
  // function gets nullptr for a key that is not there, and what it returns is added last.
  void edit_manifest(const std::string& key, const std::function<json::Value(const json::Value*)>& edit) const;
  // Sets files.<name> to the actual size and SHA-256 of the copy's file.
  void refresh_checksum(const std::string& name) const;

 private:
  TempDir dir_;
};

// JSON text for a value (for rewriting manifests), written by nlohmann-json.
std::string to_json(const json::Value& value);
json::Value json_string(const std::string& text);
json::Value json_int(std::int64_t value);

// Comparisons of embedding rows.
double max_abs_diff(const float* a, const std::vector<float>& b);
double max_abs_diff(const float* a, const float* b, std::size_t n);
double cosine(const float* a, const std::vector<float>& b);
double cosine(const float* a, const float* b, std::size_t n);
// max |a - b| over the largest |b|: how token states (unnormalised) are compared.
double relative_diff(const float* a, const float* b, std::size_t n);

// What results of different passes or calls may differ by (README "What shares a pass"): the
// library is not batch-invariant, so only a cache hit returns the same bits. float32 packages:
// max |diff| per value of normalised rows (token states: relative_diff); bfloat16: cosine.
constexpr double kFloat32Tolerance = 1e-5;
// bfloat16: 0.9995 since 2026-12-07 (0.9999 before): with the LoRA tail, the fused qkv split and
// fc1's fused GELU, a merged pass and serial calls differed by 1 - cosine 1.5e-4 on one row of the
// tiny test model at 8 dims (cpp.serving, AMD EPYC); float32 stays at 3.9e-7.
constexpr double kBFloat16Cosine = 0.9995;

// Short texts of several scripts and lengths, an empty one among them.
extern const std::vector<std::string> kMixedTexts;
// Task::None, then every task of the test packages.
extern const std::vector<Task> kAllTasks;

// For the tests of the token, chunk and precision stages.
// "none" for Task::None, else the task's name.
std::string describe_task(Task task);
// The number of instruction tokens of task (the prompt's pieces before the text's).
std::size_t prompt_token_count(const Encoder& encoder, Task task);
// Mean of token rows [first, last) in double, cut to dims, L2-normalised if asked: the pooling
// rule, written out independently of src/pipeline.
std::vector<double> pooled(const TokenEmbeddings& tokens, std::pair<std::size_t, std::size_t> rows, std::size_t dims,
                           bool normalize);
// Documents of a few sentences each (marks inside numbers and abbreviations, several scripts,
// whitespace runs, no final mark).
extern const std::vector<std::string> kChunkTexts;

// Runs f, requires an exception of type E whose message contains every part.
template <typename E, typename F>
void require_error(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
  } catch (const E& e) {
    for (const auto& part : parts) CHECK_THAT(e.what(), Catch::Contains(part));
    return;
  } catch (const std::exception& e) {
    FAIL("wrong exception type; message: " << e.what());
  }
  FAIL("no exception");
}

}  // namespace jina3::test
