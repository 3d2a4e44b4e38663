// jina3: jina-embeddings-v3 from the command line (embed, info, tokenize). See README.md,
// "Command line". C++ only, on libjina3's public API.
#include <cstdio>
#include <iostream>
#include <new>

#include <fmt/format.h>

#include <jina3/jina3.hpp>

#include "arguments.hpp"
#include "commands.hpp"
#include "errors.hpp"
#include "serve.hpp"

namespace jina3_cli {
namespace {

constexpr const char* kExitCodes = R"(Exit codes:
  0  success
  1  any other failure (out of memory, an internal error)
  2  usage: a bad option or value, or a task or dims the package does not have
  3  input or output: a file that cannot be read or written, or a bad input line (the message
     names the file and line)
  4  model: the package is missing or invalid, of a format this build cannot read, or cannot
     be loaded on the device)";

void add_int(CLI::App* app, const std::string& name, int& value, int min_value, const std::string& help) {
  app->add_option(name, value, help)->transform(jina3_args::decimal_at_least(min_value))->capture_default_str();
}

int run(int argc, char** argv) {
  CLI::App app("jina3 " + std::string(jina3::version()) + ": jina-embeddings-v3 embeddings from the command line",
               "jina3");
  app.footer(kExitCodes);  // before the subcommands, which copy it
  app.set_version_flag("--version", std::string(jina3::version()));
  app.require_subcommand(1);

  EmbedArgs embed;
  CLI::App* embed_cmd = app.add_subcommand(
      "embed", "Embed every text of INPUT into OUTPUT, block by block (memory does not grow with the input)");
  embed_cmd->add_option("PACKAGE", embed.package, "jina3 model package (a directory)")->required();
  embed_cmd->add_option("INPUT", embed.input,
                        "a .txt file (one text per line), a .jsonl file (one object per line, the text in --field), "
                        "or - for lines on standard input")
      ->required();
  embed_cmd->add_option("-o,--output", embed.output,
                        "a .npy file (float32, texts x dims), a .jsonl file (one {\"index\", \"id\", \"embedding\"} "
                        "object per text; id where the input line has one), or - for JSONL on standard output")
      ->required();
  embed_cmd->add_option("--task", embed.task,
                        "retrieval.query, retrieval.passage, separation, classification, text-matching, or none "
                        "(no adapter, no prompt; the default)");
  add_int(embed_cmd, "--dims", embed.dims, 0, "Matryoshka dims of the output; 0 = the full size");
  embed_cmd->add_option("--precision", embed.precision,
                        "output numbers: this tool writes float32 only (the library also offers float16, int8, "
                        "uint8, binary and ubinary; see README.md)")
      ->capture_default_str();
  embed_cmd->add_option("--field", embed.field, "JSONL key that holds the text")->capture_default_str();
  add_int(embed_cmd, "--block-size", embed.block_size, 1,
          "texts read, embedded and written together (memory grows with it; the library sorts each block by "
          "length)");
  embed_cmd->add_flag("-q,--quiet", embed.quiet,
                      "no progress line (shown on stderr only when stderr is a terminal)");
  jina3_args::add_encoder_option_flags(embed_cmd, embed.encoder_options);
  jina3_args::add_encode_option_flags(embed_cmd, embed.encode_options);

  InfoArgs info;
  CLI::App* info_cmd = app.add_subcommand("info", "Print what a package holds as JSON: tasks, dims, dtype, "
                                                  "max_length, prompts, format version");
  info_cmd->add_option("PACKAGE", info.package, "jina3 model package (a directory)")->required();
  jina3_args::add_encoder_option_flags(info_cmd, info.encoder_options, {"--no-verify"});

  TokenizeArgs tokenize;
  CLI::App* tokenize_cmd = app.add_subcommand(
      "tokenize", "Print the token ids the model runs for each TEXT (prompt, <s> and </s> included), one JSON "
                  "array per line");
  tokenize_cmd->add_option("PACKAGE", tokenize.package, "jina3 model package (a directory)")->required();
  tokenize_cmd->add_option("TEXT", tokenize.texts, "texts to tokenise")->required();
  tokenize_cmd->add_option("--task", tokenize.task, "the task whose prompt is prepended; default none");
  jina3_args::add_encoder_option_flags(tokenize_cmd, tokenize.encoder_options, {"--no-verify"});
  jina3_args::add_encode_option_flags(tokenize_cmd, tokenize.encode_options, {"--max-length", "--no-truncate"});

  ServeArgs serve;
  CLI::App* serve_cmd = add_serve_command(app, serve);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help or version (0), or the error
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (embed_cmd->parsed()) return run_embed(embed);
  if (info_cmd->parsed()) return run_info(info);
  if (serve_cmd->parsed()) return run_serve(serve);
  return run_tokenize(tokenize);
}

bool is_model_error(jina3::ErrorCode code) {
  return code == jina3::ErrorCode::ModelNotFound || code == jina3::ErrorCode::ModelInvalid ||
         code == jina3::ErrorCode::VersionMismatch || code == jina3::ErrorCode::Device;
}

}  // namespace
}  // namespace jina3_cli

int main(int argc, char** argv) {
  using namespace jina3_cli;
  std::ios::sync_with_stdio(false);  // stdin is read with std::getline: the C stdio sync makes it slow
  try {
    return run(argc, argv);
  } catch (const UsageError& e) {
    std::cerr << "jina3: " << e.what() << "\nRun with --help for more information.\n";
    return kExitUsage;
  } catch (const IoError& e) {
    std::cerr << "jina3: " << e.what() << "\n";
    return kExitIo;
  } catch (const jina3::Error& e) {
    if (is_model_error(e.code())) {
      std::cerr << "jina3: cannot load the package (" << jina3::to_string(e.code()) << "): " << e.what() << "\n";
      return kExitModel;
    }
    std::cerr << "jina3: " << jina3::to_string(e.code()) << ": " << e.what() << "\n";
    return e.code() == jina3::ErrorCode::InvalidArgument ? kExitUsage : kExitOther;
  } catch (const std::bad_alloc&) {
    std::cerr << "jina3: out of memory\n";
    return kExitOther;
  } catch (const std::exception& e) {
    std::cerr << "jina3: " << e.what() << "\n";
    return kExitOther;
  }
}
