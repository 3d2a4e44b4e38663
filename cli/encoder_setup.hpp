// What the subcommands share about the arguments the library judges.
#pragma once

#include <string>

#include <jina3/jina3.hpp>

namespace jina3_cli {

// A --task value ("" or "none" for no task). Throws UsageError listing the valid names. Whether
// the package has the task's adapter is Encoder::check's to say, once the package is loaded.
jina3::Task parse_task(const std::string& name);

}  // namespace jina3_cli
