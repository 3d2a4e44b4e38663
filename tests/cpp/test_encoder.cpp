// The Encoder itself: getters, what tasks, prompts and dims do to a vector, empty input,
// encode_into, moved-from objects, checksum verification and the allocator setting at load.
// (Batching: test_passes.cpp; argument checks: test_prepare.cpp.)
#include <catch2/catch.hpp>

#include <cstdlib>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <cmath>

#include "support.hpp"

using namespace jina3;
using namespace jina3::test;

namespace {

double row_norm(const float* row, std::size_t dims) {
  double sum = 0.0;
  for (std::size_t d = 0; d < dims; ++d) sum += static_cast<double>(row[d]) * row[d];
  return std::sqrt(sum);
}

}  // namespace

TEST_CASE("getters report the package", "[encoder]") {
  const Encoder& encoder = shared_encoder("float32");
  CHECK(encoder.tasks() == std::vector<Task>{Task::RetrievalQuery, Task::RetrievalPassage, Task::Separation,
                                             Task::Classification, Task::TextMatching});
  CHECK(encoder.dims().back() == encoder.hidden_size());
  CHECK(std::is_sorted(encoder.dims().begin(), encoder.dims().end()));
  CHECK(encoder.device() == Device::CPU);
  CHECK(encoder.dtype() == DType::Float32);
  CHECK(encoder.package_path() == package_dir("float32").string());
  CHECK(encoder.prompt(Task::None).empty());
  CHECK(encoder.prompt(Task::RetrievalQuery) == "Represent the query for retrieving evidence documents: ");
  CHECK(encoder.prompt(Task::RetrievalPassage) == "Represent the document for retrieval: ");
  CHECK(encoder.prompt(Task::Classification).empty());
}

TEST_CASE("tasks and prompts change the vectors", "[encoder]") {
  const Encoder& encoder = shared_encoder("float32");
  const std::vector<std::string> text = {"Which planet is the largest in the solar system?"};
  std::vector<Embeddings> per_task;
  for (Task task : kAllTasks) per_task.push_back(encoder.encode(text, task));
  for (std::size_t a = 0; a < per_task.size(); ++a) {
    for (std::size_t b = a + 1; b < per_task.size(); ++b) {
      INFO(to_string(kAllTasks[a]) << " vs " << to_string(kAllTasks[b]));
      CHECK(max_abs_diff(per_task[a].row(0), per_task[b].row(0), per_task[a].dims) > 1e-3);
    }
  }
  // With no adapter, the query prompt typed into the text changes the vector: the prompt is part
  // of what gets embedded.
  Embeddings by_hand = encoder.encode({encoder.prompt(Task::RetrievalQuery) + text[0]}, Task::None);
  Embeddings plain = encoder.encode(text, Task::None);
  CHECK(max_abs_diff(by_hand.row(0), plain.row(0), plain.dims) > 1e-3);
  // Task by name is the same as the enum (another call, so within the float32 rule; other tasks are
  // 1e-3 away).
  Embeddings by_name = encoder.encode(text, std::string_view("retrieval.query"));
  CHECK(max_abs_diff(by_name.row(0), per_task[1].row(0), by_name.dims) <= kFloat32Tolerance);
  Embeddings none_by_name = encoder.encode(text, std::string_view(""));
  CHECK(max_abs_diff(none_by_name.row(0), per_task[0].row(0), none_by_name.dims) <= kFloat32Tolerance);
}

TEST_CASE("dims truncate the full vector before normalising", "[encoder]") {
  const Encoder& encoder = shared_encoder("float32");
  EncodeOptions raw;
  raw.normalize = false;
  Embeddings full = encoder.encode(kMixedTexts, Task::Classification, 0, raw);
  REQUIRE(full.dims == static_cast<std::size_t>(encoder.hidden_size()));
  for (int dims : encoder.dims()) {
    INFO("dims " << dims);
    Embeddings cut = encoder.encode(kMixedTexts, Task::Classification, dims);
    REQUIRE(cut.dims == static_cast<std::size_t>(dims));
    for (std::size_t i = 0; i < cut.rows; ++i) {
      CHECK(row_norm(cut.row(i), cut.dims) == Approx(1.0).epsilon(1e-5));
      const double norm = row_norm(full.row(i), cut.dims);
      for (std::size_t d = 0; d < cut.dims; ++d) {
        CHECK(cut.row(i)[d] == Approx(full.row(i)[d] / norm).margin(kFloat32Tolerance));  // two calls
      }
    }
  }
  // Unnormalised rows are not unit length in general.
  bool some_not_unit = false;
  for (std::size_t i = 0; i < full.rows; ++i) some_not_unit |= std::fabs(row_norm(full.row(i), full.dims) - 1.0) > 1e-3;
  CHECK(some_not_unit);
}

TEST_CASE("empty list gives 0 x dims, empty string is a valid text", "[encoder]") {
  const Encoder& encoder = shared_encoder("float32");
  Embeddings none = encoder.encode({}, Task::RetrievalQuery);
  CHECK(none.rows == 0);
  CHECK(none.dims == static_cast<std::size_t>(encoder.hidden_size()));
  CHECK(none.data.empty());
  CHECK(none.truncated.empty());
  Embeddings none_small = encoder.encode({}, Task::None, encoder.dims().front());
  CHECK(none_small.dims == static_cast<std::size_t>(encoder.dims().front()));
  CHECK(encoder.encode({}, std::vector<Task>{}, 0).rows == 0);
  CHECK(encoder.tokenize({}).empty());

  Embeddings empty = encoder.encode({""}, Task::None);
  REQUIRE(empty.rows == 1);
  for (std::size_t d = 0; d < empty.dims; ++d) CHECK(std::isfinite(empty.row(0)[d]));
  CHECK(row_norm(empty.row(0), empty.dims) == Approx(1.0).epsilon(1e-5));
  CHECK(empty.truncated == std::vector<std::uint8_t>{0});
}

TEST_CASE("encode_into writes the same numbers into the caller's buffer", "[encoder]") {
  const Encoder& encoder = shared_encoder("float32");
  const int dims = encoder.dims().front();
  std::vector<std::string_view> views(kMixedTexts.begin(), kMixedTexts.end());
  const Task task = Task::Separation;
  Embeddings expected = encoder.encode(kMixedTexts, task, dims);

  std::vector<float> buffer(views.size() * dims + 5, -7.0f);
  std::vector<std::uint8_t> truncated(views.size(), 9);
  encoder.encode_into(views.data(), views.size(), &task, 1, dims, buffer.data(), buffer.size(), {}, truncated.data());
  CHECK(max_abs_diff(buffer.data(), expected.data.data(), expected.data.size()) <= kFloat32Tolerance);
  for (std::size_t k = expected.data.size(); k < buffer.size(); ++k) CHECK(buffer[k] == -7.0f);  // nothing past the end
  CHECK(truncated == std::vector<std::uint8_t>(views.size(), 0));

  // One task per text.
  std::vector<Task> tasks(views.size(), task);
  tasks[0] = Task::RetrievalQuery;
  std::fill(buffer.begin(), buffer.end(), 0.0f);
  encoder.encode_into(views.data(), views.size(), tasks.data(), tasks.size(), dims, buffer.data(), buffer.size());
  Embeddings query = encoder.encode({kMixedTexts[0]}, Task::RetrievalQuery, dims);
  CHECK(max_abs_diff(buffer.data(), query.data.data(), dims) <= kFloat32Tolerance);
  CHECK(max_abs_diff(buffer.data() + dims, expected.data.data() + dims, expected.data.size() - dims) <=
        kFloat32Tolerance);

  // Zero texts: nothing to write, output may be null.
  encoder.encode_into(nullptr, 0, &task, 1, dims, nullptr, 0);
}

TEST_CASE("encode_into with a too-small buffer throws BufferTooSmall and writes nothing", "[encoder]") {
  const Encoder& encoder = shared_encoder("float32");
  std::vector<std::string_view> views(kMixedTexts.begin(), kMixedTexts.end());
  const Task task = Task::None;
  const std::size_t needed = views.size() * static_cast<std::size_t>(encoder.hidden_size());
  std::vector<float> buffer(needed, 42.0f);
  std::vector<std::uint8_t> truncated(views.size(), 7);
  try {
    encoder.encode_into(views.data(), views.size(), &task, 1, 0, buffer.data(), needed - 1, {}, truncated.data());
    FAIL("no exception");
  } catch (const BufferTooSmall& e) {
    CHECK(e.code() == ErrorCode::BufferTooSmall);
    CHECK_THAT(e.what(), Catch::Contains(std::to_string(needed)));
  }
  CHECK(std::all_of(buffer.begin(), buffer.end(), [](float v) { return v == 42.0f; }));
  CHECK(std::all_of(truncated.begin(), truncated.end(), [](std::uint8_t v) { return v == 7; }));
  CHECK_THROWS_AS(encoder.encode_into(views.data(), views.size(), &task, 1, 0, buffer.data(), 0), BufferTooSmall);
  CHECK_THROWS_AS(encoder.encode_into(views.data(), views.size(), &task, 1, 0, nullptr, needed), InvalidArgument);
  CHECK_THROWS_AS(encoder.encode_into(nullptr, 2, &task, 1, 0, buffer.data(), needed), InvalidArgument);
  CHECK_THROWS_AS(encoder.encode_into(views.data(), views.size(), nullptr, 1, 0, buffer.data(), needed), InvalidArgument);
  std::vector<Task> two_tasks(2, Task::None);
  CHECK_THROWS_AS(encoder.encode_into(views.data(), views.size(), two_tasks.data(), 2, 0, buffer.data(), needed),
                  InvalidArgument);
  CHECK(std::all_of(buffer.begin(), buffer.end(), [](float v) { return v == 42.0f; }));
}

TEST_CASE("a moved-from Encoder is empty and refuses work; the target works", "[encoder]") {
  Encoder first(package_dir("float32").string());
  Embeddings before = first.encode({"move me"}, Task::TextMatching);
  Encoder second(std::move(first));
  Embeddings after = second.encode({"move me"}, Task::TextMatching);
  CHECK(max_abs_diff(before.row(0), after.row(0), after.dims) <= kFloat32Tolerance);

  // NOLINTNEXTLINE(bugprone-use-after-move): the moved-from state is what is under test.
  CHECK(first.hidden_size() == 0);
  CHECK(first.tasks().empty());
  CHECK(first.dims().empty());
  CHECK(first.package_path().empty());
  try {
    first.encode({"x"});
    FAIL("no exception");
  } catch (const InvalidArgument& e) {
    CHECK(e.code() == ErrorCode::InvalidArgument);
    CHECK_THAT(e.what(), Catch::Contains("moved from"));
  }
  CHECK_THROWS_AS(first.tokenize({"x"}), InvalidArgument);
  CHECK_THROWS_AS(first.prompt(Task::RetrievalQuery), InvalidArgument);

  // Move assignment in both directions.
  first = std::move(second);
  CHECK(first.hidden_size() > 0);
  CHECK(max_abs_diff(first.encode({"move me"}, Task::TextMatching).row(0), before.row(0), before.dims) <=
        kFloat32Tolerance);
  CHECK_THROWS_AS(second.encode({"x"}), InvalidArgument);
}

TEST_CASE("checksum verification can be turned off", "[encoder]") {
  PackageCopy copy(package_dir("float32"));
  copy.edit_manifest("files", [](const json::Value* files) {
    json::Value entries = *files;
    for (auto& entry : entries) entry["sha256"] = std::string(64, '0');
    return entries;
  });
  CHECK_THROWS_AS(Encoder(copy.str()), ModelInvalid);
  EncoderOptions options;
  options.verify_checksums = false;
  Encoder encoder(copy.str(), options);
  CHECK(encoder.encode({"still works"}).rows == 1);
}

#if defined(__GLIBC__)
TEST_CASE("a CPU encoder makes glibc keep large freed blocks in the process", "[encoder]") {
  // Process-wide and permanent, so only the default (on) can be observed here: once any CPU
  // Encoder exists, a 64 MiB block comes from the heap, not from its own mmap.
  (void)shared_encoder("float32");
  const auto mmapped_before = mallinfo2().hblks;
  void* block = std::malloc(std::size_t{64} << 20);
  REQUIRE(block != nullptr);
  CHECK(mallinfo2().hblks == mmapped_before);
  std::free(block);
}
#endif
