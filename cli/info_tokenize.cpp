// `jina3 info` (what a package holds, as JSON) and `jina3 tokenize` (token ids, one JSON array
// per text).
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include <jina3/jina3.hpp>

#include "commands.hpp"
#include "encoder_setup.hpp"
#include "errors.hpp"
#include "json_types.hpp"
#include "util/utf8.hpp"

namespace jina3_cli {
namespace {

// The manifest keys the Encoder has no getter for. The Encoder has read and checked this file
// already, so a failure here is a package that changed underneath.
InputJson read_manifest(const std::string& package) {
  const std::string path = package + "/manifest.json";
  std::ifstream in(path, std::ios::binary);
  if (!in) throw jina3::ModelNotFound(fmt::format("cannot open {}", path));
  try {
    return InputJson::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw jina3::ModelInvalid(fmt::format("{}: {}", path, e.what()));
  }
}

void print_json_line(const InputJson& value) {
  std::cout << value.dump() << '\n';
  if (!std::cout) throw IoError("cannot write standard output");
}

}  // namespace

int run_info(const InfoArgs& args) {
  const jina3::Encoder encoder(args.package, args.encoder_options);
  const InputJson manifest = read_manifest(args.package);

  InputJson info = InputJson::object();
  info["package"] = encoder.package_path();
  info["format_version"] = manifest.value("format_version", InputJson());
  info["model_name"] = manifest.value("model_name", InputJson());
  InputJson tasks = InputJson::array();
  InputJson prompts = InputJson::object();
  for (jina3::Task task : encoder.tasks()) {
    tasks.push_back(jina3::to_string(task));
    prompts[jina3::to_string(task)] = encoder.prompt(task);
  }
  info["tasks"] = std::move(tasks);
  info["dims"] = encoder.dims();
  info["hidden_size"] = encoder.hidden_size();
  info["dtype"] = jina3::to_string(encoder.dtype());
  info["max_length"] = encoder.max_length();
  info["prompts"] = std::move(prompts);
  std::cout << info.dump(2) << '\n';
  if (!std::cout) throw IoError("cannot write standard output");
  return kExitOk;
}

int run_tokenize(const TokenizeArgs& args) {
  const jina3::Task task = parse_task(args.task);
  // Before the package is loaded, which takes a while.
  for (std::size_t i = 0; i < args.texts.size(); ++i) {
    if (const auto problem = jina3::utf8::check(args.texts[i])) {
      throw IoError(fmt::format("TEXT {}: invalid UTF-8 at byte {} ({})", i + 1, problem->offset, problem->reason));
    }
  }
  const jina3::Encoder encoder(args.package, args.encoder_options);
  // tokenize() checks the task and options as encode() does: a bad one is a usage error (main.cpp).
  std::vector<std::vector<std::int32_t>> all_ids;
  try {
    all_ids = encoder.tokenize(args.texts, task, args.encode_options);
  } catch (const jina3::InputTooLong& e) {
    throw IoError(e.what());  // --no-truncate: a bad input, like invalid UTF-8 above
  }
  for (const auto& ids : all_ids) print_json_line(InputJson(ids));
  return kExitOk;
}

}  // namespace jina3_cli
