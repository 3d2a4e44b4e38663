// What a model package holds, read from its manifest without loading the model.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <jina3/export.hpp>
#include <jina3/task.hpp>

namespace jina3 {

// A package's manifest.json (see docs/package-format.md), as the Encoder would read it.
struct PackageInfo {
  std::string path;  // the package directory as given
  int format_version = 0;
  std::string model_name;
  std::string jina3_version;  // of the exporter that wrote it
  std::string torch_version;  // of the PyTorch it was exported with
  DType dtype = DType::Float32;  // as stored; never Auto
  int hidden_size = 0;           // full embedding size
  int num_layers = 0;
  int num_heads = 0;
  int intermediate_size = 0;
  int vocab_size = 0;
  int max_length = 0;              // tokens per text, <s> and </s> included
  std::vector<Task> tasks;         // the LoRA adapters it has
  std::map<Task, std::string> prompts;  // each task's instruction ("" for none)
  std::vector<int> dims;           // Matryoshka dims, ascending, the last == hidden_size
  std::map<std::string, std::uint64_t> files;  // each file the manifest lists, and its size in bytes
};

// Reads and checks the manifest of the package directory at path and that every file it lists is
// present with its recorded size, as loading an Encoder does first; it neither hashes the files
// nor loads the model, so it takes milliseconds whatever the package's size. Throws ModelNotFound,
// ModelInvalid or VersionMismatch, as the Encoder's constructor would for the same faults.
JINA3_EXPORT PackageInfo read_package_info(const std::string& path);

}  // namespace jina3
