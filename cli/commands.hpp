// The subcommands of the jina3 tool. Each returns the exit code, or throws UsageError, IoError
// or a jina3::Error that main() maps to one (errors.hpp).
#pragma once

#include <string>
#include <vector>

#include <jina3/options.hpp>

namespace jina3_cli {

// Texts per block: read, embedded and written together. Memory is proportional to it, not to the
// input; large blocks let the library sort more texts by length into forward passes.
constexpr int kDefaultBlockSize = 2048;

struct EmbedArgs {
  std::string package;
  std::string input;
  std::string output;
  std::string task;
  int dims = 0;
  std::string precision = "float32";
  std::string field = "text";
  int block_size = kDefaultBlockSize;
  bool quiet = false;
  jina3::EncoderOptions encoder_options;  // the options tables' flags (arguments.hpp)
  jina3::EncodeOptions encode_options;
};

struct InfoArgs {
  std::string package;
  jina3::EncoderOptions encoder_options;
};

struct TokenizeArgs {
  std::string package;
  std::string task;
  std::vector<std::string> texts;
  jina3::EncoderOptions encoder_options;
  jina3::EncodeOptions encode_options;
};

int run_embed(const EmbedArgs& args);
int run_info(const InfoArgs& args);
int run_tokenize(const TokenizeArgs& args);

}  // namespace jina3_cli
