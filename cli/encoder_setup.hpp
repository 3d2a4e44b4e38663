// What the subcommands share about the arguments the library judges, and loading the encoder.
#pragma once

#include <string>

#include <jina3/jina3.hpp>

namespace jina3_cli {

// A --task value ("" or "none" for no task). Throws UsageError listing the valid names. Whether
// the package has the task's adapter is Encoder::check's to say, once the package is loaded.
jina3::Task parse_task(const std::string& name);

// Loads the package as every engine command does (embed, chunk, tokenize, serve) and prints the
// kernel report's notice, if any, to standard error once: "jina3: note: bfloat16 is emulated on
// this CPU ...". Throws what the Encoder's constructor throws.
jina3::Encoder load_encoder(const std::string& package, const jina3::EncoderOptions& options);

}  // namespace jina3_cli
