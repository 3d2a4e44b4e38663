// `jina3 chunk`: late chunking (Encoder::late_chunk) of every text of INPUT, one JSONL object per
// text with its chunks' spans, token spans and vectors.
#include <iostream>
#include <optional>
#include <regex>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <jina3/jina3.hpp>

#include "arguments.hpp"
#include "commands.hpp"
#include "embedding_output.hpp"
#include "encoder_setup.hpp"
#include "errors.hpp"
#include "text_input.hpp"

namespace jina3_cli {
namespace {

using ByteSpans = std::vector<std::vector<std::pair<std::size_t, std::size_t>>>;

// The library's message about a span ("span 2 (10, 99) of text 3 is outside the text (40 bytes)")
// in the input's terms: the text's line, and the span as written there (characters).
std::string span_error_where(const std::string& input, const InputBlock& block, const std::string& field,
                             const std::string& message) {
  static const std::regex kSpan(R"(^span (\d+) \((\d+), (\d+)\) of text (\d+) (.*)$)");
  std::smatch m;
  if (std::regex_match(message, m, kSpan)) {
    const std::size_t k = std::stoull(m[1].str());
    const std::size_t text = std::stoull(m[4].str());
    if (text < block.size() && text < block.spans.size() && k < block.spans[text].size()) {
      const auto& span = block.spans[text][k];
      return fmt::format("{}, line {}: `{}`[{}] = [{}, {}] (characters; bytes {}, {}) {}", input, block.lines[text],
                         field, k, span.first, span.second, m[2].str(), m[3].str(), m[5].str());
    }
  }
  return text_error_where(input, block, message);
}

}  // namespace

CLI::App* add_chunk_command(CLI::App& app, ChunkArgs& args) {
  CLI::App* cmd = app.add_subcommand(
      "chunk", "Late chunking: each text of INPUT runs through the model whole and each chunk's vector pools its "
               "own tokens; one JSONL object per text with spans, token_spans and embeddings");
  cmd->add_option("PACKAGE", args.package, "jina3 model package (a directory)")->required();
  add_input_options(cmd, args.in);
  cmd->add_option("-o,--output", args.output,
                  "a .jsonl file, or - for standard output: per text {\"index\", \"id\" (where the input line has "
                  "one), \"spans\" ([start, end) in characters of the text), \"token_spans\" ([start, end) token "
                  "indices, <s> and the prompt included), \"embeddings\" (one vector per chunk)}")
      ->capture_default_str();
  cmd->add_option("--task", args.task, "the adapter and prompt: retrieval.passage (the default), retrieval.query, "
                                      "separation, classification, text-matching or none")
      ->capture_default_str();
  add_int_option(cmd, "--dims", args.dims, 0, "Matryoshka dims of each vector; 0 = the full size");
  auto* sentences = cmd->add_option_function<int>(
      "--sentences", [&args](const int& n) { args.sentences = n; },
      "chunks of N sentences (split after . ! or ? followed by whitespace or the end of the text)");
  sentences->transform(jina3_args::decimal_at_least(1));
  auto* tokens = cmd->add_option_function<int>(
      "--chunk-tokens", [&args](const int& n) { args.chunk_tokens = n; }, "chunks of N content tokens");
  tokens->transform(jina3_args::decimal_at_least(1));
  auto* spans = cmd->add_option("--spans-field", args.spans_field,
                                "JSONL input: the key of each text's chunks, a list of [start, end] character "
                                "offsets");
  sentences->excludes(tokens)->excludes(spans);
  tokens->excludes(spans);
  add_int_option(cmd, "--window", args.window, 2,
                 "tokens per pass for long texts (overlapping windows); default the package's max_length");
  add_int_option(cmd, "--overlap", args.overlap, 0,
                 "tokens each window shares with the one before; default 512, or window / 2 under 1024");
  cmd->add_flag_callback("--no-normalize", [&args] { args.normalize = false; },
                         "turns off: L2-normalise each chunk vector after Matryoshka truncation");
  cmd->add_flag_callback("--no-special-tokens", [&args] { args.include_special_tokens = false; },
                         "pool content tokens only (by default the first chunk also pools <s> and the prompt, the "
                         "last </s>)");
  cmd->add_option("--encoding", args.encoding, "vectors as numbers or as base64 of their little-endian float32 bytes")
      ->check(CLI::IsMember({"numbers", "base64"}))
      ->capture_default_str();
  add_int_option(cmd, "--block-size", args.block_size, 1, "texts read, chunked and written together");
  jina3_args::add_encoder_option_flags(cmd, args.encoder_options);
  return cmd;
}

int run_chunk(const ChunkArgs& args) {
  const InputFormat input_fmt = input_format(args.in.input, args.in.format);
  if (output_format(args.output) != OutputFormat::Jsonl) {
    throw UsageError(fmt::format("chunk writes JSONL: use a .jsonl file or - for OUTPUT, not {}", args.output));
  }
  const JsonEncoding encoding = json_encoding(args.encoding);
  const jina3::Task task = parse_task(args.task);
  if (args.in.field.empty()) throw UsageError("--field is empty");
  if (!args.spans_field.empty() && input_fmt != InputFormat::Jsonl) {
    throw UsageError("--spans-field needs JSONL input (a .jsonl file, or --format jsonl)");
  }
  TextReader reader(args.in.input, input_fmt, args.in.field, true, args.spans_field,
                    args.in.input == "-" && args.in.format.empty());
  OutputFile output(args.output);

  const jina3::Encoder encoder = load_encoder(args.package, args.encoder_options);
  const ByteSpans no_spans;
  jina3::LateChunkOptions options;
  options.chunk_tokens = args.chunk_tokens;
  options.sentences = args.sentences;
  options.window = args.window;
  options.overlap = args.overlap;
  options.normalize = args.normalize;
  options.include_special_tokens = args.include_special_tokens;
  if (!args.spans_field.empty()) options.spans = &no_spans;
  // The task, dims and options, before any input is read: a call with no texts checks them all.
  const std::size_t dims = encoder.check(task, args.dims);
  encoder.late_chunk(nullptr, 0, task, args.dims, options);
  const RowLayout layout{jina3::Precision::Float32, dims, encoding};

  InputBlock block;
  ByteSpans byte_spans;
  std::vector<std::string_view> views;
  std::uint64_t index = 0;
  while (reader.read_block(static_cast<std::size_t>(args.block_size), block)) {
    views.assign(block.texts.begin(), block.texts.end());
    if (!args.spans_field.empty()) {
      byte_spans.assign(block.size(), {});
      for (std::size_t i = 0; i < block.size(); ++i) {
        for (const auto& [start, end] : block.spans[i]) {
          byte_spans[i].emplace_back(char_to_byte(block.texts[i], start), char_to_byte(block.texts[i], end));
        }
      }
      options.spans = &byte_spans;
    }
    std::vector<jina3::ChunkEmbeddings> chunks;
    try {
      chunks = encoder.late_chunk(views.data(), views.size(), task, args.dims, options);
    } catch (const jina3::InvalidArgument& e) {
      throw IoError(span_error_where(reader.name(), block, args.spans_field, e.what()));
    }
    std::string out;
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      const jina3::ChunkEmbeddings& c = chunks[i];
      RowJson row = RowJson::object();
      row["index"] = index++;
      if (i < block.ids.size() && block.ids[i]) row["id"] = *block.ids[i];
      std::vector<std::int64_t> bytes;
      for (const auto& [start, end] : c.spans) {
        bytes.push_back(static_cast<std::int64_t>(start));
        bytes.push_back(static_cast<std::int64_t>(end));
      }
      const std::vector<std::int64_t> chars = char_offsets(block.texts[i], bytes);
      RowJson spans_json = RowJson::array();
      for (std::size_t k = 0; k + 1 < chars.size(); k += 2) spans_json.push_back(RowJson::array({chars[k], chars[k + 1]}));
      RowJson token_spans = RowJson::array();
      for (const auto& [start, end] : c.token_spans) {
        token_spans.push_back(RowJson::array({static_cast<std::uint64_t>(start), static_cast<std::uint64_t>(end)}));
      }
      RowJson vectors = RowJson::array();
      for (std::size_t k = 0; k < c.size(); ++k) {
        vectors.push_back(row_json(reinterpret_cast<const std::uint8_t*>(c.row(k)), layout));
      }
      row["spans"] = std::move(spans_json);
      row["token_spans"] = std::move(token_spans);
      row["embeddings"] = std::move(vectors);
      out += row.dump();
      out += '\n';
    }
    output.write(out.data(), out.size());
  }
  output.commit();
  return kExitOk;
}

}  // namespace jina3_cli
