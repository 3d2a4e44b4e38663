#include "workloads.hpp"

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include "synthetic_texts.hpp"

namespace jina3_bench {

namespace {

// Tasks without a prompt, so short rows can really be 8 tokens long; cycling through them makes
// every forward pass carry several LoRA adapters at once.
constexpr jina3::Task kPromptlessTasks[] = {jina3::Task::Separation, jina3::Task::Classification,
                                            jina3::Task::TextMatching};

void add_text(Workload& workload, const jina3::Encoder& encoder, jina3::Task task, int target, std::uint64_t seed) {
  CalibratedText text = calibrated_text(encoder, task, target, seed);
  workload.texts.push_back(std::move(text.text));
  workload.tasks.push_back(task);
  workload.token_counts.push_back(text.tokens);
}

void add_passages(Workload& workload, const jina3::Encoder& encoder, int count, int tokens) {
  workload.target_tokens_min = workload.target_tokens_max = tokens;
  for (int i = 0; i < count; ++i) {
    add_text(workload, encoder, jina3::Task::RetrievalPassage, tokens, 1000 + static_cast<std::uint64_t>(i));
  }
}

}  // namespace

const std::vector<WorkloadSpec>& all_workloads() {
  static const std::vector<WorkloadSpec> specs = {
      {"passages64", "64 passages x 128 tokens, retrieval.passage, one encode call", Timing::Throughput},
      {"passages256", "256 passages x 128 tokens, retrieval.passage, one encode call", Timing::Throughput},
      {"mixed256",
       "256 texts of 8-512 tokens (uniform), tasks separation/classification/text-matching in turn, one encode call",
       Timing::Throughput},
      {"query", "one retrieval.query text of 16 tokens (+ task prompt, <s>, </s>) per call", Timing::Latency},
      {"longdoc", "one 8,192-token retrieval.passage document per call", Timing::Latency},
  };
  return specs;
}

const WorkloadSpec& workload_spec(const std::string& name) {
  for (const auto& spec : all_workloads()) {
    if (spec.name == name) return spec;
  }
  std::string known;
  for (const auto& spec : all_workloads()) known += (known.empty() ? "" : ", ") + spec.name;
  throw std::invalid_argument("unknown workload '" + name + "' (known: " + known + ")");
}

bool Workload::single_task() const {
  return std::all_of(tasks.begin(), tasks.end(), [&](jina3::Task t) { return t == tasks.front(); });
}

std::int64_t Workload::real_tokens() const {
  return std::accumulate(token_counts.begin(), token_counts.end(), std::int64_t{0});
}

Workload make_workload(const jina3::Encoder& encoder, const std::string& name, int long_tokens) {
  Workload workload;
  workload.spec = workload_spec(name);
  // Token counts include the prompt and <s>/</s>: they are what the model runs.
  if (name == "passages64") {
    add_passages(workload, encoder, 64, 128);
  } else if (name == "passages256") {
    add_passages(workload, encoder, 256, 128);
  } else if (name == "mixed256") {
    const std::vector<int> lengths = uniform_lengths(256, 8, 512, 7);
    workload.target_tokens_min = 8;
    workload.target_tokens_max = 512;
    for (std::size_t i = 0; i < lengths.size(); ++i) {
      add_text(workload, encoder, kPromptlessTasks[i % 3], lengths[i], 2000 + i);
    }
  } else if (name == "query") {
    // A "16-token query" is what the user typed: its 16 tokens come on top of the task prompt and
    // <s>/</s> that the library adds (the longer reading, so the latency is not flattered).
    const int overhead = static_cast<int>(encoder.tokenize({""}, jina3::Task::RetrievalQuery)[0].size());
    workload.target_tokens_min = workload.target_tokens_max = overhead + 16;
    add_text(workload, encoder, jina3::Task::RetrievalQuery, overhead + 16, 3000);
  } else if (name == "longdoc") {
    const int tokens = std::min(long_tokens, encoder.max_length());
    workload.target_tokens_min = workload.target_tokens_max = tokens;
    add_text(workload, encoder, jina3::Task::RetrievalPassage, tokens, 4000);
  }
  return workload;
}

}  // namespace jina3_bench
