// `jina3 embed`: texts from a file or stdin to embeddings in a .npy or JSONL file, in blocks.
//
// Pipeline: the main thread reads a block, hands it to the encoder with encode_async (which
// tokenises it on this thread and queues it for the encoder's worker), and keeps up to
// kInFlight blocks queued before it waits for the oldest and writes it. So reading, tokenising
// and writing overlap the forward passes of the blocks before, and memory holds at most
// kInFlight blocks whatever the size of the input.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <future>
#include <memory>
#include <optional>

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

struct PendingBlock {
  InputBlock block;  // its texts are dropped once submitted: lines and ids are what is left to use
  std::uint64_t first_index = 0;
  std::future<jina3::Embeddings> result;
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
    throw UsageError(fmt::format("--precision {}: not available yet; only float32 is supported for now",
                                 args.precision));
  }
  const jina3::Task task = parse_task(args.task);
  if (args.field.empty()) throw UsageError("--field is empty");

  TextReader reader(args.input, input_fmt, args.field, output_fmt == OutputFormat::Jsonl);
  OutputFile output(args.output);

  jina3::EncoderOptions encoder_options = base_encoder_options(args.device, args.no_verify);
  encoder_options.num_threads = args.threads;
  const jina3::Encoder encoder(args.package, encoder_options);

  jina3::EncodeOptions encode_options;
  encode_options.max_length = args.max_length;
  encode_options.batch_size = args.batch_size;
  check_task_and_options(encoder, task, encode_options);
  if (args.dims != 0 && std::find(encoder.dims().begin(), encoder.dims().end(), args.dims) == encoder.dims().end()) {
    throw UsageError(fmt::format("--dims {}: this package has dims {}", args.dims, fmt::join(encoder.dims(), ", ")));
  }
  const int dims = args.dims != 0 ? args.dims : encoder.hidden_size();

  const std::unique_ptr<EmbeddingWriter> writer = make_writer(output_fmt, output, dims);

  const bool show_progress = !args.quiet && ::isatty(STDERR_FILENO);
  std::optional<TextCounter> counter;
  std::optional<Progress> progress;
  if (show_progress) {
    std::shared_future<std::optional<std::uint64_t>> total;
    if (args.input != "-") total = counter.emplace(args.input, input_fmt).total();
    progress.emplace(total, [&encoder] { return encoder.stats().tokens; });
  }

  std::deque<PendingBlock> pending;
  std::uint64_t next_index = 0;
  std::uint64_t truncated = 0;
  const auto write_oldest = [&] {
    PendingBlock done = std::move(pending.front());
    pending.pop_front();
    const jina3::Embeddings embeddings = done.result.get();
    if (embeddings.rows != done.block.size() || embeddings.dims != static_cast<std::size_t>(dims)) {
      throw jina3::Error(fmt::format("{}: the encoder returned {} x {} for {} texts",
                                     line_range(reader.name(), done.block), embeddings.rows, embeddings.dims,
                                     done.block.size()));
    }
    writer->write(done.block, embeddings, done.first_index);
    truncated += static_cast<std::uint64_t>(std::count(embeddings.truncated.begin(), embeddings.truncated.end(), 1));
    if (progress) progress->add_done(embeddings.rows);
  };

  for (;;) {
    PendingBlock next;
    if (!reader.read_block(static_cast<std::size_t>(args.block_size), next.block)) break;
    next.first_index = next_index;
    next_index += next.block.size();
    try {
      next.result = encoder.encode_async(next.block.texts, task, dims, encode_options);
    } catch (const jina3::InvalidArgument& e) {
      // Texts were checked as they were read and the options before the first block, so this is
      // unexpected; the lines at least say where it happened.
      throw IoError(fmt::format("{}: {}", line_range(reader.name(), next.block), e.what()));
    }
    if (progress) progress->add_submitted(next.block.size());
    std::vector<std::string>().swap(next.block.texts);
    pending.push_back(std::move(next));
    if (pending.size() >= kInFlight) write_oldest();
  }
  while (!pending.empty()) write_oldest();

  writer->finish(next_index);
  output.commit();
  if (progress) progress->finish(truncated);
  return kExitOk;
}

}  // namespace jina3_cli
