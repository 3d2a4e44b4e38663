// The progress line of `jina3 embed` on stderr: texts done / total, texts/s, tokens/s and ETA,
// redrawn in place about twice a second by a thread of its own. Used only when stderr is a
// terminal and --quiet is not given.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace jina3_cli {

class Progress {
 public:
  // total: the number of texts, when it becomes known (counted on another thread). tokens: the
  // encoder's token counter (EncoderStats::tokens), sampled at each redraw.
  Progress(std::shared_future<std::optional<std::uint64_t>> total, std::function<std::uint64_t()> tokens);
  ~Progress();  // stops the thread without a final line (a failed run)
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Texts handed to the encoder, and texts embedded and written. Between writes (a block of a
  // full-size model can take a minute) the line counts the texts of the blocks in flight as done
  // in proportion to the tokens the encoder has run since, at the average tokens per text so far.
  // That estimate can run ahead of the next write (the encoder's passes mix the rows of every
  // block in flight, so tokens of later blocks count too); the count shown never goes back.
  void add_submitted(std::uint64_t texts) { submitted_.fetch_add(texts, std::memory_order_relaxed); }
  void add_done(std::uint64_t texts);
  // Stops the thread and prints the final line and a newline.
  void finish();

 private:
  void run();
  std::string line(bool final);
  void stop();

  using Clock = std::chrono::steady_clock;
  std::shared_future<std::optional<std::uint64_t>> total_;
  std::function<std::uint64_t()> tokens_;
  std::uint64_t tokens_at_start_ = 0;
  Clock::time_point start_ = Clock::now();
  std::atomic<std::uint64_t> submitted_{0};
  // Texts written, and the token counter when that count last grew: updated together, under
  // done_mutex_, so that a redraw never pairs a new count with an old token mark.
  std::mutex done_mutex_;
  std::uint64_t done_ = 0;
  std::uint64_t tokens_at_done_ = 0;
  std::uint64_t shown_ = 0;  // the largest count drawn so far (redraws run on one thread)
  std::size_t last_width_ = 0;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace jina3_cli
