// The prepare stage: every check of a call's arguments (tasks, dims, per-call options, UTF-8,
// length) with its typed error and message, and Encoder::check / Encoder::output_dims, which run
// the same checks without texts. (Errors at load time: test_errors.cpp.)
#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "support.hpp"

using namespace jina3;
using namespace jina3::test;

namespace {

// The message of the InvalidArgument that f throws; fails the test (and returns "") otherwise.
template <typename F>
std::string invalid_argument(F&& f) {
  try {
    f();
  } catch (const InvalidArgument& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL_CHECK("wrong exception type; message: " << e.what());
    return {};
  }
  FAIL_CHECK("no exception");
  return {};
}

}  // namespace

TEST_CASE("unknown tasks are InvalidArgument", "[prepare]") {
  const Encoder& encoder = shared_encoder("float32");
  require_error<InvalidArgument>([&] { encoder.encode({"x"}, std::string_view("retrieval")); }, {"retrieval", "text-matching"});
  require_error<InvalidArgument>([&] { encoder.encode({"x"}, std::string_view("Separation")); }, {"Separation"});
  require_error<InvalidArgument>([&] { encoder.encode({"x"}, static_cast<Task>(7)); }, {"7"});
  require_error<InvalidArgument>([&] { encoder.encode({"x"}, static_cast<Task>(-2)); }, {"-2"});
  require_error<InvalidArgument>([&] { encoder.tokenize({"x"}, static_cast<Task>(5)); }, {"5"});
  require_error<InvalidArgument>([&] { encoder.prompt(static_cast<Task>(9)); }, {"9"});
  // Per-text tasks: the count must match.
  require_error<InvalidArgument>([&] { encoder.encode({"a", "b"}, std::vector<Task>{Task::None}); }, {"1 tasks for 2 texts"});
  require_error<InvalidArgument>([&] { encoder.encode({"a"}, std::vector<Task>{Task::None, static_cast<Task>(11)}); }, {"2 tasks"});
  require_error<InvalidArgument>([&] { encoder.encode({"a", "b"}, std::vector<Task>{Task::None, static_cast<Task>(11)}); }, {"11"});
  // Even with no texts the task is checked.
  require_error<InvalidArgument>([&] { encoder.encode({}, static_cast<Task>(8)); }, {"8"});
}

TEST_CASE("a task missing from the package is InvalidArgument", "[prepare]") {
  PackageCopy copy(package_dir("float32"));
  copy.edit_manifest("tasks", [](const json::Value*) {
    return json::Value::array({json_string("retrieval.query"), json_string("retrieval.passage")});
  });
  // The adapter indices stay 0 and 1, so the backbone is still right for the two tasks kept.
  Encoder encoder(copy.str());
  CHECK(encoder.tasks() == std::vector<Task>{Task::RetrievalQuery, Task::RetrievalPassage});
  require_error<InvalidArgument>([&] { encoder.encode({"x"}, Task::Separation); }, {"separation", "retrieval.query"});
  require_error<InvalidArgument>([&] { encoder.prompt(Task::TextMatching); }, {"text-matching"});
  require_error<InvalidArgument>([&] { encoder.check(Task::Separation, 0); }, {"separation", "retrieval.query"});
  CHECK(encoder.encode({"x"}, Task::RetrievalPassage).rows == 1);
  CHECK(encoder.check(Task::RetrievalPassage, 0) == static_cast<std::size_t>(encoder.hidden_size()));
}

TEST_CASE("dims outside the Matryoshka sizes are InvalidArgument", "[prepare]") {
  const Encoder& encoder = shared_encoder("float32");
  for (int dims : {100, -1, 65, 7, 1, 1 << 30, encoder.hidden_size() + 1}) {
    INFO("dims " << dims);
    require_error<InvalidArgument>([&] { encoder.encode({"x"}, Task::None, dims); }, {std::to_string(dims)});
    require_error<InvalidArgument>([&] { encoder.encode({}, Task::None, dims); }, {"dims"});
  }
}

TEST_CASE("invalid UTF-8 is InvalidArgument naming the text and byte offset", "[prepare]") {
  const Encoder& encoder = shared_encoder("float32");
  struct Case {
    std::string text;
    std::string offset;
    std::string reason;
  };
  const Case cases[] = {
      {"abc\xE2\x82", "byte offset 3", "truncated"},               // truncated sequence
      {"x\xC0\xAFy", "byte offset 1", "overlong"},                 // overlong '/'
      {"\xE0\x80\x80", "byte offset 0", "overlong"},               // overlong NUL
      {"surrogate \xED\xA0\x80", "byte offset 10", "surrogate"},  // U+D800
      {"\xFF", "byte offset 0", "never occurs"},                   // 0xFF
      {"ok \x80", "byte offset 3", "continuation"},                // stray continuation byte
      {"\xF4\x90\x80\x80", "byte offset 0", "U+10FFFF"},           // beyond Unicode
  };
  for (const auto& c : cases) {
    INFO(c.reason);
    std::vector<std::string> texts = {"fine", "also fine", c.text};
    require_error<InvalidArgument>([&] { encoder.encode(texts, Task::RetrievalQuery); }, {"text 2", c.offset, c.reason});
    require_error<InvalidArgument>([&] { encoder.tokenize(texts); }, {"text 2", c.offset});
  }
}

TEST_CASE("over-long text without truncation is InputTooLong", "[prepare]") {
  const Encoder& encoder = shared_encoder("float32");
  EncodeOptions options;
  options.truncate = false;
  options.max_length = 8;
  std::vector<std::string> texts = {"short", "this sentence has clearly more than eight tokens in it, doesn't it?"};
  require_error<InputTooLong>([&] { encoder.encode(texts, Task::None, 0, options); }, {"text 1", "8"});
  // The prompt counts too.
  require_error<InputTooLong>([&] { encoder.encode({"short"}, Task::RetrievalQuery, 0, options); }, {"text 0"});
  CHECK(encoder.encode({"short"}, Task::None, 0, options).rows == 1);
  options.truncate = true;
  Embeddings cut = encoder.encode(texts, Task::None, 0, options);
  CHECK(cut.truncated == std::vector<std::uint8_t>{0, 1});
}

TEST_CASE("encode options out of range are InvalidArgument", "[prepare]") {
  const Encoder& encoder = shared_encoder("float32");
  for (int max_length : {1, -1, encoder.max_length() + 1, 1 << 30}) {
    INFO("max_length " << max_length);
    EncodeOptions options;
    options.max_length = max_length;
    require_error<InvalidArgument>([&] { encoder.encode({"x"}, Task::None, 0, options); }, {"max_length"});
    require_error<InvalidArgument>([&] { encoder.encode({}, Task::None, 0, options); }, {"max_length"});
    require_error<InvalidArgument>([&] { encoder.tokenize({"x"}, Task::None, options); }, {"max_length"});
  }
  EncodeOptions negative_batch;
  negative_batch.batch_size = -3;
  require_error<InvalidArgument>([&] { encoder.encode({"x"}, Task::None, 0, negative_batch); }, {"batch_size"});
}

TEST_CASE("check and output_dims return the output width", "[prepare]") {
  const Encoder& encoder = shared_encoder("float32");
  const std::size_t hidden = static_cast<std::size_t>(encoder.hidden_size());
  const EncoderStats before = encoder.stats();
  CHECK(encoder.output_dims(0) == hidden);
  CHECK(encoder.check(Task::None, 0) == hidden);
  for (int dims : encoder.dims()) {
    INFO("dims " << dims);
    CHECK(encoder.output_dims(dims) == static_cast<std::size_t>(dims));
    CHECK(encoder.check(Task::RetrievalQuery, dims) == static_cast<std::size_t>(dims));
    CHECK(encoder.encode({"x"}, Task::RetrievalQuery, dims).dims == static_cast<std::size_t>(dims));
  }
  // Without texts: any number of tasks (one per text of a call still to be read), options and a
  // precision with its ranges.
  const std::vector<Task> tasks = {Task::None, Task::RetrievalQuery, Task::TextMatching, Task::Separation};
  const int small = encoder.dims().front();
  CHECK(encoder.check(tasks.data(), tasks.size(), small) == static_cast<std::size_t>(small));
  EncodeOptions options;
  options.max_length = 2;
  options.batch_size = 1;
  options.normalize = false;
  options.truncate = false;
  options.deadline_us = 1;
  CHECK(encoder.check(Task::Classification, 0, options) == hidden);
  const Ranges ranges{std::vector<float>(static_cast<std::size_t>(small), -1.0f),
                      std::vector<float>(static_cast<std::size_t>(small), 1.0f)};
  for (Precision p : {Precision::Float32, Precision::Float16, Precision::Int8, Precision::UInt8, Precision::Binary,
                      Precision::UBinary}) {
    INFO(to_string(p));
    CHECK(encoder.check(Task::None, small, {}, p) == static_cast<std::size_t>(small));
    CHECK(encoder.check(Task::None, small, {}, p, &ranges) == static_cast<std::size_t>(small));
  }
  // Checking runs nothing.
  const EncoderStats after = encoder.stats();
  CHECK(after.requests == before.requests + encoder.dims().size());  // the encode() calls above
  CHECK(after.passes == before.passes + encoder.dims().size());
}

TEST_CASE("check and output_dims reject what encode() rejects, with the same message", "[prepare]") {
  const Encoder& encoder = shared_encoder("float32");
  const std::vector<std::string> texts = {"first", "second"};
  // Each call: encode() and encode_quantized() on texts, then check() on the same arguments.
  const auto same = [&](const std::string& what, Task task, int dims, const EncodeOptions& options = {},
                        Precision precision = Precision::Float32, const Ranges* ranges = nullptr) {
    INFO(what);
    const std::string by_encode =
        precision == Precision::Float32
            ? invalid_argument([&] { encoder.encode(texts, task, dims, options); })
            : invalid_argument([&] { encoder.encode_quantized(texts, task, dims, precision, ranges, options); });
    const std::string by_check = invalid_argument([&] { encoder.check(task, dims, options, precision, ranges); });
    CHECK_FALSE(by_check.empty());
    CHECK(by_check == by_encode);
  };
  for (int dims : {100, -1, 65, 7, 1, 1 << 30, encoder.hidden_size() + 1}) {
    same("dims " + std::to_string(dims), Task::None, dims);
    const std::string message = invalid_argument([&] { encoder.output_dims(dims); });
    CHECK_THAT(message, Catch::Contains(std::to_string(dims)));
    CHECK(message == invalid_argument([&] { encoder.check(Task::None, dims); }));
  }
  for (int task : {7, -2, 9}) same("task " + std::to_string(task), static_cast<Task>(task), 0);
  for (int max_length : {1, -1, encoder.max_length() + 1}) {
    EncodeOptions options;
    options.max_length = max_length;
    same("max_length " + std::to_string(max_length), Task::None, 0, options);
  }
  EncodeOptions negative_batch;
  negative_batch.batch_size = -3;
  same("batch_size", Task::None, 0, negative_batch);
  EncodeOptions negative_deadline;
  negative_deadline.deadline_us = -1;
  same("deadline_us", Task::None, 0, negative_deadline);
  // The precision stage's arguments.
  const int dims = encoder.dims().back();
  const Ranges narrow{std::vector<float>(4, -1.0f), std::vector<float>(4, 1.0f)};
  Ranges reversed{std::vector<float>(static_cast<std::size_t>(dims), 1.0f),
                  std::vector<float>(static_cast<std::size_t>(dims), 2.0f)};
  reversed.max[3] = 0.0f;
  same("precision 9", Task::None, dims, {}, static_cast<Precision>(9));
  same("ranges of 4 dims", Task::None, dims, {}, Precision::Int8, &narrow);
  same("reversed range", Task::None, dims, {}, Precision::UInt8, &reversed);
  // Per-text tasks: each is checked, and named.
  const std::vector<Task> tasks = {Task::None, static_cast<Task>(11)};
  CHECK(invalid_argument([&] { encoder.check(tasks.data(), tasks.size(), 0); }) ==
        invalid_argument([&] { encoder.encode(texts, tasks, 0); }));
  // A moved-from encoder refuses, as encode() does.
  Encoder moved(package_dir("float32").string());
  Encoder target(std::move(moved));
  // NOLINTNEXTLINE(bugprone-use-after-move): the moved-from state is what is under test.
  CHECK_THAT(invalid_argument([&] { moved.check(Task::None, 0); }), Catch::Contains("moved from"));
  CHECK_THAT(invalid_argument([&] { moved.output_dims(0); }), Catch::Contains("moved from"));
}
