#include "support.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>

#include <unistd.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "util/sha256.hpp"

namespace jina3::test {
namespace {

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) FAIL("cannot read " << file);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Task task_of(const json::Value& value) {
  return value.is_null() ? Task::None : task_from_string(value.get<std::string>());
}

Reference load_reference() {
  const fs::path file = test_data_dir() / "reference.json";
  json::Value root = json::parse(read_text(file));
  Reference ref;
  ref.texts = root.at("texts").get<std::vector<std::string>>();
  ref.hidden_size = root.at("hidden_size").get<int>();
  ref.matryoshka_dims = root.at("matryoshka_dims").get<std::vector<int>>();
  ref.max_length = root.at("max_length").get<int>();
  for (const auto& [task, prompt] : root.at("prompts").items()) {
    ref.prompts.emplace_back(task_from_string(task), prompt.get<std::string>());
  }
  for (const auto& entry : root.at("token_ids")) {
    ref.token_ids.emplace_back(task_of(entry.at("task")), entry.at("ids").get<std::vector<std::vector<std::int32_t>>>());
  }
  for (const auto& entry : root.at("cases")) {
    ReferenceCase c;
    c.task = task_of(entry.at("task"));
    c.dims = entry.at("dims").get<int>();
    c.normalize = entry.at("normalize").get<bool>();
    c.max_length = entry.at("max_length").get<int>();
    c.embeddings = entry.at("embeddings").get<std::vector<std::vector<float>>>();
    ref.cases.push_back(std::move(c));
  }
  for (const auto& entry : root.at("token_outputs")) {
    ReferenceTokens t;
    t.text = entry.at("text").get<std::string>();
    t.task = task_of(entry.at("task"));
    t.max_length = entry.at("max_length").get<int>();
    t.ids = entry.at("ids").get<std::vector<std::int32_t>>();
    t.offsets = entry.at("offsets").get<std::vector<std::int64_t>>();
    t.hidden_states = entry.at("hidden_states").get<std::vector<std::vector<float>>>();
    ref.token_outputs.push_back(std::move(t));
  }
  for (const auto& entry : root.at("offsets")) {
    ref.offsets.push_back(ReferenceOffsets{entry.at("text").get<std::string>(), task_of(entry.at("task")),
                                           entry.at("ids").get<std::vector<std::int32_t>>(),
                                           entry.at("offsets").get<std::vector<std::int64_t>>()});
  }
  return ref;
}

}  // namespace

fs::path test_data_dir() {
  const char* dir = std::getenv("JINA3_TEST_DATA");
  if (!dir || !*dir) FAIL("JINA3_TEST_DATA is not set: run the tests through ctest (fixture make_test_data)");
  fs::path path(dir);
  if (!fs::is_directory(path)) FAIL("JINA3_TEST_DATA=" << dir << " is not a directory");
  return path;
}

fs::path shared_data_dir() {
  if (const char* dir = std::getenv("JINA3_SHARED_DATA"); dir && *dir) return fs::path(dir);
  if (const char* source = std::getenv("JINA3_SOURCE_DIR"); source && *source) return fs::path(source) / ".." / "shared" / "data";
  FAIL("JINA3_SHARED_DATA is not set");
  return {};
}

fs::path package_dir(const std::string& dtype) { return test_data_dir() / ("package-" + dtype); }

const Reference& reference() {
  static const Reference ref = load_reference();
  return ref;
}

const Encoder& shared_encoder(const std::string& dtype) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<Encoder>> encoders;
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = encoders[dtype];
  if (!slot) {
    EncoderOptions options;
    options.num_threads = test_num_threads();
    slot = std::make_unique<Encoder>(package_dir(dtype).string(), options);
  }
  return *slot;
}

int test_num_threads() {
  const char* value = std::getenv("JINA3_TEST_NUM_THREADS");
  return value && *value ? std::atoi(value) : 0;
}

TempDir::TempDir() {
  static std::atomic<unsigned> counter{0};
  std::random_device random;
  for (int attempt = 0; attempt < 100; ++attempt) {
    fs::path candidate = fs::temp_directory_path() /
                         fmt::format("jina3-test-{}-{}-{:08x}", ::getpid(), counter++, random());
    if (fs::create_directory(candidate)) {
      path_ = candidate;
      return;
    }
  }
  FAIL("cannot create a temporary directory");
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

PackageCopy::PackageCopy(const fs::path& source, const std::vector<std::string>& copy_files) {
  for (const auto& entry : fs::directory_iterator(source)) {
    const std::string name = entry.path().filename().string();
    const bool copy = name == "manifest.json" ||
                      std::find(copy_files.begin(), copy_files.end(), name) != copy_files.end();
    if (copy) fs::copy_file(entry.path(), path() / name);
    else fs::create_symlink(fs::absolute(entry.path()), path() / name);
  }
}

json::Value PackageCopy::manifest() const { return json::parse(read_text(path() / "manifest.json")); }

void PackageCopy::write_manifest(const json::Value& manifest) const { write_manifest_text(to_json(manifest)); }

void PackageCopy::write_manifest_text(const std::string& text) const {
  std::ofstream out(path() / "manifest.json", std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) FAIL("cannot write manifest.json");
}

void PackageCopy::edit_manifest(const std::string& key, const std::function<json::Value(const json::Value*)>& edit) const {
  json::Value root = manifest();
  auto found = root.find(key);
  json::Value replacement = edit(found == root.end() ? nullptr : &*found);
  if (!replacement.is_null()) root[key] = std::move(replacement);  // ordered_json: an existing key keeps its place
  else if (found != root.end()) root.erase(found);
  write_manifest(root);
}

void PackageCopy::refresh_checksum(const std::string& name) const {
  std::uint64_t size = 0;
  const std::string digest = sha256_file_hex((path() / name).string(), &size);
  edit_manifest("files", [&](const json::Value* files) {
    json::Value entries = *files;
    entries[name] = json::Value::object({{"sha256", digest}, {"size", size}});
    return entries;
  });
}

std::string to_json(const json::Value& value) { return value.dump(2); }

json::Value json_string(const std::string& text) { return json::Value(text); }
json::Value json_int(std::int64_t value) { return json::Value(value); }

double max_abs_diff(const float* a, const float* b, std::size_t n) {
  double worst = 0.0;
  for (std::size_t i = 0; i < n; ++i) worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - b[i]));
  return worst;
}

double max_abs_diff(const float* a, const std::vector<float>& b) { return max_abs_diff(a, b.data(), b.size()); }

double cosine(const float* a, const float* b, std::size_t n) {
  double dot = 0.0, norm_a = 0.0, norm_b = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    norm_a += static_cast<double>(a[i]) * a[i];
    norm_b += static_cast<double>(b[i]) * b[i];
  }
  return dot / std::sqrt(norm_a * norm_b);
}

double cosine(const float* a, const std::vector<float>& b) { return cosine(a, b.data(), b.size()); }

double relative_diff(const float* a, const float* b, std::size_t n) {
  double largest = 0.0;
  for (std::size_t i = 0; i < n; ++i) largest = std::max(largest, std::fabs(static_cast<double>(b[i])));
  return max_abs_diff(a, b, n) / (largest > 0.0 ? largest : 1.0);
}

std::string describe_task(Task task) { return task == Task::None ? std::string("none") : to_string(task); }

std::size_t prompt_token_count(const Encoder& encoder, Task task) {
  if (encoder.prompt(task).empty()) return 0;
  return encoder.tokenize({std::string()}, task)[0].size() - 2;
}

std::vector<double> pooled(const TokenEmbeddings& tokens, std::pair<std::size_t, std::size_t> rows, std::size_t dims,
                           bool normalize) {
  std::vector<double> sum(dims, 0.0);
  for (std::size_t t = rows.first; t < rows.second; ++t) {
    for (std::size_t d = 0; d < dims; ++d) sum[d] += tokens.embeddings[t * tokens.hidden + d];
  }
  for (double& v : sum) v /= static_cast<double>(rows.second - rows.first);
  if (normalize) {
    double norm = 0.0;
    for (double v : sum) norm += v * v;
    norm = std::sqrt(norm);
    for (double& v : sum) v /= norm;
  }
  return sum;
}

const std::vector<std::string> kMixedTexts = {
    "The cat sat on the mat.",
    "Machine learning turns data into predictions.",
    "Wie spät ist es?",
    "",
    "日本語のテキストも埋め込めます。",
    "A somewhat longer sentence that has quite a few more tokens than the others in this list, to force padding.",
    "ok",
};

const std::vector<Task> kAllTasks = {Task::None, Task::RetrievalQuery, Task::RetrievalPassage, Task::Separation,
                                     Task::Classification, Task::TextMatching};

const std::vector<std::string> kChunkTexts = {
    "Late chunking embeds a whole document first. Then each chunk is pooled from its own tokens! Does it help? "
    "The paper says so. I have 3.5 apples and Dr. Smith has none.",
    "Grüße aus München! Das Wetter ist heute wunderschön. Příliš žluťoučký kůň úpěl ďábelské ódy?  Ende.",
    "多语言模型在许多语言之间共享一个词表。 Многоязычные модели используют общий словарь. Fin",
    "   leading spaces,   inner   runs\tand a tab. Last words   ",
    "One sentence without a final mark",
};

}  // namespace jina3::test
