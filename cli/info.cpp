// `jina3 info`: what a package holds, as JSON, from its manifest alone. Compiled into both the
// launcher (cli/launcher.cpp, which runs it without loading LibTorch) and the engine (for help).
#include <iostream>

#include <jina3/package_info.hpp>
#include <jina3/task.hpp>

#include "commands.hpp"
#include "errors.hpp"
#include "json_types.hpp"

namespace jina3_cli {

CLI::App* add_info_command(CLI::App& app, InfoArgs& args) {
  CLI::App* cmd = app.add_subcommand("info", "Print what a package holds as JSON: tasks, dims, dtype, max_length, "
                                             "prompts, format version, files (from its manifest; the model is not "
                                             "loaded and the files are not hashed)");
  cmd->add_option("PACKAGE", args.package, "jina3 model package (a directory)")->required();
  return cmd;
}

int run_info(const InfoArgs& args) {
  const jina3::PackageInfo package = jina3::read_package_info(args.package);
  InputJson info = InputJson::object();
  info["package"] = package.path;
  info["format_version"] = package.format_version;
  info["model_name"] = package.model_name;
  InputJson tasks = InputJson::array();
  InputJson prompts = InputJson::object();
  for (jina3::Task task : package.tasks) {
    tasks.push_back(jina3::to_string(task));
    const auto prompt = package.prompts.find(task);
    prompts[jina3::to_string(task)] = prompt == package.prompts.end() ? std::string() : prompt->second;
  }
  info["tasks"] = std::move(tasks);
  info["dims"] = package.dims;
  info["hidden_size"] = package.hidden_size;
  info["dtype"] = jina3::to_string(package.dtype);
  info["max_length"] = package.max_length;
  info["prompts"] = std::move(prompts);
  info["num_layers"] = package.num_layers;
  info["num_heads"] = package.num_heads;
  info["intermediate_size"] = package.intermediate_size;
  info["vocab_size"] = package.vocab_size;
  info["jina3_version"] = package.jina3_version;
  info["torch_version"] = package.torch_version;
  InputJson files = InputJson::object();
  for (const auto& [name, size] : package.files) files[name] = InputJson::object({{"size", size}});
  info["files"] = std::move(files);
  std::cout << info.dump(2) << '\n';
  if (!std::cout) throw IoError("cannot write standard output");
  return kExitOk;
}

}  // namespace jina3_cli
