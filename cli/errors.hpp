// The jina3 tool's exit codes and the two error types it raises itself. Errors from libjina3
// (jina3::Error) are mapped to exit codes by report_current_exception (errors.cpp).
#pragma once

#include <stdexcept>
#include <string>

namespace CLI {  // CLI11; forward declarations keep this header free of it (fuzz_cli_jsonl includes it)
class App;
class ParseError;
}  // namespace CLI

namespace jina3_cli {

// Documented in `jina3 --help` and in README.md ("Command line"); scripts rely on them.
enum ExitCode : int {
  kExitOk = 0,
  kExitOther = 1,  // anything else (out of memory, an internal error)
  kExitUsage = 2,  // bad arguments: unknown option, bad value, a task or dims the package lacks
  kExitIo = 3,     // input or output: a file that cannot be read or written, a bad input line
  kExitModel = 4,  // the package is missing, invalid or of a format this build cannot read
};

// A bad argument (exit 2).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A file that cannot be read or written, or a bad line in an input file (exit 3). The message
// names the file, and the line where there is one.
struct IoError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The help's footer: what each exit code means.
extern const char* const kExitCodesHelp;

// A command-line parse error as every other message of the tool: "jina3: [COMMAND: ]...", then
// where to read more. Returns kExitUsage.
int report_parse_error(const CLI::App& app, const CLI::ParseError& e);

// The message ("jina3: ...") and exit code of the exception being handled: UsageError,
// IoError, jina3::Error (model errors 4, InvalidArgument 2, others 1), bad_alloc, the rest. Call
// from a catch block.
int report_current_exception();

}  // namespace jina3_cli
