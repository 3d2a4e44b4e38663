// `jina3 embed`: texts from a file or stdin to embeddings in a .npy or JSONL file, in blocks, in
// any of the library's six precisions.
//
// Pipeline: Encoder::encode_stream asks this thread for a block, tokenises and queues it for the
// encoder's worker, and keeps up to kInFlight blocks queued before it hands the oldest back to be
// written. So reading, tokenising and writing overlap the forward passes of the blocks before, and
// memory holds at most kInFlight blocks whatever the size of the input.
//
// int8 and uint8 need per-dimension ranges. With --ranges they come from a file and each block is
// quantised as it comes. Without, they are the input's own (as the library's encode_quantized
// computes them over all the rows of one call): the float32 rows go to an unlinked temporary file
// while the ranges are gathered, and are quantised from there at the end.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <jina3/jina3.hpp>

#include "arguments.hpp"
#include "commands.hpp"
#include "embedding_output.hpp"
#include "encoder_setup.hpp"
#include "errors.hpp"
#include "progress.hpp"
#include "text_input.hpp"

namespace jina3_cli {
namespace {

// Blocks submitted and not yet written. Three keep the worker busy while the main thread writes
// one block and reads and tokenises the next.
constexpr std::size_t kInFlight = 3;

// A block read and not yet written. The encoder reads its texts through views until it hands the
// block's rows back, so the block stays here until then.
struct PendingBlock {
  InputBlock block;
  std::uint64_t first_index = 0;
};

// Counts the input's texts on a thread of its own for the progress line, and stops counting when
// destroyed (the run may end first).
class TextCounter {
 public:
  TextCounter(const std::string& path, InputFormat format)
      : total_(std::async(std::launch::async, [this, path, format] { return count_texts(path, format, stop_); })
                   .share()) {}
  ~TextCounter() {
    stop_ = true;
    if (total_.valid()) total_.wait();
  }
  std::shared_future<std::optional<std::uint64_t>> total() const { return total_; }

 private:
  std::atomic<bool> stop_{false};
  std::shared_future<std::optional<std::uint64_t>> total_;
};

// A temporary file that is gone from the directory as soon as it is made ($TMPDIR, else /tmp).
std::FILE* anonymous_temp_file() {
  const char* dir = std::getenv("TMPDIR");
  std::string name = std::string(dir && *dir ? dir : "/tmp") + "/jina3-rows-XXXXXX";
  const int fd = ::mkstemp(name.data());
  if (fd < 0) throw IoError(fmt::format("cannot make a temporary file in {}: {}", name, std::strerror(errno)));
  ::unlink(name.c_str());
  std::FILE* file = ::fdopen(fd, "w+b");
  if (!file) {
    ::close(fd);
    throw IoError(fmt::format("cannot open a temporary file: {}", std::strerror(errno)));
  }
  return file;
}

// The float32 rows of the whole input, kept on disk until the int8/uint8 ranges over all of them
// are known, with their JSONL ids (one JSON text per line, an empty line for none).
class RowSpill {
 public:
  RowSpill(std::size_t dims, bool keep_ids)
      : dims_(dims), rows_file_(anonymous_temp_file(), std::fclose),
        ids_file_(keep_ids ? anonymous_temp_file() : nullptr, [](std::FILE* f) { return f ? std::fclose(f) : 0; }) {}

  void add(const jina3::Embeddings& embeddings, const InputBlock& block) {
    if (rows_ == 0 && embeddings.rows > 0) {
      min_.assign(embeddings.row(0), embeddings.row(0) + dims_);
      max_ = min_;
    }
    for (std::size_t r = 0; r < embeddings.rows; ++r) {
      const float* row = embeddings.row(r);
      for (std::size_t d = 0; d < dims_; ++d) {
        min_[d] = std::min(min_[d], row[d]);
        max_[d] = std::max(max_[d], row[d]);
      }
    }
    put(rows_file_.get(), embeddings.data.data(), embeddings.data.size() * sizeof(float));
    if (ids_file_) {
      std::string lines;
      for (std::size_t r = 0; r < embeddings.rows; ++r) {
        if (r < block.ids.size() && block.ids[r]) lines += block.ids[r]->dump();
        lines += '\n';
      }
      put(ids_file_.get(), lines.data(), lines.size());
    }
    rows_ += embeddings.rows;
  }

  std::uint64_t rows() const { return rows_; }
  // The ranges of all rows so far (as jina3::calibration_ranges over them); rows() must be > 0.
  jina3::Ranges ranges() const { return jina3::Ranges{min_, max_}; }

  // Reads the rows back, up to block_rows at a time, in order.
  template <class OnRows>
  void replay(std::size_t block_rows, const OnRows& on_rows) {
    rewind(rows_file_.get());
    if (ids_file_) rewind(ids_file_.get());
    std::vector<float> values;
    std::vector<std::optional<RowJson>> ids;
    std::string line;
    for (std::uint64_t done = 0; done < rows_;) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(block_rows, rows_ - done));
      values.resize(n * dims_);
      if (std::fread(values.data(), sizeof(float), values.size(), rows_file_.get()) != values.size()) {
        throw IoError("cannot read back the temporary file of rows");
      }
      ids.assign(n, std::nullopt);
      for (std::size_t r = 0; ids_file_ && r < n; ++r) {
        line.clear();
        for (int c; (c = std::fgetc(ids_file_.get())) != '\n';) {
          if (c == EOF) throw IoError("cannot read back the temporary file of ids");
          line += static_cast<char>(c);
        }
        if (!line.empty()) ids[r] = RowJson::parse(line);
      }
      on_rows(values.data(), n, done, ids.data());
      done += n;
    }
  }

 private:
  static void put(std::FILE* file, const void* data, std::size_t size) {
    if (size > 0 && std::fwrite(data, 1, size, file) != size) {
      throw IoError(fmt::format("cannot write the temporary file of rows: {}", std::strerror(errno)));
    }
  }
  static void rewind(std::FILE* file) {
    if (std::fflush(file) != 0 || std::fseek(file, 0, SEEK_SET) != 0) {
      throw IoError(fmt::format("cannot read back a temporary file: {}", std::strerror(errno)));
    }
  }

  std::size_t dims_;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> rows_file_;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> ids_file_;
  std::vector<float> min_, max_;
  std::uint64_t rows_ = 0;
};

bool needs_ranges(jina3::Precision precision) {
  return precision == jina3::Precision::Int8 || precision == jina3::Precision::UInt8;
}

}  // namespace

void add_input_options(CLI::App* cmd, InputArgs& args) {
  cmd->add_option("INPUT", args.input,
                  "a .txt file (one text per line), a .jsonl file (one object per line, the text in --field), "
                  "or - for standard input (plain lines unless --format jsonl)")
      ->required();
  cmd->add_option("--format", args.format,
                  "how INPUT is read: text (one text per line) or jsonl; default: by its suffix, and text for -")
      ->check(CLI::IsMember({"text", "jsonl"}));
  cmd->add_option("--field", args.field, "JSONL key that holds the text")->capture_default_str();
}

void add_int_option(CLI::App* cmd, const std::string& name, int& value, int min_value, const std::string& help) {
  cmd->add_option(name, value, help)->transform(jina3_args::decimal_at_least(min_value))->capture_default_str();
}

void add_int_option(CLI::App* cmd, const std::string& name, std::optional<int>& value, int min_value,
                    const std::string& help) {
  cmd->add_option_function<int>(name, [&value](const int& v) { value = v; }, help)
      ->transform(jina3_args::decimal_at_least(min_value));
}

CLI::App* add_embed_command(CLI::App& app, EmbedArgs& args) {
  CLI::App* cmd = app.add_subcommand(
      "embed", "Embed every text of INPUT into OUTPUT, block by block (memory does not grow with the input)");
  cmd->add_option("PACKAGE", args.package, "jina3 model package (a directory)")->required();
  add_input_options(cmd, args.in);
  cmd->add_option("-o,--output", args.output,
                  "a .npy file (texts x dims, the precision's dtype), a .jsonl file (one {\"index\", \"id\", "
                  "\"embedding\"} object per text; id where the input line has one), or - for JSONL on standard "
                  "output")
      ->capture_default_str();
  cmd->add_option("--task", args.task,
                  "retrieval.query, retrieval.passage, separation, classification, text-matching, or none "
                  "(no adapter, no prompt; the default)");
  add_int_option(cmd, "--dims", args.dims, 0, "Matryoshka dims of the output; 0 = the full size");
  cmd->add_option("--precision", args.precision,
                  "output numbers: float32, float16, int8, uint8 (per-dimension ranges: --ranges, or the whole "
                  "input's), binary or ubinary (1 bit per dim, 8 per byte; dims a multiple of 8); .npy gets the "
                  "matching dtype (<f4, <f2, i1, u1, i1, u1)")
      ->check(jina3_args::detail::library_name([](const std::string& name) { jina3::precision_from_string(name); }))
      ->capture_default_str();
  cmd->add_option("--encoding", args.encoding,
                  "JSONL embeddings as numbers (floats, or integers for int8/uint8/binary/ubinary) or as base64 of "
                  "the row's bytes (little-endian floats)")
      ->check(CLI::IsMember({"numbers", "base64"}))
      ->capture_default_str();
  cmd->add_option("--ranges", args.ranges,
                  "int8/uint8: a .npy file of per-dimension ranges, shape (2, dims) (min row, max row), e.g. a "
                  "corpus's from --save-ranges or jina3.calibration_ranges; default: the ranges of this input");
  cmd->add_option("--save-ranges", args.save_ranges,
                  "int8/uint8: write the ranges used to this .npy file, to quantise later inputs alike");
  add_int_option(cmd, "--block-size", args.block_size, 1,
                 "texts read, embedded and written together (memory grows with it; the library sorts each block "
                 "by length)");
  cmd->add_flag("-q,--quiet", args.quiet, "no progress line (shown on stderr only when stderr is a terminal)");
  jina3_args::add_encoder_option_flags(cmd, args.encoder_options);
  jina3_args::add_encode_option_flags(cmd, args.encode_options);
  return cmd;
}

int run_embed(const EmbedArgs& args) {
  // Everything that can be checked without the model first: loading a full-size package takes a
  // while, and a typo should not wait for it.
  const InputFormat input_fmt = input_format(args.in.input, args.in.format);
  const OutputFormat output_fmt = output_format(args.output);
  const jina3::Precision precision = jina3::precision_from_string(args.precision);
  const JsonEncoding encoding = json_encoding(args.encoding);
  if (encoding == JsonEncoding::Base64 && output_fmt != OutputFormat::Jsonl) {
    throw UsageError("--encoding base64 is for JSONL output; a .npy file holds the bytes themselves");
  }
  if ((!args.ranges.empty() || !args.save_ranges.empty()) && !needs_ranges(precision)) {
    throw UsageError(fmt::format("--ranges and --save-ranges are for --precision int8 or uint8, not {}",
                                 args.precision));
  }
  const auto npy_name = [](const std::string& name) {
    return name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0;
  };
  if (!args.save_ranges.empty() && !npy_name(args.save_ranges)) {
    throw UsageError(fmt::format("--save-ranges {}: use a .npy file", args.save_ranges));
  }
  const jina3::Task task = parse_task(args.task);
  if (args.in.field.empty()) throw UsageError("--field is empty");
  std::optional<jina3::Ranges> given_ranges;
  if (!args.ranges.empty()) given_ranges = read_ranges_npy(args.ranges);

  TextReader reader(args.in.input, input_fmt, args.in.field, output_fmt == OutputFormat::Jsonl, "",
                    args.in.input == "-" && args.in.format.empty());
  OutputFile output(args.output);

  const jina3::Encoder encoder = load_encoder(args.package, args.encoder_options);
  // The task (and whether the package has its adapter), dims, options, precision and ranges,
  // before any input is read; an InvalidArgument here is a usage error (main.cpp).
  const jina3::Ranges* ranges = given_ranges ? &*given_ranges : nullptr;
  const std::size_t dims = encoder.check(task, args.dims, args.encode_options, precision, ranges);
  const RowLayout layout{precision, dims, encoding};
  const std::unique_ptr<EmbeddingWriter> writer = make_writer(output_fmt, output, layout);
  std::optional<RowSpill> spill;
  if (needs_ranges(precision) && !ranges) spill.emplace(dims, output_fmt == OutputFormat::Jsonl);

  const bool show_progress = !args.quiet && ::isatty(STDERR_FILENO);
  std::optional<TextCounter> counter;
  std::optional<Progress> progress;
  if (show_progress) {
    std::shared_future<std::optional<std::uint64_t>> total;
    if (args.in.input != "-") total = counter.emplace(args.in.input, input_fmt).total();
    progress.emplace(total, [&encoder] { return encoder.stats().tokens; });
  }

  std::vector<std::uint8_t> bytes;  // one block's rows in the output precision
  const auto write_rows = [&](const float* values, std::size_t rows, std::uint64_t first_index,
                              const std::optional<RowJson>* ids) {
    if (precision == jina3::Precision::Float32) {
      writer->write(reinterpret_cast<const std::uint8_t*>(values), rows, first_index, ids);
      return;
    }
    bytes.resize(rows * layout.bytes());
    jina3::quantize(values, rows, dims, precision, ranges, bytes.data());
    writer->write(bytes.data(), rows, first_index, ids);
  };

  std::deque<PendingBlock> pending;  // a deque: adding and removing blocks moves none of the others
  std::uint64_t next_index = 0;
  std::uint64_t truncated = 0;
  const auto next_block = [&](std::vector<std::string_view>& texts) {
    PendingBlock& next = pending.emplace_back();
    if (!reader.read_block(static_cast<std::size_t>(args.block_size), next.block)) {
      pending.pop_back();
      return false;
    }
    next.first_index = next_index;
    next_index += next.block.size();
    texts.assign(next.block.texts.begin(), next.block.texts.end());
    if (progress) progress->add_submitted(next.block.size());
    return true;
  };
  const auto write_block = [&](const std::vector<std::string_view>&, jina3::Embeddings&& embeddings) {
    const PendingBlock done = std::move(pending.front());
    pending.pop_front();
    if (embeddings.rows != done.block.size() || embeddings.dims != dims) {
      throw jina3::Error(fmt::format("{}: the encoder returned {} x {} for {} texts",
                                     block_lines(reader.name(), done.block), embeddings.rows, embeddings.dims,
                                     done.block.size()));
    }
    if (spill) {
      spill->add(embeddings, done.block);
    } else {
      write_rows(embeddings.data.data(), embeddings.rows, done.first_index,
                 done.block.ids.empty() ? nullptr : done.block.ids.data());
    }
    truncated += static_cast<std::uint64_t>(std::count(embeddings.truncated.begin(), embeddings.truncated.end(), 1));
    if (progress) progress->add_done(embeddings.rows);
  };
  try {
    encoder.encode_stream(next_block, write_block, task, args.dims, args.encode_options, kInFlight);
  } catch (const jina3::Error& e) {
    // Queueing the block just read is what throws these: a text over the limit with
    // --no-truncate, or (unexpected, as texts were checked as they were read) a bad text. The
    // line says where.
    const bool bad_text = e.code() == jina3::ErrorCode::InputTooLong || e.code() == jina3::ErrorCode::InvalidArgument;
    if (!bad_text || pending.empty()) throw;
    throw IoError(text_error_where(reader.name(), pending.back().block, e.what()));
  }

  std::optional<jina3::Ranges> used_ranges = given_ranges;
  if (spill && spill->rows() > 0) {
    used_ranges = spill->ranges();
    ranges = &*used_ranges;
    try {
      spill->replay(static_cast<std::size_t>(args.block_size), write_rows);
    } catch (const jina3::InvalidArgument& e) {
      throw UsageError(fmt::format("--precision {}: the ranges of this input's {} texts cannot be used ({}); pass "
                                   "--ranges with the ranges of a larger set", args.precision, spill->rows(),
                                   e.what()));
    }
  }
  writer->finish(next_index);
  output.commit();
  if (progress) progress->finish();
  if (truncated > 0) {
    const int limit = args.encode_options.max_length > 0 ? args.encode_options.max_length : encoder.max_length();
    std::cerr << fmt::format("jina3: {} of {} texts were longer than {} tokens and were truncated (--no-truncate "
                             "makes that an error)\n", truncated, next_index, limit);
  }
  if (!args.save_ranges.empty()) {
    if (!used_ranges) throw IoError(fmt::format("--save-ranges {}: the input has no texts to take ranges from",
                                                args.save_ranges));
    std::vector<float> both(used_ranges->min);
    both.insert(both.end(), used_ranges->max.begin(), used_ranges->max.end());
    write_npy_f32(args.save_ranges, both.data(), 2, dims);
  }
  return kExitOk;
}

}  // namespace jina3_cli
