// The model package on disk: manifest.json parsed and checked, file paths, checksums.
// See docs/package-format.md for the contract.
#pragma once

#include <cstdint>
#include <future>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <jina3/task.hpp>

namespace jina3 {

struct SpecialIds {
  int bos = 0;
  int pad = 1;
  int eos = 2;
  int unk = 3;
  int mask = 250001;
};

struct PackageFile {
  std::string sha256;  // 64 lower-case hex digits
  std::uint64_t size = 0;
};

struct Manifest {
  int format_version = 0;
  std::string model_name;
  std::string jina3_version;
  std::string torch_version;
  DType dtype = DType::Float32;  // as stored; never Auto
  bool jina3_kernels = false;    // backbone.pt calls jina3's operators (optional key; informational)
  int hidden_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int intermediate_size = 0;
  int vocab_size = 0;
  std::vector<Task> tasks;                // adapter-index order
  std::map<Task, std::string> prompts;    // one per entry of tasks
  std::vector<int> matryoshka_dims;       // ascending, last == hidden_size
  int max_length = 0;                     // tokens per text, specials included
  SpecialIds special_ids;
  int spm_id_offset = 0;
  std::map<std::string, PackageFile> files;
};

// Parses and checks manifest text. `source` names the file in messages. Throws ModelInvalid
// (bad JSON, missing/mistyped/out-of-range key, named) or VersionMismatch (format_version, or a
// torch_version newer than the linked LibTorch).
Manifest parse_manifest(std::string_view text, const std::string& source);

// True when a package exported with torch `version` ("1.13.1", "2.1.0+cu121", ...) can be read by
// a LibTorch of major.minor linked_major.linked_minor. Throws ModelInvalid if version is not of
// the form major.minor[...].
bool torch_version_readable(std::string_view version, int linked_major, int linked_minor, const std::string& source);

struct Package {
  std::string path;  // the package directory as given
  Manifest manifest;
  std::string backbone_path;
  std::string tokenizer_path;
};

// Loads the manifest of the package directory at `path` and checks that every file it lists is
// present with the recorded size and (if verify_checksums) SHA-256.
// Throws ModelNotFound (directory or file missing), ModelInvalid, VersionMismatch.
Package load_package(const std::string& path, bool verify_checksums);

// Starts the SHA-256 check of every file `package` lists on another thread, for a package from
// load_package(path, false); get() on the result waits and throws ModelInvalid for the first file
// (in name order) that does not match or cannot be read. The check copies what it needs: `package`
// may be moved or destroyed meanwhile. The encoder does not use it (load_package verifies before
// anything is read); the tests and the manifest fuzzer check packages with it.
std::future<void> start_checksum_check(const Package& package);

}  // namespace jina3
