// manifest.json: strict reading and validation; package files: presence, size and SHA-256.
#include "model/package.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <vector>

#include <fmt/format.h>
#include <torch/version.h>

#include <jina3/errors.hpp>
#include <jina3/version.hpp>

#include "util/json.hpp"
#include "util/sha256.hpp"

namespace fs = std::filesystem;

namespace jina3 {
namespace {

constexpr std::string_view kFormat = "jina3.package";
// A manifest is a few kilobytes; anything this large is not one.
constexpr std::uintmax_t kMaxManifestBytes = 16u << 20;

// An integer JSON value in [min, max], or nothing (also for a float like 1.0). nlohmann keeps
// integers above INT64_MAX as unsigned, so those are compared as such.
bool integer_in(const json::Value& value, std::int64_t min, std::int64_t max, std::int64_t& out) {
  if (value.is_number_unsigned()) {
    const auto u = value.get<std::uint64_t>();
    if (max < 0 || u > static_cast<std::uint64_t>(max)) return false;
    out = static_cast<std::int64_t>(u);
    return out >= min;
  }
  if (!value.is_number_integer()) return false;
  out = value.get<std::int64_t>();
  return out >= min && out <= max;
}

// Reads typed keys of one JSON object, naming the key (with its path) in every error.
class ObjectReader {
 public:
  using IsKind = bool (json::Value::*)() const noexcept;

  ObjectReader(const json::Value& object, std::string source, std::string prefix)
      : object_(object), source_(std::move(source)), prefix_(std::move(prefix)) {}

  [[noreturn]] void invalid(std::string_view key, std::string_view what) const {
    throw ModelInvalid(fmt::format("{}: key \"{}{}\" {}", source_, prefix_, key, what));
  }

  const json::Value& get(std::string_view key, IsKind is_kind, const char* kind_text) const {
    auto found = object_.find(std::string(key));
    if (found == object_.end()) invalid(key, "is missing");
    if (!((*found).*is_kind)()) invalid(key, fmt::format("must be {}, not {}", kind_text, found->type_name()));
    return *found;
  }

  std::string string(std::string_view key) const {
    return get(key, &json::Value::is_string, "a string").get<std::string>();
  }

  std::int64_t integer(std::string_view key, std::int64_t min, std::int64_t max) const {
    const json::Value& value = get(key, &json::Value::is_number, "an integer");
    if (!value.is_number_integer()) invalid(key, "must be an integer");
    std::int64_t result = 0;
    if (!integer_in(value, min, max, result)) invalid(key, fmt::format("is {}, outside [{}, {}]", value.dump(), min, max));
    return result;
  }

  int positive_int(std::string_view key) const {
    return static_cast<int>(integer(key, 1, std::numeric_limits<int>::max()));
  }

  const json::Value& array(std::string_view key) const { return get(key, &json::Value::is_array, "an array"); }
  const json::Value& object(std::string_view key) const { return get(key, &json::Value::is_object, "an object"); }

  ObjectReader child(std::string_view key) const {
    return ObjectReader(object(key), source_, fmt::format("{}{}.", prefix_, key));
  }

  const std::string& source() const { return source_; }

 private:
  const json::Value& object_;
  std::string source_;
  std::string prefix_;
};

DType manifest_dtype(const ObjectReader& reader) {
  std::string name = reader.string("dtype");
  if (name == "float32") return DType::Float32;
  if (name == "bfloat16") return DType::BFloat16;
  if (name == "float16") return DType::Float16;
  if (name == "int8") return DType::Int8;
  reader.invalid("dtype", fmt::format("is \"{}\"; expected \"float32\", \"bfloat16\", \"float16\" or \"int8\"", name));
}

// Onboarding messages: what a user who downloaded the Hugging Face model holds instead of a package.
constexpr std::string_view kExportCommand = "python3 -m jina3.export CHECKPOINT_DIR PACKAGE_DIR --dtype float32";
constexpr std::string_view kLfsPointerStart = "version https://git-lfs.github.com/spec/v1";
// A Git LFS pointer file is three short lines (about 130 bytes); only files this small are read.
constexpr std::uintmax_t kMaxLfsPointerBytes = 1024;

std::string lfs_remedy() {
  return "fetch the real file with `git lfs pull` in the cloned repository (after `git lfs install`), or "
         "download the repository with `huggingface-cli download REPO --local-dir DIR`";
}

// True when file is a Git LFS pointer: a small text file starting with the LFS spec line, left in
// place of the real file by a clone without git-lfs.
bool is_lfs_pointer(const fs::path& file) {
  std::error_code error;
  const std::uintmax_t size = fs::file_size(file, error);
  if (error || size < kLfsPointerStart.size() || size > kMaxLfsPointerBytes) return false;
  std::ifstream in(file, std::ios::binary);
  std::string start(kLfsPointerStart.size(), '\0');
  if (!in.read(start.data(), static_cast<std::streamsize>(start.size()))) return false;
  return start == kLfsPointerStart;
}

std::string lfs_pointer_message(const fs::path& file) {
  std::error_code error;
  return fmt::format("{}: a Git LFS pointer ({} bytes), not the file itself; {}", file.string(),
                     fs::file_size(file, error), lfs_remedy());
}

// The error for a directory without manifest.json: a Hugging Face checkpoint (config.json plus
// weights) is named as one, with the export command; anything else gets the generic hint.
std::string missing_manifest_message(const fs::path& dir, const fs::path& manifest_file) {
  std::error_code error;
  if (fs::is_regular_file(dir / "config.json", error)) {
    std::vector<std::string> weights;
    std::string pointers;
    for (const char* name : {"model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                             "pytorch_model.bin.index.json"}) {
      if (!fs::is_regular_file(dir / name, error)) continue;
      weights.emplace_back(name);
      if (is_lfs_pointer(dir / name)) pointers += fmt::format("{}{}", pointers.empty() ? "" : ", ", name);
    }
    if (!weights.empty()) {
      std::string message = fmt::format(
          "{}: a Hugging Face checkpoint (config.json, {}), not a jina3 package (no manifest.json); convert it "
          "once with `{}` and load PACKAGE_DIR (README \"Converting the real model\")",
          dir.string(), weights.front(), kExportCommand);
      if (!pointers.empty()) {
        message += fmt::format(". Its {} is only a Git LFS pointer, not the weights: first {}", pointers, lfs_remedy());
      }
      return message;
    }
  }
  return fmt::format("{}: missing (not a jina3 package?; a package is made from the Hugging Face checkpoint with `{}`)",
                     manifest_file.string(), kExportCommand);
}

// Package file names are plain names inside the package directory, never paths.
bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos && name.find('\0') == std::string::npos;
}

bool is_lower_hex_sha256(const std::string& text) {
  return text.size() == 64 &&
         std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string read_manifest_text(const fs::path& file) {
  std::error_code error;
  std::uintmax_t size = fs::file_size(file, error);
  if (error) throw ModelInvalid(fmt::format("{}: cannot read: {}", file.string(), error.message()));
  if (size > kMaxManifestBytes) throw ModelInvalid(fmt::format("{}: {} bytes is too large for a manifest", file.string(), size));
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ModelInvalid(fmt::format("{}: cannot open: {}", file.string(), std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ModelInvalid(fmt::format("{}: read error", file.string()));
  if (text.str().rfind(kLfsPointerStart, 0) == 0) throw ModelInvalid(lfs_pointer_message(file));
  return text.str();
}

// Hashes each file (after load_package has checked that it exists with the right size).
void check_checksums(const fs::path& dir, const std::map<std::string, PackageFile>& files) {
  for (const auto& [name, expected] : files) {
    const fs::path file = dir / name;
    std::string actual;
    std::uint64_t size = 0;
    try {
      actual = sha256_file_hex(file.string(), &size);
    } catch (const std::runtime_error& e) {
      throw ModelInvalid(fmt::format("{}: {}", file.string(), e.what()));
    }
    if (size != expected.size) {
      throw ModelInvalid(fmt::format("{}: {} bytes read, manifest.json says {} (was the file changed while loading?)",
                                     file.string(), size, expected.size));
    }
    if (actual != expected.sha256) {
      throw ModelInvalid(fmt::format("{}: SHA-256 {} does not match manifest.json ({}); the file is corrupt or was changed",
                                     file.string(), actual, expected.sha256));
    }
  }
}

}  // namespace

bool torch_version_readable(std::string_view version, int linked_major, int linked_minor, const std::string& source) {
  // major.minor are the leading digit runs; whatever follows ("1", "0a0", "+cu121") is ignored.
  auto leading_number = [&](std::size_t& pos, int& out) {
    std::size_t start = pos;
    long value = 0;
    while (pos < version.size() && version[pos] >= '0' && version[pos] <= '9' && pos - start < 6) {
      value = value * 10 + (version[pos] - '0');
      ++pos;
    }
    out = static_cast<int>(value);
    return pos > start;
  };
  std::size_t pos = 0;
  int major = 0, minor = 0;
  bool ok = leading_number(pos, major) && pos < version.size() && version[pos] == '.' && leading_number(++pos, minor);
  if (!ok) {
    throw ModelInvalid(fmt::format("{}: key \"torch_version\" is \"{}\", not a version like \"1.13.1\"", source,
                                   std::string(version)));
  }
  return major < linked_major || (major == linked_major && minor <= linked_minor);
}

Manifest parse_manifest(std::string_view text, const std::string& source) {
  json::Value root;
  try {
    root = json::parse(text);
  } catch (const json::ParseError& e) {
    throw ModelInvalid(fmt::format("{}: not valid JSON: {}", source, e.what()));
  }
  if (!root.is_object()) throw ModelInvalid(fmt::format("{}: must hold a JSON object, not {}", source, root.type_name()));
  ObjectReader reader(root, source, "");
  Manifest m;

  // Identity and versions first: a package of another format version may differ in every other key.
  std::string format = reader.string("format");
  if (format != kFormat) reader.invalid("format", fmt::format("is \"{}\", expected \"{}\"", format, kFormat));
  m.format_version = static_cast<int>(reader.integer("format_version", 0, std::numeric_limits<int>::max()));
  if (m.format_version != JINA3_PACKAGE_FORMAT_VERSION) {
    throw VersionMismatch(fmt::format("{}: package format version {}; this jina3 ({}) reads version {} (export the "
                                      "checkpoint again with its jina3.export)", source, m.format_version,
                                      JINA3_VERSION_STRING, JINA3_PACKAGE_FORMAT_VERSION));
  }
  m.torch_version = reader.string("torch_version");
  if (!torch_version_readable(m.torch_version, TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, source)) {
    throw VersionMismatch(fmt::format(
        "{}: exported with torch {}, newer than the LibTorch {}.{} jina3 is linked with (TorchScript files of a "
        "newer torch may use operators this one lacks). Export the checkpoint again with the PyTorch that jina3 was "
        "built against ({}.{}.x), e.g. `{}` run by that Python (Debian: /usr/bin/python3 with python3-torch), or "
        "rebuild jina3 against torch {} (README \"GPU and other LibTorch builds\")",
        source, m.torch_version, TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR,
        kExportCommand, m.torch_version));
  }

  m.model_name = reader.string("model_name");
  m.jina3_version = reader.string("jina3_version");
  m.dtype = manifest_dtype(reader);
  if (const auto kernels = root.find("jina3_kernels"); kernels != root.end()) {
    if (!kernels->is_boolean()) {
      reader.invalid("jina3_kernels", fmt::format("must be a boolean, not {}", kernels->type_name()));
    }
    m.jina3_kernels = kernels->get<bool>();
  }
  m.hidden_size = reader.positive_int("hidden_size");
  m.num_layers = reader.positive_int("num_layers");
  m.num_heads = reader.positive_int("num_heads");
  m.intermediate_size = reader.positive_int("intermediate_size");
  m.vocab_size = reader.positive_int("vocab_size");
  if (m.hidden_size % m.num_heads != 0) reader.invalid("num_heads", "does not divide hidden_size");

  const json::Value& tasks = reader.array("tasks");
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    std::string key = fmt::format("tasks[{}]", i);
    if (!tasks[i].is_string()) reader.invalid(key, "must be a string");
    const auto& name = tasks[i].get_ref<const std::string&>();
    Task task;
    try {
      task = task_from_string(name);
    } catch (const InvalidArgument&) {
      reader.invalid(key, fmt::format("is \"{}\", not a jina-embeddings-v3 task", name));
    }
    if (task == Task::None) reader.invalid(key, "must name a task, not \"none\"");
    if (std::find(m.tasks.begin(), m.tasks.end(), task) != m.tasks.end()) reader.invalid(key, "repeats a task");
    m.tasks.push_back(task);
  }

  ObjectReader prompts = reader.child("prompts");
  for (Task task : m.tasks) m.prompts[task] = prompts.string(to_string(task));

  const json::Value& dims = reader.array("matryoshka_dims");
  if (dims.empty()) reader.invalid("matryoshka_dims", "is empty");
  for (std::size_t i = 0; i < dims.size(); ++i) {
    std::int64_t dim = 0;
    if (!integer_in(dims[i], 1, m.hidden_size, dim)) {
      reader.invalid(fmt::format("matryoshka_dims[{}]", i), "must be an integer in [1, hidden_size]");
    }
    int value = static_cast<int>(dim);
    if (!m.matryoshka_dims.empty() && value <= m.matryoshka_dims.back()) reader.invalid("matryoshka_dims", "is not strictly ascending");
    m.matryoshka_dims.push_back(value);
  }
  if (m.matryoshka_dims.back() != m.hidden_size) reader.invalid("matryoshka_dims", "must end with hidden_size");

  // <s> and </s> alone take two tokens.
  m.max_length = static_cast<int>(reader.integer("max_length", 2, std::numeric_limits<int>::max()));

  ObjectReader special = reader.child("special_ids");
  const std::int64_t last_id = m.vocab_size - 1;
  m.special_ids.bos = static_cast<int>(special.integer("bos", 0, last_id));
  m.special_ids.pad = static_cast<int>(special.integer("pad", 0, last_id));
  m.special_ids.eos = static_cast<int>(special.integer("eos", 0, last_id));
  m.special_ids.unk = static_cast<int>(special.integer("unk", 0, last_id));
  m.special_ids.mask = static_cast<int>(special.integer("mask", 0, last_id));
  m.spm_id_offset = static_cast<int>(reader.integer("spm_id_offset", 0, last_id));

  ObjectReader files = reader.child("files");
  for (const auto& member : reader.object("files").items()) {
    const std::string& name = member.key();
    if (!is_plain_file_name(name)) reader.invalid("files", fmt::format("lists \"{}\", not a plain file name", name));
    ObjectReader entry = files.child(name);
    PackageFile file;
    file.sha256 = entry.string("sha256");
    if (!is_lower_hex_sha256(file.sha256)) entry.invalid("sha256", "must be 64 lower-case hex digits");
    file.size = static_cast<std::uint64_t>(entry.integer("size", 0, std::numeric_limits<std::int64_t>::max()));
    m.files[name] = file;
  }
  for (const char* required : {"backbone.pt", "tokenizer.model"}) {
    if (!m.files.count(required)) reader.invalid("files", fmt::format("does not list \"{}\"", required));
  }
  return m;
}

Package load_package(const std::string& path, bool verify_checksums) {
  const fs::path dir(path);
  std::error_code error;
  if (path.empty() || !fs::exists(dir, error)) throw ModelNotFound(fmt::format("package directory \"{}\" does not exist", path));
  if (!fs::is_directory(dir, error)) throw ModelNotFound(fmt::format("package path \"{}\" is not a directory", path));
  const fs::path manifest_file = dir / "manifest.json";
  if (!fs::exists(manifest_file, error)) throw ModelNotFound(missing_manifest_message(dir, manifest_file));

  Package package;
  package.path = path;
  package.manifest = parse_manifest(read_manifest_text(manifest_file), manifest_file.string());
  package.backbone_path = (dir / "backbone.pt").string();
  package.tokenizer_path = (dir / "tokenizer.model").string();

  for (const auto& [name, expected] : package.manifest.files) {
    const fs::path file = dir / name;
    if (!fs::is_regular_file(file, error)) throw ModelNotFound(fmt::format("{}: missing from the package", file.string()));
    std::uint64_t size = fs::file_size(file, error);
    if (error) throw ModelInvalid(fmt::format("{}: cannot read: {}", file.string(), error.message()));
    if (size != expected.size) {
      if (is_lfs_pointer(file)) throw ModelInvalid(lfs_pointer_message(file));
      throw ModelInvalid(fmt::format("{}: {} bytes, manifest.json says {} (truncated or replaced file?)", file.string(),
                                     size, expected.size));
    }
  }
  if (verify_checksums) check_checksums(dir, package.manifest.files);
  return package;
}

std::future<void> start_checksum_check(const Package& package) {
  return std::async(std::launch::async,
                    [dir = fs::path(package.path), files = package.manifest.files] { check_checksums(dir, files); });
}

}  // namespace jina3
