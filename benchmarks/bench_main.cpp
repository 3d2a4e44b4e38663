// jina3_bench: times one jina3 package on one device and dtype over fixed synthetic workloads and
// prints one JSON object on stdout (progress goes to stderr). benchmarks/run.py drives it once per
// precision and sets the figures beside the Python reference; see benchmarks/README.md.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <jina3/jina3.hpp>

#include "arguments.hpp"
#include "json.hpp"
#include "process_memory.hpp"
#include "summary.hpp"
#include "workloads.hpp"

namespace jina3_bench {
namespace {

using Clock = std::chrono::steady_clock;

struct UsageError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

struct Options {
  std::string package;
  jina3::EncoderOptions encoder;  // --device, --dtype, --threads, ... (the options table's flags)
  jina3::EncodeOptions encode;    // --batch-size
  std::vector<std::string> workloads = {"passages64", "mixed256", "query", "longdoc"};
  int repeats = 3;
  int warmup = 1;
  int warmup_rows = 0;
  int query_calls = 100;
  int query_warmup = 5;
  int long_repeats = 1;
  int long_warmup = 0;
  int long_tokens = 8192;
  bool quick = false;
  std::string emit_inputs;
  bool inputs_only = false;
  std::string emit_embeddings;
  std::string texts_file;
  std::string texts_task = "retrieval.passage";
};

std::vector<std::string> split_commas(const std::string& list) {
  std::vector<std::string> parts;
  std::stringstream in(list);
  std::string part;
  while (std::getline(in, part, ',')) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

// The command line, parsed by CLI11 with the jina3 tool's helpers (cli/arguments.hpp).
// Usage errors exit with 64 (EX_USAGE), printing the message and then the help.
class CommandLine {
 public:
  CommandLine() : app_("jina3_bench: times one jina3 package on one device and dtype; prints JSON", "jina3_bench") {
    app_.add_option("--package", o.package, "jina3 model package (required)")->required()->option_text("DIR");
    jina3_args::add_encoder_option_flags(&app_, o.encoder);
    // Only --batch-size of the per-call options: the workloads are calibrated in tokens as encode()
    // runs them by default (max_length, truncation), and the padding estimate follows batch_size.
    jina3_args::add_encode_option_flags(&app_, o.encode, {"--batch-size"});
    app_.add_flag_callback("--default-malloc", [this] { o.encoder.retain_host_memory = false; },
                           "EncoderOptions::retain_host_memory = false (glibc's allocator as it is)");
    workloads_ = app_.add_option("--workloads", workloads_list_,
                                 "comma-separated, default passages64,mixed256,query,longdoc (known: passages64, "
                                 "passages256, mixed256, query, longdoc)")
                     ->option_text("LIST");
    repeats_ = integer("--repeats", o.repeats, 1, "timed runs of each batch workload (default 3)");
    warmup_ = integer("--warmup", o.warmup, 0, "untimed runs of each batch workload first (default 1)");
    integer("--warmup-rows", o.warmup_rows, 0,
            "warm-up runs of batch workloads use only their first N texts (0 = all, the default; saves time on "
            "slow CPUs)");
    query_calls_ = integer("--query-calls", o.query_calls, 1, "timed calls of the query workload (default 100)");
    query_warmup_ = integer("--query-warmup", o.query_warmup, 0, "untimed query calls first (default 5)");
    integer("--long-repeats", o.long_repeats, 1, "timed runs of the long document (default 1)");
    integer("--long-warmup", o.long_warmup, 0, "untimed runs of the long document first (default 0)");
    integer("--long-tokens", o.long_tokens, 3, "length of the long document in tokens (default 8192)");
    app_.add_flag("--quick", o.quick, "1 repeat, 1 warm-up, 10 query calls: a smoke test, not a measurement");
    auto* emit_inputs = app_.add_option("--emit-inputs", o.emit_inputs,
                                        "write the token ids and tasks of every selected workload as JSON")
                            ->option_text("FILE");
    app_.add_flag("--inputs-only", o.inputs_only, "with --emit-inputs: write the inputs and exit without timing")
        ->needs(emit_inputs);
    app_.add_option("--emit-embeddings", o.emit_embeddings,
                    "write each workload's embeddings (float32, row-major) to DIR/NAME.f32")
        ->option_text("DIR");
    app_.add_option("--texts-file", o.texts_file,
                    "time the lines of FILE (one text each, in one encode() call) as the workload 'file', "
                    "instead of the synthetic workloads")
        ->option_text("FILE")
        ->excludes(workloads_);
    app_.add_option("--texts-task", o.texts_task, "task of the --texts-file texts (default retrieval.passage)")
        ->option_text("NAME");
  }

  // Options from argv; exits for --help.
  Options parse(int argc, char** argv) {
    try {
      app_.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
      std::cout << app_.help();
      std::exit(0);
    } catch (const CLI::ParseError& e) {
      throw UsageError(e.what());
    }
    if (*workloads_) {
      o.workloads = split_commas(workloads_list_);
      for (const auto& name : o.workloads) {
        try {
          workload_spec(name);
        } catch (const std::invalid_argument& e) {
          throw UsageError(e.what());
        }
      }
      if (o.workloads.empty()) throw UsageError("--workloads is empty");
    }
    if (!o.texts_file.empty()) {
      o.workloads = {"file"};
      try {
        jina3::task_from_string(o.texts_task);
      } catch (const jina3::InvalidArgument& e) {
        throw UsageError(std::string("--texts-task: ") + e.what());
      }
    }
    if (o.quick) {  // explicit counts still win
      if (!*repeats_) o.repeats = 1;
      if (!*warmup_) o.warmup = 1;
      if (!*query_calls_) o.query_calls = 10;
      if (!*query_warmup_) o.query_warmup = 2;
    }
    return o;
  }

  std::string help() const { return app_.help(); }

 private:
  CLI::Option* integer(const std::string& name, int& value, int min_value, const std::string& help) {
    return app_.add_option(name, value, help)->transform(jina3_args::decimal_at_least(min_value))->option_text("N");
  }

  Options o;
  CLI::App app_;
  std::string workloads_list_;
  CLI::Option* workloads_ = nullptr;
  CLI::Option* repeats_ = nullptr;
  CLI::Option* warmup_ = nullptr;
  CLI::Option* query_calls_ = nullptr;
  CLI::Option* query_warmup_ = nullptr;
};

// The --texts-file workload: every line of the file (CRLF and a final newline tolerated), one task.
Workload file_workload(const jina3::Encoder& encoder, const Options& options) {
  std::ifstream in(options.texts_file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open --texts-file " + options.texts_file);
  Workload w;
  w.spec = {"file", "every line of " + options.texts_file + ", " + options.texts_task + ", one encode call",
            Timing::Throughput};
  const jina3::Task task = jina3::task_from_string(options.texts_task);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    w.texts.push_back(std::move(line));
  }
  if (in.bad()) throw std::runtime_error("cannot read --texts-file " + options.texts_file);
  if (w.texts.empty()) throw std::runtime_error("--texts-file " + options.texts_file + " has no texts");
  w.tasks.assign(w.texts.size(), task);
  for (const auto& ids : encoder.tokenize(w.texts, task)) w.token_counts.push_back(static_cast<int>(ids.size()));
  const auto [shortest, longest] = std::minmax_element(w.token_counts.begin(), w.token_counts.end());
  w.target_tokens_min = *shortest;
  w.target_tokens_max = *longest;
  return w;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

Json mib(std::optional<std::int64_t> bytes) {
  if (!bytes) return Json();
  return Json(static_cast<double>(*bytes) / (1024.0 * 1024.0));
}

Json latency_summary_ms(const std::vector<double>& seconds) {
  std::vector<double> ms;
  for (double s : seconds) ms.push_back(s * 1e3);
  double sum = 0.0;
  for (double v : ms) sum += v;
  return Json::object()
      .set("calls", ms.size())
      .set("p50", percentile(ms, 50))
      .set("p90", percentile(ms, 90))
      .set("p99", percentile(ms, 99))
      .set("mean", ms.empty() ? NAN : sum / static_cast<double>(ms.size()))
      .set("min", percentile(ms, 0.0001))
      .set("max", percentile(ms, 100));
}

// Padded tokens if every text went into one forward pass, and under the library's batching as
// src/serving/batch_plan.cpp (plan_batches) does it (rows sorted longest first; a pass takes rows while it has fewer
// than max_rows and rows x longest <= max_tokens). The library does not report its passes, so the
// second figure is an estimate, labelled as such in the output.
Json padding_estimate(const std::vector<int>& lengths, std::size_t max_rows, std::int64_t max_tokens) {
  std::vector<int> sorted = lengths;
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  const std::int64_t one_pass = static_cast<std::int64_t>(sorted.size()) * (sorted.empty() ? 0 : sorted.front());
  std::int64_t padded = 0, passes = 0;
  std::size_t rows = 0;
  std::int64_t longest = 0;
  for (int length : sorted) {
    const bool fits = rows > 0 && rows < max_rows && static_cast<std::int64_t>(rows + 1) * longest <= max_tokens;
    if (!fits) {
      padded += static_cast<std::int64_t>(rows) * longest;
      ++passes;
      rows = 0;
      longest = length;
    }
    ++rows;
  }
  padded += static_cast<std::int64_t>(rows) * longest;
  return Json::object()
      .set("one_pass", one_pass)
      .set("length_sorted_batches", padded)
      .set("passes", passes)
      .set("max_rows", max_rows)
      .set("max_tokens", max_tokens);
}

void write_embeddings(const std::string& dir, const std::string& name, const jina3::Embeddings& e) {
  const std::string path = dir + "/" + name + ".f32";
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(e.data.data()), static_cast<std::streamsize>(e.data.size() * sizeof(float)));
  if (!out) throw std::runtime_error("cannot write " + path);
}

class Bench {
 public:
  Bench(const Options& options, const jina3::Encoder& encoder, GpuMemorySampler* gpu)
      : options_(options), encoder_(encoder), gpu_(gpu) {}

  jina3::Embeddings encode(const Workload& w) const {
    if (w.single_task()) return encoder_.encode(w.texts, w.tasks.front(), 0, options_.encode);
    return encoder_.encode(w.texts, w.tasks, 0, options_.encode);
  }

  Json run(const Workload& w) const {
    const bool latency = w.spec.timing == Timing::Latency;
    const bool is_query = w.spec.name == "query";
    const int warmups = !latency ? options_.warmup : is_query ? options_.query_warmup : options_.long_warmup;
    const int timed = !latency ? options_.repeats : is_query ? options_.query_calls : options_.long_repeats;

    // Tokenisation alone (part of every encode call), best of three.
    double tokenize_s = INFINITY;
    for (int i = 0; i < 3; ++i) {
      const auto start = Clock::now();
      for (std::size_t row = 0; row < w.texts.size(); ++row) encoder_.tokenize({w.texts[row]}, w.tasks[row]);
      tokenize_s = std::min(tokenize_s, seconds_since(start));
    }

    const bool peak_reset = reset_peak_resident();
    const auto rss_before = resident_bytes();
    if (gpu_) gpu_->start();

    if (!latency && options_.warmup_rows > 0 && static_cast<std::size_t>(options_.warmup_rows) < w.texts.size()) {
      Workload head = w;
      head.texts.resize(static_cast<std::size_t>(options_.warmup_rows));
      head.tasks.resize(head.texts.size());
      for (int i = 0; i < warmups; ++i) encode(head);
    } else {
      for (int i = 0; i < warmups; ++i) encode(w);
    }
    std::vector<double> runs;
    jina3::Embeddings last;
    for (int i = 0; i < timed; ++i) {
      const auto start = Clock::now();
      last = encode(w);
      runs.push_back(seconds_since(start));
    }
    const auto gpu_peak = gpu_ ? gpu_->stop() : std::nullopt;
    const auto rss_peak = peak_resident_bytes();

    if (last.rows != w.texts.size() || last.dims != static_cast<std::size_t>(encoder_.hidden_size())) {
      throw std::runtime_error("encode returned " + std::to_string(last.rows) + " x " + std::to_string(last.dims) +
                               " for " + std::to_string(w.texts.size()) + " texts");
    }
    if (!options_.emit_embeddings.empty()) write_embeddings(options_.emit_embeddings, w.spec.name, last);

    const double median_s = percentile(runs, 50);
    const std::int64_t real = w.real_tokens();
    const auto [min_len, max_len] = std::minmax_element(w.token_counts.begin(), w.token_counts.end());
    std::vector<std::string> task_names;
    for (jina3::Task task : w.tasks) {
      const std::string name = jina3::to_string(task);
      if (std::find(task_names.begin(), task_names.end(), name) == task_names.end()) task_names.push_back(name);
    }
    // The library's automatic limits (src/serving/batch_plan.cpp: automatic_batch_limits) unless
    // the options set them; a call's batch_size caps the rows further.
    const bool cuda = encoder_.device() == jina3::Device::CUDA;
    const jina3::EncoderOptions& set = options_.encoder;
    const int call_rows = options_.encode.batch_size;
    std::size_t max_rows = set.max_batch_size > 0 ? static_cast<std::size_t>(set.max_batch_size) : cuda ? 512 : 64;
    if (call_rows > 0) max_rows = std::min(max_rows, static_cast<std::size_t>(call_rows));
    const std::int64_t max_tokens = set.max_batch_tokens > 0 ? set.max_batch_tokens : cuda ? 65536 : 4096;

    Json result = Json::object();
    result.set("description", w.spec.description)
        .set("timing", latency ? "latency" : "throughput")
        .set("texts", w.texts.size())
        .set("tasks", Json::array_of(task_names))
        .set("target_tokens", Json::array().push(w.target_tokens_min).push(w.target_tokens_max))
        .set("real_tokens", real)
        .set("min_tokens", *min_len)
        .set("max_tokens", *max_len)
        .set("padded_tokens_estimate", padding_estimate(w.token_counts, max_rows, max_tokens))
        .set("warmup_runs", warmups)
        .set("warmup_rows", latency || options_.warmup_rows == 0 ? Json(static_cast<long>(w.texts.size()))
                                                                   : Json(std::min<long>(options_.warmup_rows,
                                                                                         static_cast<long>(w.texts.size()))))
        .set("runs_s", Json::array_of(runs))
        .set("median_s", median_s)
        .set("best_s", percentile(runs, 0.0001))
        .set("tokens_per_s", static_cast<double>(real) / median_s)
        .set("texts_per_s", static_cast<double>(w.texts.size()) / median_s)
        .set("latency_ms", latency_summary_ms(runs))
        .set("tokenize_s", tokenize_s)
        .set("rss_before_mib", mib(rss_before))
        .set("peak_rss_mib", mib(rss_peak))
        .set("peak_rss_is_per_workload", peak_reset)
        .set("gpu_mem_used_peak_mib", mib(gpu_peak));
    if (!options_.emit_embeddings.empty()) {
      result.set("embeddings_file", options_.emit_embeddings + "/" + w.spec.name + ".f32")
          .set("embeddings_shape", Json::array().push(last.rows).push(last.dims));
    }
    return result;
  }

 private:
  const Options& options_;
  const jina3::Encoder& encoder_;
  GpuMemorySampler* gpu_;
};

void write_inputs(const std::string& path, const jina3::Encoder& encoder, const std::vector<Workload>& workloads) {
  Json all = Json::object();
  for (const Workload& w : workloads) {
    Json ids = Json::array();
    Json tasks = Json::array();
    for (std::size_t row = 0; row < w.texts.size(); ++row) {
      ids.push(Json::array_of(encoder.tokenize({w.texts[row]}, w.tasks[row])[0]));
      tasks.push(jina3::to_string(w.tasks[row]));
    }
    all.set(w.spec.name, Json::object().set("timing", w.spec.timing == Timing::Latency ? "latency" : "throughput")
                             .set("tasks", std::move(tasks))
                             .set("ids", std::move(ids)));
  }
  std::ofstream out(path);
  Json::object().set("workloads", std::move(all)).write(out);
  out << '\n';
  if (!out) throw std::runtime_error("cannot write " + path);
}

int run(const Options& options) {
  const jina3::EncoderOptions& encoder_options = options.encoder;
  const bool cuda = encoder_options.device == jina3::Device::CUDA;
  std::optional<GpuMemorySampler> gpu;
  if (cuda) gpu.emplace(encoder_options.device_index);

  std::cerr << "jina3_bench: loading " << options.package << " on " << jina3::to_string(encoder_options.device)
            << "\n";
  reset_peak_resident();
  const auto load_start = Clock::now();
  const jina3::Encoder encoder(options.package, encoder_options);
  const double load_s = seconds_since(load_start);
  const auto rss_loaded = resident_bytes();
  const auto rss_load_peak = peak_resident_bytes();

  std::vector<Workload> workloads;
  const auto built = [&](Clock::time_point start) {
    std::cerr << "jina3_bench: built " << workloads.back().spec.name << " (" << workloads.back().texts.size()
              << " texts, " << workloads.back().real_tokens() << " tokens) in " << seconds_since(start) << " s\n";
  };
  if (!options.texts_file.empty()) {
    const auto start = Clock::now();
    workloads.push_back(file_workload(encoder, options));
    built(start);
  }
  for (const auto& spec : all_workloads()) {  // canonical order, whatever order they were listed in
    if (std::find(options.workloads.begin(), options.workloads.end(), spec.name) == options.workloads.end()) continue;
    const auto start = Clock::now();
    workloads.push_back(make_workload(encoder, spec.name, options.long_tokens));
    built(start);
  }
  if (!options.emit_inputs.empty()) write_inputs(options.emit_inputs, encoder, workloads);
  if (options.inputs_only) return 0;

  Json notes = Json::array();
  notes.push("token counts include the task prompt, <s> and </s>; tokens_per_s = real tokens / median wall time");
  notes.push("wall times cover the whole encode() call: tokenisation, forward, pooling, normalisation");
  notes.push("padded_tokens_estimate is computed here from the token counts, not reported by the library");
  if (cuda) {
    notes.push(gpu && gpu->available()
                   ? "gpu_mem_used_peak_mib: device-wide memory in use (NVML, sampled every 2 ms), caching allocator "
                     "reserve and model included; peak_rss_mib is host memory"
                   : "GPU memory not measured (" + (gpu ? gpu->unavailable_reason() : std::string("no sampler")) +
                         "); peak_rss_mib is host memory only");
  }

  Bench bench(options, encoder, gpu ? &*gpu : nullptr);
  Json results = Json::object();
  for (const Workload& w : workloads) {
    std::cerr << "jina3_bench: timing " << w.spec.name << "\n";
    results.set(w.spec.name, bench.run(w));
  }

  Json report = Json::object();
  report.set("tool", "jina3_bench")
      .set("jina3_version", jina3::version())
      .set("package", options.package)
      .set("device", jina3::to_string(encoder.device()))
      .set("device_index", encoder_options.device_index)
      .set("dtype", jina3::to_string(encoder.dtype()))
      .set("requested_dtype", jina3::to_string(encoder_options.dtype))
      .set("threads", encoder_options.num_threads)
      .set("batch_size", options.encode.batch_size)
      .set("max_batch_tokens", encoder_options.max_batch_tokens)
      .set("retain_host_memory", encoder_options.retain_host_memory)
      .set("hidden_size", encoder.hidden_size())
      .set("max_length", encoder.max_length())
      .set("quick", options.quick)
      .set("load_s", load_s)
      .set("rss_after_load_mib", mib(rss_loaded))
      .set("peak_rss_during_load_mib", mib(rss_load_peak))
      .set("workloads", std::move(results))
      .set("notes", std::move(notes));
  report.write(std::cout);
  std::cout << std::endl;
  return 0;
}

}  // namespace
}  // namespace jina3_bench

int main(int argc, char** argv) {
  jina3_bench::CommandLine command_line;
  try {
    return jina3_bench::run(command_line.parse(argc, argv));
  } catch (const jina3_bench::UsageError& e) {
    std::cerr << "jina3_bench: " << e.what() << "\n\n" << command_line.help();
    return 64;
  } catch (const jina3::Error& e) {
    std::cerr << "jina3_bench: jina3 error (" << jina3::to_string(e.code()) << "): " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "jina3_bench: " << e.what() << "\n";
    return 1;
  }
}
