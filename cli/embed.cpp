// `jina3 embed`: texts from a file or stdin to embeddings in a .npy or JSONL file, in blocks.
//
// Pipeline: Encoder::encode_stream asks this thread for a block, tokenises and queues it for the
// encoder's worker, and keeps up to kInFlight blocks queued before it hands the oldest back to be
// written. So reading, tokenising and writing overlap the forward passes of the blocks before, and
// memory holds at most kInFlight blocks whatever the size of the input.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <future>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <jina3/jina3.hpp>

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

std::string line_range(const std::string& input, const InputBlock& block) {
  if (block.lines.empty()) return input;
  if (block.lines.front() == block.lines.back()) return fmt::format("{}, line {}", input, block.lines.front());
  return fmt::format("{}, lines {}-{}", input, block.lines.front(), block.lines.back());
}

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

}  // namespace

int run_embed(const EmbedArgs& args) {
  // Everything that can be checked without the model first: loading a full-size package takes a
  // while, and a typo should not wait for it.
  const InputFormat input_fmt = input_format(args.input);
  const OutputFormat output_fmt = output_format(args.output);
  if (args.precision != "float32") {
    throw UsageError(fmt::format("--precision {}: this tool writes float32 only (the library also offers float16, "
                                 "int8, uint8, binary and ubinary; see README.md)", args.precision));
  }
  const jina3::Task task = parse_task(args.task);
  if (args.field.empty()) throw UsageError("--field is empty");

  TextReader reader(args.input, input_fmt, args.field, output_fmt == OutputFormat::Jsonl);
  OutputFile output(args.output);

  const jina3::Encoder encoder(args.package, args.encoder_options);
  // The task (and whether the package has its adapter), dims and options, before any input is
  // read; an InvalidArgument here is a usage error (main.cpp).
  const std::size_t dims = encoder.check(task, args.dims, args.encode_options);

  const std::unique_ptr<EmbeddingWriter> writer = make_writer(output_fmt, output, static_cast<int>(dims));

  const bool show_progress = !args.quiet && ::isatty(STDERR_FILENO);
  std::optional<TextCounter> counter;
  std::optional<Progress> progress;
  if (show_progress) {
    std::shared_future<std::optional<std::uint64_t>> total;
    if (args.input != "-") total = counter.emplace(args.input, input_fmt).total();
    progress.emplace(total, [&encoder] { return encoder.stats().tokens; });
  }

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
                                     line_range(reader.name(), done.block), embeddings.rows, embeddings.dims,
                                     done.block.size()));
    }
    writer->write(done.block, embeddings, done.first_index);
    truncated += static_cast<std::uint64_t>(std::count(embeddings.truncated.begin(), embeddings.truncated.end(), 1));
    if (progress) progress->add_done(embeddings.rows);
  };
  try {
    encoder.encode_stream(next_block, write_block, task, args.dims, args.encode_options, kInFlight);
  } catch (const jina3::Error& e) {
    // Queueing the block just read is what throws these: a text over the limit with
    // --no-truncate, or (unexpected, as texts were checked as they were read) a bad text. The
    // lines say where.
    const bool bad_text = e.code() == jina3::ErrorCode::InputTooLong || e.code() == jina3::ErrorCode::InvalidArgument;
    if (!bad_text || pending.empty()) throw;
    throw IoError(fmt::format("{}: {}", line_range(reader.name(), pending.back().block), e.what()));
  }

  writer->finish(next_index);
  output.commit();
  if (progress) progress->finish(truncated);
  return kExitOk;
}

}  // namespace jina3_cli
