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

#include "sha256.hpp"

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
  return value.is_null() ? Task::None : task_from_string(value.as_string());
}

std::vector<std::int32_t> int_list(const json::Value& value) {
  std::vector<std::int32_t> out;
  for (const auto& item : value.as_array()) out.push_back(static_cast<std::int32_t>(item.as_int()));
  return out;
}

std::vector<float> float_list(const json::Value& value) {
  std::vector<float> out;
  for (const auto& item : value.as_array()) out.push_back(static_cast<float>(item.as_double()));
  return out;
}

Reference load_reference() {
  const fs::path file = test_data_dir() / "reference.json";
  json::Value root = json::parse(read_text(file));
  Reference ref;
  for (const auto& text : root.find("texts")->as_array()) ref.texts.push_back(text.as_string());
  ref.hidden_size = static_cast<int>(root.find("hidden_size")->as_int());
  for (const auto& d : root.find("matryoshka_dims")->as_array()) ref.matryoshka_dims.push_back(static_cast<int>(d.as_int()));
  ref.max_length = static_cast<int>(root.find("max_length")->as_int());
  for (const auto& member : root.find("prompts")->as_object()) {
    ref.prompts.emplace_back(task_from_string(member.key), member.value.as_string());
  }
  for (const auto& entry : root.find("token_ids")->as_array()) {
    std::vector<std::vector<std::int32_t>> ids;
    for (const auto& row : entry.find("ids")->as_array()) ids.push_back(int_list(row));
    ref.token_ids.emplace_back(task_of(*entry.find("task")), std::move(ids));
  }
  for (const auto& entry : root.find("cases")->as_array()) {
    ReferenceCase c;
    c.task = task_of(*entry.find("task"));
    c.dims = static_cast<int>(entry.find("dims")->as_int());
    c.normalize = entry.find("normalize")->as_bool();
    c.max_length = static_cast<int>(entry.find("max_length")->as_int());
    for (const auto& row : entry.find("embeddings")->as_array()) c.embeddings.push_back(float_list(row));
    ref.cases.push_back(std::move(c));
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
  if (!slot) slot = std::make_unique<Encoder>(package_dir(dtype).string());
  return *slot;
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
  std::vector<json::Member> members;
  bool seen = false;
  for (const auto& member : root.as_object()) {
    if (member.key != key) {
      members.push_back(member);
      continue;
    }
    seen = true;
    json::Value replacement = edit(&member.value);
    if (!replacement.is_null()) members.push_back(json::Member{key, std::move(replacement)});
  }
  if (!seen) {
    json::Value added = edit(nullptr);
    if (!added.is_null()) members.push_back(json::Member{key, std::move(added)});
  }
  write_manifest(json::Value::object(std::move(members)));
}

void PackageCopy::refresh_checksum(const std::string& name) const {
  std::uint64_t size = 0;
  const std::string digest = sha256_file_hex((path() / name).string(), &size);
  edit_manifest("files", [&](const json::Value* files) {
    std::vector<json::Member> entries;
    for (const auto& member : files->as_object()) {
      if (member.key == name) {
        entries.push_back(json::Member{
            name, json::Value::object({json::Member{"sha256", json_string(digest)},
                                       json::Member{"size", json_int(static_cast<std::int64_t>(size))}})});
      } else {
        entries.push_back(member);
      }
    }
    return json::Value::object(std::move(entries));
  });
}

namespace {

void write_json_string(std::string& out, const std::string& text) {
  out += '"';
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
        else out += c;
    }
  }
  out += '"';
}

void write_json(std::string& out, const json::Value& value) {
  switch (value.kind()) {
    case json::Kind::Null: out += "null"; break;
    case json::Kind::Bool: out += value.as_bool() ? "true" : "false"; break;
    case json::Kind::Number:
      out += value.is_integer() ? std::to_string(value.as_int()) : fmt::format("{}", value.as_double());
      break;
    case json::Kind::String: write_json_string(out, value.as_string()); break;
    case json::Kind::Array: {
      out += '[';
      bool first = true;
      for (const auto& item : value.as_array()) {
        if (!first) out += ", ";
        first = false;
        write_json(out, item);
      }
      out += ']';
      break;
    }
    case json::Kind::Object: {
      out += '{';
      bool first = true;
      for (const auto& member : value.as_object()) {
        if (!first) out += ", ";
        first = false;
        write_json_string(out, member.key);
        out += ": ";
        write_json(out, member.value);
      }
      out += '}';
      break;
    }
  }
}

}  // namespace

std::string to_json(const json::Value& value) {
  std::string out;
  write_json(out, value);
  return out;
}

json::Value json_string(const std::string& text) { return json::Value::string(text); }
json::Value json_int(std::int64_t value) { return json::Value::number(static_cast<double>(value), true, value); }

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

}  // namespace jina3::test
