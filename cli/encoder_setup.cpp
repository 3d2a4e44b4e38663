// Argument handling shared by the subcommands; see encoder_setup.hpp.
#include "encoder_setup.hpp"

#include <iostream>

#include <fmt/format.h>

#include "errors.hpp"

namespace jina3_cli {

jina3::Task parse_task(const std::string& name) {
  try {
    return jina3::task_from_string(name);
  } catch (const jina3::InvalidArgument& e) {
    throw UsageError(fmt::format("--task: {}", e.what()));
  }
}

jina3::Encoder load_encoder(const std::string& package, const jina3::EncoderOptions& options) {
  jina3::Encoder encoder(package, options);
  const std::string notice = encoder.kernels().notice;
  if (!notice.empty()) std::cerr << "jina3: note: " << notice << std::endl;
  return encoder;
}

}  // namespace jina3_cli
