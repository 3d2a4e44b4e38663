// The core API of priority lanes, cancellation and token-id input (issue 16) on the real library
// with the tiny test packages: EncodeHandle (get, wait_for, ready, valid, cancel, a handle that
// outlives its encoder), Cancelled and the cancellation counters, lanes (equal vectors in both,
// per-lane counters and histograms), texts given as token ids (equal to the texts, vocabulary and
// length checks), tokenize_details, and the checks of priority and bulk_share. The scheduler's
// policy itself is tested with a fake backend in tests/scheduler.
#include <catch2/catch.hpp>

#include "watchdog.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <future>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace jina3;
using namespace jina3::test;
using namespace std::chrono_literals;

namespace {

// Real-model calls under load are slow on 2 cores: a hang is declared after 5 minutes.
constexpr auto kHangLimit = 300s;

// Enough texts to keep the tiny model's worker busy for a second or more on 2 cores.
std::vector<std::string> many_texts(const std::string& stem, int count) {
  std::vector<std::string> texts;
  std::string words;
  for (int i = 0; i < 40; ++i) words += " word" + std::to_string(i);
  for (int i = 0; i < count; ++i) texts.push_back(stem + " " + std::to_string(i) + words);
  return texts;
}

Encoder open_encoder(EncoderOptions options = {}) {
  options.num_threads = test_num_threads();
  return Encoder(package_dir("float32").string(), options);
}

EncodeOptions with_priority(Priority priority) {
  EncodeOptions options;
  options.priority = priority;
  return options;
}

// Row-by-row comparison of two results of the same texts.
double max_diff(const Embeddings& a, const Embeddings& b) {
  REQUIRE(a.rows == b.rows);
  REQUIRE(a.dims == b.dims);
  return a.data.empty() ? 0.0 : max_abs_diff(a.data.data(), b.data.data(), a.data.size());
}

// The bucket a value belongs in, written out from stats.hpp's rule: bucket i counts
// 2^(i-1) < v <= 2^i (bucket 0: v <= 1), the last bucket everything larger.
std::size_t bucket_of(std::uint64_t value) {
  for (std::size_t i = 0; i + 1 < kHistogramBuckets; ++i) {
    if (value <= (std::uint64_t{1} << i)) return i;
  }
  return kHistogramBuckets - 1;
}

std::uint64_t bucket_total(const Histogram& histogram) {
  std::uint64_t total = 0;
  for (std::uint64_t n : histogram.buckets) total += n;
  return total;
}

// The text's own tokens: tokenize() without a task, less <s> and </s>.
std::vector<std::vector<std::int32_t>> own_tokens(const Encoder& encoder, const std::vector<std::string>& texts,
                                                  const EncodeOptions& options = {}) {
  std::vector<std::vector<std::int32_t>> ids = encoder.tokenize(texts, Task::None, options);
  for (auto& row : ids) {
    REQUIRE(row.size() >= 2);
    row = std::vector<std::int32_t>(row.begin() + 1, row.end() - 1);
  }
  return ids;
}

// Texts for the token-id tests: kMixedTexts plus whitespace, punctuation and digits at the start,
// where a prompt's last token and a text's first one meet.
std::vector<std::string> id_texts() {
  std::vector<std::string> texts = kMixedTexts;
  for (const char* extra : {"  leading spaces", ", a comma first", "42 is a number", "trailing   ", "\u00e9t\u00e9",
                            "\xf0\x9f\x99\x82 emoji first", "x"}) {
    texts.emplace_back(extra);
  }
  return texts;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// EncodeHandle
// ---------------------------------------------------------------------------------------------

TEST_CASE("lanes: EncodeHandle get, wait_for, ready and valid", "[lanes_cancel]") {
  Watchdog dog("handle basics", kHangLimit);
  const Encoder& encoder = shared_encoder("float32");
  const std::vector<std::string> texts = {"What is the capital of France?", "", "Paris is the capital."};
  const Embeddings plain = encoder.encode(texts, Task::RetrievalQuery, 32);

  EncodeHandle handle = encoder.submit(texts, Task::RetrievalQuery, 32);
  CHECK(handle.valid());
  REQUIRE(handle.wait_for(120s) == std::future_status::ready);
  CHECK(handle.ready());
  CHECK(handle.valid());  // waiting does not take the result
  handle.wait();
  const Embeddings got = handle.get();
  CHECK(got.rows == 3);
  CHECK(got.dims == 32);
  CHECK(max_diff(got, plain) <= kFloat32Tolerance);
  CHECK(got.truncated == plain.truncated);

  // get() once: afterwards the handle is empty, and every use but cancel() says so.
  CHECK_FALSE(handle.valid());
  require_error<InvalidArgument>([&] { handle.get(); }, {"EncodeHandle", "get()"});
  CHECK_THROWS_AS(handle.wait(), InvalidArgument);
  CHECK_THROWS_AS(handle.wait_for(1ms), InvalidArgument);
  CHECK_THROWS_AS(handle.ready(), InvalidArgument);
  CHECK_FALSE(handle.cancel());  // completed

  EncodeHandle empty;
  CHECK_FALSE(empty.valid());
  CHECK_FALSE(empty.cancel());
  CHECK_THROWS_AS(empty.get(), InvalidArgument);

  // Moves carry the request; the moved-from handle is empty.
  EncodeHandle first = encoder.submit(texts, std::vector<Task>{Task::Separation, Task::None, Task::TextMatching});
  EncodeHandle second = std::move(first);
  CHECK_FALSE(first.valid());  // NOLINT(bugprone-use-after-move): the documented moved-from state
  CHECK_FALSE(first.cancel());
  REQUIRE(second.valid());
  const Embeddings per_text = second.get();
  const Embeddings per_text_plain =
      encoder.encode(texts, std::vector<Task>{Task::Separation, Task::None, Task::TextMatching});
  CHECK(max_diff(per_text, per_text_plain) <= kFloat32Tolerance);

  // An empty call completes at once (no ticket): ready, result of 0 rows, not cancellable.
  EncodeHandle nothing = encoder.submit(std::vector<std::string>{}, Task::None);
  CHECK(nothing.ready());
  CHECK_FALSE(nothing.cancel());
  CHECK(nothing.get().rows == 0);

  // Argument errors are thrown by submit itself.
  EncodeOptions strict;
  strict.truncate = false;
  strict.max_length = 4;
  CHECK_THROWS_AS(encoder.submit({"far too many words for four tokens"}, Task::None, 0, strict), InputTooLong);
  CHECK_THROWS_AS(encoder.submit({"ok"}, Task::None, 5), InvalidArgument);
}

TEST_CASE("lanes: cancelling a big request fails it with Cancelled and the next requests are served",
          "[lanes_cancel]") {
  Watchdog dog("cancel big", kHangLimit);
  Encoder encoder = open_encoder();
  const std::vector<std::string> big = many_texts("cancel me", 3000);
  const std::vector<std::string> small = {"What is the capital of France?", "Berlin"};
  const Embeddings serial = shared_encoder("float32").encode(small, Task::RetrievalQuery);
  std::uint64_t big_tokens = 0;
  for (const auto& ids : encoder.tokenize(big, Task::RetrievalPassage)) big_tokens += ids.size();

  EncodeHandle handle = encoder.submit(big, Task::RetrievalPassage);
  REQUIRE(handle.valid());
  CHECK(handle.wait_for(0s) == std::future_status::timeout);
  CHECK_FALSE(handle.ready());
  CHECK(handle.cancel());
  CHECK_FALSE(handle.cancel());  // a second call finds it cancelled already
  // Settled at once, or when the pass holding some of its rows ends.
  REQUIRE(handle.wait_for(120s) == std::future_status::ready);
  require_error<Cancelled>([&] { handle.get(); }, {"cancel"});
  CHECK_FALSE(handle.valid());

  // The next requests are served, with the right vectors.
  const Embeddings next = encoder.encode(small, Task::RetrievalQuery);
  CHECK(max_diff(next, serial) <= kFloat32Tolerance);
  EncodeHandle after = encoder.submit(small, Task::RetrievalQuery);
  CHECK(max_diff(after.get(), serial) <= kFloat32Tolerance);

  const EncoderStats stats = encoder.stats();
  const LaneStats& lane = stats.lanes[static_cast<int>(Priority::Interactive)];
  CHECK(stats.cancelled == 1);
  CHECK(lane.cancelled == 1);
  CHECK(stats.lanes[static_cast<int>(Priority::Bulk)].cancelled == 0);
  CHECK(stats.failed == 0);  // a caller's cancel is not a failure
  CHECK(stats.requests == 3);
  CHECK(lane.requests == 3);
  CHECK(lane.rows == big.size() + 2 * small.size());
  // Most of the big request never ran: its queued rows left the queue, its passes were skipped.
  INFO("cancelled_rows " << lane.cancelled_rows << ", tokens run " << stats.tokens << " of the big request's "
                         << big_tokens);
  CHECK(lane.cancelled_rows > 0);
  CHECK(lane.cancelled_rows <= big.size());
  CHECK(lane.cancelled_rows >= big.size() / 2);
  CHECK(stats.tokens < big_tokens / 2);
  // Only successful requests have a latency.
  CHECK(lane.latency_us.count == 2);
  CHECK(stats.queue_depth == 0);
}

TEST_CASE("lanes: cancel after completion returns false and get() still gives the result", "[lanes_cancel]") {
  Watchdog dog("cancel after completion", kHangLimit);
  Encoder encoder = open_encoder();
  const std::vector<std::string> texts = {"done before cancel", "a second text"};
  EncodeHandle handle = encoder.submit(texts, Task::Classification, 16);
  handle.wait();
  CHECK(handle.ready());
  CHECK_FALSE(handle.cancel());
  const Embeddings got = handle.get();
  const Embeddings plain = encoder.encode(texts, Task::Classification, 16);
  CHECK(max_diff(got, plain) <= kFloat32Tolerance);
  const EncoderStats stats = encoder.stats();
  CHECK(stats.cancelled == 0);
  CHECK(stats.lanes[0].cancelled == 0);
  CHECK(stats.lanes[0].cancelled_rows == 0);
}

TEST_CASE("lanes: cancel from another thread while a thread waits in get()", "[lanes_cancel]") {
  Watchdog dog("cancel while waiting", kHangLimit);
  Encoder encoder = open_encoder();
  EncodeHandle handle = encoder.submit(many_texts("waited on", 3000), Task::TextMatching);
  std::atomic<int> outcome{0};  // 1: Cancelled, 2: a result, 3: another error
  std::thread waiter([&] {
    try {
      handle.get();
      outcome = 2;
    } catch (const Cancelled&) {
      outcome = 1;
    } catch (...) {
      outcome = 3;
    }
  });
  std::this_thread::sleep_for(20ms);
  bool cancelled = false;
  std::thread canceller([&] { cancelled = handle.cancel(); });
  canceller.join();
  waiter.join();
  CHECK(cancelled);
  CHECK(outcome == 1);
  CHECK(encoder.stats().cancelled == 1);
}

TEST_CASE("lanes: a handle outliving its encoder", "[lanes_cancel]") {
  Watchdog dog("handle outlives encoder", kHangLimit);
  const std::vector<std::string> small = {"finished in time"};
  const Embeddings serial = shared_encoder("float32").encode(small, Task::None);
  EncodeHandle done;
  EncodeHandle queued;
  {
    Encoder encoder = open_encoder();
    done = encoder.submit(small, Task::None);
    done.wait();
    queued = encoder.submit(many_texts("never runs", 3000), Task::RetrievalPassage);
    // Destroyed here: the pass running finishes, the queued rest is cancelled.
  }
  // Settled by the destructor; cancel() finds no encoder and no crash follows.
  REQUIRE(queued.wait_for(0s) == std::future_status::ready);
  CHECK_FALSE(queued.cancel());
  CHECK_THROWS_AS(queued.get(), Cancelled);
  CHECK_FALSE(done.cancel());
  CHECK(max_diff(done.get(), serial) <= kFloat32Tolerance);
}

TEST_CASE("lanes: cancel() racing the encoder's destruction", "[lanes_cancel]") {
  Watchdog dog("cancel racing destruction", kHangLimit);
  for (int round = 0; round < 3; ++round) {
    auto encoder = std::make_unique<Encoder>(open_encoder());
    std::vector<EncodeHandle> handles;
    for (int i = 0; i < 8; ++i) handles.push_back(encoder->submit(many_texts("race", 200), Task::Separation));
    std::atomic<bool> go{false};
    std::atomic<int> cancelled{0};
    std::thread canceller([&] {
      while (!go) std::this_thread::yield();
      for (auto& handle : handles) cancelled += handle.cancel() ? 1 : 0;
    });
    go = true;
    encoder.reset();
    canceller.join();
    int failed = 0;
    int completed = 0;
    for (auto& handle : handles) {
      REQUIRE(handle.wait_for(0s) == std::future_status::ready);
      std::size_t rows = 0;
      try {
        rows = handle.get().rows;
        ++completed;
      } catch (const Cancelled&) {
        ++failed;
      }
      if (rows != 0) CHECK(rows == 200);
    }
    CHECK(failed + completed == 8);
    CHECK(cancelled <= failed);
  }
}

// ---------------------------------------------------------------------------------------------
// Lanes
// ---------------------------------------------------------------------------------------------

TEST_CASE("lanes: bulk and interactive calls give the plain call's vectors", "[lanes_cancel]") {
  Watchdog dog("lanes equal", kHangLimit);
  const Encoder& encoder = shared_encoder("float32");
  const std::vector<std::string> texts = kMixedTexts;
  for (Task task : kAllTasks) {
    for (int dims : {0, 16}) {
      INFO(describe_task(task) << ", dims " << dims);
      const Embeddings plain = encoder.encode(texts, task, dims);
      const Embeddings bulk = encoder.encode(texts, task, dims, with_priority(Priority::Bulk));
      const Embeddings interactive = encoder.encode(texts, task, dims, with_priority(Priority::Interactive));
      CHECK(max_diff(bulk, plain) <= kFloat32Tolerance);
      CHECK(max_diff(interactive, plain) <= kFloat32Tolerance);
      CHECK(max_diff(encoder.submit(texts, task, dims, with_priority(Priority::Bulk)).get(), plain) <=
            kFloat32Tolerance);
    }
  }
}

TEST_CASE("lanes: each call counts in its lane's counters and histograms", "[lanes_cancel]") {
  Watchdog dog("lane stats", kHangLimit);
  Encoder encoder = open_encoder();
  const std::vector<std::string> interactive_texts = {"one", "two words", "three words here"};
  const std::vector<std::string> bulk_texts = many_texts("bulk", 40);
  encoder.encode(interactive_texts, Task::Classification);
  encoder.encode(interactive_texts, Task::Classification, 0, with_priority(Priority::Interactive));
  encoder.encode(bulk_texts, Task::RetrievalPassage, 0, with_priority(Priority::Bulk));

  std::uint64_t interactive_tokens = 0;
  for (const auto& ids : encoder.tokenize(interactive_texts, Task::Classification)) interactive_tokens += ids.size();
  std::uint64_t bulk_tokens = 0;
  for (const auto& ids : encoder.tokenize(bulk_texts, Task::RetrievalPassage)) bulk_tokens += ids.size();

  const EncoderStats stats = encoder.stats();
  const LaneStats& front = stats.lanes[static_cast<int>(Priority::Interactive)];
  const LaneStats& bulk = stats.lanes[static_cast<int>(Priority::Bulk)];
  CHECK(front.requests == 2);
  CHECK(front.rows == 2 * interactive_texts.size());
  CHECK(front.tokens == 2 * interactive_tokens);
  CHECK(bulk.requests == 1);
  CHECK(bulk.rows == bulk_texts.size());
  CHECK(bulk.tokens == bulk_tokens);
  CHECK(bulk.passes >= 1);
  CHECK(front.passes >= 2);  // the two interactive calls came one after the other
  for (const LaneStats* lane : {&front, &bulk}) {
    CHECK(lane->padded_tokens >= lane->tokens);
    CHECK(lane->cancelled == 0);
    CHECK(lane->cancelled_rows == 0);
    // One entry per pass, summing to the lane's rows and tokens; one latency and wait per request.
    CHECK(lane->rows_per_pass.count == lane->passes);
    CHECK(lane->tokens_per_pass.count == lane->passes);
    CHECK(lane->rows_per_pass.sum == lane->rows);
    CHECK(lane->tokens_per_pass.sum == lane->tokens);
    CHECK(lane->latency_us.count == lane->requests);
    CHECK(lane->queue_wait_us.count == lane->requests);
    CHECK(lane->latency_us.sum >= lane->queue_wait_us.sum);
    CHECK(lane->latency_us.sum > 0);
    for (const Histogram* histogram :
         {&lane->latency_us, &lane->queue_wait_us, &lane->rows_per_pass, &lane->tokens_per_pass}) {
      CHECK(bucket_total(*histogram) == histogram->count);
    }
  }
  // The interactive calls' passes each held one call's 3 rows: bucket 2 (2 < 3 <= 4).
  CHECK(front.rows_per_pass.buckets[bucket_of(3)] == front.passes);
  CHECK(front.tokens_per_pass.buckets[bucket_of(interactive_tokens)] == front.passes);
  // The flat counters are the sums over the lanes.
  CHECK(stats.requests == front.requests + bulk.requests);
  CHECK(stats.rows == front.rows + bulk.rows);
  CHECK(stats.passes == front.passes + bulk.passes);
  CHECK(stats.tokens == front.tokens + bulk.tokens);
  CHECK(stats.padded_tokens == front.padded_tokens + bulk.padded_tokens);
  CHECK(stats.queue_wait_us == front.queue_wait_us.sum + bulk.queue_wait_us.sum);
}

TEST_CASE("lanes: an interactive call beside a big bulk request completes first, both correct",
          "[lanes_cancel]") {
  Watchdog dog("lanes beside each other", kHangLimit);
  Encoder encoder = open_encoder();
  const std::vector<std::string> big = many_texts("bulk job", 1500);
  const std::vector<std::string> query = {"what is the capital of France?"};
  const Embeddings query_plain = shared_encoder("float32").encode(query, Task::RetrievalQuery);
  const std::vector<std::string> sample(big.begin(), big.begin() + 5);
  const Embeddings sample_plain = shared_encoder("float32").encode(sample, Task::RetrievalPassage);

  EncodeHandle bulk = encoder.submit(big, Task::RetrievalPassage, 0, with_priority(Priority::Bulk));
  std::this_thread::sleep_for(10ms);
  const Embeddings answer = encoder.encode(query, Task::RetrievalQuery);
  CHECK_FALSE(bulk.ready());  // the query did not wait for the bulk request
  CHECK(max_diff(answer, query_plain) <= kFloat32Tolerance);
  const Embeddings all = bulk.get();
  REQUIRE(all.rows == big.size());
  CHECK(max_abs_diff(all.data.data(), sample_plain.data.data(), sample_plain.data.size()) <= kFloat32Tolerance);
  const EncoderStats stats = encoder.stats();
  CHECK(stats.lanes[1].rows == big.size());
  CHECK(stats.lanes[0].rows == 1);
  CHECK(stats.lanes[1].rows_per_pass.sum == big.size());
}

TEST_CASE("lanes: without the scheduler, submit runs on the calling thread and counts in its lane",
          "[lanes_cancel]") {
  EncoderOptions inline_mode;
  inline_mode.use_scheduler = false;
  Encoder encoder = open_encoder(inline_mode);
  const std::vector<std::string> texts = {"inline", "no worker thread", ""};
  EncodeHandle handle = encoder.submit(texts, Task::RetrievalQuery, 0, with_priority(Priority::Bulk));
  CHECK(handle.ready());  // the passes ran inside submit
  CHECK_FALSE(handle.cancel());
  CHECK(max_diff(handle.get(), shared_encoder("float32").encode(texts, Task::RetrievalQuery)) <= kFloat32Tolerance);
  const EncoderStats stats = encoder.stats();
  CHECK(stats.lanes[static_cast<int>(Priority::Bulk)].requests == 1);
  CHECK(stats.lanes[static_cast<int>(Priority::Bulk)].rows == texts.size());
  CHECK(stats.lanes[static_cast<int>(Priority::Interactive)].requests == 0);
  CHECK(stats.cancelled == 0);
}

TEST_CASE("lanes: calls and rows the cache answers count in their lane, and the lanes sum to the totals",
          "[lanes_cancel]") {
  EncoderOptions cached;
  cached.cache_bytes = 4 << 20;
  Encoder encoder = open_encoder(cached);
  const std::vector<std::string> texts = {"cached once", "then answered"};
  const int bulk = static_cast<int>(Priority::Bulk);
  encoder.encode(texts, Task::RetrievalQuery, 0, with_priority(Priority::Bulk));  // runs, fills the cache
  encoder.encode(texts, Task::RetrievalQuery, 0, with_priority(Priority::Bulk));  // all from the cache
  encoder.encode({texts[0], "one new text"}, Task::RetrievalQuery, 0, with_priority(Priority::Bulk));  // half
  const EncoderStats stats = encoder.stats();
  CHECK(stats.requests == 3);
  CHECK(stats.rows == 6);
  CHECK(stats.cache_hits == 3);
  CHECK(stats.lanes[bulk].requests == 3);
  CHECK(stats.lanes[bulk].rows == 6);
  CHECK(stats.lanes[static_cast<int>(Priority::Interactive)].requests == 0);
  CHECK(stats.lanes[static_cast<int>(Priority::Interactive)].rows == 0);
}

TEST_CASE("lanes: a bad priority value and a bad bulk_share are InvalidArgument", "[lanes_cancel]") {
  const Encoder& encoder = shared_encoder("float32");
  for (int value : {7, -1, kPriorityCount}) {
    INFO("priority " << value);
    EncodeOptions options;
    options.priority = static_cast<Priority>(value);
    require_error<InvalidArgument>([&] { encoder.encode({"x"}, Task::None, 0, options); },
                                   {"priority", std::to_string(value)});
    CHECK_THROWS_AS(encoder.submit({"x"}, Task::None, 0, options), InvalidArgument);
    CHECK_THROWS_AS(encoder.encode_async({"x"}, Task::None, 0, options), InvalidArgument);
    CHECK_THROWS_AS(encoder.encode_ids({{35378}}, Task::None, 0, options), InvalidArgument);
    CHECK_THROWS_AS(encoder.check(Task::None, 0, options), InvalidArgument);
  }
  CHECK(std::string(to_string(Priority::Bulk)) == "bulk");
  CHECK(std::string(to_string(Priority::Interactive)) == "interactive");
  CHECK(priority_from_string("bulk") == Priority::Bulk);
  CHECK(priority_from_string("interactive") == Priority::Interactive);
  require_error<InvalidArgument>([] { priority_from_string("urgent"); }, {"urgent", "interactive", "bulk"});

  for (double share : {-0.1, 1.5, std::nan(""), std::numeric_limits<double>::infinity()}) {
    INFO("bulk_share " << share);
    EncoderOptions options;
    options.bulk_share = share;
    require_error<InvalidArgument>([&] { open_encoder(options); }, {"bulk_share"});
  }
  for (double share : {0.0, 1.0}) {
    EncoderOptions options;
    options.bulk_share = share;
    Encoder edge = open_encoder(options);
    const Embeddings got = edge.encode({"edge"}, Task::None, 0, with_priority(Priority::Bulk));
    CHECK(max_diff(got, encoder.encode({"edge"}, Task::None)) <= kFloat32Tolerance);
  }
}

// ---------------------------------------------------------------------------------------------
// Token ids
// ---------------------------------------------------------------------------------------------

TEST_CASE("token ids: encode_ids of the texts' own tokens equals encode of the texts for every task",
          "[lanes_cancel]") {
  const Encoder& encoder = shared_encoder("float32");
  const std::vector<std::string> texts = id_texts();
  const auto ids = own_tokens(encoder, texts);
  for (Task task : kAllTasks) {
    for (int dims : {0, 8}) {
      INFO(describe_task(task) << ", dims " << dims);
      const Embeddings from_text = encoder.encode(texts, task, dims);
      const Embeddings from_ids = encoder.encode_ids(ids, task, dims);
      for (std::size_t i = 0; i < texts.size(); ++i) {
        INFO("text " << i << ": \"" << texts[i] << "\"");
        CHECK(max_abs_diff(from_ids.row(i), from_text.row(i), from_text.dims) <= 1e-6);
      }
      CHECK(from_ids.truncated == from_text.truncated);
    }
    // What the library runs: <s>, the prompt's ids, the text's own tokens, </s> -- the ids tokenize()
    // gives for the string with the prompt in front.
    const auto with_prompt = encoder.tokenize(texts, task);
    const std::vector<std::int32_t> prompt_only = encoder.tokenize({std::string()}, task)[0];
    for (std::size_t i = 0; i < texts.size(); ++i) {
      std::vector<std::int32_t> expected(prompt_only.begin(), prompt_only.end() - 1);
      expected.insert(expected.end(), ids[i].begin(), ids[i].end());
      expected.push_back(prompt_only.back());
      CHECK(with_prompt[i] == expected);
    }
  }
  // Binding form, per-text tasks, bulk lane.
  std::vector<TokenIds> views;
  for (const auto& row : ids) views.push_back(TokenIds{row.data(), row.size()});
  std::vector<Task> tasks;
  for (std::size_t i = 0; i < texts.size(); ++i) tasks.push_back(kAllTasks[i % kAllTasks.size()]);
  const Embeddings mixed =
      encoder.submit(views.data(), views.size(), tasks.data(), tasks.size(), 32, with_priority(Priority::Bulk)).get();
  const Embeddings mixed_text = encoder.encode(texts, tasks, 32);
  CHECK(max_diff(mixed, mixed_text) <= 1e-6);
  // No texts: 0 rows.
  CHECK(encoder.encode_ids({}, Task::RetrievalQuery).rows == 0);
}

TEST_CASE("token ids: texts starting with special-token text, under every task", "[lanes_cancel]") {
  // Fast-tokenizer semantics: "<prompt>: <s>hello" splits at <s>, and the prompt's trailing space
  // becomes a lone "\u2581" token before it, which "<s>hello" alone does not have; <mask> (lstrip)
  // swallows that space. The ids of the text alone must still give the string's row.
  const Encoder& encoder = shared_encoder("float32");
  const std::vector<std::string> texts = {"<s>hello", "</s>", "<pad>", "<unk>x", "<s>", "<mask> hi",
                                          " <s>x",    "hello <s>", "<s><s>two", "</s> end"};
  const auto ids = own_tokens(encoder, texts);
  REQUIRE(ids[0].front() == 0);  // <s> became its id
  for (Task task : kAllTasks) {
    INFO(describe_task(task));
    const Embeddings from_text = encoder.encode(texts, task);
    const Embeddings from_ids = encoder.encode_ids(ids, task);
    for (std::size_t i = 0; i < texts.size(); ++i) {
      INFO("text " << i << ": \"" << texts[i] << "\"");
      CHECK(max_abs_diff(from_ids.row(i), from_text.row(i), from_text.dims) <= 1e-6);
    }
  }
  // Where the lone space token comes from.
  const auto details = encoder.tokenize_details({"<s>hello"}, Task::RetrievalQuery);
  const std::size_t prompt = prompt_token_count(encoder, Task::RetrievalQuery);
  REQUIRE(details[0].pieces.size() == prompt + 6);  // <s> prompt \u2581 <s> \u2581hell o </s>
  CHECK(details[0].pieces[1 + prompt] == "\u2581");
  CHECK(details[0].pieces[2 + prompt] == "<s>");
  // With split_special_tokens the string's tokens are plain text, and so are its ids.
  EncodeOptions split;
  split.split_special_tokens = true;
  const auto plain_ids = own_tokens(encoder, texts, split);
  CHECK(plain_ids[0].front() != 0);
  const Embeddings split_text = encoder.encode(texts, Task::RetrievalQuery, 0, split);
  const Embeddings split_ids = encoder.encode_ids(plain_ids, Task::RetrievalQuery);
  CHECK(max_diff(split_ids, split_text) <= 1e-6);
}

TEST_CASE("token ids: ids outside the vocabulary are InvalidArgument naming the text and position",
          "[lanes_cancel]") {
  const Encoder& encoder = shared_encoder("float32");
  const int vocab = encoder.vocab_size();
  CHECK(vocab == 250002);
  const std::vector<std::int32_t> good = {35378, 8999, 38};
  require_error<InvalidArgument>([&] { encoder.encode_ids({good, {5, 6, -1}}, Task::None); },
                                 {"text 1", "-1", "position 2", "vocabulary"});
  require_error<InvalidArgument>([&] { encoder.encode_ids({{vocab}, good}, Task::RetrievalQuery); },
                                 {"text 0", std::to_string(vocab), "position 0"});
  require_error<InvalidArgument>(
      [&] { encoder.encode_ids({good, good, {1, 2, 3, std::numeric_limits<std::int32_t>::max()}}, Task::None); },
      {"text 2", "position 3"});
  // The largest id is accepted.
  CHECK(encoder.encode_ids({{vocab - 1}}, Task::None).rows == 1);

  // Null ids with a length, and null texts with a count.
  const TokenIds broken[] = {TokenIds{good.data(), good.size()}, TokenIds{nullptr, 2}};
  const Task none = Task::None;
  require_error<InvalidArgument>([&] { encoder.submit(broken, 2, &none, 1, 0, EncodeOptions{}); }, {"text 1", "null"});
  CHECK_THROWS_AS(encoder.submit(static_cast<const TokenIds*>(nullptr), 1, &none, 1, 0, EncodeOptions{}),
                  InvalidArgument);
  const TokenIds empty_ok[] = {TokenIds{nullptr, 0}};
  CHECK(max_diff(encoder.submit(empty_ok, 1, &none, 1, 0, EncodeOptions{}).get(), encoder.encode({""}, Task::None)) <=
        1e-6);
  // Bad task and dims as for texts.
  CHECK_THROWS_AS(encoder.encode_ids({good}, Task::None, 5), InvalidArgument);
  CHECK_THROWS_AS(encoder.encode_ids({good}, static_cast<Task>(99)), InvalidArgument);
  // The stats count nothing for refused calls: the queue is empty.
  CHECK(encoder.stats().queue_depth == 0);
}

TEST_CASE("token ids: max_length counts the ids, with and without truncate", "[lanes_cancel]") {
  const Encoder& encoder = shared_encoder("float32");
  const std::string text = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen";
  const auto ids = own_tokens(encoder, {text});
  REQUIRE(ids[0].size() + 2 > 16);
  EncodeOptions strict;
  strict.max_length = 16;
  strict.truncate = false;
  require_error<InputTooLong>([&] { encoder.encode_ids({{35378}, ids[0]}, Task::None, 0, strict); }, {"16"});
  CHECK_THROWS_AS(encoder.encode_ids(ids, Task::RetrievalQuery, 0, strict), InputTooLong);

  EncodeOptions cut;
  cut.max_length = 16;
  for (Task task : {Task::None, Task::RetrievalQuery, Task::TextMatching}) {
    INFO(describe_task(task));
    const Embeddings from_ids = encoder.encode_ids({ids[0], {35378}}, task, 0, cut);
    const Embeddings from_text = encoder.encode({text, "Hello"}, task, 0, cut);
    CHECK(from_ids.truncated == std::vector<std::uint8_t>{1, 0});
    CHECK(from_text.truncated == from_ids.truncated);
    CHECK(max_abs_diff(from_ids.row(0), from_text.row(0), from_text.dims) <= 1e-6);
  }
  // Exactly max_length with <s> and </s>: not truncated.
  const std::vector<std::int32_t> fits(ids[0].begin(), ids[0].begin() + 14);
  const Embeddings exact = encoder.encode_ids({fits}, Task::None, 0, strict);
  CHECK(exact.truncated == std::vector<std::uint8_t>{0});
  CHECK_THROWS_AS(encoder.encode_ids({std::vector<std::int32_t>(ids[0].begin(), ids[0].begin() + 15)}, Task::None, 0,
                                     strict),
                  InputTooLong);
}

TEST_CASE("token ids: the cache keeps ids and strings apart", "[lanes_cancel]") {
  EncoderOptions load;
  load.cache_bytes = 1 << 20;
  Encoder encoder = open_encoder(load);
  const Encoder& plain = shared_encoder("float32");
  // A string whose bytes are those of the id array {5}.
  const std::string bytes("\x05\0\0\0", 4);
  const Embeddings text_row = encoder.encode({bytes}, Task::None);
  const Embeddings id_row = encoder.encode_ids({{5}}, Task::None);
  CHECK(encoder.stats().cache_hits == 0);
  CHECK(max_diff(id_row, plain.encode_ids({{5}}, Task::None)) <= 1e-6);
  CHECK(max_diff(text_row, plain.encode({bytes}, Task::None)) <= 1e-6);
  // Repeated ids are answered from the cache, with the same bits.
  const Embeddings again = encoder.encode_ids({{5}}, Task::None);
  CHECK(encoder.stats().cache_hits == 1);
  CHECK(again.data == id_row.data);
}

TEST_CASE("token ids: vocab_size, also of a moved-from encoder", "[lanes_cancel]") {
  const Encoder& encoder = shared_encoder("float32");
  CHECK(encoder.vocab_size() > 0);
  Encoder moved = open_encoder();
  Encoder target = std::move(moved);
  CHECK(moved.vocab_size() == 0);  // NOLINT(bugprone-use-after-move): the documented moved-from state
  CHECK(target.vocab_size() == encoder.vocab_size());
  CHECK_THROWS(moved.encode_ids({{5}}, Task::None));
}

// ---------------------------------------------------------------------------------------------
// tokenize_details
// ---------------------------------------------------------------------------------------------

TEST_CASE("tokenize_details: ids, pieces and offsets agree with tokenize and encode_tokens", "[lanes_cancel]") {
  const Encoder& encoder = shared_encoder("float32");
  std::vector<std::string> texts = id_texts();
  texts.push_back("<s>special</s> and <mask> tokens");
  for (Task task : kAllTasks) {
    INFO(describe_task(task));
    const auto details = encoder.tokenize_details(texts, task);
    const auto ids = encoder.tokenize(texts, task);
    const auto tokens = encoder.encode_tokens(texts, task);
    const std::size_t prompt = prompt_token_count(encoder, task);
    REQUIRE(details.size() == texts.size());
    for (std::size_t i = 0; i < texts.size(); ++i) {
      INFO("text " << i << ": \"" << texts[i] << "\"");
      const Tokenization& d = details[i];
      CHECK(d.ids == ids[i]);
      CHECK(d.ids == tokens[i].ids);
      CHECK(d.offsets == tokens[i].offsets);
      CHECK_FALSE(d.truncated);
      REQUIRE(d.pieces.size() == d.ids.size());
      REQUIRE(d.offsets.size() == 2 * d.ids.size());
      CHECK(d.pieces.front() == "<s>");
      CHECK(d.pieces.back() == "</s>");
      for (std::size_t t = 0; t < d.ids.size(); ++t) {
        const bool special = t == 0 || t + 1 == d.ids.size() || t < 1 + prompt;
        const std::int64_t begin = d.offsets[2 * t];
        const std::int64_t end = d.offsets[2 * t + 1];
        if (special) {
          CHECK(begin == -1);
          CHECK(end == -1);
          continue;
        }
        if (begin == -1) {
          // The prompt's trailing space as a lone "\u2581" before a text that starts with one (a
          // script sentencepiece writes without it, as Japanese): it covers no byte of the text.
          CHECK(end == -1);
          CHECK(t == 1 + prompt);
          CHECK(d.pieces[t] == "\u2581");
          continue;
        }
        REQUIRE(begin >= 0);
        REQUIRE(end >= begin);
        REQUIRE(end <= static_cast<std::int64_t>(texts[i].size()));
        // ASCII texts: the piece without its "\u2581" is the text it covers.
        const bool ascii = std::all_of(texts[i].begin(), texts[i].end(),
                                       [](char c) { return static_cast<unsigned char>(c) < 0x80; });
        if (ascii) {
          std::string piece = d.pieces[t];
          const std::string marker = "\u2581";
          if (piece.compare(0, marker.size(), marker) == 0) piece.erase(0, marker.size());
          CHECK(piece == texts[i].substr(static_cast<std::size_t>(begin), static_cast<std::size_t>(end - begin)));
        }
      }
    }
  }
  // Truncation as tokenize's.
  EncodeOptions cut;
  cut.max_length = 8;
  const std::vector<std::string> long_text = {"one two three four five six seven eight nine ten"};
  const auto details = encoder.tokenize_details(long_text, Task::None, cut);
  CHECK(details[0].truncated);
  CHECK(details[0].ids == encoder.tokenize(long_text, Task::None, cut)[0]);
  CHECK(details[0].ids.size() == 8);
  CHECK(details[0].pieces.size() == 8);
  CHECK(details[0].offsets.size() == 16);
  CHECK(details[0].pieces.back() == "</s>");
  cut.truncate = false;
  CHECK_THROWS_AS(encoder.tokenize_details(long_text, Task::None, cut), InputTooLong);
  CHECK_THROWS_AS(encoder.tokenize_details({"\xff"}, Task::None), InvalidArgument);
  // split_special_tokens as tokenize's.
  EncodeOptions split;
  split.split_special_tokens = true;
  const auto plain = encoder.tokenize_details({"<s>x"}, Task::None, split);
  CHECK(plain[0].ids == encoder.tokenize({"<s>x"}, Task::None, split)[0]);
  CHECK(plain[0].ids != encoder.tokenize({"<s>x"}, Task::None)[0]);
}
