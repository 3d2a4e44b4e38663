// Encoder loading and argument checks shared by the subcommands; see encoder_setup.hpp.
#include "encoder_setup.hpp"

#include <algorithm>
#include <vector>

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

jina3::EncoderOptions base_encoder_options(const std::string& device, bool no_verify) {
  jina3::EncoderOptions options;
  try {
    options.device = jina3::device_from_string(device, &options.device_index);
  } catch (const jina3::InvalidArgument& e) {
    throw UsageError(fmt::format("--device: {}", e.what()));
  }
  options.verify_checksums = !no_verify;
  return options;
}

void check_task_and_options(const jina3::Encoder& encoder, jina3::Task task, const jina3::EncodeOptions& options) {
  const auto& tasks = encoder.tasks();
  if (task != jina3::Task::None && std::find(tasks.begin(), tasks.end(), task) == tasks.end()) {
    std::vector<std::string> names;
    for (jina3::Task t : tasks) names.emplace_back(jina3::to_string(t));
    throw UsageError(fmt::format("--task {}: this package has no such adapter (it has: {})", jina3::to_string(task),
                                 fmt::join(names, ", ")));
  }
  // The library judges the options (a max_length above the package's, ...) when it tokenises:
  // one empty text shows whether it accepts them, before any input is read.
  try {
    encoder.tokenize({std::string()}, task, options);
  } catch (const jina3::InvalidArgument& e) {
    throw UsageError(e.what());
  } catch (const jina3::InputTooLong& e) {
    throw UsageError(e.what());
  }
}

}  // namespace jina3_cli
