// The stream stage: Encoder::encode_stream reads blocks, keeps up to in_flight of them queued, and
// hands each on in input order with the rows encode() gives for the same texts; an exception from
// a callback or a block stops it once the queued blocks are done; empty input calls nothing.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace jina3;
using namespace jina3::test;

namespace {

struct StopHere : std::runtime_error {
  StopHere() : std::runtime_error("stop here") {}
};

std::vector<std::string> stream_texts(std::size_t count) {
  std::vector<std::string> texts;
  for (std::size_t i = 0; i < count; ++i) {
    std::string text = "streamed text " + std::to_string(i);
    for (std::size_t k = 0; k < i % 5; ++k) text += " with a few more words";
    texts.push_back(text);
  }
  return texts;
}

// A stream over storage in blocks of block_size texts, stopping after blocks blocks; counts the
// calls of both callbacks. The texts of every block read stay in storage (a deque: views into it
// stay valid while it grows).
struct Blocks {
  std::size_t block_size = 3;
  std::size_t blocks = 10;
  std::deque<std::string> storage;
  std::size_t read = 0;
  std::size_t handed = 0;

  bool next(std::vector<std::string_view>& texts) {
    if (read == blocks) return false;
    for (std::size_t k = 0; k < block_size; ++k) {
      storage.push_back("block " + std::to_string(read) + " text " + std::to_string(k));
      texts.push_back(storage.back());
    }
    ++read;
    return true;
  }
};

// The tokens a default-options pass runs for these texts (EncoderStats::tokens counts them once
// the pass is done).
std::uint64_t tokens_of(const Encoder& encoder, const std::deque<std::string>& texts) {
  std::uint64_t tokens = 0;
  for (const auto& ids : encoder.tokenize(std::vector<std::string>(texts.begin(), texts.end()))) tokens += ids.size();
  return tokens;
}

}  // namespace

TEST_CASE("encode_stream hands on every block in order, with encode()'s rows", "[stream]") {
  const Encoder& encoder = shared_encoder("float32");
  const std::vector<std::string> texts = stream_texts(23);
  const Task task = Task::RetrievalPassage;
  const int dims = encoder.dims()[encoder.dims().size() / 2];
  const Embeddings all = encoder.encode(texts, task, dims);
  const std::thread::id caller = std::this_thread::get_id();
  for (std::size_t in_flight : {1u, 3u, 8u}) {
    for (std::size_t block_size : {1u, 4u, 7u}) {
      INFO("in_flight " << in_flight << ", blocks of " << block_size);
      std::size_t next = 0;     // the next text to read
      std::size_t done = 0;     // rows handed on
      std::size_t read = 0;     // blocks read
      std::size_t handed = 0;   // blocks handed on
      std::size_t queued_at_most = 0;
      double worst = 0.0;
      bool other_thread = false;
      encoder.encode_stream(
          [&](std::vector<std::string_view>& block) {
            CHECK(block.empty());
            other_thread |= std::this_thread::get_id() != caller;
            queued_at_most = std::max(queued_at_most, read - handed);
            if (next == texts.size()) return false;
            for (std::size_t k = 0; k < block_size && next < texts.size(); ++k) block.push_back(texts[next++]);
            ++read;
            return true;
          },
          [&](const std::vector<std::string_view>& block, Embeddings&& result) {
            other_thread |= std::this_thread::get_id() != caller;
            REQUIRE(result.rows == block.size());
            REQUIRE(result.dims == static_cast<std::size_t>(dims));
            CHECK(result.truncated == std::vector<std::uint8_t>(block.size(), 0));
            for (std::size_t k = 0; k < block.size(); ++k) {
              // The block's own views come back, in input order.
              CHECK(block[k].data() == texts[done + k].data());
              worst = std::max(worst, max_abs_diff(result.row(k), all.row(done + k), all.dims));
            }
            done += block.size();
            ++handed;
          },
          task, dims, {}, in_flight);
      CHECK(done == texts.size());
      CHECK(handed == read);
      CHECK(handed == (texts.size() + block_size - 1) / block_size);
      // When a block is read, fewer than in_flight are queued: with it, at most in_flight.
      CHECK(queued_at_most < in_flight);
      CHECK_FALSE(other_thread);
      CHECK(worst <= kFloat32Tolerance);  // other passes than encode()'s
    }
  }
}

TEST_CASE("encode_stream: an exception from on_block comes out after the queued blocks are done", "[stream]") {
  EncoderOptions load;
  load.num_threads = test_num_threads();
  const Encoder encoder(package_dir("float32").string(), load);  // its own stats
  Blocks blocks;
  const std::size_t in_flight = 3;
  REQUIRE_THROWS_AS(encoder.encode_stream([&](std::vector<std::string_view>& texts) { return blocks.next(texts); },
                                          [&](const std::vector<std::string_view>&, Embeddings&&) {
                                            if (++blocks.handed == 3) throw StopHere();
                                          },
                                          Task::None, 0, {}, in_flight),
                    StopHere);
  CHECK(blocks.handed == 3);  // nothing handed on after the exception
  CHECK(blocks.read > blocks.handed);
  CHECK(blocks.read <= blocks.handed + in_flight);
  // Every block read ran before the exception came out (the caller may free their texts now):
  // the passes counted all of their tokens.
  const EncoderStats stats = encoder.stats();
  CHECK(stats.requests == blocks.read);
  CHECK(stats.rows == blocks.read * blocks.block_size);
  CHECK(stats.tokens == tokens_of(encoder, blocks.storage));
  CHECK(stats.queue_depth == 0);
}

TEST_CASE("encode_stream: an exception from next_block or a bad block stops the stream the same way", "[stream]") {
  EncoderOptions load;
  load.num_threads = test_num_threads();
  const Encoder encoder(package_dir("float32").string(), load);
  Blocks blocks;
  REQUIRE_THROWS_AS(encoder.encode_stream(
                        [&](std::vector<std::string_view>& texts) {
                          if (blocks.read == 4) throw StopHere();
                          return blocks.next(texts);
                        },
                        [&](const std::vector<std::string_view>&, Embeddings&&) { ++blocks.handed; }, Task::None, 0,
                        {}, 3),
                    StopHere);
  CHECK(blocks.handed < blocks.read);
  CHECK(encoder.stats().tokens == tokens_of(encoder, blocks.storage));

  // A block that fails its checks (invalid UTF-8 in its second text): InvalidArgument, after the
  // blocks before it are done.
  Blocks bad;
  const std::uint64_t tokens_before = encoder.stats().tokens;
  require_error<InvalidArgument>(
      [&] {
        encoder.encode_stream(
            [&](std::vector<std::string_view>& texts) {
              if (!bad.next(texts)) return false;
              if (bad.read == 3) {  // the third block's second text
                std::string& second = bad.storage[bad.storage.size() - 2];
                second = "bad \xff";
                texts[1] = second;
              }
              return true;
            },
            [&](const std::vector<std::string_view>&, Embeddings&&) { ++bad.handed; }, Task::None, 0, {}, 3);
      },
      {"text 1", "UTF-8"});
  CHECK(bad.read == 3);
  bad.storage.erase(bad.storage.end() - 3, bad.storage.end());  // the bad block never ran
  CHECK(encoder.stats().tokens - tokens_before == tokens_of(encoder, bad.storage));
}

TEST_CASE("encode_stream: empty input calls nothing; bad arguments are refused before reading", "[stream]") {
  const Encoder& encoder = shared_encoder("float32");
  const EncoderStats before = encoder.stats();
  int reads = 0;
  int blocks = 0;
  encoder.encode_stream(
      [&](std::vector<std::string_view>&) {
        ++reads;
        return false;
      },
      [&](const std::vector<std::string_view>&, Embeddings&&) { ++blocks; }, Task::RetrievalQuery, 0);
  CHECK(reads == 1);
  CHECK(blocks == 0);
  CHECK(encoder.stats().requests == before.requests);
  // The call's arguments are checked first: nothing is read.
  const auto refused = [&](Task task, int dims, const EncodeOptions& options) {
    reads = 0;
    CHECK_THROWS_AS(encoder.encode_stream(
                        [&](std::vector<std::string_view>&) {
                          ++reads;
                          return false;
                        },
                        [&](const std::vector<std::string_view>&, Embeddings&&) { ++blocks; }, task, dims, options),
                    InvalidArgument);
    CHECK(reads == 0);
  };
  refused(Task::None, 7, {});
  refused(static_cast<Task>(9), 0, {});
  EncodeOptions bad_length;
  bad_length.max_length = 1;
  refused(Task::None, 0, bad_length);
  CHECK(blocks == 0);
}
