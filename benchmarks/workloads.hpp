// The benchmark's workloads: which texts, which tasks, and how each is timed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <jina3/jina3.hpp>

namespace jina3_bench {

enum class Timing {
  Throughput,  // the whole batch in one encode() call, repeated
  Latency,     // one call per repetition, percentiles over many calls
};

struct WorkloadSpec {
  std::string name;
  std::string description;
  Timing timing;
};

// Every workload the program knows, in the order they run. The 8,192-token document runs last so
// its large activations do not shape the allocator for the others.
const std::vector<WorkloadSpec>& all_workloads();
const WorkloadSpec& workload_spec(const std::string& name);  // throws std::invalid_argument

struct Workload {
  WorkloadSpec spec;
  std::vector<std::string> texts;
  std::vector<jina3::Task> tasks;  // one per text
  std::vector<int> token_counts;   // per text, from Encoder::tokenize (prompt and specials included)
  int target_tokens_min = 0;       // what the generator aimed at
  int target_tokens_max = 0;

  bool single_task() const;
  std::int64_t real_tokens() const;
};

// Builds a workload's inputs, calibrated against the encoder's tokenizer. long_tokens sets the
// length of the "longdoc" document (clamped to the package's max_length).
Workload make_workload(const jina3::Encoder& encoder, const std::string& name, int long_tokens);

}  // namespace jina3_bench
