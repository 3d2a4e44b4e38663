// `jina3 info`: what a package holds, as JSON, from its manifest alone, and what this CPU runs it
// with. Compiled into both the launcher (cli/launcher.cpp, which runs it without loading LibTorch)
// and the engine (for help).
#include <iostream>

#include <jina3/package_info.hpp>
#include <jina3/task.hpp>

#include "commands.hpp"
#include "errors.hpp"
#include "json_types.hpp"
#include "util/cpu_info.hpp"

namespace jina3_cli {

CLI::App* add_info_command(CLI::App& app, InfoArgs& args) {
  CLI::App* cmd = app.add_subcommand("info", "Print what a package holds as JSON: tasks, dims, dtype, max_length, "
                                             "prompts, format version, files (from its manifest; the model is not "
                                             "loaded and the files are not hashed), and this CPU's kernels: "
                                             "instruction set, bfloat16 native or emulated, int8 engine");
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
  // What this CPU would run the package with (JINA3_MAX_CPU_ISA applies, as it does when loading).
  jina3::util::check_cpu_isa_cap();
  const jina3::util::CpuFeatures& cpu = jina3::util::cpu_features();
  const bool bf16 = package.dtype == jina3::DType::BFloat16;
  info["cpu"] = InputJson::object({{"isa", cpu.isa},
                                   {"bf16", cpu.bf16_native() ? "native" : "emulated"},
                                   {"int8_engine", "oneDNN " + jina3::util::int8_isa(cpu)},
                                   {"notice", bf16 ? jina3::util::bf16_emulation_notice(cpu) : std::string()}});
  std::cout << info.dump(2) << '\n';
  if (!std::cout) throw IoError("cannot write standard output");
  return kExitOk;
}

}  // namespace jina3_cli
