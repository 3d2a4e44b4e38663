// jina3: the command-line tool's entry point. `jina3 info` runs here, from the package's manifest
// alone: this program does not link libjina3 and so never loads LibTorch, whose start-up alone
// (registering its operators) takes about 0.4 s of CPU. Every other command, and help, is run by
// executing jina3-engine (main.cpp) with the same arguments, in this process (execv): the same
// process id, standard streams and signals.
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <iostream>
#include <string>

#include <fmt/format.h>

#include "commands.hpp"
#include "errors.hpp"

#ifndef JINA3_CLI_ENGINE_FROM_BIN
#error "JINA3_CLI_ENGINE_FROM_BIN (the installed engine's directory relative to the tool's) is set by CMake"
#endif

namespace jina3_cli {
namespace {

constexpr const char* kEngineName = "jina3-engine";

std::string own_directory() {
  char path[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return ".";
  std::string self(path, static_cast<std::size_t>(n));
  const auto slash = self.find_last_of('/');
  return slash == std::string::npos ? "." : self.substr(0, slash);
}

// Beside this program (the build tree), else where `cmake --install` puts it.
[[noreturn]] void run_engine(char** argv) {
  const std::string dir = own_directory();
  const std::string candidates[] = {dir + "/" + kEngineName,
                                    dir + "/" + JINA3_CLI_ENGINE_FROM_BIN + "/" + kEngineName};
  int error = ENOENT;
  for (const std::string& engine : candidates) {
    if (::access(engine.c_str(), X_OK) != 0) continue;
    ::execv(engine.c_str(), argv);
    error = errno;
  }
  std::cerr << fmt::format("jina3: cannot run {} (looked beside {} and in {}/{}): {}\n", kEngineName, dir, dir,
                           JINA3_CLI_ENGINE_FROM_BIN, std::strerror(error));
  std::exit(kExitOther);
}

bool asks_for_help(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") return true;
  }
  return false;
}

int run_info_here(int argc, char** argv) {
  CLI::App app("jina3", "jina3");
  app.footer(kExitCodesHelp);
  app.require_subcommand(1);
  InfoArgs args;
  add_info_command(app, args);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return report_parse_error(app, e);
  }
  return run_info(args);
}

}  // namespace
}  // namespace jina3_cli

int main(int argc, char** argv) {
  using namespace jina3_cli;
  // `info --help` goes to the engine too, whose help of every command has the same form.
  if (argc < 2 || std::strcmp(argv[1], "info") != 0 || asks_for_help(argc, argv)) run_engine(argv);
  try {
    return run_info_here(argc, argv);
  } catch (...) {
    return report_current_exception();
  }
}
