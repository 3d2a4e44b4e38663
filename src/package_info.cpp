// read_package_info: the package reader (model/package.hpp) without the model; see
// include/jina3/package_info.hpp.
#include <jina3/package_info.hpp>

#include "model/package.hpp"

namespace jina3 {

PackageInfo read_package_info(const std::string& path) {
  Package package = load_package(path, /*verify_checksums=*/false);
  Manifest& manifest = package.manifest;
  PackageInfo info;
  info.path = package.path;
  info.format_version = manifest.format_version;
  info.model_name = std::move(manifest.model_name);
  info.jina3_version = std::move(manifest.jina3_version);
  info.torch_version = std::move(manifest.torch_version);
  info.dtype = manifest.dtype;
  info.hidden_size = manifest.hidden_size;
  info.num_layers = manifest.num_layers;
  info.num_heads = manifest.num_heads;
  info.intermediate_size = manifest.intermediate_size;
  info.vocab_size = manifest.vocab_size;
  info.max_length = manifest.max_length;
  info.tasks = std::move(manifest.tasks);
  info.prompts = std::move(manifest.prompts);
  info.dims = std::move(manifest.matryoshka_dims);
  for (const auto& [name, file] : manifest.files) info.files[name] = file.size;
  return info;
}

}  // namespace jina3
