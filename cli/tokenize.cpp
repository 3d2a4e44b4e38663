// `jina3 tokenize`: token ids, one JSON array per text; with --offsets one object with the pieces
// and offsets.
#include <iostream>

#include <fmt/format.h>

#include <jina3/jina3.hpp>

#include "arguments.hpp"
#include "commands.hpp"
#include "encoder_setup.hpp"
#include "errors.hpp"
#include "json_types.hpp"
#include "text_input.hpp"
#include "util/utf8.hpp"

namespace jina3_cli {
namespace {

// Lines of standard input tokenised together: output starts before the input ends.
constexpr std::size_t kTokenizeBlock = 1024;

void print_json_line(const InputJson& value) {
  std::cout << value.dump() << '\n';
  if (!std::cout) throw IoError("cannot write standard output");
}

InputJson details_json(const std::string& text, const jina3::Tokenization& t) {
  InputJson out = InputJson::object();
  out["ids"] = t.ids;
  out["tokens"] = t.pieces;
  const std::vector<std::int64_t> chars = char_offsets(text, t.offsets);
  InputJson offsets = InputJson::array();
  for (std::size_t i = 0; i + 1 < chars.size(); i += 2) {
    offsets.push_back(chars[i] < 0 ? InputJson() : InputJson::array({chars[i], chars[i + 1]}));
  }
  out["offsets"] = std::move(offsets);
  out["truncated"] = t.truncated;
  return out;
}

// Tokenises texts and prints one line each; where(index, rest) words an error about one text.
template <class Where>
void tokenize_and_print(const jina3::Encoder& encoder, const TokenizeArgs& args, jina3::Task task,
                        const std::vector<std::string>& texts, const Where& where) {
  try {
    if (args.offsets) {
      const auto all = encoder.tokenize_details(texts, task, args.encode_options);
      for (std::size_t i = 0; i < all.size(); ++i) print_json_line(details_json(texts[i], all[i]));
    } else {
      for (const auto& ids : encoder.tokenize(texts, task, args.encode_options)) print_json_line(InputJson(ids));
    }
  } catch (const jina3::InputTooLong& e) {
    // --no-truncate: a bad input, like invalid UTF-8
    const auto split = split_text_error(e.what());
    if (split && split->first < texts.size()) throw IoError(where(split->first, split->second));
    throw IoError(e.what());
  }
}

}  // namespace

CLI::App* add_tokenize_command(CLI::App& app, TokenizeArgs& args) {
  CLI::App* cmd = app.add_subcommand(
      "tokenize", "Print the token ids the model runs for each TEXT (prompt, <s> and </s> included), one JSON "
                  "array per line; with --offsets one object per line with ids, tokens and offsets");
  cmd->add_option("PACKAGE", args.package, "jina3 model package (a directory)")->required();
  cmd->add_option("TEXT", args.texts, "texts to tokenise; - alone reads one text per line from standard input")
      ->required();
  cmd->add_option("--task", args.task, "the task whose prompt is prepended; default none");
  cmd->add_flag("--offsets", args.offsets,
                "print {\"ids\", \"tokens\" (sentencepiece pieces), \"offsets\" ([start, end) in characters of "
                "the text, null for <s>, </s> and the prompt), \"truncated\"} per text");
  jina3_args::add_encoder_option_flags(cmd, args.encoder_options, {"--no-verify"});
  jina3_args::add_encode_option_flags(cmd, args.encode_options,
                                      {"--max-length", "--no-truncate", "--split-special-tokens"});
  return cmd;
}

int run_tokenize(const TokenizeArgs& args) {
  const jina3::Task task = parse_task(args.task);
  const bool from_stdin = args.texts.size() == 1 && args.texts[0] == "-";
  // Before the package is loaded, which takes a while.
  for (std::size_t i = 0; i < args.texts.size() && !from_stdin; ++i) {
    if (const auto problem = jina3::utf8::check(args.texts[i])) {
      throw IoError(fmt::format("TEXT {}: invalid UTF-8 at byte {} ({})", i + 1, problem->offset, problem->reason));
    }
  }
  std::optional<TextReader> reader;
  if (from_stdin) reader.emplace("-", InputFormat::Text, "text", false);
  const jina3::Encoder encoder = load_encoder(args.package, args.encoder_options);
  // The task and options as encode() checks them, before any input: a usage error (main.cpp).
  encoder.check(task, 0, args.encode_options);
  if (!from_stdin) {
    tokenize_and_print(encoder, args, task, args.texts, [](std::size_t index, const std::string& rest) {
      return fmt::format("TEXT {}: {}", index + 1, rest);
    });
  } else {
    InputBlock block;
    while (reader->read_block(kTokenizeBlock, block)) {
      tokenize_and_print(encoder, args, task, block.texts, [&](std::size_t index, const std::string& rest) {
        return fmt::format("{}, line {}: {}", reader->name(), block.lines[index], rest);
      });
    }
  }
  std::cout.flush();
  if (!std::cout) throw IoError("cannot write standard output");
  return kExitOk;
}

}  // namespace jina3_cli
