// What the subcommands share about loading an encoder and checking the arguments it judges.
#pragma once

#include <string>

#include <jina3/jina3.hpp>

namespace jina3_cli {

// A --task value ("" or "none" for no task). Throws UsageError listing the valid names.
jina3::Task parse_task(const std::string& name);

// Load options for --device and --no-verify. Throws UsageError for a bad device name.
jina3::EncoderOptions base_encoder_options(const std::string& device, bool no_verify);

// After loading: the package must have task's adapter, and the encode options (--max-length)
// must be acceptable to it. Throws UsageError.
void check_task_and_options(const jina3::Encoder& encoder, jina3::Task task, const jina3::EncodeOptions& options);

}  // namespace jina3_cli
