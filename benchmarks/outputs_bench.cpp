// jina3_outputs_bench: what the outputs of issue 9 cost next to plain encode, in one run.
//   late       late chunking of one long document (default 8,192 tokens) against encoding it;
//   long       long late chunking of documents of 1..k times that length: time and peak RSS per
//              length, and time per macro window;
//   quantized  encode_quantized for every precision against float32 encode of the same texts,
//              and the precision stage alone (jina3::quantize) on the call's rows.
// Calls of the things compared are interleaved, so drifting machine speed hits both alike; each
// figure is a median. Prints one JSON object (stdout or --out); progress goes to stderr.
// benchmarks/README.md, "Outputs", tells how to run it and what the targets are.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <jina3/jina3.hpp>

#include "arguments.hpp"
#include "process_memory.hpp"
#include "synthetic_texts.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::ordered_json;
using jina3::Precision;
using jina3::Task;

struct Options {
  std::string package;
  jina3::EncoderOptions encoder;  // --device, --threads, ...: the library's defaults, as a user gets them
  int doc_tokens = 8192;
  int long_pieces = 4;  // long part: documents of 1..long_pieces x doc_tokens
  int chunk_tokens = 256;
  int repeats = 2;
  int passages = 16;
  int passage_tokens = 128;
  std::string parts = "late,long,quantized";
  std::string out;
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n == 0 ? 0.0 : n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

template <class F>
double timed(F&& f) {
  const auto start = Clock::now();
  f();
  return seconds_since(start);
}

double mib(std::optional<std::int64_t> bytes) { return bytes ? static_cast<double>(*bytes) / (1 << 20) : -1.0; }

// A document of about pieces x tokens tokens: calibrated pieces of `tokens` tokens joined by a space.
std::string long_document(const jina3::Encoder& encoder, int tokens, int pieces) {
  std::string text;
  for (int i = 0; i < pieces; ++i) {
    if (i) text += ' ';
    text += jina3_bench::calibrated_text(encoder, Task::RetrievalPassage, tokens, 9000 + i).text;
  }
  return text;
}

// Tokens late_chunk ran for a text: the end of its last token span (the last chunk takes </s>).
std::size_t sequence_tokens(const jina3::ChunkEmbeddings& chunks) {
  return chunks.token_spans.empty() ? 0 : chunks.token_spans.back().second;
}

Json run_late(const jina3::Encoder& encoder, const Options& o) {
  const int tokens = std::min(o.doc_tokens, encoder.max_length());
  const std::vector<std::string> doc = {long_document(encoder, tokens, 1)};
  jina3::LateChunkOptions chunking;
  chunking.chunk_tokens = o.chunk_tokens;
  std::fprintf(stderr, "outputs_bench: late: warm-up encode of a %d-token document\n", tokens);
  encoder.encode(doc, Task::RetrievalPassage);
  std::vector<double> encode_s, late_s;
  std::size_t chunks = 0, ran = 0;
  for (int r = 0; r < o.repeats; ++r) {
    encode_s.push_back(timed([&] { encoder.encode(doc, Task::RetrievalPassage); }));
    late_s.push_back(timed([&] {
      const auto result = encoder.late_chunk(doc, Task::RetrievalPassage, 0, chunking);
      chunks = result[0].size();
      ran = sequence_tokens(result[0]);
    }));
    std::fprintf(stderr, "outputs_bench: late: encode %.2f s, late_chunk %.2f s\n", encode_s.back(), late_s.back());
  }
  const double ratio = median(late_s) / median(encode_s);
  return Json{{"document_tokens", ran},
              {"chunk_tokens", o.chunk_tokens},
              {"chunks", chunks},
              {"encode_s", encode_s},
              {"late_chunk_s", late_s},
              {"encode_median_s", median(encode_s)},
              {"late_chunk_median_s", median(late_s)},
              {"ratio", ratio},
              {"target", "<= 1.1"},
              {"reached", ratio <= 1.1}};
}

Json run_long(const jina3::Encoder& encoder, const Options& o) {
  const int tokens = std::min(o.doc_tokens, encoder.max_length());
  jina3::LateChunkOptions chunking;
  chunking.chunk_tokens = o.chunk_tokens;
  Json rows = Json::array();
  double peak_max = 0.0;
  for (int pieces = 1; pieces <= o.long_pieces; ++pieces) {
    const std::vector<std::string> doc = {long_document(encoder, tokens, pieces)};
    const bool reset = jina3_bench::reset_peak_resident();
    std::size_t ran = 0, chunks = 0;
    const double s = timed([&] {
      const auto result = encoder.late_chunk(doc, Task::RetrievalPassage, 0, chunking);
      ran = sequence_tokens(result[0]);
      chunks = result[0].size();
    });
    const double peak = mib(jina3_bench::peak_resident_bytes());
    peak_max = std::max(peak_max, peak);
    // Windows as the library makes them: window = max_length, overlap 512.
    const std::size_t window = static_cast<std::size_t>(encoder.max_length()), overlap = 512;
    const std::size_t windows = ran <= window ? 1 : 1 + (ran - window + (window - overlap) - 1) / (window - overlap);
    std::fprintf(stderr, "outputs_bench: long: %zu tokens, %zu windows: %.2f s (%.2f s/window), peak RSS %.0f MiB\n",
                 ran, windows, s, s / windows, peak);
    rows.push_back(Json{{"tokens", ran},
                        {"windows", windows},
                        {"chunks", chunks},
                        {"seconds", s},
                        {"seconds_per_window", s / windows},
                        {"peak_rss_mib", peak},
                        {"peak_reset", reset}});
  }
  const double first = rows.front()["seconds_per_window"].get<double>();
  const double last = rows.back()["seconds_per_window"].get<double>();
  return Json{{"chunk_tokens", o.chunk_tokens},
              {"rows", rows},
              {"per_window_last_vs_first", last / first},
              {"peak_rss_max_mib", peak_max},
              {"rss_target_mib", 2.5 * 1024},
              {"reached_rss", peak_max <= 2.5 * 1024}};
}

Json run_quantized(const jina3::Encoder& encoder, const Options& o) {
  std::vector<std::string> texts;
  for (int i = 0; i < o.passages; ++i) {
    texts.push_back(jina3_bench::calibrated_text(encoder, Task::RetrievalPassage, o.passage_tokens, 5000 + i).text);
  }
  const Precision precisions[] = {Precision::Float16, Precision::Int8, Precision::UInt8, Precision::Binary,
                                  Precision::UBinary};
  std::fprintf(stderr, "outputs_bench: quantized: warm-up, %d x %d tokens\n", o.passages, o.passage_tokens);
  const jina3::Embeddings rows = encoder.encode(texts, Task::RetrievalPassage);
  std::vector<double> float_s;
  std::vector<std::vector<double>> quant_s(std::size(precisions));
  for (int r = 0; r < std::max(o.repeats, 3); ++r) {
    float_s.push_back(timed([&] { encoder.encode(texts, Task::RetrievalPassage); }));
    for (std::size_t p = 0; p < std::size(precisions); ++p) {
      quant_s[p].push_back(timed([&] { encoder.encode_quantized(texts, Task::RetrievalPassage, 0, precisions[p]); }));
    }
  }
  Json out = Json::object();
  out["texts"] = o.passages;
  out["tokens_per_text"] = o.passage_tokens;
  out["float32_s"] = float_s;
  out["float32_median_s"] = median(float_s);
  Json per = Json::object();
  double worst_stage = 0.0;
  for (std::size_t p = 0; p < std::size(precisions); ++p) {
    // The precision stage alone on this call's rows, many times (it takes microseconds).
    std::vector<std::uint8_t> buffer(rows.rows * jina3::row_bytes(precisions[p], rows.dims));
    constexpr int kStageRepeats = 200;
    const double stage = timed([&] {
                           for (int i = 0; i < kStageRepeats; ++i) {
                             jina3::quantize(rows.data.data(), rows.rows, rows.dims, precisions[p], nullptr,
                                             buffer.data());
                           }
                         }) /
                         kStageRepeats;
    const double stage_fraction = stage / median(float_s);
    worst_stage = std::max(worst_stage, stage_fraction);
    per[jina3::to_string(precisions[p])] = Json{{"seconds", quant_s[p]},
                                                {"median_s", median(quant_s[p])},
                                                {"ratio", median(quant_s[p]) / median(float_s)},
                                                {"stage_s", stage},
                                                {"stage_fraction", stage_fraction}};
    std::fprintf(stderr, "outputs_bench: quantized %-7s: %.3f s vs float32 %.3f s (%.4fx); stage %.1f us (%.4f%%)\n",
                 jina3::to_string(precisions[p]), median(quant_s[p]), median(float_s),
                 median(quant_s[p]) / median(float_s), stage * 1e6, stage_fraction * 100);
  }
  out["precisions"] = per;
  out["stage_fraction_max"] = worst_stage;
  out["target"] = "<= 0.02 added";
  out["reached"] = worst_stage <= 0.02;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"jina3_outputs_bench: late chunking, long late chunking and quantised outputs against encode"};
  app.add_option("--package", o.package, "jina3 model package")->required();
  jina3_args::add_encoder_option_flags(&app, o.encoder);
  app.add_option("--doc-tokens", o.doc_tokens, "tokens of the late-chunked document (capped at max_length)")
      ->capture_default_str();
  app.add_option("--long-pieces", o.long_pieces, "long part: documents of 1..N x doc-tokens")->capture_default_str();
  app.add_option("--chunk-tokens", o.chunk_tokens, "late_chunk chunk_tokens")->capture_default_str();
  app.add_option("--repeats", o.repeats, "timed calls per measured thing")->capture_default_str();
  app.add_option("--passages", o.passages, "quantized part: texts per call")->capture_default_str();
  app.add_option("--passage-tokens", o.passage_tokens, "quantized part: tokens per text")->capture_default_str();
  app.add_option("--parts", o.parts, "late, long, quantized (comma-separated)")->capture_default_str();
  app.add_option("--out", o.out, "write the JSON here instead of stdout");
  CLI11_PARSE(app, argc, argv);
  try {
    const auto start = Clock::now();
    jina3::Encoder encoder(o.package, o.encoder);
    Json result{{"package", o.package},
                {"device", jina3::to_string(o.encoder.device)},
                {"device_index", o.encoder.device_index},
                {"threads", o.encoder.num_threads},
                {"dtype", jina3::to_string(encoder.dtype())},
                {"max_length", encoder.max_length()},
                {"load_s", seconds_since(start)}};
    const auto want = [&](const char* part) {
      return ("," + o.parts + ",").find(std::string(",") + part + ",") != std::string::npos;
    };
    if (want("quantized")) result["quantized"] = run_quantized(encoder, o);
    if (want("late")) result["late"] = run_late(encoder, o);
    if (want("long")) result["long"] = run_long(encoder, o);
    const std::string text = result.dump(2);
    if (o.out.empty()) {
      std::cout << text << "\n";
    } else {
      std::ofstream(o.out) << text << "\n";
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "jina3_outputs_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
