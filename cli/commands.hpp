// The subcommands of the jina3 tool. Each add_*_command registers its arguments on the app
// (parsing into the args struct, which must outlive the parse); each run_* returns the exit code,
// or throws UsageError, IoError or a jina3::Error that main() maps to one (errors.hpp).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <jina3/options.hpp>

namespace jina3_cli {

// Texts per block: read, embedded and written together. Memory is proportional to it, not to the
// input; large blocks let the library sort more texts by length into forward passes.
constexpr int kDefaultBlockSize = 2048;

// How the texts of INPUT are read; see text_input.hpp. With no --format, a file's suffix says
// (.jsonl: JSONL, anything else: one text per line) and "-" is plain lines.
struct InputArgs {
  std::string input;
  std::string format;  // "", "text" or "jsonl"
  std::string field = "text";
};

struct EmbedArgs {
  std::string package;
  InputArgs in;
  std::string output = "-";
  std::string task;
  int dims = 0;
  std::string precision = "float32";
  std::string encoding = "numbers";
  std::string ranges;       // --ranges FILE.npy: int8/uint8 ranges (2 x dims float32)
  std::string save_ranges;  // --save-ranges FILE.npy: the ranges used, for later runs
  int block_size = kDefaultBlockSize;
  bool quiet = false;
  jina3::EncoderOptions encoder_options;  // the options tables' flags (arguments.hpp)
  jina3::EncodeOptions encode_options;
};

struct ChunkArgs {
  std::string package;
  InputArgs in;
  std::string output = "-";
  std::string task = "retrieval.passage";
  int dims = 0;
  std::optional<int> sentences;
  std::optional<int> chunk_tokens;
  std::string spans_field;  // JSONL key of each text's spans ([[start, end], ...] in characters)
  std::optional<int> window;
  std::optional<int> overlap;
  bool normalize = true;
  bool include_special_tokens = true;
  std::string encoding = "numbers";
  int block_size = 64;
  jina3::EncoderOptions encoder_options;
};

struct InfoArgs {
  std::string package;
};

struct TokenizeArgs {
  std::string package;
  std::string task;
  std::vector<std::string> texts;
  bool offsets = false;
  jina3::EncoderOptions encoder_options;
  jina3::EncodeOptions encode_options;
};

CLI::App* add_embed_command(CLI::App& app, EmbedArgs& args);
CLI::App* add_chunk_command(CLI::App& app, ChunkArgs& args);
CLI::App* add_info_command(CLI::App& app, InfoArgs& args);
CLI::App* add_tokenize_command(CLI::App& app, TokenizeArgs& args);

int run_embed(const EmbedArgs& args);
int run_chunk(const ChunkArgs& args);
int run_info(const InfoArgs& args);
int run_tokenize(const TokenizeArgs& args);

// The INPUT, --format and --field options every command that reads texts takes.
void add_input_options(CLI::App* cmd, InputArgs& args);

// Adds an integer option that must be at least min_value.
void add_int_option(CLI::App* cmd, const std::string& name, int& value, int min_value, const std::string& help);
void add_int_option(CLI::App* cmd, const std::string& name, std::optional<int>& value, int min_value,
                    const std::string& help);

}  // namespace jina3_cli
