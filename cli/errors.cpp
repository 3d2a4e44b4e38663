// The exit code and message of an error; see errors.hpp.
#include "errors.hpp"

#include <exception>
#include <iostream>
#include <new>

#include <CLI/CLI.hpp>

#include <jina3/errors.hpp>

namespace jina3_cli {
namespace {

bool is_model_error(jina3::ErrorCode code) {
  return code == jina3::ErrorCode::ModelNotFound || code == jina3::ErrorCode::ModelInvalid ||
         code == jina3::ErrorCode::VersionMismatch || code == jina3::ErrorCode::Device;
}

}  // namespace

const char* const kExitCodesHelp = R"(Exit codes:
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

int report_current_exception() {
  try {
    throw;
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
  } catch (...) {
    std::cerr << "jina3: unknown error\n";
    return kExitOther;
  }
}

}  // namespace jina3_cli
