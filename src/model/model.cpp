// Loading a package: manifest and files, tokenizer and backbone (side by side), the task table and
// the kernel report.
#include "model/model.hpp"

#include <future>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <jina3/errors.hpp>

#include "model/int8_linear.hpp"
#include "util/cpu_info.hpp"
#include "util/kernel_report.hpp"

namespace jina3 {
namespace {

std::size_t task_slot(Task task) { return static_cast<std::size_t>(static_cast<int>(task)); }

KernelReport report_kernels(const Package& package, const Backbone& backbone) {
  util::KernelFacts facts;
  facts.on_cpu = backbone.device().is_cpu();
  facts.device = backbone.device().str();
  facts.package_dtype = package.manifest.dtype;
  facts.compute_dtype = backbone.compute_dtype();
  facts.jina3_kernels = package.manifest.jina3_kernels;
  if (facts.package_dtype == DType::Int8 && facts.on_cpu) facts.int8_engine = int8::engine_description();
  return util::kernel_report(facts, util::cpu_features());
}

}  // namespace

std::string describe(Task task) {
  if (task == Task::None || is_adapter_task(task)) return fmt::format("\"{}\"", to_string(task));
  return fmt::format("with value {}", static_cast<int>(task));
}

struct Model::Loaded {
  Package package;
  Tokenizer tokenizer;
  Backbone backbone;
};

namespace {

// sentencepiece takes about a second to build its tables for the 250k-piece XLM-R model, about as
// long as LibTorch takes to read a small backbone: do both at once.
Model::Loaded load(const std::string& path, const EncoderOptions& options) {
  util::check_cpu_isa_cap();  // before any kernel runs (the backbone's test pass)
  Package package = load_package(path, options.verify_checksums);
  const Manifest& manifest = package.manifest;
  auto tokenizer = std::async(std::launch::async, [model = package.tokenizer_path, special = manifest.special_ids,
                                                   offset = manifest.spm_id_offset, vocab = manifest.vocab_size] {
    return Tokenizer(model, special, offset, vocab);
  });
  Backbone backbone(BackboneSpec{package.backbone_path, manifest.dtype, manifest.hidden_size, manifest.special_ids.bos,
                                 manifest.special_ids.eos},
                    options.device, options.device_index, options.dtype);
  Tokenizer loaded_tokenizer = tokenizer.get();
  return Model::Loaded{std::move(package), std::move(loaded_tokenizer), std::move(backbone)};
}

}  // namespace

Model::Model(const std::string& path, const EncoderOptions& options) : Model(load(path, options)) {}

Model::Model(Loaded&& loaded)
    : package_(std::move(loaded.package)),
      tokenizer_(std::move(loaded.tokenizer)),
      backbone_(std::move(loaded.backbone)),
      kernels_(report_kernels(package_, backbone_)) {
  const Manifest& manifest = package_.manifest;
  adapter_index_.fill(-1);
  for (std::size_t i = 0; i < manifest.tasks.size(); ++i) {
    const Task task = manifest.tasks[i];
    adapter_index_[task_slot(task)] = static_cast<std::int64_t>(i);
    prompts_[task_slot(task)] = manifest.prompts.at(task);
    // Between <s> and </s>. The prompts end in ": ", whose space sentencepiece drops here and
    // puts on the next word ("\u2581word"), as the text's own first token carries it.
    std::vector<std::int32_t> ids = tokenizer_.encode(prompts_[task_slot(task)], "");
    prompt_ids_[task_slot(task)].assign(ids.begin() + 1, ids.end() - 1);
  }
}

void Model::check_task(Task task) const {
  if (task == Task::None) return;
  if (!is_adapter_task(task)) throw InvalidArgument(fmt::format("unknown task {}", describe(task)));
  if (adapter_index_[task_slot(task)] < 0) {
    std::vector<std::string> names;
    for (Task t : package_.manifest.tasks) names.push_back(fmt::format("\"{}\"", to_string(t)));
    throw InvalidArgument(fmt::format("task {} is not in the package {} (it has {})", describe(task), package_.path,
                                      names.empty() ? std::string("no adapters") : fmt::format("{}", fmt::join(names, ", "))));
  }
}

std::int64_t Model::adapter_for(Task task) const { return task == Task::None ? -1 : adapter_index_[task_slot(task)]; }

const std::vector<std::int32_t>& Model::prompt_ids_for(Task task) const {
  return task == Task::None ? no_prompt_ids_ : prompt_ids_[task_slot(task)];
}

const std::string& Model::prompt_for(Task task) const {
  return task == Task::None ? no_prompt_ : prompts_[task_slot(task)];
}

}  // namespace jina3
