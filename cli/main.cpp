// jina3-engine: the jina3 tool's commands (embed, chunk, tokenize, info, serve, help), on
// libjina3's public API. `jina3` (launcher.cpp) runs `info` itself, without loading LibTorch, and
// executes this program for everything else. See README.md, "Command line".
#include <iostream>

#include <fmt/format.h>

#include <jina3/jina3.hpp>

#include "arguments.hpp"
#include "commands.hpp"
#include "errors.hpp"
#include "serve.hpp"

namespace jina3_cli {
namespace {

std::string command_names(const CLI::App& app) {
  std::string names;
  for (const CLI::App* sub : app.get_subcommands({})) names += (names.empty() ? "" : ", ") + sub->get_name();
  return names;
}

// `jina3 help [COMMAND]`: the help of the tool or of one command, on standard output.
int run_help(const CLI::App& app, const std::string& command) {
  // The formatter itself: App::help() would hand over to the parsed subcommand, `help`.
  if (command.empty()) {
    std::cout << app.get_formatter()->make_help(&app, app.get_name(), CLI::AppFormatMode::Normal);
    return kExitOk;
  }
  for (const CLI::App* sub : app.get_subcommands({})) {
    if (sub->get_name() == command && command != "help") {
      std::cout << sub->help(app.get_name());  // "Usage: jina3 COMMAND ...", as COMMAND --help prints it
      return kExitOk;
    }
  }
  throw UsageError(fmt::format("help: no command '{}'; the commands are {}", command, command_names(app)));
}

int run(int argc, char** argv) {
  CLI::App app("jina3 " + std::string(jina3::version()) + ": jina-embeddings-v3 embeddings from the command line",
               "jina3");
  app.footer(kExitCodesHelp);  // before the subcommands, which copy it
  app.set_version_flag("--version", std::string(jina3::version()));
  app.require_subcommand(1);

  EmbedArgs embed;
  CLI::App* embed_cmd = add_embed_command(app, embed);
  ChunkArgs chunk;
  CLI::App* chunk_cmd = add_chunk_command(app, chunk);
  TokenizeArgs tokenize;
  CLI::App* tokenize_cmd = add_tokenize_command(app, tokenize);
  InfoArgs info;
  CLI::App* info_cmd = add_info_command(app, info);

  ServeArgs serve;
  CLI::App* serve_cmd = add_serve_command(app, serve);

  std::string help_topic;
  CLI::App* help_cmd = app.add_subcommand("help", "Print the help of the tool, or of COMMAND");
  help_cmd->add_option("COMMAND", help_topic, "a command: embed, chunk, tokenize, info, serve");

  // An unknown first word would otherwise be reported as a missing subcommand.
  const auto is_command = [&app](const std::string& word) {
    for (const CLI::App* sub : app.get_subcommands({})) {
      if (sub->check_name(word)) return true;
    }
    return false;
  };
  if (argc > 1 && argv[1][0] != '-' && !is_command(argv[1])) {
    throw UsageError(fmt::format("no command '{}'; the commands are {}", argv[1], command_names(app)));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() != 0) return report_parse_error(app, e);
    app.exit(e);  // --help or --version, on standard output
    return kExitOk;
  }
  if (embed_cmd->parsed()) return run_embed(embed);
  if (chunk_cmd->parsed()) return run_chunk(chunk);
  if (tokenize_cmd->parsed()) return run_tokenize(tokenize);
  if (info_cmd->parsed()) return run_info(info);
  if (serve_cmd->parsed()) return run_serve(serve);
  return run_help(app, help_topic);
}

}  // namespace
}  // namespace jina3_cli

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);  // stdin is read with std::getline: the C stdio sync makes it slow
  try {
    return jina3_cli::run(argc, argv);
  } catch (...) {
    return jina3_cli::report_current_exception();
  }
}
