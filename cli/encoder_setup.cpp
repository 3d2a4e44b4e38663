// Argument handling shared by the subcommands; see encoder_setup.hpp.
#include "encoder_setup.hpp"

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

}  // namespace jina3_cli
