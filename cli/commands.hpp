// The subcommands of the jina3 tool. Each returns the exit code, or throws UsageError, IoError
// or a jina3::Error that main() maps to one (errors.hpp).
#pragma once

#include <string>
#include <vector>

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
  int batch_size = 0;
  int block_size = kDefaultBlockSize;
  int threads = 0;
  int max_length = 0;
  std::string device = "cpu";
  bool no_verify = false;
  bool quiet = false;
};

struct InfoArgs {
  std::string package;
  bool no_verify = false;
};

struct TokenizeArgs {
  std::string package;
  std::string task;
  int max_length = 0;
  std::vector<std::string> texts;
  bool no_verify = false;
};

int run_embed(const EmbedArgs& args);
int run_info(const InfoArgs& args);
int run_tokenize(const TokenizeArgs& args);

}  // namespace jina3_cli
