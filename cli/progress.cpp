// The progress line; see progress.hpp.
#include "progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

namespace jina3_cli {
namespace {

constexpr auto kRedraw = std::chrono::milliseconds(500);

std::string duration(double seconds) {
  const auto s = static_cast<std::uint64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

// 1234567 -> "1.23M": the rates need three figures, not seven.
std::string compact(double value) {
  if (value >= 1e6) return fmt::format("{:.2f}M", value / 1e6);
  if (value >= 1e4) return fmt::format("{:.1f}k", value / 1e3);
  return fmt::format("{:.0f}", value);
}

}  // namespace

Progress::Progress(std::shared_future<std::optional<std::uint64_t>> total, std::function<std::uint64_t()> tokens)
    : total_(std::move(total)), tokens_(std::move(tokens)) {
  tokens_at_start_ = tokens_();
  thread_ = std::thread([this] { run(); });
}

Progress::~Progress() {
  stop();
  if (last_width_ > 0) std::fputs("\n", stderr);  // leave the last line standing above the error
}

void Progress::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Progress::finish() {
  stop();
  // A short input can be done before it is counted; the final line should still have its total.
  if (total_.valid()) total_.wait_for(std::chrono::milliseconds(200));
  const std::string text = line(true) + "\n";
  ::write(STDERR_FILENO, text.data(), text.size());
  last_width_ = 0;
}

void Progress::add_done(std::uint64_t texts) {
  const std::uint64_t tokens = tokens_() - tokens_at_start_;
  std::lock_guard<std::mutex> lock(done_mutex_);
  done_ += texts;
  tokens_at_done_ = tokens;
}

std::string Progress::line(bool final) {
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  std::uint64_t written = 0;
  std::uint64_t tokens_at_done = 0;
  {
    std::lock_guard<std::mutex> lock(done_mutex_);
    written = done_;
    tokens_at_done = tokens_at_done_;
  }
  const std::uint64_t tokens = tokens_() - tokens_at_start_;
  std::uint64_t done = written;
  if (!final && written > 0 && tokens_at_done > 0 && tokens > tokens_at_done) {
    const double tokens_per_text = static_cast<double>(tokens_at_done) / static_cast<double>(written);
    const auto more = static_cast<std::uint64_t>(static_cast<double>(tokens - tokens_at_done) / tokens_per_text);
    done = std::min(written + more, std::max(written, submitted_.load(std::memory_order_relaxed)));
  }
  // When the oldest block in flight is written, the estimate restarts from the written count and
  // drops the tokens already run for the blocks behind it: it may fall below what was shown.
  // Hold the count until the estimate passes it again (the final line is the written count, which
  // is never below an estimate: each is capped by the texts submitted).
  done = std::max(done, shown_);
  if (final) done = std::max(written, done);
  shown_ = done;
  std::optional<std::uint64_t> total;
  if (total_.valid() && total_.wait_for(std::chrono::seconds(0)) == std::future_status::ready) total = total_.get();
  const double texts_per_s = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;

  std::string text = "\r";
  if (total && *total > 0) {
    text += fmt::format("{}/{} texts ({:.0f}%)", done, *total, 100.0 * static_cast<double>(done) / *total);
  } else {
    text += fmt::format("{} texts", done);
  }
  text += fmt::format("  {} texts/s  {} tokens/s", compact(texts_per_s),
                      compact(elapsed > 0 ? static_cast<double>(tokens) / elapsed : 0.0));
  if (final) {
    text += fmt::format("  {} elapsed", duration(elapsed));
  } else if (total && done > 0 && *total >= done) {
    text += fmt::format("  ETA {}", duration(static_cast<double>(*total - done) / texts_per_s));
  }
  // Blank out what is left of a longer previous line.
  const std::size_t width = text.size();
  if (width < last_width_) text.append(last_width_ - width, ' ');
  last_width_ = width;
  return text;
}

void Progress::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!wake_.wait_for(lock, kRedraw, [this] { return stopping_; })) {
    const std::string text = line(false);
    // write(2), not stdio: stderr is unbuffered anyway, and this keeps the line in one piece.
    ::write(STDERR_FILENO, text.data(), text.size());
  }
}

}  // namespace jina3_cli
