// Block streaming (see stream.hpp).
#include "pipeline/stream.hpp"

#include <algorithm>
#include <deque>
#include <exception>
#include <future>
#include <utility>

#include "pipeline/sentences.hpp"

namespace jina3::pipeline {
namespace {

struct Block {
  std::vector<std::string_view> texts;
  std::future<Embeddings> result;
};

}  // namespace

void stream(const Services& services, const Request& request, const Checked& checked,
            const std::function<bool(std::vector<std::string_view>&)>& next_block,
            const std::function<void(const std::vector<std::string_view>&, Embeddings&&)>& on_block,
            std::size_t in_flight) {
  in_flight = std::max<std::size_t>(in_flight, 1);
  std::deque<Block> pending;
  const auto hand_on_oldest = [&] {
    Block done = std::move(pending.front());
    pending.pop_front();
    on_block(done.texts, done.result.get());
  };
  try {
    for (;;) {
      Block block;
      if (!next_block(block.texts)) break;
      Request part = request;
      part.texts = block.texts.data();
      part.count = block.texts.size();
      part.start = Clock::now();
      block.result = submit_sentences(services, part, checked, {}).future;
      pending.push_back(std::move(block));
      if (pending.size() >= in_flight) hand_on_oldest();
    }
    while (!pending.empty()) hand_on_oldest();
  } catch (...) {
    // The queued blocks point into texts that the caller may free once this returns.
    for (Block& block : pending) {
      if (block.result.valid()) block.result.wait();
    }
    throw;
  }
}

}  // namespace jina3::pipeline
