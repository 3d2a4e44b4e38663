// jina3: jina-embeddings-v3 from the command line (embed, chunk, tokenize, info, serve, help). See
// README.md, "Command line". C++ only, on libjina3's public API.
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
     names the file and line), such as a text over the token limit with --no-truncate
  4  model: the package is missing or invalid, of a format this build cannot read, or cannot
     be loaded on the device)";

// A parse error as every other message of the tool: "jina3: ...", then where to read more.
int report_parse_error(const CLI::App& app, const CLI::ParseError& e) {
  std::string command;
  for (const CLI::App* sub : app.get_subcommands()) command = sub->get_name();
  std::cerr << "jina3: " << (command.empty() ? "" : command + ": ") << e.what() << "\n"
            << "Run 'jina3 help" << (command.empty() ? "" : " " + command) << "' for more information.\n";
  return kExitUsage;
}

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
  app.footer(kExitCodes);  // before the subcommands, which copy it
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
    std::cerr << "jina3: " << e.what() << "\nRun 'jina3 help' for more information.\n";
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
