// Embeddings against the Python reference implementation (reference.json): float32 to 1e-5,
// bfloat16 and int8 by cosine similarity.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>

#include "support.hpp"

using namespace jina3;
using namespace jina3::test;

namespace {

struct CaseResult {
  double worst_abs_diff = 0.0;
  double worst_cosine = 1.0;
};

std::string describe(const ReferenceCase& c) {
  return std::string("task ") + to_string(c.task) + ", dims " + std::to_string(c.dims) + ", normalize " +
         (c.normalize ? "true" : "false") + ", max_length " + std::to_string(c.max_length);
}

// Encodes every reference case with the package of `dtype`; checks shapes and truncation flags.
std::vector<CaseResult> run_cases(const std::string& dtype) {
  const auto& ref = reference();
  const Encoder& encoder = shared_encoder(dtype);
  std::vector<CaseResult> results;
  for (const auto& c : ref.cases) {
    INFO(describe(c));
    EncodeOptions options;
    options.normalize = c.normalize;
    options.max_length = c.max_length;
    Embeddings got = encoder.encode(ref.texts, c.task, c.dims, options);
    const std::size_t dims = c.dims == 0 ? static_cast<std::size_t>(ref.hidden_size) : static_cast<std::size_t>(c.dims);
    REQUIRE(got.rows == ref.texts.size());
    REQUIRE(got.dims == dims);
    REQUIRE(got.data.size() == got.rows * got.dims);
    REQUIRE(c.embeddings.size() == got.rows);

    // A row is flagged exactly when its untruncated ids exceed the limit.
    auto full_ids = encoder.tokenize(ref.texts, c.task);
    const std::size_t limit = c.max_length == 0 ? static_cast<std::size_t>(ref.max_length) : static_cast<std::size_t>(c.max_length);
    for (std::size_t i = 0; i < got.rows; ++i) CHECK(got.truncated[i] == (full_ids[i].size() > limit ? 1 : 0));

    CaseResult result;
    for (std::size_t i = 0; i < got.rows; ++i) {
      REQUIRE(c.embeddings[i].size() == dims);
      result.worst_abs_diff = std::max(result.worst_abs_diff, max_abs_diff(got.row(i), c.embeddings[i]));
      result.worst_cosine = std::min(result.worst_cosine, cosine(got.row(i), c.embeddings[i]));
    }
    results.push_back(result);
  }
  return results;
}

// Prints the worst figures over all cases and per task, for the record (ctest -V).
void report(const std::string& dtype, const std::vector<CaseResult>& results) {
  const auto& cases = reference().cases;
  auto summarise = [&](const char* label, auto selected) {
    CaseResult worst;
    std::size_t count = 0;
    for (std::size_t k = 0; k < results.size(); ++k) {
      if (!selected(cases[k])) continue;
      ++count;
      worst.worst_abs_diff = std::max(worst.worst_abs_diff, results[k].worst_abs_diff);
      worst.worst_cosine = std::min(worst.worst_cosine, results[k].worst_cosine);
    }
    if (count > 0) {
      std::printf("parity %s %s: %zu cases, max |diff| %.3g, min cosine %.7f\n", dtype.c_str(), label, count,
                  worst.worst_abs_diff, worst.worst_cosine);
    }
  };
  summarise("all", [](const ReferenceCase&) { return true; });
  for (Task task : {Task::None, Task::RetrievalQuery, Task::RetrievalPassage, Task::Separation, Task::Classification,
                    Task::TextMatching}) {
    summarise(to_string(task), [task](const ReferenceCase& c) { return c.task == task; });
  }
}

// Every reference case of the package_dtype package is within min_cosine of the reference.
void check_cosines(const char* package_dtype, DType loaded, double min_cosine) {
  auto results = run_cases(package_dtype);
  report(package_dtype, results);
  CHECK(shared_encoder(package_dtype).dtype() == loaded);
  for (std::size_t k = 0; k < results.size(); ++k) {
    INFO(describe(reference().cases[k]));
    CHECK(results[k].worst_cosine >= min_cosine);
  }
}

}  // namespace

TEST_CASE("reference.json covers what the parity tests promise", "[parity]") {
  const auto& ref = reference();
  CHECK(ref.texts.size() >= 8);
  bool tasks_seen[6] = {};
  bool small_dims = false, unnormalised = false, short_max = false;
  for (const auto& c : ref.cases) {
    tasks_seen[static_cast<int>(c.task) + 1] = true;
    small_dims |= c.dims != 0 && c.dims < ref.hidden_size;
    unnormalised |= !c.normalize;
    short_max |= c.max_length > 0 && c.max_length < ref.max_length;
  }
  for (bool seen : tasks_seen) CHECK(seen);
  CHECK(small_dims);
  CHECK(unnormalised);
  CHECK(short_max);
  const Encoder& encoder = shared_encoder("float32");
  CHECK(encoder.hidden_size() == ref.hidden_size);
  CHECK(encoder.dims() == ref.matryoshka_dims);
  CHECK(encoder.max_length() == ref.max_length);
  for (const auto& [task, prompt] : ref.prompts) CHECK(encoder.prompt(task) == prompt);
}

TEST_CASE("float32 package matches the reference to 1e-5", "[parity]") {
  auto results = run_cases("float32");
  report("float32", results);
  for (std::size_t k = 0; k < results.size(); ++k) {
    INFO(describe(reference().cases[k]));
    CHECK(results[k].worst_abs_diff <= 1e-5);
  }
}

TEST_CASE("bfloat16 package is within cosine 0.999 of the reference", "[parity]") {
  check_cosines("bfloat16", DType::BFloat16, 0.999);
}

TEST_CASE("int8 package is within cosine 0.99 of the reference", "[parity]") {
  check_cosines("int8", DType::Int8, 0.99);
}

TEST_CASE("a float32 package cast to bfloat16 at load stays close to the reference", "[parity]") {
  EncoderOptions options;
  options.dtype = DType::BFloat16;
  Encoder encoder(package_dir("float32").string(), options);
  CHECK(encoder.dtype() == DType::BFloat16);
  const auto& ref = reference();
  const auto& c = ref.cases.front();
  Embeddings got = encoder.encode(ref.texts, c.task, c.dims, {c.normalize, true, c.max_length, 0});
  for (std::size_t i = 0; i < got.rows; ++i) CHECK(cosine(got.row(i), c.embeddings[i]) >= 0.999);
}

namespace {

// A small synthetic retrieval set: queries of random words; for each, two passages that contain
// it and one unrelated passage. The weights are random, so what is tested is that a reduced
// precision orders the same passages as float32 does, not that the order is semantically right.
struct RetrievalSet {
  std::vector<std::string> queries;
  std::vector<std::string> passages;
};

RetrievalSet make_retrieval_set(std::size_t query_count) {
  static const char* const kWords[] = {
      "river", "mountain", "bread", "engine", "garden", "window", "lantern", "harbor", "violin", "desert",
      "copper", "meadow", "thunder", "pepper", "glacier", "compass", "orchard", "marble", "falcon", "canyon",
      "silver", "tunnel", "pillow", "rocket", "island", "basket", "candle", "forest", "ladder", "mirror"};
  constexpr std::size_t kWordCount = sizeof kWords / sizeof kWords[0];
  std::uint64_t state = 12345;  // a fixed LCG: the same set on every run and platform
  auto next_word = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return std::string(kWords[(state >> 33) % kWordCount]);
  };
  auto sentence = [&](std::size_t words) {
    std::string text = next_word();
    for (std::size_t i = 1; i < words; ++i) text += " " + next_word();
    return text;
  };
  RetrievalSet set;
  for (std::size_t q = 0; q < query_count; ++q) {
    const std::string query = sentence(5);
    set.queries.push_back(query);
    set.passages.push_back(query + " " + sentence(4));
    set.passages.push_back(sentence(3) + " " + query);
    set.passages.push_back(sentence(9));
  }
  return set;
}

// Cosine scores, queries x passages, with the retrieval adapters and prompts.
std::vector<std::vector<double>> retrieval_scores(const Encoder& encoder, const RetrievalSet& set) {
  const Embeddings q = encoder.encode(set.queries, Task::RetrievalQuery);
  const Embeddings p = encoder.encode(set.passages, Task::RetrievalPassage);
  std::vector<std::vector<double>> scores(q.rows, std::vector<double>(p.rows));
  for (std::size_t i = 0; i < q.rows; ++i) {
    for (std::size_t j = 0; j < p.rows; ++j) scores[i][j] = cosine(q.row(i), p.row(j), q.dims);
  }
  return scores;
}

// Passage indices by descending score.
std::vector<std::size_t> ranking(const std::vector<double>& scores) {
  std::vector<std::size_t> order(scores.size());
  for (std::size_t j = 0; j < order.size(); ++j) order[j] = j;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  return order;
}

struct Agreement {
  double top1 = 0;          // share of queries whose best passage is float32's
  double top5_overlap = 0;  // mean share of float32's top 5 that is in this precision's top 5
  double max_score_diff = 0;
};

Agreement agreement(const std::vector<std::vector<double>>& expected, const std::vector<std::vector<double>>& got) {
  constexpr std::size_t kTop = 5;
  Agreement a;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const auto want = ranking(expected[i]);
    const auto have = ranking(got[i]);
    a.top1 += want[0] == have[0] ? 1 : 0;
    std::size_t shared = 0;
    for (std::size_t k = 0; k < kTop; ++k) {
      shared += std::find(have.begin(), have.begin() + kTop, want[k]) != have.begin() + kTop ? 1 : 0;
    }
    a.top5_overlap += static_cast<double>(shared) / kTop;
    for (std::size_t j = 0; j < expected[i].size(); ++j) {
      a.max_score_diff = std::max(a.max_score_diff, std::abs(expected[i][j] - got[i][j]));
    }
  }
  a.top1 /= static_cast<double>(expected.size());
  a.top5_overlap /= static_cast<double>(expected.size());
  return a;
}

}  // namespace

TEST_CASE("bfloat16 and int8 packages rank passages as float32 does", "[parity]") {
  const RetrievalSet set = make_retrieval_set(24);
  const auto expected = retrieval_scores(shared_encoder("float32"), set);
  // Agreement only means something if float32's top scores are told apart by more than the
  // reduced precisions' score errors: the mean gap between each query's best and fifth-best.
  double gap = 0;
  for (const auto& row : expected) {
    const auto order = ranking(row);
    gap += row[order[0]] - row[order[4]];
  }
  gap /= static_cast<double>(expected.size());

  const Agreement bf16 = agreement(expected, retrieval_scores(shared_encoder("bfloat16"), set));
  const Agreement int8 = agreement(expected, retrieval_scores(shared_encoder("int8"), set));
  std::printf("ranking vs float32 (%zu queries x %zu passages, mean top-1..5 score gap %.4f): bfloat16 top-1 %.3f, "
              "top-5 overlap %.3f, max score diff %.2g; int8 top-1 %.3f, top-5 overlap %.3f, max score diff %.2g\n",
              set.queries.size(), set.passages.size(), gap, bf16.top1, bf16.top5_overlap, bf16.max_score_diff,
              int8.top1, int8.top5_overlap, int8.max_score_diff);
  CHECK(gap > 4 * bf16.max_score_diff);
  CHECK(bf16.top1 == 1.0);
  CHECK(bf16.top5_overlap >= 0.95);
  CHECK(int8.top1 >= 0.9);
  CHECK(int8.top5_overlap >= 0.85);
}
