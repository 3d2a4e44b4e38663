// Errors at load time: bad encoder options, and every kind of missing, corrupt or incompatible
// package, each with its typed error and a useful message. (A call's bad arguments: test_prepare.cpp.)
#include <catch2/catch.hpp>

#include <fstream>

#include "support.hpp"

using namespace jina3;
using namespace jina3::test;

namespace {

// json::Value is nlohmann::ordered_json: a replaced key keeps its place, a new one goes last.
json::Value with_member(json::Value object, const std::string& key, json::Value value) {
  object[key] = std::move(value);
  return object;
}

void write_garbage(const fs::path& file, std::size_t size) {
  fs::remove(file);
  std::ofstream out(file, std::ios::binary);
  for (std::size_t i = 0; i < size; ++i) out.put(static_cast<char>((i * 7919u + 13u) >> 3));
}

}  // namespace

TEST_CASE("encoder options out of range are InvalidArgument", "[errors]") {
  const std::string path = package_dir("float32").string();
  EncoderOptions options;
  options.num_threads = -1;
  CHECK_THROWS_AS(Encoder(path, options), InvalidArgument);
  options = {};
  options.max_batch_tokens = -1;
  CHECK_THROWS_AS(Encoder(path, options), InvalidArgument);
  options = {};
  options.max_batch_size = -1;
  CHECK_THROWS_AS(Encoder(path, options), InvalidArgument);
  options = {};
  options.dtype = static_cast<DType>(17);
  CHECK_THROWS_AS(Encoder(path, options), InvalidArgument);
  options = {};
  options.device = static_cast<Device>(5);
  CHECK_THROWS_AS(Encoder(path, options), InvalidArgument);
}

TEST_CASE("missing package or package files are ModelNotFound", "[errors]") {
  TempDir dir;
  require_error<ModelNotFound>([&] { Encoder((dir.path() / "nope").string()); }, {"nope", "does not exist"});
  require_error<ModelNotFound>([&] { Encoder(""); }, {"does not exist"});
  require_error<ModelNotFound>([&] { Encoder(dir.path().string()); }, {"manifest.json"});  // empty dir
  std::ofstream(dir.path() / "file") << "x";
  require_error<ModelNotFound>([&] { Encoder((dir.path() / "file").string()); }, {"not a directory"});

  for (const char* name : {"backbone.pt", "tokenizer.model"}) {
    INFO(name);
    PackageCopy copy(package_dir("float32"));
    fs::remove(copy.path() / name);
    require_error<ModelNotFound>([&] { Encoder(copy.str()); }, {name});
  }
  PackageCopy no_manifest(package_dir("float32"));
  fs::remove(no_manifest.path() / "manifest.json");
  require_error<ModelNotFound>([&] { Encoder(no_manifest.str()); }, {"manifest.json"});
}

TEST_CASE("corrupt files are ModelInvalid naming the file", "[errors]") {
  SECTION("backbone.pt of garbage with a matching checksum") {
    PackageCopy copy(package_dir("float32"));
    write_garbage(copy.path() / "backbone.pt", 100000);
    copy.refresh_checksum("backbone.pt");
    require_error<ModelInvalid>([&] { Encoder(copy.str()); }, {"backbone.pt", "TorchScript"});
  }
  SECTION("backbone.pt truncated, checksum updated") {
    PackageCopy copy(package_dir("float32"), {"backbone.pt"});
    const auto file = copy.path() / "backbone.pt";
    fs::resize_file(file, fs::file_size(file) / 2);
    copy.refresh_checksum("backbone.pt");
    require_error<ModelInvalid>([&] { Encoder(copy.str()); }, {"backbone.pt"});
  }
  SECTION("tokenizer.model of garbage with a matching checksum") {
    PackageCopy copy(package_dir("float32"));
    write_garbage(copy.path() / "tokenizer.model", 5000);
    copy.refresh_checksum("tokenizer.model");
    require_error<ModelInvalid>([&] { Encoder(copy.str()); }, {"tokenizer.model"});
  }
  SECTION("checksum mismatch") {
    PackageCopy copy(package_dir("float32"), {"tokenizer.model"});
    {
      // Same size, one byte changed.
      std::fstream file(copy.path() / "tokenizer.model", std::ios::in | std::ios::out | std::ios::binary);
      file.seekg(1000);
      char byte = 0;
      file.get(byte);
      file.seekp(1000);
      file.put(static_cast<char>(byte ^ 0x5A));
    }
    require_error<ModelInvalid>([&] { Encoder(copy.str()); }, {"tokenizer.model", "SHA-256"});
  }
  SECTION("size mismatch") {
    PackageCopy copy(package_dir("float32"), {"tokenizer.model"});
    std::ofstream(copy.path() / "tokenizer.model", std::ios::app | std::ios::binary) << "extra";
    require_error<ModelInvalid>([&] { Encoder(copy.str()); }, {"tokenizer.model", "bytes"});
  }
}

namespace {

// A copy of the float32 package whose manifest has key set to value must fail to load with
// ModelInvalid naming every part.
void manifest_with(const std::string& key, const json::Value& value, std::initializer_list<std::string> parts) {
  PackageCopy copy(package_dir("float32"));
  copy.edit_manifest(key, [&](const json::Value*) { return value; });
  require_error<ModelInvalid>([&] { Encoder(copy.str()); }, parts);
}

}  // namespace

TEST_CASE("bad manifests are ModelInvalid naming the key", "[errors]") {
  SECTION("not JSON") {
    PackageCopy copy(package_dir("float32"));
    copy.write_manifest_text("{\"format\": \"jina3.package\",");
    require_error<ModelInvalid>([&] { Encoder(copy.str()); }, {"manifest.json", "JSON"});
  }
  SECTION("not an object") {
    PackageCopy copy(package_dir("float32"));
    copy.write_manifest_text("[1, 2]");
    require_error<ModelInvalid>([&] { Encoder(copy.str()); }, {"manifest.json", "object"});
  }
  for (const char* key : {"format", "format_version", "torch_version", "dtype", "hidden_size", "tasks", "prompts",
                          "matryoshka_dims", "max_length", "special_ids", "spm_id_offset", "files", "vocab_size"}) {
    DYNAMIC_SECTION("missing " << key) {
      PackageCopy copy(package_dir("float32"));
      copy.edit_manifest(key, [](const json::Value*) { return json::Value(); });
      require_error<ModelInvalid>([&] { Encoder(copy.str()); }, {std::string("\"") + key + "\"", "missing"});
    }
  }
  SECTION("wrong type") { manifest_with("hidden_size", json_string("64"), {"hidden_size", "string"}); }
  SECTION("missing nested key") {
    PackageCopy copy(package_dir("float32"));
    copy.edit_manifest("special_ids", [](const json::Value* ids) {
      json::Value kept = *ids;
      kept.erase("eos");
      return kept;
    });
    require_error<ModelInvalid>([&] { Encoder(copy.str()); }, {"special_ids.eos"});
  }
  SECTION("unknown task name") {
    manifest_with("tasks", json::Value::array({json_string("summarisation")}), {"tasks[0]", "summarisation"});
  }
  SECTION("unknown dtype") { manifest_with("dtype", json_string("float8"), {"dtype", "float8"}); }
  SECTION("another format") { manifest_with("format", json_string("onnx"), {"format", "onnx"}); }
  SECTION("matryoshka dims not ending at hidden_size") {
    PackageCopy copy(package_dir("float32"));
    const std::int64_t hidden = copy.manifest().at("hidden_size").get<std::int64_t>();
    copy.edit_manifest("matryoshka_dims", [&](const json::Value*) {
      return json::Value::array({json_int(hidden / 4), json_int(hidden / 2)});
    });
    require_error<ModelInvalid>([&] { Encoder(copy.str()); }, {"matryoshka_dims"});
  }
  SECTION("a file entry that is a path") {
    PackageCopy copy(package_dir("float32"));
    json::Value manifest = copy.manifest();
    json::Value files = *manifest.find("files");
    json::Value entry = *files.find("backbone.pt");
    copy.write_manifest(with_member(manifest, "files", with_member(files, "../backbone.pt", entry)));
    require_error<ModelInvalid>([&] { Encoder(copy.str()); }, {"../backbone.pt"});
  }
  SECTION("vocab_size too small for the tokenizer") {
    PackageCopy copy(package_dir("float32"));
    json::Value manifest = copy.manifest();
    manifest = with_member(manifest, "vocab_size", json_int(1000));
    manifest = with_member(manifest, "special_ids",
                           json::Value::object({{"bos", json_int(0)}, {"pad", json_int(1)}, {"eos", json_int(2)},
                                                {"unk", json_int(3)}, {"mask", json_int(999)}}));
    copy.write_manifest(manifest);
    require_error<ModelInvalid>([&] { Encoder(copy.str()); }, {"tokenizer.model", "vocab_size"});
  }
  SECTION("hidden_size that the backbone does not produce") {
    PackageCopy copy(package_dir("float32"));
    json::Value manifest = copy.manifest();
    const std::int64_t half = manifest.at("hidden_size").get<std::int64_t>() / 2;
    manifest = with_member(manifest, "hidden_size", json_int(half));
    manifest = with_member(manifest, "matryoshka_dims", json::Value::array({json_int(half)}));
    copy.write_manifest(manifest);
    require_error<ModelInvalid>([&] { Encoder(copy.str()); }, {"backbone.pt", "forward returned"});
  }
}

TEST_CASE("unreadable package versions are VersionMismatch", "[errors]") {
  constexpr int kNext = JINA3_PACKAGE_FORMAT_VERSION + 1;
  SECTION("the next format_version") {
    PackageCopy copy(package_dir("float32"));
    copy.edit_manifest("format_version", [](const json::Value*) { return json_int(kNext); });
    require_error<VersionMismatch>([&] { Encoder(copy.str()); },
                                   {"format version " + std::to_string(kNext),
                                    "version " + std::to_string(JINA3_PACKAGE_FORMAT_VERSION)});
  }
  SECTION("the previous format_version (packages from jina3 0.1 before its operators)") {
    PackageCopy copy(package_dir("float32"));
    copy.edit_manifest("format_version", [](const json::Value*) { return json_int(kNext - 2); });
    require_error<VersionMismatch>([&] { Encoder(copy.str()); }, {"format version " + std::to_string(kNext - 2)});
  }
  SECTION("the next format_version is reported even when other keys changed") {
    PackageCopy copy(package_dir("float32"));
    copy.write_manifest_text(R"({"format": "jina3.package", "format_version": )" + std::to_string(kNext) +
                             R"(, "torch_version": "1.13.1"})");
    CHECK_THROWS_AS(Encoder(copy.str()), VersionMismatch);
  }
  SECTION("torch 99.0") {
    PackageCopy copy(package_dir("float32"));
    copy.edit_manifest("torch_version", [](const json::Value*) { return json_string("99.0"); });
    require_error<VersionMismatch>([&] { Encoder(copy.str()); }, {"99.0"});
  }
  SECTION("an older torch is fine") {
    PackageCopy copy(package_dir("float32"));
    copy.edit_manifest("torch_version", [](const json::Value*) { return json_string("1.10.2+cpu"); });
    CHECK(Encoder(copy.str()).hidden_size() > 0);
  }
  SECTION("a torch_version that is no version") {
    PackageCopy copy(package_dir("float32"));
    copy.edit_manifest("torch_version", [](const json::Value*) { return json_string("latest"); });
    require_error<ModelInvalid>([&] { Encoder(copy.str()); }, {"torch_version", "latest"});
  }
}

TEST_CASE("unavailable devices and dtypes are DeviceError", "[errors]") {
  const std::string float32 = package_dir("float32").string();
  const std::string int8 = package_dir("int8").string();
  EncoderOptions options;

  SECTION("CUDA") {
    // This build may or may not have a usable GPU: either it works (and agrees with the CPU) or it
    // is a DeviceError. A device index past the last GPU is always a DeviceError.
    options.device = Device::CUDA;
    bool cuda = false;
    try {
      Encoder gpu(float32, options);
      cuda = true;
      CHECK(gpu.device() == Device::CUDA);
      Embeddings a = gpu.encode({"on the GPU"}, Task::RetrievalQuery);
      Embeddings b = shared_encoder("float32").encode({"on the GPU"}, Task::RetrievalQuery);
      CHECK(cosine(a.row(0), b.row(0), a.dims) >= 0.99999);
    } catch (const DeviceError& e) {
      CHECK_THAT(e.what(), Catch::Contains("CUDA"));
    }
    std::printf("CUDA %s in this build\n", cuda ? "is usable" : "is not usable");
    options.device_index = 99;
    CHECK_THROWS_AS(Encoder(float32, options), DeviceError);
    options.device_index = -1;
    CHECK_THROWS_AS(Encoder(float32, options), DeviceError);
  }
  SECTION("int8 is chosen at export time") {
    options.dtype = DType::Int8;
    require_error<DeviceError>([&] { Encoder(float32, options); }, {"int8"});
    options.dtype = DType::Float32;
    require_error<DeviceError>([&] { Encoder(int8, options); }, {"int8", "float32"});
    options.dtype = DType::Auto;
    options.device = Device::CUDA;
    require_error<DeviceError>([&] { Encoder(int8, options); }, {"int8"});
  }
  SECTION("float16 on the CPU") {
    options.dtype = DType::Float16;
    require_error<DeviceError>([&] { Encoder(float32, options); }, {"float16"});
  }
}
